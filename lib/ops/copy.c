/* copy.c: front ends of the tensor copy and zero ops (ops_engine.h). */
#include "ops/ops_engine.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_ops.h"
#include "cpu/cpu_engine.h"
#include "cuda/gsg_cuda.h"

gsg_status gsg_op_copy(struct gsg_tensor *dst, const struct gsg_tensor *src)
{
    if (!dst || !src) return gsg_err_set(GSG_E_SHAPE, "copy: %s is missing", dst ? "src" : "dst");
    char a[96], b[96];
    if (dst->dtype != src->dtype || gsg_tensor_numel(dst) != gsg_tensor_numel(src) || dst->dev != src->dev)
        return gsg_err_set(GSG_E_SHAPE, "copy: dst %s %s on %s does not match src %s %s on %s: expected the same "
                           "dtype, element count and device", gsg_shape_str(a, sizeof a, dst->ndim, dst->dims),
                           gsg_dtype_name(dst->dtype), gsg_dev_name(dst->dev),
                           gsg_shape_str(b, sizeof b, src->ndim, src->dims), gsg_dtype_name(src->dtype),
                           gsg_dev_name(src->dev));
    size_t n = gsg_tensor_nbytes(src);
    if (n == 0) return GSG_OK;
    if (!dst->data || !src->data) return gsg_err_set(GSG_E_SHAPE, "copy: %s has no data", dst->data ? "src" : "dst");
    switch (dst->dev) {
    case GSG_DEV_CPU: gsg_cpu_copy(dst->data, src->data, n); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_copy(dst->data, src->data, n);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "copy: unknown device");
}

gsg_status gsg_op_zero(struct gsg_tensor *t)
{
    if (!t) return gsg_err_set(GSG_E_SHAPE, "zero: t is missing");
    if (gsg_dtype_size(t->dtype) == 0) return gsg_err_set(GSG_E_SHAPE, "zero: t has an invalid dtype");
    size_t n = gsg_tensor_nbytes(t);
    if (n == 0) return GSG_OK;
    if (!t->data) return gsg_err_set(GSG_E_SHAPE, "zero: t has no data");
    switch (t->dev) {
    case GSG_DEV_CPU: gsg_cpu_zero(t->data, n); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_zero(t->data, n);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "zero: unknown device");
}
