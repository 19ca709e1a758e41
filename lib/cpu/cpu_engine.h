/* cpu_engine.h: the CPU kernels of the engine ops (lib/ops/ops_engine.h). Raw pointers, contiguous;
 * the front ends have checked everything. Elementwise kernels are OpenMP static loops; the batch
 * norm sums reduce fixed row chunks in a fixed order (bit-identical for any thread count). */
#ifndef GSG_CPU_ENGINE_H
#define GSG_CPU_ENGINE_H
#include <stddef.h>
#include <stdint.h>
#include "../core/status.h"

void gsg_cpu_copy(void *dst,       /* (bytes) */
                  const void *src, /* (bytes), may overlap dst */
                  size_t bytes);
/* d = g + wd w; m = mom m + d; w -= lr m */
void gsg_cpu_sgd(float *w,       /* (n) */
                 float *m,       /* (n) */
                 const float *g, /* (n) */
                 int64_t n, float lr, float momentum, float wd);
/* x = x a + src b */
void gsg_cpu_ema(float *x,         /* (n) */
                 const float *src, /* (n) */
                 int64_t n, float a, float b);
/* y[n] = views[rows[n], v] normalised, channels-last (rows NULL: n) */
void gsg_cpu_views_to_f32(float *y,             /* (Ny, H, W, C) */
                          const uint8_t *views, /* (N, V, C, H, W) */
                          const int64_t *rows,  /* (Ny) or NULL */
                          const float *mean,    /* (C) host */
                          const float *stddev,  /* (C) host */
                          int64_t Ny, int64_t V, int64_t C, int64_t H, int64_t W, int64_t v);

/* ---- batch norm in steps (ops_engine.h) ---- */
/* The two per-channel sums every BN kernel reduces (batchnorm.c; sums[0..2C)): forward (dy NULL)
 * sum(x - K), sum((x - K)^2); backward sum(g), sum(g (x - K)) with g = dy masked by relu_y > 0
 * (relu_y may be NULL). Fixed row chunks in a fixed order: the same bits for any thread count. */
gsg_status gsg_cpu_bn_sums(double *sums, const float *x, const float *dy, const float *relu_y, const float *K,
                           int64_t M, int64_t C);
gsg_status gsg_cpu_bn_stats(double *sums,       /* (2C+1): S1 (C), S2 (C), M */
                            const float *x,     /* (M, C) */
                            const float *shift, /* (C) */
                            int64_t M, int64_t C);
void gsg_cpu_bn_finalize(float *mean,          /* (C) */
                         float *invstd,        /* (C) */
                         float *running_mean,  /* (C) or NULL */
                         float *running_var,   /* (C) or NULL */
                         const double *sums,   /* (2C+1) */
                         const float *shift,   /* (C) */
                         int64_t C, float momentum, float eps);
void gsg_cpu_bn_apply(float *y,             /* (M, C) */
                      const float *x,       /* (M, C) */
                      const float *mean,    /* (C) */
                      const float *invstd,  /* (C) */
                      const float *gamma,   /* (C) or NULL */
                      const float *beta,    /* (C) or NULL */
                      int64_t M, int64_t C, int relu);
gsg_status gsg_cpu_bn_bwd_stats(double *sums,        /* (2C+1): sum g (C), sum g (x-mean) (C), M */
                                float *dgamma,       /* (C) accumulated, or NULL */
                                float *dbeta,        /* (C) accumulated, or NULL */
                                const float *dy,     /* (M, C) */
                                const float *relu_y, /* (M, C) or NULL */
                                const float *x,      /* (M, C) */
                                const float *mean,   /* (C) */
                                const float *invstd, /* (C) */
                                int64_t M, int64_t C);
void gsg_cpu_bn_bwd_apply(float *dx,           /* (M, C) written */
                          const float *dy,     /* (M, C) */
                          const float *relu_y, /* (M, C) or NULL */
                          const float *x,      /* (M, C) */
                          const float *gamma,  /* (C) or NULL */
                          const float *mean,   /* (C) */
                          const float *invstd, /* (C) */
                          const double *sums,  /* (2C+1) reduced */
                          int64_t M, int64_t C);

#endif
