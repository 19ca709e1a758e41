/* optim.c: front ends of the SGD update and the EMA (ops_engine.h). */
#include "ops/ops_engine.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_engine.h"
#include "cuda/gsg_cuda.h"
#include <math.h>

/* a, b: f32, same device as ref and the same number of elements */
static gsg_status same_numel(const char *op, const char *name, const struct gsg_tensor *t, const char *rname,
                             const struct gsg_tensor *ref)
{
    GSG_TRY(gsg_ops_check(op, name, t, GSG_DTYPE_F32, ref->dev, rname, ref, -1, NULL));
    if (gsg_tensor_numel(t) != gsg_tensor_numel(ref))
        return gsg_err_set(GSG_E_SHAPE, "%s: %s has %lld elements, %s has %lld: expected the same", op, name,
                           (long long)gsg_tensor_numel(t), rname, (long long)gsg_tensor_numel(ref));
    return GSG_OK;
}

gsg_status gsg_op_sgd(struct gsg_tensor *w, struct gsg_tensor *m, const struct gsg_tensor *g, double lr,
                      double momentum, double weight_decay)
{
    if (!w) return gsg_err_set(GSG_E_SHAPE, "sgd: w is missing");
    GSG_TRY(gsg_ops_check("sgd", "w", w, GSG_DTYPE_F32, w->dev, NULL, NULL, -1, NULL));
    GSG_TRY(same_numel("sgd", "m", m, "w", w));
    GSG_TRY(same_numel("sgd", "g", g, "w", w));
    if (!isfinite(lr) || !isfinite(momentum) || !isfinite(weight_decay))
        return gsg_err_set(GSG_E_NUMERIC, "sgd: lr %g, momentum %g, weight decay %g: expected finite values", lr,
                           momentum, weight_decay);
    int64_t n = gsg_tensor_numel(w);
    if (n == 0) return GSG_OK;
    switch (w->dev) {
    case GSG_DEV_CPU:
        gsg_cpu_sgd(w->data, m->data, g->data, n, (float)lr, (float)momentum, (float)weight_decay);
        return GSG_OK;
    case GSG_DEV_CUDA:
        return gsg_cuda_sgd(w->data, m->data, g->data, n, (float)lr, (float)momentum, (float)weight_decay);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "sgd: unknown device");
}

gsg_status gsg_op_ema(struct gsg_tensor *x, const struct gsg_tensor *src, double tau)
{
    if (!x) return gsg_err_set(GSG_E_SHAPE, "ema: x is missing");
    GSG_TRY(gsg_ops_check("ema", "x", x, GSG_DTYPE_F32, x->dev, NULL, NULL, -1, NULL));
    GSG_TRY(same_numel("ema", "src", src, "x", x));
    if (!(tau >= 0 && tau <= 1))
        return gsg_err_set(GSG_E_USAGE, "ema: momentum %g: expected 0 <= tau <= 1", tau);
    const float a = (float)tau, b = (float)(1.0 - tau);
    int64_t n = gsg_tensor_numel(x);
    if (n == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU: gsg_cpu_ema(x->data, src->data, n, a, b); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_ema(x->data, src->data, n, a, b);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "ema: unknown device");
}
