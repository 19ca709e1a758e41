/* views.c: front end of the input conversion of one view of a u8 view batch (ops_engine.h). */
#include "ops/ops_engine.h"
#include "ops/ops_extra.h"
#include "cpu/cpu_engine.h"
#include "cuda/gsg_cuda.h"
#include <math.h>

#define MAXC 64

gsg_status gsg_op_views_to_f32(struct gsg_tensor *y, const struct gsg_tensor *views, int64_t v,
                               const struct gsg_tensor *rows, const float *mean, const float *std)
{
    const char *op = "views_to_f32";
    if (!views) return gsg_err_set(GSG_E_SHAPE, "%s: views is missing", op);
    GSG_TRY(gsg_ops_check(op, "views", views, GSG_DTYPE_U8, views->dev, NULL, NULL, -1, NULL));
    if (views->ndim != 4 && views->ndim != 5)
        return gsg_err_set(GSG_E_SHAPE, "%s: views has %d dims: expected [N,V,C,H,W] or [N,C,H,W]", op, views->ndim);
    const int five = views->ndim == 5;
    const int64_t N = views->dims[0], V = five ? views->dims[1] : 1, C = views->dims[five ? 2 : 1],
                  H = views->dims[five ? 3 : 2], W = views->dims[five ? 4 : 3];
    if (v < 0 || v >= V)
        return gsg_err_set(GSG_E_SHAPE, "%s: view %lld: expected 0..%lld", op, (long long)v, (long long)(V - 1));
    if (C > MAXC) return gsg_err_set(GSG_E_SHAPE, "%s: views have %lld channels: expected at most %d", op, (long long)C, MAXC);
    const int64_t yd[4] = {-1, H, W, C};
    GSG_TRY(gsg_ops_check(op, "y", y, GSG_DTYPE_F32, views->dev, "views", views, 4, yd));
    const int64_t Ny = y->dims[0];
    if (rows) {
        GSG_TRY(gsg_ops_check(op, "rows", rows, GSG_DTYPE_I64, views->dev, "y", y, 1, &Ny));
    } else if (Ny > N) {
        return gsg_err_set(GSG_E_SHAPE, "%s: y has %lld rows, views %lld: expected at most as many", op,
                           (long long)Ny, (long long)N);
    }
    if (!mean || !std) return gsg_err_set(GSG_E_USAGE, "%s: mean and std are required", op);
    for (int64_t c = 0; c < C; c++)
        if (!isfinite(mean[c]) || !isfinite(std[c]) || !(fabsf(std[c]) > 0))
            return gsg_err_set(GSG_E_USAGE, "%s: channel %lld has mean %g std %g: expected finite, std != 0", op,
                               (long long)c, (double)mean[c], (double)std[c]);
    if (Ny == 0 || C * H * W == 0) return GSG_OK;
    const int64_t *rp = rows ? rows->data : NULL;
    switch (views->dev) {
    case GSG_DEV_CPU:
        /* the rows are host memory here: check them (on CUDA the producer is trusted) */
        for (int64_t n = 0; rp && n < Ny; n++)
            if (rp[n] < 0 || rp[n] >= N)
                return gsg_err_set(GSG_E_SHAPE, "%s: rows[%lld] = %lld: expected 0..%lld", op, (long long)n,
                                   (long long)rp[n], (long long)(N - 1));
        gsg_cpu_views_to_f32(y->data, views->data, rp, mean, std, Ny, V, C, H, W, v);
        return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_views_to_f32(y->data, views->data, rp, mean, std, Ny, V, C, H, W, v);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "%s: unknown device", op);
}
