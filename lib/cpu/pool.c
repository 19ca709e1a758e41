/* pool.c: CPU max pool 3x3/2 pad 1 (ImageNet stem) and global average pool, channels-last. */
#include "cpu/cpu_ops.h"
#include <math.h>

void gsg_cpu_maxpool_fwd(float *y, int32_t *argmax, const float *x, int64_t N, int64_t H, int64_t W, int64_t C)
{
    const int64_t Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
    #pragma omp parallel for schedule(static) if (N * Ho * Wo * C >= 32768)
    for (int64_t nr = 0; nr < N * Ho; nr++) {
        const int64_t n = nr / Ho, ho = nr % Ho;
        const int64_t h0 = 2 * ho - 1 < 0 ? 0 : 2 * ho - 1, h1 = 2 * ho + 2 > H ? H : 2 * ho + 2;
        for (int64_t wo = 0; wo < Wo; wo++) {
            const int64_t w0 = 2 * wo - 1 < 0 ? 0 : 2 * wo - 1, w1 = 2 * wo + 2 > W ? W : 2 * wo + 2;
            float *restrict yp = y + (nr * Wo + wo) * C;
            int32_t *restrict ap = argmax + (nr * Wo + wo) * C;
            const int32_t first = (int32_t)(((n * H + h0) * W + w0) * C);
            #pragma omp simd
            for (int64_t c = 0; c < C; c++) { yp[c] = -INFINITY; ap[c] = first + (int32_t)c; }
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) {
                    const int32_t base = (int32_t)(((n * H + h) * W + w) * C);
                    const float *restrict xp = x + base;
                    #pragma omp simd
                    for (int64_t c = 0; c < C; c++) {
                        float v = xp[c];
                        int take = (v > yp[c]) | (v != v);
                        yp[c] = take ? v : yp[c];
                        ap[c] = take ? base + (int32_t)c : ap[c];
                    }
                }
        }
    }
}

/* Gather form: input (h, w) lies in the windows of ho in [ceil((h-1)/2), floor((h+1)/2)] (at most 2). */
void gsg_cpu_maxpool_bwd(float *dx, const float *dy, const int32_t *argmax, int64_t N, int64_t H, int64_t W,
                         int64_t C)
{
    const int64_t Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
    #pragma omp parallel for schedule(static) if (N * H * W * C >= 32768)
    for (int64_t nr = 0; nr < N * H; nr++) {
        const int64_t n = nr / H, h = nr % H;
        const int64_t ho0 = h / 2, ho1 = (h + 1) / 2 < Ho - 1 ? (h + 1) / 2 : Ho - 1;   /* ho0 = ceil((h-1)/2) */
        for (int64_t w = 0; w < W; w++) {
            const int64_t wo0 = w / 2, wo1 = (w + 1) / 2 < Wo - 1 ? (w + 1) / 2 : Wo - 1;
            const int32_t base = (int32_t)(((n * H + h) * W + w) * C);
            float *restrict dxp = dx + base;
            #pragma omp simd
            for (int64_t c = 0; c < C; c++) dxp[c] = 0.0f;
            for (int64_t ho = ho0; ho <= ho1; ho++)
                for (int64_t wo = wo0; wo <= wo1; wo++) {
                    const int64_t o = ((n * Ho + ho) * Wo + wo) * C;
                    const float *restrict dyp = dy + o;
                    const int32_t *restrict ap = argmax + o;
                    #pragma omp simd
                    for (int64_t c = 0; c < C; c++) dxp[c] += ap[c] == base + (int32_t)c ? dyp[c] : 0.0f;
                }
        }
    }
}

void gsg_cpu_avgpool_fwd(float *y, const float *x, int64_t N, int64_t HW, int64_t C)
{
    const float inv = 1.0f / (float)HW;
    #pragma omp parallel for schedule(static) if (N * HW * C >= 32768)
    for (int64_t n = 0; n < N; n++) {
        float *restrict yp = y + n * C;
        const float *restrict xp = x + n * HW * C;
        #pragma omp simd
        for (int64_t c = 0; c < C; c++) yp[c] = 0.0f;
        for (int64_t s = 0; s < HW; s++) {
            #pragma omp simd
            for (int64_t c = 0; c < C; c++) yp[c] += xp[s * C + c];
        }
        #pragma omp simd
        for (int64_t c = 0; c < C; c++) yp[c] *= inv;
    }
}

void gsg_cpu_avgpool_bwd(float *dx, const float *dy, int64_t N, int64_t HW, int64_t C)
{
    const float inv = 1.0f / (float)HW;
    #pragma omp parallel for schedule(static) if (N * HW * C >= 32768)
    for (int64_t ns = 0; ns < N * HW; ns++) {
        const float *restrict dyp = dy + (ns / HW) * C;
        float *restrict dxp = dx + ns * C;
        #pragma omp simd
        for (int64_t c = 0; c < C; c++) dxp[c] = dyp[c] * inv;
    }
}
