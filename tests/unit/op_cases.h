/* op_cases.h: ONE table of op cases (op, shapes, tolerances; forward and backward) run on every
 * device, after ggml's test-backend-ops:
 *   make test      tests/unit/test_op_cases.c   the CPU kernels vs the double-precision references
 *                                               (lib/ops/ref_*, or the formula written out here)
 *   make test-gpu  tests/gpu/test_ops_gpu.c     the CUDA kernels vs the CPU kernels
 * A case runs its op through the public front ends (lib/ops) on a device: inputs are generated on
 * the host from the case's seed, uploaded, the op runs, and every output (forward outputs, input
 * gradients, accumulated parameter gradients, updated state) is brought back to the host under a
 * name. oc_run(c, OC_REF, ...) computes the same named outputs by the reference. Compared with
 * oc_compare: the largest |a - b| over the output, relative to the largest |b| (normwise), against
 * the case's tolerance: ref_tol for CPU vs reference, dev_tol for a device vs the CPU.
 * Adding an op: one entry in oc_table, one oc_<kind> function. */
#ifndef GSG_OP_CASES_H
#define GSG_OP_CASES_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "ops/ops_engine.h"
#include "ops/ref.h"
#include "ops/ref_conv2d.h"

enum oc_kind {
    OC_CONV2D, OC_BATCHNORM, OC_BATCHNORM_RELU, OC_BATCHNORM_EVAL, OC_BN_SPLIT, OC_BN_SPLIT_RELU, OC_RELU,
    OC_ADD, OC_ADD_RELU, OC_SCALE, OC_MAXPOOL, OC_AVGPOOL, OC_LINEAR, OC_COSINE, OC_L2NORM, OC_IMAGE,
    OC_VIEWS, OC_COPY, OC_ZERO, OC_SGD, OC_EMA, OC_NTXENT,
};

/* Shape parameters s[] per kind:
 *   CONV2D N H W Ci Co K stride      (pad (K-1)/2)     BATCHNORM* / BN_SPLIT*  M C
 *   RELU, ADD*, SCALE, COPY, ZERO, SGD, EMA  n         MAXPOOL / AVGPOOL  N H W C
 *   LINEAR N In Out bias             COSINE / L2NORM  N D
 *   IMAGE N C H W                    VIEWS N V C H W v permuted
 *   NTXENT blocks n D block tau*1000  (u: blocks x 2n unit rows; fwd of every block, bwd of `block`) */
struct op_case {
    const char *name;
    enum oc_kind kind;
    int64_t s[7];
    double ref_tol;   /* CPU vs reference */
    double dev_tol;   /* a device vs the CPU (the issue: fp32 <= 1e-4) */
};

static const struct op_case oc_table[] = {
    {"conv2d_3x3_s1", OC_CONV2D, {2, 8, 8, 3, 16, 3, 1}, 1e-5, 1e-4},
    {"conv2d_3x3_s2", OC_CONV2D, {2, 9, 7, 16, 32, 3, 2}, 1e-5, 1e-4},
    {"conv2d_1x1_s2", OC_CONV2D, {2, 10, 8, 1, 16, 1, 2}, 1e-5, 1e-4},
    {"conv2d_1x1_s1", OC_CONV2D, {3, 5, 5, 24, 8, 1, 1}, 1e-5, 1e-4},
    {"conv2d_7x7_s2", OC_CONV2D, {1, 16, 16, 3, 8, 7, 2}, 1e-5, 1e-4},
    {"batchnorm_nhwc", OC_BATCHNORM, {2 * 6 * 6, 16}, 1e-5, 1e-4},
    {"batchnorm_1d", OC_BATCHNORM, {7, 33}, 1e-5, 1e-4},
    {"batchnorm_big", OC_BATCHNORM, {4096, 64}, 1e-5, 1e-4},
    {"batchnorm_relu", OC_BATCHNORM_RELU, {300, 24}, 1e-5, 1e-4},
    {"batchnorm_eval", OC_BATCHNORM_EVAL, {50, 12}, 1e-5, 1e-4},
    {"bn_split", OC_BN_SPLIT, {2 * 6 * 6, 16}, 1e-5, 1e-4},
    {"bn_split_big", OC_BN_SPLIT, {20000, 32}, 1e-5, 1e-4},
    {"bn_split_relu", OC_BN_SPLIT_RELU, {301, 24}, 1e-5, 1e-4},
    {"relu", OC_RELU, {1000}, 0, 0},
    {"add", OC_ADD, {777}, 1e-7, 1e-6},
    {"add_relu", OC_ADD_RELU, {777}, 1e-7, 1e-6},
    {"scale", OC_SCALE, {100003}, 1e-7, 1e-6},
    {"maxpool", OC_MAXPOOL, {2, 9, 8, 5}, 1e-6, 1e-6},   /* dx: overlapping windows add up */
    {"avgpool", OC_AVGPOOL, {3, 4, 5, 33}, 1e-6, 1e-5},
    {"linear_bias", OC_LINEAR, {5, 17, 9, 1}, 1e-5, 1e-4},
    {"linear_nobias", OC_LINEAR, {64, 128, 32, 0}, 1e-5, 1e-4},
    {"cosine", OC_COSINE, {9, 31}, 1e-5, 1e-4},
    {"l2norm", OC_L2NORM, {9, 31}, 1e-5, 1e-4},
    {"image_to_f32", OC_IMAGE, {3, 3, 5, 7}, 1e-6, 1e-6},
    {"views_to_f32", OC_VIEWS, {4, 3, 1, 6, 5, 2, 0}, 1e-6, 1e-6},
    {"views_to_f32_rows", OC_VIEWS, {5, 4, 3, 4, 4, 3, 1}, 1e-6, 1e-6},
    {"copy", OC_COPY, {1001}, 0, 0},
    {"zero", OC_ZERO, {1001}, 0, 0},
    {"sgd", OC_SGD, {70001}, 1e-6, 1e-6},
    {"ema", OC_EMA, {70001}, 1e-6, 1e-6},
    {"ntxent", OC_NTXENT, {1, 7, 33, 0, 500}, 1e-5, 1e-4},
    {"ntxent_blocks", OC_NTXENT, {3, 5, 17, 1, 100}, 1e-5, 1e-4},
    {"ntxent_one_image", OC_NTXENT, {2, 1, 8, 1, 500}, 1e-5, 1e-4},   /* no negatives inside a block */
    {"ntxent_big", OC_NTXENT, {2, 128, 128, 1, 200}, 1e-5, 1e-4},     /* the threaded row loops */
};
#define OC_COUNT ((int)(sizeof oc_table / sizeof oc_table[0]))

