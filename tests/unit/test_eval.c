/* test_eval.c: collapse metrics, k-NN vote and linear probe on constructed data
 * whose answers are known. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "core/rng.h"
#include "eval/collapse.h"
#include "eval/knn.h"
#include "eval/linear.h"

/* ---- collapse metrics ---- */

TEST(erank_identity_is_full)
{
    /* 6 orthogonal rows of equal length: flat spectrum, erank = 6 exactly (uncentred). */
    float x[6 * 8] = { 0 };
    for (int i = 0; i < 6; i++) x[i * 8 + i] = 3.0f;
    double er = -1;
    CHECK_OK(gsg_collapse_erank(&er, x, 6, 8, 0));
    CHECK_CLOSE(er, 6.0, 1e-9, 1e-9);
    /* N > D path (covariance DxD): 8 rows in 4 dims, two copies of the basis. */
    float y[8 * 4] = { 0 };
    for (int i = 0; i < 8; i++) y[i * 4 + i % 4] = 1.0f;
    CHECK_OK(gsg_collapse_erank(&er, y, 8, 4, 0));
    CHECK_CLOSE(er, 4.0, 1e-9, 1e-9);
}

TEST(erank_hand_worked)
{
    /* rows (3,0),(0,1): singular values 3 and 1, p = 3/4, 1/4,
     * H = -(.75 ln .75 + .25 ln .25) = 0.5623351446, erank = 1.754765350 */
    float x[4] = { 3, 0, 0, 1 };
    double er = 0;
    CHECK_OK(gsg_collapse_erank(&er, x, 2, 2, 0));
    CHECK_CLOSE(er, exp(-(0.75 * log(0.75) + 0.25 * log(0.25))), 1e-9, 0);
    CHECK_CLOSE(er, 1.754765350, 1e-8, 0);
}

TEST(erank_rank_one_and_zero)
{
    float x[5 * 3];
    for (int n = 0; n < 5; n++) for (int d = 0; d < 3; d++) x[n * 3 + d] = (float)(n + 1) * (float)(d + 2);
    double er = 0;
    CHECK_OK(gsg_collapse_erank(&er, x, 5, 3, 0));
    CHECK_CLOSE(er, 1.0, 1e-6, 0);
    /* identical rows, centred: no spectrum at all */
    for (int n = 0; n < 5; n++) for (int d = 0; d < 3; d++) x[n * 3 + d] = (float)(d + 2);
    CHECK_OK(gsg_collapse_erank(&er, x, 5, 3, 1));
    CHECK_CLOSE(er, 0.0, 0, 0);
    float bad[2] = { 1, NAN };
    CHECK(gsg_collapse_erank(&er, bad, 1, 2, 0) == GSG_E_NUMERIC);
    CHECK(gsg_collapse_erank(&er, x, 0, 3, 0) == GSG_E_SHAPE);
}

TEST(erank_random_is_high)
{
    /* Gaussian 2000 x 16: close to 16 (finite-sample spread costs a little). */
    int64_t N = 2000, D = 16;
    float *x = malloc(sizeof(float) * (size_t)(N * D));
    struct gsg_rng rng;
    gsg_rng_init(&rng, 7, 1);
    for (int64_t i = 0; i < N * D; i++) x[i] = (float)gsg_rng_normal(&rng);
    double er = 0;
    CHECK_OK(gsg_collapse_erank(&er, x, N, D, 1));
    CHECK_MSG(er > 15.5 && er <= 16.0, "erank %g", er);
    /* Gram path (N < D) gives the same as the covariance path on the transpose-free data */
    double er2 = 0;
    CHECK_OK(gsg_collapse_erank(&er2, x, 10, D, 0));
    CHECK_MSG(er2 > 5 && er2 <= 10.0, "erank %g", er2);
    free(x);
}

