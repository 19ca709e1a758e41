/* conv2d.c: the conv2d front end (ops.h): descriptor and shape checks, plan creation, and the
 * dispatch on the plan's device. Which CPU kernel a layer uses (oneDNN or im2col + OpenBLAS, the
 * GSG_CONV override, the oneDNN strided-1x1 dW workaround) is the CPU backend's business:
 * lib/cpu/conv2d.c. */
#include "ops/ops.h"
#include "cpu/conv2d.h"
#include "cuda/gsg_cuda.h"
#include <string.h>

struct gsg_conv2d {
    struct gsg_conv2d_desc d;
    int64_t Ho, Wo;
    enum gsg_dev dev;
    struct gsg_cpu_conv2d *cpu;   /* GSG_DEV_CPU */
    struct gsg_cuda_conv2d *cuda; /* GSG_DEV_CUDA: cuDNN plan (lib/cuda/conv2d.cu) */
};

static gsg_status check_desc(const struct gsg_conv2d_desc *d)
{
    const int64_t lim = (int64_t)1 << 30;
    if (d->N < 1 || d->H < 1 || d->W < 1 || d->Ci < 1 || d->Co < 1 || d->K < 1 || d->stride < 1 || d->pad < 0 ||
        d->N > lim || d->H > lim || d->W > lim || d->Ci > lim || d->Co > lim || d->K > 64 || d->stride > 64 ||
        d->pad >= d->K)
        return gsg_err_set(GSG_E_SHAPE,
                           "conv2d: invalid descriptor N=%lld H=%lld W=%lld Ci=%lld Co=%lld K=%lld stride=%lld "
                           "pad=%lld: expected sizes >= 1, K and stride <= 64, 0 <= pad < K",
                           (long long)d->N, (long long)d->H, (long long)d->W, (long long)d->Ci, (long long)d->Co,
                           (long long)d->K, (long long)d->stride, (long long)d->pad);
    if (d->H + 2 * d->pad < d->K || d->W + 2 * d->pad < d->K)
        return gsg_err_set(GSG_E_SHAPE, "conv2d: kernel %lld is larger than the padded input %lldx%lld",
                           (long long)d->K, (long long)(d->H + 2 * d->pad), (long long)(d->W + 2 * d->pad));
    /* every kernel indexes with int in places (sgemm dims): keep all products in range */
    int64_t Ho, Wo;
    gsg_conv2d_out_hw(d, &Ho, &Wo);
    double big = (double)d->N * (double)(d->H * d->W > Ho * Wo ? d->H * d->W : Ho * Wo) *
                 (double)(d->Ci * d->K * d->K > d->Co ? d->Ci * d->K * d->K : d->Co);
    if (big > 9.0e15 || (double)d->Co * d->Ci * d->K * d->K > 2.0e9)
        return gsg_err_set(GSG_E_SHAPE, "conv2d: layer too large (N*H*W*Ci*K*K = %.3g)", big);
    return GSG_OK;
}

gsg_status gsg_conv2d_create(struct gsg_conv2d **plan, enum gsg_dev dev, const struct gsg_conv2d_desc *d)
{
    *plan = NULL;
    GSG_TRY(check_desc(d));
    struct gsg_conv2d *p = calloc(1, sizeof *p);
    if (!p) return gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for a plan");
    p->d = *d;
    p->dev = dev;
    gsg_conv2d_out_hw(d, &p->Ho, &p->Wo);
    gsg_status st = GSG_OK;
    switch (dev) {
    case GSG_DEV_CPU: st = gsg_cpu_conv2d_create(&p->cpu, d, gsg_precision_get() == GSG_PREC_BF16); break;
    case GSG_DEV_CUDA: st = gsg_cuda_conv2d_create(&p->cuda, d); break;
    }
    if (st < 0) { free(p); return st; }
    *plan = p;
    return GSG_OK;
}

void gsg_conv2d_destroy(struct gsg_conv2d *plan)
{
    if (!plan) return;
    switch (plan->dev) {
    case GSG_DEV_CPU: gsg_cpu_conv2d_destroy(plan->cpu); break;
    case GSG_DEV_CUDA: gsg_cuda_conv2d_destroy(plan->cuda); break;
    }
    free(plan);
}

