/* test_ops.c: the fast f32 CPU ops (through their ops.h front ends) against the double references of
 * ref.h: forward and backward, NMSE tolerance, edge shapes (C = 1, odd sizes, tails of the lane
 * blocking, batch 1, sizes large enough to go parallel); batch norm running statistics (momentum 0.1,
 * unbiased variance), eval mode, affine=false, the fused BN+ReLU; max-pool argmax; cosine and l2norm
 * eps behaviour; input gradients written vs parameter gradients accumulated; shape errors. */
#include "check.h"
#include "cuda/gsg_cuda.h"
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "ops/ref.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#define TOL 1e-9   /* NMSE */

static uint64_t rng_state = 0x1234567887654321ull;
static double urand(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static struct gsg_tensor ten(enum gsg_dtype dt, int ndim, const int64_t *dims)
{
    struct gsg_tensor t;
    if (gsg_tensor_alloc(&t, dt, GSG_DEV_CPU, ndim, dims) < 0) { printf("alloc failed\n"); exit(1); }
    return t;
}
static struct gsg_tensor f32v(int ndim, const int64_t *dims, double lo, double hi)
{
    struct gsg_tensor t = ten(GSG_DTYPE_F32, ndim, dims);
    float *p = t.data;
    for (int64_t i = 0; i < gsg_tensor_numel(&t); i++) p[i] = (float)(lo + (hi - lo) * urand());
    return t;
}
static struct gsg_tensor f32fill(int ndim, const int64_t *dims, float v)
{
    struct gsg_tensor t = ten(GSG_DTYPE_F32, ndim, dims);
    float *p = t.data;
    for (int64_t i = 0; i < gsg_tensor_numel(&t); i++) p[i] = v;
    return t;
}
static double *dbl(const struct gsg_tensor *t)
{
    int64_t n = gsg_tensor_numel(t);
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++) d[i] = ((const float *)t->data)[i];
    return d;
}
static double *dzeros(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(double)); }
static float *F(const struct gsg_tensor *t) { return t->data; }
static int64_t NE(const struct gsg_tensor *t) { return gsg_tensor_numel(t); }

/* NMSE of an f32 result against a double reference */
static double nmse_d(const float *a, const double *ref, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}
#define CHECK_NMSE(t, ref, tol) do { double e_ = nmse_d(F(t), (ref), NE(t)); \
    CHECK_MSG(e_ <= (tol), "%s vs %s: nmse %.3g > %.3g", #t, #ref, e_, (double)(tol)); } while (0)

/* ---------------- batch norm ---------------- */
static void bn_train_case(int ndim, const int64_t *dims, int affine, double offset)
{
    struct gsg_tensor x = f32v(ndim, dims, offset - 2, offset + 3);
    int64_t C = dims[ndim - 1], M = NE(&x) / C;
    struct gsg_tensor y = f32fill(ndim, dims, NAN), g = f32v(1, &C, 0.5, 1.5), b = f32v(1, &C, -1, 1);
    struct gsg_tensor sm = f32fill(1, &C, NAN), si = f32fill(1, &C, NAN);
    struct gsg_tensor rm = f32v(1, &C, -1, 1), rv = f32v(1, &C, 0.5, 2);
    double *xd = dbl(&x), *gd = dbl(&g), *bd = dbl(&b), *rmd = dbl(&rm), *rvd = dbl(&rv);
    double *yd = dzeros(M * C), *smd = dzeros(C), *sid = dzeros(C);
    CHECK_OK(gsg_batchnorm_fwd(&y, &sm, &si, &x, affine ? &g : NULL, affine ? &b : NULL, &rm, &rv, 1, 0.1f, 1e-5f));
    gsg_ref_batchnorm_fwd(yd, smd, sid, xd, affine ? gd : NULL, affine ? bd : NULL, rmd, rvd, M, C, 1, 0.1, 1e-5);
    CHECK_NMSE(&y, yd, TOL);
    CHECK_NMSE(&sm, smd, 1e-12);
    CHECK_NMSE(&si, sid, 1e-12);
    CHECK_NMSE(&rm, rmd, 1e-12);
    CHECK_NMSE(&rv, rvd, 1e-12);

    /* backward: dx written over garbage, dgamma/dbeta accumulated onto 0.25 / -0.5 */
    struct gsg_tensor dy = f32v(ndim, dims, -1, 1), dx = f32fill(ndim, dims, NAN);
    struct gsg_tensor dg = f32fill(1, &C, 0.25f), db = f32fill(1, &C, -0.5f);
    double *dyd = dbl(&dy), *dxd = dzeros(M * C), *dgd = dzeros(C), *dbd = dzeros(C);
    for (int64_t c = 0; c < C; c++) { dgd[c] = 0.25; dbd[c] = -0.5; }
    double *smf = dbl(&sm), *sif = dbl(&si);   /* the backward consumes the f32 saved stats */
    CHECK_OK(gsg_batchnorm_bwd(&dx, affine ? &dg : NULL, affine ? &db : NULL, &dy, &x, affine ? &g : NULL, &sm, &si));
    gsg_ref_batchnorm_bwd(dxd, dgd, dbd, dyd, xd, affine ? gd : NULL, smf, sif, M, C);
    CHECK_NMSE(&dx, dxd, TOL);
    if (affine) {
        CHECK_NMSE(&dg, dgd, TOL);
        CHECK_NMSE(&db, dbd, TOL);
    }

    /* fused BN+ReLU against ref BN then ReLU, and its backward against relu-masked ref backward */
    struct gsg_tensor yr = f32fill(ndim, dims, NAN), rm2 = f32fill(1, &C, 0), rv2 = f32fill(1, &C, 1);
    CHECK_OK(gsg_batchnorm_relu_fwd(&yr, &sm, &si, &x, affine ? &g : NULL, affine ? &b : NULL, &rm2, &rv2, 1, 0.1f,
                                    1e-5f));
    double *yrd = dzeros(M * C), *dm = dzeros(M * C);
    gsg_ref_relu_fwd(yrd, yd, M * C);
    CHECK_NMSE(&yr, yrd, TOL);
    gsg_ref_relu_bwd(dm, dyd, yrd, M * C);
    double *dxr = dzeros(M * C);
    gsg_ref_batchnorm_bwd(dxr, NULL, NULL, dm, xd, affine ? gd : NULL, smf, sif, M, C);
    struct gsg_tensor dxf = f32fill(ndim, dims, NAN);
    CHECK_OK(gsg_batchnorm_relu_bwd(&dxf, NULL, NULL, &dy, &yr, &x, affine ? &g : NULL, &sm, &si));
    CHECK_NMSE(&dxf, dxr, TOL);

    struct gsg_tensor *ts[] = {&x, &y, &g, &b, &sm, &si, &rm, &rv, &dy, &dx, &dg, &db, &yr, &rm2, &rv2, &dxf};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) gsg_tensor_free(ts[i]);
    double *ds[] = {xd, gd, bd, rmd, rvd, yd, smd, sid, dyd, dxd, dgd, dbd, smf, sif, yrd, dm, dxr};
    for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) free(ds[i]);
}