TEST(norm_std_and_cos)
{
    /* rows (1,0) and (0,2) -> normalised (1,0),(0,1): per-dim std 0.5 each */
    float x[4] = { 1, 0, 0, 2 };
    float sd[2];
    double m = 0;
    CHECK_OK(gsg_collapse_norm_std(sd, &m, x, 2, 2));
    CHECK_CLOSE(sd[0], 0.5, 1e-6, 0);
    CHECK_CLOSE(sd[1], 0.5, 1e-6, 0);
    CHECK_CLOSE(m, 0.5, 1e-9, 0);
    /* cos((1,0),(1,1)) = 1/sqrt2, cos((0,2),(0,-1)) = -1 -> mean (0.70710678 - 1)/2 */
    float b[4] = { 1, 1, 0, -1 };
    double c = 0;
    CHECK_OK(gsg_collapse_mean_cos(&c, x, b, 2, 2));
    CHECK_CLOSE(c, (sqrt(0.5) - 1) / 2, 1e-7, 0);
}

TEST(collapse_verdicts)
{
    int64_t N = 256, D = 32;
    float *x = malloc(sizeof(float) * (size_t)(N * D));
    struct gsg_rng rng;
    gsg_rng_init(&rng, 3, 0);
    struct gsg_collapse_report rep;
    char line[256];
    /* healthy: isotropic Gaussian */
    for (int64_t i = 0; i < N * D; i++) x[i] = (float)gsg_rng_normal(&rng);
    CHECK_OK(gsg_collapse_measure(&rep, x, N, D, NULL));
    CHECK_EQ_I64(rep.verdict, GSG_COLLAPSE_OK);
    CHECK_MSG(rep.std_ratio > 0.9 && rep.std_ratio < 1.1, "std ratio %g", rep.std_ratio);
    CHECK(strncmp(gsg_collapse_verdict_line(line, sizeof line, &rep), "ok: ", 4) == 0);
    /* complete: one vector plus tiny noise */
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) x[n * D + d] = (float)(d + 1) + 1e-5f * (float)gsg_rng_normal(&rng);
    CHECK_OK(gsg_collapse_measure(&rep, x, N, D, NULL));
    CHECK_EQ_I64(rep.verdict, GSG_COLLAPSE_COMPLETE);
    /* dimensional: spread, but in one direction only (+-e0 and +-e1 with tiny noise elsewhere) */
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) x[n * D + d] = (d == 0 ? (float)(n % 2 ? 1 : -1) : 0.0f) + 1e-4f * (float)gsg_rng_normal(&rng);
    CHECK_OK(gsg_collapse_measure(&rep, x, N, D, NULL));
    CHECK_MSG(rep.verdict != GSG_COLLAPSE_OK, "verdict %s erank %g", gsg_collapse_verdict_name(rep.verdict), rep.erank);
    free(x);
}

/* ---- k-NN ---- */

/* Rows of +-1 in 4 dims: norms are exactly 2, so every cosine is exact in f32:
 * cos = (agreeing - disagreeing) / 4 in {1, .5, 0, -.5, -1}. */
static const float knn_bank[5 * 4] = {
     1,  1,  1,  1,   /* b0: s = 1   vs q = (1,1,1,1) */
     1,  1,  1, -1,   /* b1: s = .5 */
     1,  1, -1,  1,   /* b2: s = .5 */
     1,  1, -1, -1,   /* b3: s = 0 */
    -1, -1, -1, -1,   /* b4: s = -1 */
};
static const float knn_q[4] = { 1, 1, 1, 1 };

