/* gsg_cuda.h: the C interface of the CUDA backend. Built from the .cu files
 * when nvcc is present; otherwise lib/cuda/stubs.c defines every symbol and
 * returns GSG_E_NO_CUDA with a one-line message. */
#ifndef GSG_CUDA_H
#define GSG_CUDA_H
#include <stddef.h>
#include <stdint.h>
#include "../core/status.h"
#ifdef __cplusplus
extern "C" {
#endif

int gsg_cuda_built(void);                 /* 1 when compiled with nvcc */
gsg_status gsg_cuda_init(int device);     /* select and check a device */
gsg_status gsg_cuda_malloc(void **p, size_t bytes);
void gsg_cuda_free(void *p);
gsg_status gsg_cuda_memset0(void *p, size_t bytes);
gsg_status gsg_cuda_memcpy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes);
gsg_status gsg_cuda_sync(void);

/* ---------------- the per-process context (lib/cuda/runtime.cu) ----------------
 * Execution model (docs/): one device, one stream, one cuBLAS and one cuDNN handle per process,
 * created by gsg_cuda_init (any CUDA entry point calls it for device 0 on first use). cuBLAS and
 * cuDNN are loaded with dlopen at init, so binaries do not depend on them unless CUDA is used:
 * GSG_CUDA_LIBDIR (colon-separated directories) is searched first, then the toolkit's lib64
 * recorded at build time, then the PyTorch wheels' nvidia/<name>/lib folders, then the loader's path
 * (lib/cuda/libfind.h). Every op enqueues on the stream and returns
 * without waiting; gsg_cuda_check is the one checked synchronisation per step, so an
 * asynchronous error surfaces at the step that caused it. Kernel arguments are raw device
 * pointers with the shapes of the CPU twins (lib/cpu/cpu_ops.h). */
enum gsg_precision {
    GSG_PREC_FP32 = 0,   /* fp32 storage and compute (no TF32): matches the CPU to ~1e-5 */
    GSG_PREC_BF16 = 1,   /* bf16 tensor-core compute in conv/linear, fp32 storage, BN stats and loss */
};
/* "fp32" | "bf16" -> 0 and *out; -1 when unknown (lib/cuda/host.c, all builds). */
int gsg_precision_parse(const char *s, enum gsg_precision *out);
const char *gsg_precision_name(enum gsg_precision p);
/* The precision new conv2d plans and linear calls use (process-wide; default fp32, or the
 * environment variable GSG_PRECISION at first use). Set it before creating plans. */
void gsg_cuda_set_precision(enum gsg_precision p);
enum gsg_precision gsg_cuda_precision(void);
/* The same process-wide setting under device-neutral names: CPU conv2d plans read it too (bf16:
 * oneDNN's bf16 kernels, lib/cpu/conv2d_dnnl.c; the tools check gsg_cpu_bf16_supported first). */
void gsg_precision_set(enum gsg_precision p);
enum gsg_precision gsg_precision_get(void);
/* Synchronise the stream and report the first asynchronous error, naming `where` (a step). */
gsg_status gsg_cuda_check(const char *where);
/* "NVIDIA H200 (sm_90, 139 GiB), cuDNN 9.x, cuBLAS 13.x" once initialised; "" otherwise. */
const char *gsg_cuda_describe(void);
/* Load cuBLAS and cuDNN and resolve every entry point the backend uses, without a device (the build's
 * and the machine's libraries agree); *cudnn_version = cudnnGetVersion() (e.g. 91900). */
gsg_status gsg_cuda_libs_probe(size_t *cudnn_version);
/* After a successful probe or init: "cuBLAS 13.0.2 from /path/libcublas.so.13 (libcublas.so.13.0.2.14); cuDNN
 * 9.13.0 from ..." (the files the search of lib/cuda/libfind.h found); "" before. */
const char *gsg_cuda_libs_describe(void);
/* The process stream as a cudaStream_t (NULL without a device): NCCL enqueues on it (lib/dist). */
void *gsg_cuda_stream(void);
/* 1 when the stream has finished its work, 0 while work is pending, -1 on an error (message set). */
int gsg_cuda_stream_idle(void);
/* Free the context (handles, stream, scratch). Optional at exit. */
void gsg_cuda_shutdown(void);

