/* train.c: the SimSiam / BYOL (+ GSG) and SimCLR training step (see train.h). */
#define _GNU_SOURCE
#include "train.h"
#include "../eval/collapse.h"
#include "../core/tool.h"
#include "../io/tstream.h"
#include "../ops/ops_engine.h"
#include "../cuda/gsg_cuda.h"
#include "../dist/dist.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *gsg_method_name(enum gsg_method m)
{
    switch (m) {
    case GSG_METHOD_SIMSIAM: return "simsiam";
    case GSG_METHOD_BYOL: return "byol";
    case GSG_METHOD_SIMCLR: return "simclr";
    }
    return "?";
}

const char *gsg_pairing_name(enum gsg_pairing p)
{
    switch (p) {
    case GSG_PAIR_4VIEW: return "4view";
    case GSG_PAIR_2VIEW: return "2view";
    }
    return "?";
}

gsg_status gsg_train_config_recipe(struct gsg_train_config *c, const char *recipe)
{
    memset(c, 0, sizeof *c);
    GSG_TRY(gsg_net_config_recipe(&c->net, recipe));
    snprintf(c->recipe, sizeof c->recipe, "%s", recipe);
    c->method = GSG_METHOD_SIMSIAM;
    c->gsg = 0;
    c->pairing = GSG_PAIR_4VIEW;
    c->dist = GSG_DIST_EUCLIDEAN;
    c->momentum = 0.9;
    c->ema = 0.99;
    c->seed = 0;
    /* SimCLR's temperature: its reference code's CIFAR-10 command (--temperature=0.5) for the small-image
     * recipes, its ImageNet command (--temperature=0.1) for imagenet (google-research/simclr README) */
    c->temperature = 0.5;
    if (!strcmp(recipe, "cifar")) {
        c->lr_per256 = 0.03; c->wd = 5e-4; c->epochs = 200; c->batch = 512; c->image_h = c->image_w = 32;
    } else if (!strcmp(recipe, "fmnist")) {
        c->lr_per256 = 0.03; c->wd = 5e-4; c->epochs = 10; c->batch = 256; c->image_h = c->image_w = 28;
    } else {   /* imagenet (gsg_net_config_recipe rejected anything else) */
        c->lr_per256 = 0.05; c->wd = 1e-4; c->epochs = 100; c->batch = 512; c->image_h = c->image_w = 224;
        c->fix_pred_lr = 1;
        c->temperature = 0.1;
    }
    return GSG_OK;
}

double gsg_train_base_lr(const struct gsg_train_config *c)
{
    if (c->lr > 0) return c->lr;
    /* BYOL: 0.06 * B / 128 on CIFAR (docs/algorithm.md §7), i.e. 4x SimSiam's rule per 256 images */
    double per256 = c->method == GSG_METHOD_BYOL && !strcmp(c->recipe, "cifar") ? 0.12 : c->lr_per256;
    return per256 * (double)c->batch / 256.0;
}

int gsg_train_config_format(const struct gsg_train_config *c, char *buf, size_t cap)
{
    buf[0] = 0;
    int bad = 0;
    bad |= gsg_meta_add(buf, cap, "recipe", "%s", c->recipe);
    bad |= gsg_meta_add(buf, cap, "method", "%s", gsg_method_name(c->method));
    bad |= gsg_meta_add(buf, cap, "gsg", "%d", c->gsg);
    bad |= gsg_meta_add(buf, cap, "gsg_pairing", "%s", gsg_pairing_name(c->pairing));
    bad |= gsg_meta_add(buf, cap, "gsg_distance", "%s", gsg_dist_name(c->dist));
    bad |= gsg_meta_add(buf, cap, "fix_pred_lr", "%d", c->fix_pred_lr);
    bad |= gsg_meta_add(buf, cap, "lr", "%.9g", gsg_train_base_lr(c));
    bad |= gsg_meta_add(buf, cap, "wd", "%.9g", c->wd);
    bad |= gsg_meta_add(buf, cap, "momentum", "%.9g", c->momentum);
    bad |= gsg_meta_add(buf, cap, "ema", "%.9g", c->ema);
    bad |= gsg_meta_add(buf, cap, "ema_cosine", "%d", c->ema_cosine);
    if (c->method == GSG_METHOD_SIMCLR) bad |= gsg_meta_add(buf, cap, "temperature", "%.9g", c->temperature);
    bad |= gsg_meta_add(buf, cap, "epochs", "%lld", (long long)c->epochs);
    bad |= gsg_meta_add(buf, cap, "warmup", "%lld", (long long)c->warmup);
    bad |= gsg_meta_add(buf, cap, "steps_per_epoch", "%lld", (long long)c->steps_per_epoch);
    bad |= gsg_meta_add(buf, cap, "batch", "%lld", (long long)c->batch);
    bad |= gsg_meta_add(buf, cap, "image_height", "%lld", (long long)c->image_h);
    bad |= gsg_meta_add(buf, cap, "image_width", "%lld", (long long)c->image_w);
    bad |= gsg_meta_add(buf, cap, "seed", "%llu", (unsigned long long)c->seed);
    if (bad) return -1;
    size_t o = strlen(buf);
    return gsg_net_config_format(&c->net, buf + o, cap - o);
}

static gsg_status need(const char *text, const char *key, char *v, size_t cap)
{
    if (!gsg_meta_get(text, key, v, cap)) return gsg_err_set(GSG_E_FORMAT, "gsg.config: expected key '%s', found none", key);
    return GSG_OK;
}

static gsg_status need_i64(const char *text, const char *key, int64_t *out)
{
    char v[64], *end;
    GSG_TRY(need(text, key, v, sizeof v));
    long long x = strtoll(v, &end, 10);
    if (end == v || *end) return gsg_err_set(GSG_E_FORMAT, "gsg.config: %s=%s, expected an integer", key, v);
    *out = x;
    return GSG_OK;
}

