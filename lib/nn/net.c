/* net.c: ResNet-18/34/50 (torchvision topology, CIFAR or ImageNet stem) with the
 * SimSiam/BYOL projector and predictor: parameter arenas, initialisation,
 * forward contexts, forward and backward through the ops of lib/ops/ops.h. */
#define _GNU_SOURCE
#include "nn/net.h"
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "ops/ops_engine.h"
#include "core/rng.h"
#include "cuda/gsg_cuda.h"
#include "io/tstream.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONVS 64
#define MAX_BNS 80
#define MAX_BLOCKS 20
#define MAX_PARAMS 256
#define MAX_BUFFERS 256
#define MAX_SLOTS 160
#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

/* ---------------- layer descriptions ---------------- */
struct conv {
    int pw;                          /* parameter index of the weight [Co,Ci,K,K] */
    int64_t ci, co, k, stride, pad;
    int64_t h, w, ho, wo;            /* input and output spatial size */
    struct gsg_conv2d *plan;         /* for max_batch */
    struct gsg_conv2d *plan_alt;     /* for net->alt_n (a smaller batch) */
};
struct bn {
    int64_t c;
    int pg, pb;                      /* gamma/beta parameter indices, -1 when affine=false */
    int rm, rv, nt;                  /* buffer indices */
    int id;                          /* index of its saved batch statistics in a context */
};
struct lin {
    int pw, pb;                      /* pb -1 without bias */
    int64_t in, out;
};
struct block {
    int bottleneck, nconv, has_ds;
    struct conv cv[3];
    struct bn bn[3];
    struct conv ds;
    struct bn dsbn;
    int s_c[3];                      /* conv outputs (BN inputs) */
    int s_a[2];                      /* relu(bn(conv)) of the inner convs */
    int s_ds;                        /* downsample conv output */
    int s_out;                       /* block output after the final relu */
    int s_in;                        /* input slot */
};
struct slot {
    enum gsg_dtype dt;
    int nd;                          /* dims after N */
    int64_t d[3];
    int64_t per;                     /* elements per image */
    int64_t off;                     /* element offset (per max batch) in the context arena */
};

struct gsg_net {
    struct gsg_net_config cfg;
    enum gsg_dev dev;
    int flags;
    int64_t max_n, H, W, alt_n;
    /* parameters */
    int np;
    struct gsg_param params[MAX_PARAMS];
    char *pnames[MAX_PARAMS];
    struct gsg_tensor arena_t, grad_t;  /* f32 [numel] on dev (grad_t.data NULL with GSG_NET_INFERENCE) */
    float *arena, *grad;             /* their data pointers (device memory on CUDA) */
    int64_t numel;
    int64_t pred_off;                /* first predictor element (numel if none) */
    /* buffers */
    int nb;
    struct gsg_buffer bufs[MAX_BUFFERS];
    char *bnames[MAX_BUFFERS];
    struct gsg_tensor barena_t;      /* f32 running statistics on dev */
    float *barena;
    int64_t *counters;               /* num_batches_tracked: host integers on every device */
    int64_t bnumel;
    /* topology */
    struct conv stem;
    struct bn stem_bn;
    int s_x, s_c0, s_a0, s_mp, s_arg, s_h;
    int nblocks;
    struct block blocks[MAX_BLOCKS];
    struct lin pl[3];
    struct bn pbn[3];
    int s_pl[3], s_pa[2], s_z;
    struct lin ql[2];
    struct bn qbn;
    int s_ql0, s_qa, s_p;
    int nbn;
    int nslots;
    struct slot slots[MAX_SLOTS];
    int64_t ctx_numel;               /* f32 elements of a context arena (max batch) */
    int64_t max_act;                 /* largest slot, elements per image */
    /* scratch: [0] forward temp; [1..4] backward buffers, each max_n * max_act */
    struct gsg_tensor scratch_t[5];  /* f32 [max_n * max_act] on dev */
    float *scratch[5];
    int nscratch;
    struct gsg_tensor bn_sums;       /* f64 [2 max_C + 1]: the split BN's sums (with an all-reduce hook) */
    int64_t max_c;
    gsg_net_allreduce_fn bn_allreduce;
    void *bn_allreduce_arg;
    struct conv *convs[MAX_CONVS];
    int nconvs;
};

struct gsg_net_ctx {
    struct gsg_net *net;
    struct gsg_tensor mem_t, stats_t; /* f32 on the network's device */
    float *mem;                      /* slots */
    float *stats;                    /* per BN: mean [C], invstd [C] */
    int64_t *stat_off;               /* per BN offset into stats */
    int64_t n;                       /* batch of the last forward */
    int trained;                     /* last forward was GSG_FWD_TRAIN */
};

/* ---------------- config ---------------- */
int gsg_arch_parse(const char *s, enum gsg_arch *out)
{
    static const enum gsg_arch all[] = {GSG_ARCH_RESNET18, GSG_ARCH_RESNET34, GSG_ARCH_RESNET50};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, gsg_arch_name(all[i]))) { *out = all[i]; return 0; }
    return -1;
}

void gsg_net_config_override(struct gsg_net_config *c, const struct gsg_net_overrides *o)
{
    enum gsg_arch a;
    if (o->arch && gsg_arch_parse(o->arch, &a) == 0) c->arch = a;
    if (o->width) c->width = (int)o->width;
    if (o->proj) c->proj_dim = c->proj_hidden = (int)o->proj;
    if (o->pred) c->pred_hidden = (int)o->pred;
    if (o->no_pred) c->pred_hidden = 0;
}

const char *gsg_arch_name(enum gsg_arch a)
{
    switch (a) {
    case GSG_ARCH_RESNET18: return "resnet18";
    case GSG_ARCH_RESNET34: return "resnet34";
    case GSG_ARCH_RESNET50: return "resnet50";
    }
    return "?";
}

const char *gsg_stem_name(enum gsg_stem s)
{
    switch (s) {
    case GSG_STEM_CIFAR: return "cifar";
    case GSG_STEM_IMAGENET: return "imagenet";
    }
    return "?";
}

int gsg_net_feature_dim(const struct gsg_net_config *cfg)
{
    return (cfg->arch == GSG_ARCH_RESNET50 ? 32 : 8) * cfg->width;
}

gsg_status gsg_net_config_recipe(struct gsg_net_config *cfg, const char *recipe)
{
    memset(cfg, 0, sizeof *cfg);
    if (!strcmp(recipe, "cifar")) {
        *cfg = (struct gsg_net_config){GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 3, 64, 0, 2, 2048, 2048, 512};
    } else if (!strcmp(recipe, "fmnist")) {
        *cfg = (struct gsg_net_config){GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, 16, 0, 2, 512, 512, 128};   /* widths 16-32-64-128 (docs/performance.md §3) */
    } else if (!strcmp(recipe, "imagenet")) {
        *cfg = (struct gsg_net_config){GSG_ARCH_RESNET50, GSG_STEM_IMAGENET, 3, 64, 1, 3, 2048, 2048, 512};
    } else {
        return gsg_err_set(GSG_E_USAGE, "unknown recipe '%s' (expected cifar, fmnist or imagenet)", recipe);
    }
    return GSG_OK;
}

