/* test_eval.c: collapse metrics, k-NN vote and linear probe on constructed data
 * whose answers are known. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "core/rng.h"
#include "eval/collapse.h"

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

int main(void)
{
    RUN(erank_identity_is_full);
    RUN(erank_hand_worked);
    RUN(erank_rank_one_and_zero);
    RUN(erank_random_is_high);
    RUN(norm_std_and_cos);
    RUN(collapse_verdicts);
    return check_summary();
}
