/* image.c: front end of u8 [N,C,H,W] -> normalised f32 [N,H,W,C] (ops.h). */
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_ops.h"
#include "cuda/gsg_cuda.h"
#include <math.h>

#define MAXC 64

gsg_status gsg_image_to_f32(struct gsg_tensor *y, const struct gsg_tensor *x, const float *mean, const float *std)
{
    const int64_t any4[4] = {-1, -1, -1, -1};
    if (!x) return gsg_err_set(GSG_E_SHAPE, "image_to_f32: x is missing");
    GSG_TRY(gsg_ops_check("image_to_f32", "x", x, GSG_DTYPE_U8, x->dev, NULL, NULL, 4, any4));
    const int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    const int64_t yd[4] = {N, H, W, C};
    GSG_TRY(gsg_ops_check("image_to_f32", "y", y, GSG_DTYPE_F32, x->dev, "x", x, 4, yd));
    if (C > MAXC)
        return gsg_err_set(GSG_E_SHAPE, "image_to_f32: x has %lld channels: expected at most %d", (long long)C, MAXC);
    if (!mean || !std) return gsg_err_set(GSG_E_USAGE, "image_to_f32: mean and std are required");
    for (int64_t c = 0; c < C; c++)
        if (!isfinite(mean[c]) || !isfinite(std[c]) || !(fabsf(std[c]) > 0))
            return gsg_err_set(GSG_E_USAGE, "image_to_f32: channel %lld has mean %g std %g: expected finite, std != 0",
                               (long long)c, (double)mean[c], (double)std[c]);
    if (gsg_tensor_numel(x) == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU: gsg_cpu_image_to_f32(y->data, x->data, mean, std, N, C, H, W); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_image_to_f32(y->data, x->data, mean, std, N, C, H, W);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "image_to_f32: unknown device");
}
