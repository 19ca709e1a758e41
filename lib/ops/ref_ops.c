/* ref_ops.c: naive double-precision references of relu, pools, linear, cosine, l2norm and the
 * image conversion (tests only; see ref.h). */
#include "ops/ref.h"
#include <math.h>

void gsg_ref_relu_fwd(double *y, const double *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0 : x[i];
}

void gsg_ref_relu_bwd(double *dx, const double *dy, const double *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
}

void gsg_ref_maxpool_fwd(double *y, int64_t *argmax, const double *x, int64_t N, int64_t H, int64_t W, int64_t C)
{
    int64_t Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ho = 0; ho < Ho; ho++)
            for (int64_t wo = 0; wo < Wo; wo++)
                for (int64_t c = 0; c < C; c++) {
                    double best = -INFINITY;
                    int64_t arg = -1;
                    for (int64_t kh = 0; kh < 3; kh++)
                        for (int64_t kw = 0; kw < 3; kw++) {
                            int64_t h = 2 * ho - 1 + kh, w = 2 * wo - 1 + kw;
                            if (h < 0 || h >= H || w < 0 || w >= W) continue;
                            int64_t i = ((n * H + h) * W + w) * C + c;
                            if (arg < 0 || x[i] > best || isnan(x[i])) { best = x[i]; arg = i; }
                        }
                    int64_t o = ((n * Ho + ho) * Wo + wo) * C + c;
                    y[o] = best;
                    argmax[o] = arg;
                }
}

void gsg_ref_maxpool_bwd(double *dx, const double *dy, const int64_t *argmax, int64_t N, int64_t H, int64_t W,
                         int64_t C)
{
    int64_t Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
    for (int64_t i = 0; i < N * H * W * C; i++) dx[i] = 0;
    for (int64_t o = 0; o < N * Ho * Wo * C; o++) dx[argmax[o]] += dy[o];
}

void gsg_ref_avgpool_fwd(double *y, const double *x, int64_t N, int64_t HW, int64_t C)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            double s = 0;
            for (int64_t p = 0; p < HW; p++) s += x[(n * HW + p) * C + c];
            y[n * C + c] = s / (double)HW;
        }
}

void gsg_ref_avgpool_bwd(double *dx, const double *dy, int64_t N, int64_t HW, int64_t C)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t p = 0; p < HW; p++)
            for (int64_t c = 0; c < C; c++) dx[(n * HW + p) * C + c] = dy[n * C + c] / (double)HW;
}

void gsg_ref_linear_fwd(double *y, const double *x, const double *w, const double *b, int64_t N, int64_t In,
                        int64_t Out)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < Out; o++) {
            double s = b ? b[o] : 0;
            for (int64_t i = 0; i < In; i++) s += x[n * In + i] * w[o * In + i];
            y[n * Out + o] = s;
        }
}

void gsg_ref_linear_bwd(double *dx, double *dw, double *db, const double *dy, const double *x, const double *w,
                        int64_t N, int64_t In, int64_t Out)
{
    if (dx)
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < In; i++) {
                double s = 0;
                for (int64_t o = 0; o < Out; o++) s += dy[n * Out + o] * w[o * In + i];
                dx[n * In + i] = s;
            }
    if (dw)
        for (int64_t o = 0; o < Out; o++)
            for (int64_t i = 0; i < In; i++) {
                double s = 0;
                for (int64_t n = 0; n < N; n++) s += dy[n * Out + o] * x[n * In + i];
                dw[o * In + i] += s;
            }
    if (db)
        for (int64_t o = 0; o < Out; o++) {
            double s = 0;
            for (int64_t n = 0; n < N; n++) s += dy[n * Out + o];
            db[o] += s;
        }
}

static double dot(const double *a, const double *b, int64_t D)
{
    double s = 0;
    for (int64_t i = 0; i < D; i++) s += a[i] * b[i];
    return s;
}

void gsg_ref_cosine_fwd(double *out, const double *a, const double *b, int64_t N, int64_t D, double eps)
{
    for (int64_t n = 0; n < N; n++) {
        const double *p = a + n * D, *q = b + n * D;
        double den = sqrt(dot(p, p, D)) * sqrt(dot(q, q, D));
        out[n] = dot(p, q, D) / fmax(den, eps);
    }
}

void gsg_ref_cosine_bwd(double *da, double *db, const double *dout, const double *a, const double *b, int64_t N,
                        int64_t D, double eps)
{
    for (int64_t n = 0; n < N; n++) {
        const double *p = a + n * D, *q = b + n * D;
        double pp = dot(p, p, D), qq = dot(q, q, D), pq = dot(p, q, D);
        double na = sqrt(pp), nb = sqrt(qq), den = na * nb;
        for (int64_t i = 0; i < D; i++) {
            double ga, gb;
            if (den > eps) {
                /* d/dp [pq / (|p||q|)] = q/(|p||q|) - pq p / (|p|^3 |q|) */
                ga = q[i] / den - pq * p[i] / (pp * den);
                gb = p[i] / den - pq * q[i] / (qq * den);
            } else {
                ga = q[i] / eps;
                gb = p[i] / eps;
            }
            if (da) da[n * D + i] = dout[n] * ga;
            if (db) db[n * D + i] = dout[n] * gb;
        }
    }
}

void gsg_ref_l2norm_fwd(double *y, const double *x, int64_t N, int64_t D, double eps)
{
    for (int64_t n = 0; n < N; n++) {
        double nrm = fmax(sqrt(dot(x + n * D, x + n * D, D)), eps);
        for (int64_t i = 0; i < D; i++) y[n * D + i] = x[n * D + i] / nrm;
    }
}

void gsg_ref_l2norm_bwd(double *dx, const double *dy, const double *x, int64_t N, int64_t D, double eps)
{
    for (int64_t n = 0; n < N; n++) {
        const double *p = x + n * D, *g = dy + n * D;
        double nrm = sqrt(dot(p, p, D));
        if (nrm > eps) {
            double pg = dot(p, g, D);
            for (int64_t i = 0; i < D; i++) dx[n * D + i] = g[i] / nrm - p[i] * pg / (nrm * nrm * nrm);
        } else {
            for (int64_t i = 0; i < D; i++) dx[n * D + i] = g[i] / eps;
        }
    }
}

void gsg_ref_image_to_f32(double *y, const uint8_t *x, const float *mean, const float *std, int64_t N, int64_t C,
                          int64_t H, int64_t W)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++)
                    y[((n * H + h) * W + w) * C + c] =
                        (x[((n * C + c) * H + h) * W + w] / 255.0 - (double)mean[c]) / (double)std[c];
}