static gsg_status need_f64(const char *text, const char *key, double *out)
{
    char v[64], *end;
    GSG_TRY(need(text, key, v, sizeof v));
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x)) return gsg_err_set(GSG_E_FORMAT, "gsg.config: %s=%s, expected a number", key, v);
    *out = x;
    return GSG_OK;
}

gsg_status gsg_train_config_parse(struct gsg_train_config *c, const char *text)
{
    char v[64];
    int64_t x = 0;
    GSG_TRY(need(text, "recipe", v, sizeof v));
    GSG_TRY(gsg_train_config_recipe(c, v) < 0 ? gsg_err_set(GSG_E_FORMAT, "gsg.config: recipe=%s unknown", v) : GSG_OK);
    GSG_TRY(need(text, "method", v, sizeof v));
    if (!strcmp(v, "simsiam")) c->method = GSG_METHOD_SIMSIAM;
    else if (!strcmp(v, "byol")) c->method = GSG_METHOD_BYOL;
    else if (!strcmp(v, "simclr")) c->method = GSG_METHOD_SIMCLR;
    else return gsg_err_set(GSG_E_FORMAT, "gsg.config: method=%s, expected simsiam, byol or simclr", v);
    GSG_TRY(need_i64(text, "gsg", &x)); c->gsg = x != 0;
    GSG_TRY(need(text, "gsg_pairing", v, sizeof v));
    if (!strcmp(v, "4view")) c->pairing = GSG_PAIR_4VIEW;
    else if (!strcmp(v, "2view")) c->pairing = GSG_PAIR_2VIEW;
    else return gsg_err_set(GSG_E_FORMAT, "gsg.config: gsg_pairing=%s, expected 4view or 2view", v);
    GSG_TRY(need(text, "gsg_distance", v, sizeof v));
    if (gsg_dist_parse(v, &c->dist)) return gsg_err_set(GSG_E_FORMAT, "gsg.config: gsg_distance=%s unknown", v);
    GSG_TRY(need_i64(text, "fix_pred_lr", &x)); c->fix_pred_lr = x != 0;
    GSG_TRY(need_f64(text, "lr", &c->lr));
    GSG_TRY(need_f64(text, "wd", &c->wd));
    GSG_TRY(need_f64(text, "momentum", &c->momentum));
    GSG_TRY(need_f64(text, "ema", &c->ema));
    GSG_TRY(need_i64(text, "ema_cosine", &x)); c->ema_cosine = x != 0;
    if (c->method == GSG_METHOD_SIMCLR) {
        GSG_TRY(need_f64(text, "temperature", &c->temperature));
        if (!(c->temperature > 0))
            return gsg_err_set(GSG_E_FORMAT, "gsg.config: temperature=%g, expected a value > 0", c->temperature);
    }
    GSG_TRY(need_i64(text, "epochs", &c->epochs));
    GSG_TRY(need_i64(text, "warmup", &c->warmup));
    GSG_TRY(need_i64(text, "steps_per_epoch", &c->steps_per_epoch));
    GSG_TRY(need_i64(text, "batch", &c->batch));
    GSG_TRY(need_i64(text, "image_height", &c->image_h));
    GSG_TRY(need_i64(text, "image_width", &c->image_w));
    GSG_TRY(need_i64(text, "seed", &x)); c->seed = (uint64_t)x;
    c->rank = 0;   /* placement: older checkpoints carry rank=, which is ignored */
    return gsg_net_config_parse(&c->net, text);
}

int gsg_train_config_diff(const char *a, const char *b, char *key, size_t kcap, char *va, char *vb, size_t vcap)
{
    /* every key of a must be in b with the same value, and the other way round */
    for (int pass = 0; pass < 2; pass++) {
        const char *x = pass ? b : a, *y = pass ? a : b;
        const char *p = x;
        while (*p) {
            const char *eol = strchr(p, '\n');
            size_t ll = eol ? (size_t)(eol - p) : strlen(p);
            const char *eq = memchr(p, '=', ll);
            if (eq) {
                size_t kl = (size_t)(eq - p);
                char k[128], vx[256], vy[256];
                if (kl >= sizeof k) kl = sizeof k - 1;
                memcpy(k, p, kl); k[kl] = 0;
                size_t vl = ll - (size_t)(eq - p) - 1;
                if (vl >= sizeof vx) vl = sizeof vx - 1;
                memcpy(vx, eq + 1, vl); vx[vl] = 0;
                if (!strcmp(k, "rank")) goto next;   /* placement, kept by older checkpoints */
                int found = gsg_meta_get(y, k, vy, sizeof vy);
                if (!found || strcmp(vx, vy) != 0) {
                    snprintf(key, kcap, "%s", k);
                    snprintf(va, vcap, "%s", pass ? (found ? vy : "(none)") : vx);
                    snprintf(vb, vcap, "%s", pass ? vx : (found ? vy : "(none)"));
                    return 1;
                }
            }
        next:
            if (!eol) break;
            p = eol + 1;
        }
    }
    return 0;
}

