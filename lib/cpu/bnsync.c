/* bnsync.c: CPU kernels of batch norm in steps (statistics / all-reduce / apply, ops_engine.h),
 * the form synchronised BN across ranks needs. The sums are those of the fused kernels
 * (gsg_cpu_bn_sums, batchnorm.c: fixed row chunks, the same bits for any thread count); this file
 * adds what the split form needs around them. */
#include "cpu/cpu_engine.h"
#include <math.h>
#include <stdlib.h>

gsg_status gsg_cpu_bn_stats(double *sums, const float *x, const float *shift, int64_t M, int64_t C)
{
    GSG_TRY(gsg_cpu_bn_sums(sums, x, NULL, NULL, shift, M, C));
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
    GSG_TRY(gsg_cpu_bn_sums(sums, x, dy, relu_y, mean, M, C));
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
