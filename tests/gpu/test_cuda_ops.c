/* test_cuda_ops.c: the op table, CUDA vs CPU (the CPU front ends are themselves tested against the
 * double-precision references in tests/unit). Every op of lib/ops forward and backward, the GSG selection
 * and losses, k-NN top-k and CUDA-graph replay. Tolerance: max |gpu - cpu| / max |cpu| <= 1e-4 in fp32,
 * 2e-2 for conv2d/linear in bf16; the split and fused batch norms agree exactly (both scale by the
 * float 1/sigma, batchnorm.cu). Reports SKIP (never PASS) when the build has no CUDA backend or no
 * device is present. */
#include "check.h"
#include "cuda/gsg_cuda.h"
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "ssl/gsg.h"
#include "tensor/tensor.h"
#include <math.h>
#include <stdlib.h>

#define TOL32 1e-4
#define TOL16 2e-2

/* a tensor on both devices with the same shape */
struct pair { struct gsg_tensor h, d; };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void)   /* uniform [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static struct pair mk(enum gsg_dtype dt, int ndim, const int64_t *dims, int fill)
{
    struct pair p;
    memset(&p, 0, sizeof p);
    CHECK_OK(gsg_tensor_alloc(&p.h, dt, GSG_DEV_CPU, ndim, dims));
    CHECK_OK(gsg_tensor_alloc(&p.d, dt, GSG_DEV_CUDA, ndim, dims));
    if (fill && dt == GSG_DTYPE_F32)
        for (int64_t i = 0; i < gsg_tensor_numel(&p.h); i++) ((float *)p.h.data)[i] = frand();
    if (fill && dt == GSG_DTYPE_U8)
        for (int64_t i = 0; i < gsg_tensor_numel(&p.h); i++) ((uint8_t *)p.h.data)[i] = (uint8_t)(frand() * 127.5f + 127.5f);
    CHECK_OK(gsg_tensor_copy(&p.d, &p.h));
    return p;
}
static struct pair mk2(int64_t a, int64_t b, int fill) { int64_t d[2] = {a, b}; return mk(GSG_DTYPE_F32, 2, d, fill); }
static struct pair mk1(int64_t a, int fill) { return mk(GSG_DTYPE_F32, 1, &a, fill); }
static struct pair mk4(int64_t a, int64_t b, int64_t c, int64_t e, int fill)
{
    int64_t d[4] = {a, b, c, e};
    return mk(GSG_DTYPE_F32, 4, d, fill);
}
static void set_all(struct pair *p, float v)
{
    for (int64_t i = 0; i < gsg_tensor_numel(&p->h); i++) ((float *)p->h.data)[i] = v;
    CHECK_OK(gsg_tensor_copy(&p->d, &p->h));
}
static void drop(struct pair *p) { gsg_tensor_free(&p->h); gsg_tensor_free(&p->d); }

/* max |gpu - cpu| / max |cpu| after downloading the device copy */
static double rel_err(const struct pair *p)
{
    const int64_t n = gsg_tensor_numel(&p->h);
    float *g = malloc((size_t)(n ? n : 1) * sizeof *g);
    struct gsg_tensor t = gsg_tensor_view(g, GSG_DTYPE_F32, GSG_DEV_CPU, p->h.ndim, p->h.dims);
    if (gsg_tensor_copy(&t, &p->d) != GSG_OK) { free(g); return INFINITY; }
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = ((float *)p->h.data)[i], e = fabs((double)g[i] - r);
        if (e > num || e != e) num = e;
        if (fabs(r) > den) den = fabs(r);
    }
    free(g);
    return num / (den > 1e-30 ? den : 1.0);
}
#define CHECK_NEAR(p, tol) do { double e_ = rel_err(&(p)); \
    CHECK_MSG(e_ <= (tol), "%s: relative error %.3g > %.3g", #p, e_, (double)(tol)); } while (0)

static int same_i32(const struct pair *p)
{
    const int64_t n = gsg_tensor_numel(&p->h);
    int32_t *g = malloc((size_t)(n ? n : 1) * sizeof *g);
    struct gsg_tensor t = gsg_tensor_view(g, GSG_DTYPE_I32, GSG_DEV_CPU, p->h.ndim, p->h.dims);
    int ok = gsg_tensor_copy(&t, &p->d) == GSG_OK && !memcmp(g, p->h.data, (size_t)n * sizeof *g);
    free(g);
    return ok;
}

/* both devices through one call: f(which) with which 0 = cpu tensors, 1 = cuda tensors */
#define H(p) (&(p).h)
#define D(p) (&(p).d)
#define BOTH(call_h, call_d) do { CHECK_OK(call_h); CHECK_OK(call_d); CHECK_OK(gsg_cuda_check(#call_d)); } while (0)

TEST(elementwise_and_relu)
{
    struct pair a = mk2(333, 77, 1), b = mk2(333, 77, 1), y = mk2(333, 77, 0), dy = mk2(333, 77, 1), dx = mk2(333, 77, 0);
    BOTH(gsg_add(H(y), H(a), H(b)), gsg_add(D(y), D(a), D(b)));
    CHECK_NEAR(y, 0);
    BOTH(gsg_add_relu(H(y), H(a), H(b)), gsg_add_relu(D(y), D(a), D(b)));
    CHECK_NEAR(y, 0);
    BOTH(gsg_add_inplace(H(y), H(a)), gsg_add_inplace(D(y), D(a)));
    CHECK_NEAR(y, 0);
    BOTH(gsg_scale(H(y), -0.37f), gsg_scale(D(y), -0.37f));
    CHECK_NEAR(y, 0);
    BOTH(gsg_relu_fwd(H(y), H(a)), gsg_relu_fwd(D(y), D(a)));
    CHECK_NEAR(y, 0);
    BOTH(gsg_relu_bwd(H(dx), H(dy), H(y)), gsg_relu_bwd(D(dx), D(dy), D(y)));
    CHECK_NEAR(dx, 0);
    BOTH(gsg_relu_fwd(H(a), H(a)), gsg_relu_fwd(D(a), D(a)));   /* in place */
    CHECK_NEAR(a, 0);
    BOTH(gsg_zero(H(y)), gsg_zero(D(y)));
    CHECK_NEAR(y, 0);
    drop(&a); drop(&b); drop(&y); drop(&dy); drop(&dx);
}

static void bn_case(int64_t M, int64_t C, int relu, int affine)
{
    struct pair x = mk2(M, C, 1), y = mk2(M, C, 0), dy = mk2(M, C, 1), dx = mk2(M, C, 0);
    struct pair g = mk1(C, 1), b = mk1(C, 1), rm = mk1(C, 1), rv = mk1(C, 0), sm = mk1(C, 0), si = mk1(C, 0);
    struct pair dg = mk1(C, 1), db = mk1(C, 1);   /* accumulated into: start non-zero */
    set_all(&rv, 0.8f);
    for (int64_t i = 0; i < M * C; i++) ((float *)x.h.data)[i] = 3.0f + 2.0f * ((float *)x.h.data)[i];   /* offset mean */
    CHECK_OK(gsg_tensor_copy(&x.d, &x.h));
    struct gsg_tensor *gh = affine ? H(g) : NULL, *gd = affine ? D(g) : NULL;
    struct gsg_tensor *bh = affine ? H(b) : NULL, *bd = affine ? D(b) : NULL;
    gsg_status (*fwd)(struct gsg_tensor *, struct gsg_tensor *, struct gsg_tensor *, const struct gsg_tensor *,
                      const struct gsg_tensor *, const struct gsg_tensor *, struct gsg_tensor *, struct gsg_tensor *,
                      int, float, float) = relu ? gsg_batchnorm_relu_fwd : gsg_batchnorm_fwd;
    BOTH(fwd(H(y), H(sm), H(si), H(x), gh, bh, H(rm), H(rv), 1, 0.1f, 1e-5f),
         fwd(D(y), D(sm), D(si), D(x), gd, bd, D(rm), D(rv), 1, 0.1f, 1e-5f));
    CHECK_NEAR(y, TOL32);
    CHECK_NEAR(sm, TOL32);
    CHECK_NEAR(si, TOL32);
    CHECK_NEAR(rm, TOL32);
    CHECK_NEAR(rv, TOL32);
    if (relu)
        BOTH(gsg_batchnorm_relu_bwd(H(dx), affine ? H(dg) : NULL, affine ? H(db) : NULL, H(dy), H(y), H(x), gh, H(sm), H(si)),
             gsg_batchnorm_relu_bwd(D(dx), affine ? D(dg) : NULL, affine ? D(db) : NULL, D(dy), D(y), D(x), gd, D(sm), D(si)));
    else
        BOTH(gsg_batchnorm_bwd(H(dx), affine ? H(dg) : NULL, affine ? H(db) : NULL, H(dy), H(x), gh, H(sm), H(si)),
             gsg_batchnorm_bwd(D(dx), affine ? D(dg) : NULL, affine ? D(db) : NULL, D(dy), D(x), gd, D(sm), D(si)));
    CHECK_NEAR(dx, TOL32);
    CHECK_NEAR(dg, TOL32);
    CHECK_NEAR(db, TOL32);
    /* eval mode from the running statistics */
    BOTH(fwd(H(y), NULL, NULL, H(x), gh, bh, H(rm), H(rv), 0, 0.1f, 1e-5f),
         fwd(D(y), NULL, NULL, D(x), gd, bd, D(rm), D(rv), 0, 0.1f, 1e-5f));
    CHECK_NEAR(y, TOL32);
    drop(&x); drop(&y); drop(&dy); drop(&dx); drop(&g); drop(&b); drop(&rm); drop(&rv); drop(&sm); drop(&si);
    drop(&dg); drop(&db);
}

TEST(batchnorm_all_modes)
{
    bn_case(2 * 8 * 8, 16, 0, 1);
    bn_case(2 * 8 * 8, 16, 1, 1);
    bn_case(37, 5, 0, 0);
    bn_case(256 * 7 * 7, 64, 1, 1);
    bn_case(512, 2048, 0, 1);    /* BN1d of a projector */
    bn_case(4096, 33, 1, 0);
}

TEST(batchnorm_split_matches_fused)
{
    const int64_t M = 1000, C = 48;
    struct pair x = mk2(M, C, 1), y = mk2(M, C, 0), y2 = mk2(M, C, 0), g = mk1(C, 1), b = mk1(C, 1);
    struct pair sm = mk1(C, 0), si = mk1(C, 0), m2 = mk1(C, 0), i2 = mk1(C, 0);
    CHECK_OK(gsg_batchnorm_relu_fwd(D(y), D(sm), D(si), D(x), D(g), D(b), NULL, NULL, 1, 0.1f, 1e-5f));
    CHECK_OK(gsg_cuda_batchnorm_stats(m2.d.data, i2.d.data, NULL, NULL, x.d.data, M, C, 0.1f, 1e-5f));
    CHECK_OK(gsg_cuda_batchnorm_apply(y2.d.data, x.d.data, m2.d.data, i2.d.data, g.d.data, b.d.data, M, C, 1));
    CHECK_OK(gsg_cuda_check("batchnorm split"));
    /* y2's device copy against y's device copy: download y into y2.h first. Exact: both paths scale by
     * gamma * float(1/sigma) (k_bn_fwd_finalize rounds 1/sigma to float first, as k_bn_consts reads it) */
    CHECK_OK(gsg_tensor_copy(&y2.h, &y.d));
    CHECK_NEAR(y2, 0);
    drop(&x); drop(&y); drop(&y2); drop(&g); drop(&b); drop(&sm); drop(&si); drop(&m2); drop(&i2);
}

static void pool_case(int64_t N, int64_t Hh, int64_t W, int64_t C)
{
    const int64_t Ho = (Hh - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
    struct pair x = mk4(N, Hh, W, C, 1), y = mk4(N, Ho, Wo, C, 0), dy = mk4(N, Ho, Wo, C, 1), dx = mk4(N, Hh, W, C, 0);
    int64_t ad[4] = {N, Ho, Wo, C};
    struct pair am = mk(GSG_DTYPE_I32, 4, ad, 0);
    /* exact ties: quantise x so windows share maxima (first one must win on both devices) */
    for (int64_t i = 0; i < gsg_tensor_numel(&x.h); i++) ((float *)x.h.data)[i] = roundf(((float *)x.h.data)[i] * 2.0f);
    CHECK_OK(gsg_tensor_copy(&x.d, &x.h));
    BOTH(gsg_maxpool_fwd(H(y), H(am), H(x)), gsg_maxpool_fwd(D(y), D(am), D(x)));
    CHECK_NEAR(y, 0);
    CHECK(same_i32(&am));
    BOTH(gsg_maxpool_bwd(H(dx), H(dy), H(am)), gsg_maxpool_bwd(D(dx), D(dy), D(am)));
    CHECK_NEAR(dx, 1e-6);
    struct pair ya = mk2(N, C, 0), dya = mk2(N, C, 1);
    BOTH(gsg_avgpool_fwd(H(ya), H(x)), gsg_avgpool_fwd(D(ya), D(x)));
    CHECK_NEAR(ya, TOL32);
    BOTH(gsg_avgpool_bwd(H(dx), H(dya)), gsg_avgpool_bwd(D(dx), D(dya)));
    CHECK_NEAR(dx, TOL32);
    drop(&x); drop(&y); drop(&dy); drop(&dx); drop(&am); drop(&ya); drop(&dya);
}

TEST(pools)
{
    pool_case(2, 9, 7, 5);
    pool_case(8, 16, 16, 64);
    pool_case(3, 1, 1, 3);
}

static void linear_case(int64_t N, int64_t In, int64_t Out, int bias, double tol)
{
    struct pair x = mk2(N, In, 1), w = mk2(Out, In, 1), b = mk1(Out, 1), y = mk2(N, Out, 0);
    struct pair dy = mk2(N, Out, 1), dx = mk2(N, In, 0), dw = mk2(Out, In, 1), db = mk1(Out, 1);
    BOTH(gsg_linear_fwd(H(y), H(x), H(w), bias ? H(b) : NULL), gsg_linear_fwd(D(y), D(x), D(w), bias ? D(b) : NULL));
    CHECK_NEAR(y, tol);
    BOTH(gsg_linear_bwd(H(dx), H(dw), bias ? H(db) : NULL, H(dy), H(x), H(w)),
         gsg_linear_bwd(D(dx), D(dw), bias ? D(db) : NULL, D(dy), D(x), D(w)));
    CHECK_NEAR(dx, tol);
    CHECK_NEAR(dw, tol);
    CHECK_NEAR(db, tol);
    drop(&x); drop(&w); drop(&b); drop(&y); drop(&dy); drop(&dx); drop(&dw); drop(&db);
}

TEST(linear_fp32)
{
    gsg_cuda_set_precision(GSG_PREC_FP32);
    linear_case(512, 512, 2048, 1, TOL32);
    linear_case(7, 3, 5, 0, TOL32);
    linear_case(256, 2048, 512, 1, TOL32);
}

TEST(linear_bf16)
{
    gsg_cuda_set_precision(GSG_PREC_BF16);
    linear_case(512, 512, 2048, 1, TOL16);
    linear_case(256, 2048, 512, 1, TOL16);
    gsg_cuda_set_precision(GSG_PREC_FP32);
}

TEST(cosine_and_l2norm)
{
    const int64_t N = 300, D = 2048;
    struct pair a = mk2(N, D, 1), b = mk2(N, D, 1), o = mk1(N, 0), dout = mk1(N, 1), da = mk2(N, D, 0), db = mk2(N, D, 0);
    memset((float *)a.h.data + 5 * D, 0, (size_t)D * sizeof(float));   /* a zero row: the eps branch */
    CHECK_OK(gsg_tensor_copy(&a.d, &a.h));
    BOTH(gsg_cosine_fwd(H(o), H(a), H(b)), gsg_cosine_fwd(D(o), D(a), D(b)));
    CHECK_NEAR(o, TOL32);
    BOTH(gsg_cosine_bwd(H(da), H(db), H(dout), H(a), H(b)), gsg_cosine_bwd(D(da), D(db), D(dout), D(a), D(b)));
    CHECK_NEAR(da, TOL32);
    CHECK_NEAR(db, TOL32);
    BOTH(gsg_l2norm_fwd(H(da), H(a)), gsg_l2norm_fwd(D(da), D(a)));
    CHECK_NEAR(da, TOL32);
    BOTH(gsg_l2norm_bwd(H(db), H(b), H(a)), gsg_l2norm_bwd(D(db), D(b), D(a)));
    CHECK_NEAR(db, TOL32);
    drop(&a); drop(&b); drop(&o); drop(&dout); drop(&da); drop(&db);
}

TEST(image_to_f32)
{
    int64_t xd[4] = {5, 3, 17, 13};
    struct pair x = mk(GSG_DTYPE_U8, 4, xd, 1), y = mk4(5, 17, 13, 3, 0);
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, sd[3] = {0.247f, 0.243f, 0.261f};
    BOTH(gsg_image_to_f32(H(y), H(x), mean, sd), gsg_image_to_f32(D(y), D(x), mean, sd));
    CHECK_NEAR(y, 1e-6);
    drop(&x); drop(&y);
}

static void conv_case(struct gsg_conv2d_desc d, double tol)
{
    int64_t Ho, Wo;
    gsg_conv2d_out_hw(&d, &Ho, &Wo);
    struct pair x = mk4(d.N, d.H, d.W, d.Ci, 1), w = mk4(d.Co, d.Ci, d.K, d.K, 1), y = mk4(d.N, Ho, Wo, d.Co, 0);
    struct pair dy = mk4(d.N, Ho, Wo, d.Co, 1), dx = mk4(d.N, d.H, d.W, d.Ci, 0), dw = mk4(d.Co, d.Ci, d.K, d.K, 1);
    struct gsg_conv2d *pc = NULL, *pg = NULL;
    CHECK_OK(gsg_conv2d_create(&pc, GSG_DEV_CPU, &d));
    CHECK_OK(gsg_conv2d_create(&pg, GSG_DEV_CUDA, &d));
    if (pc && pg) {
        CHECK(!strcmp(gsg_conv2d_impl(pg), "cuda"));
        BOTH(gsg_conv2d_fwd(pc, H(y), H(x), H(w)), gsg_conv2d_fwd(pg, D(y), D(x), D(w)));
        CHECK_NEAR(y, tol);
        BOTH(gsg_conv2d_bwd(pc, H(dx), H(dw), H(dy), H(x), H(w)), gsg_conv2d_bwd(pg, D(dx), D(dw), D(dy), D(x), D(w)));
        CHECK_NEAR(dx, tol);
        CHECK_NEAR(dw, tol);
        BOTH(gsg_conv2d_bwd(pc, NULL, H(dw), H(dy), H(x), H(w)), gsg_conv2d_bwd(pg, NULL, D(dw), D(dy), D(x), D(w)));
        CHECK_NEAR(dw, tol);   /* accumulated twice */
    }
    gsg_conv2d_destroy(pc);
    gsg_conv2d_destroy(pg);
    drop(&x); drop(&w); drop(&y); drop(&dy); drop(&dx); drop(&dw);
}

static const struct gsg_conv2d_desc convs[] = {
    {4, 32, 32, 3, 64, 3, 1, 1},     /* cifar stem */
    {8, 16, 16, 64, 64, 3, 1, 1},
    {8, 16, 16, 64, 128, 3, 2, 1},
    {8, 16, 16, 64, 128, 1, 2, 0},   /* downsample shortcut */
    {2, 28, 28, 1, 16, 3, 1, 1},     /* fmnist width 16 */
    {2, 33, 31, 3, 8, 7, 2, 3},      /* ImageNet stem, odd sizes */
    {3, 5, 5, 7, 5, 3, 1, 0},
};

TEST(conv2d_fp32)
{
    gsg_cuda_set_precision(GSG_PREC_FP32);
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) conv_case(convs[i], TOL32);
}

TEST(conv2d_bf16)
{
    gsg_cuda_set_precision(GSG_PREC_BF16);
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) conv_case(convs[i], TOL16);
    gsg_cuda_set_precision(GSG_PREC_FP32);
}

