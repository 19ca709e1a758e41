/* relu.c: ReLU front ends (ops.h). y may alias x; dx may alias dy. */
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_ops.h"
#include "cuda/gsg_cuda.h"

gsg_status gsg_relu_fwd(struct gsg_tensor *y, const struct gsg_tensor *x)
{
    if (!x) return gsg_err_set(GSG_E_SHAPE, "relu: x is missing");
    GSG_TRY(gsg_ops_check("relu", "x", x, GSG_DTYPE_F32, x->dev, NULL, NULL, -1, NULL));
    GSG_TRY(gsg_ops_check_like("relu", "y", y, "x", x));
    switch (x->dev) {
    case GSG_DEV_CPU: gsg_cpu_relu_fwd(y->data, x->data, gsg_tensor_numel(x)); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_relu_fwd(y->data, x->data, gsg_tensor_numel(x));
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "relu: unknown device");
}

gsg_status gsg_relu_bwd(struct gsg_tensor *dx, const struct gsg_tensor *dy, const struct gsg_tensor *y)
{
    if (!y) return gsg_err_set(GSG_E_SHAPE, "relu: y is missing");
    GSG_TRY(gsg_ops_check("relu", "y", y, GSG_DTYPE_F32, y->dev, NULL, NULL, -1, NULL));
    GSG_TRY(gsg_ops_check_like("relu", "dy", dy, "y", y));
    GSG_TRY(gsg_ops_check_like("relu", "dx", dx, "y", y));
    switch (y->dev) {
    case GSG_DEV_CPU: gsg_cpu_relu_bwd(dx->data, dy->data, y->data, gsg_tensor_numel(y)); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_relu_bwd(dx->data, dy->data, y->data, gsg_tensor_numel(y));
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "relu: unknown device");
}