/* ---------------- the trainer ---------------- */
struct gsg_trainer {
    struct gsg_train_config cfg;
    struct gsg_net *net, *target;
    struct gsg_sgd *opt;
    struct gsg_net_ctx *ctx[4], *tctx;
    int nctx;
    int64_t step, monitor_every;
    struct gsg_comm *dist;      /* NULL: one rank */
    int world, rank;
    int64_t N, D, C, H, W;
    enum gsg_dev dev;
    /* on the device (docs/execution.md); on the CPU the *_t of tz, dp and perm view the host arrays */
    struct gsg_tensor x_t;      /* f32 [N,H,W,C] the network input (SimCLR: [2N,H,W,C], both views) */
    struct gsg_tensor views_t;  /* u8 [N,V,C,H,W] the uploaded batch (CUDA; grown when V grows) */
    struct gsg_tensor perm_t;   /* i64 [N] */
    struct gsg_tensor tz_t[4];  /* f32 [N,D] target projections (BYOL) */
    struct gsg_tensor dp_t[4];  /* f32 [N,D] loss gradients at the predictions */
    /* host: the GSG selection, the loss and the monitors are host work on staged copies */
    float *tz[4];         /* [N,D] target projections (BYOL) / gathered rows (2-view) */
    float *pg[2];         /* [N,D] gathered predictions (2-view with a predictor) */
    float *dp[4];         /* [N,D] */
    float *d, *loss_rows; /* [N,4], [N] */
    int64_t *perm, *k;    /* [N] */
    float *hz[4], *hp[4], *hh;   /* staging of z, p [N,D] and h [N,F] (CUDA only; NULL on the CPU; SimCLR hz[0] [2N,D]) */
    /* SimCLR (one encoder call of 2N rows; M = world * 2N rows in the loss) */
    struct gsg_tensor u_t;      /* f32 [M,D] the L2-normalised projections of the (global) batch */
    struct gsg_tensor work_t;   /* f32 [2N,M] the NT-Xent op's scratch */
    struct gsg_tensor nl_t;     /* f32 [2N] per-anchor loss */
    struct gsg_tensor lse_t;    /* f32 [M] every anchor's log-sum-exp (gathered) */
    struct gsg_tensor dl_t;     /* f32 [M] dL/dloss of every anchor */
    struct gsg_tensor du_t;     /* f32 [2N,D] the gradient at u */
    struct gsg_tensor dz_t;     /* f32 [2N,D] the gradient at z */
    float *nl, *dl, *dz;        /* host [2N], [M], [2N,D] (the tensors view them on the CPU) */
};

const struct gsg_train_config *gsg_trainer_config(const struct gsg_trainer *tr) { return &tr->cfg; }
int64_t gsg_trainer_step_index(const struct gsg_trainer *tr) { return tr->step; }
int64_t gsg_trainer_total_steps(const struct gsg_trainer *tr) { return tr->cfg.epochs * tr->cfg.steps_per_epoch; }
struct gsg_net *gsg_trainer_net(struct gsg_trainer *tr) { return tr->net; }
struct gsg_net *gsg_trainer_target(struct gsg_trainer *tr) { return tr->target; }
void gsg_trainer_set_monitor_every(struct gsg_trainer *tr, int64_t k) { tr->monitor_every = k; }

void gsg_trainer_destroy(struct gsg_trainer *tr)
{
    if (!tr) return;
    for (int i = 0; i < 4; i++) if (tr->ctx[i]) gsg_net_ctx_destroy(tr->ctx[i]);
    if (tr->tctx) gsg_net_ctx_destroy(tr->tctx);
    if (tr->opt) gsg_sgd_destroy(tr->opt);
    if (tr->target) gsg_net_destroy(tr->target);
    if (tr->net) gsg_net_destroy(tr->net);
    gsg_tensor_free(&tr->x_t);
    gsg_tensor_free(&tr->views_t);
    gsg_tensor_free(&tr->perm_t);
    for (int i = 0; i < 4; i++) { gsg_tensor_free(&tr->tz_t[i]); gsg_tensor_free(&tr->dp_t[i]); }
    struct gsg_tensor *sc[] = {&tr->u_t, &tr->work_t, &tr->nl_t, &tr->lse_t, &tr->dl_t, &tr->du_t, &tr->dz_t};
    for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) gsg_tensor_free(sc[i]);
    gsg_aligned_free(tr->nl); gsg_aligned_free(tr->dl); gsg_aligned_free(tr->dz);
    for (int i = 0; i < 4; i++) { gsg_aligned_free(tr->hz[i]); gsg_aligned_free(tr->hp[i]); }
    gsg_aligned_free(tr->hh);
    for (int i = 0; i < 4; i++) { gsg_aligned_free(tr->tz[i]); gsg_aligned_free(tr->dp[i]); }
    for (int i = 0; i < 2; i++) gsg_aligned_free(tr->pg[i]);
    gsg_aligned_free(tr->d); gsg_aligned_free(tr->loss_rows);
    gsg_aligned_free(tr->perm); gsg_aligned_free(tr->k);
    free(tr);
}

static void *zalloc(size_t bytes, int *fail)
{
    void *p = gsg_aligned_alloc(bytes ? bytes : 64);
    if (!p) *fail = 1;
    else memset(p, 0, bytes);
    return p;
}

