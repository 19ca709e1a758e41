/* test_conv2d.c: conv2d reference gradient check (finite differences in double), then every
 * CPU implementation (oneDNN when built, im2col + OpenBLAS) against the reference on edge
 * shapes: K = 1/3/7, stride 1/2, padding, odd sizes, batch 1, Ci = 1 and 3, tails of tiles;
 * dx written, dw accumulated; shape and descriptor errors. */
#include "check.h"
#include "cuda/gsg_cuda.h"
#include "ops/ops.h"
#include "ops/ref_conv2d.h"
#include "cpu/conv2d.h"
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void)   /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / (double)(1ull << 52) - 1.0;
}

struct sizes { int64_t nx, ny, nw, Ho, Wo; };
static struct sizes sizes_of(const struct gsg_conv2d_desc *d)
{
    struct sizes s;
    gsg_conv2d_out_hw(d, &s.Ho, &s.Wo);
    s.nx = d->N * d->H * d->W * d->Ci;
    s.ny = d->N * s.Ho * s.Wo * d->Co;
    s.nw = d->Co * d->Ci * d->K * d->K;
    return s;
}

/* L = sum(y * g): dL/dx and dL/dw from the reference bwd vs central differences. */
static void fd_check(struct gsg_conv2d_desc d)
{
    struct sizes s = sizes_of(&d);
    double *x = malloc(s.nx * sizeof *x), *w = malloc(s.nw * sizeof *w), *g = malloc(s.ny * sizeof *g);
    double *y = malloc(s.ny * sizeof *y), *dx = malloc(s.nx * sizeof *dx), *dw = calloc(s.nw, sizeof *dw);
    for (int64_t i = 0; i < s.nx; i++) x[i] = urand();
    for (int64_t i = 0; i < s.nw; i++) w[i] = urand();
    for (int64_t i = 0; i < s.ny; i++) g[i] = urand();
    gsg_ref_conv2d_bwd(&d, dx, dw, g, x, w);
    const double eps = 1e-6;
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) {
        double *v = pass ? w : x, *grad = pass ? dw : dx;
        int64_t n = pass ? s.nw : s.nx;
        for (int64_t i = 0; i < n; i++) {
            double keep = v[i], lp = 0, lm = 0;
            v[i] = keep + eps;
            gsg_ref_conv2d_fwd(&d, y, x, w);
            for (int64_t j = 0; j < s.ny; j++) lp += y[j] * g[j];
            v[i] = keep - eps;
            gsg_ref_conv2d_fwd(&d, y, x, w);
            for (int64_t j = 0; j < s.ny; j++) lm += y[j] * g[j];
            v[i] = keep;
            double num = (lp - lm) / (2 * eps), err = fabs(num - grad[i]);
            if (err > worst) worst = err;
            CHECK_CLOSE(grad[i], num, 1e-6, 1e-7);
        }
    }
    CHECK(worst < 1e-6);
    free(x); free(w); free(g); free(y); free(dx); free(dw);
}

TEST(ref_grad_k3_s2_p1) { fd_check((struct gsg_conv2d_desc){2, 5, 4, 3, 2, 3, 2, 1}); }
TEST(ref_grad_k1_s2_odd) { fd_check((struct gsg_conv2d_desc){1, 5, 5, 2, 3, 1, 2, 0}); }
TEST(ref_grad_k7_s2_p3) { fd_check((struct gsg_conv2d_desc){1, 9, 8, 2, 2, 7, 2, 3}); }
TEST(ref_grad_k3_s1_p0_ci1) { fd_check((struct gsg_conv2d_desc){2, 4, 6, 1, 3, 3, 1, 0}); }
TEST(ref_grad_k3_s2_uneven) { fd_check((struct gsg_conv2d_desc){1, 6, 5, 2, 2, 3, 2, 1}); }

