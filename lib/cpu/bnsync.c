/* bnsync.c: CPU kernels of batch norm in steps (statistics / all-reduce / apply, ops_engine.h),
 * the form synchronised BN across ranks needs. The sums reduce a fixed number of row chunks that
 * depends on M and C only; each chunk adds its rows in order, the chunks are added in chunk order,
 * so the sums are the same bits for any thread count. Partials live in a grow-only workspace of
 * the calling thread (no allocation per call once the largest shape has been seen). */
#include "cpu/cpu_engine.h"
#include <math.h>
#include <stdlib.h>

#define CHUNKS_MAX 32
#define CHUNK_MIN 8192   /* elements */

static __thread double *ws;
static __thread size_t ws_cap;

static double *workspace(size_t n)
{
    if (n > ws_cap) {
        free(ws);
        ws = NULL;
        ws_cap = 0;
        if (posix_memalign((void **)&ws, 64, n * sizeof(double))) return NULL;
        ws_cap = n;
    }
    return ws;
}

static int64_t n_chunks(int64_t M, int64_t C)
{
    int64_t n = M * C / CHUNK_MIN;
    if (n > CHUNKS_MAX) n = CHUNKS_MAX;
    if (n > M) n = M;
    return n < 1 ? 1 : n;
}

static void rows_of(int64_t M, int64_t u, int64_t nch, int64_t *r0, int64_t *r1)
{
    int64_t q = M / nch, r = M % nch;
    *r0 = u * q + (u < r ? u : r);
    *r1 = *r0 + q + (u < r ? 1 : 0);
}

/* out[c] and out[C + c] = the chunk partials part[u][0..2C) added in chunk order */
static void fold(double *out, const double *part, int64_t nch, int64_t C)
{
    for (int64_t i = 0; i < 2 * C; i++) {
        double s = 0;
        for (int64_t u = 0; u < nch; u++) s += part[u * 2 * C + i];
        out[i] = s;
    }
}

gsg_status gsg_cpu_bn_stats(double *sums, const float *x, const float *shift, int64_t M, int64_t C)
{
    const int64_t nch = n_chunks(M, C);
    double *part = workspace((size_t)(nch * 2 * C));
    if (!part) return gsg_err_set(GSG_E_NOMEM, "bn_stats: out of memory for a %lld-channel workspace", (long long)C);
    #pragma omp parallel for schedule(static) if (M * C >= 32768)
    for (int64_t u = 0; u < nch; u++) {
        double *restrict s1 = part + u * 2 * C, *restrict s2 = s1 + C;
        int64_t r0, r1;
        rows_of(M, u, nch, &r0, &r1);
        for (int64_t c = 0; c < C; c++) s1[c] = s2[c] = 0;
        for (int64_t r = r0; r < r1; r++) {
            const float *restrict xp = x + r * C;
            #pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                double d = (double)xp[c] - (double)shift[c];
                s1[c] += d;
                s2[c] += d * d;
            }
        }
    }
    fold(sums, part, nch, C);
    sums[2 * C] = (double)M;
    return GSG_OK;
}

void gsg_cpu_bn_finalize(float *mean, float *invstd, float *running_mean, float *running_var, const double *sums,
                         const float *shift, int64_t C, float momentum, float eps)
{
    const double M = sums[2 * C];
    for (int64_t c = 0; c < C; c++) {
        double m1 = sums[c] / M;
        double var = sums[C + c] / M - m1 * m1;
        if (var < 0) var = 0;
        double mu = (double)shift[c] + m1;
        mean[c] = (float)mu;
        invstd[c] = (float)(1.0 / sqrt(var + eps));
        if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
        if (running_var)
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * var * M / (M > 1 ? M - 1 : 1));
    }
}