gsg_status gsg_net_config_check(const struct gsg_net_config *c)
{
    switch (c->arch) {
    case GSG_ARCH_RESNET18: case GSG_ARCH_RESNET34: case GSG_ARCH_RESNET50: break;
    default: return gsg_err_set(GSG_E_USAGE, "arch %d: expected resnet18, resnet34 or resnet50", (int)c->arch);
    }
    switch (c->stem) {
    case GSG_STEM_CIFAR: case GSG_STEM_IMAGENET: break;
    default: return gsg_err_set(GSG_E_USAGE, "stem %d: expected cifar or imagenet", (int)c->stem);
    }
    if (c->in_channels < 1 || c->in_channels > 64)
        return gsg_err_set(GSG_E_USAGE, "in_channels %d: expected 1..64", c->in_channels);
    if (c->width < 1 || c->width > 1024)
        return gsg_err_set(GSG_E_USAGE, "width %d: expected 1..1024", c->width);
    if (c->zero_init_residual != 0 && c->zero_init_residual != 1)
        return gsg_err_set(GSG_E_USAGE, "zero_init_residual %d: expected 0 or 1", c->zero_init_residual);
    if (c->proj_layers != 2 && c->proj_layers != 3)
        return gsg_err_set(GSG_E_USAGE, "proj_layers %d: expected 2 or 3", c->proj_layers);
    if (c->proj_hidden < 1 || c->proj_hidden > 65536)
        return gsg_err_set(GSG_E_USAGE, "proj_hidden %d: expected 1..65536", c->proj_hidden);
    if (c->proj_dim < 1 || c->proj_dim > 65536)
        return gsg_err_set(GSG_E_USAGE, "proj_dim %d: expected 1..65536", c->proj_dim);
    if (c->pred_hidden < 0 || c->pred_hidden > 65536)
        return gsg_err_set(GSG_E_USAGE, "pred_hidden %d: expected 0 (no predictor) or 1..65536", c->pred_hidden);
    return GSG_OK;
}

int gsg_net_config_format(const struct gsg_net_config *c, char *buf, size_t cap)
{
    if (gsg_meta_add(buf, cap, "arch", "%s", gsg_arch_name(c->arch)) ||
        gsg_meta_add(buf, cap, "stem", "%s", gsg_stem_name(c->stem)) ||
        gsg_meta_add(buf, cap, "in_channels", "%d", c->in_channels) ||
        gsg_meta_add(buf, cap, "width", "%d", c->width) ||
        gsg_meta_add(buf, cap, "zero_init_residual", "%d", c->zero_init_residual) ||
        gsg_meta_add(buf, cap, "proj_layers", "%d", c->proj_layers) ||
        gsg_meta_add(buf, cap, "proj_hidden", "%d", c->proj_hidden) ||
        gsg_meta_add(buf, cap, "proj_dim", "%d", c->proj_dim) ||
        gsg_meta_add(buf, cap, "pred_hidden", "%d", c->pred_hidden))
        return -1;
    return 0;
}

static gsg_status get_int(const char *text, const char *key, int *out)
{
    char v[64], *end;
    if (!gsg_meta_get(text, key, v, sizeof v))
        return gsg_err_set(GSG_E_FORMAT, "configuration: missing key '%s'", key);
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < -1000000 || x > 1000000)
        return gsg_err_set(GSG_E_FORMAT, "configuration: key '%s': expected an integer, found '%s'", key, v);
    *out = (int)x;
    return GSG_OK;
}

gsg_status gsg_net_config_parse(struct gsg_net_config *c, const char *text)
{
    char v[64];
    memset(c, 0, sizeof *c);
    if (!gsg_meta_get(text, "arch", v, sizeof v))
        return gsg_err_set(GSG_E_FORMAT, "configuration: missing key 'arch'");
    if (gsg_arch_parse(v, &c->arch) < 0) return gsg_err_set(GSG_E_FORMAT, "configuration: arch '%s': expected resnet18, resnet34 or resnet50", v);
    if (!gsg_meta_get(text, "stem", v, sizeof v))
        return gsg_err_set(GSG_E_FORMAT, "configuration: missing key 'stem'");
    if (!strcmp(v, "cifar")) c->stem = GSG_STEM_CIFAR;
    else if (!strcmp(v, "imagenet")) c->stem = GSG_STEM_IMAGENET;
    else return gsg_err_set(GSG_E_FORMAT, "configuration: stem '%s': expected cifar or imagenet", v);
    GSG_TRY(get_int(text, "in_channels", &c->in_channels));
    GSG_TRY(get_int(text, "width", &c->width));
    GSG_TRY(get_int(text, "zero_init_residual", &c->zero_init_residual));
    GSG_TRY(get_int(text, "proj_layers", &c->proj_layers));
    GSG_TRY(get_int(text, "proj_hidden", &c->proj_hidden));
    GSG_TRY(get_int(text, "proj_dim", &c->proj_dim));
    GSG_TRY(get_int(text, "pred_hidden", &c->pred_hidden));
    gsg_status st = gsg_net_config_check(c);
    if (st < 0) return gsg_err_prefix(GSG_E_FORMAT, "configuration");
    return GSG_OK;
}

/* ---------------- building the topology ---------------- */
enum init_kind { INIT_KAIMING_OUT, INIT_ONE, INIT_ZERO, INIT_UNIFORM_FANIN };
struct pspec { int ndim; int64_t d[4]; enum init_kind init; int64_t fan; enum gsg_group group; };


static char *xstrdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xstrdup_printf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

struct builder {
    struct gsg_net *net;
    struct pspec *ps;
    int fail;
    enum gsg_group group;
};

static int add_param(struct builder *b, const char *name, int ndim, const int64_t *d, enum init_kind init,
                     int64_t fan)
{
    struct gsg_net *n = b->net;
    if (n->np >= MAX_PARAMS || !name) { b->fail = 1; return 0; }
    int i = n->np++;
    n->pnames[i] = (char *)name;
    n->params[i].name = name;
    n->params[i].group = b->group;
    struct pspec *p = &b->ps[i];
    p->ndim = ndim;
    for (int k = 0; k < ndim; k++) p->d[k] = d[k];
    p->init = init;
    p->fan = fan;
    p->group = b->group;
    return i;
}

static int add_buffer(struct builder *b, const char *name, int64_t c)
{
    struct gsg_net *n = b->net;
    if (n->nb >= MAX_BUFFERS || !name) { b->fail = 1; return 0; }
    int i = n->nb++;
    n->bnames[i] = (char *)name;
    n->bufs[i].name = name;
    n->bufs[i].value.ndim = c > 0 ? 1 : 0;   /* c == 0 marks num_batches_tracked */
    n->bufs[i].value.dims[0] = c;
    return i;
}

static int add_slot(struct builder *b, enum gsg_dtype dt, int nd, int64_t d0, int64_t d1, int64_t d2)
{
    struct gsg_net *n = b->net;
    if (n->nslots >= MAX_SLOTS) { b->fail = 1; return 0; }
    int i = n->nslots++;
    struct slot *s = &n->slots[i];
    s->dt = dt;
    s->nd = nd;
    s->d[0] = d0; s->d[1] = d1; s->d[2] = d2;
    s->per = nd == 1 ? d0 : d0 * d1 * d2;
    s->off = n->ctx_numel;
    n->ctx_numel += (s->per * n->max_n + 15) / 16 * 16;
    if (s->per > n->max_act) n->max_act = s->per;
    return i;
}

static void make_conv(struct builder *b, struct conv *cv, const char *name, int64_t ci, int64_t co, int64_t k,
                      int64_t stride, int64_t h, int64_t w)
{
    int64_t d[4] = {co, ci, k, k};
    cv->pw = add_param(b, name, 4, d, INIT_KAIMING_OUT, co * k * k);
    cv->ci = ci; cv->co = co; cv->k = k; cv->stride = stride; cv->pad = (k - 1) / 2;
    cv->h = h; cv->w = w;
    cv->ho = (h + 2 * cv->pad - k) / stride + 1;
    cv->wo = (w + 2 * cv->pad - k) / stride + 1;
    if (b->net->nconvs < MAX_CONVS) b->net->convs[b->net->nconvs++] = cv;
    else b->fail = 1;
}

/* prefix "bn1" -> bn1.weight, bn1.bias, bn1.running_mean, ... */
static void make_bn(struct builder *b, struct bn *bn, const char *prefix, int64_t c, int affine, int zero_gamma)
{
    bn->c = c;
    if (c > b->net->max_c) b->net->max_c = c;
    bn->pg = bn->pb = -1;
    if (affine) {
        bn->pg = add_param(b, xstrdup_printf("%s.weight", prefix), 1, &c, zero_gamma ? INIT_ZERO : INIT_ONE, 0);
        bn->pb = add_param(b, xstrdup_printf("%s.bias", prefix), 1, &c, INIT_ZERO, 0);
    }
    bn->rm = add_buffer(b, xstrdup_printf("%s.running_mean", prefix), c);
    bn->rv = add_buffer(b, xstrdup_printf("%s.running_var", prefix), c);
    bn->nt = add_buffer(b, xstrdup_printf("%s.num_batches_tracked", prefix), 0);
    bn->id = b->net->nbn++;
}

