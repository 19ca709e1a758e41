/* ckpt.c: checkpoints as tensor streams (formats/checkpoint.md): every parameter
 * and buffer by torchvision name, the BYOL target under `target.`, optimiser
 * momentum under `opt.m.<name>`, and the gsg.config / gsg.state text records.
 * Written atomically (temp file + rename by the stream writer); loading checks
 * every name, dtype and shape. */
#define _GNU_SOURCE
#include "nn/net.h"
#include "io/tstream.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_CAP 65536

/* Write t, staged through host memory when it lives on a device (checkpoints are host work). */
static gsg_status write_tensor(struct gsg_tstream_writer *w, const char *name, const struct gsg_tensor *t)
{
    if (t->dev == GSG_DEV_CPU) return gsg_tstream_write(w, name, 0, NULL, t);
    void *host = gsg_aligned_alloc(gsg_tensor_nbytes(t));
    if (!host) return gsg_err_set(GSG_E_NOMEM, "checkpoint: out of memory staging '%s'", name);
    gsg_status st = gsg_tensor_to_host(host, t);
    if (st >= 0) {
        struct gsg_tensor h = gsg_tensor_view(host, t->dtype, GSG_DEV_CPU, t->ndim, t->dims);
        st = gsg_tstream_write(w, name, 0, NULL, &h);
    }
    gsg_aligned_free(host);
    return st;
}

static gsg_status write_net(struct gsg_tstream_writer *w, const struct gsg_net *net, const char *prefix)
{
    char name[300];
    for (int i = 0; i < gsg_net_param_count(net); i++) {
        const struct gsg_param *p = gsg_net_param(net, i);
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        GSG_TRY(write_tensor(w, name, &p->value));
    }
    for (int i = 0; i < gsg_net_buffer_count(net); i++) {
        const struct gsg_buffer *b = gsg_net_buffer(net, i);
        snprintf(name, sizeof name, "%s%s", prefix, b->name);
        GSG_TRY(write_tensor(w, name, &b->value));
    }
    return GSG_OK;
}

static gsg_status write_text(struct gsg_tstream_writer *w, const char *name, const char *text)
{
    int64_t len = (int64_t)strlen(text);
    return gsg_tstream_write_raw(w, name, 0, NULL, GSG_DTYPE_U8, 1, &len, text);
}

/* The caller's configuration plus any model key it lacks. */
static char *full_config(const struct gsg_net *net, const char *config)
{
    static const char *keys[] = {"arch", "stem", "in_channels", "width", "zero_init_residual", "proj_layers",
                                 "proj_hidden", "proj_dim", "pred_hidden"};
    char *model = calloc(1, 4096), *out = calloc(1, CFG_CAP + 4096);
    if (!model || !out) { free(model); free(out); return NULL; }
    gsg_net_config_format(gsg_net_config(net), model, 4096);
    const char *base = config ? config : "";
    snprintf(out, CFG_CAP, "%s", base);
    size_t o = strlen(out);
    if (o && out[o - 1] != '\n') out[o++] = '\n';
    char v[256];
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        if (gsg_meta_get(base, keys[k], v, sizeof v)) continue;
        gsg_meta_get(model, keys[k], v, sizeof v);
        o += (size_t)snprintf(out + o, CFG_CAP + 4096 - o, "%s=%s\n", keys[k], v);
    }
    free(model);
    return out;
}

gsg_status gsg_ckpt_save(const char *path, const struct gsg_ckpt *c)
{
    if (!c->net) return gsg_err_set(GSG_E_USAGE, "checkpoint: no network to save");
    char *cfg = full_config(c->net, c->config);
    if (!cfg) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    struct gsg_tstream_writer *w = NULL;
    gsg_status st = gsg_tstream_open_write(&w, path, 1);
    if (st < 0) { free(cfg); return st; }
    st = write_text(w, "gsg.config", cfg);
    if (st >= 0) st = write_text(w, "gsg.state", c->state ? c->state : "");
    if (st >= 0) st = write_net(w, c->net, "");
    if (st >= 0 && c->target) st = write_net(w, c->target, "target.");
    if (st >= 0 && c->opt) {
        const struct gsg_tensor *m = gsg_sgd_momentum_arena(c->opt);
        char name[300];
        for (int i = 0; st >= 0 && i < gsg_net_param_count(c->net); i++) {
            const struct gsg_param *p = gsg_net_param(c->net, i);
            struct gsg_tensor t = gsg_tensor_sub(m, p->offset, p->value.ndim, p->value.dims);
            snprintf(name, sizeof name, "opt.m.%s", p->name);
            st = write_tensor(w, name, &t);
        }
    }
    free(cfg);
    if (st < 0) { gsg_tstream_abort(w); return st; }
    return gsg_tstream_close(w);
}

/* ---------------- loading ---------------- */
struct want {
    const char *prefix;          /* "", "target.", "opt.m." */
    const char *name;
    struct gsg_tensor dst;       /* where the data goes */
    int seen;
};