/* A hand-computed case: 1x3x3x1 input 1..9, one 3x3 kernel of ones, pad 1 -> the 3x3 box sums. */
TEST(ref_golden_box_sum)
{
    struct gsg_conv2d_desc d = {1, 3, 3, 1, 1, 3, 1, 1};
    double x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, y[9];
    double want[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
    gsg_ref_conv2d_fwd(&d, y, x, w);
    for (int i = 0; i < 9; i++) CHECK_CLOSE(y[i], want[i], 0, 1e-12);
}

static const struct gsg_conv2d_desc cases[] = {
    /* N, H, W, Ci, Co, K, stride, pad */
    {2, 8, 8, 4, 8, 3, 1, 1},        /* plain 3x3 */
    {3, 9, 7, 5, 6, 3, 2, 1},        /* odd sizes, stride 2 */
    {1, 11, 13, 3, 16, 7, 2, 3},     /* ImageNet stem shape, batch 1, Ci = 3 */
    {2, 8, 8, 16, 32, 1, 2, 0},      /* 1x1 stride-2 shortcut */
    {2, 7, 6, 8, 12, 1, 1, 0},       /* 1x1 stride 1 (im2col's direct path) */
    {1, 28, 28, 1, 16, 3, 1, 1},     /* Fashion-MNIST stem, Ci = 1 */
    {5, 4, 4, 32, 17, 3, 1, 1},      /* 4x4 layer, odd Co, several images per tile */
    {2, 7, 7, 3, 5, 3, 1, 0},        /* no padding */
    {1, 3, 3, 2, 2, 3, 1, 2},        /* padding larger than the output needs */
    {130, 4, 4, 8, 8, 3, 1, 1},      /* batch with a tile tail (64 + 64 + 2 images) */
    {3, 10, 9, 3, 4, 7, 1, 3},       /* K = 7 stride 1 */
    {2, 8, 10, 4, 6, 3, 2, 1},       /* 3x3 stride 2 where (H+2p-K) % s != 0 (CIFAR's s2 layers) */
    {2, 9, 9, 3, 4, 7, 2, 3},        /* 7x7 stride 2, odd input (ImageNet stem, uneven) */
    {2, 10, 8, 1, 16, 1, 2, 0},      /* oneDNN 2.6 jit_1x1 bwd-weights got these wrong with 2 threads */
    {5, 6, 4, 4, 2, 1, 2, 0},
    {3, 9, 9, 64, 128, 1, 2, 0},     /* a downsample shortcut, odd size */
};

static double nmse_d(const float *a, const double *ref, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) { double e = a[i] - ref[i]; num += e * e; den += ref[i] * ref[i]; }
    return den > 0 ? num / den : num;
}

