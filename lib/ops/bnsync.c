/* bnsync.c: front ends of batch norm in steps: statistics / (all-reduce) / apply, forward and
 * backward (ops_engine.h). */
#include "ops/ops_engine.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_engine.h"
#include "cuda/gsg_cuda.h"
#include <math.h>

static float *fp(const struct gsg_tensor *t) { return t ? (float *)t->data : NULL; }

/* x: [..., C] f32; sets *M, *C */
static gsg_status check_x(const char *op, const struct gsg_tensor *x, int64_t *M, int64_t *C)
{
    if (!x) return gsg_err_set(GSG_E_SHAPE, "%s: x is missing", op);
    GSG_TRY(gsg_ops_check(op, "x", x, GSG_DTYPE_F32, x->dev, NULL, NULL, -1, NULL));
    if (x->ndim < 1 || x->dims[x->ndim - 1] < 1)
        return gsg_err_set(GSG_E_SHAPE, "%s: x has no channel dimension: expected [..., C] with C >= 1", op);
    *C = x->dims[x->ndim - 1];
    *M = gsg_tensor_numel(x) / *C;
    return GSG_OK;
}

static gsg_status check_vec(const char *op, const char *name, const struct gsg_tensor *t, const struct gsg_tensor *x,
                            int64_t C, int required)
{
    if (!t && !required) return GSG_OK;
    return gsg_ops_check(op, name, t, GSG_DTYPE_F32, x->dev, "x", x, 1, &C);
}

static gsg_status check_sums(const char *op, const struct gsg_tensor *sums, enum gsg_dev dev, int64_t C)
{
    const int64_t n = 2 * C + 1;
    return gsg_ops_check(op, "sums", sums, GSG_DTYPE_F64, dev, NULL, NULL, 1, &n);
}

gsg_status gsg_bn_stats(struct gsg_tensor *sums, const struct gsg_tensor *x, const struct gsg_tensor *shift)
{
    int64_t M = 0, C = 1;
    GSG_TRY(check_x("bn_stats", x, &M, &C));
    GSG_TRY(check_sums("bn_stats", sums, x->dev, C));
    GSG_TRY(check_vec("bn_stats", "shift", shift, x, C, 1));
    switch (x->dev) {
    case GSG_DEV_CPU: return gsg_cpu_bn_stats(sums->data, fp(x), fp(shift), M, C);
    case GSG_DEV_CUDA: return gsg_cuda_bn_stats(sums->data, fp(x), fp(shift), M, C);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "bn_stats: unknown device");
}

gsg_status gsg_bn_finalize(struct gsg_tensor *mean, struct gsg_tensor *invstd, struct gsg_tensor *running_mean,
                           struct gsg_tensor *running_var, const struct gsg_tensor *sums,
                           const struct gsg_tensor *shift, float momentum, float eps)
{
    const char *op = "bn_finalize";
    if (!shift) return gsg_err_set(GSG_E_SHAPE, "%s: shift is missing", op);
    GSG_TRY(gsg_ops_check(op, "shift", shift, GSG_DTYPE_F32, shift->dev, NULL, NULL, -1, NULL));
    if (shift->ndim != 1 || shift->dims[0] < 1)
        return gsg_err_set(GSG_E_SHAPE, "%s: shift has %d dims: expected [C]", op, shift->ndim);
    const int64_t C = shift->dims[0];
    GSG_TRY(check_sums(op, sums, shift->dev, C));
    GSG_TRY(check_vec(op, "mean", mean, shift, C, 1));
    GSG_TRY(check_vec(op, "invstd", invstd, shift, C, 1));
    GSG_TRY(check_vec(op, "running_mean", running_mean, shift, C, 0));
    GSG_TRY(check_vec(op, "running_var", running_var, shift, C, 0));
    if (!(eps > 0) || !isfinite(eps) || !(momentum >= 0 && momentum <= 1))
        return gsg_err_set(GSG_E_USAGE, "%s: eps %g and momentum %g: expected eps > 0 and 0 <= momentum <= 1", op,
                           (double)eps, (double)momentum);
    switch (shift->dev) {
    case GSG_DEV_CPU: {
        const double cnt = ((const double *)sums->data)[2 * C];
        if (!(cnt >= 2))
            return gsg_err_set(GSG_E_SHAPE, "%s: the sums count %g values per channel: expected more than 1", op, cnt);
        gsg_cpu_bn_finalize(fp(mean), fp(invstd), fp(running_mean), fp(running_var), sums->data, fp(shift), C,
                            momentum, eps);
        return GSG_OK;
    }
    case GSG_DEV_CUDA:
        return gsg_cuda_bn_finalize(fp(mean), fp(invstd), fp(running_mean), fp(running_var), sums->data, fp(shift),
                                    C, momentum, eps);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "%s: unknown device", op);
}