static int add_wants(struct want **ws, int *n, int *cap, const struct gsg_net *net, const char *prefix,
                     const struct gsg_tensor *momentum)
{
    int need = gsg_net_param_count(net) + (momentum ? 0 : gsg_net_buffer_count(net));
    if (*n + need > *cap) {
        *cap = (*n + need) * 2;
        struct want *nw = realloc(*ws, (size_t)*cap * sizeof **ws);
        if (!nw) return -1;
        *ws = nw;
    }
    for (int i = 0; i < gsg_net_param_count(net); i++) {
        const struct gsg_param *p = gsg_net_param(net, i);
        struct gsg_tensor d = momentum ? gsg_tensor_sub(momentum, p->offset, p->value.ndim, p->value.dims) : p->value;
        (*ws)[(*n)++] = (struct want){prefix, p->name, d, 0};
    }
    if (!momentum)
        for (int i = 0; i < gsg_net_buffer_count(net); i++) {
            const struct gsg_buffer *b = gsg_net_buffer(net, i);
            (*ws)[(*n)++] = (struct want){prefix, b->name, b->value, 0};
        }
    return 0;
}

static char *dup_text(const struct gsg_record *rec)
{
    size_t len = (size_t)rec->t.dims[0];
    char *s = malloc(len + 1);
    if (!s) return NULL;
    memcpy(s, rec->t.data, len);
    s[len] = 0;
    return s;
}

int64_t gsg_net_config_param_numel(const struct gsg_net_config *c)
{
    /* the parameters gsg_net_create makes for c (formats/checkpoint.md lists them), counted without building the network */
    int64_t w = c->width, ci = c->in_channels, n = 0, k = c->stem == GSG_STEM_CIFAR ? 3 : 7;
    n += ci * w * k * k + 2 * w;                               /* conv1, bn1 */
    static const int depth18[4] = {2, 2, 2, 2}, depth34[4] = {3, 4, 6, 3};
    const int *depth = c->arch == GSG_ARCH_RESNET18 ? depth18 : depth34;
    int bottleneck = c->arch == GSG_ARCH_RESNET50;
    int64_t exp = bottleneck ? 4 : 1, inpl = w;
    for (int L = 0; L < 4; L++) {
        int64_t pl = w << L;
        for (int i = 0; i < depth[L]; i++) {
            int stride2 = L > 0 && i == 0;
            if (!bottleneck) n += inpl * pl * 9 + 2 * pl + pl * pl * 9 + 2 * pl;
            else n += inpl * pl + 2 * pl + pl * pl * 9 + 2 * pl + pl * pl * 4 + 2 * pl * 4;
            if (stride2 || inpl != pl * exp) n += inpl * pl * exp + 2 * pl * exp;
            inpl = pl * exp;
        }
    }
    int64_t F = inpl, hid = c->proj_hidden, D = c->proj_dim, ph = c->pred_hidden;
    n += F * hid + 2 * hid;
    if (c->proj_layers == 3) n += hid * hid + 2 * hid + hid * D;
    else n += hid * D;
    if (ph > 0) n += D * ph + 2 * ph + ph * D + D;
    return n;
}

