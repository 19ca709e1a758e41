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
    int bf16;                                  /* the oneDNN kernel runs bf16 */
    struct gsg_conv2d_desc d;
    struct gsg_cpu_conv2d_dnnl *dnnl;
    struct gsg_cpu_conv2d_im2col *im2col;
    struct gsg_cpu_conv2d_im2col *im2col_dw;   /* dW of strided 1x1 layers under oneDNN (see above) */
};

gsg_status gsg_cpu_conv2d_create(struct gsg_cpu_conv2d **out, const struct gsg_conv2d_desc *d, int bf16)
{
    *out = NULL;
    const char *env = getenv("GSG_CONV");
    int want = -1;   /* -1: choose */
    if (env && *env) {
        if (!strcmp(env, "onednn")) want = CONV_ONEDNN;
        else if (!strcmp(env, "im2col")) want = CONV_IM2COL;
        else return gsg_err_set(GSG_E_USAGE, "conv2d: GSG_CONV='%s': expected 'onednn' or 'im2col'", env);
    }
    if (bf16) {
        char why[160];
        if (want == CONV_IM2COL)
            return gsg_err_set(GSG_E_USAGE, "conv2d: GSG_CONV=im2col computes in f32 only; bf16 needs oneDNN");
        if (!gsg_cpu_bf16_supported(why, sizeof why)) return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: bf16: %s", why);
    }
    if (want == -1 && !cpu_has_avx512() && d->Co > 32) want = CONV_IM2COL;
    struct gsg_cpu_conv2d *p = calloc(1, sizeof *p);
    if (!p) return gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for a plan");
    p->d = *d;
    gsg_status st = GSG_E_UNSUPPORTED;
    if (bf16) {   /* a layer oneDNN has no native bf16 kernel for runs its f32 kernel (never emulation) */
        st = gsg_cpu_conv2d_dnnl_create_bf16(&p->dnnl, d);
        if (st == GSG_OK) p->bf16 = 1;
        else if (st == GSG_E_NOMEM) { free(p); return st; }
        else gsg_err_clear();
    }
    if (want == CONV_ONEDNN || want == -1) {
        if (!p->bf16) st = gsg_cpu_conv2d_dnnl_create(&p->dnnl, d);
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
    case CONV_ONEDNN: return p->bf16 ? "onednn-bf16" : "onednn";
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

/* ---- test hook: GSG_TEST_CONV_DITHER=SEED (tests/unit/test_bf16.c) ----
 * f32 plans only: every operand of every call (x and w forward; dy, x and w backward) is replaced by
 * a copy with each element multiplied by (1 + 2^-8 r), r uniform in [-1, 1) from a hash of (SEED,
 * call number, element): independent relative perturbations as large as bf16's rounding (unit
 * roundoff 2^-8), so that several seeds measure how far rounding of that size carries a training step
 * (the tolerance of the bf16 step test). Off unless the variable is set (one getenv per call). */
static uint64_t dither_seed(void)
{
    const char *e = getenv("GSG_TEST_CONV_DITHER");
    return e && *e ? strtoull(e, NULL, 10) : 0;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float *dither(const float *src, int64_t n, uint64_t seed)
{
    static uint64_t calls = 0;
    const uint64_t c = mix64(seed * 0x100000001B3ull + ++calls);
    float *t = gsg_aligned_alloc((size_t)n * sizeof(float));
    if (!t) return NULL;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double r = (double)(mix64(c ^ (uint64_t)i) >> 11) * 0x1p-52 - 1.0;
        t[i] = (float)(src[i] * (1.0 + 0x1p-8 * r));
    }
    return t;
}

static gsg_status fwd_plain(struct gsg_cpu_conv2d *p, float *y, const float *x, const float *w);
static gsg_status bwd_plain(struct gsg_cpu_conv2d *p, float *dx, float *dw, const float *dy, const float *x,
                            const float *w);

static void conv_sizes(const struct gsg_conv2d_desc *d, int64_t *nx, int64_t *ny, int64_t *nw)
{
    int64_t Ho, Wo;
    gsg_conv2d_out_hw(d, &Ho, &Wo);
    *nx = d->N * d->H * d->W * d->Ci;
    *ny = d->N * Ho * Wo * d->Co;
    *nw = d->Co * d->Ci * d->K * d->K;
}

gsg_status gsg_cpu_conv2d_fwd(struct gsg_cpu_conv2d *p, float *y, const float *x, const float *w)
{
    uint64_t seed = p->bf16 ? 0 : dither_seed();
    if (!seed) return fwd_plain(p, y, x, w);
    int64_t nx, ny, nw;
    conv_sizes(&p->d, &nx, &ny, &nw);
    float *xt = dither(x, nx, seed), *wt = dither(w, nw, seed);
    gsg_status st = xt && wt ? fwd_plain(p, y, xt, wt) : gsg_err_set(GSG_E_NOMEM, "conv2d: dither copies");
    gsg_aligned_free(xt);
    gsg_aligned_free(wt);
    return st;
}

gsg_status gsg_cpu_conv2d_bwd(struct gsg_cpu_conv2d *p, float *dx, float *dw, const float *dy, const float *x,
                              const float *w)
{
    uint64_t seed = p->bf16 ? 0 : dither_seed();
    if (!seed) return bwd_plain(p, dx, dw, dy, x, w);
    int64_t nx, ny, nw;
    conv_sizes(&p->d, &nx, &ny, &nw);
    float *dyt = dither(dy, ny, seed), *xt = x ? dither(x, nx, seed) : NULL, *wt = w ? dither(w, nw, seed) : NULL;
    gsg_status st = dyt && (xt || !x) && (wt || !w) ? bwd_plain(p, dx, dw, dyt, xt, wt)
                                                    : gsg_err_set(GSG_E_NOMEM, "conv2d: dither copies");
    gsg_aligned_free(dyt);
    gsg_aligned_free(xt);
    gsg_aligned_free(wt);
    return st;
}

static gsg_status fwd_plain(struct gsg_cpu_conv2d *p, float *y, const float *x, const float *w)
{
    switch (p->impl) {
    case CONV_ONEDNN: return gsg_cpu_conv2d_dnnl_fwd(p->dnnl, y, x, w);
    case CONV_IM2COL: gsg_cpu_conv2d_im2col_fwd(p->im2col, y, x, w); return GSG_OK;
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: unknown CPU implementation");
}

static gsg_status bwd_plain(struct gsg_cpu_conv2d *p, float *dx, float *dw, const float *dy, const float *x,
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