gsg_status gsg_trainer_create(struct gsg_trainer **out, const struct gsg_train_config *c, enum gsg_dev dev)
{
    *out = NULL;
    if (c->batch < 1 || c->image_h < 1 || c->image_w < 1 || c->steps_per_epoch < 1 || c->epochs < 1)
        return gsg_err_set(GSG_E_USAGE, "trainer: batch, image size, steps per epoch and epochs must be >= 1");
    GSG_TRY(gsg_net_config_check(&c->net));
    const int simclr = c->method == GSG_METHOD_SIMCLR;
    if (simclr && c->gsg)
        return gsg_err_set(GSG_E_USAGE, "trainer: Guided Stop-Gradient does not apply to simclr (it has no stop-gradient)");
    if (simclr && c->net.pred_hidden > 0)
        return gsg_err_set(GSG_E_USAGE, "trainer: simclr has no predictor, the configuration has pred_hidden=%d",
                           c->net.pred_hidden);
    if (simclr && !(c->temperature > 0 && isfinite(c->temperature)))
        return gsg_err_set(GSG_E_USAGE, "trainer: simclr temperature %g, expected a finite value > 0", c->temperature);
    struct gsg_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    tr->cfg = *c;
    tr->monitor_every = 1;
    tr->world = c->world > 1 ? (int)c->world : 1;
    tr->rank = (int)c->rank;
    if (c->batch % tr->world) {
        int w = tr->world;
        free(tr);
        return gsg_err_set(GSG_E_USAGE, "trainer: global batch %lld does not split over %d ranks", (long long)c->batch, w);
    }
    tr->N = c->batch / tr->world; tr->D = c->net.proj_dim; tr->C = c->net.in_channels; tr->H = c->image_h; tr->W = c->image_w;
    /* SimCLR: one encoder call on both views (2N rows) */
    const int64_t rows = simclr ? 2 * tr->N : tr->N;
    gsg_status st = gsg_net_create(&tr->net, &c->net, rows, tr->H, tr->W, dev, c->seed, 0);
    if (st < 0) goto fail;
    tr->nctx = simclr ? 1 : c->gsg && c->pairing == GSG_PAIR_4VIEW ? 4 : 2;
    for (int i = 0; i < tr->nctx; i++)
        if ((st = gsg_net_ctx_create(tr->net, &tr->ctx[i])) < 0) goto fail;
    if ((st = gsg_sgd_create(&tr->opt, tr->net, c->momentum, c->wd)) < 0) goto fail;
    if (c->method == GSG_METHOD_BYOL) {
        struct gsg_net_config tc = c->net;
        tc.pred_hidden = 0;   /* backbone + projector */
        if ((st = gsg_net_create(&tr->target, &tc, tr->N, tr->H, tr->W, dev, c->seed, GSG_NET_INFERENCE)) < 0) goto fail;
        if ((st = gsg_net_copy(tr->target, tr->net)) < 0) goto fail;
        if ((st = gsg_net_ctx_create(tr->target, &tr->tctx)) < 0) goto fail;
    }
    int bad = 0;
    size_t nd = (size_t)(tr->N * tr->D) * sizeof(float);
    for (int i = 0; i < 4; i++) { tr->tz[i] = zalloc(nd, &bad); tr->dp[i] = zalloc(nd, &bad); }
    for (int i = 0; i < 2; i++) tr->pg[i] = zalloc(nd, &bad);
    tr->d = zalloc((size_t)tr->N * 4 * sizeof(float), &bad);
    tr->loss_rows = zalloc((size_t)tr->N * sizeof(float), &bad);
    tr->perm = zalloc((size_t)tr->N * sizeof(int64_t), &bad);
    tr->k = zalloc((size_t)tr->N * sizeof(int64_t), &bad);
    if (bad) { st = gsg_err_set(GSG_E_NOMEM, "trainer: out of memory for batch buffers"); goto fail; }
    tr->dev = dev;
    int64_t xd[4] = {rows, tr->H, tr->W, tr->C}, zd[2] = {tr->N, tr->D};
    if ((st = gsg_tensor_alloc(&tr->x_t, GSG_DTYPE_F32, dev, 4, xd)) < 0) goto fail;
    if (simclr) {
        const int64_t R = 2 * tr->N, M = tr->world * R, ud[2] = {M, tr->D}, wd[2] = {R, M}, rd[2] = {R, tr->D};
        tr->nl = zalloc((size_t)R * sizeof(float), &bad);
        tr->dl = zalloc((size_t)M * sizeof(float), &bad);
        tr->dz = zalloc((size_t)(R * tr->D) * sizeof(float), &bad);
        if (bad) { st = gsg_err_set(GSG_E_NOMEM, "trainer: out of memory for the SimCLR buffers"); goto fail; }
        if ((st = gsg_tensor_alloc(&tr->u_t, GSG_DTYPE_F32, dev, 2, ud)) < 0) goto fail;
        if ((st = gsg_tensor_alloc(&tr->work_t, GSG_DTYPE_F32, dev, 2, wd)) < 0) goto fail;
        if ((st = gsg_tensor_alloc(&tr->lse_t, GSG_DTYPE_F32, dev, 1, &M)) < 0) goto fail;
        if ((st = gsg_tensor_alloc(&tr->du_t, GSG_DTYPE_F32, dev, 2, rd)) < 0) goto fail;
        if (dev == GSG_DEV_CPU) {
            tr->nl_t = gsg_tensor_view(tr->nl, GSG_DTYPE_F32, dev, 1, &R);
            tr->dl_t = gsg_tensor_view(tr->dl, GSG_DTYPE_F32, dev, 1, &M);
            tr->dz_t = gsg_tensor_view(tr->dz, GSG_DTYPE_F32, dev, 2, rd);
        } else {
            if ((st = gsg_tensor_alloc(&tr->nl_t, GSG_DTYPE_F32, dev, 1, &R)) < 0) goto fail;
            if ((st = gsg_tensor_alloc(&tr->dl_t, GSG_DTYPE_F32, dev, 1, &M)) < 0) goto fail;
            if ((st = gsg_tensor_alloc(&tr->dz_t, GSG_DTYPE_F32, dev, 2, rd)) < 0) goto fail;
        }
    }
    if (dev == GSG_DEV_CPU) {
        tr->perm_t = gsg_tensor_view(tr->perm, GSG_DTYPE_I64, dev, 1, &tr->N);
        for (int i = 0; i < 4; i++) {
            tr->tz_t[i] = gsg_tensor_view(tr->tz[i], GSG_DTYPE_F32, dev, 2, zd);
            tr->dp_t[i] = gsg_tensor_view(tr->dp[i], GSG_DTYPE_F32, dev, 2, zd);
        }
    } else {
        if ((st = gsg_tensor_alloc(&tr->perm_t, GSG_DTYPE_I64, dev, 1, &tr->N)) < 0) goto fail;
        for (int i = 0; i < 4; i++) {
            if ((st = gsg_tensor_alloc(&tr->tz_t[i], GSG_DTYPE_F32, dev, 2, zd)) < 0) goto fail;
            if ((st = gsg_tensor_alloc(&tr->dp_t[i], GSG_DTYPE_F32, dev, 2, zd)) < 0) goto fail;
            tr->hz[i] = zalloc(i == 0 && simclr ? 2 * nd : nd, &bad);
            tr->hp[i] = zalloc(nd, &bad);
        }
        tr->hh = zalloc((size_t)(tr->N * gsg_net_feature_dim(&c->net)) * sizeof(float), &bad);
        if (bad) { st = gsg_err_set(GSG_E_NOMEM, "trainer: out of memory for staging buffers"); goto fail; }
    }
    *out = tr;
    return GSG_OK;
fail:
    gsg_trainer_destroy(tr);
    return st;
}

