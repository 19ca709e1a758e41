/* stubs.c: the CUDA backend's symbols for builds without nvcc. */
#include "gsg_cuda.h"

static gsg_status no_cuda(void)
{
    return gsg_err_set(GSG_E_NO_CUDA, "this build has no CUDA backend (nvcc was not found at build time; rebuild with CUDA=1 on a machine with the CUDA Toolkit)");
}

int gsg_cuda_built(void) { return 0; }
gsg_status gsg_cuda_init(int device) { (void)device; return no_cuda(); }
gsg_status gsg_cuda_malloc(void **p, size_t bytes) { (void)bytes; *p = NULL; return no_cuda(); }
void gsg_cuda_free(void *p) { (void)p; }
gsg_status gsg_cuda_memset0(void *p, size_t bytes) { (void)p; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_memcpy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes)
{ (void)dst; (void)dst_dev; (void)src; (void)src_dev; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_sync(void) { return no_cuda(); }

/* engine ops */
gsg_status gsg_cuda_copy(void *dst, const void *src, size_t bytes) { (void)dst; (void)src; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_zero(void *dst, size_t bytes) { (void)dst; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_sgd(float *w, float *m, const float *g, int64_t n, float lr, float momentum, float wd)
{ (void)w; (void)m; (void)g; (void)n; (void)lr; (void)momentum; (void)wd; return no_cuda(); }
gsg_status gsg_cuda_ema(float *x, const float *src, int64_t n, float a, float b)
{ (void)x; (void)src; (void)n; (void)a; (void)b; return no_cuda(); }
gsg_status gsg_cuda_views_to_f32(float *y, const uint8_t *views, const int64_t *rows, const float *mean,
                                 const float *stddev, int64_t Ny, int64_t V, int64_t C, int64_t H, int64_t W,
                                 int64_t v)
{ (void)y; (void)views; (void)rows; (void)mean; (void)stddev; (void)Ny; (void)V; (void)C; (void)H; (void)W; (void)v; return no_cuda(); }
gsg_status gsg_cuda_bn_stats(double *sums, const float *x, const float *shift, int64_t M, int64_t C)
{ (void)sums; (void)x; (void)shift; (void)M; (void)C; return no_cuda(); }
gsg_status gsg_cuda_bn_finalize(float *mean, float *invstd, float *running_mean, float *running_var,
                                const double *sums, const float *shift, int64_t C, float momentum, float eps)
{ (void)mean; (void)invstd; (void)running_mean; (void)running_var; (void)sums; (void)shift; (void)C; (void)momentum; (void)eps; return no_cuda(); }
gsg_status gsg_cuda_bn_apply(float *y, const float *x, const float *mean, const float *invstd, const float *gamma,
                             const float *beta, int64_t M, int64_t C, int relu)
{ (void)y; (void)x; (void)mean; (void)invstd; (void)gamma; (void)beta; (void)M; (void)C; (void)relu; return no_cuda(); }
gsg_status gsg_cuda_bn_bwd_stats(double *sums, float *dgamma, float *dbeta, const float *dy, const float *relu_y,
                                 const float *x, const float *mean, const float *invstd, int64_t M, int64_t C)
{ (void)sums; (void)dgamma; (void)dbeta; (void)dy; (void)relu_y; (void)x; (void)mean; (void)invstd; (void)M; (void)C; return no_cuda(); }
gsg_status gsg_cuda_bn_bwd_apply(float *dx, const float *dy, const float *relu_y, const float *x,
                                 const float *gamma, const float *mean, const float *invstd, const double *sums,
                                 int64_t M, int64_t C)
{ (void)dx; (void)dy; (void)relu_y; (void)x; (void)gamma; (void)mean; (void)invstd; (void)sums; (void)M; (void)C; return no_cuda(); }