gsg_status gsg_bn_apply(struct gsg_tensor *y, const struct gsg_tensor *x, const struct gsg_tensor *mean,
                        const struct gsg_tensor *invstd, const struct gsg_tensor *gamma,
                        const struct gsg_tensor *beta, int relu)
{
    const char *op = "bn_apply";
    int64_t M = 0, C = 1;
    GSG_TRY(check_x(op, x, &M, &C));
    GSG_TRY(gsg_ops_check_like(op, "y", y, "x", x));
    GSG_TRY(check_vec(op, "mean", mean, x, C, 1));
    GSG_TRY(check_vec(op, "invstd", invstd, x, C, 1));
    GSG_TRY(check_vec(op, "gamma", gamma, x, C, 0));
    GSG_TRY(check_vec(op, "beta", beta, x, C, 0));
    if (M == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU: gsg_cpu_bn_apply(fp(y), fp(x), fp(mean), fp(invstd), fp(gamma), fp(beta), M, C, relu != 0); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_bn_apply(fp(y), fp(x), fp(mean), fp(invstd), fp(gamma), fp(beta), M, C, relu != 0);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "%s: unknown device", op);
}

gsg_status gsg_bn_bwd_stats(struct gsg_tensor *sums, struct gsg_tensor *dgamma, struct gsg_tensor *dbeta,
                            const struct gsg_tensor *dy, const struct gsg_tensor *relu_y, const struct gsg_tensor *x,
                            const struct gsg_tensor *mean, const struct gsg_tensor *invstd)
{
    const char *op = "bn_bwd_stats";
    int64_t M = 0, C = 1;
    GSG_TRY(check_x(op, x, &M, &C));
    GSG_TRY(check_sums(op, sums, x->dev, C));
    GSG_TRY(gsg_ops_check_like(op, "dy", dy, "x", x));
    if (relu_y) GSG_TRY(gsg_ops_check_like(op, "relu_y", relu_y, "x", x));
    GSG_TRY(check_vec(op, "dgamma", dgamma, x, C, 0));
    GSG_TRY(check_vec(op, "dbeta", dbeta, x, C, 0));
    GSG_TRY(check_vec(op, "mean", mean, x, C, 1));
    GSG_TRY(check_vec(op, "invstd", invstd, x, C, 1));
    switch (x->dev) {
    case GSG_DEV_CPU:
        return gsg_cpu_bn_bwd_stats(sums->data, fp(dgamma), fp(dbeta), fp(dy), fp(relu_y), fp(x), fp(mean),
                                    fp(invstd), M, C);
    case GSG_DEV_CUDA:
        return gsg_cuda_bn_bwd_stats(sums->data, fp(dgamma), fp(dbeta), fp(dy), fp(relu_y), fp(x), fp(mean),
                                     fp(invstd), M, C);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "%s: unknown device", op);
}

gsg_status gsg_bn_bwd_apply(struct gsg_tensor *dx, const struct gsg_tensor *dy, const struct gsg_tensor *relu_y,
                            const struct gsg_tensor *x, const struct gsg_tensor *gamma, const struct gsg_tensor *mean,
                            const struct gsg_tensor *invstd, const struct gsg_tensor *sums)
{
    const char *op = "bn_bwd_apply";
    int64_t M = 0, C = 1;
    GSG_TRY(check_x(op, x, &M, &C));
    GSG_TRY(gsg_ops_check_like(op, "dx", dx, "x", x));
    GSG_TRY(gsg_ops_check_like(op, "dy", dy, "x", x));
    if (relu_y) GSG_TRY(gsg_ops_check_like(op, "relu_y", relu_y, "x", x));
    GSG_TRY(check_vec(op, "gamma", gamma, x, C, 0));
    GSG_TRY(check_vec(op, "mean", mean, x, C, 1));
    GSG_TRY(check_vec(op, "invstd", invstd, x, C, 1));
    GSG_TRY(check_sums(op, sums, x->dev, C));
    if (M == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU:
        gsg_cpu_bn_bwd_apply(fp(dx), fp(dy), fp(relu_y), fp(x), fp(gamma), fp(mean), fp(invstd), sums->data, M, C);
        return GSG_OK;
    case GSG_DEV_CUDA:
        return gsg_cuda_bn_bwd_apply(fp(dx), fp(dy), fp(relu_y), fp(x), fp(gamma), fp(mean), fp(invstd), sums->data,
                                     M, C);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "%s: unknown device", op);
}