static gsg_status bn_sum(void *arg, struct gsg_tensor *sums)
{
    return gsg_comm_allreduce(arg, sums, "batch-norm statistics");
}

gsg_status gsg_trainer_set_dist(struct gsg_trainer *tr, struct gsg_comm *d, int sync_bn)
{
    int n = gsg_comm_size(d);
    if (n != tr->world)
        return gsg_err_set(GSG_E_USAGE, "trainer: made for %d ranks, the job has %d", tr->world, n);
    tr->dist = n > 1 ? d : NULL;
    if (tr->dist) {   /* one rank keeps the configuration's key (a single-process run of one shard) */
        tr->rank = gsg_comm_rank(d);
        tr->cfg.rank = tr->rank;
    }
    gsg_net_allreduce_fn fn = tr->dist && sync_bn ? bn_sum : NULL;
    gsg_net_set_bn_allreduce(tr->net, fn, d);
    if (tr->target) gsg_net_set_bn_allreduce(tr->target, fn, d);
    if (tr->dist) GSG_TRY(gsg_comm_use_device(d, tr->dev));
    return GSG_OK;
}

/* A host-readable copy of t's first n floats: t itself on the CPU, staged into buf (n floats) on a
 * device. The GSG selection, the loss and the monitors read these. */
static gsg_status host_view(const float **out, const struct gsg_tensor *t, float *buf)
{
    if (t->dev == GSG_DEV_CPU) { *out = t->data; return GSG_OK; }
    GSG_TRY(gsg_tensor_to_host(buf, t));
    *out = buf;
    return GSG_OK;
}

/* The batch's views as a tensor on the trainer's device: the caller's memory on the CPU, an upload
 * into views_t otherwise (grown when a stream with more views per image arrives). */
static gsg_status stage_views(struct gsg_trainer *tr, struct gsg_tensor *out, const struct gsg_train_batch *b)
{
    int64_t d[5] = {b->N, b->V, b->C, b->H, b->W};
    if (tr->dev == GSG_DEV_CPU) {
        *out = gsg_tensor_view((void *)b->views, GSG_DTYPE_U8, GSG_DEV_CPU, 5, d);
        return GSG_OK;
    }
    int64_t need = b->N * b->V * b->C * b->H * b->W;
    if (gsg_tensor_numel(&tr->views_t) < need) {
        gsg_tensor_free(&tr->views_t);
        GSG_TRY(gsg_tensor_alloc(&tr->views_t, GSG_DTYPE_U8, tr->dev, 1, &need));
    }
    *out = gsg_tensor_sub(&tr->views_t, 0, 5, d);
    return gsg_tensor_from_host(out, b->views);
}

static int all_finite(const float *x, int64_t n)
{
    int ok = 1;
    for (int64_t i = 0; i < n; i++) ok &= isfinite(x[i]);
    return ok;
}

/* SimCLR's forward and loss: both views through one encoder call (out: z and h [2N,.]), NT-Xent over
 * the 2N rows (or the ranks' gathered rows), its gradient at z left in tr->dz (host) and the loss in st.
 * zh: host-readable z [2N,D] for the monitors. */
