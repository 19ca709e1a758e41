/* batchnorm.c: front ends of batch norm over [M,C] (ops.h) and the fused BN+ReLU (ops_extra.h). */
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_ops.h"
#include "cuda/gsg_cuda.h"
#include <math.h>

#define F32 GSG_DTYPE_F32

static float *fp(const struct gsg_tensor *t) { return t ? (float *)t->data : NULL; }

/* a [C] vector, optional */
static gsg_status check_vec(const char *op, const char *name, const struct gsg_tensor *t, const struct gsg_tensor *x,
                            int64_t C, int required)
{
    if (!t && !required) return GSG_OK;
    return gsg_ops_check(op, name, t, F32, x->dev, "x", x, 1, &C);
}

static gsg_status fwd_check(const char *op, struct gsg_tensor *y, struct gsg_tensor *save_mean,
                            struct gsg_tensor *save_invstd, const struct gsg_tensor *x,
                            const struct gsg_tensor *gamma, const struct gsg_tensor *beta,
                            struct gsg_tensor *running_mean, struct gsg_tensor *running_var, int training,
                            float momentum, float eps, int64_t *M, int64_t *C)
{
    if (!x) return gsg_err_set(GSG_E_SHAPE, "%s: x is missing", op);
    GSG_TRY(gsg_ops_check(op, "x", x, F32, x->dev, NULL, NULL, -1, NULL));
    if (x->ndim < 1 || x->dims[x->ndim - 1] < 1)
        return gsg_err_set(GSG_E_SHAPE, "%s: x has no channel dimension: expected [..., C] with C >= 1", op);
    GSG_TRY(gsg_ops_check_like(op, "y", y, "x", x));
    *C = x->dims[x->ndim - 1];
    *M = gsg_tensor_numel(x) / *C;
    GSG_TRY(check_vec(op, "gamma", gamma, x, *C, 0));
    GSG_TRY(check_vec(op, "beta", beta, x, *C, 0));
    GSG_TRY(check_vec(op, "save_mean", save_mean, x, *C, 0));
    GSG_TRY(check_vec(op, "save_invstd", save_invstd, x, *C, 0));
    GSG_TRY(check_vec(op, "running_mean", running_mean, x, *C, !training));
    GSG_TRY(check_vec(op, "running_var", running_var, x, *C, !training));
    if (!(eps > 0) || !isfinite(eps) || !(momentum >= 0 && momentum <= 1))
        return gsg_err_set(GSG_E_USAGE, "%s: eps %g and momentum %g: expected eps > 0 and 0 <= momentum <= 1", op,
                           (double)eps, (double)momentum);
    if (training && *M < 2)
        return gsg_err_set(GSG_E_SHAPE, "%s: x has %lld value per channel: expected more than 1 when training", op,
                           (long long)*M);
    return GSG_OK;
}

static gsg_status fwd(const char *op, int relu, struct gsg_tensor *y, struct gsg_tensor *save_mean,
                      struct gsg_tensor *save_invstd, const struct gsg_tensor *x, const struct gsg_tensor *gamma,
                      const struct gsg_tensor *beta, struct gsg_tensor *running_mean,
                      struct gsg_tensor *running_var, int training, float momentum, float eps)
{
    int64_t M = 0, C = 1;
    GSG_TRY(fwd_check(op, y, save_mean, save_invstd, x, gamma, beta, running_mean, running_var, training, momentum,
                      eps, &M, &C));
    if (M == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU:
        return (relu ? gsg_cpu_batchnorm_relu_fwd : gsg_cpu_batchnorm_fwd)(
            fp(y), fp(save_mean), fp(save_invstd), fp(x), fp(gamma), fp(beta), fp(running_mean), fp(running_var), M,
            C, training, momentum, eps);
    case GSG_DEV_CUDA:
        return gsg_cuda_batchnorm_fwd(fp(y), fp(save_mean), fp(save_invstd), fp(x), fp(gamma), fp(beta),
                                      fp(running_mean), fp(running_var), M, C, training, momentum, eps, relu);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "%s: unknown device", op);
}

