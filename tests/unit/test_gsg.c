/* test_gsg.c: the GSG selection, the four-case table, the losses and their gradients.
 * Golden numbers are computed by hand in the comments, never copied from our output. */
#include "check.h"
#include "ssl/gsg.h"
#include "core/rng.h"
#include "eval/collapse.h"
#include "ssl/train.h"
#include <stdlib.h>

/* Two images (N=2), D=2, four views each. Hand-computed distances:
 * row 0: A1=(0,0) A2=(3,4) B1=(1,0) B2=(10,10)
 *   |A1-B1| = 1, |A1-B2| = sqrt(200) = 14.142136, |A2-B1| = sqrt(4+16) = 4.472136, |A2-B2| = sqrt(49+36) = 9.219544
 *   -> k = 0
 * row 1: A1=(5,5) A2=(0,1) B1=(-5,-5) B2=(0,-1)
 *   |A1-B1| = sqrt(200), |A1-B2| = sqrt(25+36) = 7.810250, |A2-B1| = sqrt(25+36) = 7.810250, |A2-B2| = 2
 *   -> k = 3 */
TEST(hand_2x2_euclidean)
{
    float A1[4] = {0, 0, 5, 5}, A2[4] = {3, 4, 0, 1}, B1[4] = {1, 0, -5, -5}, B2[4] = {10, 10, 0, -1};
    const float *z[4] = {A1, A2, B1, B2};
    float d[8];
    int64_t k[2];
    gsg_distances(d, z, 2, 2, GSG_DIST_EUCLIDEAN);
    CHECK_CLOSE(d[0], 1.0, 1e-6, 0);
    CHECK_CLOSE(d[1], 14.142136, 1e-6, 0);
    CHECK_CLOSE(d[2], 4.472136, 1e-6, 0);
    CHECK_CLOSE(d[3], 9.219544, 1e-6, 0);
    CHECK_CLOSE(d[4], 14.142136, 1e-6, 0);
    CHECK_CLOSE(d[5], 7.810250, 1e-6, 0);
    CHECK_CLOSE(d[6], 7.810250, 1e-6, 0);
    CHECK_CLOSE(d[7], 2.0, 1e-6, 0);
    gsg_choose(k, d, 2);
    CHECK_EQ_I64(k[0], 0);
    CHECK_EQ_I64(k[1], 3);
    int64_t c[4];
    gsg_count_choices(c, k, 2);
    CHECK(c[0] == 1 && c[1] == 0 && c[2] == 0 && c[3] == 1);
}

/* Raw vs normalised vs cosine distances disagree on purpose:
 * A1=(1,0) A2=(0,10) B1=(0,1) B2=(20,0).
 * euclidean: |A1-B1|=sqrt2=1.414, |A1-B2|=19, |A2-B1|=9, |A2-B2|=sqrt(500)=22.36 -> k=0
 * normalized: sqrt2, 0, 0, sqrt2 -> k=1 (tie with 2, first wins)
 * cosine: 1-0=1, 1-1=0, 1-1=0, 1 -> k=1 */