/* ---------------- op kernels (lib/cuda/<op>.cu); the front ends of lib/ops call these ---------------- */
/* batch norm over [M,C], C innermost; semantics as gsg_cpu_batchnorm_fwd; relu != 0 fuses ReLU. */
gsg_status gsg_cuda_batchnorm_fwd(float *y,            /* (M, C) */
                                  float *save_mean,    /* (C) or NULL */
                                  float *save_invstd,  /* (C) or NULL */
                                  const float *x,      /* (M, C) */
                                  const float *gamma,  /* (C) or NULL */
                                  const float *beta,   /* (C) or NULL */
                                  float *running_mean, /* (C) or NULL */
                                  float *running_var,  /* (C) or NULL */
                                  int64_t M, int64_t C, int training, float momentum, float eps, int relu);
/* dx written, dgamma/dbeta accumulated; relu_y non-NULL masks dy by (relu_y > 0) first. */
gsg_status gsg_cuda_batchnorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy, const float *relu_y,
                                  const float *x, const float *gamma, const float *save_mean,
                                  const float *save_invstd, int64_t M, int64_t C);
/* The two halves of training-mode BN (for a synchronised BN: statistics, all-reduce, apply).
 * stats: mean/invstd (C) from x, running stats updated (may be NULL). apply: y = (x-mean)*invstd*gamma+beta. */
gsg_status gsg_cuda_batchnorm_stats(float *mean, float *invstd, float *running_mean, float *running_var,
                                    const float *x, int64_t M, int64_t C, float momentum, float eps);
gsg_status gsg_cuda_batchnorm_apply(float *y, const float *x, const float *mean, const float *invstd,
                                    const float *gamma, const float *beta, int64_t M, int64_t C, int relu);

gsg_status gsg_cuda_relu_fwd(float *y, const float *x, int64_t n);                    /* y may alias x */
gsg_status gsg_cuda_relu_bwd(float *dx, const float *dy, const float *y, int64_t n);  /* dx may alias dy */
gsg_status gsg_cuda_add(float *y, const float *a, const float *b, int64_t n);
gsg_status gsg_cuda_add_inplace(float *y, const float *a, int64_t n);
gsg_status gsg_cuda_add_relu(float *y, const float *a, const float *b, int64_t n);
gsg_status gsg_cuda_scale(float *y, float alpha, int64_t n);

/* max pool 3x3/2 pad 1 with argmax (flat index into x; first maximum wins, NaN wins); avg = global. */
gsg_status gsg_cuda_maxpool_fwd(float *y, int32_t *argmax, const float *x, int64_t N, int64_t H, int64_t W,
                                int64_t C);
gsg_status gsg_cuda_maxpool_bwd(float *dx, const float *dy, const int32_t *argmax, int64_t N, int64_t H,
                                int64_t W, int64_t C);
gsg_status gsg_cuda_avgpool_fwd(float *y, const float *x, int64_t N, int64_t HW, int64_t C);
gsg_status gsg_cuda_avgpool_bwd(float *dx, const float *dy, int64_t N, int64_t HW, int64_t C);

/* linear through cuBLAS: y (N,Out) = x (N,In) w (Out,In)^T (+ b); bwd dx written, dw/db accumulated. */
gsg_status gsg_cuda_linear_fwd(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t In,
                               int64_t Out);
gsg_status gsg_cuda_linear_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                               int64_t N, int64_t In, int64_t Out);

/* row-wise cosine (eps 1e-8) and L2 normalisation (eps 1e-12), norms accumulated in double. */
gsg_status gsg_cuda_cosine_fwd(float *out, const float *a, const float *b, int64_t N, int64_t D, float eps);
gsg_status gsg_cuda_cosine_bwd(float *da, float *db, const float *dout, const float *a, const float *b, int64_t N,
                               int64_t D, float eps);