static gsg_status simclr_step(struct gsg_trainer *tr, const struct gsg_train_batch *b, const struct gsg_tensor *views,
                              struct gsg_net_out *out, const float **zh, struct gsg_train_stats *st)
{
    const struct gsg_train_config *c = &tr->cfg;
    const int64_t N = b->N, D = tr->D, R = 2 * N, hwc = tr->H * tr->W * tr->C;
    /* test hook (train.h): the two wrong ways to distribute the loss */
    const char *mode = getenv("GSG_TEST_SIMCLR");
    const int local = mode && !strcmp(mode, "local"), nograd = mode && !strcmp(mode, "nograd");
    struct gsg_comm *g = local ? NULL : tr->dist;   /* the loss's collectives */
    const int64_t blk = g ? tr->rank : 0, M = (g ? tr->world : 1) * R;
    int64_t xd[4] = {N, tr->H, tr->W, tr->C};
    for (int v = 0; v < 2; v++) {
        struct gsg_tensor xv = gsg_tensor_sub(&tr->x_t, v * N * hwc, 4, xd);
        GSG_TRY(gsg_op_views_to_f32(&xv, views, v, NULL, b->mean, b->std));
    }
    xd[0] = R;
    struct gsg_tensor x = gsg_tensor_sub(&tr->x_t, 0, 4, xd);
    GSG_TRY(gsg_net_forward(tr->net, tr->ctx[0], out, &x, GSG_FWD_TRAIN));
    const double ts = gsg_now();
    if (g) {   /* the gathered rows are laid out rank by rank: every rank must bring as many */
        double nn[2] = {(double)N, -(double)N};
        GSG_TRY(gsg_comm_max_f64(g, nn, 2, "SimCLR batch sizes"));
        if (nn[0] != -nn[1])
            return gsg_err_set(GSG_E_SHAPE, "step %lld: SimCLR gathers the ranks' batches, which must be equal: this rank has "
                               "%lld images, the ranks have %.0f to %.0f", (long long)tr->step, (long long)N, -nn[1], nn[0]);
    }
    const int64_t ud[2] = {M, D}, rd[2] = {R, D}, wd[2] = {R, M};
    struct gsg_tensor u = gsg_tensor_sub(&tr->u_t, 0, 2, ud), mine = gsg_tensor_sub(&tr->u_t, blk * R * D, 2, rd);
    struct gsg_tensor work = gsg_tensor_sub(&tr->work_t, 0, 2, wd), loss = gsg_tensor_sub(&tr->nl_t, 0, 1, &R);
    struct gsg_tensor lse = gsg_tensor_sub(&tr->lse_t, 0, 1, &M), lse_mine = gsg_tensor_sub(&tr->lse_t, blk * R, 1, &R);
    struct gsg_tensor dl = gsg_tensor_sub(&tr->dl_t, 0, 1, &M), du = gsg_tensor_sub(&tr->du_t, 0, 2, rd);
    struct gsg_tensor dz = gsg_tensor_sub(&tr->dz_t, 0, 2, rd);
    /* the all-gathers are all-reduces of buffers that hold zeros outside this rank's rows: x + 0 = x exactly */
    if (g) GSG_TRY(gsg_op_zero(&u));
    GSG_TRY(gsg_l2norm_fwd(&mine, &out->z));
    if (g) GSG_TRY(gsg_comm_allreduce(g, &u, "SimCLR projections"));
    if (g) GSG_TRY(gsg_op_zero(&lse));
    GSG_TRY(gsg_ntxent_fwd(&loss, &lse_mine, &work, &u, blk, c->temperature));
    if (g) {
        GSG_TRY(gsg_comm_allreduce(g, &lse, "SimCLR log-sum-exp"));
        GSG_TRY(gsg_comm_device_wait(g, "SimCLR log-sum-exp"));
    }
    /* L = this rank's mean over its R anchors (the ranks' mean is taken by the 1/world of the step) */
    for (int64_t a = 0; a < M; a++) tr->dl[a] = (nograd && a / R != blk) ? 0.0f : (float)(1.0 / (double)R);
    if (tr->dev != GSG_DEV_CPU) GSG_TRY(gsg_tensor_from_host(&dl, tr->dl));
    GSG_TRY(gsg_ntxent_bwd(&du, &work, &dl, &u, &lse, blk, c->temperature));
    GSG_TRY(gsg_l2norm_bwd(&dz, &du, &out->z));
    if (tr->dev != GSG_DEV_CPU) {
        GSG_TRY(gsg_tensor_to_host(tr->nl, &loss));
        GSG_TRY(gsg_tensor_to_host(tr->dz, &dz));
    }
    GSG_TRY(host_view(zh, &out->z, tr->hz[0]));
    double s = 0;
    for (int64_t a = 0; a < R; a++) s += tr->nl[a];   /* in order: independent of the thread count */
    st->loss = s / (double)R;
    for (int64_t n = 0; n < N; n++) tr->loss_rows[n] = 0.5f * (tr->nl[n] + tr->nl[N + n]);
    st->select_seconds = gsg_now() - ts;
    return GSG_OK;
}