const char *gsg_conv2d_impl(const struct gsg_conv2d *plan)
{
    if (!plan) return "none";
    switch (plan->dev) {
    case GSG_DEV_CPU: return gsg_cpu_conv2d_impl(plan->cpu);
    case GSG_DEV_CUDA: return "cuda";
    }
    return "none";
}

size_t gsg_conv2d_workspace_bytes(const struct gsg_conv2d *plan)
{
    if (!plan) return 0;
    switch (plan->dev) {
    case GSG_DEV_CPU: return gsg_cpu_conv2d_workspace_bytes(plan->cpu);
    case GSG_DEV_CUDA: return gsg_cuda_conv2d_workspace_bytes(plan->cuda);
    }
    return 0;
}

/* t must be a contiguous f32 tensor on the plan's device with dims (a,b,c,d). */
static gsg_status check_t(const struct gsg_conv2d *p, const struct gsg_tensor *t, const char *what, int64_t a,
                          int64_t b, int64_t c, int64_t e)
{
    int64_t want[4] = {a, b, c, e};
    char s1[96], s2[96];
    if (!t || !t->data) return gsg_err_set(GSG_E_SHAPE, "conv2d: %s is missing", what);
    if (t->dtype != GSG_DTYPE_F32)
        return gsg_err_set(GSG_E_SHAPE, "conv2d: %s dtype %s, expected f32", what, gsg_dtype_name(t->dtype));
    if (t->dev != p->dev)
        return gsg_err_set(GSG_E_SHAPE, "conv2d: %s is on %s, expected %s", what, gsg_dev_name(t->dev),
                           gsg_dev_name(p->dev));
    if (t->ndim != 4 || memcmp(t->dims, want, sizeof want))
        return gsg_err_set(GSG_E_SHAPE, "conv2d: %s shape %s, expected %s", what,
                           gsg_shape_str(s1, sizeof s1, t->ndim, t->dims), gsg_shape_str(s2, sizeof s2, 4, want));
    return GSG_OK;
}

#define CHECK_X(t, name) check_t(p, t, name, d->N, d->H, d->W, d->Ci)
#define CHECK_Y(t, name) check_t(p, t, name, d->N, p->Ho, p->Wo, d->Co)
#define CHECK_W(t, name) check_t(p, t, name, d->Co, d->Ci, d->K, d->K)

gsg_status gsg_conv2d_fwd(struct gsg_conv2d *p, struct gsg_tensor *y, const struct gsg_tensor *x,
                          const struct gsg_tensor *w)
{
    if (!p) return gsg_err_set(GSG_E_USAGE, "conv2d: no plan");
    const struct gsg_conv2d_desc *d = &p->d;
    GSG_TRY(CHECK_Y(y, "y"));
    GSG_TRY(CHECK_X(x, "x"));
    GSG_TRY(CHECK_W(w, "w"));
    switch (p->dev) {
    case GSG_DEV_CPU: return gsg_cpu_conv2d_fwd(p->cpu, y->data, x->data, w->data);
    case GSG_DEV_CUDA: return gsg_cuda_conv2d_fwd(p->cuda, y->data, x->data, w->data);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: unknown device");
}

gsg_status gsg_conv2d_bwd(struct gsg_conv2d *p, struct gsg_tensor *dx, struct gsg_tensor *dw,
                          const struct gsg_tensor *dy, const struct gsg_tensor *x, const struct gsg_tensor *w)
{
    if (!p) return gsg_err_set(GSG_E_USAGE, "conv2d: no plan");
    const struct gsg_conv2d_desc *d = &p->d;
    GSG_TRY(CHECK_Y(dy, "dy"));
    if (dx) GSG_TRY(CHECK_X(dx, "dx"));
    if (dw) GSG_TRY(CHECK_W(dw, "dw"));
    if (dw) GSG_TRY(CHECK_X(x, "x"));
    if (dx) GSG_TRY(CHECK_W(w, "w"));
    float *dxp = dx ? dx->data : NULL, *dwp = dw ? dw->data : NULL;
    const float *xp = x ? x->data : NULL, *wp = w ? w->data : NULL;
    switch (p->dev) {
    case GSG_DEV_CPU: return gsg_cpu_conv2d_bwd(p->cpu, dxp, dwp, dy->data, xp, wp);
    case GSG_DEV_CUDA: return gsg_cuda_conv2d_bwd(p->cuda, dxp, dwp, dy->data, xp, wp);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: unknown device");
}