gsg_status gsg_cuda_l2norm_fwd(float *y, const float *x, int64_t N, int64_t D, float eps);
gsg_status gsg_cuda_l2norm_bwd(float *dx, const float *dy, const float *x, int64_t N, int64_t D, float eps);

/* NT-Xent (ops.h): similarities by one fp32 cuBLAS GEMM into work (R,M), log-sum-exp and gradient
 * coefficients in double, one warp per anchor row; du = coefficients x u by a second GEMM. */
gsg_status gsg_cuda_ntxent_fwd(float *loss, float *lse, float *work, const float *u, int64_t M, int64_t D, int64_t R,
                               int64_t block, double tau);
gsg_status gsg_cuda_ntxent_bwd(float *du, float *work, const float *dloss, const float *u, const float *lse, int64_t M,
                               int64_t D, int64_t R, int64_t block, double tau);

/* u8 (N,C,H,W) on the device -> f32 (N,H,W,C), y = (x/255 - mean[c]) / std[c]; mean/std: host, C <= 64. */
gsg_status gsg_cuda_image_to_f32(float *y, const uint8_t *x, const float *mean, const float *stddev, int64_t N,
                                 int64_t C, int64_t H, int64_t W);

/* conv2d through cuDNN, NHWC activations, PyTorch [Co,Ci,K,K] weights (transposed to KRSC inside the
 * plan). A plan fixes the shape and the precision, chooses its three algorithms once (cuDNN's
 * heuristics, deterministic algorithms preferred; GSG_CUDNN_FIND=1 times them instead) and shares one
 * process-wide workspace sized at plan creation, so steps never allocate. */
struct gsg_conv2d_desc;
struct gsg_cuda_conv2d;
gsg_status gsg_cuda_conv2d_create(struct gsg_cuda_conv2d **plan, const struct gsg_conv2d_desc *d);
void gsg_cuda_conv2d_destroy(struct gsg_cuda_conv2d *plan);
gsg_status gsg_cuda_conv2d_fwd(struct gsg_cuda_conv2d *plan, float *y, const float *x, const float *w);
/* dx written (NULL: not wanted), dw accumulated (NULL: not wanted). */
gsg_status gsg_cuda_conv2d_bwd(struct gsg_cuda_conv2d *plan, float *dx, float *dw, const float *dy, const float *x,
                               const float *w);
size_t gsg_cuda_conv2d_workspace_bytes(const struct gsg_cuda_conv2d *plan);
/* "fwd=IMPLICIT_PRECOMP_GEMM bwd_data=ALGO_1 bwd_filter=ALGO_1 bf16" for logs and benches. */
const char *gsg_cuda_conv2d_algos(const struct gsg_cuda_conv2d *plan);

/* GSG selection and losses (lib/cuda/gsg.cu), same math as lib/ssl/gsg.h, rows in double. z, p, t, dp:
 * four device pointers each (view order A1 A2 B1 B2), each (N, D). dist: enum gsg_dist. */
gsg_status gsg_cuda_gsg_distances(float *d, const float *const z[4], int64_t N, int64_t D, int dist);  /* d (N,4) */
gsg_status gsg_cuda_gsg_choose(int64_t *k, const float *d, int64_t N);                                 /* k (N) */
/* loss_rows (N) written or NULL; loss (1 float on the device) = mean over rows in a fixed order, or
 * NULL; dp[v] written for all four views (zero in unselected rows), dp == NULL for the loss only. */
gsg_status gsg_cuda_gsg_loss(float *loss_rows, float *loss, float *const dp[4], const float *const p[4],
                             const float *const t[4], const int64_t *k, int64_t N, int64_t D);
gsg_status gsg_cuda_simsiam_loss(float *loss_rows, float *loss, float *dp1, float *dp2, const float *p1,
                                 const float *p2, const float *t1, const float *t2, int64_t N, int64_t D);
/* dst[n,:] = src[perm[n],:];  scatter: dst[perm[n],:] += src[n,:] (perm must be a permutation). */
gsg_status gsg_cuda_gather_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D);
gsg_status gsg_cuda_scatter_add_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D);