static void make_lin(struct builder *b, struct lin *l, const char *prefix, int64_t in, int64_t out, int bias)
{
    int64_t d[2] = {out, in};
    l->in = in; l->out = out;
    l->pw = add_param(b, xstrdup_printf("%s.weight", prefix), 2, d, INIT_UNIFORM_FANIN, in);
    l->pb = bias ? add_param(b, xstrdup_printf("%s.bias", prefix), 1, &out, INIT_UNIFORM_FANIN, in) : -1;
}

static const char *cat(char *buf, size_t cap, const char *a, const char *c)
{
    snprintf(buf, cap, "%s.%s", a, c);
    return buf;
}

static void build(struct builder *b)
{
    char nb[96];
    struct gsg_net *n = b->net;
    const struct gsg_net_config *c = &n->cfg;
    int64_t w = c->width, h = n->H, wd = n->W;
    b->group = GSG_GROUP_BACKBONE;
    n->s_x = add_slot(b, GSG_DTYPE_F32, 3, h, wd, c->in_channels);
    if (c->stem == GSG_STEM_CIFAR) make_conv(b, &n->stem, xstrdup_printf("conv1.weight"), c->in_channels, w, 3, 1, h, wd);
    else make_conv(b, &n->stem, xstrdup_printf("conv1.weight"), c->in_channels, w, 7, 2, h, wd);
    make_bn(b, &n->stem_bn, "bn1", w, 1, 0);
    h = n->stem.ho; wd = n->stem.wo;
    n->s_c0 = add_slot(b, GSG_DTYPE_F32, 3, h, wd, w);
    n->s_a0 = add_slot(b, GSG_DTYPE_F32, 3, h, wd, w);
    int cur = n->s_a0;
    n->s_mp = n->s_arg = -1;
    if (c->stem == GSG_STEM_IMAGENET) {
        h = (h + 2 - 3) / 2 + 1; wd = (wd + 2 - 3) / 2 + 1;
        n->s_mp = add_slot(b, GSG_DTYPE_F32, 3, h, wd, w);
        n->s_arg = add_slot(b, GSG_DTYPE_I32, 3, h, wd, w);
        cur = n->s_mp;
    }
    static const int depth18[4] = {2, 2, 2, 2}, depth34[4] = {3, 4, 6, 3};
    const int *depth = c->arch == GSG_ARCH_RESNET18 ? depth18 : depth34;
    int bottleneck = c->arch == GSG_ARCH_RESNET50;
    int64_t expansion = bottleneck ? 4 : 1;
    int64_t inplanes = w;
    for (int L = 0; L < 4; L++) {
        int64_t planes = w << L;
        for (int i = 0; i < depth[L]; i++) {
            if (n->nblocks >= MAX_BLOCKS) { b->fail = 1; return; }
            struct block *bk = &n->blocks[n->nblocks++];
            int64_t stride = (L > 0 && i == 0) ? 2 : 1;
            char pre[64];
            snprintf(pre, sizeof pre, "layer%d.%d", L + 1, i);
            bk->bottleneck = bottleneck;
            bk->s_in = cur;
            bk->has_ds = stride != 1 || inplanes != planes * expansion;
            if (!bottleneck) {
                bk->nconv = 2;
                make_conv(b, &bk->cv[0], xstrdup_printf("%s.conv1.weight", pre), inplanes, planes, 3, stride, h, wd);
                make_bn(b, &bk->bn[0], cat(nb, sizeof nb, pre, "bn1"), planes, 1, 0);
                int64_t ho = bk->cv[0].ho, wo = bk->cv[0].wo;
                make_conv(b, &bk->cv[1], xstrdup_printf("%s.conv2.weight", pre), planes, planes, 3, 1, ho, wo);
                make_bn(b, &bk->bn[1], cat(nb, sizeof nb, pre, "bn2"), planes, 1, c->zero_init_residual);
                bk->s_c[0] = add_slot(b, GSG_DTYPE_F32, 3, ho, wo, planes);
                bk->s_a[0] = add_slot(b, GSG_DTYPE_F32, 3, ho, wo, planes);
                bk->s_c[1] = add_slot(b, GSG_DTYPE_F32, 3, ho, wo, planes);
                h = ho; wd = wo;
            } else {
                bk->nconv = 3;
                make_conv(b, &bk->cv[0], xstrdup_printf("%s.conv1.weight", pre), inplanes, planes, 1, 1, h, wd);
                make_bn(b, &bk->bn[0], cat(nb, sizeof nb, pre, "bn1"), planes, 1, 0);
                make_conv(b, &bk->cv[1], xstrdup_printf("%s.conv2.weight", pre), planes, planes, 3, stride, h, wd);
                make_bn(b, &bk->bn[1], cat(nb, sizeof nb, pre, "bn2"), planes, 1, 0);
                int64_t ho = bk->cv[1].ho, wo = bk->cv[1].wo;
                make_conv(b, &bk->cv[2], xstrdup_printf("%s.conv3.weight", pre), planes, planes * 4, 1, 1, ho, wo);
                make_bn(b, &bk->bn[2], cat(nb, sizeof nb, pre, "bn3"), planes * 4, 1, c->zero_init_residual);
                bk->s_c[0] = add_slot(b, GSG_DTYPE_F32, 3, h, wd, planes);
                bk->s_a[0] = add_slot(b, GSG_DTYPE_F32, 3, h, wd, planes);
                bk->s_c[1] = add_slot(b, GSG_DTYPE_F32, 3, ho, wo, planes);
                bk->s_a[1] = add_slot(b, GSG_DTYPE_F32, 3, ho, wo, planes);
                bk->s_c[2] = add_slot(b, GSG_DTYPE_F32, 3, ho, wo, planes * 4);
                h = ho; wd = wo;
            }
            if (bk->has_ds) {
                make_conv(b, &bk->ds, xstrdup_printf("%s.downsample.0.weight", pre), inplanes, planes * expansion, 1,
                          stride, n->slots[bk->s_in].d[0], n->slots[bk->s_in].d[1]);
                make_bn(b, &bk->dsbn, cat(nb, sizeof nb, pre, "downsample.1"), planes * expansion, 1, 0);
                bk->s_ds = add_slot(b, GSG_DTYPE_F32, 3, h, wd, planes * expansion);
            }
            bk->s_out = add_slot(b, GSG_DTYPE_F32, 3, h, wd, planes * expansion);
            cur = bk->s_out;
            inplanes = planes * expansion;
        }
    }
    int64_t F = inplanes;
    n->s_h = add_slot(b, GSG_DTYPE_F32, 1, F, 1, 1);
    /* projector */
    b->group = GSG_GROUP_PROJECTOR;
    int64_t hid = c->proj_hidden, D = c->proj_dim;
    make_lin(b, &n->pl[0], "projector.0", F, hid, 0);
    make_bn(b, &n->pbn[0], "projector.1", hid, 1, 0);
    n->s_pl[0] = add_slot(b, GSG_DTYPE_F32, 1, hid, 1, 1);
    n->s_pa[0] = add_slot(b, GSG_DTYPE_F32, 1, hid, 1, 1);
    if (c->proj_layers == 3) {
        make_lin(b, &n->pl[1], "projector.3", hid, hid, 0);
        make_bn(b, &n->pbn[1], "projector.4", hid, 1, 0);
        n->s_pl[1] = add_slot(b, GSG_DTYPE_F32, 1, hid, 1, 1);
        n->s_pa[1] = add_slot(b, GSG_DTYPE_F32, 1, hid, 1, 1);
        make_lin(b, &n->pl[2], "projector.6", hid, D, 0);
        make_bn(b, &n->pbn[2], "projector.7", D, 0, 0);
        n->s_pl[2] = add_slot(b, GSG_DTYPE_F32, 1, D, 1, 1);
    } else {
        make_lin(b, &n->pl[1], "projector.3", hid, D, 0);
        make_bn(b, &n->pbn[1], "projector.4", D, 0, 0);
        n->s_pl[1] = add_slot(b, GSG_DTYPE_F32, 1, D, 1, 1);
    }
    n->s_z = add_slot(b, GSG_DTYPE_F32, 1, D, 1, 1);
    /* predictor */
    if (c->pred_hidden > 0) {
        b->group = GSG_GROUP_PREDICTOR;
        int64_t ph = c->pred_hidden;
        make_lin(b, &n->ql[0], "predictor.0", D, ph, 0);
        make_bn(b, &n->qbn, "predictor.1", ph, 1, 0);
        make_lin(b, &n->ql[1], "predictor.3", ph, D, 1);
        n->s_ql0 = add_slot(b, GSG_DTYPE_F32, 1, ph, 1, 1);
        n->s_qa = add_slot(b, GSG_DTYPE_F32, 1, ph, 1, 1);
        n->s_p = add_slot(b, GSG_DTYPE_F32, 1, D, 1, 1);
    }
}

