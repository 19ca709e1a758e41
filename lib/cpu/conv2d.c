/* conv2d.c: the CPU convolution plan: which kernel a layer uses, and the dispatch to it.
 *
 * Implementation choice per plan: the environment variable GSG_CONV=onednn|im2col forces one.
 * Otherwise, deterministically from the CPU and the layer (tests/bench/NOTES.md): with AVX-512,
 * oneDNN when this build has it (faster on every ResNet layer of a Xeon); without AVX-512 (oneDNN's
 * AVX2 kernels), oneDNN only for narrow layers (Co <= 32, where it won on the AVX2 EPYC dev machine)
 * and im2col + OpenBLAS for wider ones (where im2col ran the CIFAR ResNet-18 convs 1.23x faster on
 * that machine). Falls back to im2col if oneDNN refuses the shape. The rule never depends on
 * timing, so runs stay reproducible.
 *
 * oneDNN 2.6.3's jit_1x1 backward-weights kernel gives wrong dW for strided 1x1 convs on NHWC with
 * more than one thread (found by fuzzing against the reference on AVX2: 2 threads, N=2 H=10 W=8
 * Ci=1 Co=16 s=2, relative error ~1). Those layers (ResNet's downsample shortcuts, 1 % of the
 * FLOPs) therefore take dW from im2col + OpenBLAS; fwd and dx stay on oneDNN. test_conv2d's fuzz
 * case guards it. */
#include "cpu/conv2d.h"
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

enum cpu_conv_impl { CONV_ONEDNN, CONV_IM2COL };

struct gsg_cpu_conv2d {
    enum cpu_conv_impl impl;
    struct gsg_cpu_conv2d_dnnl *dnnl;
    struct gsg_cpu_conv2d_im2col *im2col;
    struct gsg_cpu_conv2d_im2col *im2col_dw;   /* dW of strided 1x1 layers under oneDNN (see above) */
};

gsg_status gsg_cpu_conv2d_create(struct gsg_cpu_conv2d **out, const struct gsg_conv2d_desc *d)
{
    *out = NULL;
    const char *env = getenv("GSG_CONV");
    int want = -1;   /* -1: choose */
    if (env && *env) {
        if (!strcmp(env, "onednn")) want = CONV_ONEDNN;
        else if (!strcmp(env, "im2col")) want = CONV_IM2COL;
        else return gsg_err_set(GSG_E_USAGE, "conv2d: GSG_CONV='%s': expected 'onednn' or 'im2col'", env);
    }
    if (want == -1 && !cpu_has_avx512() && d->Co > 32) want = CONV_IM2COL;
    struct gsg_cpu_conv2d *p = calloc(1, sizeof *p);
    if (!p) return gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for a plan");
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
    *out = p;
    return GSG_OK;
}

void gsg_cpu_conv2d_destroy(struct gsg_cpu_conv2d *p)
{
    if (!p) return;
    gsg_cpu_conv2d_dnnl_destroy(p->dnnl);
    gsg_cpu_conv2d_im2col_destroy(p->im2col);
    gsg_cpu_conv2d_im2col_destroy(p->im2col_dw);
    free(p);
}

const char *gsg_cpu_conv2d_impl(const struct gsg_cpu_conv2d *p)
{
    switch (p->impl) {
    case CONV_ONEDNN: return "onednn";
    case CONV_IM2COL: return "im2col-openblas";
    }
    return "none";
}

size_t gsg_cpu_conv2d_workspace_bytes(const struct gsg_cpu_conv2d *p)
{
    switch (p->impl) {
    case CONV_ONEDNN:
        return gsg_cpu_conv2d_dnnl_workspace_bytes(p->dnnl) +
               (p->im2col_dw ? gsg_cpu_conv2d_im2col_workspace_bytes(p->im2col_dw) : 0);
    case CONV_IM2COL: return gsg_cpu_conv2d_im2col_workspace_bytes(p->im2col);
    }
    return 0;
}

gsg_status gsg_cpu_conv2d_fwd(struct gsg_cpu_conv2d *p, float *y, const float *x, const float *w)
{
    switch (p->impl) {
    case CONV_ONEDNN: return gsg_cpu_conv2d_dnnl_fwd(p->dnnl, y, x, w);
    case CONV_IM2COL: gsg_cpu_conv2d_im2col_fwd(p->im2col, y, x, w); return GSG_OK;
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: unknown CPU implementation");
}

gsg_status gsg_cpu_conv2d_bwd(struct gsg_cpu_conv2d *p, float *dx, float *dw, const float *dy, const float *x,
                              const float *w)
{
    switch (p->impl) {
    case CONV_ONEDNN:
        if (!p->im2col_dw) return gsg_cpu_conv2d_dnnl_bwd(p->dnnl, dx, dw, dy, x, w);
        if (dx) GSG_TRY(gsg_cpu_conv2d_dnnl_bwd(p->dnnl, dx, NULL, dy, x, w));
        if (dw) gsg_cpu_conv2d_im2col_bwd(p->im2col_dw, NULL, dw, dy, x, w);
        return GSG_OK;
    case CONV_IM2COL: gsg_cpu_conv2d_im2col_bwd(p->im2col, dx, dw, dy, x, w); return GSG_OK;
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: unknown CPU implementation");
}