/* k-NN neighbours (lib/cuda/knn.cu): for each query row the k most similar bank rows by dot product
 * (rows already L2-normalised), a cuBLAS GEMM per bank tile and a top-k merge on the device.
 * Order: higher similarity first, equal similarity -> lower bank index (lib/eval/knn.h's rule).
 * query (Nq,D), bank (Nb,D), idx/sim (Nq,k) on the device; 1 <= k <= min(Nb, 1024). */
gsg_status gsg_cuda_knn_topk(int32_t *idx, float *sim, const float *query, int64_t Nq, const float *bank,
                             int64_t Nb, int64_t D, int64_t k);

/* bf16 conversions on the device (n elements), round to nearest even. */
gsg_status gsg_cuda_f32_to_bf16(uint16_t *y, const float *x, int64_t n);
gsg_status gsg_cuda_bf16_to_f32(float *y, const uint16_t *x, int64_t n);

/* ---------------- CUDA graphs (lib/cuda/graph.cu) ----------------
 * A step function run through gsg_cuda_graph_run is executed eagerly for the first `warmup` calls
 * with a given key, captured into a graph on the next and replayed afterwards; a new key (another
 * batch shape or other buffers) drops the graph and starts over. The host-side decisions are
 * lib/cuda/graph_host.h's state machine (unit-tested on the CPU). fn must not allocate, synchronise
 * or copy to pageable host memory (the engine's step contract). */
struct gsg_cuda_graph;
gsg_status gsg_cuda_graph_create(struct gsg_cuda_graph **g, int warmup);
void gsg_cuda_graph_destroy(struct gsg_cuda_graph *g);
gsg_status gsg_cuda_graph_run(struct gsg_cuda_graph *g, uint64_t key, gsg_status (*fn)(void *arg), void *arg);
/* how the last run went: 0 eager, 1 captured, 2 replayed */
int gsg_cuda_graph_last_action(const struct gsg_cuda_graph *g);

/* engine ops */
/* lib/ops/ops_engine.h's ops; kernels in lib/cuda/engine_ops.cu. Raw device pointers with the
 * shapes of the CPU twins (lib/cpu/cpu_engine.h); every call is enqueued on the process stream and
 * returns without waiting. mean/stddev of views_to_f32 are host arrays (C <= 64). */
gsg_status gsg_cuda_copy(void *dst, const void *src, size_t bytes);     /* device to device; may overlap */
gsg_status gsg_cuda_zero(void *dst, size_t bytes);
gsg_status gsg_cuda_sgd(float *w, float *m, const float *g, int64_t n, float lr, float momentum, float wd);
gsg_status gsg_cuda_ema(float *x, const float *src, int64_t n, float a, float b);   /* x = x a + src b */
gsg_status gsg_cuda_views_to_f32(float *y, const uint8_t *views, const int64_t *rows, const float *mean,
                                 const float *stddev, int64_t Ny, int64_t V, int64_t C, int64_t H, int64_t W,
                                 int64_t v);
gsg_status gsg_cuda_bn_stats(double *sums, const float *x, const float *shift, int64_t M, int64_t C);
gsg_status gsg_cuda_bn_finalize(float *mean, float *invstd, float *running_mean, float *running_var,
                                const double *sums, const float *shift, int64_t C, float momentum, float eps);
gsg_status gsg_cuda_bn_apply(float *y, const float *x, const float *mean, const float *invstd, const float *gamma,
                             const float *beta, int64_t M, int64_t C, int relu);
gsg_status gsg_cuda_bn_bwd_stats(double *sums, float *dgamma, float *dbeta, const float *dy, const float *relu_y,
                                 const float *x, const float *mean, const float *invstd, int64_t M, int64_t C);
gsg_status gsg_cuda_bn_bwd_apply(float *dx, const float *dy, const float *relu_y, const float *x,
                                 const float *gamma, const float *mean, const float *invstd, const double *sums,
                                 int64_t M, int64_t C);

#ifdef __cplusplus
}
#endif
#endif