TEST(batchnorm_small_shapes)
{
    bn_train_case(2, (int64_t[]){7, 3}, 1, 0);
    bn_train_case(2, (int64_t[]){3, 1}, 1, 0);   /* (M = 2 makes dx exactly 0: no relative test) */
    bn_train_case(2, (int64_t[]){3, 5}, 0, 0);
    bn_train_case(4, (int64_t[]){1, 3, 5, 7}, 1, 0);          /* batch 1, odd sizes, C=7: k=9 lane blocks + tail */
    bn_train_case(4, (int64_t[]){2, 5, 5, 16}, 1, 0);         /* C=16: 50 rows = 12 blocks of 4 + tail 2 */
}
TEST(batchnorm_parallel_shapes)
{
    bn_train_case(4, (int64_t[]){4, 16, 16, 16}, 1, 0);       /* 65536 elements: threads, C=16 */
    bn_train_case(4, (int64_t[]){3, 9, 11, 64}, 1, 0);        /* C=64, odd rows */
    bn_train_case(2, (int64_t[]){64, 2048}, 1, 0);            /* BN1d of the projector */
    bn_train_case(2, (int64_t[]){33, 2048}, 0, 0);            /* affine=false, odd batch */
}
/* a large common offset: the shifted sums keep the variance accurate */
TEST(batchnorm_large_mean) { bn_train_case(4, (int64_t[]){2, 8, 8, 16}, 1, 1000.0); }

/* the per-thread partial sums give the same statistics whatever the team size */
TEST(batchnorm_thread_count)
{
    int64_t d[4] = {8, 16, 15, 24}, C = 24;   /* 46080 elements: above the parallel threshold; 2-row lane blocks */
    struct gsg_tensor x = f32v(4, d, -1, 2), y1 = f32fill(4, d, 0), y3 = f32fill(4, d, 0);
    struct gsg_tensor s1 = f32fill(1, &C, 0), i1 = f32fill(1, &C, 0), s3 = f32fill(1, &C, 0), i3 = f32fill(1, &C, 0);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK_OK(gsg_batchnorm_fwd(&y1, &s1, &i1, &x, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f));
    omp_set_num_threads(3);
    CHECK_OK(gsg_batchnorm_fwd(&y3, &s3, &i3, &x, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f));
    omp_set_num_threads(saved);
    double *y1d = dbl(&y1), *s1d = dbl(&s1), *i1d = dbl(&i1);
    CHECK_NMSE(&y3, y1d, 1e-13);
    CHECK_NMSE(&s3, s1d, 1e-13);
    CHECK_NMSE(&i3, i1d, 1e-13);
    gsg_tensor_free(&x); gsg_tensor_free(&y1); gsg_tensor_free(&y3); gsg_tensor_free(&s1); gsg_tensor_free(&i1);
    gsg_tensor_free(&s3); gsg_tensor_free(&i3);
    free(y1d); free(s1d); free(i1d);
}

