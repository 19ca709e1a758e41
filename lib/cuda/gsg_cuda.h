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
