/* host.c: host-side logic of the CUDA backend (cuda_host.h) and the process precision setting
 * (gsg_cuda.h). Plain C, no CUDA headers: built with and without nvcc. */
#include "cuda/cuda_host.h"
#include "cuda/gsg_cuda.h"
#include <stdlib.h>
#include <string.h>

int gsg_precision_parse(const char *s, enum gsg_precision *out)
{
    if (!s) return -1;
    if (!strcmp(s, "fp32")) *out = GSG_PREC_FP32;
    else if (!strcmp(s, "bf16")) *out = GSG_PREC_BF16;
    else return -1;
    return 0;
}

const char *gsg_precision_name(enum gsg_precision p)
{
    switch (p) {
    case GSG_PREC_FP32: return "fp32";
    case GSG_PREC_BF16: return "bf16";
    }
    return "?";
}

static int prec_set = 0;
static enum gsg_precision prec_value = GSG_PREC_FP32;

void gsg_cuda_set_precision(enum gsg_precision p)
{
    prec_value = p;
    prec_set = 1;
}

enum gsg_precision gsg_cuda_precision(void)
{
    if (!prec_set) {
        enum gsg_precision p;
        if (gsg_precision_parse(getenv("GSG_PRECISION"), &p) == 0) prec_value = p;
        prec_set = 1;
    }
    return prec_value;
}

void gsg_precision_set(enum gsg_precision p) { gsg_cuda_set_precision(p); }
enum gsg_precision gsg_precision_get(void) { return gsg_cuda_precision(); }

int gsg_algo_pick(const struct gsg_algo_perf *perf, int n, size_t ws_limit, int want_det)
{
    int any = -1;
    for (int i = 0; i < n; i++) {
        if (!perf[i].ok || perf[i].memory > ws_limit) continue;
        if (!want_det || perf[i].deterministic) return i;
        if (any < 0) any = i;
    }
    return any;
}

int gsg_conv_key_equal(const struct gsg_conv_key *a, const struct gsg_conv_key *b)
{
    return a->N == b->N && a->H == b->H && a->W == b->W && a->Ci == b->Ci && a->Co == b->Co && a->K == b->K &&
           a->stride == b->stride && a->pad == b->pad && a->prec == b->prec;
}

const struct gsg_conv_choice *gsg_conv_cache_find(const struct gsg_conv_cache *c, const struct gsg_conv_key *key)
{
    for (int i = 0; i < c->n; i++)
        if (gsg_conv_key_equal(&c->keys[i], key)) return &c->vals[i];
    return NULL;
}

int gsg_conv_cache_put(struct gsg_conv_cache *c, const struct gsg_conv_key *key, const struct gsg_conv_choice *v)
{
    for (int i = 0; i < c->n; i++)
        if (gsg_conv_key_equal(&c->keys[i], key)) { c->vals[i] = *v; return 0; }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        struct gsg_conv_key *k = realloc(c->keys, (size_t)cap * sizeof *k);
        if (!k) return -1;
        c->keys = k;
        struct gsg_conv_choice *w = realloc(c->vals, (size_t)cap * sizeof *w);
        if (!w) return -1;
        c->vals = w;
        c->cap = cap;
    }
    c->keys[c->n] = *key;
    c->vals[c->n] = *v;
    c->n++;
    return 0;
}

void gsg_conv_cache_free(struct gsg_conv_cache *c)
{
    free(c->keys);
    free(c->vals);
    memset(c, 0, sizeof *c);
}

int64_t gsg_cuda_blocks(int64_t n, int block, int per_thread, int64_t max_blocks)
{
    if (n <= 0 || block <= 0) return 1;
    if (per_thread < 1) per_thread = 1;
    int64_t per_block = (int64_t)block * per_thread;
    int64_t b = (n + per_block - 1) / per_block;
    if (max_blocks > 0 && b > max_blocks) b = max_blocks;
    return b < 1 ? 1 : b;
}

int gsg_bn_chunks(int64_t M, int64_t C)
{
    /* enough chunks to fill a large GPU when C is small (few channel tiles), never below 16 rows each */
    int64_t tiles = (C + 31) / 32;
    int64_t want = 512 / (tiles > 0 ? tiles : 1);
    if (want > 256) want = 256;
    int64_t by_rows = M / 16;
    if (want > by_rows) want = by_rows;
    return want < 1 ? 1 : (int)want;
}

void gsg_graph_state_init(struct gsg_graph_state *s, int warmup)
{
    memset(s, 0, sizeof *s);
    s->warmup = warmup < 0 ? 0 : warmup;
}

enum gsg_graph_action gsg_graph_next(struct gsg_graph_state *s, uint64_t key, int *drop)
{
    *drop = 0;
    if (!s->have_key || s->key != key) {
        *drop = s->captured;
        s->key = key;
        s->have_key = 1;
        s->calls = 0;
        s->captured = 0;
        s->failed = 0;
    }
    s->calls++;
    if (s->failed) return GSG_GRAPH_EAGER;
    if (s->captured) return GSG_GRAPH_REPLAY;
    if (s->calls <= s->warmup) return GSG_GRAPH_EAGER;
    return GSG_GRAPH_CAPTURE;
}

void gsg_graph_captured(struct gsg_graph_state *s, int ok)
{
    if (ok) s->captured = 1;
    else s->failed = 1;
}

uint64_t gsg_graph_key(uint64_t h, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    if (!h) h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ull; }
    return h;
}