TEST(batchnorm_running_stats_exact)
{
    /* x = [1,2,3,6] in one channel: mean 3, biased var 3.5, unbiased 14/3 */
    float xv[4] = {1, 2, 3, 6}, yv[4], rmv[1] = {0.5f}, rvv[1] = {2.0f}, smv[1], siv[1];
    struct gsg_tensor x = gsg_tview(xv, GSG_DTYPE_F32, 2, (int64_t)4, (int64_t)1);
    struct gsg_tensor y = gsg_tview(yv, GSG_DTYPE_F32, 2, (int64_t)4, (int64_t)1);
    struct gsg_tensor rm = gsg_tview(rmv, GSG_DTYPE_F32, 1, (int64_t)1), rv = gsg_tview(rvv, GSG_DTYPE_F32, 1, (int64_t)1);
    struct gsg_tensor sm = gsg_tview(smv, GSG_DTYPE_F32, 1, (int64_t)1), si = gsg_tview(siv, GSG_DTYPE_F32, 1, (int64_t)1);
    CHECK_OK(gsg_batchnorm_fwd(&y, &sm, &si, &x, NULL, NULL, &rm, &rv, 1, 0.1f, 1e-5f));
    CHECK_CLOSE(rmv[0], 0.9 * 0.5 + 0.1 * 3.0, 1e-6, 0);
    CHECK_CLOSE(rvv[0], 0.9 * 2.0 + 0.1 * 14.0 / 3.0, 1e-6, 0);
    CHECK_CLOSE(smv[0], 3.0, 1e-7, 0);
    CHECK_CLOSE(siv[0], 1.0 / sqrt(3.5 + 1e-5), 1e-6, 0);
    CHECK_CLOSE(yv[3], 3.0 / sqrt(3.5 + 1e-5), 1e-6, 0);
    /* running stats NULL in training: still normalises */
    CHECK_OK(gsg_batchnorm_fwd(&y, NULL, NULL, &x, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f));
    CHECK_CLOSE(yv[0], -2.0 / sqrt(3.5 + 1e-5), 1e-6, 0);
}

TEST(batchnorm_eval_mode)
{
    int64_t dims[4] = {1, 1, 1, 5}, C = 5;   /* M = 1 is fine in eval mode */
    for (int rep = 0; rep < 2; rep++) {
        if (rep) { dims[0] = 8; dims[1] = 16; dims[2] = 16; dims[3] = C = 17; }   /* parallel, 3-row blocks + tail */
        struct gsg_tensor x = f32v(4, dims, -2, 2), y = f32fill(4, dims, NAN);
        struct gsg_tensor g = f32v(1, &C, 0.5, 1.5), b = f32v(1, &C, -1, 1);
        struct gsg_tensor rm = f32v(1, &C, -1, 1), rv = f32v(1, &C, 0.5, 2);
        double *xd = dbl(&x), *gd = dbl(&g), *bd = dbl(&b), *rmd = dbl(&rm), *rvd = dbl(&rv), *yd = dzeros(NE(&x));
        CHECK_OK(gsg_batchnorm_fwd(&y, NULL, NULL, &x, &g, &b, &rm, &rv, 0, 0.1f, 1e-5f));
        gsg_ref_batchnorm_fwd(yd, NULL, NULL, xd, gd, bd, rmd, rvd, NE(&x) / C, C, 0, 0.1, 1e-5);
        CHECK_NMSE(&y, yd, TOL);
        /* running stats unchanged */
        CHECK_NMSE(&rm, rmd, 0);
        CHECK_NMSE(&rv, rvd, 0);
        /* eval without running stats is an error */
        CHECK(gsg_batchnorm_fwd(&y, NULL, NULL, &x, &g, &b, NULL, NULL, 0, 0.1f, 1e-5f) == GSG_E_SHAPE);
        gsg_tensor_free(&x); gsg_tensor_free(&y); gsg_tensor_free(&g); gsg_tensor_free(&b);
        gsg_tensor_free(&rm); gsg_tensor_free(&rv);
        free(xd); free(gd); free(bd); free(rmd); free(rvd); free(yd);
    }
}

TEST(batchnorm_errors)
{
    int64_t C = 4;
    struct gsg_tensor x = f32v(2, (int64_t[]){1, 4}, -1, 1), y = f32fill(2, (int64_t[]){1, 4}, 0);
    struct gsg_tensor g3 = f32fill(1, (int64_t[]){3}, 1), rm = f32fill(1, &C, 0), rv = f32fill(1, &C, 1);
    CHECK(gsg_batchnorm_fwd(&y, NULL, NULL, &x, NULL, NULL, &rm, &rv, 1, 0.1f, 1e-5f) == GSG_E_SHAPE);
    CHECK(strstr(gsg_err_msg(), "batchnorm") && strstr(gsg_err_msg(), "more than 1"));
    CHECK(gsg_batchnorm_fwd(&y, NULL, NULL, &x, &g3, NULL, &rm, &rv, 0, 0.1f, 1e-5f) == GSG_E_SHAPE);
    CHECK_MSG(strstr(gsg_err_msg(), "gamma [3]") && strstr(gsg_err_msg(), "[1,4]"), "%s", gsg_err_msg());
    struct gsg_tensor y5 = f32fill(2, (int64_t[]){1, 5}, 0);
    CHECK(gsg_batchnorm_fwd(&y5, NULL, NULL, &x, NULL, NULL, &rm, &rv, 0, 0.1f, 1e-5f) == GSG_E_SHAPE);
    CHECK_MSG(strstr(gsg_err_msg(), "y [1,5]") && strstr(gsg_err_msg(), "x [1,4]"), "%s", gsg_err_msg());
    gsg_tensor_free(&x); gsg_tensor_free(&y); gsg_tensor_free(&g3); gsg_tensor_free(&rm); gsg_tensor_free(&rv);
    gsg_tensor_free(&y5);
}