gsg_status gsg_trainer_step(struct gsg_trainer *tr, const struct gsg_train_batch *b, struct gsg_train_stats *st)
{
    const struct gsg_train_config *c = &tr->cfg;
    const int simclr = c->method == GSG_METHOD_SIMCLR;
    const int four = c->gsg && c->pairing == GSG_PAIR_4VIEW;
    const int64_t N = b->N, D = tr->D;
    memset(st, 0, sizeof *st);
    if (N < 1 || N > tr->N || b->C != tr->C || b->H != tr->H || b->W != tr->W)
        return gsg_err_set(GSG_E_SHAPE, "step %lld: batch [%lld,%lld,%lld,%lld,%lld], expected at most %lld images of %lldx%lldx%lld",
                           (long long)tr->step, (long long)N, (long long)b->V, (long long)b->C, (long long)b->H, (long long)b->W,
                           (long long)tr->N, (long long)tr->C, (long long)tr->H, (long long)tr->W);
    if (b->V < (four ? 4 : 2))
        return gsg_err_set(GSG_E_SHAPE, "step %lld: %lld views per image, expected %d", (long long)tr->step, (long long)b->V,
                           four ? 4 : 2);
    double t0 = gsg_now();
    const int64_t total = gsg_trainer_total_steps(tr);
    const int64_t epoch = tr->step / c->steps_per_epoch;
    st->step = tr->step;
    st->epoch = epoch;
    st->N = N;
    st->D = D;
    /* BYOL: the target follows the online network, first thing in the step */
    if (tr->target) {
        st->ema = gsg_ema_momentum(c->ema, c->ema_cosine, tr->step, total);
        GSG_TRY(gsg_net_ema_update(tr->target, tr->net, st->ema));
    }
    const int64_t nd[2] = {N, D};
    struct gsg_tensor perm = gsg_tensor_sub(&tr->perm_t, 0, 1, &N);
    if (c->gsg) {
        gsg_pair_permutation(tr->perm, N, c->seed, tr->step, tr->rank);
        if (tr->dev != GSG_DEV_CPU && four) GSG_TRY(gsg_tensor_from_host(&perm, tr->perm));
    }
    struct gsg_tensor views;
    GSG_TRY(stage_views(tr, &views, b));
    struct gsg_net_out out[4];
    /* the loss gradients the backward pass reads: one host buffer of gn floats per encoder call */
    float *grad[4] = {0};
    int64_t gn = N * D;
    /* projections z (online), predictions p, targets t: host-readable (staged on a device) */
    const float *z[4] = {0}, *p[4] = {0}, *t[4] = {0};
    if (simclr) {
        const float *zall = NULL;
        GSG_TRY(simclr_step(tr, b, &views, &out[0], &zall, st));
        z[0] = zall;
        z[1] = zall + N * D;
        grad[0] = tr->dz;
        gn = 2 * N * D;
    } else {
        struct gsg_tensor x = gsg_tensor_sub(&tr->x_t, 0, 4, (int64_t[]){N, tr->H, tr->W, tr->C});
        for (int v = 0; v < tr->nctx; v++) {
            GSG_TRY(gsg_op_views_to_f32(&x, &views, v, (four && v >= 2) ? &perm : NULL, b->mean, b->std));
            GSG_TRY(gsg_net_forward(tr->net, tr->ctx[v], &out[v], &x, GSG_FWD_TRAIN));
            if (tr->target) {
                struct gsg_net_out to;
                GSG_TRY(gsg_net_forward(tr->target, tr->tctx, &to, &x, GSG_FWD_TRAIN));
                struct gsg_tensor tz = gsg_tensor_sub(&tr->tz_t[v], 0, 2, nd);
                GSG_TRY(gsg_op_copy(&tz, &to.z));
            }
        }
        for (int v = 0; v < tr->nctx; v++) {
            GSG_TRY(host_view(&z[v], &out[v].z, tr->hz[v]));
            if (out[v].p.data == out[v].z.data) p[v] = z[v];
            else GSG_TRY(host_view(&p[v], &out[v].p, tr->hp[v]));
            if (tr->target) {
                struct gsg_tensor tz = gsg_tensor_sub(&tr->tz_t[v], 0, 2, nd);
                GSG_TRY(host_view(&t[v], &tz, tr->tz[v]));
            } else {
                t[v] = z[v];
            }
        }
        double ts = gsg_now();
        if (c->gsg && !four) {
            /* 2-view pairing: B1, B2 are the rows r[n] of A1, A2 */
            for (int v = 0; v < 2; v++) {
                float *tb = tr->tz[2 + v];
                gsg_gather_rows(tb, t[v], tr->perm, N, D);
                t[2 + v] = tb;
                if (p[v] == z[v] && !tr->target) {
                    p[2 + v] = tb;
                } else {
                    gsg_gather_rows(tr->pg[v], p[v], tr->perm, N, D);
                    p[2 + v] = tr->pg[v];
                }
            }
        }
        if (c->gsg) {
            st->loss = gsg_select_and_loss(tr->d, tr->k, tr->loss_rows, tr->dp, p, t, N, D, c->dist);
            gsg_count_choices(st->counts, tr->k, N);
            if (!four)
                for (int v = 0; v < 2; v++) gsg_scatter_add_rows(tr->dp[v], tr->dp[2 + v], tr->perm, N, D);
            for (int v = 0; v < 4; v++) st->z[v] = t[v];
            st->perm = tr->perm;
            st->choice = tr->k;
        } else {
            st->loss = gsg_simsiam_loss(tr->loss_rows, tr->dp[0], tr->dp[1], p[0], p[1], t[0], t[1], N, D);
        }
        for (int v = 0; v < tr->nctx; v++) grad[v] = tr->dp[v];
        st->select_seconds = gsg_now() - ts;
    }
    st->loss_rows = tr->loss_rows;
    /* test hook: GSG_TEST_NAN_STEP=S poisons the loss of step S, or with GSG_TEST_NAN_GRAD=V
     * (0..3) the gradient of view V's encoder call instead (tests of the non-finite path) */
    const char *hook = getenv("GSG_TEST_NAN_STEP"), *hook_v = getenv("GSG_TEST_NAN_GRAD");
    if (hook && *hook && strtoll(hook, NULL, 10) == tr->step) {
        if (hook_v && *hook_v) (simclr ? tr->dz : tr->dp[atoi(hook_v) & 3])[0] = NAN;
        else st->loss = NAN;
    }
    /* non-finite: the loss, or any gradient the backward pass will read (2-view: B rows scattered in) */
    int bad_view = -1;
    for (int v = 0; v < tr->nctx && bad_view < 0; v++)
        if (!all_finite(grad[v], gn)) bad_view = v;
    int bad = !isfinite(st->loss) || bad_view >= 0;
    if (tr->dist) {
        /* the ranks agree on the loss (the global mean), the choices (summed) and the verdict */
        double red[6] = {bad ? 0 : st->loss, (double)st->counts[0], (double)st->counts[1], (double)st->counts[2],
                         (double)st->counts[3], bad};
        GSG_TRY(gsg_comm_allreduce_f64(tr->dist, red, 6, "loss and choices"));
        if (!bad && red[5] > 0)
            return gsg_err_set(GSG_E_NUMERIC, "step %lld (epoch %lld): the loss or a gradient is not finite on %.0f of %d ranks",
                               (long long)tr->step, (long long)epoch, red[5], tr->world);
        if (!bad) st->loss = red[0] / tr->world;
        for (int i = 0; i < 4; i++) st->counts[i] = (int64_t)red[1 + i];
    }
    if (!isfinite(st->loss))
        return gsg_err_set(GSG_E_NUMERIC, "step %lld (epoch %lld): loss is %g", (long long)tr->step, (long long)epoch, st->loss);
    if (bad_view >= 0)
        return gsg_err_set(GSG_E_NUMERIC, "step %lld (epoch %lld): loss %g, but the gradient of %s%s is not finite",
                           (long long)tr->step, (long long)epoch, st->loss, simclr ? "the projections" : "view ",
                           simclr ? "" : gsg_view_name(bad_view));
    if (tr->dist) {
        /* each rank's loss is its batch's mean: 1/world makes the summed gradients the global batch's
         * mean (exact for a power-of-two world) */
        const float s = 1.0f / (float)tr->world;
        for (int v = 0; v < tr->nctx; v++)
            for (int64_t i = 0; i < gn; i++) grad[v][i] *= s;
    }
    /* collapse monitors on the online network's view-A1 projections and features */
    st->erank_z = st->erank_h = st->std_z = st->cos_views = NAN;
    if (tr->monitor_every > 0 && tr->step % tr->monitor_every == 0) {
        struct gsg_collapse_report rep;
        GSG_TRY(gsg_collapse_measure(&rep, z[0], N, D, NULL));
        st->erank_z = rep.erank;
        st->erank_z_max = rep.erank_max;
        st->std_z = rep.std_mean;
        int64_t F = out[0].h.dims[1];
        const float *h0;
        struct gsg_tensor h = gsg_tensor_sub(&out[0].h, 0, 2, (int64_t[]){N, F});   /* view A1's rows */
        GSG_TRY(host_view(&h0, &h, tr->hh));
        GSG_TRY(gsg_collapse_erank(&st->erank_h, h0, N, F, 1));
        st->erank_h_max = (double)(N < F ? N : F);
        GSG_TRY(gsg_collapse_mean_cos(&st->cos_views, z[0], z[1], N, D));
    }
    /* backward through every encoder call, then the update */
    GSG_TRY(gsg_net_zero_grad(tr->net));
    for (int v = 0; v < tr->nctx; v++) {
        struct gsg_tensor g = simclr ? gsg_tensor_sub(&tr->dz_t, 0, 2, (int64_t[]){2 * N, D})
                                     : gsg_tensor_sub(&tr->dp_t[v], 0, 2, nd);
        if (tr->dev != GSG_DEV_CPU) GSG_TRY(gsg_tensor_from_host(&g, grad[v]));
        GSG_TRY(gsg_net_backward(tr->net, tr->ctx[v], NULL, &g));
    }
    if (tr->dist) {
        struct gsg_tensor ga = *gsg_net_grad_arena(tr->net);
        double tg = gsg_now();
        GSG_TRY(gsg_comm_allreduce(tr->dist, &ga, "gradients"));
        GSG_TRY(gsg_comm_device_wait(tr->dist, "gradients"));
        st->grad_seconds = gsg_now() - tg;
    }
    double base = gsg_train_base_lr(c);
    st->lr = gsg_lr_cosine(base, 0.0, (double)epoch, (double)c->epochs, (double)c->warmup);
    st->lr_pred = c->fix_pred_lr ? base : st->lr;
    GSG_TRY(gsg_sgd_step(tr->opt, st->lr, st->lr_pred));
    /* the one checked synchronisation of the step: an asynchronous device error is reported here,
     * at the step that caused it (docs/execution.md) */
    if (tr->dev != GSG_DEV_CPU) {
        gsg_status ss = gsg_cuda_sync();
        if (ss < 0) return gsg_err_prefix(ss, "step %lld", (long long)tr->step);
    }
    tr->step++;
    st->seconds = gsg_now() - t0;
    st->comm_seconds = gsg_comm_take_seconds(tr->dist, &st->comm_calls);
    return GSG_OK;
}

