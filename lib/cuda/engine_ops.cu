// engine_ops.cu: CUDA twins of the engine ops (lib/ops/ops_engine.h, CPU kernels in lib/cpu/
// cpu_engine.h): copy/zero, SGD, EMA, the u8 -> f32 input conversion, batch norm in steps.
// Plain grid-stride kernels; the batch-norm sums use one block per channel with a fixed per-thread
// row stride and a fixed shared-memory tree, so they are the same bits run after run.
// Every call is enqueued on the process stream (engine_stream) and returns without waiting (docs/execution.md).
#include <cuda_runtime.h>
#include <math.h>
#include "gsg_cuda.h"
#include "cuda_internal.h"

// The process stream: the context's (runtime.cu), created by the first CUDA call. A failed
// initialisation is returned to the caller (never a silent fallback to the legacy stream 0).
static gsg_status engine_stream(cudaStream_t *s)
{
    struct gsg_cuda_ctx *c = NULL;
    *s = 0;
    GSG_TRY(gsg_cuda_ctx_get(&c));
    *s = c->stream;
    return GSG_OK;
}
#define ENGINE_STREAM(s) cudaStream_t s; GSG_TRY(engine_stream(&s))

#define ENGINE_CHECK(what) do { cudaError_t e_ = cudaGetLastError(); if (e_ != cudaSuccess) { \
    int d_ = -1; cudaGetDevice(&d_); \
    return gsg_err_set(GSG_E_CUDA, "CUDA error '%s' in %s on device %d (%s:%d)", cudaGetErrorString(e_), what, d_, \
                       __FILE__, __LINE__); } } while (0)

static unsigned grid_for(int64_t n, int block)
{
    int64_t g = (n + block - 1) / block;
    if (g > 65535 * 8) g = 65535 * 8;
    return (unsigned)(g < 1 ? 1 : g);
}

extern "C" gsg_status gsg_cuda_copy(void *dst, const void *src, size_t bytes)
{
    if (!bytes || dst == src) return GSG_OK;
    ENGINE_STREAM(es_);
    cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, es_);
    ENGINE_CHECK("cudaMemcpyAsync(device to device)");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_zero(void *dst, size_t bytes)
{
    if (!bytes) return GSG_OK;
    ENGINE_STREAM(es_);
    cudaMemsetAsync(dst, 0, bytes, es_);
    ENGINE_CHECK("cudaMemsetAsync");
    return GSG_OK;
}

__global__ void k_sgd(float *w, float *m, const float *g, int64_t n, float lr, float mom, float wd)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float d = g[i] + wd * w[i];
        float b = mom * m[i] + d;
        m[i] = b;
        w[i] = w[i] - lr * b;
    }
}

extern "C" gsg_status gsg_cuda_sgd(float *w, float *m, const float *g, int64_t n, float lr, float momentum, float wd)
{
    if (n <= 0) return GSG_OK;
    ENGINE_STREAM(es_);
    k_sgd<<<grid_for(n, 256), 256, 0, es_>>>(w, m, g, n, lr, momentum, wd);
    ENGINE_CHECK("k_sgd");
    return GSG_OK;
}

__global__ void k_ema(float *x, const float *src, int64_t n, float a, float b)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] = x[i] * a + src[i] * b;
}

extern "C" gsg_status gsg_cuda_ema(float *x, const float *src, int64_t n, float a, float b)
{
    if (n <= 0) return GSG_OK;
    ENGINE_STREAM(es_);
    k_ema<<<grid_for(n, 256), 256, 0, es_>>>(x, src, n, a, b);
    ENGINE_CHECK("k_ema");
    return GSG_OK;
}

#define MAXC 64
struct view_consts { float sc[MAXC], sh[MAXC]; };

// one thread per output element (coalesced writes)
__global__ void k_views_to_f32(float *y, const uint8_t *views, const int64_t *rows, view_consts k, int64_t Ny,
                               int64_t V, int64_t C, int64_t HW, int64_t v)
{
    const int64_t n_out = Ny * HW * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n_out; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % C, p = i / C, s = p % HW, n = p / HW;
        int64_t r = rows ? rows[n] : n;
        y[i] = (float)views[((r * V + v) * C + c) * HW + s] * k.sc[c] + k.sh[c];
    }
}