/* One implementation (GSG_CONV=impl) vs the reference on every case. */
static void impl_vs_ref(const char *impl, const char *impl_name)
{
    setenv("GSG_CONV", impl, 1);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct gsg_conv2d_desc d = cases[c];
        struct sizes s = sizes_of(&d);
        float *x = malloc(s.nx * 4), *w = malloc(s.nw * 4), *dy = malloc(s.ny * 4), *y = malloc(s.ny * 4);
        float *dx = malloc(s.nx * 4), *dw = malloc(s.nw * 4);
        double *xd = malloc(s.nx * 8), *wd = malloc(s.nw * 8), *dyd = malloc(s.ny * 8), *yr = malloc(s.ny * 8);
        double *dxr = malloc(s.nx * 8), *dwr = malloc(s.nw * 8), *dw0 = malloc(s.nw * 8);
        for (int64_t i = 0; i < s.nx; i++) xd[i] = x[i] = (float)urand();
        for (int64_t i = 0; i < s.nw; i++) wd[i] = w[i] = (float)(urand() * 0.3);
        for (int64_t i = 0; i < s.ny; i++) dyd[i] = dy[i] = (float)urand();
        for (int64_t i = 0; i < s.nw; i++) { dw[i] = (float)urand(); dw0[i] = dwr[i] = dw[i]; }
        for (int64_t i = 0; i < s.nx; i++) dx[i] = 1e30f;   /* must be overwritten */
        gsg_ref_conv2d_fwd(&d, yr, xd, wd);
        gsg_ref_conv2d_bwd(&d, dxr, dwr, dyd, xd, wd);

        struct gsg_conv2d *plan = NULL;
        CHECK_OK(gsg_conv2d_create(&plan, GSG_DEV_CPU, &d));
        if (!plan) goto next;
        CHECK_MSG(!strcmp(gsg_conv2d_impl(plan), impl_name), "case %zu: impl %s, expected %s", c,
                  gsg_conv2d_impl(plan), impl_name);
        struct gsg_tensor tx = gsg_tview(x, GSG_DTYPE_F32, 4, d.N, d.H, d.W, d.Ci);
        struct gsg_tensor tdx = gsg_tview(dx, GSG_DTYPE_F32, 4, d.N, d.H, d.W, d.Ci);
        struct gsg_tensor tw = gsg_tview(w, GSG_DTYPE_F32, 4, d.Co, d.Ci, d.K, d.K);
        struct gsg_tensor tdw = gsg_tview(dw, GSG_DTYPE_F32, 4, d.Co, d.Ci, d.K, d.K);
        struct gsg_tensor ty = gsg_tview(y, GSG_DTYPE_F32, 4, d.N, s.Ho, s.Wo, d.Co);
        struct gsg_tensor tdy = gsg_tview(dy, GSG_DTYPE_F32, 4, d.N, s.Ho, s.Wo, d.Co);
        CHECK_OK(gsg_conv2d_fwd(plan, &ty, &tx, &tw));
        double e = nmse_d(y, yr, s.ny);
        CHECK_MSG(e < 1e-10, "%s case %zu fwd nmse %.3g", impl, c, e);
        CHECK_OK(gsg_conv2d_bwd(plan, &tdx, &tdw, &tdy, &tx, &tw));
        e = nmse_d(dx, dxr, s.nx);
        CHECK_MSG(e < 1e-10, "%s case %zu dx nmse %.3g", impl, c, e);
        e = nmse_d(dw, dwr, s.nw);
        CHECK_MSG(e < 1e-10, "%s case %zu dw (accumulated once) nmse %.3g", impl, c, e);
        /* weights-only backward accumulates again: dw = dw0 + 2 * grad */
        CHECK_OK(gsg_conv2d_bwd(plan, NULL, &tdw, &tdy, &tx, &tw));
        for (int64_t i = 0; i < s.nw; i++) dwr[i] = dw0[i] + 2 * (dwr[i] - dw0[i]);
        e = nmse_d(dw, dwr, s.nw);
        CHECK_MSG(e < 1e-10, "%s case %zu dw (accumulated twice) nmse %.3g", impl, c, e);
        /* data-only backward writes dx again and leaves dw alone */
        for (int64_t i = 0; i < s.nx; i++) dx[i] = -7.0f;
        float dw_first = dw[0];
        CHECK_OK(gsg_conv2d_bwd(plan, &tdx, NULL, &tdy, &tx, &tw));
        e = nmse_d(dx, dxr, s.nx);
        CHECK_MSG(e < 1e-10, "%s case %zu dx (second call) nmse %.3g", impl, c, e);
        CHECK(dw[0] == dw_first);
        /* a second forward through the same plan gives the same answer (no state kept) */
        for (int64_t i = 0; i < s.ny; i++) y[i] = 0;
        CHECK_OK(gsg_conv2d_fwd(plan, &ty, &tx, &tw));
        e = nmse_d(y, yr, s.ny);
        CHECK_MSG(e < 1e-10, "%s case %zu fwd (second call) nmse %.3g", impl, c, e);
        gsg_conv2d_destroy(plan);
    next:
        free(x); free(w); free(dy); free(y); free(dx); free(dw);
        free(xd); free(wd); free(dyd); free(yr); free(dxr); free(dwr); free(dw0);
    }
    unsetenv("GSG_CONV");
}

TEST(im2col_vs_ref) { impl_vs_ref("im2col", "im2col-openblas"); }

/* Random small shapes (fixed seed) through the front end's default implementation and im2col:
 * fwd, dx and dw against the reference. This is how the oneDNN 1x1 stride-2 dW bug was found. */