/* ---------------- relu and elementwise ---------------- */
TEST(relu_fwd_bwd)
{
    int64_t ns[3] = {1, 37, 100003};
    for (int k = 0; k < 3; k++) {
        struct gsg_tensor x = f32v(1, &ns[k], -1, 1), y = f32fill(1, &ns[k], NAN), dy = f32v(1, &ns[k], -1, 1),
                          dx = f32fill(1, &ns[k], NAN);
        double *xd = dbl(&x), *dyd = dbl(&dy), *yd = dzeros(ns[k]), *dxd = dzeros(ns[k]);
        CHECK_OK(gsg_relu_fwd(&y, &x));
        CHECK_OK(gsg_relu_bwd(&dx, &dy, &y));
        gsg_ref_relu_fwd(yd, xd, ns[k]);
        gsg_ref_relu_bwd(dxd, dyd, yd, ns[k]);
        CHECK_NMSE(&y, yd, 0);
        CHECK_NMSE(&dx, dxd, 0);
        /* in place: y aliases x, dx aliases dy */
        CHECK_OK(gsg_relu_fwd(&x, &x));
        CHECK_NMSE(&x, yd, 0);
        CHECK_OK(gsg_relu_bwd(&dy, &dy, &x));
        CHECK_NMSE(&dy, dxd, 0);
        gsg_tensor_free(&x); gsg_tensor_free(&y); gsg_tensor_free(&dy); gsg_tensor_free(&dx);
        free(xd); free(dyd); free(yd); free(dxd);
    }
}

TEST(relu_nan_propagates)
{
    float xv[3] = {NAN, -1.0f, 2.0f}, yv[3];
    struct gsg_tensor x = gsg_tview(xv, GSG_DTYPE_F32, 1, (int64_t)3), y = gsg_tview(yv, GSG_DTYPE_F32, 1, (int64_t)3);
    CHECK_OK(gsg_relu_fwd(&y, &x));
    CHECK(isnan(yv[0]) && yv[1] == 0.0f && yv[2] == 2.0f);   /* torch.relu(nan) = nan */
    CHECK_OK(gsg_add_relu(&y, &x, &x));
    CHECK(isnan(yv[0]) && yv[1] == 0.0f && yv[2] == 4.0f);
}

TEST(elementwise)
{
    int64_t dims[3] = {3, 5, 70001};
    struct gsg_tensor a = f32v(3, dims, -1, 1), b = f32v(3, dims, -1, 1), y = f32fill(3, dims, NAN);
    const float *pa = a.data, *pb = b.data;
    float *py = y.data;
    int64_t n = NE(&a);
    CHECK_OK(gsg_add(&y, &a, &b));
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += py[i] != pa[i] + pb[i];
    CHECK_EQ_I64(bad, 0);
    CHECK_OK(gsg_add_relu(&y, &a, &b));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += py[i] != fmaxf(pa[i] + pb[i], 0.0f);
    CHECK_EQ_I64(bad, 0);
    CHECK_OK(gsg_zero(&y));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += py[i] != 0.0f;
    CHECK_EQ_I64(bad, 0);
    CHECK_OK(gsg_add_inplace(&y, &a));
    CHECK_OK(gsg_add_inplace(&y, &b));
    CHECK_OK(gsg_scale(&y, 0.5f));
    bad = 0;
    for (int64_t i = 0; i < n; i++) bad += py[i] != (pa[i] + pb[i]) * 0.5f;
    CHECK_EQ_I64(bad, 0);
    /* add with y aliasing a */
    CHECK_OK(gsg_add(&a, &a, &a));
    CHECK_CLOSE(pa[n - 1], 2 * ((const float *)b.data)[n - 1] * 0 + pa[n - 1], 0, 0);
    /* zero of any dtype */
    struct gsg_tensor u = ten(GSG_DTYPE_U8, 1, (int64_t[]){13});
    memset(u.data, 7, 13);
    CHECK_OK(gsg_zero(&u));
    CHECK(((uint8_t *)u.data)[12] == 0);
    /* shape mismatch */
    struct gsg_tensor c = f32fill(2, (int64_t[]){3, 5}, 0);
    CHECK(gsg_add(&y, &a, &c) == GSG_E_SHAPE);
    CHECK_MSG(strstr(gsg_err_msg(), "add: b [3,5]") && strstr(gsg_err_msg(), "[3,5,70001]"), "%s", gsg_err_msg());
    gsg_tensor_free(&a); gsg_tensor_free(&b); gsg_tensor_free(&y); gsg_tensor_free(&u); gsg_tensor_free(&c);
}

/* ---------------- pools ---------------- */
static void maxpool_case(int64_t N, int64_t H, int64_t W, int64_t C, int ties)
{
    int64_t Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
    int64_t xd4[4] = {N, H, W, C}, yd4[4] = {N, Ho, Wo, C};
    struct gsg_tensor x = f32v(4, xd4, -1, 1), y = f32fill(4, yd4, NAN), am = ten(GSG_DTYPE_I32, 4, yd4);
    if (ties) for (int64_t i = 0; i < NE(&x); i++) F(&x)[i] = (float)((i * 7) % 3);   /* many equal maxima */
    double *xd = dbl(&x), *yd = dzeros(NE(&y));
    int64_t *ad = malloc((size_t)NE(&y) * sizeof *ad);
    CHECK_OK(gsg_maxpool_fwd(&y, &am, &x));
    gsg_ref_maxpool_fwd(yd, ad, xd, N, H, W, C);
    CHECK_NMSE(&y, yd, 0);
    int bad = 0;
    for (int64_t i = 0; i < NE(&y); i++) bad += ((int32_t *)am.data)[i] != ad[i];
    CHECK_EQ_I64(bad, 0);
    struct gsg_tensor dy = f32v(4, yd4, -1, 1), dx = f32fill(4, xd4, NAN);
    double *dyd = dbl(&dy), *dxd = dzeros(NE(&x));
    CHECK_OK(gsg_maxpool_bwd(&dx, &dy, &am));
    gsg_ref_maxpool_bwd(dxd, dyd, ad, N, H, W, C);
    CHECK_NMSE(&dx, dxd, 1e-14);
    gsg_tensor_free(&x); gsg_tensor_free(&y); gsg_tensor_free(&am); gsg_tensor_free(&dy); gsg_tensor_free(&dx);
    free(xd); free(yd); free(ad); free(dyd); free(dxd);
}
TEST(maxpool)
{
    maxpool_case(2, 5, 7, 3, 0);
    maxpool_case(1, 1, 1, 3, 0);
    maxpool_case(1, 2, 2, 17, 0);
    maxpool_case(2, 6, 5, 4, 1);
    maxpool_case(4, 32, 32, 64, 0);   /* parallel */
    /* wrong output shape */
    struct gsg_tensor x = f32fill(4, (int64_t[]){1, 8, 8, 2}, 0), y = f32fill(4, (int64_t[]){1, 3, 4, 2}, 0),
                      am = ten(GSG_DTYPE_I32, 4, (int64_t[]){1, 4, 4, 2});
    CHECK(gsg_maxpool_fwd(&y, &am, &x) == GSG_E_SHAPE);
    CHECK_MSG(strstr(gsg_err_msg(), "maxpool: y [1,3,4,2]") && strstr(gsg_err_msg(), "[1,8,8,2]"), "%s", gsg_err_msg());
    gsg_tensor_free(&x); gsg_tensor_free(&y); gsg_tensor_free(&am);
}