/* Initial values into host (the staging arena host[numel], zeroed), then uploaded by the caller. */
static void init_params(struct gsg_net *n, float *host, const struct pspec *ps, uint64_t seed)
{
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n->np; i++) {
        float *v = host + n->params[i].offset;
        int64_t cnt = gsg_tensor_numel(&n->params[i].value);
        struct gsg_rng r;
        gsg_rng_init(&r, seed, gsg_rng_stream(GSG_RNG_INIT, (uint64_t)i, 0, 0));
        switch (ps[i].init) {
        case INIT_KAIMING_OUT: {
            double std = sqrt(2.0 / (double)ps[i].fan);
            for (int64_t k = 0; k < cnt; k++) v[k] = (float)(std * gsg_rng_normal(&r));
            break;
        }
        case INIT_UNIFORM_FANIN: {
            double bound = 1.0 / sqrt((double)ps[i].fan);
            for (int64_t k = 0; k < cnt; k++) v[k] = (float)gsg_rng_range(&r, -bound, bound);
            break;
        }
        case INIT_ONE:
            for (int64_t k = 0; k < cnt; k++) v[k] = 1.0f;
            break;
        case INIT_ZERO:
            for (int64_t k = 0; k < cnt; k++) v[k] = 0.0f;
            break;
        }
    }
}

/* Running statistics into host (staging, bnumel floats in arena order); counters (host) to 0. */
static void reset_buffers(struct gsg_net *n, float *host)
{
    int64_t off = 0;
    for (int i = 0; i < n->nb; i++) {
        struct gsg_tensor *t = &n->bufs[i].value;
        if (t->dtype == GSG_DTYPE_I64) { *(int64_t *)t->data = 0; continue; }
        /* running_var starts at 1, running_mean at 0 */
        float init = strstr(n->bufs[i].name, "running_var") ? 1.0f : 0.0f;
        for (int64_t k = 0; k < t->dims[0]; k++) host[off + k] = init;
        off += t->dims[0];
    }
}

static void free_plans(struct gsg_net *n, int alt_only)
{
    for (int i = 0; i < n->nconvs; i++) {
        if (!alt_only && n->convs[i]->plan) { gsg_conv2d_destroy(n->convs[i]->plan); n->convs[i]->plan = NULL; }
        if (n->convs[i]->plan_alt) { gsg_conv2d_destroy(n->convs[i]->plan_alt); n->convs[i]->plan_alt = NULL; }
    }
}

static gsg_status make_plans(struct gsg_net *n, int64_t N, int alt)
{
    for (int i = 0; i < n->nconvs; i++) {
        struct conv *cv = n->convs[i];
        struct gsg_conv2d_desc d = {N, cv->h, cv->w, cv->ci, cv->co, cv->k, cv->stride, cv->pad};
        gsg_status st = gsg_conv2d_create(alt ? &cv->plan_alt : &cv->plan, n->dev, &d);
        if (st < 0) return gsg_err_prefix(st, "%s", n->params[cv->pw].name);
    }
    return GSG_OK;
}

gsg_status gsg_net_create(struct gsg_net **out, const struct gsg_net_config *cfg, int64_t max_batch, int64_t H,
                          int64_t W, enum gsg_dev dev, uint64_t seed, int flags)
{
    *out = NULL;
    GSG_TRY(gsg_net_config_check(cfg));
    if (max_batch < 1 || max_batch > (1 << 20))
        return gsg_err_set(GSG_E_USAGE, "batch size %lld: expected 1..1048576", (long long)max_batch);
    int64_t minhw = cfg->stem == GSG_STEM_CIFAR ? 1 : 8;
    if (H < minhw || W < minhw || H > 8192 || W > 8192)
        return gsg_err_set(GSG_E_USAGE, "input size %lldx%lld: expected %lld..8192 per side", (long long)H,
                           (long long)W, (long long)minhw);
    switch (dev) {
    case GSG_DEV_CPU: break;
    case GSG_DEV_CUDA:
        /* a build without CUDA, or no device: the backend's own one-line reason */
        GSG_TRY(gsg_cuda_init(0));
        break;
    }
    struct gsg_net *n = calloc(1, sizeof *n);
    if (!n) return gsg_err_set(GSG_E_NOMEM, "out of memory creating the network");
    n->cfg = *cfg;
    n->dev = dev;
    n->flags = flags;
    n->max_n = max_batch;
    n->H = H; n->W = W;
    struct pspec *pspecs = calloc(MAX_PARAMS, sizeof *pspecs);
    if (!pspecs) { free(n); return gsg_err_set(GSG_E_NOMEM, "out of memory creating the network"); }
    struct builder b = {n, pspecs, 0, GSG_GROUP_BACKBONE};
    build(&b);
    if (b.fail) {
        free(pspecs);
        gsg_net_destroy(n);
        return gsg_err_set(GSG_E_NOMEM, "network too large or out of memory");
    }
    /* parameter arena, each tensor 16-element aligned */
    int64_t off = 0;
    n->pred_off = -1;
    for (int i = 0; i < n->np; i++) {
        int64_t cnt = 1;
        for (int k = 0; k < pspecs[i].ndim; k++) cnt *= pspecs[i].d[k];
        if (pspecs[i].group == GSG_GROUP_PREDICTOR && n->pred_off < 0) n->pred_off = off;
        n->params[i].offset = off;
        off += (cnt + 15) / 16 * 16;
    }
    n->numel = off;
    if (n->pred_off < 0) n->pred_off = off;
    /* every arena comes zeroed from the tensor layer, on the network's device */
    gsg_status st = gsg_tensor_alloc(&n->arena_t, GSG_DTYPE_F32, dev, 1, &off);
    if (st >= 0 && !(flags & GSG_NET_INFERENCE)) st = gsg_tensor_alloc(&n->grad_t, GSG_DTYPE_F32, dev, 1, &off);
    if (st < 0) {
        free(pspecs);
        gsg_net_destroy(n);
        return gsg_err_prefix(st, "%lld parameters", (long long)off);
    }
    n->arena = n->arena_t.data;
    n->grad = n->grad_t.data;
    for (int i = 0; i < n->np; i++) {
        struct gsg_param *p = &n->params[i];
        p->value = gsg_tensor_view(n->arena + p->offset, GSG_DTYPE_F32, dev, pspecs[i].ndim, pspecs[i].d);
        p->grad = gsg_tensor_view(n->grad ? n->grad + p->offset : NULL, GSG_DTYPE_F32, dev, pspecs[i].ndim,
                                  pspecs[i].d);
    }
    /* buffers */
    int64_t boff = 0, ncount = 0;
    for (int i = 0; i < n->nb; i++) {
        if (n->bufs[i].value.ndim == 1) boff += n->bufs[i].value.dims[0];
        else ncount++;
    }
    n->bnumel = boff;
    int64_t bcount = boff + 1;
    st = gsg_tensor_alloc(&n->barena_t, GSG_DTYPE_F32, dev, 1, &bcount);
    n->barena = n->barena_t.data;
    n->counters = gsg_aligned_alloc((size_t)(ncount + 1) * sizeof(int64_t));
    if (st < 0 || !n->counters) {
        free(pspecs);
        gsg_net_destroy(n);
        return st < 0 ? st : gsg_err_set(GSG_E_NOMEM, "out of memory");
    }
    boff = 0; ncount = 0;
    for (int i = 0; i < n->nb; i++) {
        struct gsg_tensor *t = &n->bufs[i].value;
        if (t->ndim == 1) {
            int64_t c = t->dims[0];
            *t = gsg_tensor_view(n->barena + boff, GSG_DTYPE_F32, dev, 1, &c);
            boff += c;
        } else {
            *t = gsg_tensor_view(n->counters + ncount++, GSG_DTYPE_I64, GSG_DEV_CPU, 0, NULL);
        }
    }
    /* initial values: computed on the host (counter-based RNG), staged to the device */
    float *host = calloc((size_t)(off > bcount ? off : bcount), sizeof(float));
    if (!host) { free(pspecs); gsg_net_destroy(n); return gsg_err_set(GSG_E_NOMEM, "out of memory"); }
    init_params(n, host, pspecs, seed);
    free(pspecs);
    st = gsg_tensor_from_host(&n->arena_t, host);
    if (st >= 0) {
        memset(host, 0, (size_t)bcount * sizeof(float));
        reset_buffers(n, host);
        st = gsg_tensor_from_host(&n->barena_t, host);
    }
    free(host);
    if (st < 0) { gsg_net_destroy(n); return st; }
    /* scratch */
    n->nscratch = (flags & GSG_NET_INFERENCE) ? 1 : 5;
    int64_t sn = n->max_act * n->max_n;
    for (int i = 0; i < n->nscratch; i++) {
        st = gsg_tensor_alloc(&n->scratch_t[i], GSG_DTYPE_F32, dev, 1, &sn);
        if (st < 0) { gsg_net_destroy(n); return gsg_err_prefix(st, "scratch"); }
        n->scratch[i] = n->scratch_t[i].data;
    }
    int64_t ns = 2 * n->max_c + 1;
    st = gsg_tensor_alloc(&n->bn_sums, GSG_DTYPE_F64, dev, 1, &ns);
    if (st < 0) { gsg_net_destroy(n); return st; }
    st = make_plans(n, max_batch, 0);
    if (st < 0) { gsg_net_destroy(n); return st; }
    *out = n;
    return GSG_OK;
}

