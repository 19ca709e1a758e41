/* pool.c: front ends of max pool 3x3/2 pad 1 and global average pool (ops.h), channels-last. */
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_ops.h"
#include "cuda/gsg_cuda.h"
#include <stdint.h>

static gsg_status check_x4(const char *op, const char *name, const struct gsg_tensor *x)
{
    if (!x) return gsg_err_set(GSG_E_SHAPE, "%s: %s is missing", op, name);
    const int64_t any4[4] = {-1, -1, -1, -1};
    GSG_TRY(gsg_ops_check(op, name, x, GSG_DTYPE_F32, x->dev, NULL, NULL, 4, any4));
    return GSG_OK;
}

gsg_status gsg_maxpool_fwd(struct gsg_tensor *y, struct gsg_tensor *argmax, const struct gsg_tensor *x)
{
    GSG_TRY(check_x4("maxpool", "x", x));
    const int64_t N = x->dims[0], H = x->dims[1], W = x->dims[2], C = x->dims[3];
    if (gsg_tensor_numel(x) > INT32_MAX)
        return gsg_err_set(GSG_E_SHAPE, "maxpool: x has %lld elements: expected at most 2^31-1 (i32 argmax)",
                           (long long)gsg_tensor_numel(x));
    const int64_t yd[4] = {N, H > 0 ? (H - 1) / 2 + 1 : 0, W > 0 ? (W - 1) / 2 + 1 : 0, C};
    GSG_TRY(gsg_ops_check("maxpool", "y", y, GSG_DTYPE_F32, x->dev, "x", x, 4, yd));
    GSG_TRY(gsg_ops_check("maxpool", "argmax", argmax, GSG_DTYPE_I32, x->dev, "x", x, 4, yd));
    if (gsg_tensor_numel(y) == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU: gsg_cpu_maxpool_fwd(y->data, argmax->data, x->data, N, H, W, C); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_maxpool_fwd(y->data, argmax->data, x->data, N, H, W, C);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "maxpool: unknown device");
}

gsg_status gsg_maxpool_bwd(struct gsg_tensor *dx, const struct gsg_tensor *dy, const struct gsg_tensor *argmax)
{
    GSG_TRY(check_x4("maxpool", "dx", dx));
    const int64_t N = dx->dims[0], H = dx->dims[1], W = dx->dims[2], C = dx->dims[3];
    if (gsg_tensor_numel(dx) > INT32_MAX)
        return gsg_err_set(GSG_E_SHAPE, "maxpool: dx has %lld elements: expected at most 2^31-1 (i32 argmax)",
                           (long long)gsg_tensor_numel(dx));
    const int64_t yd[4] = {N, H > 0 ? (H - 1) / 2 + 1 : 0, W > 0 ? (W - 1) / 2 + 1 : 0, C};
    GSG_TRY(gsg_ops_check("maxpool", "dy", dy, GSG_DTYPE_F32, dx->dev, "dx", dx, 4, yd));
    GSG_TRY(gsg_ops_check("maxpool", "argmax", argmax, GSG_DTYPE_I32, dx->dev, "dx", dx, 4, yd));
    if (gsg_tensor_numel(dx) == 0) return GSG_OK;
    switch (dx->dev) {
    case GSG_DEV_CPU: gsg_cpu_maxpool_bwd(dx->data, dy->data, argmax->data, N, H, W, C); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_maxpool_bwd(dx->data, dy->data, argmax->data, N, H, W, C);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "maxpool: unknown device");
}

gsg_status gsg_avgpool_fwd(struct gsg_tensor *y, const struct gsg_tensor *x)
{
    GSG_TRY(check_x4("avgpool", "x", x));
    const int64_t N = x->dims[0], HW = x->dims[1] * x->dims[2], C = x->dims[3];
    const int64_t yd[2] = {N, C};
    GSG_TRY(gsg_ops_check("avgpool", "y", y, GSG_DTYPE_F32, x->dev, "x", x, 2, yd));
    if (HW == 0) return gsg_err_set(GSG_E_SHAPE, "avgpool: x has an empty image: expected H, W >= 1");
    if (N * C == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU: gsg_cpu_avgpool_fwd(y->data, x->data, N, HW, C); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_avgpool_fwd(y->data, x->data, N, HW, C);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "avgpool: unknown device");
}

gsg_status gsg_avgpool_bwd(struct gsg_tensor *dx, const struct gsg_tensor *dy)
{
    GSG_TRY(check_x4("avgpool", "dx", dx));
    const int64_t N = dx->dims[0], HW = dx->dims[1] * dx->dims[2], C = dx->dims[3];
    const int64_t yd[2] = {N, C};
    GSG_TRY(gsg_ops_check("avgpool", "dy", dy, GSG_DTYPE_F32, dx->dev, "dx", dx, 2, yd));
    if (gsg_tensor_numel(dx) == 0) return GSG_OK;
    switch (dx->dev) {
    case GSG_DEV_CPU: gsg_cpu_avgpool_bwd(dx->data, dy->data, N, HW, C); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_avgpool_bwd(dx->data, dy->data, N, HW, C);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "avgpool: unknown device");
}
