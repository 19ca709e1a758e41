/* ref_conv2d.c: the naive double-precision conv2d (see ref_conv2d.h). Seven loops, no tricks:
 * it is the oracle the fast kernels are compared against, so it stays obviously right. */
#include "ops/ref_conv2d.h"
#include <string.h>

void gsg_ref_conv2d_fwd(const struct gsg_conv2d_desc *d, double *y, const double *x, const double *w)
{
    int64_t Ho, Wo;
    gsg_conv2d_out_hw(d, &Ho, &Wo);
    const int64_t H = d->H, W = d->W, Ci = d->Ci, Co = d->Co, K = d->K, s = d->stride, p = d->pad;
    for (int64_t n = 0; n < d->N; n++)
        for (int64_t oh = 0; oh < Ho; oh++)
            for (int64_t ow = 0; ow < Wo; ow++)
                for (int64_t co = 0; co < Co; co++) {
                    double acc = 0;
                    for (int64_t ci = 0; ci < Ci; ci++)
                        for (int64_t kh = 0; kh < K; kh++) {
                            int64_t ih = oh * s - p + kh;
                            if (ih < 0 || ih >= H) continue;
                            for (int64_t kw = 0; kw < K; kw++) {
                                int64_t iw = ow * s - p + kw;
                                if (iw < 0 || iw >= W) continue;
                                acc += x[((n * H + ih) * W + iw) * Ci + ci] * w[((co * Ci + ci) * K + kh) * K + kw];
                            }
                        }
                    y[((n * Ho + oh) * Wo + ow) * Co + co] = acc;
                }
}

void gsg_ref_conv2d_bwd(const struct gsg_conv2d_desc *d, double *dx, double *dw, const double *dy,
                        const double *x, const double *w)
{
    int64_t Ho, Wo;
    gsg_conv2d_out_hw(d, &Ho, &Wo);
    const int64_t H = d->H, W = d->W, Ci = d->Ci, Co = d->Co, K = d->K, s = d->stride, p = d->pad;
    if (dx) memset(dx, 0, (size_t)(d->N * H * W * Ci) * sizeof *dx);
    for (int64_t n = 0; n < d->N; n++)
        for (int64_t oh = 0; oh < Ho; oh++)
            for (int64_t ow = 0; ow < Wo; ow++)
                for (int64_t co = 0; co < Co; co++) {
                    double g = dy[((n * Ho + oh) * Wo + ow) * Co + co];
                    for (int64_t ci = 0; ci < Ci; ci++)
                        for (int64_t kh = 0; kh < K; kh++) {
                            int64_t ih = oh * s - p + kh;
                            if (ih < 0 || ih >= H) continue;
                            for (int64_t kw = 0; kw < K; kw++) {
                                int64_t iw = ow * s - p + kw;
                                if (iw < 0 || iw >= W) continue;
                                int64_t xi = ((n * H + ih) * W + iw) * Ci + ci;
                                int64_t wi = ((co * Ci + ci) * K + kh) * K + kw;
                                if (dx) dx[xi] += g * w[wi];
                                if (dw) dw[wi] += g * x[xi];
                            }
                        }
                }
}