TEST(knn_hand_worked_weights)
{
    int64_t lab[5] = { 0, 1, 1, 2, 2 };
    int64_t ql = 1, pred = -1;
    struct gsg_knn_opts o = gsg_knn_opts_default();
    struct gsg_knn_result r;
    /* k=3: b0 (s=1), b1, b2 (s=.5). T=0.5: class0 = e^2 = 7.389 > class1 = 2e = 5.437 -> 0 */
    o.k = 3; o.T = 0.5;
    CHECK_OK(gsg_knn_eval(&r, &pred, knn_bank, lab, 5, knn_q, &ql, 1, 4, &o));
    CHECK_EQ_I64(pred, 0);
    CHECK_EQ_I64(r.correct1, 0);
    CHECK_EQ_I64(r.correct5, 1);
    CHECK_EQ_I64(r.classes, 3);
    /* T=1: class0 = e = 2.718 < class1 = 2 e^.5 = 3.297 -> 1 */
    o.T = 1.0;
    CHECK_OK(gsg_knn_eval(&r, &pred, knn_bank, lab, 5, knn_q, &ql, 1, 4, &o));
    CHECK_EQ_I64(pred, 1);
    CHECK_CLOSE(r.top1, 1.0, 0, 0);
    /* k larger than the bank: every row votes; k_used = 5.
     * T=1: c0 = e, c1 = 2e^.5 = 3.297, c2 = e^0 + e^-1 = 1.368 -> 1 */
    o.k = 200;
    CHECK_OK(gsg_knn_eval(&r, &pred, knn_bank, lab, 5, knn_q, &ql, 1, 4, &o));
    CHECK_EQ_I64(r.k_used, 5);
    CHECK_EQ_I64(pred, 1);
}

TEST(knn_ties)
{
    /* Neighbour tie: b1 and b2 both s=.5; with k=2 the lower index (b1) wins the
     * second place, so its class (3) votes and b2's class (4) does not. */
    int64_t lab[5] = { 0, 3, 4, 1, 1 };
    int64_t ql = 4, pred = -1;
    struct gsg_knn_opts o = gsg_knn_opts_default();
    struct gsg_knn_result r;
    o.k = 2; o.T = 0.1;
    CHECK_OK(gsg_knn_eval(&r, &pred, knn_bank, lab, 5, knn_q, &ql, 1, 4, &o));
    CHECK_EQ_I64(pred, 0);
    /* class ranking: 0 (e^10), 3 (e^5), then unvoted 1, 2, 4: label 4 is 5th -> in top 5 */
    CHECK_EQ_I64(r.correct5, 1);
    /* with 7 classes and label 6 it is 7th -> not in top 5 */
    ql = 6;
    o.classes = 7;
    CHECK_OK(gsg_knn_eval(&r, &pred, knn_bank, lab, 5, knn_q, &ql, 1, 4, &o));
    CHECK_EQ_I64(r.correct5, 0);
    CHECK_EQ_I64(r.classes, 7);
    /* Class tie: bank = b1 (class 5), b2 (class 2) only, k=2: equal scores -> lower class 2 */
    float bank2[8];
    memcpy(bank2, knn_bank + 4, sizeof bank2);
    int64_t lab2[2] = { 5, 2 };
    ql = 5;
    o.classes = 0;
    CHECK_OK(gsg_knn_eval(&r, &pred, bank2, lab2, 2, knn_q, &ql, 1, 4, &o));
    CHECK_EQ_I64(pred, 2);
    CHECK_EQ_I64(r.correct1, 0);
    CHECK_EQ_I64(r.correct5, 1);
    /* The reference agrees on all of it. */
    int64_t pref = -1;
    struct gsg_knn_result rr;
    CHECK_OK(gsg_knn_eval_ref(&rr, &pref, bank2, lab2, 2, knn_q, &ql, 1, 4, &o));
    CHECK_EQ_I64(pref, 2);
}

TEST(knn_errors)
{
    int64_t lab[5] = { 0, 1, -1, 2, 2 }, ql = 0;
    struct gsg_knn_result r;
    struct gsg_knn_opts o = gsg_knn_opts_default();
    CHECK(gsg_knn_eval(&r, NULL, knn_bank, lab, 5, knn_q, &ql, 1, 4, &o) == GSG_E_FORMAT);
    lab[2] = 1;
    o.k = 0;
    CHECK(gsg_knn_eval(&r, NULL, knn_bank, lab, 5, knn_q, &ql, 1, 4, &o) == GSG_E_USAGE);
    o.k = 3; o.T = 0;
    CHECK(gsg_knn_eval(&r, NULL, knn_bank, lab, 5, knn_q, &ql, 1, 4, &o) == GSG_E_USAGE);
    o.T = 0.1;
    float nanq[4] = { 1, NAN, 0, 0 };
    CHECK(gsg_knn_eval(&r, NULL, knn_bank, lab, 5, nanq, &ql, 1, 4, &o) == GSG_E_NUMERIC);
    /* unknown query labels are classified but not scored */
    ql = -1;
    int64_t pred = -7;
    CHECK_OK(gsg_knn_eval(&r, &pred, knn_bank, lab, 5, knn_q, &ql, 1, 4, &o));
    CHECK_EQ_I64(r.scored, 0);
    CHECK(pred >= 0);
}