static void avgpool_case(int64_t N, int64_t H, int64_t W, int64_t C)
{
    int64_t xd4[4] = {N, H, W, C}, yd2[2] = {N, C};
    struct gsg_tensor x = f32v(4, xd4, -1, 1), y = f32fill(2, yd2, NAN), dy = f32v(2, yd2, -1, 1),
                      dx = f32fill(4, xd4, NAN);
    double *xd = dbl(&x), *yd = dzeros(N * C), *dyd = dbl(&dy), *dxd = dzeros(NE(&x));
    CHECK_OK(gsg_avgpool_fwd(&y, &x));
    CHECK_OK(gsg_avgpool_bwd(&dx, &dy));
    gsg_ref_avgpool_fwd(yd, xd, N, H * W, C);
    gsg_ref_avgpool_bwd(dxd, dyd, N, H * W, C);
    CHECK_NMSE(&y, yd, 1e-12);
    CHECK_NMSE(&dx, dxd, 1e-13);
    gsg_tensor_free(&x); gsg_tensor_free(&y); gsg_tensor_free(&dy); gsg_tensor_free(&dx);
    free(xd); free(yd); free(dyd); free(dxd);
}
TEST(avgpool) { avgpool_case(2, 3, 5, 7); avgpool_case(1, 1, 1, 1); avgpool_case(64, 4, 4, 512); avgpool_case(3, 7, 7, 2048); }

/* ---------------- linear ---------------- */
static void linear_case(int64_t N, int64_t In, int64_t Out, int bias)
{
    int64_t xd2[2] = {N, In}, wd2[2] = {Out, In}, yd2[2] = {N, Out};
    struct gsg_tensor x = f32v(2, xd2, -1, 1), w = f32v(2, wd2, -1, 1), b = f32v(1, &Out, -1, 1),
                      y = f32fill(2, yd2, NAN);
    double *xd = dbl(&x), *wd = dbl(&w), *bd = dbl(&b), *yd = dzeros(N * Out);
    CHECK_OK(gsg_linear_fwd(&y, &x, &w, bias ? &b : NULL));
    gsg_ref_linear_fwd(yd, xd, wd, bias ? bd : NULL, N, In, Out);
    CHECK_NMSE(&y, yd, TOL);
    /* dx written over NaN; dw, db accumulated onto 0.5 and -1 */
    struct gsg_tensor dy = f32v(2, yd2, -1, 1), dx = f32fill(2, xd2, NAN), dw = f32fill(2, wd2, 0.5f),
                      db = f32fill(1, &Out, -1.0f);
    double *dyd = dbl(&dy), *dxd = dzeros(N * In), *dwd = dbl(&dw), *dbd = dbl(&db);
    CHECK_OK(gsg_linear_bwd(&dx, &dw, bias ? &db : NULL, &dy, &x, &w));
    gsg_ref_linear_bwd(dxd, dwd, bias ? dbd : NULL, dyd, xd, wd, N, In, Out);
    CHECK_NMSE(&dx, dxd, TOL);
    CHECK_NMSE(&dw, dwd, TOL);
    CHECK_NMSE(&db, dbd, TOL);
    /* dx NULL: only dw accumulates (twice now) */
    CHECK_OK(gsg_linear_bwd(NULL, &dw, NULL, &dy, &x, &w));
    gsg_ref_linear_bwd(NULL, dwd, NULL, dyd, xd, wd, N, In, Out);
    CHECK_NMSE(&dw, dwd, TOL);
    gsg_tensor_free(&x); gsg_tensor_free(&w); gsg_tensor_free(&b); gsg_tensor_free(&y);
    gsg_tensor_free(&dy); gsg_tensor_free(&dx); gsg_tensor_free(&dw); gsg_tensor_free(&db);
    free(xd); free(wd); free(bd); free(yd); free(dyd); free(dxd); free(dwd); free(dbd);
}
TEST(linear)
{
    linear_case(1, 7, 3, 1);
    linear_case(5, 1, 1, 1);
    linear_case(33, 65, 17, 0);
    linear_case(64, 300, 200, 1);
    struct gsg_tensor x = f32fill(2, (int64_t[]){4, 6}, 0), w = f32fill(2, (int64_t[]){3, 5}, 0),
                      y = f32fill(2, (int64_t[]){4, 3}, 0);
    CHECK(gsg_linear_fwd(&y, &x, &w, NULL) == GSG_E_SHAPE);
    CHECK_MSG(strstr(gsg_err_msg(), "linear: w [3,5]") && strstr(gsg_err_msg(), "x [4,6]"), "%s", gsg_err_msg());
    gsg_tensor_free(&x); gsg_tensor_free(&w); gsg_tensor_free(&y);
}

