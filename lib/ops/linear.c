/* linear.c: front ends of the linear layer (ops.h): y[N,Out] = x[N,In] w[Out,In]^T (+ b). */
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_ops.h"
#include "cuda/gsg_cuda.h"
#include <limits.h>

#define F32 GSG_DTYPE_F32

static gsg_status check_xw(const struct gsg_tensor *x, const struct gsg_tensor *w, int64_t *N, int64_t *In,
                           int64_t *Out)
{
    const int64_t any2[2] = {-1, -1};
    if (!x) return gsg_err_set(GSG_E_SHAPE, "linear: x is missing");
    GSG_TRY(gsg_ops_check("linear", "x", x, F32, x->dev, NULL, NULL, 2, any2));
    const int64_t wd[2] = {-1, x->dims[1]};
    GSG_TRY(gsg_ops_check("linear", "w", w, F32, x->dev, "x", x, 2, wd));
    *N = x->dims[0];
    *In = x->dims[1];
    *Out = w->dims[0];
    if (*N > INT_MAX || *In > INT_MAX || *Out > INT_MAX || *In < 1 || *Out < 1)
        return gsg_err_set(GSG_E_SHAPE, "linear: x [%lld,%lld] and w [%lld,%lld]: expected 1 <= In, Out and all sizes < 2^31",
                           (long long)*N, (long long)*In, (long long)*Out, (long long)*In);
    return GSG_OK;
}

gsg_status gsg_linear_fwd(struct gsg_tensor *y, const struct gsg_tensor *x, const struct gsg_tensor *w,
                          const struct gsg_tensor *b)
{
    int64_t N = 0, In = 1, Out = 1;
    GSG_TRY(check_xw(x, w, &N, &In, &Out));
    const int64_t yd[2] = {N, Out};
    GSG_TRY(gsg_ops_check("linear", "y", y, F32, x->dev, "w", w, 2, yd));
    if (b) GSG_TRY(gsg_ops_check("linear", "b", b, F32, x->dev, "w", w, 1, &Out));
    if (N == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU: gsg_cpu_linear_fwd(y->data, x->data, w->data, b ? b->data : NULL, N, In, Out); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_linear_fwd(y->data, x->data, w->data, b ? b->data : NULL, N, In, Out);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "linear: unknown device");
}

gsg_status gsg_linear_bwd(struct gsg_tensor *dx, struct gsg_tensor *dw, struct gsg_tensor *db,
                          const struct gsg_tensor *dy, const struct gsg_tensor *x, const struct gsg_tensor *w)
{
    int64_t N = 0, In = 1, Out = 1;
    GSG_TRY(check_xw(x, w, &N, &In, &Out));
    const int64_t yd[2] = {N, Out};
    GSG_TRY(gsg_ops_check("linear", "dy", dy, F32, x->dev, "w", w, 2, yd));
    if (dx) GSG_TRY(gsg_ops_check_like("linear", "dx", dx, "x", x));
    if (dw) GSG_TRY(gsg_ops_check_like("linear", "dw", dw, "w", w));
    if (db) GSG_TRY(gsg_ops_check("linear", "db", db, F32, x->dev, "w", w, 1, &Out));
    if (N == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU:
        gsg_cpu_linear_bwd(dx ? dx->data : NULL, dw ? dw->data : NULL, db ? db->data : NULL, dy->data, x->data,
                           w->data, N, In, Out);
        return GSG_OK;
    case GSG_DEV_CUDA:
        return gsg_cuda_linear_bwd(dx ? dx->data : NULL, dw ? dw->data : NULL, db ? db->data : NULL, dy->data,
                                   x->data, w->data, N, In, Out);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "linear: unknown device");
}
