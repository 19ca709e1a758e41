/* cosine.c: front ends of row-wise cosine similarity (eps 1e-8) and L2 normalisation (eps 1e-12). */
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_ops.h"
#include "cuda/gsg_cuda.h"

#define F32 GSG_DTYPE_F32
#define COS_EPS 1e-8f
#define L2_EPS 1e-12f

static gsg_status check_rows(const char *op, const char *name, const struct gsg_tensor *a)
{
    const int64_t any2[2] = {-1, -1};
    if (!a) return gsg_err_set(GSG_E_SHAPE, "%s: %s is missing", op, name);
    return gsg_ops_check(op, name, a, F32, a->dev, NULL, NULL, 2, any2);
}

gsg_status gsg_cosine_fwd(struct gsg_tensor *out, const struct gsg_tensor *a, const struct gsg_tensor *b)
{
    GSG_TRY(check_rows("cosine", "a", a));
    GSG_TRY(gsg_ops_check_like("cosine", "b", b, "a", a));
    GSG_TRY(gsg_ops_check("cosine", "out", out, F32, a->dev, "a", a, 1, a->dims));
    if (a->dims[0] == 0) return GSG_OK;
    switch (a->dev) {
    case GSG_DEV_CPU: gsg_cpu_cosine_fwd(out->data, a->data, b->data, a->dims[0], a->dims[1], COS_EPS); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_cosine_fwd(out->data, a->data, b->data, a->dims[0], a->dims[1], COS_EPS);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "cosine: unknown device");
}

gsg_status gsg_cosine_bwd(struct gsg_tensor *da, struct gsg_tensor *db, const struct gsg_tensor *dout,
                          const struct gsg_tensor *a, const struct gsg_tensor *b)
{
    GSG_TRY(check_rows("cosine", "a", a));
    GSG_TRY(gsg_ops_check_like("cosine", "b", b, "a", a));
    GSG_TRY(gsg_ops_check("cosine", "dout", dout, F32, a->dev, "a", a, 1, a->dims));
    if (da) GSG_TRY(gsg_ops_check_like("cosine", "da", da, "a", a));
    if (db) GSG_TRY(gsg_ops_check_like("cosine", "db", db, "a", a));
    if (a->dims[0] == 0 || (!da && !db)) return GSG_OK;
    switch (a->dev) {
    case GSG_DEV_CPU:
        gsg_cpu_cosine_bwd(da ? da->data : NULL, db ? db->data : NULL, dout->data, a->data, b->data, a->dims[0],
                           a->dims[1], COS_EPS);
        return GSG_OK;
    case GSG_DEV_CUDA:
        return gsg_cuda_cosine_bwd(da ? da->data : NULL, db ? db->data : NULL, dout->data, a->data, b->data, a->dims[0],
                                   a->dims[1], COS_EPS);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "cosine: unknown device");
}

gsg_status gsg_l2norm_fwd(struct gsg_tensor *y, const struct gsg_tensor *x)
{
    GSG_TRY(check_rows("l2norm", "x", x));
    GSG_TRY(gsg_ops_check_like("l2norm", "y", y, "x", x));
    if (x->dims[0] == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU: gsg_cpu_l2norm_fwd(y->data, x->data, x->dims[0], x->dims[1], L2_EPS); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_l2norm_fwd(y->data, x->data, x->dims[0], x->dims[1], L2_EPS);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "l2norm: unknown device");
}

gsg_status gsg_l2norm_bwd(struct gsg_tensor *dx, const struct gsg_tensor *dy, const struct gsg_tensor *x)
{
    GSG_TRY(check_rows("l2norm", "x", x));
    GSG_TRY(gsg_ops_check_like("l2norm", "dy", dy, "x", x));
    GSG_TRY(gsg_ops_check_like("l2norm", "dx", dx, "x", x));
    if (x->dims[0] == 0) return GSG_OK;
    switch (x->dev) {
    case GSG_DEV_CPU: gsg_cpu_l2norm_bwd(dx->data, dy->data, x->data, x->dims[0], x->dims[1], L2_EPS); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_l2norm_bwd(dx->data, dy->data, x->data, x->dims[0], x->dims[1], L2_EPS);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "l2norm: unknown device");
}