/* ---------------- cosine and l2norm ---------------- */
static void cosine_case(int64_t N, int64_t D, double scale, int which)
{
    int64_t d2[2] = {N, D};
    struct gsg_tensor a = f32v(2, d2, -scale, scale), b = f32v(2, d2, -scale, scale), out = f32fill(1, &N, NAN),
                      dout = f32v(1, &N, -1, 1), da = f32fill(2, d2, NAN), db = f32fill(2, d2, NAN);
    double *ad = dbl(&a), *bd = dbl(&b), *od = dzeros(N), *gd = dbl(&dout), *dad = dzeros(N * D), *dbd = dzeros(N * D);
    CHECK_OK(gsg_cosine_fwd(&out, &a, &b));
    gsg_ref_cosine_fwd(od, ad, bd, N, D, 1e-8);
    CHECK_NMSE(&out, od, TOL);
    CHECK_OK(gsg_cosine_bwd(which & 1 ? &da : NULL, which & 2 ? &db : NULL, &dout, &a, &b));
    gsg_ref_cosine_bwd(dad, dbd, gd, ad, bd, N, D, 1e-8);
    if (which & 1) CHECK_NMSE(&da, dad, TOL);
    if (which & 2) CHECK_NMSE(&db, dbd, TOL);
    if (!(which & 1)) CHECK(isnan(F(&da)[0]));   /* untouched */
    gsg_tensor_free(&a); gsg_tensor_free(&b); gsg_tensor_free(&out); gsg_tensor_free(&dout);
    gsg_tensor_free(&da); gsg_tensor_free(&db);
    free(ad); free(bd); free(od); free(gd); free(dad); free(dbd);
}
TEST(cosine)
{
    cosine_case(1, 2, 1, 3);   /* (D = 1: the gradient is exactly 0, no relative test) */
    cosine_case(7, 13, 1, 3);
    cosine_case(256, 2048, 1, 3);
    cosine_case(9, 5, 1, 2);
    cosine_case(9, 5, 1, 1);
}
TEST(cosine_eps)
{
    cosine_case(5, 4, 1e-6, 3);   /* |a||b| ~ 1e-12 < eps: clamped denominator, gradient b/eps */
    /* exact values: a = b = 0 gives 0 and zero gradient; a parallel to b gives 1 */
    float av[6] = {0, 0, 0, 1, 2, 3}, bv[6] = {0, 0, 0, 2, 4, 6}, ov[2], gv[2] = {1, 1}, dav[6];
    struct gsg_tensor a = gsg_tview(av, GSG_DTYPE_F32, 2, (int64_t)2, (int64_t)3);
    struct gsg_tensor b = gsg_tview(bv, GSG_DTYPE_F32, 2, (int64_t)2, (int64_t)3);
    struct gsg_tensor o = gsg_tview(ov, GSG_DTYPE_F32, 1, (int64_t)2), g = gsg_tview(gv, GSG_DTYPE_F32, 1, (int64_t)2);
    struct gsg_tensor da = gsg_tview(dav, GSG_DTYPE_F32, 2, (int64_t)2, (int64_t)3);
    CHECK_OK(gsg_cosine_fwd(&o, &a, &b));
    CHECK(ov[0] == 0.0f);
    CHECK_CLOSE(ov[1], 1.0, 1e-6, 0);
    CHECK_OK(gsg_cosine_bwd(&da, NULL, &g, &a, &b));
    CHECK(dav[0] == 0.0f && dav[1] == 0.0f && dav[2] == 0.0f);
    CHECK_CLOSE(dav[3], 0.0, 0, 1e-6);
}

static void l2_case(int64_t N, int64_t D, double scale)
{
    int64_t d2[2] = {N, D};
    struct gsg_tensor x = f32v(2, d2, -scale, scale), y = f32fill(2, d2, NAN), dy = f32v(2, d2, -1, 1),
                      dx = f32fill(2, d2, NAN);
    double *xd = dbl(&x), *yd = dzeros(N * D), *dyd = dbl(&dy), *dxd = dzeros(N * D);
    CHECK_OK(gsg_l2norm_fwd(&y, &x));
    CHECK_OK(gsg_l2norm_bwd(&dx, &dy, &x));
    gsg_ref_l2norm_fwd(yd, xd, N, D, 1e-12);
    gsg_ref_l2norm_bwd(dxd, dyd, xd, N, D, 1e-12);
    CHECK_NMSE(&y, yd, TOL);
    CHECK_NMSE(&dx, dxd, TOL);
    gsg_tensor_free(&x); gsg_tensor_free(&y); gsg_tensor_free(&dy); gsg_tensor_free(&dx);
    free(xd); free(yd); free(dyd); free(dxd);
}
TEST(l2norm) { l2_case(1, 2, 1); l2_case(7, 13, 3); l2_case(256, 2048, 1); l2_case(4, 3, 1e-15); }

