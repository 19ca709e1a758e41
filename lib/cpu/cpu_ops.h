/* cpu_ops.h: the CPU kernels behind lib/ops (every op except conv2d, see conv2d.h).
 * Raw f32 pointers, contiguous, row-major; shapes are given in the comment on each pointer.
 * Front ends (lib/ops/<op>.c) have checked shapes already; kernels trust them.
 * Conventions as ops.h: outputs first; input gradients WRITTEN, parameter gradients ACCUMULATED.
 * Kernels are OpenMP-parallel (static schedules) and never allocate per call; batch norm keeps a
 * grow-only per-calling-thread workspace (a few KiB) for its per-thread partial sums. */
#ifndef GSG_CPU_OPS_H
#define GSG_CPU_OPS_H
#include <stdint.h>
#include "../core/status.h"

/* ---- batch norm over [M,C], C innermost ----
 * training=1: batch statistics, biased variance for normalising; running stats (may be NULL)
 * updated with the unbiased variance (M > 1 required, checked by the front end).
 * training=0: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
 * save_mean/save_invstd may be NULL (not saved); in eval mode they receive the running stats. */
gsg_status gsg_cpu_batchnorm_fwd(float *y,             /* (M, C) */
                                 float *save_mean,     /* (C) or NULL */
                                 float *save_invstd,   /* (C) or NULL */
                                 const float *x,       /* (M, C) */
                                 const float *gamma,   /* (C) or NULL: 1 */
                                 const float *beta,    /* (C) or NULL: 0 */
                                 float *running_mean,  /* (C) or NULL */
                                 float *running_var,   /* (C) or NULL */
                                 int64_t M, int64_t C, int training, float momentum, float eps);
/* Same, then y = max(y, 0) in the same pass (BN + ReLU fused; ops_extra.h). */
gsg_status gsg_cpu_batchnorm_relu_fwd(float *y, float *save_mean, float *save_invstd, const float *x,
                                      const float *gamma, const float *beta, float *running_mean,
                                      float *running_var, int64_t M, int64_t C, int training, float momentum,
                                      float eps);
/* Training-mode backward: dx written, dgamma/dbeta accumulated (NULL: not wanted; gamma NULL: 1).
 * relu_y non-NULL: dy is first masked by (relu_y > 0) (the backward of BN + ReLU fused). */
gsg_status gsg_cpu_batchnorm_bwd(float *dx,                /* (M, C) */
                                 float *dgamma,            /* (C) or NULL */
                                 float *dbeta,             /* (C) or NULL */
                                 const float *dy,          /* (M, C) */
                                 const float *relu_y,      /* (M, C) or NULL */
                                 const float *x,           /* (M, C) */
                                 const float *gamma,       /* (C) or NULL */
                                 const float *save_mean,   /* (C) */
                                 const float *save_invstd, /* (C) */
                                 int64_t M, int64_t C);

/* ---- relu (y may alias x; dx may alias dy) ---- */
void gsg_cpu_relu_fwd(float *y,       /* (n) */
                      const float *x, /* (n) */
                      int64_t n);
void gsg_cpu_relu_bwd(float *dx,       /* (n) */
                      const float *dy, /* (n) */
                      const float *y,  /* (n) relu output */
                      int64_t n);

/* ---- elementwise (any aliasing among the arrays is allowed) ---- */
void gsg_cpu_add(float *y,       /* (n) */
                 const float *a, /* (n) */
                 const float *b, /* (n) */
                 int64_t n);
void gsg_cpu_add_inplace(float *y,       /* (n) y += a */
                         const float *a, /* (n) */
                         int64_t n);
void gsg_cpu_add_relu(float *y,       /* (n) relu(a + b) */
                      const float *a, /* (n) */
                      const float *b, /* (n) */
                      int64_t n);
void gsg_cpu_scale(float *y, /* (n) y *= alpha */
                   float alpha, int64_t n);
void gsg_cpu_zero(void *y, /* (nbytes) */
                  size_t nbytes);

/* ---- pooling ---- */
/* max pool 3x3, stride 2, pad 1; Ho = (H-1)/2+1. argmax: flat index into x (n*H*W*C + (h*W+w)*C + c).
 * Ties keep the first maximum in (kh, kw) order; NaN wins (PyTorch). */