/* Gaussian clusters: K centres far apart in D dims, rows = centre + noise. */
static void make_clusters(float *x, int64_t *y, int64_t N, int64_t D, int64_t K, double noise, uint64_t seed)
{
    struct gsg_rng rng;
    gsg_rng_init(&rng, 1234, 0);   /* centres: the same for train and test */
    float *ctr = malloc(sizeof(float) * (size_t)(K * D));
    for (int64_t i = 0; i < K * D; i++) ctr[i] = (float)gsg_rng_normal(&rng);
    gsg_rng_init(&rng, seed, 1);
    for (int64_t n = 0; n < N; n++) {
        y[n] = (int64_t)gsg_rng_below(&rng, (uint32_t)K);
        for (int64_t d = 0; d < D; d++) x[n * D + d] = ctr[y[n] * D + d] + (float)(noise * gsg_rng_normal(&rng));
    }
    free(ctr);
}

TEST(knn_clusters_and_reference)
{
    int64_t Nb = 3000, Nq = 700, D = 24, K = 10;
    float *bank = malloc(sizeof(float) * (size_t)(Nb * D)), *q = malloc(sizeof(float) * (size_t)(Nq * D));
    int64_t *yb = malloc(sizeof(int64_t) * (size_t)Nb), *yq = malloc(sizeof(int64_t) * (size_t)Nq);
    int64_t *p1 = malloc(sizeof(int64_t) * (size_t)Nq), *p2 = malloc(sizeof(int64_t) * (size_t)Nq);
    /* well separated: every query right */
    make_clusters(bank, yb, Nb, D, K, 0.05, 1);
    make_clusters(q, yq, Nq, D, K, 0.05, 2);
    struct gsg_knn_opts o = gsg_knn_opts_default();
    struct gsg_knn_result r, rr;
    o.query_block = 128; o.bank_block = 1000;   /* several blocks, a partial last one */
    CHECK_OK(gsg_knn_eval(&r, p1, bank, yb, Nb, q, yq, Nq, D, &o));
    CHECK_CLOSE(r.top1, 1.0, 0, 0);
    CHECK_CLOSE(r.top5, 1.0, 0, 0);
    CHECK_EQ_I64(r.scored, Nq);
    /* overlapping: the blocked version equals the naive one query by query */
    make_clusters(bank, yb, Nb, D, K, 1.5, 3);
    make_clusters(q, yq, Nq, D, K, 1.5, 4);
    CHECK_OK(gsg_knn_eval(&r, p1, bank, yb, Nb, q, yq, Nq, D, &o));
    CHECK_OK(gsg_knn_eval_ref(&rr, p2, bank, yb, Nb, q, yq, Nq, D, &o));
    int64_t diff = 0;
    for (int64_t i = 0; i < Nq; i++) diff += p1[i] != p2[i];
    CHECK_MSG(diff <= 1, "%lld of %lld predictions differ from the reference", (long long)diff, (long long)Nq);
    CHECK_MSG(fabs(r.top1 - rr.top1) <= 1.5 / Nq, "top1 %g vs ref %g", r.top1, rr.top1);
    CHECK_MSG(r.top1 > 0.3 && r.top1 < 1.0, "top1 %g", r.top1);
    CHECK(r.top5 >= r.top1);
    free(bank); free(q); free(yb); free(yq); free(p1); free(p2);
}