TEST(distance_options)
{
    float A1[2] = {1, 0}, A2[2] = {0, 10}, B1[2] = {0, 1}, B2[2] = {20, 0};
    const float *z[4] = {A1, A2, B1, B2};
    float d[4];
    int64_t k;
    gsg_distances(d, z, 1, 2, GSG_DIST_EUCLIDEAN);
    CHECK_CLOSE(d[0], 1.4142136, 1e-6, 0); CHECK_CLOSE(d[1], 19, 1e-6, 0);
    CHECK_CLOSE(d[2], 9, 1e-6, 0); CHECK_CLOSE(d[3], 22.36068, 1e-6, 0);
    gsg_choose(&k, d, 1); CHECK_EQ_I64(k, 0);
    gsg_distances(d, z, 1, 2, GSG_DIST_NORMALIZED);
    CHECK_CLOSE(d[0], 1.4142136, 1e-6, 0); CHECK_CLOSE(d[1], 0, 0, 1e-7);
    CHECK_CLOSE(d[2], 0, 0, 1e-7); CHECK_CLOSE(d[3], 1.4142136, 1e-6, 0);
    gsg_choose(&k, d, 1); CHECK_EQ_I64(k, 1);
    gsg_distances(d, z, 1, 2, GSG_DIST_COSINE);
    CHECK_CLOSE(d[0], 1, 0, 1e-7); CHECK_CLOSE(d[1], 0, 0, 1e-7);
    CHECK_CLOSE(d[2], 0, 0, 1e-7); CHECK_CLOSE(d[3], 1, 0, 1e-7);
    gsg_choose(&k, d, 1); CHECK_EQ_I64(k, 1);
    enum gsg_dist dd;
    CHECK(gsg_dist_parse("cosine", &dd) == 0 && dd == GSG_DIST_COSINE);
    CHECK(gsg_dist_parse("manhattan", &dd) == -1);
}

/* Ties: the first index wins. Rows of d given directly. */
TEST(ties_first_index)
{
    float d[6 * 4] = {
        1, 1, 1, 1,          /* all equal -> 0 */
        2, 1, 1, 3,          /* 1 and 2 tie -> 1 */
        5, 4, 3, 3,          /* 2 and 3 tie -> 2 */
        0, 0, -0.0f, 0,      /* +0 and -0 compare equal -> 0 */
        NAN, 2, 1, 1,        /* NaN is skipped, then 2 and 3 tie -> 2 */
        NAN, NAN, NAN, NAN,  /* nothing comparable -> 0 */
    };
    int64_t k[6];
    gsg_choose(k, d, 6);
    CHECK_EQ_I64(k[0], 0); CHECK_EQ_I64(k[1], 1); CHECK_EQ_I64(k[2], 2);
    CHECK_EQ_I64(k[3], 0); CHECK_EQ_I64(k[4], 2); CHECK_EQ_I64(k[5], 0);
    /* ties from equal projections: A1 == A2 and B1 == B2 -> all four distances equal -> k=0 */
    float A[3] = {1, 2, 3}, B[3] = {-1, 0, 4};
    const float *z[4] = {A, A, B, B};
    float dz[4];
    int64_t kz;
    gsg_distances(dz, z, 1, 3, GSG_DIST_EUCLIDEAN);
    gsg_choose(&kz, dz, 1);
    CHECK(dz[0] == dz[1] && dz[1] == dz[2] && dz[2] == dz[3]);
    CHECK_EQ_I64(kz, 0);
}

/* The four-case table of docs/algorithm.md §4, case by case. Targets are the unit vectors
 * t[v] = e_v in D=4, so cos(p, t[w]) = p[w] / |p|. Predictions p[v] = e_0 + 2 e_1 + 3 e_2 + 4 e_3
 * scaled per view (|p| = sqrt(30)): cos(pX, tW) = (W+1)/sqrt(30) for W's index.
 *   k=0: pA1->tA2 (2), pB1->tB2 (4): loss = -(2+4)/(2 sqrt30)
 *   k=1: pA1->tA2 (2), pB2->tB1 (3): loss = -(2+3)/(2 sqrt30)
 *   k=2: pA2->tA1 (1), pB1->tB2 (4): loss = -(1+4)/(2 sqrt30)
 *   k=3: pA2->tA1 (1), pB2->tB1 (3): loss = -(1+3)/(2 sqrt30)
 * Gradients: only the two source views get non-zero rows. */