TEST(fuzz_vs_ref)
{
    const char *impls[2] = {"", "im2col"};
    int bad = 0;
    for (int it = 0; it < 40; it++) {
        static const int64_t Ks[3] = {1, 3, 7};
        int64_t K = Ks[(int)((urand() + 1) * 1.5) % 3], s = 1 + (urand() > 0), p = K == 1 ? 0 : (urand() > 0 ? K / 2 : (int64_t)((urand() + 1) / 2 * K) % K);
        struct gsg_conv2d_desc d = {1 + (int64_t)((urand() + 1) * 2.5), 1 + (int64_t)((urand() + 1) * 6),
                                    1 + (int64_t)((urand() + 1) * 6), 1 + (int64_t)((urand() + 1) * 10),
                                    1 + (int64_t)((urand() + 1) * 10), K, s, p};
        if (d.H + 2 * p < K || d.W + 2 * p < K) continue;
        struct sizes z = sizes_of(&d);
        float *x = malloc(z.nx * 4), *w = malloc(z.nw * 4), *dy = malloc(z.ny * 4), *y = malloc(z.ny * 4);
        float *dx = malloc(z.nx * 4), *dw = malloc(z.nw * 4);
        double *xd = malloc(z.nx * 8), *wd = malloc(z.nw * 8), *dyd = malloc(z.ny * 8), *yr = malloc(z.ny * 8);
        double *dxr = malloc(z.nx * 8), *dwr = calloc(z.nw, 8);
        for (int64_t i = 0; i < z.nx; i++) xd[i] = x[i] = (float)urand();
        for (int64_t i = 0; i < z.nw; i++) wd[i] = w[i] = (float)urand();
        for (int64_t i = 0; i < z.ny; i++) dyd[i] = dy[i] = (float)urand();
        gsg_ref_conv2d_fwd(&d, yr, xd, wd);
        gsg_ref_conv2d_bwd(&d, dxr, dwr, dyd, xd, wd);
        for (int m = 0; m < 2; m++) {
            if (*impls[m]) setenv("GSG_CONV", impls[m], 1);
            else unsetenv("GSG_CONV");
            struct gsg_conv2d *plan = NULL;
            CHECK_OK(gsg_conv2d_create(&plan, GSG_DEV_CPU, &d));
            if (!plan) continue;
            memset(dw, 0, z.nw * 4);
            struct gsg_tensor tx = gsg_tview(x, GSG_DTYPE_F32, 4, d.N, d.H, d.W, d.Ci);
            struct gsg_tensor tdx = gsg_tview(dx, GSG_DTYPE_F32, 4, d.N, d.H, d.W, d.Ci);
            struct gsg_tensor tw = gsg_tview(w, GSG_DTYPE_F32, 4, d.Co, d.Ci, d.K, d.K);
            struct gsg_tensor tdw = gsg_tview(dw, GSG_DTYPE_F32, 4, d.Co, d.Ci, d.K, d.K);
            struct gsg_tensor ty = gsg_tview(y, GSG_DTYPE_F32, 4, d.N, z.Ho, z.Wo, d.Co);
            struct gsg_tensor tdy = gsg_tview(dy, GSG_DTYPE_F32, 4, d.N, z.Ho, z.Wo, d.Co);
            CHECK_OK(gsg_conv2d_fwd(plan, &ty, &tx, &tw));
            CHECK_OK(gsg_conv2d_bwd(plan, &tdx, &tdw, &tdy, &tx, &tw));
            double e1 = nmse_d(y, yr, z.ny), e2 = nmse_d(dx, dxr, z.nx), e3 = nmse_d(dw, dwr, z.nw);
            if (!(e1 < 1e-10 && e2 < 1e-10 && e3 < 1e-10) && bad++ < 5)
                CHECK_MSG(0, "%s N=%lld H=%lld W=%lld Ci=%lld Co=%lld K=%lld s=%lld p=%lld: nmse y %.2g dx %.2g dw %.2g",
                          gsg_conv2d_impl(plan), (long long)d.N, (long long)d.H, (long long)d.W, (long long)d.Ci,
                          (long long)d.Co, (long long)d.K, (long long)d.stride, (long long)d.pad, e1, e2, e3);
            gsg_conv2d_destroy(plan);
        }
        free(x); free(w); free(dy); free(y); free(dx); free(dw);
        free(xd); free(wd); free(dyd); free(yr); free(dxr); free(dwr);
    }
    CHECK_EQ_I64(bad, 0);
    unsetenv("GSG_CONV");
}
#ifdef GSG_HAVE_DNNL
TEST(onednn_vs_ref) { impl_vs_ref("onednn", "onednn"); }
#endif

#ifdef GSG_HAVE_DNNL
/* oneDNN plans share one arena that grows when a bigger plan is made: an older, smaller plan
 * must keep working after the growth and after the bigger plan is gone; the arena is freed
 * with the last plan. */