/* 64-bit FNV-1a over 8-byte words of a tensor's bytes (staged to the host on a device) */
static gsg_status hash_tensor(uint64_t *h, const struct gsg_tensor *t)
{
    size_t bytes = gsg_tensor_nbytes(t);
    const unsigned char *p = t->data;
    unsigned char *buf = NULL;
    if (t->dev != GSG_DEV_CPU) {
        buf = malloc(bytes ? bytes : 1);
        if (!buf) return gsg_err_set(GSG_E_NOMEM, "out of memory");
        gsg_status st = gsg_tensor_to_host(buf, t);
        if (st < 0) { free(buf); return st; }
        p = buf;
    }
    uint64_t x = *h;
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        x = (x ^ w) * 0x100000001b3ull;
    }
    for (; i < bytes; i++) x = (x ^ p[i]) * 0x100000001b3ull;
    *h = x;
    free(buf);
    return GSG_OK;
}

gsg_status gsg_trainer_state_hash(struct gsg_trainer *tr, uint64_t *h)
{
    *h = 0xcbf29ce484222325ull;
    GSG_TRY(hash_tensor(h, gsg_net_param_arena(tr->net)));
    GSG_TRY(hash_tensor(h, gsg_sgd_momentum_arena(tr->opt)));
    if (tr->target) GSG_TRY(hash_tensor(h, gsg_net_param_arena(tr->target)));
    return GSG_OK;
}

gsg_status gsg_trainer_save(struct gsg_trainer *tr, const char *path)
{
    char cfg[4096], state[256] = "";
    if (gsg_train_config_format(&tr->cfg, cfg, sizeof cfg)) return gsg_err_set(GSG_E_USAGE, "gsg.config does not fit");
    gsg_meta_add(state, sizeof state, "step", "%lld", (long long)tr->step);
    gsg_meta_add(state, sizeof state, "epoch", "%lld", (long long)(tr->step / tr->cfg.steps_per_epoch));
    struct gsg_ckpt ck = {tr->net, tr->target, tr->opt, cfg, state};
    return gsg_ckpt_save(path, &ck);
}

gsg_status gsg_trainer_load(struct gsg_trainer *tr, const char *path)
{
    char mine[4096], *config = NULL, *state = NULL;
    if (gsg_train_config_format(&tr->cfg, mine, sizeof mine)) return gsg_err_set(GSG_E_USAGE, "gsg.config does not fit");
    struct gsg_ckpt ck = {tr->net, tr->target, tr->opt, NULL, NULL};
    GSG_TRY(gsg_ckpt_load(path, &ck, &config, &state));
    gsg_status st = GSG_OK;
    char key[128], va[256], vb[256], sv[64];
    if (config && gsg_train_config_diff(config, mine, key, sizeof key, va, vb, sizeof va))
        st = gsg_err_set(GSG_E_USAGE, "%s: the checkpoint was trained with %s=%s, this run has %s=%s", path, key, va, key, vb);
    else if (!state || !gsg_meta_get(state, "step", sv, sizeof sv))
        st = gsg_err_set(GSG_E_FORMAT, "%s: gsg.state: expected step=, found none", path);
    else {
        char *end;
        long long v = strtoll(sv, &end, 10);
        if (end == sv || *end || v < 0)
            st = gsg_err_set(GSG_E_FORMAT, "%s: gsg.state: step: expected a non-negative integer, found '%s'", path, sv);
        else
            tr->step = v;
    }
    free(config);
    free(state);
    return st;
}