/* gsg.state is key=value lines; step= and epoch=, when there, are non-negative integers. */
static gsg_status check_state(const char *path, const char *s)
{
    int line = 0;
    while (*s) {
        line++;
        const char *nl = strchr(s, '\n'), *end = nl ? nl : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        if (end == s) { s = nl ? nl + 1 : end; continue; }
        if (!eq || eq == s)
            return gsg_err_set(GSG_E_FORMAT, "%s: gsg.state line %d: expected key=value, found '%.*s'", path, line,
                               (int)(end - s > 60 ? 60 : end - s), s);
        for (const char *q = s; q < eq; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_' || *q == '.'))
                return gsg_err_set(GSG_E_FORMAT, "%s: gsg.state line %d: expected a key of [a-z0-9_.], found '%.*s'", path, line,
                                   (int)(eq - s > 60 ? 60 : eq - s), s);
        size_t kl = (size_t)(eq - s);
        if ((kl == 4 && !strncmp(s, "step", 4)) || (kl == 5 && !strncmp(s, "epoch", 5))) {
            const char *v = eq + 1;
            int nd = 0;
            for (const char *q = v; q < end; q++, nd++)
                if (*q < '0' || *q > '9') { nd = -1; break; }
            if (nd < 1 || nd > 18)
                return gsg_err_set(GSG_E_FORMAT, "%s: gsg.state: %.*s: expected a non-negative integer, found '%.*s'", path, (int)kl, s,
                                   (int)(end - v > 60 ? 60 : end - v), v);
        }
        s = nl ? nl + 1 : end;
    }
    return GSG_OK;
}

static gsg_status load(const char *path, const struct gsg_ckpt *c, char **config, char **state, int text_only)
{
    if (config) *config = NULL;
    if (state) *state = NULL;
    struct want *ws = NULL;
    int nw = 0, capw = 0;
    if (!text_only) {
        if (!c->net) return gsg_err_set(GSG_E_USAGE, "checkpoint: no network to load into");
        if (add_wants(&ws, &nw, &capw, c->net, "", NULL) ||
            (c->target && add_wants(&ws, &nw, &capw, c->target, "target.", NULL)) ||
            (c->opt && add_wants(&ws, &nw, &capw, c->net, "opt.m.", gsg_sgd_momentum_arena(c->opt)))) {
            free(ws);
            return gsg_err_set(GSG_E_NOMEM, "out of memory");
        }
    }
    struct gsg_tstream_reader *r = NULL;
    gsg_status st = gsg_tstream_open_read(&r, path);
    if (st < 0) { free(ws); return st; }
    char *cfg = NULL, *stt = NULL;
    struct gsg_record rec;
    int hint = 0;
    uint64_t tensor_bytes = 0;      /* data bytes of every other record: what the file holds for a network */
    while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) {
        const char *nm = rec.name;
        if (strcmp(nm, "gsg.config") && strcmp(nm, "gsg.state")) tensor_bytes += gsg_tensor_nbytes(&rec.t);
        if (!strcmp(nm, "gsg.config") || !strcmp(nm, "gsg.state")) {
            int64_t any = -1;
            st = gsg_tstream_expect(r, &rec, NULL, GSG_DTYPE_U8, 1, &any);
            if (st < 0) break;
            char **dst = nm[4] == 'c' ? &cfg : &stt;
            if (*dst) { st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "duplicate record"); break; }
            if (!(*dst = dup_text(&rec))) { st = gsg_err_set(GSG_E_NOMEM, "out of memory"); break; }
            continue;
        }
        if (text_only) continue;
        const char *prefix = "";
        if (!strncmp(nm, "target.", 7)) { prefix = "target."; if (!c->target) continue; }
        else if (!strncmp(nm, "opt.m.", 6)) { prefix = "opt.m."; if (!c->opt) continue; }
        size_t pl = strlen(prefix);
        int found = -1;
        /* records come in our own order: try the next expected one first */
        for (int k = 0; k < nw; k++) {
            int i = (hint + k) % nw;
            if (!strcmp(ws[i].prefix, prefix) && !strcmp(ws[i].name, nm + pl)) { found = i; break; }
        }
        if (found < 0) {
            st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "unexpected record (not part of this %s network)",
                                          gsg_arch_name(gsg_net_config(c->net)->arch));
            break;
        }
        hint = found + 1;
        struct want *w = &ws[found];
        if (w->seen) { st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "duplicate record"); break; }
        st = gsg_tstream_expect(r, &rec, NULL, w->dst.dtype, w->dst.ndim, w->dst.dims);
        if (st < 0) break;
        st = gsg_tensor_from_host(&w->dst, rec.t.data);   /* staged to the tensor's device */
        if (st < 0) break;
        w->seen = 1;
    }
    if (st == GSG_END) {
        st = GSG_OK;
        if (!cfg) st = gsg_err_set(GSG_E_FORMAT, "%s: missing record 'gsg.config' (not a gsg checkpoint?)", path);
        for (int i = 0; st >= 0 && i < nw; i++)
            if (!ws[i].seen) {
                char a[128];
                st = gsg_err_set(GSG_E_FORMAT, "%s: missing record '%s%s' (expected %s %s)", path, ws[i].prefix,
                                 ws[i].name, gsg_dtype_name(ws[i].dst.dtype),
                                 gsg_shape_str(a, sizeof a, ws[i].dst.ndim, ws[i].dst.dims));
            }
    }
    gsg_tstream_close_read(r);
    free(ws);
    if (st >= 0 && stt) st = check_state(path, stt);
    if (st >= 0) {
        /* the configuration must be one this library builds, and no larger than the tensors the file
         * holds: a hostile gsg.config never makes a caller allocate a network the file cannot fill */
        struct gsg_net_config nc;
        st = gsg_net_config_parse(&nc, cfg);
        if (st < 0) st = gsg_err_prefix(GSG_E_FORMAT, "%s: gsg.config", path);
        else {
            uint64_t need = (uint64_t)gsg_net_config_param_numel(&nc) * sizeof(float);
            if (tensor_bytes < need)
                st = gsg_err_set(GSG_E_FORMAT, "%s: gsg.config describes a %s of width %d with %llu bytes of parameters, the file holds %llu bytes of tensors",
                                 path, gsg_arch_name(nc.arch), nc.width, (unsigned long long)need, (unsigned long long)tensor_bytes);
        }
    }
    if (st < 0) { free(cfg); free(stt); return st; }
    if (!stt) stt = calloc(1, 1);
    if (config) *config = cfg; else free(cfg);
    if (state) *state = stt; else free(stt);
    return GSG_OK;
}

gsg_status gsg_ckpt_load(const char *path, const struct gsg_ckpt *c, char **config, char **state)
{
    return load(path, c, config, state, 0);
}

gsg_status gsg_ckpt_read_text(const char *path, char **config, char **state)
{
    struct gsg_ckpt none = {0};
    return load(path, &none, config, state, 1);
}
