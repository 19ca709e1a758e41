/* image.c: u8 planar images -> normalised f32 channels-last: the one input conversion of libgsg
 * (gsg_image_to_f32 for plain images, gsg_op_views_to_f32 for one view of a batch of views). */
#include "cpu/cpu_ops.h"
#include "cpu/cpu_engine.h"

#define MAXC 64   /* per-channel constants on the stack; the front ends reject more channels */

void gsg_cpu_views_to_f32(float *y, const uint8_t *views, const int64_t *rows, const float *mean,
                          const float *stddev, int64_t Ny, int64_t V, int64_t C, int64_t H, int64_t W, int64_t v)
{
    float sc[MAXC], sh[MAXC];
    for (int64_t c = 0; c < C && c < MAXC; c++) {
        /* (x/255 - m)/s = x * (1/(255 s)) - m/s, constants formed in double */
        sc[c] = (float)(1.0 / (255.0 * (double)stddev[c]));
        sh[c] = (float)(-(double)mean[c] / (double)stddev[c]);
    }
    const int64_t HW = H * W;
    #pragma omp parallel for schedule(static) if (Ny * C * HW >= 65536)
    for (int64_t nh = 0; nh < Ny * H; nh++) {
        const int64_t n = nh / H, h = nh % H;
        const int64_t s = rows ? rows[n] : n;
        float *restrict yp = y + nh * W * C;
        const uint8_t *restrict xp = views + ((s * V + v) * C) * HW + h * W;
        for (int64_t c = 0; c < C; c++) {
            const uint8_t *restrict xc = xp + c * HW;
            const float a = sc[c], b = sh[c];
            for (int64_t w = 0; w < W; w++) yp[w * C + c] = (float)xc[w] * a + b;
        }
    }
}

void gsg_cpu_image_to_f32(float *y, const uint8_t *x, const float *mean, const float *stddev, int64_t N, int64_t C,
                          int64_t H, int64_t W)
{
    gsg_cpu_views_to_f32(y, x, NULL, mean, stddev, N, 1, C, H, W, 0);
}
