/* conv2d.c: the conv2d front end (ops.h): descriptor and shape checks, plan creation,
 * dispatch to the CPU kernels of lib/cpu/conv2d.h.
 *
 * Implementation choice per plan: the environment variable GSG_CONV=onednn|im2col forces
 * one. Otherwise, deterministically from the CPU and the layer (tests/bench/NOTES.md):
 * with AVX-512, oneDNN when this build has it (faster on every ResNet layer of a Xeon);
 * without AVX-512 (oneDNN's AVX2 kernels), oneDNN only for narrow layers (Co <= 32, where
 * it won on the AVX2 EPYC dev machine) and im2col + OpenBLAS for wider ones (where im2col
 * ran the CIFAR ResNet-18 convs 1.23x faster on that machine). Falls back to im2col if
 * oneDNN refuses the shape. The rule never depends on timing, so runs stay reproducible.
 *
 * oneDNN 2.6.3's jit_1x1 backward-weights kernel gives wrong dW for strided 1x1 convs on NHWC
 * with more than one thread (found by fuzzing against the reference on AVX2: 2 threads,
 * N=2 H=10 W=8 Ci=1 Co=16 s=2, relative error ~1). Those layers (ResNet's downsample
 * shortcuts, 1 % of the FLOPs) therefore take dW from im2col + OpenBLAS; fwd and dx stay
 * on oneDNN. test_conv2d's fuzz case guards it. */
#include "ops/ops.h"
#include "cpu/conv2d.h"
#include "cuda/gsg_cuda.h"
#include <string.h>

static int cpu_has_avx512(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

enum conv_impl { CONV_ONEDNN, CONV_IM2COL, CONV_CUDA };

struct gsg_conv2d {
    struct gsg_conv2d_desc d;
    int64_t Ho, Wo;
    enum gsg_dev dev;
    enum conv_impl impl;
    struct gsg_cpu_conv2d_dnnl *dnnl;
    struct gsg_cpu_conv2d_im2col *im2col;
    struct gsg_cpu_conv2d_im2col *im2col_dw;   /* dW of strided 1x1 layers under oneDNN (see above) */
    struct gsg_cuda_conv2d *cuda;               /* cuDNN plan (lib/cuda/conv2d.cu) */
};

void gsg_conv2d_out_hw(const struct gsg_conv2d_desc *d, int64_t *Ho, int64_t *Wo)
{
    *Ho = d->stride > 0 ? (d->H + 2 * d->pad - d->K) / d->stride + 1 : 0;
    *Wo = d->stride > 0 ? (d->W + 2 * d->pad - d->K) / d->stride + 1 : 0;
}

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
    switch (dev) {
    case GSG_DEV_CPU: break;
    case GSG_DEV_CUDA: {
        struct gsg_conv2d *p = calloc(1, sizeof *p);
        if (!p) return gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for a plan");
        p->d = *d;
        p->dev = dev;
        p->impl = CONV_CUDA;
        gsg_conv2d_out_hw(d, &p->Ho, &p->Wo);
        gsg_status st = gsg_cuda_conv2d_create(&p->cuda, d);
        if (st != GSG_OK) { free(p); return st; }
        *plan = p;
        return GSG_OK;
    }
    }
    const char *env = getenv("GSG_CONV");
    int want = -1;   /* -1: choose */
    if (env && *env) {
        if (!strcmp(env, "onednn")) want = CONV_ONEDNN;
        else if (!strcmp(env, "im2col")) want = CONV_IM2COL;
        else return gsg_err_set(GSG_E_USAGE, "conv2d: GSG_CONV='%s': expected 'onednn' or 'im2col'", env);
    }
    if (want == -1 && !cpu_has_avx512() && d->Co > 32) want = CONV_IM2COL;
    struct gsg_conv2d *p = calloc(1, sizeof *p);
    if (!p) return gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for a plan");
    p->d = *d;
    p->dev = dev;
    gsg_conv2d_out_hw(d, &p->Ho, &p->Wo);
    gsg_status st = GSG_E_UNSUPPORTED;
    if (want == CONV_ONEDNN || want == -1) {
        st = gsg_cpu_conv2d_dnnl_create(&p->dnnl, d);
        if (st == GSG_OK && d->K == 1 && d->stride > 1) {
            st = gsg_cpu_conv2d_im2col_create(&p->im2col_dw, d);
            if (st != GSG_OK) { gsg_cpu_conv2d_dnnl_destroy(p->dnnl); free(p); return st; }
        }
        if (st == GSG_OK) p->impl = CONV_ONEDNN;
        else if (want == CONV_ONEDNN) { free(p); return st; }
        else gsg_err_clear();
    }
    if (st != GSG_OK) {
        st = gsg_cpu_conv2d_im2col_create(&p->im2col, d);
        if (st != GSG_OK) { free(p); return st; }
        p->impl = CONV_IM2COL;
    }
    *plan = p;
    return GSG_OK;
}

void gsg_conv2d_destroy(struct gsg_conv2d *plan)
{
    if (!plan) return;
    gsg_cpu_conv2d_dnnl_destroy(plan->dnnl);
    gsg_cpu_conv2d_im2col_destroy(plan->im2col);
    gsg_cpu_conv2d_im2col_destroy(plan->im2col_dw);
    gsg_cuda_conv2d_destroy(plan->cuda);
    free(plan);
}

const char *gsg_conv2d_impl(const struct gsg_conv2d *plan)
{
    if (!plan) return "none";
    switch (plan->impl) {
    case CONV_ONEDNN: return "onednn";
    case CONV_IM2COL: return "im2col-openblas";
    case CONV_CUDA: return "cuda";
    }
    return "none";
}

size_t gsg_conv2d_workspace_bytes(const struct gsg_conv2d *plan)
{
    if (!plan) return 0;
    switch (plan->impl) {
    case CONV_ONEDNN:
        return gsg_cpu_conv2d_dnnl_workspace_bytes(plan->dnnl) +
               (plan->im2col_dw ? gsg_cpu_conv2d_im2col_workspace_bytes(plan->im2col_dw) : 0);
    case CONV_IM2COL: return gsg_cpu_conv2d_im2col_workspace_bytes(plan->im2col);
    case CONV_CUDA: return gsg_cuda_conv2d_workspace_bytes(plan->cuda);
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
    switch (p->impl) {
    case CONV_ONEDNN: return gsg_cpu_conv2d_dnnl_fwd(p->dnnl, y->data, x->data, w->data);
    case CONV_IM2COL: gsg_cpu_conv2d_im2col_fwd(p->im2col, y->data, x->data, w->data); return GSG_OK;
    case CONV_CUDA: return gsg_cuda_conv2d_fwd(p->cuda, y->data, x->data, w->data);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: unknown implementation");
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
    switch (p->impl) {
    case CONV_ONEDNN:
        if (!p->im2col_dw) return gsg_cpu_conv2d_dnnl_bwd(p->dnnl, dxp, dwp, dy->data, xp, wp);
        if (dxp) GSG_TRY(gsg_cpu_conv2d_dnnl_bwd(p->dnnl, dxp, NULL, dy->data, xp, wp));
        if (dwp) gsg_cpu_conv2d_im2col_bwd(p->im2col_dw, NULL, dwp, dy->data, xp, wp);
        return GSG_OK;
    case CONV_IM2COL: gsg_cpu_conv2d_im2col_bwd(p->im2col, dxp, dwp, dy->data, xp, wp); return GSG_OK;
    case CONV_CUDA: return gsg_cuda_conv2d_bwd(p->cuda, dxp, dwp, dy->data, xp, wp);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: unknown implementation");
}
