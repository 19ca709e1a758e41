/* elementwise.c: front ends of add, add_inplace, scale, zero, add_relu, and the shared shape check. */
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_ops.h"
#include "cuda/gsg_cuda.h"
#include <stdio.h>
#include <string.h>

static void fmt_expect(char *buf, size_t cap, int ndim, const int64_t *dims, enum gsg_dtype dt, enum gsg_dev dev)
{
    size_t k = 0;
    if (ndim < 0) k += (size_t)snprintf(buf, cap, "any shape");
    else {
        k += (size_t)snprintf(buf + k, cap - k, "[");
        for (int i = 0; i < ndim && k < cap; i++)
            k += dims[i] < 0 ? (size_t)snprintf(buf + k, cap - k, "%s*", i ? "," : "")
                             : (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? "," : "", (long long)dims[i]);
        if (k < cap) k += (size_t)snprintf(buf + k, cap - k, "]");
    }
    if (k < cap) snprintf(buf + k, cap - k, " %s on %s", gsg_dtype_name(dt), gsg_dev_name(dev));
}

gsg_status gsg_ops_check(const char *op, const char *name, const struct gsg_tensor *t, enum gsg_dtype dt,
                         enum gsg_dev dev, const char *ref_name, const struct gsg_tensor *ref, int ndim,
                         const int64_t *dims)
{
    char want[160], have[128], rs[128];
    int ok = t != NULL;
    if (ok) ok = t->dtype == dt && t->dev == dev && (ndim < 0 || t->ndim == ndim);
    for (int i = 0; ok && ndim >= 0 && i < ndim; i++)
        if (dims[i] >= 0 && t->dims[i] != dims[i]) ok = 0;
    if (ok && !t->data && gsg_tensor_numel(t) > 0) {
        return gsg_err_set(GSG_E_SHAPE, "%s: %s has no data", op, name);
    }
    if (ok) return GSG_OK;
    fmt_expect(want, sizeof want, ndim, dims, dt, dev);
    if (!t) snprintf(have, sizeof have, "is missing");
    else {
        char s[96];
        snprintf(have, sizeof have, "%s %s on %s", gsg_shape_str(s, sizeof s, t->ndim, t->dims),
                 gsg_dtype_name(t->dtype), gsg_dev_name(t->dev));
    }
    if (ref && ref != t) {
        char s[96];
        snprintf(rs, sizeof rs, " (with %s %s)", ref_name ? ref_name : "input",
                 gsg_shape_str(s, sizeof s, ref->ndim, ref->dims));
    } else rs[0] = 0;
    return gsg_err_set(GSG_E_SHAPE, "%s: %s %s%s: expected %s", op, name, have, rs, want);
}

gsg_status gsg_ops_check_like(const char *op, const char *name, const struct gsg_tensor *t, const char *ref_name,
                              const struct gsg_tensor *ref)
{
    return gsg_ops_check(op, name, t, GSG_DTYPE_F32, ref->dev, ref_name, ref, ref->ndim, ref->dims);
}

static gsg_status check_base(const char *op, const char *name, const struct gsg_tensor *t)
{
    if (!t) return gsg_err_set(GSG_E_SHAPE, "%s: %s is missing", op, name);
    return gsg_ops_check(op, name, t, GSG_DTYPE_F32, t->dev, NULL, NULL, -1, NULL);
}

gsg_status gsg_add(struct gsg_tensor *y, const struct gsg_tensor *a, const struct gsg_tensor *b)
{
    GSG_TRY(check_base("add", "y", y));
    GSG_TRY(gsg_ops_check_like("add", "a", a, "y", y));
    GSG_TRY(gsg_ops_check_like("add", "b", b, "y", y));
    switch (y->dev) {
    case GSG_DEV_CPU: gsg_cpu_add(y->data, a->data, b->data, gsg_tensor_numel(y)); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_add(y->data, a->data, b->data, gsg_tensor_numel(y));
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "add: unknown device");
}

gsg_status gsg_add_relu(struct gsg_tensor *y, const struct gsg_tensor *a, const struct gsg_tensor *b)
{
    GSG_TRY(check_base("add_relu", "y", y));
    GSG_TRY(gsg_ops_check_like("add_relu", "a", a, "y", y));
    GSG_TRY(gsg_ops_check_like("add_relu", "b", b, "y", y));
    switch (y->dev) {
    case GSG_DEV_CPU: gsg_cpu_add_relu(y->data, a->data, b->data, gsg_tensor_numel(y)); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_add_relu(y->data, a->data, b->data, gsg_tensor_numel(y));
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "add_relu: unknown device");
}

gsg_status gsg_add_inplace(struct gsg_tensor *y, const struct gsg_tensor *a)
{
    GSG_TRY(check_base("add_inplace", "y", y));
    GSG_TRY(gsg_ops_check_like("add_inplace", "a", a, "y", y));
    switch (y->dev) {
    case GSG_DEV_CPU: gsg_cpu_add_inplace(y->data, a->data, gsg_tensor_numel(y)); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_add_inplace(y->data, a->data, gsg_tensor_numel(y));
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "add_inplace: unknown device");
}

gsg_status gsg_scale(struct gsg_tensor *y, float alpha)
{
    GSG_TRY(check_base("scale", "y", y));
    switch (y->dev) {
    case GSG_DEV_CPU: gsg_cpu_scale(y->data, alpha, gsg_tensor_numel(y)); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_scale(y->data, alpha, gsg_tensor_numel(y));
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "scale: unknown device");
}

gsg_status gsg_zero(struct gsg_tensor *y)
{
    if (!y) return gsg_err_set(GSG_E_SHAPE, "zero: y is missing");
    size_t nb = gsg_tensor_nbytes(y);
    if (nb && !y->data) return gsg_err_set(GSG_E_SHAPE, "zero: y has no data");
    if (!nb) return GSG_OK;
    switch (y->dev) {
    case GSG_DEV_CPU: gsg_cpu_zero(y->data, nb); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_memset0(y->data, nb);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "zero: unknown device");
}