TEST(four_case_table)
{
    const int64_t D = 4;
    const double s30 = sqrt(30.0);
    const double want[4] = {-6 / (2 * s30), -5 / (2 * s30), -5 / (2 * s30), -4 / (2 * s30)};
    const int src[4][2] = {{0, 2}, {0, 3}, {1, 2}, {1, 3}};   /* A1,B1 / A1,B2 / A2,B1 / A2,B2 (docs/algorithm.md §4) */
    const int tgt[4][2] = {{1, 3}, {1, 2}, {0, 3}, {0, 2}};
    for (int kk = 0; kk < 4; kk++) {
        CHECK(gsg_case_table[kk].src_a == src[kk][0] && gsg_case_table[kk].src_b == src[kk][1]);
        CHECK(gsg_case_table[kk].tgt_a == tgt[kk][0] && gsg_case_table[kk].tgt_b == tgt[kk][1]);
        float tv[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
        float pv[4][4];
        for (int v = 0; v < 4; v++) for (int i = 0; i < 4; i++) pv[v][i] = (float)((i + 1) * (v + 1));
        float gv[4][4];
        const float *p[4] = {pv[0], pv[1], pv[2], pv[3]}, *t[4] = {tv[0], tv[1], tv[2], tv[3]};
        float *dp[4] = {gv[0], gv[1], gv[2], gv[3]};
        for (int v = 0; v < 4; v++) for (int i = 0; i < 4; i++) gv[v][i] = 123.f;   /* must be overwritten */
        int64_t k = kk;
        float lr;
        double L = gsg_gsg_loss(&lr, dp, p, t, &k, 1, D);
        CHECK_CLOSE(L, want[kk], 1e-6, 1e-7);
        CHECK_CLOSE(lr, want[kk], 1e-6, 1e-7);
        for (int v = 0; v < 4; v++) {
            double nrm = 0;
            for (int i = 0; i < 4; i++) nrm += fabs(gv[v][i]);
            int selected = (v == src[kk][0] || v == src[kk][1]);
            CHECK_MSG(selected ? nrm > 1e-3 : nrm == 0, "k=%d view %s |dp|=%g", kk, gsg_view_name(v), nrm);
        }
    }
    /* Whole pipeline: distances choose k=3 and the loss follows the k=3 row of the table. */
    float A1[2] = {5, 5}, A2[2] = {0, 1}, B1[2] = {-5, -5}, B2[2] = {0, -1};
    const float *z[4] = {A1, A2, B1, B2};
    float d[4], lrow, g[4][2];
    float *dp[4] = {g[0], g[1], g[2], g[3]};
    int64_t k;
    double L = gsg_select_and_loss(d, &k, &lrow, dp, z, z, 1, 2, GSG_DIST_EUCLIDEAN);
    CHECK_EQ_I64(k, 3);
    /* k=3: cos(A2, A1) = 5/(1*sqrt50) = 0.70710678, cos(B2, B1) = 5/sqrt50 = 0.70710678 -> L = -0.70710678 */
    CHECK_CLOSE(L, -0.70710678, 1e-6, 0);
}

static double gsg_loss_d(const float *const p[4], const float *const t[4], const int64_t *k, int64_t N, int64_t D)
{
    return gsg_gsg_loss(NULL, NULL, p, t, k, N, D);
}

/* Finite differences of L w.r.t. every element of the four predictions (targets held fixed:
 * the stop-gradient). Central differences in float inputs, h = 1e-3. */
TEST(gradient_finite_difference)
{
    enum { N = 5, D = 6 };
    struct gsg_rng r;
    gsg_rng_init(&r, 7, gsg_rng_stream(GSG_RNG_TEST, 1, 0, 0));
    static float pv[4][N * D], tv[4][N * D], gv[4][N * D];
    for (int v = 0; v < 4; v++)
        for (int i = 0; i < N * D; i++) { pv[v][i] = (float)gsg_rng_normal(&r); tv[v][i] = (float)gsg_rng_normal(&r); }
    const float *p[4] = {pv[0], pv[1], pv[2], pv[3]}, *t[4] = {tv[0], tv[1], tv[2], tv[3]};
    float *dp[4] = {gv[0], gv[1], gv[2], gv[3]};
    int64_t k[N] = {0, 1, 2, 3, 2};
    gsg_gsg_loss(NULL, dp, p, t, k, N, D);
    double maxerr = 0;
    for (int v = 0; v < 4; v++)
        for (int i = 0; i < N * D; i++) {
            float keep = pv[v][i];
            const float h = 1e-3f;
            pv[v][i] = keep + h; double lp = gsg_loss_d(p, t, k, N, D);
            pv[v][i] = keep - h; double lm = gsg_loss_d(p, t, k, N, D);
            pv[v][i] = keep;
            double fd = (lp - lm) / (2.0 * h);
            double err = fabs(fd - gv[v][i]);
            if (err > maxerr) maxerr = err;
            CHECK_MSG(err <= 2e-4 + 1e-2 * fabs(fd), "view %d elem %d: fd %.7g analytic %.7g", v, i, fd, gv[v][i]);
        }
    printf("  max |fd - analytic| = %.3g\n", maxerr);
    /* the same check for SimSiam's symmetric loss */
    static float g1[N * D], g2[N * D];
    gsg_simsiam_loss(NULL, g1, g2, pv[0], pv[1], tv[0], tv[1], N, D);
    for (int which = 0; which < 2; which++)
        for (int i = 0; i < N * D; i++) {
            float *x = which ? pv[1] : pv[0];
            float keep = x[i];
            const float h = 1e-3f;
            x[i] = keep + h; double lp = gsg_simsiam_loss(NULL, NULL, NULL, pv[0], pv[1], tv[0], tv[1], N, D);
            x[i] = keep - h; double lm = gsg_simsiam_loss(NULL, NULL, NULL, pv[0], pv[1], tv[0], tv[1], N, D);
            x[i] = keep;
            double fd = (lp - lm) / (2.0 * h), an = which ? g2[i] : g1[i];
            CHECK_MSG(fabs(fd - an) <= 2e-4 + 1e-2 * fabs(fd), "simsiam p%d elem %d: fd %.7g analytic %.7g", which + 1, i, fd, an);
        }
}

/* No predictor: p and t are the same buffers; the gradient still treats t as constant
 * (stop-gradient), so it equals the gradient computed with a separate copy of t. */
TEST(no_predictor_stop_gradient)
{
    enum { N = 3, D = 4 };
    struct gsg_rng r;
    gsg_rng_init(&r, 3, gsg_rng_stream(GSG_RNG_TEST, 2, 0, 0));
    static float zv[4][N * D], cv[4][N * D], g1[4][N * D], g2[4][N * D];
    for (int v = 0; v < 4; v++) for (int i = 0; i < N * D; i++) cv[v][i] = zv[v][i] = (float)gsg_rng_normal(&r);
    const float *z[4] = {zv[0], zv[1], zv[2], zv[3]}, *c[4] = {cv[0], cv[1], cv[2], cv[3]};
    float *d1[4] = {g1[0], g1[1], g1[2], g1[3]}, *d2[4] = {g2[0], g2[1], g2[2], g2[3]};
    float d[N * 4];
    int64_t k1[N], k2[N];
    double L1 = gsg_select_and_loss(d, k1, NULL, d1, z, z, N, D, GSG_DIST_EUCLIDEAN);
    double L2 = gsg_select_and_loss(d, k2, NULL, d2, z, c, N, D, GSG_DIST_EUCLIDEAN);
    CHECK(L1 == L2);
    for (int v = 0; v < 4; v++) CHECK(memcmp(g1[v], g2[v], sizeof g1[v]) == 0);
    for (int n = 0; n < N; n++) CHECK_EQ_I64(k1[n], k2[n]);
}

/* SimSiam: p1=(1,0) t2=(1,1) -> cos = 1/sqrt2; p2=(0,1) t1=(0,-3) -> cos = -1.
 * L = -(0.70710678 - 1)/2 = 0.14644661 */
TEST(simsiam_hand)
{
    float p1[2] = {1, 0}, p2[2] = {0, 1}, t1[2] = {0, -3}, t2[2] = {1, 1};
    float lr;
    double L = gsg_simsiam_loss(&lr, NULL, NULL, p1, p2, t1, t2, 1, 2);
    CHECK_CLOSE(L, 0.14644661, 1e-6, 0);
    CHECK_CLOSE(lr, 0.14644661, 1e-6, 0);
    /* a zero vector: cos uses max(|a||b|, 1e-8) and stays finite (= 0) */
    float z0[2] = {0, 0}, g[2];
    double c = gsg_cos_row(g, z0, t2, 2, 1.0);
    CHECK(c == 0 && isfinite(g[0]) && isfinite(g[1]));
}

TEST(permutation)
{
    enum { N = 64 };
    int64_t a[N], b[N], c[N], e[N];
    gsg_pair_permutation(a, N, 42, 10, 0);
    gsg_pair_permutation(b, N, 42, 10, 0);
    gsg_pair_permutation(c, N, 42, 11, 0);
    gsg_pair_permutation(e, N, 42, 10, 1);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    CHECK(memcmp(a, e, sizeof a) != 0);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) { CHECK(a[i] >= 0 && a[i] < N); if (a[i] >= 0 && a[i] < N) seen[a[i]]++; }
    for (int i = 0; i < N; i++) CHECK(seen[i] == 1);
    /* gather then scatter-add of ones counts each row once */
    float src[N * 2], g[N * 2], back[N * 2];
    for (int i = 0; i < N * 2; i++) src[i] = (float)i;
    gsg_gather_rows(g, src, a, N, 2);
    for (int n = 0; n < N; n++) CHECK(g[n * 2] == src[a[n] * 2] && g[n * 2 + 1] == src[a[n] * 2 + 1]);
    memset(back, 0, sizeof back);
    gsg_scatter_add_rows(back, g, a, N, 2);
    CHECK(memcmp(back, src, sizeof back) == 0);
}