void gsg_cpu_maxpool_fwd(float *y,          /* (N, Ho, Wo, C) */
                         int32_t *argmax,   /* (N, Ho, Wo, C) */
                         const float *x,    /* (N, H, W, C) */
                         int64_t N, int64_t H, int64_t W, int64_t C);
/* dx written (gathered: no zeroing pass, no write conflicts). */
void gsg_cpu_maxpool_bwd(float *dx,             /* (N, H, W, C) */
                         const float *dy,       /* (N, Ho, Wo, C) */
                         const int32_t *argmax, /* (N, Ho, Wo, C) */
                         int64_t N, int64_t H, int64_t W, int64_t C);
void gsg_cpu_avgpool_fwd(float *y,       /* (N, C) */
                         const float *x, /* (N, HW, C) */
                         int64_t N, int64_t HW, int64_t C);
void gsg_cpu_avgpool_bwd(float *dx,       /* (N, HW, C) written */
                         const float *dy, /* (N, C) */
                         int64_t N, int64_t HW, int64_t C);

/* ---- linear: y = x w^T (+ b); OpenBLAS sgemm. Sizes must fit in int (front end checks). ---- */
void gsg_cpu_linear_fwd(float *y,       /* (N, Out) */
                        const float *x, /* (N, In) */
                        const float *w, /* (Out, In) */
                        const float *b, /* (Out) or NULL */
                        int64_t N, int64_t In, int64_t Out);
void gsg_cpu_linear_bwd(float *dx,       /* (N, In) written, or NULL */
                        float *dw,       /* (Out, In) accumulated, or NULL */
                        float *db,       /* (Out) accumulated, or NULL */
                        const float *dy, /* (N, Out) */
                        const float *x,  /* (N, In) */
                        const float *w,  /* (Out, In) */
                        int64_t N, int64_t In, int64_t Out);

/* ---- row-wise cosine similarity and L2 normalisation ---- */
/* out[n] = <a_n,b_n> / max(|a_n| |b_n|, eps) */
void gsg_cpu_cosine_fwd(float *out,     /* (N) */
                        const float *a, /* (N, D) */
                        const float *b, /* (N, D) */
                        int64_t N, int64_t D, float eps);
void gsg_cpu_cosine_bwd(float *da,         /* (N, D) written, or NULL */
                        float *db,         /* (N, D) written, or NULL */
                        const float *dout, /* (N) */
                        const float *a,    /* (N, D) */
                        const float *b,    /* (N, D) */
                        int64_t N, int64_t D, float eps);
/* y = x / max(|x|, eps); y may alias x */
void gsg_cpu_l2norm_fwd(float *y,       /* (N, D) */
                        const float *x, /* (N, D) */
                        int64_t N, int64_t D, float eps);
void gsg_cpu_l2norm_bwd(float *dx,       /* (N, D) written; may alias dy */
                        const float *dy, /* (N, D) */
                        const float *x,  /* (N, D) */
                        int64_t N, int64_t D, float eps);

/* ---- NT-Xent (ops.h): M rows in blocks of R = 2n (views 0 | views 1), anchors = block `block` ---- */
void gsg_cpu_ntxent_fwd(float *loss,    /* (R) */
                        float *lse,     /* (R) */
                        float *work,    /* (R, M) scratch */
                        const float *u, /* (M, D) */
                        int64_t M, int64_t D, int64_t R, int64_t block, double tau);
void gsg_cpu_ntxent_bwd(float *du,          /* (R, D) written */
                        float *work,        /* (R, M) scratch */
                        const float *dloss, /* (M) */
                        const float *u,     /* (M, D) */
                        const float *lse,   /* (M) */
                        int64_t M, int64_t D, int64_t R, int64_t block, double tau);

/* ---- input: u8 planar -> f32 channels-last, y = (x/255 - mean[c]) / std[c] ---- */
void gsg_cpu_image_to_f32(float *y,            /* (N, H, W, C) */
                          const uint8_t *x,    /* (N, C, H, W) */
                          const float *mean,   /* (C) */
                          const float *stddev, /* (C) */
                          int64_t N, int64_t C, int64_t H, int64_t W);

#endif