TEST(onednn_shared_arena)
{
    setenv("GSG_CONV", "onednn", 1);
    struct gsg_conv2d_desc ds = {2, 6, 6, 3, 4, 3, 1, 1}, db = {2, 8, 8, 64, 128, 3, 1, 1};
    struct gsg_conv2d *small = NULL, *big = NULL;
    CHECK_OK(gsg_conv2d_create(&small, GSG_DEV_CPU, &ds));
    size_t a0 = gsg_cpu_conv2d_dnnl_arena_bytes();
    CHECK_OK(gsg_conv2d_create(&big, GSG_DEV_CPU, &db));
    CHECK(gsg_cpu_conv2d_dnnl_arena_bytes() > a0);
    CHECK(gsg_conv2d_workspace_bytes(big) <= gsg_cpu_conv2d_dnnl_arena_bytes());
    struct sizes s = sizes_of(&ds);
    float x[2 * 6 * 6 * 3], w[4 * 3 * 9], y[2 * 6 * 6 * 4], dx[2 * 6 * 6 * 3], dw[4 * 3 * 9] = {0};
    double xd[2 * 6 * 6 * 3], wd[4 * 3 * 9], yr[2 * 6 * 6 * 4], dxr[2 * 6 * 6 * 3], dwr[4 * 3 * 9] = {0};
    for (int64_t i = 0; i < s.nx; i++) xd[i] = x[i] = (float)urand();
    for (int64_t i = 0; i < s.nw; i++) wd[i] = w[i] = (float)urand();
    gsg_ref_conv2d_fwd(&ds, yr, xd, wd);
    gsg_ref_conv2d_bwd(&ds, dxr, dwr, yr, xd, wd);   /* dy = y (any values do) */
    struct gsg_tensor tx = gsg_tview(x, GSG_DTYPE_F32, 4, ds.N, ds.H, ds.W, ds.Ci);
    struct gsg_tensor tdx = gsg_tview(dx, GSG_DTYPE_F32, 4, ds.N, ds.H, ds.W, ds.Ci);
    struct gsg_tensor tw = gsg_tview(w, GSG_DTYPE_F32, 4, ds.Co, ds.Ci, ds.K, ds.K);
    struct gsg_tensor tdw = gsg_tview(dw, GSG_DTYPE_F32, 4, ds.Co, ds.Ci, ds.K, ds.K);
    struct gsg_tensor ty = gsg_tview(y, GSG_DTYPE_F32, 4, ds.N, s.Ho, s.Wo, ds.Co);
    if (small) {
        CHECK_OK(gsg_conv2d_fwd(small, &ty, &tx, &tw));
        CHECK(nmse_d(y, yr, s.ny) < 1e-10);
    }
    gsg_conv2d_destroy(big);
    CHECK(gsg_cpu_conv2d_dnnl_arena_bytes() > 0);
    if (small) {
        CHECK_OK(gsg_conv2d_bwd(small, &tdx, &tdw, &ty, &tx, &tw));
        CHECK(nmse_d(dx, dxr, s.nx) < 1e-10);
        CHECK(nmse_d(dw, dwr, s.nw) < 1e-10);
    }
    gsg_conv2d_destroy(small);
    CHECK_EQ_I64(gsg_cpu_conv2d_dnnl_arena_bytes(), 0);
    unsetenv("GSG_CONV");
}
#endif

TEST(default_impl)
{
    unsetenv("GSG_CONV");
    struct gsg_conv2d_desc d = {2, 8, 8, 16, 16, 3, 1, 1};
    struct gsg_conv2d *plan = NULL;
    CHECK_OK(gsg_conv2d_create(&plan, GSG_DEV_CPU, &d));
#ifdef GSG_HAVE_DNNL
    CHECK(plan && !strcmp(gsg_conv2d_impl(plan), "onednn"));
#else
    CHECK(plan && !strcmp(gsg_conv2d_impl(plan), "im2col-openblas"));
#endif
    gsg_conv2d_destroy(plan);
    /* a wide layer: oneDNN with AVX-512, im2col on AVX2-only CPUs (measured, NOTES.md) */
    struct gsg_conv2d_desc wide = {2, 8, 8, 64, 64, 3, 1, 1};
    CHECK_OK(gsg_conv2d_create(&plan, GSG_DEV_CPU, &wide));
#ifdef GSG_HAVE_DNNL
    __builtin_cpu_init();
    CHECK(plan && !strcmp(gsg_conv2d_impl(plan), __builtin_cpu_supports("avx512f") ? "onednn" : "im2col-openblas"));
#else
    CHECK(plan && !strcmp(gsg_conv2d_impl(plan), "im2col-openblas"));
#endif
    gsg_conv2d_destroy(plan);
}

