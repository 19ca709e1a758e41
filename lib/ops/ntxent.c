/* ntxent.c: front ends of the NT-Xent loss (SimCLR's; ops.h). */
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_ops.h"
#include "cuda/gsg_cuda.h"
#include <math.h>

#define F32 GSG_DTYPE_F32

/* u [M,D] with M >= 2; R = rows of the anchors' block: even, >= 2, dividing M; block in 0..M/R-1; tau > 0;
 * work [R,M]; all f32 on u's device. */
static gsg_status check_common(const char *dir, const struct gsg_tensor *u, int64_t R, const struct gsg_tensor *work,
                               int64_t block, double tau)
{
    const int64_t any2[2] = {-1, -1};
    if (!u) return gsg_err_set(GSG_E_SHAPE, "ntxent %s: u is missing", dir);
    GSG_TRY(gsg_ops_check("ntxent", "u", u, F32, u->dev, NULL, NULL, 2, any2));
    const int64_t M = u->dims[0];
    if (R < 2 || R % 2 || M % R)
        return gsg_err_set(GSG_E_SHAPE, "ntxent %s: blocks of %lld rows in u [%lld,%lld]: expected an even block size "
                           ">= 2 that divides the %lld rows", dir, (long long)R, (long long)M, (long long)u->dims[1],
                           (long long)M);
    if (block < 0 || block >= M / R)
        return gsg_err_set(GSG_E_SHAPE, "ntxent %s: block %lld of %lld (u has %lld rows in blocks of %lld)", dir,
                           (long long)block, (long long)(M / R), (long long)M, (long long)R);
    if (!(tau > 0) || !isfinite(tau))
        return gsg_err_set(GSG_E_USAGE, "ntxent %s: temperature %g, expected a finite value > 0", dir, tau);
    const int64_t wd[2] = {R, M};
    return gsg_ops_check("ntxent", "work", work, F32, u->dev, NULL, NULL, 2, wd);
}

gsg_status gsg_ntxent_fwd(struct gsg_tensor *loss, struct gsg_tensor *lse, struct gsg_tensor *work,
                          const struct gsg_tensor *u, int64_t block, double tau)
{
    const int64_t any1[1] = {-1};
    if (!u) return gsg_err_set(GSG_E_SHAPE, "ntxent fwd: u is missing");
    GSG_TRY(gsg_ops_check("ntxent", "loss", loss, F32, u->dev, NULL, NULL, 1, any1));
    const int64_t R = loss->dims[0];
    GSG_TRY(gsg_ops_check_like("ntxent", "lse", lse, "loss", loss));
    GSG_TRY(check_common("fwd", u, R, work, block, tau));
    const int64_t M = u->dims[0], D = u->dims[1];
    switch (u->dev) {
    case GSG_DEV_CPU: gsg_cpu_ntxent_fwd(loss->data, lse->data, work->data, u->data, M, D, R, block, tau); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_ntxent_fwd(loss->data, lse->data, work->data, u->data, M, D, R, block, tau);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "ntxent: unknown device");
}

gsg_status gsg_ntxent_bwd(struct gsg_tensor *du, struct gsg_tensor *work, const struct gsg_tensor *dloss,
                          const struct gsg_tensor *u, const struct gsg_tensor *lse, int64_t block, double tau)
{
    const int64_t any2[2] = {-1, -1};
    if (!u) return gsg_err_set(GSG_E_SHAPE, "ntxent bwd: u is missing");
    GSG_TRY(gsg_ops_check("ntxent", "du", du, F32, u->dev, NULL, NULL, 2, any2));
    const int64_t R = du->dims[0];
    GSG_TRY(check_common("bwd", u, R, work, block, tau));
    const int64_t M = u->dims[0], D = u->dims[1], dd[2] = {R, D}, md[1] = {M};
    GSG_TRY(gsg_ops_check("ntxent", "du", du, F32, u->dev, "u", u, 2, dd));
    GSG_TRY(gsg_ops_check("ntxent", "dloss", dloss, F32, u->dev, "u", u, 1, md));
    GSG_TRY(gsg_ops_check("ntxent", "lse", lse, F32, u->dev, "u", u, 1, md));
    switch (u->dev) {
    case GSG_DEV_CPU:
        gsg_cpu_ntxent_bwd(du->data, work->data, dloss->data, u->data, lse->data, M, D, R, block, tau);
        return GSG_OK;
    case GSG_DEV_CUDA:
        return gsg_cuda_ntxent_bwd(du->data, work->data, dloss->data, u->data, lse->data, M, D, R, block, tau);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "ntxent: unknown device");
}