TEST(gsg_selection_and_losses)
{
    const int64_t N = 200, Dm = 256;
    struct pair p[4], t[4], dp[4];
    for (int v = 0; v < 4; v++) { p[v] = mk2(N, Dm, 1); t[v] = mk2(N, Dm, 1); dp[v] = mk2(N, Dm, 0); }
    const float *th[4], *td[4], *ph[4], *pd[4];
    float *dph[4], *dpd[4];
    for (int v = 0; v < 4; v++) {
        th[v] = t[v].h.data; td[v] = t[v].d.data; ph[v] = p[v].h.data; pd[v] = p[v].d.data;
        dph[v] = dp[v].h.data; dpd[v] = dp[v].d.data;
    }
    struct pair dist = mk2(N, 4, 0), rows = mk1(N, 0), loss = mk1(1, 0);
    int64_t kd = N;
    struct pair k = mk(GSG_DTYPE_I64, 1, &kd, 0);
    for (int m = 0; m < 3; m++) {
        gsg_distances(dist.h.data, th, N, Dm, (enum gsg_dist)m);
        CHECK_OK(gsg_cuda_gsg_distances(dist.d.data, td, N, Dm, m));
        CHECK_OK(gsg_cuda_check("distances"));
        CHECK_NEAR(dist, 1e-6);
    }
    gsg_choose(k.h.data, dist.h.data, N);
    CHECK_OK(gsg_cuda_gsg_choose(k.d.data, dist.d.data, N));
    int64_t *kg = malloc((size_t)N * sizeof *kg);
    struct gsg_tensor kv = gsg_tensor_view(kg, GSG_DTYPE_I64, GSG_DEV_CPU, 1, &kd);
    CHECK_OK(gsg_tensor_copy(&kv, &k.d));
    int64_t diff = 0;
    for (int64_t n = 0; n < N; n++) diff += kg[n] != ((int64_t *)k.h.data)[n];
    CHECK_EQ_I64(diff, 0);
    /* the loss from the CPU's choices on both devices */
    CHECK_OK(gsg_tensor_copy(&k.d, &k.h));
    double L = gsg_gsg_loss(rows.h.data, dph, ph, th, k.h.data, N, Dm);
    ((float *)loss.h.data)[0] = (float)L;
    CHECK_OK(gsg_cuda_gsg_loss(rows.d.data, loss.d.data, dpd, pd, td, k.d.data, N, Dm));
    CHECK_OK(gsg_cuda_check("gsg loss"));
    CHECK_NEAR(rows, 1e-6);
    CHECK_NEAR(loss, 1e-6);
    for (int v = 0; v < 4; v++) CHECK_NEAR(dp[v], 1e-5);
    L = gsg_simsiam_loss(rows.h.data, dph[0], dph[1], ph[0], ph[1], th[0], th[1], N, Dm);
    ((float *)loss.h.data)[0] = (float)L;
    CHECK_OK(gsg_cuda_simsiam_loss(rows.d.data, loss.d.data, dpd[0], dpd[1], pd[0], pd[1], td[0], td[1], N, Dm));
    CHECK_OK(gsg_cuda_check("simsiam loss"));
    CHECK_NEAR(rows, 1e-6);
    CHECK_NEAR(loss, 1e-6);
    CHECK_NEAR(dp[0], 1e-5);
    CHECK_NEAR(dp[1], 1e-5);
    /* pairing: gather and scatter-add through a permutation */
    int64_t *perm = k.h.data;
    gsg_pair_permutation(perm, N, 7, 3, 0);
    CHECK_OK(gsg_tensor_copy(&k.d, &k.h));
    gsg_gather_rows(dph[2], th[3], perm, N, Dm);
    CHECK_OK(gsg_cuda_gather_rows(dpd[2], td[3], k.d.data, N, Dm));
    CHECK_NEAR(dp[2], 0);
    gsg_scatter_add_rows(dph[2], th[1], perm, N, Dm);
    CHECK_OK(gsg_cuda_scatter_add_rows(dpd[2], td[1], k.d.data, N, Dm));
    CHECK_NEAR(dp[2], 0);
    free(kg);
    for (int v = 0; v < 4; v++) { drop(&p[v]); drop(&t[v]); drop(&dp[v]); }
    drop(&dist); drop(&rows); drop(&loss); drop(&k);
}

