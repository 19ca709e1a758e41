// image.cu: u8 planar images (N,C,H,W) on the device -> normalised f32 channels-last (N,H,W,C),
// y = x * (1/(255 std)) - mean/std with the constants formed in double on the host (as the CPU twin).
#include "cuda_internal.h"

#define MAXC 64
struct img_consts { float sc[MAXC], sh[MAXC]; };

// one thread per output element: writes are coalesced, the reads stride by H*W per channel
__global__ void k_image_to_f32(float *y, const uint8_t *x, img_consts k, int64_t N, int64_t C, int64_t HW)
{
    const int64_t n_out = N * HW * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n_out; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % C, p = i / C, s = p % HW, n = p / HW;
        y[i] = (float)x[(n * C + c) * HW + s] * k.sc[c] + k.sh[c];
    }
}

extern "C" gsg_status gsg_cuda_image_to_f32(float *y, const uint8_t *x, const float *mean, const float *stddev,
                                            int64_t N, int64_t C, int64_t H, int64_t W)
{
    if (C > MAXC) return gsg_err_set(GSG_E_SHAPE, "image_to_f32: %lld channels: expected at most %d", (long long)C, MAXC);
    int64_t n = N * C * H * W;
    if (n <= 0) return GSG_OK;
    GSG_CTX(c);
    img_consts k;
    for (int64_t i = 0; i < C; i++) {
        k.sc[i] = (float)(1.0 / (255.0 * (double)stddev[i]));
        k.sh[i] = (float)(-(double)mean[i] / (double)stddev[i]);
    }
    k_image_to_f32<<<gsg_grid(n, 256, 4), 256, 0, c->stream>>>(y, x, k, N, C, H * W);
    GSG_LAUNCHED("k_image_to_f32");
    return GSG_OK;
}
