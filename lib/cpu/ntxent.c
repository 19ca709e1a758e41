/* ntxent.c: CPU NT-Xent (ops.h). One OpenBLAS sgemm forms the block's similarities with every row,
 *   work[k,j] = <u_{bR+k}, u_j>                                  (R x M, sgemm NT)
 * then each anchor row (OpenMP over rows, each row summed in order in double) takes its log-sum-exp
 * over j != a. The backward forms the same dot products again and replaces them by the coefficients
 *   c[k,j] = (dloss_a p_aj + dloss_j p_ja - [j = pos(a)] (dloss_a + dloss_j)) / tau,   c[k,a] = 0,
 * with a = bR + k and p_xy = exp(s_xy - lse_x) (s symmetric, so p_ja comes from the same dot product and
 * anchor j's lse), and du = c u (sgemm NN). */
#include "cpu/cpu_ops.h"
#include <cblas.h>
#include <math.h>

#define PAR_MIN 16384

static int64_t positive(int64_t a, int64_t R)
{
    int64_t b = a / R, k = a % R, n = R / 2;
    return b * R + (k + n) % R;
}

static void dots(float *work, const float *u, int64_t M, int64_t D, int64_t R, int64_t block)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)M, (int)D, 1.0f, u + block * R * D, (int)D, u,
                (int)D, 0.0f, work, (int)M);
}

void gsg_cpu_ntxent_fwd(float *loss, float *lse, float *work, const float *u, int64_t M, int64_t D, int64_t R,
                        int64_t block, double tau)
{
    dots(work, u, M, D, R, block);
    const double inv = 1.0 / tau;
    #pragma omp parallel for schedule(static) if (R * M >= PAR_MIN)
    for (int64_t k = 0; k < R; k++) {
        const int64_t a = block * R + k, p = positive(a, R);
        const float *row = work + k * M;
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < M; j++) {
            double v = row[j] * inv;
            if (j != a && v > mx) mx = v;
        }
        for (int64_t j = 0; j < M; j++)
            if (j != a) s += exp(row[j] * inv - mx);
        double l = mx + log(s);
        lse[k] = (float)l;
        loss[k] = (float)(l - row[p] * inv);
    }
}

void gsg_cpu_ntxent_bwd(float *du, float *work, const float *dloss, const float *u, const float *lse, int64_t M,
                        int64_t D, int64_t R, int64_t block, double tau)
{
    dots(work, u, M, D, R, block);
    const double inv = 1.0 / tau;
    #pragma omp parallel for schedule(static) if (R * M >= PAR_MIN)
    for (int64_t k = 0; k < R; k++) {
        const int64_t a = block * R + k, p = positive(a, R);
        float *row = work + k * M;
        const double la = lse[a], ga = dloss[a];
        for (int64_t j = 0; j < M; j++) {
            double c = 0;
            if (j != a) {
                double s = row[j] * inv;
                c = ga * exp(s - la) + (double)dloss[j] * exp(s - (double)lse[j]);
                if (j == p) c -= ga + (double)dloss[j];
            }
            row[j] = (float)(c * inv);
        }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)D, (int)M, 1.0f, work, (int)M, u, (int)D, 0.0f,
                du, (int)D);
}
