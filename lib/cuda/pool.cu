// pool.cu: max pool 3x3 stride 2 pad 1 (the ImageNet stem) with argmax, and global average pool,
// channels-last. Same tie rules as lib/cpu/pool.c: the first maximum in (kh, kw) order wins, NaN wins.
#include <math.h>
#include "cuda_internal.h"

#define GRID_STRIDE(i, n) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void k_maxpool_fwd(float *y, int32_t *argmax, const float *x, int64_t N, int64_t H, int64_t W, int64_t C,
                              int64_t Ho, int64_t Wo)
{
    GRID_STRIDE(i, N * Ho * Wo * C) {
        int64_t c = i % C, p = i / C, wo = p % Wo, q = p / Wo, ho = q % Ho, n = q / Ho;
        int64_t h0 = 2 * ho - 1 < 0 ? 0 : 2 * ho - 1, h1 = 2 * ho + 2 > H ? H : 2 * ho + 2;
        int64_t w0 = 2 * wo - 1 < 0 ? 0 : 2 * wo - 1, w1 = 2 * wo + 2 > W ? W : 2 * wo + 2;
        float best = -INFINITY;
        int32_t arg = (int32_t)(((n * H + h0) * W + w0) * C + c);
        for (int64_t h = h0; h < h1; h++)
            for (int64_t w = w0; w < w1; w++) {
                int32_t at = (int32_t)(((n * H + h) * W + w) * C + c);
                float v = x[at];
                if (v > best || v != v) { best = v; arg = at; }
            }
        y[i] = best;
        argmax[i] = arg;
    }
}

// gather form: each input element sums the (at most 4) windows that chose it; no atomics
__global__ void k_maxpool_bwd(float *dx, const float *dy, const int32_t *argmax, int64_t N, int64_t H, int64_t W,
                              int64_t C, int64_t Ho, int64_t Wo)
{
    GRID_STRIDE(i, N * H * W * C) {
        int64_t c = i % C, p = i / C, w = p % W, q = p / W, h = q % H, n = q / H;
        int64_t ho0 = h / 2, ho1 = (h + 1) / 2 < Ho - 1 ? (h + 1) / 2 : Ho - 1;
        int64_t wo0 = w / 2, wo1 = (w + 1) / 2 < Wo - 1 ? (w + 1) / 2 : Wo - 1;
        float s = 0.0f;
        for (int64_t ho = ho0; ho <= ho1; ho++)
            for (int64_t wo = wo0; wo <= wo1; wo++) {
                int64_t o = ((n * Ho + ho) * Wo + wo) * C + c;
                if (argmax[o] == (int32_t)i) s += dy[o];
            }
        dx[i] = s;
    }
}

// one thread per (n, c), summing HW rows in order (float, as the CPU twin)
__global__ void k_avgpool_fwd(float *y, const float *x, int64_t N, int64_t HW, int64_t C, float inv)
{
    GRID_STRIDE(i, N * C) {
        int64_t c = i % C, n = i / C;
        const float *xp = x + n * HW * C + c;
        float s = 0.0f;
        for (int64_t t = 0; t < HW; t++) s += xp[t * C];
        y[i] = s * inv;
    }
}

__global__ void k_avgpool_bwd(float *dx, const float *dy, int64_t N, int64_t HW, int64_t C, float inv)
{
    GRID_STRIDE(i, N * HW * C) {
        int64_t c = i % C, n = i / (HW * C);
        dx[i] = dy[n * C + c] * inv;
    }
}

extern "C" gsg_status gsg_cuda_maxpool_fwd(float *y, int32_t *argmax, const float *x, int64_t N, int64_t H, int64_t W,
                                           int64_t C)
{
    const int64_t Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1, n = N * Ho * Wo * C;
    if (n <= 0) return GSG_OK;
    if (N * H * W * C > INT32_MAX)   // the argmax is a flat i32 index into x (lib/ops/pool.c refuses first)
        return gsg_err_set(GSG_E_SHAPE, "maxpool: x has %lld elements, more than the i32 argmax can index",
                           (long long)(N * H * W * C));
    GSG_CTX(c);
    k_maxpool_fwd<<<gsg_grid(n, 256, 2), 256, 0, c->stream>>>(y, argmax, x, N, H, W, C, Ho, Wo);
    GSG_LAUNCHED("k_maxpool_fwd");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_maxpool_bwd(float *dx, const float *dy, const int32_t *argmax, int64_t N, int64_t H,
                                           int64_t W, int64_t C)
{
    const int64_t Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1, n = N * H * W * C;
    if (n <= 0) return GSG_OK;
    if (n > INT32_MAX)
        return gsg_err_set(GSG_E_SHAPE, "maxpool: dx has %lld elements, more than the i32 argmax can index", (long long)n);
    GSG_CTX(c);
    k_maxpool_bwd<<<gsg_grid(n, 256, 2), 256, 0, c->stream>>>(dx, dy, argmax, N, H, W, C, Ho, Wo);
    GSG_LAUNCHED("k_maxpool_bwd");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_avgpool_fwd(float *y, const float *x, int64_t N, int64_t HW, int64_t C)
{
    if (N * C <= 0 || HW <= 0) return GSG_OK;
    GSG_CTX(c);
    k_avgpool_fwd<<<gsg_grid(N * C, 256), 256, 0, c->stream>>>(y, x, N, HW, C, 1.0f / (float)HW);
    GSG_LAUNCHED("k_avgpool_fwd");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_avgpool_bwd(float *dx, const float *dy, int64_t N, int64_t HW, int64_t C)
{
    if (N * HW * C <= 0) return GSG_OK;
    GSG_CTX(c);
    k_avgpool_bwd<<<gsg_grid(N * HW * C, 256, 4), 256, 0, c->stream>>>(dx, dy, N, HW, C, 1.0f / (float)HW);
    GSG_LAUNCHED("k_avgpool_bwd");
    return GSG_OK;
}
