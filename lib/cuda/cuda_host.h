/* cuda_host.h: the host-side logic of the CUDA backend, plain C, built in every configuration
 * (lib/cuda/host.c) so it is unit-tested on machines without a GPU (tests/unit/test_cuda_host.c):
 * algorithm choice from a list of measured or estimated candidates, the per-process cache of
 * choices keyed by layer shape and precision, launch geometry, and the CUDA-graph state machine. */
#ifndef GSG_CUDA_HOST_H
#define GSG_CUDA_HOST_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* ---- algorithm choice ----
 * One candidate as cuDNN reports it (heuristic order, or fastest first after timing). */
struct gsg_algo_perf {
    int algo;            /* the library's enum value */
    int ok;              /* the library can run it for this layer */
    float time_ms;       /* < 0: not timed */
    size_t memory;       /* workspace bytes */
    int deterministic;   /* bit-identical results run to run */
};
/* Index into perf[0..n) of the candidate to use: the first one that is ok, fits in ws_limit and is
 * deterministic when want_det; when no deterministic one fits, the first ok one that fits; -1 when
 * none fits. The list order is the ranking (heuristics or time), so the rule is reproducible. */
int gsg_algo_pick(const struct gsg_algo_perf *perf, int n, size_t ws_limit, int want_det);

/* ---- a cache of per-layer choices ----
 * Keyed by the conv shape and precision; ResNet repeats layer shapes, so identical layers share one
 * lookup (and one timing run with GSG_CUDNN_FIND=1). */
struct gsg_conv_key {
    int64_t N, H, W, Ci, Co, K, stride, pad;
    int prec;
};
struct gsg_conv_choice {
    int fwd, bwd_data, bwd_filter;   /* algorithm enum values */
    int math[3];                     /* the math type each was chosen with (fwd, bwd data, bwd filter) */
    size_t ws_fwd, ws_bwd_data, ws_bwd_filter;
    int fp32_fallback;               /* a bf16 layer cuDNN cannot run in bf16 (channels not a multiple of 8):
                                        this layer runs in fp32 */
};
struct gsg_conv_cache {
    int n, cap;
    struct gsg_conv_key *keys;
    struct gsg_conv_choice *vals;
};
int gsg_conv_key_equal(const struct gsg_conv_key *a, const struct gsg_conv_key *b);
/* The cached choice for key, or NULL. */
const struct gsg_conv_choice *gsg_conv_cache_find(const struct gsg_conv_cache *c, const struct gsg_conv_key *key);
/* Insert or replace; 0 on success, -1 out of memory. */
int gsg_conv_cache_put(struct gsg_conv_cache *c, const struct gsg_conv_key *key, const struct gsg_conv_choice *v);
void gsg_conv_cache_free(struct gsg_conv_cache *c);

/* ---- launch geometry ---- */
/* Blocks for n elements at `block` threads each and up to `per_thread` elements per thread, capped at
 * max_blocks (grid-stride loops cover the rest); at least 1. */
int64_t gsg_cuda_blocks(int64_t n, int block, int per_thread, int64_t max_blocks);
/* Row chunks of batch norm's partial sums over (M, C): a function of the shape only (so the
 * reduction order, hence the result, is fixed), between 1 and 256, at least 16 rows per chunk. */
int gsg_bn_chunks(int64_t M, int64_t C);

/* ---- CUDA graphs: when to run eagerly, capture, or replay ---- */
enum gsg_graph_action { GSG_GRAPH_EAGER = 0, GSG_GRAPH_CAPTURE = 1, GSG_GRAPH_REPLAY = 2 };
struct gsg_graph_state {
    uint64_t key;
    int have_key;
    int calls;       /* calls with this key so far */
    int warmup;      /* eager calls before the capture */
    int captured;    /* a graph for key exists */
    int failed;      /* capture failed for this key: stay eager */
};
void gsg_graph_state_init(struct gsg_graph_state *s, int warmup);
/* The action for the next call with key; a new key drops the graph (the caller destroys it when
 * *drop is set). */
enum gsg_graph_action gsg_graph_next(struct gsg_graph_state *s, uint64_t key, int *drop);
/* Record the outcome of a capture: ok -> replay from now on; failure -> eager for this key. */
void gsg_graph_captured(struct gsg_graph_state *s, int ok);
/* FNV-1a over bytes, to build keys from shapes and buffer addresses. */
uint64_t gsg_graph_key(uint64_t h, const void *bytes, size_t n);

/* ---- k-NN candidate keys (lib/cuda/knn.cu sorts these on the device) ----
 * key = order-preserving u32 of the similarity << 32 | (0xffffffff - bank index): a larger key is a better
 * neighbour, i.e. higher similarity, then lower bank index (lib/eval/knn.h's tie rule). Key 0 is below
 * every candidate (an empty slot). */
#ifdef __CUDACC__
#define GSG_HD static inline __host__ __device__
#else
#define GSG_HD static inline
#endif
GSG_HD uint32_t gsg_knn_ord(float f)
{
    union { float f; uint32_t u; } v;
    v.f = f;
    return (v.u & 0x80000000u) ? ~v.u : (v.u | 0x80000000u);
}
GSG_HD float gsg_knn_unord(uint32_t u)
{
    union { float f; uint32_t u; } v;
    v.u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
    return v.f;
}
GSG_HD uint64_t gsg_knn_key(float sim, uint32_t index)
{
    if (sim == 0.0f) sim = 0.0f;   /* -0 equals +0: the index decides */
    return ((uint64_t)gsg_knn_ord(sim) << 32) | (uint64_t)(0xffffffffu - index);
}
GSG_HD float gsg_knn_key_sim(uint64_t key) { return gsg_knn_unord((uint32_t)(key >> 32)); }
GSG_HD uint32_t gsg_knn_key_index(uint64_t key) { return 0xffffffffu - (uint32_t)(key & 0xffffffffu); }

#ifdef __cplusplus
}
#endif
#endif