void gsg_cpu_bn_apply(float *y, const float *x, const float *mean, const float *invstd, const float *gamma,
                      const float *beta, int64_t M, int64_t C, int relu)
{
    float sc[256], sh[256];
    for (int64_t c0 = 0; c0 < C; c0 += 256) {
        const int64_t nc = C - c0 < 256 ? C - c0 : 256;
        for (int64_t c = 0; c < nc; c++) {
            sc[c] = (float)((gamma ? (double)gamma[c0 + c] : 1.0) * (double)invstd[c0 + c]);
            sh[c] = beta ? beta[c0 + c] : 0.0f;
        }
        #pragma omp parallel for schedule(static) if (M * C >= 65536)
        for (int64_t r = 0; r < M; r++) {
            const float *restrict xp = x + r * C + c0;
            const float *restrict mp = mean + c0;
            float *restrict yp = y + r * C + c0;
            #pragma omp simd
            for (int64_t c = 0; c < nc; c++) {
                float v = (xp[c] - mp[c]) * sc[c] + sh[c];
                yp[c] = relu && v < 0.0f ? 0.0f : v;   /* NaN propagates, as torch.relu */
            }
        }
    }
}

gsg_status gsg_cpu_bn_bwd_stats(double *sums, float *dgamma, float *dbeta, const float *dy, const float *relu_y,
                                const float *x, const float *mean, const float *invstd, int64_t M, int64_t C)
{
    const int64_t nch = n_chunks(M, C);
    double *part = workspace((size_t)(nch * 2 * C));
    if (!part) return gsg_err_set(GSG_E_NOMEM, "bn_bwd_stats: out of memory for a %lld-channel workspace", (long long)C);
    #pragma omp parallel for schedule(static) if (M * C >= 32768)
    for (int64_t u = 0; u < nch; u++) {
        double *restrict s1 = part + u * 2 * C, *restrict s2 = s1 + C;
        int64_t r0, r1;
        rows_of(M, u, nch, &r0, &r1);
        for (int64_t c = 0; c < C; c++) s1[c] = s2[c] = 0;
        for (int64_t r = r0; r < r1; r++) {
            const float *restrict xp = x + r * C, *restrict gp = dy + r * C;
            const float *restrict ry = relu_y ? relu_y + r * C : NULL;
            for (int64_t c = 0; c < C; c++) {
                double g = (!ry || ry[c] > 0.0f) ? (double)gp[c] : 0.0;
                s1[c] += g;
                s2[c] += g * ((double)xp[c] - (double)mean[c]);
            }
        }
    }
    fold(sums, part, nch, C);
    sums[2 * C] = (double)M;
    for (int64_t c = 0; c < C; c++) {
        if (dgamma) dgamma[c] += (float)((double)invstd[c] * sums[C + c]);
        if (dbeta) dbeta[c] += (float)sums[c];
    }
    return GSG_OK;
}

void gsg_cpu_bn_bwd_apply(float *dx, const float *dy, const float *relu_y, const float *x, const float *gamma,
                          const float *mean, const float *invstd, const double *sums, int64_t M, int64_t C)
{
    const double Mt = sums[2 * C];
    float P[256], Q[256], R[256];
    for (int64_t c0 = 0; c0 < C; c0 += 256) {
        const int64_t nc = C - c0 < 256 ? C - c0 : 256;
        for (int64_t c = 0; c < nc; c++) {
            double is = invstd[c0 + c], gm = gamma ? gamma[c0 + c] : 1.0;
            P[c] = (float)(gm * is);
            Q[c] = (float)(-gm * is * is * is * sums[C + c0 + c] / Mt);
            R[c] = (float)(-gm * is * sums[c0 + c] / Mt);
        }
        #pragma omp parallel for schedule(static) if (M * C >= 65536)
        for (int64_t r = 0; r < M; r++) {
            const float *restrict xp = x + r * C + c0, *restrict gp = dy + r * C + c0;
            const float *restrict ry = relu_y ? relu_y + r * C + c0 : NULL;
            const float *restrict mp = mean + c0;
            float *restrict dxp = dx + r * C + c0;
            for (int64_t c = 0; c < nc; c++) {
                float g = (!ry || ry[c] > 0.0f) ? gp[c] : 0.0f;
                dxp[c] = P[c] * g + Q[c] * (xp[c] - mp[c]) + R[c];
            }
        }
    }
}