void gsg_net_destroy(struct gsg_net *n)
{
    if (!n) return;
    free_plans(n, 0);
    for (int i = 0; i < n->np; i++) free(n->pnames[i]);
    for (int i = 0; i < n->nb; i++) free(n->bnames[i]);
    gsg_tensor_free(&n->arena_t);
    gsg_tensor_free(&n->grad_t);
    gsg_tensor_free(&n->barena_t);
    gsg_aligned_free(n->counters);
    for (int i = 0; i < 5; i++) gsg_tensor_free(&n->scratch_t[i]);
    gsg_tensor_free(&n->bn_sums);
    free(n);
}

const struct gsg_net_config *gsg_net_config(const struct gsg_net *n) { return &n->cfg; }
int64_t gsg_net_max_batch(const struct gsg_net *n) { return n->max_n; }
int gsg_net_param_count(const struct gsg_net *n) { return n->np; }
const struct gsg_param *gsg_net_param(const struct gsg_net *n, int i)
{
    return i >= 0 && i < n->np ? &n->params[i] : NULL;
}
const struct gsg_param *gsg_net_param_find(const struct gsg_net *n, const char *name)
{
    for (int i = 0; i < n->np; i++)
        if (!strcmp(n->params[i].name, name)) return &n->params[i];
    return NULL;
}
int gsg_net_buffer_count(const struct gsg_net *n) { return n->nb; }
const struct gsg_buffer *gsg_net_buffer(const struct gsg_net *n, int i)
{
    return i >= 0 && i < n->nb ? &n->bufs[i] : NULL;
}
const struct gsg_buffer *gsg_net_buffer_find(const struct gsg_net *n, const char *name)
{
    for (int i = 0; i < n->nb; i++)
        if (!strcmp(n->bufs[i].name, name)) return &n->bufs[i];
    return NULL;
}
float *gsg_net_param_data(struct gsg_net *n, int64_t *cnt) { if (cnt) *cnt = n->numel; return n->arena; }
float *gsg_net_grad_data(struct gsg_net *n, int64_t *cnt) { if (cnt) *cnt = n->numel; return n->grad; }
int64_t gsg_net_param_numel(const struct gsg_net *n)
{
    int64_t s = 0;
    for (int i = 0; i < n->np; i++) s += gsg_tensor_numel(&n->params[i].value);
    return s;
}

void gsg_net_macs(const struct gsg_net *n, struct gsg_net_macs *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < n->nconvs; i++) {   /* every convolution: stem, residual branches, downsamples */
        const struct conv *cv = n->convs[i];
        m->backbone += cv->ho * cv->wo * cv->co * cv->ci * cv->k * cv->k;
    }
    m->stem = n->stem.ho * n->stem.wo * n->stem.co * n->stem.ci * n->stem.k * n->stem.k;
    for (int k = 0; k < n->cfg.proj_layers; k++) m->projector += n->pl[k].in * n->pl[k].out;
    if (n->cfg.pred_hidden > 0)
        for (int k = 0; k < 2; k++) m->predictor += n->ql[k].in * n->ql[k].out;
}

int64_t gsg_net_view_train_flops(const struct gsg_net *n)
{
    struct gsg_net_macs m;
    gsg_net_macs(n, &m);
    int64_t fwd = m.backbone + m.projector + m.predictor;
    /* forward, weight gradients (fwd), input gradients (fwd less the stem's, never computed) */
    return 2 * (3 * fwd - m.stem);
}

const struct gsg_tensor *gsg_net_param_arena(const struct gsg_net *n) { return &n->arena_t; }
const struct gsg_tensor *gsg_net_grad_arena(const struct gsg_net *n) { return n->grad ? &n->grad_t : NULL; }
enum gsg_dev gsg_net_device(const struct gsg_net *n) { return n->dev; }

void gsg_net_set_bn_allreduce(struct gsg_net *n, gsg_net_allreduce_fn fn, void *arg)
{
    n->bn_allreduce = fn;
    n->bn_allreduce_arg = arg;
}

gsg_status gsg_net_zero_grad(struct gsg_net *n)
{
    if (!n->grad) return GSG_OK;
    return gsg_op_zero(&n->grad_t);
}

gsg_status gsg_net_copy(struct gsg_net *dst, const struct gsg_net *src)
{
    for (int i = 0; i < dst->np; i++) {
        const struct gsg_param *s = gsg_net_param_find(src, dst->params[i].name);
        if (!s || !gsg_tensor_same_shape(&s->value, &dst->params[i].value))
            return gsg_err_set(GSG_E_SHAPE, "copy: source network has no parameter '%s' of the same shape",
                               dst->params[i].name);
        GSG_TRY(gsg_op_copy(&dst->params[i].value, &s->value));
    }
    for (int i = 0; i < dst->nb; i++) {
        const struct gsg_buffer *s = gsg_net_buffer_find(src, dst->bufs[i].name);
        if (!s || !gsg_tensor_same_shape(&s->value, &dst->bufs[i].value))
            return gsg_err_set(GSG_E_SHAPE, "copy: source network has no buffer '%s' of the same shape",
                               dst->bufs[i].name);
        GSG_TRY(gsg_op_copy(&dst->bufs[i].value, &s->value));
    }
    return GSG_OK;
}

/* 1 when target's parameters are a prefix of online's arena: same names, offsets and sizes (a BYOL
 * target made without a predictor). Then one EMA over the whole arena does every parameter. */