extern "C" gsg_status gsg_cuda_views_to_f32(float *y, const uint8_t *views, const int64_t *rows, const float *mean,
                                            const float *stddev, int64_t Ny, int64_t V, int64_t C, int64_t H,
                                            int64_t W, int64_t v)
{
    if (C > MAXC) return gsg_err_set(GSG_E_SHAPE, "views_to_f32: %lld channels: expected at most %d", (long long)C, MAXC);
    int64_t n = Ny * C * H * W;
    if (n <= 0) return GSG_OK;
    view_consts k;
    for (int64_t c = 0; c < C; c++) {   // formed in double on the host, as the CPU twin
        k.sc[c] = (float)(1.0 / (255.0 * (double)stddev[c]));
        k.sh[c] = (float)(-(double)mean[c] / (double)stddev[c]);
    }
    ENGINE_STREAM(es_);
    k_views_to_f32<<<grid_for(n, 256), 256, 0, es_>>>(y, views, rows, k, Ny, V, C, H * W, v);
    ENGINE_CHECK("k_views_to_f32");
    return GSG_OK;
}

// ---------------- batch norm in steps ----------------
#define BN_THREADS 256

// fixed-shape tree over a block's two double partials
__device__ void block_sum2(double *s1, double *s2, double a, double b)
{
    s1[threadIdx.x] = a;
    s2[threadIdx.x] = b;
    __syncthreads();
    for (int w = BN_THREADS / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) {
            s1[threadIdx.x] += s1[threadIdx.x + w];
            s2[threadIdx.x] += s2[threadIdx.x + w];
        }
        __syncthreads();
    }
}

// one block per channel c
__global__ void k_bn_stats(double *sums, const float *x, const float *shift, int64_t M, int64_t C)
{
    __shared__ double s1[BN_THREADS], s2[BN_THREADS];
    const int64_t c = blockIdx.x;
    const double k = shift[c];
    double a = 0, b = 0;
    for (int64_t r = threadIdx.x; r < M; r += BN_THREADS) {
        double d = (double)x[r * C + c] - k;
        a += d;
        b += d * d;
    }
    block_sum2(s1, s2, a, b);
    if (threadIdx.x == 0) {
        sums[c] = s1[0];
        sums[C + c] = s2[0];
        if (c == 0) sums[2 * C] = (double)M;
    }
}

extern "C" gsg_status gsg_cuda_bn_stats(double *sums, const float *x, const float *shift, int64_t M, int64_t C)
{
    if (C <= 0) return GSG_OK;
    ENGINE_STREAM(es_);
    k_bn_stats<<<(unsigned)C, BN_THREADS, 0, es_>>>(sums, x, shift, M, C);
    ENGINE_CHECK("k_bn_stats");
    return GSG_OK;
}

__global__ void k_bn_finalize(float *mean, float *invstd, float *running_mean, float *running_var, const double *sums,
                              const float *shift, int64_t C, float momentum, float eps)
{
    const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= C) return;
    const double M = sums[2 * C];
    double m1 = sums[c] / M;
    double var = sums[C + c] / M - m1 * m1;
    if (var < 0) var = 0;
    double mu = (double)shift[c] + m1;   // read before running_mean (which may alias shift) is written
    mean[c] = (float)mu;
    invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
    if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
    if (running_var) running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * var * M / (M > 1 ? M - 1 : 1));
}

extern "C" gsg_status gsg_cuda_bn_finalize(float *mean, float *invstd, float *running_mean, float *running_var,
                                           const double *sums, const float *shift, int64_t C, float momentum, float eps)
{
    if (C <= 0) return GSG_OK;
    ENGINE_STREAM(es_);
    k_bn_finalize<<<grid_for(C, 128), 128, 0, es_>>>(mean, invstd, running_mean, running_var, sums, shift, C,
                                                                 momentum, eps);
    ENGINE_CHECK("k_bn_finalize");
    return GSG_OK;
}

