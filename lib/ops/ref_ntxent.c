/* ref_ntxent.c: naive double-precision NT-Xent (tests only), from the definition in ops.h:
 *   s_aj = <u_a,u_j>/tau,  loss_a = -s_a,pos(a) + log sum_{j != a} exp(s_aj),
 * and its gradient anchor by anchor: with p_aj = exp(s_aj) / sum_{j != a} exp(s_aj),
 *   d loss_a / d u_a = (sum_{j != a} p_aj u_j - u_pos(a)) / tau,
 *   d loss_a / d u_j = (p_aj - [j = pos(a)]) u_a / tau     (j != a). */
#include "ops/ref.h"
#include <math.h>
#include <stdlib.h>

static double sim(const double *u, int64_t a, int64_t j, int64_t D, double tau)
{
    double s = 0;
    for (int64_t i = 0; i < D; i++) s += u[a * D + i] * u[j * D + i];
    return s / tau;
}

static int64_t positive(int64_t a, int64_t R)
{
    int64_t b = a / R, k = a % R;
    return b * R + (k + R / 2) % R;
}

/* the log-sum-exp of anchor a over j != a (max-shifted) */
static double anchor_lse(const double *u, int64_t a, int64_t M, int64_t D, double tau)
{
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < M; j++)
        if (j != a) mx = fmax(mx, sim(u, a, j, D, tau));
    for (int64_t j = 0; j < M; j++)
        if (j != a) s += exp(sim(u, a, j, D, tau) - mx);
    return mx + log(s);
}

void gsg_ref_ntxent_fwd(double *loss, double *lse, const double *u, int64_t M, int64_t D, int64_t R, int64_t block,
                        double tau)
{
    for (int64_t k = 0; k < R; k++) {
        int64_t a = block * R + k;
        lse[k] = anchor_lse(u, a, M, D, tau);
        loss[k] = lse[k] - sim(u, a, positive(a, R), D, tau);
    }
}

void gsg_ref_ntxent_bwd(double *du, const double *dloss, const double *u, int64_t M, int64_t D, int64_t R,
                        int64_t block, double tau)
{
    const int64_t lo = block * R, hi = lo + R;
    for (int64_t i = 0; i < R * D; i++) du[i] = 0;
    for (int64_t a = 0; a < M; a++) {
        const double l = anchor_lse(u, a, M, D, tau), g = dloss[a];
        const int64_t p = positive(a, R);
        for (int64_t j = 0; j < M; j++) {
            if (j == a) continue;
            double c = (exp(sim(u, a, j, D, tau) - l) - (j == p)) * g / tau;
            if (a >= lo && a < hi)   /* anchor a's own row: + c u_j */
                for (int64_t i = 0; i < D; i++) du[(a - lo) * D + i] += c * u[j * D + i];
            if (j >= lo && j < hi)   /* row j as a's positive or negative: + c u_a */
                for (int64_t i = 0; i < D; i++) du[(j - lo) * D + i] += c * u[a * D + i];
        }
    }
}
