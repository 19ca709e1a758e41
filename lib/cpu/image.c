/* image.c: u8 planar images [N,C,H,W] -> normalised f32 channels-last [N,H,W,C]. */
#include "cpu/cpu_ops.h"

#define MAXC 64   /* per-channel constants on the stack; the front end rejects more channels */

void gsg_cpu_image_to_f32(float *y, const uint8_t *x, const float *mean, const float *stddev, int64_t N, int64_t C,
                          int64_t H, int64_t W)
{
    float sc[MAXC], sh[MAXC];
    for (int64_t c = 0; c < C && c < MAXC; c++) {
        /* (x/255 - m)/s = x * (1/(255 s)) - m/s, constants formed in double */
        sc[c] = (float)(1.0 / (255.0 * (double)stddev[c]));
        sh[c] = (float)(-(double)mean[c] / (double)stddev[c]);
    }
    const int64_t HW = H * W;
    #pragma omp parallel for schedule(static) if (N * C * HW >= 65536)
    for (int64_t nh = 0; nh < N * H; nh++) {
        const int64_t n = nh / H, h = nh % H;
        float *restrict yp = y + nh * W * C;
        const uint8_t *restrict xp = x + n * C * HW + h * W;
        for (int64_t c = 0; c < C; c++) {
            const uint8_t *restrict xc = xp + c * HW;
            const float s = sc[c], t = sh[c];
            for (int64_t w = 0; w < W; w++) yp[w * C + c] = (float)xc[w] * s + t;
        }
    }
}