/* ---------------- NT-Xent ----------------
 * Worked by hand: u = [e1, e2, e1, e2] (two images whose two views agree), tau = 1. Anchor 0 sees
 * s = 0 (row 1), 1 (row 2, its positive), 0 (row 3): lse = log(2 + e), loss = log(2 + e) - 1 for every
 * anchor by symmetry. With dloss = 1 everywhere, row 0's gradient is
 *   as anchor:          (p01 e2 + p02 e1 + p03 e2) - e1 = (-2 e1 + 2 e2) / (2 + e)
 *   in anchor 1 (neg):  p10 e2 = e2 / (2 + e);  anchor 3 (neg): e2 / (2 + e)
 *   in anchor 2 (pos):  (p20 - 1) e1 = -2 e1 / (2 + e)
 * so du_0 = 4 (e2 - e1) / (2 + e); by the e1 <-> e2 symmetry du_1 = -du_0, and rows 2, 3 equal rows 0, 1.
 * An anchor left in its own denominator would give lse = log(2 + 2e). */
TEST(ntxent_hand)
{
    float uv[8] = {1, 0, 0, 1, 1, 0, 0, 1}, lv[4], sv[4], wv[16], dlv[4] = {1, 1, 1, 1}, duv[8];
    struct gsg_tensor u = gsg_tview(uv, GSG_DTYPE_F32, 2, (int64_t)4, (int64_t)2);
    struct gsg_tensor l = gsg_tview(lv, GSG_DTYPE_F32, 1, (int64_t)4), ls = gsg_tview(sv, GSG_DTYPE_F32, 1, (int64_t)4);
    struct gsg_tensor w = gsg_tview(wv, GSG_DTYPE_F32, 2, (int64_t)4, (int64_t)4), dl = gsg_tview(dlv, GSG_DTYPE_F32, 1, (int64_t)4);
    struct gsg_tensor du = gsg_tview(duv, GSG_DTYPE_F32, 2, (int64_t)4, (int64_t)2);
    CHECK_OK(gsg_ntxent_fwd(&l, &ls, &w, &u, 0, 1.0));
    const double e = exp(1.0), g = 4.0 / (2.0 + e);
    for (int k = 0; k < 4; k++) {
        CHECK_CLOSE(sv[k], log(2.0 + e), 1e-6, 0);
        CHECK_CLOSE(lv[k], log(2.0 + e) - 1.0, 1e-6, 0);
    }
    CHECK_OK(gsg_ntxent_bwd(&du, &w, &dl, &u, &ls, 0, 1.0));
    const double want[8] = {-g, g, g, -g, -g, g, g, -g};
    for (int i = 0; i < 8; i++) CHECK_CLOSE(duv[i], want[i], 1e-6, 1e-7);
    /* the temperature divides every similarity: tau = 0.5 doubles them */
    CHECK_OK(gsg_ntxent_fwd(&l, &ls, &w, &u, 0, 0.5));
    CHECK_CLOSE(lv[0], log(2.0 + exp(2.0)) - 2.0, 1e-6, 0);
}

/* the front ends refuse what makes no sense, in one line naming the op; a NaN is not hidden */
TEST(ntxent_errors_and_nan)
{
    float uv[24] = {0}, lv[6], sv[6], wv[36], dv[12];
    for (int i = 0; i < 24; i++) uv[i] = (float)((i * 7) % 5) - 2.0f;
    struct gsg_tensor u = gsg_tview(uv, GSG_DTYPE_F32, 2, (int64_t)6, (int64_t)4);
    struct gsg_tensor l3 = gsg_tview(lv, GSG_DTYPE_F32, 1, (int64_t)3), s3 = gsg_tview(sv, GSG_DTYPE_F32, 1, (int64_t)3);
    struct gsg_tensor l6 = gsg_tview(lv, GSG_DTYPE_F32, 1, (int64_t)6), s6 = gsg_tview(sv, GSG_DTYPE_F32, 1, (int64_t)6);
    struct gsg_tensor l4 = gsg_tview(lv, GSG_DTYPE_F32, 1, (int64_t)4), s4 = gsg_tview(sv, GSG_DTYPE_F32, 1, (int64_t)4);
    struct gsg_tensor w36 = gsg_tview(wv, GSG_DTYPE_F32, 2, (int64_t)6, (int64_t)6);
    struct gsg_tensor w18 = gsg_tview(wv, GSG_DTYPE_F32, 2, (int64_t)3, (int64_t)6);
    CHECK(gsg_ntxent_fwd(&l3, &s3, &w18, &u, 0, 0.5) == GSG_E_SHAPE);   /* an odd block: no view pairs */
    CHECK_MSG(strstr(gsg_err_msg(), "ntxent fwd: blocks of 3 rows"), "%s", gsg_err_msg());
    CHECK(gsg_ntxent_fwd(&l4, &s4, &w36, &u, 0, 0.5) == GSG_E_SHAPE);   /* 4 does not divide 6 */
    CHECK(gsg_ntxent_fwd(&l6, &s6, &w36, &u, 1, 0.5) == GSG_E_SHAPE);   /* block 1 of 1 */
    CHECK_MSG(strstr(gsg_err_msg(), "block 1 of 1"), "%s", gsg_err_msg());
    CHECK(gsg_ntxent_fwd(&l6, &s6, &w36, &u, 0, 0.0) == GSG_E_USAGE);
    CHECK(gsg_ntxent_fwd(&l6, &s6, &w36, &u, 0, NAN) == GSG_E_USAGE);
    CHECK(gsg_ntxent_fwd(&l6, &s6, &w18, &u, 0, 0.5) == GSG_E_SHAPE);   /* work must be [6,6] */
    CHECK_MSG(strstr(gsg_err_msg(), "work"), "%s", gsg_err_msg());
    struct gsg_tensor du = gsg_tview(dv, GSG_DTYPE_F32, 2, (int64_t)6, (int64_t)2);
    CHECK(gsg_ntxent_bwd(&du, &w36, &l6, &u, &s6, 0, 0.5) == GSG_E_SHAPE);   /* du [6,2] for u [6,4] */
    struct gsg_tensor du4 = gsg_tview(dv, GSG_DTYPE_F32, 2, (int64_t)3, (int64_t)4);
    CHECK(gsg_ntxent_bwd(&du4, &w18, &l3, &u, &s3, 0, 0.5) == GSG_E_SHAPE);  /* dloss [3]: one per row of u */
    CHECK_OK(gsg_ntxent_fwd(&l6, &s6, &w36, &u, 0, 0.5));
    for (int k = 0; k < 6; k++) CHECK(isfinite(lv[k]) && lv[k] > 0);
    uv[5] = NAN;   /* row 1: every anchor compares with it */
    CHECK_OK(gsg_ntxent_fwd(&l6, &s6, &w36, &u, 0, 0.5));
    for (int k = 0; k < 6; k++) CHECK_MSG(isnan(lv[k]), "loss[%d] = %g with a NaN row", k, lv[k]);
}