static int prefix_layout(const struct gsg_net *target, const struct gsg_net *online)
{
    if (target->np > online->np || target->numel > online->numel) return 0;
    for (int i = 0; i < target->np; i++) {
        const struct gsg_param *a = &target->params[i], *b = &online->params[i];
        if (a->offset != b->offset || strcmp(a->name, b->name) || !gsg_tensor_same_shape(&a->value, &b->value)) return 0;
    }
    return target->np == online->np ? target->numel == online->numel
                                    : online->params[target->np].offset == target->numel;
}

gsg_status gsg_net_ema_update(struct gsg_net *target, const struct gsg_net *online, double tau)
{
    if (prefix_layout(target, online)) {
        /* one launch; the padding between parameters is zero in both arenas and stays zero */
        struct gsg_tensor src = gsg_tensor_sub(&online->arena_t, 0, 1, &target->numel);
        return gsg_op_ema(&target->arena_t, &src, tau);
    }
    for (int i = 0; i < target->np; i++) {
        const struct gsg_param *s = &online->params[i];
        if (i >= online->np || strcmp(s->name, target->params[i].name)) s = gsg_net_param_find(online, target->params[i].name);
        if (!s || !gsg_tensor_same_shape(&s->value, &target->params[i].value))
            return gsg_err_set(GSG_E_SHAPE, "EMA: online network has no parameter '%s' of the same shape",
                               target->params[i].name);
        GSG_TRY(gsg_op_ema(&target->params[i].value, &s->value, tau));
    }
    return GSG_OK;
}

/* ---------------- contexts ---------------- */
gsg_status gsg_net_ctx_create(struct gsg_net *n, struct gsg_net_ctx **out)
{
    *out = NULL;
    struct gsg_net_ctx *c = calloc(1, sizeof *c);
    if (!c) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    c->net = n;
    gsg_status st = gsg_tensor_alloc(&c->mem_t, GSG_DTYPE_F32, n->dev, 1, &n->ctx_numel);
    if (st < 0) { gsg_net_ctx_destroy(c); return gsg_err_prefix(st, "activations"); }
    c->mem = c->mem_t.data;
    c->stat_off = calloc((size_t)n->nbn + 1, sizeof(int64_t));
    /* BN stats: walk every bn through its id */
    int64_t tot = 0;
    int64_t *cs = calloc((size_t)n->nbn + 1, sizeof(int64_t));
    if (!cs || !c->stat_off) { free(cs); gsg_net_ctx_destroy(c); return gsg_err_set(GSG_E_NOMEM, "out of memory for activations"); }
    cs[n->stem_bn.id] = n->stem_bn.c;
    for (int i = 0; i < n->nblocks; i++) {
        struct block *bk = &n->blocks[i];
        for (int k = 0; k < bk->nconv; k++) cs[bk->bn[k].id] = bk->bn[k].c;
        if (bk->has_ds) cs[bk->dsbn.id] = bk->dsbn.c;
    }
    for (int k = 0; k < n->cfg.proj_layers; k++) cs[n->pbn[k].id] = n->pbn[k].c;
    if (n->cfg.pred_hidden > 0) cs[n->qbn.id] = n->qbn.c;
    for (int i = 0; i < n->nbn; i++) { c->stat_off[i] = tot; tot += 2 * ((cs[i] + 15) / 16 * 16); }
    free(cs);
    int64_t ns = tot + 16;
    st = gsg_tensor_alloc(&c->stats_t, GSG_DTYPE_F32, n->dev, 1, &ns);
    if (st < 0) { gsg_net_ctx_destroy(c); return st; }
    c->stats = c->stats_t.data;
    *out = c;
    return GSG_OK;
}

void gsg_net_ctx_destroy(struct gsg_net_ctx *c)
{
    if (!c) return;
    gsg_tensor_free(&c->mem_t);
    gsg_tensor_free(&c->stats_t);
    free(c->stat_off);
    free(c);
}

/* view of a slot for batch N */
static struct gsg_tensor sv(const struct gsg_net_ctx *c, int s, int64_t N)
{
    const struct slot *sl = &c->net->slots[s];
    void *p = sl->dt == GSG_DTYPE_I32 ? (void *)((int32_t *)c->mem + sl->off) : (void *)(c->mem + sl->off);
    if (sl->nd == 1) return gsg_tview_dev(c->net->dev, p, sl->dt, 2, N, sl->d[0]);
    return gsg_tview_dev(c->net->dev, p, sl->dt, 4, N, sl->d[0], sl->d[1], sl->d[2]);
}
/* a scratch buffer viewed with a slot's shape */
static struct gsg_tensor scv(const struct gsg_net *n, int k, int s, int64_t N)
{
    const struct slot *sl = &n->slots[s];
    if (sl->nd == 1) return gsg_tview_dev(n->dev, n->scratch[k], GSG_DTYPE_F32, 2, N, sl->d[0]);
    return gsg_tview_dev(n->dev, n->scratch[k], GSG_DTYPE_F32, 4, N, sl->d[0], sl->d[1], sl->d[2]);
}
static struct gsg_tensor P(const struct gsg_net *n, int i) { return n->params[i].value; }
static struct gsg_tensor G(const struct gsg_net *n, int i) { return n->params[i].grad; }

static gsg_status conv_fwd(struct gsg_net *n, struct conv *cv, struct gsg_tensor *y, const struct gsg_tensor *x,
                           int64_t N)
{
    struct gsg_conv2d *plan = N == n->max_n ? cv->plan : cv->plan_alt;
    struct gsg_tensor w = P(n, cv->pw);
    gsg_status st = gsg_conv2d_fwd(plan, y, x, &w);
    if (st < 0) return gsg_err_prefix(st, "%s", n->params[cv->pw].name);
    return st;
}

static gsg_status conv_bwd(struct gsg_net *n, struct conv *cv, struct gsg_tensor *dx, const struct gsg_tensor *dy,
                           const struct gsg_tensor *x, int64_t N)
{
    struct gsg_conv2d *plan = N == n->max_n ? cv->plan : cv->plan_alt;
    struct gsg_tensor w = P(n, cv->pw), dw = G(n, cv->pw);
    gsg_status st = gsg_conv2d_bwd(plan, dx, &dw, dy, x, &w);
    if (st < 0) return gsg_err_prefix(st, "%s backward", n->params[cv->pw].name);
    return st;
}

/* y = bn(x), or relu(bn(x)) with relu = 1 (one fused pass) */
static gsg_status bn_fwd(struct gsg_net *n, struct gsg_net_ctx *c, struct bn *bn, struct gsg_tensor *y,
                         const struct gsg_tensor *x, int training, int relu)
{
    int64_t C = bn->c;
    struct gsg_tensor sm = gsg_tview_dev(n->dev, c->stats + c->stat_off[bn->id], GSG_DTYPE_F32, 1, C);
    struct gsg_tensor si = gsg_tview_dev(n->dev, c->stats + c->stat_off[bn->id] + (C + 15) / 16 * 16, GSG_DTYPE_F32, 1, C);
    struct gsg_tensor g, b, *pg = NULL, *pb = NULL;
    if (bn->pg >= 0) { g = P(n, bn->pg); b = P(n, bn->pb); pg = &g; pb = &b; }
    if (training && n->bn_allreduce) {
        /* synchronised BN: statistics, the collective, then apply (shift: the running mean, equal on all ranks) */
        struct gsg_tensor *rm = &n->bufs[bn->rm].value, *rv = &n->bufs[bn->rv].value;
        struct gsg_tensor sums = gsg_tensor_sub(&n->bn_sums, 0, 1, (int64_t[]){2 * C + 1});
        gsg_status st = gsg_bn_stats(&sums, x, rm);
        if (st >= 0) st = n->bn_allreduce(n->bn_allreduce_arg, &sums);
        if (st >= 0) st = gsg_bn_finalize(&sm, &si, rm, rv, &sums, rm, BN_MOMENTUM, BN_EPS);
        if (st >= 0) st = gsg_bn_apply(y, x, &sm, &si, pg, pb, relu);
        if (st < 0) return gsg_err_prefix(st, "%s", n->bufs[bn->rm].name);
        (*(int64_t *)n->bufs[bn->nt].value.data)++;
        return st;
    }
    gsg_status st = (relu ? gsg_batchnorm_relu_fwd : gsg_batchnorm_fwd)(y, &sm, &si, x, pg, pb, &n->bufs[bn->rm].value,
                                                                       &n->bufs[bn->rv].value, training, BN_MOMENTUM,
                                                                       BN_EPS);
    if (st < 0) return gsg_err_prefix(st, "%s", n->bufs[bn->rm].name);
    if (training) (*(int64_t *)n->bufs[bn->nt].value.data)++;
    return st;
}