/* BYOL target update against a hand computation:
 * xi = 1, theta = 3, m = 0.99 -> 0.99 + 0.03 = 1.02; xi = -2, theta = 0 -> -1.98. */
TEST(ema_hand)
{
    float xi[2] = {1, -2}, th[2] = {3, 0};
    gsg_ema_update(xi, th, 2, 0.99);
    CHECK_CLOSE(xi[0], 1.02, 1e-6, 0);
    CHECK_CLOSE(xi[1], -1.98, 1e-6, 0);
    CHECK_CLOSE(gsg_ema_momentum(0.99, 0, 5, 10), 0.99, 0, 0);
    CHECK_CLOSE(gsg_ema_momentum(0.99, 1, 0, 10), 0.99, 1e-12, 0);
    CHECK_CLOSE(gsg_ema_momentum(0.99, 1, 5, 10), 0.995, 1e-12, 0);
    CHECK_CLOSE(gsg_ema_momentum(0.99, 1, 10, 10), 1.0, 1e-12, 0);
    /* cosine lr: warmup 2 of 10 -> 0.05, 0.1, then 0.1 * 0.5 (1 + cos(pi * 4/8)) = 0.05 at step 6 */
    CHECK_CLOSE(gsg_cosine_lr(0.1, 0, 10, 2), 0.05, 1e-12, 0);
    CHECK_CLOSE(gsg_cosine_lr(0.1, 2, 10, 2), 0.1, 1e-12, 0);
    CHECK_CLOSE(gsg_cosine_lr(0.1, 6, 10, 2), 0.05, 1e-12, 0);
}