/* ---- linear probe ---- */

TEST(probe_separable_sgd_and_ridge)
{
    int64_t Ntr = 2000, Nte = 500, D = 16, K = 5;
    float *tr = malloc(sizeof(float) * (size_t)(Ntr * D)), *te = malloc(sizeof(float) * (size_t)(Nte * D));
    int64_t *ytr = malloc(sizeof(int64_t) * (size_t)Ntr), *yte = malloc(sizeof(int64_t) * (size_t)Nte);
    make_clusters(tr, ytr, Ntr, D, K, 0.1, 5);
    make_clusters(te, yte, Nte, D, K, 0.1, 6);
    struct gsg_probe_opts o = gsg_probe_opts_default();
    struct gsg_probe_result r;
    o.epochs = 10;
    CHECK_OK(gsg_probe_fit_eval(&r, NULL, tr, ytr, Ntr, te, yte, Nte, D, &o));
    CHECK_CLOSE(r.top1, 1.0, 0, 0);
    CHECK_CLOSE(r.train_top1, 1.0, 0, 0);
    CHECK_EQ_I64(r.classes, K);
    CHECK_EQ_I64(r.scored, Nte);
    CHECK_MSG(r.train_loss < 0.05, "loss %g", r.train_loss);
    /* same seed, same numbers */
    struct gsg_probe_result r2;
    CHECK_OK(gsg_probe_fit_eval(&r2, NULL, tr, ytr, Ntr, te, yte, Nte, D, &o));
    CHECK(r2.train_loss == r.train_loss);
    o.solver = GSG_PROBE_RIDGE;
    CHECK_OK(gsg_probe_fit_eval(&r, NULL, tr, ytr, Ntr, te, yte, Nte, D, &o));
    CHECK_CLOSE(r.top1, 1.0, 0, 0);
    free(tr); free(te); free(ytr); free(yte);
}

TEST(probe_hand_worked_ridge)
{
    /* 1-D, two classes at x = -1 (class 0) and x = +1 (class 1), two rows each.
     * Standardised x = +-1 (std 1). Ridge: w_c = sum x (y_c - ybar_c) / (N + lambda N):
     * w_1 = 2 / (4 (1 + l)) = 0.5/(1+l), w_0 = -w_1, b = (.5, .5). Test x = 3 -> class 1,
     * x = -0.5 -> class 0; a row with unknown label is ignored in training. */
    float tr[5] = { -1, -1, 1, 1, 100 };
    int64_t ytr[5] = { 0, 0, 1, 1, -1 };
    float te[2] = { 3, -0.5f };
    int64_t yte[2] = { 1, 0 }, pred[2];
    struct gsg_probe_opts o = gsg_probe_opts_default();
    struct gsg_probe_result r;
    o.solver = GSG_PROBE_RIDGE;
    o.ridge = 1.0;
    CHECK_OK(gsg_probe_fit_eval(&r, pred, tr, ytr, 5, te, yte, 2, 1, &o));
    CHECK_EQ_I64(r.trained, 4);
    CHECK_EQ_I64(pred[0], 1);
    CHECK_EQ_I64(pred[1], 0);
    CHECK_CLOSE(r.top1, 1.0, 0, 0);
    /* residuals: fit = .5 +- .25 for targets 1/0 -> each row: (.25)^2 * 2 = .125 */
    CHECK_CLOSE(r.train_loss, 0.125, 1e-6, 0);
}

int main(void)
{
    RUN(erank_identity_is_full);
    RUN(erank_hand_worked);
    RUN(erank_rank_one_and_zero);
    RUN(erank_random_is_high);
    RUN(norm_std_and_cos);
    RUN(collapse_verdicts);
    RUN(knn_hand_worked_weights);
    RUN(knn_ties);
    RUN(knn_errors);
    RUN(knn_clusters_and_reference);
    RUN(probe_separable_sgd_and_ridge);
    RUN(probe_hand_worked_ridge);
    return check_summary();
}