/* backward of bn (y == NULL) or of relu(bn) with y its output */
static gsg_status bn_bwd(struct gsg_net *n, struct gsg_net_ctx *c, struct bn *bn, struct gsg_tensor *dx,
                         const struct gsg_tensor *dy, const struct gsg_tensor *x, const struct gsg_tensor *y)
{
    int64_t C = bn->c;
    struct gsg_tensor sm = gsg_tview_dev(n->dev, c->stats + c->stat_off[bn->id], GSG_DTYPE_F32, 1, C);
    struct gsg_tensor si = gsg_tview_dev(n->dev, c->stats + c->stat_off[bn->id] + (C + 15) / 16 * 16, GSG_DTYPE_F32, 1, C);
    struct gsg_tensor g, dg, db, *pg = NULL, *pdg = NULL, *pdb = NULL;
    if (bn->pg >= 0) { g = P(n, bn->pg); dg = G(n, bn->pg); db = G(n, bn->pb); pg = &g; pdg = &dg; pdb = &db; }
    if (n->bn_allreduce) {
        struct gsg_tensor sums = gsg_tensor_sub(&n->bn_sums, 0, 1, (int64_t[]){2 * C + 1});
        gsg_status st = gsg_bn_bwd_stats(&sums, pdg, pdb, dy, y, x, &sm, &si);
        if (st >= 0) st = n->bn_allreduce(n->bn_allreduce_arg, &sums);
        if (st >= 0) st = gsg_bn_bwd_apply(dx, dy, y, x, pg, &sm, &si, &sums);
        if (st < 0) return gsg_err_prefix(st, "%s backward", n->bufs[bn->rm].name);
        return st;
    }
    gsg_status st = y ? gsg_batchnorm_relu_bwd(dx, pdg, pdb, dy, y, x, pg, &sm, &si)
                      : gsg_batchnorm_bwd(dx, pdg, pdb, dy, x, pg, &sm, &si);
    if (st < 0) return gsg_err_prefix(st, "%s backward", n->bufs[bn->rm].name);
    return st;
}

static gsg_status lin_fwd(struct gsg_net *n, struct lin *l, struct gsg_tensor *y, const struct gsg_tensor *x)
{
    struct gsg_tensor w = P(n, l->pw), b;
    if (l->pb >= 0) b = P(n, l->pb);
    return gsg_linear_fwd(y, x, &w, l->pb >= 0 ? &b : NULL);
}

static gsg_status lin_bwd(struct gsg_net *n, struct lin *l, struct gsg_tensor *dx, const struct gsg_tensor *dy,
                          const struct gsg_tensor *x)
{
    struct gsg_tensor w = P(n, l->pw), dw = G(n, l->pw), db;
    if (l->pb >= 0) db = G(n, l->pb);
    return gsg_linear_bwd(dx, &dw, l->pb >= 0 ? &db : NULL, dy, x, &w);
}

static gsg_status block_fwd(struct gsg_net *n, struct gsg_net_ctx *c, struct block *bk, int64_t N, int tr)
{
    struct gsg_tensor x = sv(c, bk->s_in, N), out = sv(c, bk->s_out, N);
    struct gsg_tensor prev = x;
    for (int k = 0; k < bk->nconv; k++) {
        struct gsg_tensor cv = sv(c, bk->s_c[k], N);
        GSG_TRY(conv_fwd(n, &bk->cv[k], &cv, &prev, N));
        if (k < bk->nconv - 1) {
            struct gsg_tensor a = sv(c, bk->s_a[k], N);
            GSG_TRY(bn_fwd(n, c, &bk->bn[k], &a, &cv, tr, 1));
            prev = a;
        } else {
            GSG_TRY(bn_fwd(n, c, &bk->bn[k], &out, &cv, tr, 0));
        }
    }
    if (bk->has_ds) {
        struct gsg_tensor d = sv(c, bk->s_ds, N), t = scv(n, 0, bk->s_ds, N);
        GSG_TRY(conv_fwd(n, &bk->ds, &d, &x, N));
        GSG_TRY(bn_fwd(n, c, &bk->dsbn, &t, &d, tr, 0));
        return gsg_add_relu(&out, &out, &t);
    }
    return gsg_add_relu(&out, &out, &x);
}

gsg_status gsg_net_forward(struct gsg_net *n, struct gsg_net_ctx *c, struct gsg_net_out *o, const struct gsg_tensor *x,
                           enum gsg_fwd_mode mode)
{
    memset(o, 0, sizeof *o);
    c->trained = 0;
    int tr = 0;
    switch (mode) {
    case GSG_FWD_TRAIN: tr = 1; break;
    case GSG_FWD_EVAL: case GSG_FWD_EVAL_BACKBONE: break;
    }
    if (c->net != n) return gsg_err_set(GSG_E_USAGE, "forward: context belongs to another network");
    char a[64], b[64];
    int64_t N = x->ndim == 4 ? x->dims[0] : -1;
    int64_t want[4] = {N, n->H, n->W, n->cfg.in_channels};
    if (x->dtype != GSG_DTYPE_F32 || x->ndim != 4 || N < 1 || N > n->max_n || x->dims[1] != n->H ||
        x->dims[2] != n->W || x->dims[3] != n->cfg.in_channels || x->dev != n->dev)
        return gsg_err_set(GSG_E_SHAPE, "forward: input %s %s, expected f32 %s with N 1..%lld (NHWC)",
                           gsg_dtype_name(x->dtype), gsg_shape_str(a, sizeof a, x->ndim, x->dims),
                           gsg_shape_str(b, sizeof b, 4, want), (long long)n->max_n);
    if (N != n->max_n && N != n->alt_n) {
        free_plans(n, 1);
        n->alt_n = 0;
        GSG_TRY(make_plans(n, N, 1));
        n->alt_n = N;
    }
    struct gsg_tensor xs = sv(c, n->s_x, N);
    GSG_TRY(gsg_op_copy(&xs, x));
    struct gsg_tensor c0 = sv(c, n->s_c0, N), a0 = sv(c, n->s_a0, N);
    GSG_TRY(conv_fwd(n, &n->stem, &c0, &xs, N));
    GSG_TRY(bn_fwd(n, c, &n->stem_bn, &a0, &c0, tr, 1));
    if (n->s_mp >= 0) {
        struct gsg_tensor mp = sv(c, n->s_mp, N), am = sv(c, n->s_arg, N);
        GSG_TRY(gsg_maxpool_fwd(&mp, &am, &a0));
    }
    for (int i = 0; i < n->nblocks; i++) GSG_TRY(block_fwd(n, c, &n->blocks[i], N, tr));
    struct gsg_tensor last = sv(c, n->blocks[n->nblocks - 1].s_out, N), h = sv(c, n->s_h, N);
    GSG_TRY(gsg_avgpool_fwd(&h, &last));
    o->h = h;
    c->n = N;
    if (mode == GSG_FWD_EVAL_BACKBONE) return GSG_OK;
    struct gsg_tensor prev = h;
    int L = n->cfg.proj_layers;
    for (int k = 0; k < L; k++) {
        struct gsg_tensor l = sv(c, n->s_pl[k], N);
        GSG_TRY(lin_fwd(n, &n->pl[k], &l, &prev));
        if (k < L - 1) {
            struct gsg_tensor ac = sv(c, n->s_pa[k], N);
            GSG_TRY(bn_fwd(n, c, &n->pbn[k], &ac, &l, tr, 1));
            prev = ac;
        } else {
            struct gsg_tensor z = sv(c, n->s_z, N);
            GSG_TRY(bn_fwd(n, c, &n->pbn[k], &z, &l, tr, 0));
            o->z = z;
        }
    }
    o->p = o->z;
    if (n->cfg.pred_hidden > 0) {
        struct gsg_tensor q0 = sv(c, n->s_ql0, N), qa = sv(c, n->s_qa, N), p = sv(c, n->s_p, N);
        GSG_TRY(lin_fwd(n, &n->ql[0], &q0, &o->z));
        GSG_TRY(bn_fwd(n, c, &n->qbn, &qa, &q0, tr, 1));
        GSG_TRY(lin_fwd(n, &n->ql[1], &p, &qa));
        o->p = p;
    }
    c->trained = tr;
    return GSG_OK;
}