/* The collapse monitors on a constructed collapsed batch. Rows all lie on one direction
 * (z[n] = s_n u, s_n = +-1 and random magnitudes) and then go through a per-dimension
 * standardisation, as the projector's affine-free BatchNorm does: the per-dimension std of the
 * normalised rows still looks healthy (about 1/sqrt(D)), the effective rank reads 1. */
TEST(monitors_constructed_collapse)
{
    enum { N = 64, D = 32 };
    static float z[N * D], h[N * D];
    struct gsg_rng r;
    gsg_rng_init(&r, 5, gsg_rng_stream(GSG_RNG_TEST, 3, 0, 0));
    float u[D];
    for (int d = 0; d < D; d++) u[d] = (float)gsg_rng_normal(&r);
    for (int n = 0; n < N; n++) {
        double s = gsg_rng_normal(&r);
        for (int d = 0; d < D; d++) z[n * D + d] = (float)(s * u[d]);
    }
    for (int d = 0; d < D; d++) {   /* BatchNorm without affine parameters */
        double m = 0, v = 0;
        for (int n = 0; n < N; n++) m += z[n * D + d];
        m /= N;
        for (int n = 0; n < N; n++) v += (z[n * D + d] - m) * (z[n * D + d] - m);
        v /= N;
        for (int n = 0; n < N; n++) z[n * D + d] = (float)((z[n * D + d] - m) / sqrt(v + 1e-5));
    }
    struct gsg_collapse_report rep;
    CHECK_OK(gsg_collapse_measure(&rep, z, N, D, NULL));
    CHECK_MSG(rep.std_ratio > 0.5, "std*sqrt(D) = %g should look healthy", rep.std_ratio);
    CHECK_MSG(rep.erank < 1.5, "erank = %g", rep.erank);
    CHECK(rep.verdict == GSG_COLLAPSE_COMPLETE);
    /* a healthy batch: independent Gaussian rows */
    for (int i = 0; i < N * D; i++) h[i] = (float)gsg_rng_normal(&r);
    CHECK_OK(gsg_collapse_measure(&rep, h, N, D, NULL));
    CHECK_MSG(rep.erank > 0.5 * D, "erank = %g", rep.erank);
    CHECK(rep.verdict == GSG_COLLAPSE_OK);
}