/* ---------------- image ---------------- */
TEST(image_to_f32)
{
    int64_t N = 2, C = 3, H = 5, W = 7;
    struct gsg_tensor x = ten(GSG_DTYPE_U8, 4, (int64_t[]){N, C, H, W}), y = f32fill(4, (int64_t[]){N, H, W, C}, NAN);
    for (int64_t i = 0; i < NE(&x); i++) ((uint8_t *)x.data)[i] = (uint8_t)(i * 37 % 256);
    float mean[3] = {0.4914f, 0.4822f, 0.4465f}, sd[3] = {0.247f, 0.243f, 0.261f};
    double *yd = dzeros(NE(&y));
    CHECK_OK(gsg_image_to_f32(&y, &x, mean, sd));
    gsg_ref_image_to_f32(yd, x.data, mean, sd, N, C, H, W);
    CHECK_NMSE(&y, yd, 1e-12);
    float bad_sd[3] = {1, 0, 1};
    CHECK(gsg_image_to_f32(&y, &x, mean, bad_sd) == GSG_E_USAGE);
    struct gsg_tensor yw = f32fill(4, (int64_t[]){N, C, H, W}, 0);
    CHECK(gsg_image_to_f32(&yw, &x, mean, sd) == GSG_E_SHAPE);
    CHECK_MSG(strstr(gsg_err_msg(), "image_to_f32: y [2,3,5,7]") && strstr(gsg_err_msg(), "expected [2,5,7,3]"), "%s",
              gsg_err_msg());
    gsg_tensor_free(&x); gsg_tensor_free(&y); gsg_tensor_free(&yw);
    free(yd);
}

/* ---------------- devices and dtypes ---------------- */
TEST(device_and_dtype_checks)
{
    float buf[16] = {0};
    struct gsg_tensor c = gsg_tview(buf, GSG_DTYPE_F32, 2, (int64_t)4, (int64_t)4);
    struct gsg_tensor g = c;
    g.dev = GSG_DEV_CUDA;   /* host memory posing as a device tensor: only dispatched when no GPU can run it */
    const int gpu = gsg_cuda_built() && gsg_cuda_init(0) == GSG_OK;
    if (!gpu) {
        /* the front end checks pass and dispatch reaches the backend, which refuses with one line */
        CHECK(gsg_relu_fwd(&g, &g) == GSG_E_NO_CUDA);
        CHECK_MSG(strstr(gsg_err_msg(), "CUDA"), "%s", gsg_err_msg());
        CHECK(gsg_linear_fwd(&g, &g, &g, NULL) == GSG_E_NO_CUDA);
        CHECK(gsg_l2norm_fwd(&g, &g) == GSG_E_NO_CUDA);
    }
    CHECK(gsg_relu_fwd(&c, &g) == GSG_E_SHAPE);   /* mixed devices */
    CHECK_MSG(strstr(gsg_err_msg(), "on cpu") && strstr(gsg_err_msg(), "on cuda"), "%s", gsg_err_msg());
    struct gsg_tensor i = gsg_tview(buf, GSG_DTYPE_I32, 2, (int64_t)4, (int64_t)4);
    CHECK(gsg_relu_fwd(&c, &i) == GSG_E_SHAPE);
    CHECK(gsg_relu_fwd(NULL, &c) == GSG_E_SHAPE);
    CHECK(gsg_linear_fwd(&c, &g, &g, NULL) == GSG_E_SHAPE);   /* y on cpu, x and w on cuda */
}

int main(void)
{
    RUN(batchnorm_small_shapes);
    RUN(batchnorm_parallel_shapes);
    RUN(batchnorm_large_mean);
    RUN(batchnorm_thread_count);
    RUN(batchnorm_running_stats_exact);
    RUN(batchnorm_eval_mode);
    RUN(batchnorm_errors);
    RUN(relu_fwd_bwd);
    RUN(relu_nan_propagates);
    RUN(elementwise);
    RUN(maxpool);
    RUN(avgpool);
    RUN(linear);
    RUN(cosine);
    RUN(cosine_eps);
    RUN(l2norm);
    RUN(ntxent_hand);
    RUN(ntxent_errors_and_nan);
    RUN(image_to_f32);
    RUN(device_and_dtype_checks);
    return check_summary();
}