/* scratch roles in backward: 1 = gradient at the current output, 2 = gradient at the
 * current input, 3 and 4 = temporaries. Swapped as we walk down. */
static gsg_status block_bwd(struct gsg_net *n, struct gsg_net_ctx *c, struct block *bk, int64_t N, int *go, int *gi)
{
    struct gsg_tensor out = sv(c, bk->s_out, N), x = sv(c, bk->s_in, N);
    struct gsg_tensor dout = scv(n, *go, bk->s_out, N), din = scv(n, *gi, bk->s_in, N);
    GSG_TRY(gsg_relu_bwd(&dout, &dout, &out));
    /* main branch, from the last conv down: t3 holds the gradient at conv k's output */
    int k = bk->nconv - 1;
    struct gsg_tensor cl = sv(c, bk->s_c[k], N), t3 = scv(n, 3, bk->s_c[k], N), t4;
    GSG_TRY(bn_bwd(n, c, &bk->bn[k], &t3, &dout, &cl, NULL));
    for (; k > 0; k--) {
        struct gsg_tensor ain = sv(c, bk->s_a[k - 1], N), cin = sv(c, bk->s_c[k - 1], N);
        t4 = scv(n, 4, bk->s_a[k - 1], N);
        GSG_TRY(conv_bwd(n, &bk->cv[k], &t4, &t3, &ain, N));
        t3 = scv(n, 3, bk->s_c[k - 1], N);
        GSG_TRY(bn_bwd(n, c, &bk->bn[k - 1], &t3, &t4, &cin, &ain));
    }
    GSG_TRY(conv_bwd(n, &bk->cv[0], &din, &t3, &x, N));
    if (bk->has_ds) {
        struct gsg_tensor d = sv(c, bk->s_ds, N);
        t3 = scv(n, 3, bk->s_ds, N);
        t4 = scv(n, 4, bk->s_in, N);
        GSG_TRY(bn_bwd(n, c, &bk->dsbn, &t3, &dout, &d, NULL));
        GSG_TRY(conv_bwd(n, &bk->ds, &t4, &t3, &x, N));
        GSG_TRY(gsg_add_inplace(&din, &t4));
    } else {
        GSG_TRY(gsg_add_inplace(&din, &dout));
    }
    int t = *go; *go = *gi; *gi = t;
    return GSG_OK;
}

gsg_status gsg_net_backward(struct gsg_net *n, struct gsg_net_ctx *c, const struct gsg_tensor *dz,
                            const struct gsg_tensor *dp)
{
    if (n->flags & GSG_NET_INFERENCE)
        return gsg_err_set(GSG_E_USAGE, "backward: the network was created for inference only");
    if (c->net != n || !c->trained)
        return gsg_err_set(GSG_E_USAGE, "backward: the context holds no training-mode forward of this network");
    int64_t N = c->n, D = n->cfg.proj_dim;
    char a[64];
    const struct gsg_tensor *gs[2] = {dz, dp};
    for (int i = 0; i < 2; i++)
        if (gs[i] && (gs[i]->dtype != GSG_DTYPE_F32 || gs[i]->ndim != 2 || gs[i]->dims[0] != N || gs[i]->dims[1] != D))
            return gsg_err_set(GSG_E_SHAPE, "backward: %s is %s %s, expected f32 [%lld,%lld]", i ? "dp" : "dz",
                               gsg_dtype_name(gs[i]->dtype), gsg_shape_str(a, sizeof a, gs[i]->ndim, gs[i]->dims),
                               (long long)N, (long long)D);
    c->trained = 0;   /* one backward per forward */
    /* gradient at z into scratch 1 */
    struct gsg_tensor gz = scv(n, 1, n->s_z, N);
    if (dz) GSG_TRY(gsg_op_copy(&gz, dz));
    else GSG_TRY(gsg_zero(&gz));
    if (dp && n->cfg.pred_hidden > 0) {
        struct gsg_tensor qa = sv(c, n->s_qa, N), q0 = sv(c, n->s_ql0, N), z = sv(c, n->s_z, N);
        struct gsg_tensor t3 = scv(n, 3, n->s_qa, N), t4 = scv(n, 4, n->s_ql0, N), t2 = scv(n, 2, n->s_z, N);
        GSG_TRY(lin_bwd(n, &n->ql[1], &t3, dp, &qa));
        GSG_TRY(bn_bwd(n, c, &n->qbn, &t4, &t3, &q0, &qa));
        GSG_TRY(lin_bwd(n, &n->ql[0], &t2, &t4, &z));
        GSG_TRY(gsg_add_inplace(&gz, &t2));
    } else if (dp) {
        GSG_TRY(gsg_add_inplace(&gz, dp));
    }
    /* projector: scratch 1 holds the gradient at the current layer's output */
    int L = n->cfg.proj_layers, go = 1, gi = 2;
    for (int k = L - 1; k >= 0; k--) {
        struct gsg_tensor l = sv(c, n->s_pl[k], N);
        struct gsg_tensor dy = k == L - 1 ? scv(n, go, n->s_z, N) : scv(n, go, n->s_pa[k], N);
        struct gsg_tensor t3 = scv(n, 3, n->s_pl[k], N);
        struct gsg_tensor ac = k < L - 1 ? sv(c, n->s_pa[k], N) : dy;
        GSG_TRY(bn_bwd(n, c, &n->pbn[k], &t3, &dy, &l, k < L - 1 ? &ac : NULL));
        struct gsg_tensor in = k > 0 ? sv(c, n->s_pa[k - 1], N) : sv(c, n->s_h, N);
        struct gsg_tensor din = k > 0 ? scv(n, gi, n->s_pa[k - 1], N) : scv(n, gi, n->s_h, N);
        GSG_TRY(lin_bwd(n, &n->pl[k], &din, &t3, &in));
        int t = go; go = gi; gi = t;
    }
    /* global average pool */
    struct block *lastb = &n->blocks[n->nblocks - 1];
    {
        struct gsg_tensor dh = scv(n, go, n->s_h, N), dl = scv(n, gi, lastb->s_out, N);
        GSG_TRY(gsg_avgpool_bwd(&dl, &dh));
        int t = go; go = gi; gi = t;
    }
    for (int i = n->nblocks - 1; i >= 0; i--) GSG_TRY(block_bwd(n, c, &n->blocks[i], N, &go, &gi));
    /* stem */
    struct gsg_tensor a0 = sv(c, n->s_a0, N), c0 = sv(c, n->s_c0, N), xs = sv(c, n->s_x, N);
    struct gsg_tensor da0;
    if (n->s_mp >= 0) {
        struct gsg_tensor dmp = scv(n, go, n->s_mp, N), am = sv(c, n->s_arg, N);
        da0 = scv(n, gi, n->s_a0, N);
        GSG_TRY(gsg_maxpool_bwd(&da0, &dmp, &am));
    } else {
        da0 = scv(n, go, n->s_a0, N);
    }
    struct gsg_tensor t3 = scv(n, 3, n->s_c0, N);
    GSG_TRY(bn_bwd(n, c, &n->stem_bn, &t3, &da0, &c0, &a0));
    GSG_TRY(conv_bwd(n, &n->stem, NULL, &t3, &xs, N));
    return GSG_OK;
}