__global__ void k_bn_apply(float *y, const float *x, const float *mean, const float *invstd, const float *gamma,
                           const float *beta, int64_t M, int64_t C, int relu)
{
    const int64_t n = M * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = i % C;
        float sc = (float)((gamma ? (double)gamma[c] : 1.0) * (double)invstd[c]);
        float v = (x[i] - mean[c]) * sc + (beta ? beta[c] : 0.0f);
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

extern "C" gsg_status gsg_cuda_bn_apply(float *y, const float *x, const float *mean, const float *invstd,
                                        const float *gamma, const float *beta, int64_t M, int64_t C, int relu)
{
    if (M * C <= 0) return GSG_OK;
    ENGINE_STREAM(es_);
    k_bn_apply<<<grid_for(M * C, 256), 256, 0, es_>>>(y, x, mean, invstd, gamma, beta, M, C, relu);
    ENGINE_CHECK("k_bn_apply");
    return GSG_OK;
}

__global__ void k_bn_bwd_stats(double *sums, float *dgamma, float *dbeta, const float *dy, const float *relu_y,
                               const float *x, const float *mean, const float *invstd, int64_t M, int64_t C)
{
    __shared__ double s1[BN_THREADS], s2[BN_THREADS];
    const int64_t c = blockIdx.x;
    const double mu = mean[c];
    double a = 0, b = 0;
    for (int64_t r = threadIdx.x; r < M; r += BN_THREADS) {
        const int64_t i = r * C + c;
        double g = (!relu_y || relu_y[i] > 0.0f) ? (double)dy[i] : 0.0;
        a += g;
        b += g * ((double)x[i] - mu);
    }
    block_sum2(s1, s2, a, b);
    if (threadIdx.x == 0) {
        sums[c] = s1[0];
        sums[C + c] = s2[0];
        if (c == 0) sums[2 * C] = (double)M;
        if (dgamma) dgamma[c] += (float)((double)invstd[c] * s2[0]);
        if (dbeta) dbeta[c] += (float)s1[0];
    }
}

extern "C" gsg_status gsg_cuda_bn_bwd_stats(double *sums, float *dgamma, float *dbeta, const float *dy,
                                            const float *relu_y, const float *x, const float *mean,
                                            const float *invstd, int64_t M, int64_t C)
{
    if (C <= 0) return GSG_OK;
    ENGINE_STREAM(es_);
    k_bn_bwd_stats<<<(unsigned)C, BN_THREADS, 0, es_>>>(sums, dgamma, dbeta, dy, relu_y, x, mean, invstd, M, C);
    ENGINE_CHECK("k_bn_bwd_stats");
    return GSG_OK;
}

__global__ void k_bn_bwd_apply(float *dx, const float *dy, const float *relu_y, const float *x, const float *gamma,
                               const float *mean, const float *invstd, const double *sums, int64_t M, int64_t C)
{
    const int64_t n = M * C;
    const double Mt = sums[2 * C];
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = i % C;
        double is = invstd[c], gm = gamma ? gamma[c] : 1.0;
        float P = (float)(gm * is), Q = (float)(-gm * is * is * is * sums[C + c] / Mt), R = (float)(-gm * is * sums[c] / Mt);
        float g = (!relu_y || relu_y[i] > 0.0f) ? dy[i] : 0.0f;
        dx[i] = P * g + Q * (x[i] - mean[c]) + R;
    }
}

extern "C" gsg_status gsg_cuda_bn_bwd_apply(float *dx, const float *dy, const float *relu_y, const float *x,
                                            const float *gamma, const float *mean, const float *invstd,
                                            const double *sums, int64_t M, int64_t C)
{
    if (M * C <= 0) return GSG_OK;
    ENGINE_STREAM(es_);
    k_bn_bwd_apply<<<grid_for(M * C, 256), 256, 0, es_>>>(dx, dy, relu_y, x, gamma, mean, invstd, sums, M, C);
    ENGINE_CHECK("k_bn_bwd_apply");
    return GSG_OK;
}