gsg_status gsg_batchnorm_fwd(struct gsg_tensor *y, struct gsg_tensor *save_mean, struct gsg_tensor *save_invstd,
                             const struct gsg_tensor *x, const struct gsg_tensor *gamma, const struct gsg_tensor *beta,
                             struct gsg_tensor *running_mean, struct gsg_tensor *running_var, int training,
                             float momentum, float eps)
{
    return fwd("batchnorm", 0, y, save_mean, save_invstd, x, gamma, beta, running_mean, running_var, training,
               momentum, eps);
}

gsg_status gsg_batchnorm_relu_fwd(struct gsg_tensor *y, struct gsg_tensor *save_mean, struct gsg_tensor *save_invstd,
                                  const struct gsg_tensor *x, const struct gsg_tensor *gamma,
                                  const struct gsg_tensor *beta, struct gsg_tensor *running_mean,
                                  struct gsg_tensor *running_var, int training, float momentum, float eps)
{
    return fwd("batchnorm_relu", 1, y, save_mean, save_invstd, x, gamma, beta, running_mean, running_var, training,
               momentum, eps);
}

static gsg_status bwd(const char *op, struct gsg_tensor *dx, struct gsg_tensor *dgamma, struct gsg_tensor *dbeta,
                      const struct gsg_tensor *dy, const struct gsg_tensor *y, const struct gsg_tensor *x,
                      const struct gsg_tensor *gamma, const struct gsg_tensor *save_mean,
                      const struct gsg_tensor *save_invstd)
{
    if (!x) return gsg_err_set(GSG_E_SHAPE, "%s: x is missing", op);
    GSG_TRY(gsg_ops_check(op, "x", x, F32, x->dev, NULL, NULL, -1, NULL));
    if (x->ndim < 1 || x->dims[x->ndim - 1] < 1)
        return gsg_err_set(GSG_E_SHAPE, "%s: x has no channel dimension: expected [..., C] with C >= 1", op);
    GSG_TRY(gsg_ops_check_like(op, "dx", dx, "x", x));
    GSG_TRY(gsg_ops_check_like(op, "dy", dy, "x", x));
    if (y) GSG_TRY(gsg_ops_check_like(op, "y", y, "x", x));
    int64_t C = x->dims[x->ndim - 1], M = gsg_tensor_numel(x) / C;
    GSG_TRY(check_vec(op, "dgamma", dgamma, x, C, 0));
    GSG_TRY(check_vec(op, "dbeta", dbeta, x, C, 0));
    GSG_TRY(check_vec(op, "gamma", gamma, x, C, 0));
    GSG_TRY(check_vec(op, "save_mean", save_mean, x, C, 1));
    GSG_TRY(check_vec(op, "save_invstd", save_invstd, x, C, 1));
    if (M == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU:
        return gsg_cpu_batchnorm_bwd(fp(dx), fp(dgamma), fp(dbeta), fp(dy), fp(y), fp(x), fp(gamma), fp(save_mean),
                                     fp(save_invstd), M, C);
    case GSG_DEV_CUDA:
        return gsg_cuda_batchnorm_bwd(fp(dx), fp(dgamma), fp(dbeta), fp(dy), fp(y), fp(x), fp(gamma), fp(save_mean),
                                      fp(save_invstd), M, C);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "%s: unknown device", op);
}

gsg_status gsg_batchnorm_bwd(struct gsg_tensor *dx, struct gsg_tensor *dgamma, struct gsg_tensor *dbeta,
                             const struct gsg_tensor *dy, const struct gsg_tensor *x, const struct gsg_tensor *gamma,
                             const struct gsg_tensor *save_mean, const struct gsg_tensor *save_invstd)
{
    return bwd("batchnorm", dx, dgamma, dbeta, dy, NULL, x, gamma, save_mean, save_invstd);
}

gsg_status gsg_batchnorm_relu_bwd(struct gsg_tensor *dx, struct gsg_tensor *dgamma, struct gsg_tensor *dbeta,
                                  const struct gsg_tensor *dy, const struct gsg_tensor *y, const struct gsg_tensor *x,
                                  const struct gsg_tensor *gamma, const struct gsg_tensor *save_mean,
                                  const struct gsg_tensor *save_invstd)
{
    if (!y) return gsg_err_set(GSG_E_SHAPE, "batchnorm_relu: y is missing");
    return bwd("batchnorm_relu", dx, dgamma, dbeta, dy, y, x, gamma, save_mean, save_invstd);
}