/* SimCLR's configuration: temperature= only for simclr (SimSiam's text is as before), parsed back;
 * a simclr text without it is refused by name; the trainer refuses GSG and a predictor with simclr. */
TEST(simclr_config_and_refusals)
{
    struct gsg_train_config c, d;
    char a[4096], b[4096];
    CHECK_OK(gsg_train_config_recipe(&c, "fmnist"));
    CHECK(c.temperature == 0.5);
    CHECK_OK(gsg_train_config_recipe(&d, "imagenet"));
    CHECK(d.temperature == 0.1);
    c.steps_per_epoch = 3;
    CHECK(gsg_train_config_format(&c, a, sizeof a) == 0);
    CHECK(strstr(a, "temperature=") == NULL && strstr(a, "method=simsiam\n") != NULL);
    c.method = GSG_METHOD_SIMCLR;
    c.temperature = 0.25;
    c.net.pred_hidden = 0;
    CHECK(gsg_train_config_format(&c, a, sizeof a) == 0);
    CHECK(strstr(a, "method=simclr\n") && strstr(a, "temperature=0.25\n"));
    CHECK_OK(gsg_train_config_parse(&d, a));
    CHECK(d.method == GSG_METHOD_SIMCLR && d.temperature == 0.25);
    CHECK(gsg_train_config_format(&d, b, sizeof b) == 0);
    CHECK_MSG(strcmp(a, b) == 0, "format -> parse -> format changed:\n%s\nvs\n%s", a, b);
    char *t = strstr(a, "temperature=");
    memcpy(t, "xemperature=", 12);   /* the key gone */
    CHECK(gsg_train_config_parse(&d, a) == GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "'temperature'"), "%s", gsg_err_msg());
    /* the trainer: no GSG, no predictor, a positive temperature */
    c.batch = 4; c.image_h = c.image_w = 12; c.epochs = 1;
    c.net.width = 8; c.net.proj_dim = c.net.proj_hidden = 16;
    struct gsg_trainer *tr = NULL;
    c.gsg = 1;
    CHECK(gsg_trainer_create(&tr, &c, GSG_DEV_CPU) == GSG_E_USAGE && !tr);
    CHECK_MSG(strstr(gsg_err_msg(), "does not apply to simclr"), "%s", gsg_err_msg());
    c.gsg = 0;
    c.net.pred_hidden = 4;
    CHECK(gsg_trainer_create(&tr, &c, GSG_DEV_CPU) == GSG_E_USAGE && !tr);
    c.net.pred_hidden = 0;
    c.temperature = 0;
    CHECK(gsg_trainer_create(&tr, &c, GSG_DEV_CPU) == GSG_E_USAGE && !tr);
    c.temperature = 0.5;
    CHECK_OK(gsg_trainer_create(&tr, &c, GSG_DEV_CPU));
    /* one step on random views: a finite loss near log(2N - 1) = log 7 for 4 images */
    static uint8_t views[4 * 2 * 12 * 12];
    for (size_t i = 0; i < sizeof views; i++) views[i] = (uint8_t)(i * 131 % 251);
    struct gsg_train_batch bt = {views, 4, 2, 1, 12, 12, {0.5f, 0, 0}, {0.25f, 1, 1}};
    struct gsg_train_stats st;
    if (tr) {
        CHECK_OK(gsg_trainer_step(tr, &bt, &st));
        CHECK_MSG(isfinite(st.loss) && fabs(st.loss - log(7.0)) < 1.0, "loss %g", st.loss);
        CHECK(st.counts[0] + st.counts[1] + st.counts[2] + st.counts[3] == 0);
        bt.V = 1;   /* SimCLR needs two views */
        CHECK(gsg_trainer_step(tr, &bt, &st) == GSG_E_SHAPE);
    }
    gsg_trainer_destroy(tr);
}

