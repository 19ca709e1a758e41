/* ref_batchnorm.c: naive double-precision batch norm over [M,C] (tests only). Textbook formulas:
 * two-pass mean and variance, xhat = (x - mean) * invstd, and the standard backward
 * dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)). */
#include "ops/ref.h"
#include <math.h>

void gsg_ref_batchnorm_fwd(double *y, double *save_mean, double *save_invstd, const double *x, const double *gamma,
                           const double *beta, double *running_mean, double *running_var, int64_t M, int64_t C,
                           int training, double momentum, double eps)
{
    for (int64_t c = 0; c < C; c++) {
        double mean, var, is;
        if (training) {
            mean = 0;
            for (int64_t m = 0; m < M; m++) mean += x[m * C + c];
            mean /= (double)M;
            var = 0;
            for (int64_t m = 0; m < M; m++) var += (x[m * C + c] - mean) * (x[m * C + c] - mean);
            var /= (double)M;
            if (running_mean) running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean;
            if (running_var) running_var[c] = (1 - momentum) * running_var[c] + momentum * var * M / (double)(M - 1);
        } else {
            mean = running_mean[c];
            var = running_var[c];
        }
        is = 1.0 / sqrt(var + eps);
        if (save_mean) save_mean[c] = mean;
        if (save_invstd) save_invstd[c] = is;
        for (int64_t m = 0; m < M; m++)
            y[m * C + c] = (x[m * C + c] - mean) * is * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
    }
}

void gsg_ref_batchnorm_bwd(double *dx, double *dgamma, double *dbeta, const double *dy, const double *x,
                           const double *gamma, const double *save_mean, const double *save_invstd, int64_t M,
                           int64_t C)
{
    for (int64_t c = 0; c < C; c++) {
        double mdy = 0, mdyxh = 0, is = save_invstd[c], mu = save_mean[c], g = gamma ? gamma[c] : 1.0;
        for (int64_t m = 0; m < M; m++) {
            mdy += dy[m * C + c];
            mdyxh += dy[m * C + c] * (x[m * C + c] - mu) * is;
        }
        if (dgamma) dgamma[c] += mdyxh;
        if (dbeta) dbeta[c] += mdy;
        mdy /= (double)M;
        mdyxh /= (double)M;
        for (int64_t m = 0; m < M; m++) {
            double xh = (x[m * C + c] - mu) * is;
            dx[m * C + c] = g * is * (dy[m * C + c] - mdy - xh * mdyxh);
        }
    }
}