TEST(errors)
{
    struct gsg_conv2d_desc d = {2, 8, 8, 4, 8, 3, 2, 1};
    struct gsg_conv2d *plan = NULL;
    if (!(gsg_cuda_built() && gsg_cuda_init(0) == GSG_OK)) {   /* no GPU: a CUDA plan fails with one line */
        CHECK_EQ_I64(gsg_conv2d_create(&plan, GSG_DEV_CUDA, &d), GSG_E_NO_CUDA);
        CHECK(plan == NULL);
        CHECK_MSG(strstr(gsg_err_msg(), "CUDA") != NULL, "%s", gsg_err_msg());
    }
    struct gsg_conv2d_desc bad = d;
    bad.pad = 3;   /* pad >= K */
    CHECK_EQ_I64(gsg_conv2d_create(&plan, GSG_DEV_CPU, &bad), GSG_E_SHAPE);
    bad = d; bad.K = 11;   /* larger than the padded input */
    bad.pad = 1;
    CHECK_EQ_I64(gsg_conv2d_create(&plan, GSG_DEV_CPU, &bad), GSG_E_SHAPE);
    bad = d; bad.N = 0;
    CHECK_EQ_I64(gsg_conv2d_create(&plan, GSG_DEV_CPU, &bad), GSG_E_SHAPE);
    setenv("GSG_CONV", "winograd", 1);
    CHECK_EQ_I64(gsg_conv2d_create(&plan, GSG_DEV_CPU, &d), GSG_E_USAGE);
    CHECK(strstr(gsg_err_msg(), "GSG_CONV='winograd'") != NULL);
    unsetenv("GSG_CONV");

    CHECK_OK(gsg_conv2d_create(&plan, GSG_DEV_CPU, &d));
    if (!plan) return;
    static float x[2 * 8 * 8 * 4], w[8 * 4 * 3 * 3], y[2 * 4 * 4 * 8];
    struct gsg_tensor tx = gsg_tview(x, GSG_DTYPE_F32, 4, (int64_t)2, (int64_t)8, (int64_t)8, (int64_t)4);
    struct gsg_tensor tw = gsg_tview(w, GSG_DTYPE_F32, 4, (int64_t)8, (int64_t)4, (int64_t)3, (int64_t)3);
    struct gsg_tensor ty = gsg_tview(y, GSG_DTYPE_F32, 4, (int64_t)2, (int64_t)4, (int64_t)4, (int64_t)8);
    struct gsg_tensor ybad = gsg_tview(y, GSG_DTYPE_F32, 4, (int64_t)2, (int64_t)8, (int64_t)8, (int64_t)8);
    CHECK_OK(gsg_conv2d_fwd(plan, &ty, &tx, &tw));
    CHECK_EQ_I64(gsg_conv2d_fwd(plan, &ybad, &tx, &tw), GSG_E_SHAPE);
    CHECK(strstr(gsg_err_msg(), "conv2d: y shape [2,8,8,8], expected [2,4,4,8]") != NULL);
    struct gsg_tensor xnchw = gsg_tview(x, GSG_DTYPE_F32, 4, (int64_t)2, (int64_t)4, (int64_t)8, (int64_t)8);
    CHECK_EQ_I64(gsg_conv2d_fwd(plan, &ty, &xnchw, &tw), GSG_E_SHAPE);
    struct gsg_tensor wu8 = tw;
    wu8.dtype = GSG_DTYPE_U8;
    CHECK_EQ_I64(gsg_conv2d_fwd(plan, &ty, &tx, &wu8), GSG_E_SHAPE);
    CHECK(strstr(gsg_err_msg(), "w dtype u8, expected f32") != NULL);
    CHECK_EQ_I64(gsg_conv2d_bwd(plan, &tx, NULL, &ybad, &tx, &tw), GSG_E_SHAPE);
    CHECK_EQ_I64(gsg_conv2d_bwd(plan, NULL, &tw, &ty, NULL, &tw), GSG_E_SHAPE);   /* dw needs x */
    gsg_conv2d_destroy(plan);
    gsg_conv2d_destroy(NULL);
}

int main(void)
{
    RUN(ref_grad_k3_s2_p1);
    RUN(ref_grad_k1_s2_odd);
    RUN(ref_grad_k7_s2_p3);
    RUN(ref_grad_k3_s1_p0_ci1);
    RUN(ref_grad_k3_s2_uneven);
    RUN(ref_golden_box_sum);
    RUN(im2col_vs_ref);
    RUN(fuzz_vs_ref);
#ifdef GSG_HAVE_DNNL
    RUN(onednn_vs_ref);
    RUN(onednn_shared_arena);
#else
    SKIP(onednn_vs_ref, "built without oneDNN (libdnnl-dev not found or DNNL=0)");
    SKIP(onednn_shared_arena, "built without oneDNN");
#endif
    RUN(default_impl);
    RUN(errors);
    return check_summary();
}