/* A GSG trainer of the fmnist recipe at toy size (4 images of 12x12, width 8, lr 0.5) and its
 * 4-view batch drawn from (seed, stream): the fixture of the step tests below. */
#define TINY_VIEWS (4 * 4 * 1 * 12 * 12)
static struct gsg_trainer *tiny_gsg_trainer(enum gsg_method method, uint8_t *views, uint64_t seed, uint64_t stream)
{
    struct gsg_train_config c;
    CHECK_OK(gsg_train_config_recipe(&c, "fmnist"));
    c.method = method;
    c.gsg = 1;
    c.batch = 4; c.image_h = c.image_w = 12; c.steps_per_epoch = 10; c.epochs = 1; c.lr = 0.5;
    c.net.width = 8; c.net.proj_dim = c.net.proj_hidden = 16; c.net.pred_hidden = 4;
    struct gsg_trainer *tr = NULL;
    CHECK_OK(gsg_trainer_create(&tr, &c, GSG_DEV_CPU));
    struct gsg_rng r;
    gsg_rng_init(&r, seed, gsg_rng_stream(GSG_RNG_TEST, stream, 0, 0));
    for (size_t i = 0; i < TINY_VIEWS; i++) views[i] = (uint8_t)gsg_rng_below(&r, 256);
    return tr;
}

/* BYOL: at the start of each step the target becomes 0.99 target + 0.01 online (parameters
 * only, BN buffers as they were), using the online weights from before that step's update. */