/* ---------------- results ---------------- */
#define OC_MAXOUT 8
struct oc_out { const char *name; int64_t n; float *v; };
struct oc_result { int nout; struct oc_out o[OC_MAXOUT]; };

static void oc_result_free(struct oc_result *r)
{
    for (int i = 0; i < r->nout; i++) free(r->o[i].v);
    r->nout = 0;
}

static float *oc_add(struct oc_result *r, const char *name, int64_t n)
{
    struct oc_out *o = &r->o[r->nout++];
    o->name = name;
    o->n = n;
    o->v = calloc((size_t)(n ? n : 1), sizeof(float));
    return o->v;
}

/* ---------------- inputs ---------------- */
struct oc_rng { uint64_t s; };
static double oc_u(struct oc_rng *g)   /* uniform [-1, 1) */
{
    g->s = g->s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g->s >> 11) / 4503599627370496.0 - 1.0;
}
static float *oc_rand(struct oc_rng *g, int64_t n, double lo, double hi)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * 0.5 * (oc_u(g) + 1.0));
    return p;
}
static double *oc_dbl(const float *p, int64_t n)
{
    double *d = malloc((size_t)(n ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) d[i] = p[i];
    return d;
}
static void oc_down(float *dst, const double *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

/* device tensors: a list freed at the end of a case */
#define OC_MAXT 24
struct oc_dev { enum gsg_dev dev; int nt; struct gsg_tensor t[OC_MAXT]; gsg_status st; };

static struct gsg_tensor *oc_up(struct oc_dev *d, enum gsg_dtype dt, const void *host, int ndim, const int64_t *dims)
{
    struct gsg_tensor *t = &d->t[d->nt++];
    gsg_status st = gsg_tensor_alloc(t, dt, d->dev, ndim, dims);
    if (st >= 0 && host) st = gsg_tensor_from_host(t, host);
    if (st < 0 && d->st >= 0) d->st = st;
    return t;
}
static void oc_get(struct oc_dev *d, float *host, const struct gsg_tensor *t)
{
    gsg_status st = gsg_tensor_to_host(host, t);
    if (st < 0 && d->st >= 0) d->st = st;
}
static void oc_ok(struct oc_dev *d, gsg_status st)
{
    if (st < 0 && d->st >= 0) d->st = st;
}
static void oc_dev_free(struct oc_dev *d)
{
    for (int i = 0; i < d->nt; i++) gsg_tensor_free(&d->t[i]);
    d->nt = 0;
}

#define OC_REF ((enum gsg_dev) - 1)   /* oc_run's "device" for the reference */

/* ---------------- the cases ---------------- */
static void oc_conv2d(const struct op_case *c, enum gsg_dev dev, struct oc_result *r, struct oc_dev *d,
                      struct oc_rng *g)
{
    struct gsg_conv2d_desc ds = {c->s[0], c->s[1], c->s[2], c->s[3], c->s[4], c->s[5], c->s[6], (c->s[5] - 1) / 2};
    int64_t Ho, Wo;
    gsg_conv2d_out_hw(&ds, &Ho, &Wo);
    int64_t nx = ds.N * ds.H * ds.W * ds.Ci, nw = ds.Co * ds.Ci * ds.K * ds.K, ny = ds.N * Ho * Wo * ds.Co;
    float *x = oc_rand(g, nx, -1, 1), *w = oc_rand(g, nw, -0.5, 0.5), *dy = oc_rand(g, ny, -1, 1);
    float *dw0 = oc_rand(g, nw, -0.1, 0.1);   /* dw accumulates onto this */
    float *y = oc_add(r, "y", ny), *dx = oc_add(r, "dx", nx), *dw = oc_add(r, "dw", nw);
    if (dev == OC_REF) {
        double *X = oc_dbl(x, nx), *Wd = oc_dbl(w, nw), *DY = oc_dbl(dy, ny), *Y = calloc((size_t)ny, 8),
               *DX = calloc((size_t)nx, 8), *DW = oc_dbl(dw0, nw);
        gsg_ref_conv2d_fwd(&ds, Y, X, Wd);
        gsg_ref_conv2d_bwd(&ds, DX, DW, DY, X, Wd);
        oc_down(y, Y, ny); oc_down(dx, DX, nx); oc_down(dw, DW, nw);
        free(X); free(Wd); free(DY); free(Y); free(DX); free(DW);
    } else {
        int64_t xd[4] = {ds.N, ds.H, ds.W, ds.Ci}, wd[4] = {ds.Co, ds.Ci, ds.K, ds.K}, yd[4] = {ds.N, Ho, Wo, ds.Co};
        struct gsg_tensor *tx = oc_up(d, GSG_DTYPE_F32, x, 4, xd), *tw = oc_up(d, GSG_DTYPE_F32, w, 4, wd);
        struct gsg_tensor *tdy = oc_up(d, GSG_DTYPE_F32, dy, 4, yd), *tdw = oc_up(d, GSG_DTYPE_F32, dw0, 4, wd);
        struct gsg_tensor *ty = oc_up(d, GSG_DTYPE_F32, NULL, 4, yd), *tdx = oc_up(d, GSG_DTYPE_F32, NULL, 4, xd);
        struct gsg_conv2d *plan = NULL;
        if (d->st >= 0) oc_ok(d, gsg_conv2d_create(&plan, dev, &ds));
        if (d->st >= 0) oc_ok(d, gsg_conv2d_fwd(plan, ty, tx, tw));
        if (d->st >= 0) oc_ok(d, gsg_conv2d_bwd(plan, tdx, tdw, tdy, tx, tw));
        if (d->st >= 0) { oc_get(d, y, ty); oc_get(d, dx, tdx); oc_get(d, dw, tdw); }
        gsg_conv2d_destroy(plan);
    }
    free(x); free(w); free(dy); free(dw0);
}

/* batch norm, fused (kind BATCHNORM / _RELU / _EVAL) or in steps (BN_SPLIT / _RELU): the same outputs */
static void oc_batchnorm(const struct op_case *c, enum gsg_dev dev, struct oc_result *r, struct oc_dev *d,
                         struct oc_rng *g)
{
    const int64_t M = c->s[0], C = c->s[1], n = M * C;
    const int relu = c->kind == OC_BATCHNORM_RELU || c->kind == OC_BN_SPLIT_RELU;
    const int training = c->kind != OC_BATCHNORM_EVAL;
    const int split = c->kind == OC_BN_SPLIT || c->kind == OC_BN_SPLIT_RELU;
    float *x = oc_rand(g, n, -2, 3), *dy = oc_rand(g, n, -1, 1), *gm = oc_rand(g, C, 0.5, 1.5), *bt = oc_rand(g, C, -0.5, 0.5);
    float *rm0 = oc_rand(g, C, -0.2, 0.2), *rv0 = oc_rand(g, C, 0.5, 2.0);
    float *dg0 = oc_rand(g, C, -0.1, 0.1), *db0 = oc_rand(g, C, -0.1, 0.1);
    float *y = oc_add(r, "y", n), *sm = oc_add(r, "save_mean", C), *si = oc_add(r, "save_invstd", C);
    float *rm = oc_add(r, "running_mean", C), *rv = oc_add(r, "running_var", C);
    float *dx = training ? oc_add(r, "dx", n) : NULL, *dg = training ? oc_add(r, "dgamma", C) : NULL,
          *db = training ? oc_add(r, "dbeta", C) : NULL;
    if (dev == OC_REF) {
        double *X = oc_dbl(x, n), *G = oc_dbl(gm, C), *B = oc_dbl(bt, C), *RM = oc_dbl(rm0, C), *RV = oc_dbl(rv0, C);
        double *Y = calloc((size_t)n, 8), *SM = calloc((size_t)C, 8), *SI = calloc((size_t)C, 8);
        gsg_ref_batchnorm_fwd(Y, SM, SI, X, G, B, RM, RV, M, C, training, 0.1, 1e-5);
        if (relu) for (int64_t i = 0; i < n; i++) Y[i] = Y[i] > 0 ? Y[i] : 0;
        oc_down(y, Y, n); oc_down(sm, SM, C); oc_down(si, SI, C); oc_down(rm, RM, C); oc_down(rv, RV, C);
        if (training) {
            double *DY = oc_dbl(dy, n), *DX = calloc((size_t)n, 8), *DG = oc_dbl(dg0, C), *DB = oc_dbl(db0, C);
            if (relu) for (int64_t i = 0; i < n; i++) if (!(Y[i] > 0)) DY[i] = 0;
            gsg_ref_batchnorm_bwd(DX, DG, DB, DY, X, G, SM, SI, M, C);
            oc_down(dx, DX, n); oc_down(dg, DG, C); oc_down(db, DB, C);
            free(DY); free(DX); free(DG); free(DB);
        }
        free(X); free(G); free(B); free(RM); free(RV); free(Y); free(SM); free(SI);
    } else {
        int64_t xd[2] = {M, C}, sd = 2 * C + 1;
        struct gsg_tensor *tx = oc_up(d, GSG_DTYPE_F32, x, 2, xd), *ty = oc_up(d, GSG_DTYPE_F32, NULL, 2, xd);
        struct gsg_tensor *tg = oc_up(d, GSG_DTYPE_F32, gm, 1, &C), *tb = oc_up(d, GSG_DTYPE_F32, bt, 1, &C);
        struct gsg_tensor *trm = oc_up(d, GSG_DTYPE_F32, rm0, 1, &C), *trv = oc_up(d, GSG_DTYPE_F32, rv0, 1, &C);
        struct gsg_tensor *tsm = oc_up(d, GSG_DTYPE_F32, NULL, 1, &C), *tsi = oc_up(d, GSG_DTYPE_F32, NULL, 1, &C);
        struct gsg_tensor *tdy = oc_up(d, GSG_DTYPE_F32, dy, 2, xd), *tdx = oc_up(d, GSG_DTYPE_F32, NULL, 2, xd);
        struct gsg_tensor *tdg = oc_up(d, GSG_DTYPE_F32, dg0, 1, &C), *tdb = oc_up(d, GSG_DTYPE_F32, db0, 1, &C);
        struct gsg_tensor *sums = oc_up(d, GSG_DTYPE_F64, NULL, 1, &sd);
        if (d->st >= 0 && split) {
            /* statistics -> (no all-reduce: one rank) -> finalize -> apply; shift = the running mean */
            oc_ok(d, gsg_bn_stats(sums, tx, trm));
            if (d->st >= 0) oc_ok(d, gsg_bn_finalize(tsm, tsi, trm, trv, sums, trm, 0.1f, 1e-5f));
            if (d->st >= 0) oc_ok(d, gsg_bn_apply(ty, tx, tsm, tsi, tg, tb, relu));
            if (d->st >= 0) oc_ok(d, gsg_bn_bwd_stats(sums, tdg, tdb, tdy, relu ? ty : NULL, tx, tsm, tsi));
            if (d->st >= 0) oc_ok(d, gsg_bn_bwd_apply(tdx, tdy, relu ? ty : NULL, tx, tg, tsm, tsi, sums));
        } else if (d->st >= 0) {
            oc_ok(d, (relu ? gsg_batchnorm_relu_fwd : gsg_batchnorm_fwd)(ty, tsm, tsi, tx, tg, tb, trm, trv, training,
                                                                        0.1f, 1e-5f));
            if (d->st >= 0 && training)
                oc_ok(d, relu ? gsg_batchnorm_relu_bwd(tdx, tdg, tdb, tdy, ty, tx, tg, tsm, tsi)
                              : gsg_batchnorm_bwd(tdx, tdg, tdb, tdy, tx, tg, tsm, tsi));
        }
        if (d->st >= 0) {
            oc_get(d, y, ty); oc_get(d, sm, tsm); oc_get(d, si, tsi); oc_get(d, rm, trm); oc_get(d, rv, trv);
            if (training) { oc_get(d, dx, tdx); oc_get(d, dg, tdg); oc_get(d, db, tdb); }
        }
    }
    free(x); free(dy); free(gm); free(bt); free(rm0); free(rv0); free(dg0); free(db0);
}

static void oc_elementwise(const struct op_case *c, enum gsg_dev dev, struct oc_result *r, struct oc_dev *d,
                           struct oc_rng *g)
{
    const int64_t n = c->s[0];
    float *a = oc_rand(g, n, -1, 1), *b = oc_rand(g, n, -1, 1), *dy = oc_rand(g, n, -1, 1);
    float *y = oc_add(r, "y", n), *dx = c->kind == OC_RELU ? oc_add(r, "dx", n) : NULL;
    if (dev == OC_REF) {
        for (int64_t i = 0; i < n; i++) {
            double v = 0;
            if (c->kind == OC_RELU) v = a[i] > 0 ? a[i] : 0;
            else if (c->kind == OC_ADD) v = (double)a[i] + b[i];
            else if (c->kind == OC_ADD_RELU) { v = (double)a[i] + b[i]; v = v > 0 ? v : 0; }
            else if (c->kind == OC_SCALE) v = (double)a[i] * -0.37;
            else if (c->kind == OC_COPY) v = a[i];
            y[i] = (float)v;
            if (dx) dx[i] = y[i] > 0 ? dy[i] : 0.0f;
        }
    } else {
        struct gsg_tensor *ta = oc_up(d, GSG_DTYPE_F32, a, 1, &n), *tb = oc_up(d, GSG_DTYPE_F32, b, 1, &n);
        struct gsg_tensor *ty = oc_up(d, GSG_DTYPE_F32, b, 1, &n);   /* non-zero garbage: every op must write */
        struct gsg_tensor *tdy = oc_up(d, GSG_DTYPE_F32, dy, 1, &n), *tdx = oc_up(d, GSG_DTYPE_F32, NULL, 1, &n);
        if (d->st < 0) {
        } else if (c->kind == OC_RELU) {
            oc_ok(d, gsg_relu_fwd(ty, ta));
            if (d->st >= 0) oc_ok(d, gsg_relu_bwd(tdx, tdy, ty));
        } else if (c->kind == OC_ADD) {
            oc_ok(d, gsg_add(ty, ta, tb));
        } else if (c->kind == OC_ADD_RELU) {
            oc_ok(d, gsg_add_relu(ty, ta, tb));
        } else if (c->kind == OC_SCALE) {
            oc_ok(d, gsg_op_copy(ty, ta));
            if (d->st >= 0) oc_ok(d, gsg_scale(ty, -0.37f));
        } else if (c->kind == OC_COPY) {
            oc_ok(d, gsg_op_copy(ty, ta));
        } else if (c->kind == OC_ZERO) {
            oc_ok(d, gsg_op_zero(ty));
        }
        if (d->st >= 0) { oc_get(d, y, ty); if (dx) oc_get(d, dx, tdx); }
    }
    free(a); free(b); free(dy);
}

static void oc_pool(const struct op_case *c, enum gsg_dev dev, struct oc_result *r, struct oc_dev *d,
                    struct oc_rng *g)
{
    const int64_t N = c->s[0], H = c->s[1], W = c->s[2], C = c->s[3], nx = N * H * W * C;
    const int mx = c->kind == OC_MAXPOOL;
    const int64_t Ho = mx ? (H - 1) / 2 + 1 : 1, Wo = mx ? (W - 1) / 2 + 1 : 1, ny = N * Ho * Wo * C;
    float *x = oc_rand(g, nx, -1, 1), *dy = oc_rand(g, ny, -1, 1);
    float *y = oc_add(r, "y", ny), *dx = oc_add(r, "dx", nx);
    if (dev == OC_REF) {
        double *X = oc_dbl(x, nx), *DY = oc_dbl(dy, ny), *Y = calloc((size_t)ny, 8), *DX = calloc((size_t)nx, 8);
        int64_t *am = calloc((size_t)ny, 8);
        if (mx) { gsg_ref_maxpool_fwd(Y, am, X, N, H, W, C); gsg_ref_maxpool_bwd(DX, DY, am, N, H, W, C); }
        else { gsg_ref_avgpool_fwd(Y, X, N, H * W, C); gsg_ref_avgpool_bwd(DX, DY, N, H * W, C); }
        oc_down(y, Y, ny); oc_down(dx, DX, nx);
        free(X); free(DY); free(Y); free(DX); free(am);
    } else {
        int64_t xd[4] = {N, H, W, C}, yd[4] = {N, Ho, Wo, C}, hd[2] = {N, C};
        struct gsg_tensor *tx = oc_up(d, GSG_DTYPE_F32, x, 4, xd), *tdx = oc_up(d, GSG_DTYPE_F32, NULL, 4, xd);
        struct gsg_tensor *ty = oc_up(d, GSG_DTYPE_F32, NULL, mx ? 4 : 2, mx ? yd : hd);
        struct gsg_tensor *tdy = oc_up(d, GSG_DTYPE_F32, dy, mx ? 4 : 2, mx ? yd : hd);
        struct gsg_tensor *tam = oc_up(d, GSG_DTYPE_I32, NULL, 4, yd);
        if (d->st >= 0) {
            if (mx) { oc_ok(d, gsg_maxpool_fwd(ty, tam, tx)); if (d->st >= 0) oc_ok(d, gsg_maxpool_bwd(tdx, tdy, tam)); }
            else { oc_ok(d, gsg_avgpool_fwd(ty, tx)); if (d->st >= 0) oc_ok(d, gsg_avgpool_bwd(tdx, tdy)); }
        }
        if (d->st >= 0) { oc_get(d, y, ty); oc_get(d, dx, tdx); }
    }
    free(x); free(dy);
}

static void oc_linear(const struct op_case *c, enum gsg_dev dev, struct oc_result *r, struct oc_dev *d,
                      struct oc_rng *g)
{
    const int64_t N = c->s[0], In = c->s[1], Out = c->s[2];
    const int bias = c->s[3] != 0;
    float *x = oc_rand(g, N * In, -1, 1), *w = oc_rand(g, Out * In, -0.3, 0.3), *b = oc_rand(g, Out, -1, 1);
    float *dy = oc_rand(g, N * Out, -1, 1), *dw0 = oc_rand(g, Out * In, -0.1, 0.1), *db0 = oc_rand(g, Out, -0.1, 0.1);
    float *y = oc_add(r, "y", N * Out), *dx = oc_add(r, "dx", N * In), *dw = oc_add(r, "dw", Out * In);
    float *db = bias ? oc_add(r, "db", Out) : NULL;
    if (dev == OC_REF) {
        double *X = oc_dbl(x, N * In), *Wd = oc_dbl(w, Out * In), *B = oc_dbl(b, Out), *DY = oc_dbl(dy, N * Out);
        double *Y = calloc((size_t)(N * Out), 8), *DX = calloc((size_t)(N * In), 8), *DW = oc_dbl(dw0, Out * In),
               *DB = oc_dbl(db0, Out);
        gsg_ref_linear_fwd(Y, X, Wd, bias ? B : NULL, N, In, Out);
        gsg_ref_linear_bwd(DX, DW, bias ? DB : NULL, DY, X, Wd, N, In, Out);
        oc_down(y, Y, N * Out); oc_down(dx, DX, N * In); oc_down(dw, DW, Out * In);
        if (db) oc_down(db, DB, Out);
        free(X); free(Wd); free(B); free(DY); free(Y); free(DX); free(DW); free(DB);
    } else {
        int64_t xd[2] = {N, In}, wd[2] = {Out, In}, yd[2] = {N, Out};
        struct gsg_tensor *tx = oc_up(d, GSG_DTYPE_F32, x, 2, xd), *tw = oc_up(d, GSG_DTYPE_F32, w, 2, wd);
        struct gsg_tensor *tb = oc_up(d, GSG_DTYPE_F32, b, 1, &Out), *tdy = oc_up(d, GSG_DTYPE_F32, dy, 2, yd);
        struct gsg_tensor *ty = oc_up(d, GSG_DTYPE_F32, NULL, 2, yd), *tdx = oc_up(d, GSG_DTYPE_F32, NULL, 2, xd);
        struct gsg_tensor *tdw = oc_up(d, GSG_DTYPE_F32, dw0, 2, wd), *tdb = oc_up(d, GSG_DTYPE_F32, db0, 1, &Out);
        if (d->st >= 0) oc_ok(d, gsg_linear_fwd(ty, tx, tw, bias ? tb : NULL));
        if (d->st >= 0) oc_ok(d, gsg_linear_bwd(tdx, tdw, bias ? tdb : NULL, tdy, tx, tw));
        if (d->st >= 0) { oc_get(d, y, ty); oc_get(d, dx, tdx); oc_get(d, dw, tdw); if (db) oc_get(d, db, tdb); }
    }
    free(x); free(w); free(b); free(dy); free(dw0); free(db0);
}

static void oc_rowwise(const struct op_case *c, enum gsg_dev dev, struct oc_result *r, struct oc_dev *d,
                       struct oc_rng *g)
{
    const int64_t N = c->s[0], D = c->s[1], n = N * D;
    const int cos = c->kind == OC_COSINE;
    float *a = oc_rand(g, n, -1, 1), *b = oc_rand(g, n, -1, 1), *dout = oc_rand(g, cos ? N : n, -1, 1);
    float *y = oc_add(r, "y", cos ? N : n), *da = oc_add(r, cos ? "da" : "dx", n), *db = cos ? oc_add(r, "db", n) : NULL;
    if (dev == OC_REF) {
        double *A = oc_dbl(a, n), *B = oc_dbl(b, n), *DO = oc_dbl(dout, cos ? N : n), *Y = calloc((size_t)n, 8),
               *DA = calloc((size_t)n, 8), *DB = calloc((size_t)n, 8);
        if (cos) { gsg_ref_cosine_fwd(Y, A, B, N, D, 1e-8); gsg_ref_cosine_bwd(DA, DB, DO, A, B, N, D, 1e-8); }
        else { gsg_ref_l2norm_fwd(Y, A, N, D, 1e-12); gsg_ref_l2norm_bwd(DA, DO, A, N, D, 1e-12); }
        oc_down(y, Y, cos ? N : n); oc_down(da, DA, n);
        if (db) oc_down(db, DB, n);
        free(A); free(B); free(DO); free(Y); free(DA); free(DB);
    } else {
        int64_t xd[2] = {N, D};
        struct gsg_tensor *ta = oc_up(d, GSG_DTYPE_F32, a, 2, xd), *tb = oc_up(d, GSG_DTYPE_F32, b, 2, xd);
        struct gsg_tensor *tdo = cos ? oc_up(d, GSG_DTYPE_F32, dout, 1, &N) : oc_up(d, GSG_DTYPE_F32, dout, 2, xd);
        struct gsg_tensor *ty = cos ? oc_up(d, GSG_DTYPE_F32, NULL, 1, &N) : oc_up(d, GSG_DTYPE_F32, NULL, 2, xd);
        struct gsg_tensor *tda = oc_up(d, GSG_DTYPE_F32, NULL, 2, xd), *tdb = oc_up(d, GSG_DTYPE_F32, NULL, 2, xd);
        if (d->st >= 0) {
            if (cos) { oc_ok(d, gsg_cosine_fwd(ty, ta, tb)); if (d->st >= 0) oc_ok(d, gsg_cosine_bwd(tda, tdb, tdo, ta, tb)); }
            else { oc_ok(d, gsg_l2norm_fwd(ty, ta)); if (d->st >= 0) oc_ok(d, gsg_l2norm_bwd(tda, tdo, ta)); }
        }
        if (d->st >= 0) { oc_get(d, y, ty); oc_get(d, da, tda); if (db) oc_get(d, db, tdb); }
    }
    free(a); free(b); free(dout);
}

/* IMAGE: gsg_image_to_f32 on [N,C,H,W]; VIEWS: gsg_op_views_to_f32 of view v of [N,V,C,H,W], rows permuted */
static void oc_image(const struct op_case *c, enum gsg_dev dev, struct oc_result *r, struct oc_dev *d,
                     struct oc_rng *g)
{
    const int views = c->kind == OC_VIEWS;
    const int64_t N = c->s[0], V = views ? c->s[1] : 1, C = views ? c->s[2] : c->s[1], H = views ? c->s[3] : c->s[2],
                  W = views ? c->s[4] : c->s[3], v = views ? c->s[5] : 0;
    const int permuted = views && c->s[6];
    const int64_t nx = N * V * C * H * W, ny = N * H * W * C;
    uint8_t *x = malloc((size_t)nx);
    for (int64_t i = 0; i < nx; i++) x[i] = (uint8_t)((oc_u(g) + 1.0) * 127.9);
    x[0] = 0; x[nx - 1] = 255;
    int64_t *rows = malloc((size_t)N * sizeof(int64_t));
    for (int64_t n = 0; n < N; n++) rows[n] = permuted ? (n * 3 + 1) % N : n;
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, sd[3] = {0.247f, 0.243f, 0.261f};
    float *y = oc_add(r, "y", ny);
    if (dev == OC_REF) {
        for (int64_t n = 0; n < N; n++)
            for (int64_t cc = 0; cc < C; cc++)
                for (int64_t i = 0; i < H * W; i++)
                    y[(n * H * W + i) * C + cc] = (float)(((double)x[((rows[n] * V + v) * C + cc) * H * W + i] / 255.0 -
                                                           mean[cc]) / sd[cc]);
    } else {
        int64_t vd[5] = {N, V, C, H, W}, id[4] = {N, C, H, W}, yd[4] = {N, H, W, C};
        struct gsg_tensor *tx = views ? oc_up(d, GSG_DTYPE_U8, x, 5, vd) : oc_up(d, GSG_DTYPE_U8, x, 4, id);
        struct gsg_tensor *ty = oc_up(d, GSG_DTYPE_F32, NULL, 4, yd), *tr = oc_up(d, GSG_DTYPE_I64, rows, 1, &N);
        if (d->st >= 0)
            oc_ok(d, views ? gsg_op_views_to_f32(ty, tx, v, permuted ? tr : NULL, mean, sd) : gsg_image_to_f32(ty, tx, mean, sd));
        if (d->st >= 0) oc_get(d, y, ty);
    }
    free(x); free(rows);
}

static void oc_optim(const struct op_case *c, enum gsg_dev dev, struct oc_result *r, struct oc_dev *d,
                     struct oc_rng *g)
{
    const int64_t n = c->s[0];
    const int sgd = c->kind == OC_SGD;
    const double lr = 0.05, mom = 0.9, wd = 5e-4, tau = 0.996;
    float *w = oc_rand(g, n, -1, 1), *m = oc_rand(g, n, -0.1, 0.1), *gr = oc_rand(g, n, -1, 1);
    float *wo = oc_add(r, sgd ? "w" : "x", n), *mo = sgd ? oc_add(r, "m", n) : NULL;
    if (dev == OC_REF) {
        for (int64_t i = 0; i < n; i++) {
            if (sgd) {
                double b = mom * m[i] + (gr[i] + wd * w[i]);
                mo[i] = (float)b;
                wo[i] = (float)(w[i] - lr * b);
            } else {
                wo[i] = (float)(tau * w[i] + (1 - tau) * gr[i]);
            }
        }
    } else {
        struct gsg_tensor *tw = oc_up(d, GSG_DTYPE_F32, w, 1, &n), *tm = oc_up(d, GSG_DTYPE_F32, m, 1, &n);
        struct gsg_tensor *tg = oc_up(d, GSG_DTYPE_F32, gr, 1, &n);
        if (d->st >= 0) oc_ok(d, sgd ? gsg_op_sgd(tw, tm, tg, lr, mom, wd) : gsg_op_ema(tw, tg, tau));
        if (d->st >= 0) { oc_get(d, wo, tw); if (mo) oc_get(d, mo, tm); }
    }
    free(w); free(m); free(gr);
}

/* NT-Xent: every block's forward (loss and lse of all M anchors), then block s[3]'s backward with
 * per-anchor weights dloss (random, so a mix-up of anchor and column weights shows) */
static void oc_ntxent(const struct op_case *c, enum gsg_dev dev, struct oc_result *r, struct oc_dev *d,
                      struct oc_rng *g)
{
    const int64_t B = c->s[0], R = 2 * c->s[1], D = c->s[2], blk = c->s[3], M = B * R;
    const double tau = (double)c->s[4] / 1000.0;
    float *u = oc_rand(g, M * D, -1, 1), *dl = oc_rand(g, M, 0.2, 1.0);
    for (int64_t i = 0; i < M; i++) {   /* unit rows, as the trainer feeds it */
        double nn = 0;
        for (int64_t k = 0; k < D; k++) nn += (double)u[i * D + k] * u[i * D + k];
        for (int64_t k = 0; k < D; k++) u[i * D + k] = (float)(u[i * D + k] / sqrt(nn));
    }
    float *loss = oc_add(r, "loss", M), *lse = oc_add(r, "lse", M), *du = oc_add(r, "du", R * D);
    if (dev == OC_REF) {
        double *U = oc_dbl(u, M * D), *DL = oc_dbl(dl, M), *L = calloc((size_t)M, 8), *S = calloc((size_t)M, 8),
               *DU = calloc((size_t)(R * D), 8);
        for (int64_t b = 0; b < B; b++) gsg_ref_ntxent_fwd(L + b * R, S + b * R, U, M, D, R, b, tau);
        gsg_ref_ntxent_bwd(DU, DL, U, M, D, R, blk, tau);
        oc_down(loss, L, M); oc_down(lse, S, M); oc_down(du, DU, R * D);
        free(U); free(DL); free(L); free(S); free(DU);
    } else {
        int64_t ud[2] = {M, D}, wd[2] = {R, M}, dd[2] = {R, D};
        struct gsg_tensor *tu = oc_up(d, GSG_DTYPE_F32, u, 2, ud), *tdl = oc_up(d, GSG_DTYPE_F32, dl, 1, &M);
        struct gsg_tensor *tl = oc_up(d, GSG_DTYPE_F32, NULL, 1, &M), *ts = oc_up(d, GSG_DTYPE_F32, NULL, 1, &M);
        struct gsg_tensor *tw = oc_up(d, GSG_DTYPE_F32, NULL, 2, wd), *tdu = oc_up(d, GSG_DTYPE_F32, NULL, 2, dd);
        for (int64_t b = 0; b < B && d->st >= 0; b++) {
            struct gsg_tensor lb = gsg_tensor_sub(tl, b * R, 1, &R), sb = gsg_tensor_sub(ts, b * R, 1, &R);
            oc_ok(d, gsg_ntxent_fwd(&lb, &sb, tw, tu, b, tau));
        }
        if (d->st >= 0) oc_ok(d, gsg_ntxent_bwd(tdu, tw, tdl, tu, ts, blk, tau));
        if (d->st >= 0) { oc_get(d, loss, tl); oc_get(d, lse, ts); oc_get(d, du, tdu); }
    }
    free(u); free(dl);
}

/* Run case c on dev (or OC_REF): r receives the named outputs. Returns the first failing status. */
static gsg_status oc_run(const struct op_case *c, enum gsg_dev dev, struct oc_result *r)
{
    struct oc_dev d;
    memset(&d, 0, sizeof d);
    d.dev = dev;
    memset(r, 0, sizeof *r);
    struct oc_rng g = {0x9e3779b97f4a7c15ull ^ (uint64_t)(c - oc_table + 1) * 0x2545f4914f6cdd1dull};
    switch (c->kind) {
    case OC_CONV2D: oc_conv2d(c, dev, r, &d, &g); break;
    case OC_BATCHNORM: case OC_BATCHNORM_RELU: case OC_BATCHNORM_EVAL: case OC_BN_SPLIT: case OC_BN_SPLIT_RELU:
        oc_batchnorm(c, dev, r, &d, &g); break;
    case OC_RELU: case OC_ADD: case OC_ADD_RELU: case OC_SCALE: case OC_COPY: case OC_ZERO:
        oc_elementwise(c, dev, r, &d, &g); break;
    case OC_MAXPOOL: case OC_AVGPOOL: oc_pool(c, dev, r, &d, &g); break;
    case OC_LINEAR: oc_linear(c, dev, r, &d, &g); break;
    case OC_COSINE: case OC_L2NORM: oc_rowwise(c, dev, r, &d, &g); break;
    case OC_IMAGE: case OC_VIEWS: oc_image(c, dev, r, &d, &g); break;
    case OC_SGD: case OC_EMA: oc_optim(c, dev, r, &d, &g); break;
    case OC_NTXENT: oc_ntxent(c, dev, r, &d, &g); break;
    }
    oc_dev_free(&d);
    return d.st;
}

/* Normwise error of every output of a against b (max |a-b| / max |b|); prints each failing output.
 * Returns 1 when all are within tol (tol 0: bit-identical). */
static int oc_compare(const struct op_case *c, const struct oc_result *a, const struct oc_result *b, double tol,
                      const char *what)   /* what NULL: silent */
{
    int ok = a->nout == b->nout;
    for (int i = 0; ok && i < a->nout; i++) {
        const struct oc_out *x = &a->o[i], *y = &b->o[i];
        if (x->n != y->n || strcmp(x->name, y->name)) { ok = 0; break; }
        double num = 0, den = 0;
        int64_t worst = 0;
        for (int64_t k = 0; k < x->n; k++) {
            double e = fabs((double)x->v[k] - (double)y->v[k]);
            if (!(e <= num)) { num = e; worst = k; }   /* NaN counts as the worst */
            if (fabs((double)y->v[k]) > den) den = fabs((double)y->v[k]);
        }
        double rel = den > 0 ? num / den : num;
        if (!(rel <= tol)) {
            if (what) printf("  %s: %s: output '%s': normwise error %.3g > %.3g (element %lld: %.9g vs %.9g)\n", c->name, what,
                   x->name, rel, tol, (long long)worst, (double)x->v[worst], (double)y->v[worst]);
            ok = 0;
        }
    }
    if (a->nout != b->nout && what) printf("  %s: %s: %d outputs vs %d\n", c->name, what, a->nout, b->nout);
    return ok;
}

#endif