struct nb { float s; int64_t i; };
static int nb_cmp(const void *a, const void *b)
{
    const struct nb *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

TEST(knn_topk_vs_cpu)
{
    const int64_t Nq = 300, Nb = 5000, D = 64, K = 200;
    struct pair q = mk2(Nq, D, 1), b = mk2(Nb, D, 1);
    float *bh = b.h.data;
    for (int64_t r = 4000; r < 4100; r++) memcpy(bh + r * D, bh + (r - 3000) * D, (size_t)D * sizeof(float));   /* exact ties */
    CHECK_OK(gsg_tensor_copy(&b.d, &b.h));
    int64_t od[2] = {Nq, K};
    struct pair idx = mk(GSG_DTYPE_I32, 2, od, 0), sim = mk2(Nq, K, 0);
    CHECK_OK(gsg_cuda_knn_topk(idx.d.data, sim.d.data, q.d.data, Nq, b.d.data, Nb, D, K));
    int32_t *gi = malloc((size_t)(Nq * K) * sizeof *gi);
    float *gs = malloc((size_t)(Nq * K) * sizeof *gs);
    struct gsg_tensor vi = gsg_tensor_view(gi, GSG_DTYPE_I32, GSG_DEV_CPU, 2, od), vs = gsg_tensor_view(gs, GSG_DTYPE_F32, GSG_DEV_CPU, 2, od);
    CHECK_OK(gsg_tensor_copy(&vi, &idx.d));
    CHECK_OK(gsg_tensor_copy(&vs, &sim.d));
    struct nb *all = malloc((size_t)Nb * sizeof *all);
    float *ref = malloc((size_t)Nb * sizeof *ref);   /* the reference similarity by bank index */
    /* Similarities are sums of 64 products of magnitude ~10: the error is relative to the row's largest
     * |similarity| (a float sum of D terms: a few ulps), never absolute. Neighbours may differ only where
     * the two similarities are within that tolerance (near-ties flip across tile shapes). */
    const double rtol = 1e-5;
    int64_t mism = 0, unexplained = 0, order_bad = 0;
    double serr = 0;
    for (int64_t n = 0; n < Nq; n++) {
        for (int64_t j = 0; j < Nb; j++) {
            double s = 0;
            for (int64_t i = 0; i < D; i++) s += (double)((float *)q.h.data)[n * D + i] * bh[j * D + i];
            all[j].s = ref[j] = (float)s;
            all[j].i = j;
        }
        qsort(all, (size_t)Nb, sizeof *all, nb_cmp);
        double scale = fabs(all[0].s) > fabs(all[Nb - 1].s) ? fabs(all[0].s) : fabs(all[Nb - 1].s);
        if (scale < 1) scale = 1;
        for (int64_t r = 0; r < K; r++) {
            const int32_t gj = gi[n * K + r];
            double e = fabs((double)gs[n * K + r] - all[r].s) / scale;
            if (e > serr) serr = e;
            if (gj != all[r].i) {
                mism++;
                if (gj < 0 || gj >= Nb || fabs((double)ref[gj] - all[r].s) > rtol * scale) unexplained++;
            }
            if (r && (gs[n * K + r] > gs[n * K + r - 1] ||
                      (gs[n * K + r] == gs[n * K + r - 1] && gi[n * K + r] < gi[n * K + r - 1]))) order_bad++;
        }
    }
    CHECK_EQ_I64(order_bad, 0);               /* sorted by the knn.h rule */
    CHECK_MSG(serr <= rtol, "similarity error %.3g of the row's largest |similarity| (> %.3g)", serr, rtol);
    CHECK_MSG(unexplained == 0, "%lld of %lld neighbours differ beyond a near-tie", (long long)unexplained,
              (long long)(Nq * K));
    CHECK_MSG(mism <= Nq * K / 100, "%lld of %lld neighbours differ (near-ties)", (long long)mism, (long long)(Nq * K));
    free(ref);
    free(all); free(gi); free(gs);
    drop(&q); drop(&b); drop(&idx); drop(&sim);
}

struct gstep { struct gsg_tensor *y, *a, *b; };
static gsg_status graph_step(void *arg)
{
    struct gstep *s = arg;
    GSG_TRY(gsg_add(s->y, s->a, s->b));      /* y = a + b */
    GSG_TRY(gsg_relu_fwd(s->y, s->y));       /* y = relu(y) */
    return gsg_add_inplace(s->a, s->y);      /* a += y: each replay changes the next input */
}

TEST(graph_capture_and_replay)
{
    struct pair a = mk2(64, 100, 1), b = mk2(64, 100, 1), y = mk2(64, 100, 0);
    struct gsg_cuda_graph *g = NULL;
    CHECK_OK(gsg_cuda_graph_create(&g, 1));
    struct gstep sd = {D(y), D(a), D(b)}, sh = {H(y), H(a), H(b)};
    int actions[4];
    for (int i = 0; i < 4; i++) {
        CHECK_OK(graph_step(&sh));
        CHECK_OK(gsg_cuda_graph_run(g, 1234, graph_step, &sd));
        actions[i] = gsg_cuda_graph_last_action(g);
    }
    CHECK_OK(gsg_cuda_check("graph replay"));
    CHECK(actions[0] == 0 && actions[1] == 1 && actions[2] == 2 && actions[3] == 2);
    CHECK_NEAR(a, 1e-6);
    CHECK_NEAR(y, 1e-6);
    gsg_cuda_graph_destroy(g);
    drop(&a); drop(&b); drop(&y);
}

int main(void)
{
    const char *why = NULL;
    if (!gsg_cuda_built()) why = "built without nvcc";
    else if (gsg_cuda_init(0) < 0) why = gsg_err_msg();
    if (why) {
        SKIP(elementwise_and_relu, why); SKIP(batchnorm_all_modes, why); SKIP(batchnorm_split_matches_fused, why);
        SKIP(pools, why); SKIP(linear_fp32, why); SKIP(linear_bf16, why); SKIP(cosine_and_l2norm, why);
        SKIP(image_to_f32, why); SKIP(conv2d_fp32, why); SKIP(conv2d_bf16, why); SKIP(gsg_selection_and_losses, why);
        SKIP(knn_topk_vs_cpu, why); SKIP(graph_capture_and_replay, why);
        return check_summary();   /* non-zero under GSG_REQUIRE_GPU=1 */
    }
    printf("# %s\n", gsg_cuda_describe());
    RUN(elementwise_and_relu);
    RUN(batchnorm_all_modes);
    RUN(batchnorm_split_matches_fused);
    RUN(pools);
    RUN(linear_fp32);
    RUN(linear_bf16);
    RUN(cosine_and_l2norm);
    RUN(image_to_f32);
    RUN(conv2d_fp32);
    RUN(conv2d_bf16);
    RUN(gsg_selection_and_losses);
    RUN(knn_topk_vs_cpu);
    RUN(graph_capture_and_replay);
    return check_summary();
}