TEST(byol_ema_in_the_step)
{
    static uint8_t views[TINY_VIEWS];
    struct gsg_trainer *tr = tiny_gsg_trainer(GSG_METHOD_BYOL, views, 9, 4);
    if (!tr) return;
    struct gsg_train_batch b = {views, 4, 4, 1, 12, 12, {0.5f}, {0.25f}};
    struct gsg_train_stats st;
    int64_t nt, no;
    float *tp = gsg_net_param_data(gsg_trainer_target(tr), &nt);
    float *op = gsg_net_param_data(gsg_trainer_net(tr), &no);
    CHECK(nt > 0 && no >= nt);
    float *t0 = malloc((size_t)nt * sizeof(float)), *o0 = malloc((size_t)nt * sizeof(float));
    for (int s = 0; s < 3; s++) {
        memcpy(t0, tp, (size_t)nt * sizeof(float));
        memcpy(o0, op, (size_t)nt * sizeof(float));   /* backbone + projector come first in both arenas */
        CHECK_OK(gsg_trainer_step(tr, &b, &st));
        CHECK_CLOSE(st.ema, 0.99, 0, 0);
        int64_t bad = 0;
        for (int64_t i = 0; i < nt; i++) {
            double want = 0.99 * (double)t0[i] + 0.01 * (double)o0[i];
            if (!(fabs(tp[i] - want) <= 1e-6 + 1e-5 * fabs(want))) bad++;
        }
        CHECK_MSG(bad == 0, "step %d: %lld of %lld target parameters off the EMA rule", s, (long long)bad, (long long)nt);
        if (s == 0) {   /* step 0: target started as a copy, so the EMA leaves it equal to online-before */
            CHECK(memcmp(tp, o0, (size_t)nt * sizeof(float)) == 0 || bad == 0);
        }
    }
    /* the online network moved, so the target must now differ from it */
    int differ = 0;
    for (int64_t i = 0; i < nt && !differ; i++) differ = tp[i] != op[i];
    CHECK(differ);
    free(t0); free(o0);
    gsg_trainer_destroy(tr);
}

/* The non-finite guard reads the gradient of every encoder call: a NaN in view B1's or B2's
 * path (GSG_TEST_NAN_GRAD) stops the step like a NaN loss, parameters and step count untouched. */
TEST(nonfinite_guard_all_views)
{
    static uint8_t views[TINY_VIEWS];
    struct gsg_trainer *tr = tiny_gsg_trainer(GSG_METHOD_SIMSIAM, views, 5, 5);
    if (!tr) return;
    struct gsg_train_batch b = {views, 4, 4, 1, 12, 12, {0.5f}, {0.25f}};
    struct gsg_train_stats st;
    int64_t np;
    float *w = gsg_net_param_data(gsg_trainer_net(tr), &np);
    float *w0 = malloc((size_t)np * sizeof(float));
    CHECK_OK(gsg_trainer_step(tr, &b, &st));   /* step 0 is clean */
    setenv("GSG_TEST_NAN_STEP", "1", 1);
    for (int v = 3; v >= 0; v--) {
        char vs[2] = {(char)('0' + v), 0};
        setenv("GSG_TEST_NAN_GRAD", vs, 1);
        memcpy(w0, w, (size_t)np * sizeof(float));
        gsg_status s = gsg_trainer_step(tr, &b, &st);
        CHECK_MSG(s == GSG_E_NUMERIC, "view %d: status %d (%s)", v, (int)s, s < 0 ? gsg_err_msg() : "ok");
        if (s == GSG_E_NUMERIC) CHECK_MSG(strstr(gsg_err_msg(), gsg_view_name(v)) != NULL, "message '%s'", gsg_err_msg());
        CHECK_EQ_I64(gsg_trainer_step_index(tr), 1);
        CHECK_MSG(memcmp(w, w0, (size_t)np * sizeof(float)) == 0, "view %d: parameters changed", v);
        if (s >= 0) break;   /* the step went through: the index moved, later views would not test step 1 */
    }
    unsetenv("GSG_TEST_NAN_GRAD");
    unsetenv("GSG_TEST_NAN_STEP");
    CHECK_OK(gsg_trainer_step(tr, &b, &st));   /* and the run goes on */
    free(w0);
    gsg_trainer_destroy(tr);
}

int main(void)
{
    RUN(hand_2x2_euclidean);
    RUN(distance_options);
    RUN(ties_first_index);
    RUN(four_case_table);
    RUN(gradient_finite_difference);
    RUN(no_predictor_stop_gradient);
    RUN(simsiam_hand);
    RUN(simclr_config_and_refusals);
    RUN(permutation);
    RUN(ema_hand);
    RUN(monitors_constructed_collapse);
    RUN(byol_ema_in_the_step);
    RUN(nonfinite_guard_all_views);
    return check_summary();
}
