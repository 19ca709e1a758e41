/* cosine.c: CPU row-wise cosine similarity and L2 normalisation (OpenMP over rows).
 * Norms are accumulated in double: D is up to a few thousand and the losses are compared to 1e-6. */
#include "cpu/cpu_ops.h"
#include <math.h>

#define PAR_MIN 16384

static inline void dots3(const float *restrict a, const float *restrict b, int64_t D, double *ab, double *aa,
                         double *bb)
{
    double s = 0, p = 0, q = 0;
    #pragma omp simd reduction(+ : s, p, q)
    for (int64_t i = 0; i < D; i++) {
        s += (double)a[i] * b[i];
        p += (double)a[i] * a[i];
        q += (double)b[i] * b[i];
    }
    *ab = s; *aa = p; *bb = q;
}

void gsg_cpu_cosine_fwd(float *out, const float *a, const float *b, int64_t N, int64_t D, float eps)
{
    #pragma omp parallel for schedule(static) if (N * D >= PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        double ab, aa, bb;
        dots3(a + n * D, b + n * D, D, &ab, &aa, &bb);
        double den = sqrt(aa) * sqrt(bb);
        out[n] = (float)(ab / (den > eps ? den : (double)eps));
    }
}

/* den = |a||b| > eps:  d out/da = b/den - out a/|a|^2 ;  clamped: d out/da = b/eps (den constant). */
void gsg_cpu_cosine_bwd(float *da, float *db, const float *dout, const float *a, const float *b, int64_t N, int64_t D,
                        float eps)
{
    #pragma omp parallel for schedule(static) if (N * D >= PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const float *restrict ap = a + n * D, *restrict bp = b + n * D;
        double ab, aa, bb;
        dots3(ap, bp, D, &ab, &aa, &bb);
        double na = sqrt(aa), nb = sqrt(bb), den = na * nb;
        double g = dout[n];
        float kb, ka_self, ka, kb_self;   /* da = kb*b - ka_self*a ; db = ka*a - kb_self*b */
        if (den > eps) {
            double cs = ab / den;
            kb = (float)(g / den);
            ka = kb;
            ka_self = (float)(g * cs / aa);
            kb_self = (float)(g * cs / bb);
        } else {
            kb = ka = (float)(g / eps);
            ka_self = kb_self = 0.0f;
        }
        if (da) {
            float *restrict dap = da + n * D;
            #pragma omp simd
            for (int64_t i = 0; i < D; i++) dap[i] = kb * bp[i] - ka_self * ap[i];
        }
        if (db) {
            float *restrict dbp = db + n * D;
            #pragma omp simd
            for (int64_t i = 0; i < D; i++) dbp[i] = ka * ap[i] - kb_self * bp[i];
        }
    }
}

void gsg_cpu_l2norm_fwd(float *y, const float *x, int64_t N, int64_t D, float eps)
{
    #pragma omp parallel for schedule(static) if (N * D >= PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const float *xp = x + n * D;
        float *yp = y + n * D;
        double s = 0;
        #pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < D; i++) s += (double)xp[i] * xp[i];
        double nrm = sqrt(s);
        float inv = (float)(1.0 / (nrm > eps ? nrm : (double)eps));
        #pragma omp simd
        for (int64_t i = 0; i < D; i++) yp[i] = xp[i] * inv;
    }
}

/* |x| > eps: dx = (dy - y <y,dy>) / |x| with y = x/|x| ;  clamped: dx = dy / eps. */
void gsg_cpu_l2norm_bwd(float *dx, const float *dy, const float *x, int64_t N, int64_t D, float eps)
{
    #pragma omp parallel for schedule(static) if (N * D >= PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        const float *xp = x + n * D, *dyp = dy + n * D;
        float *dxp = dx + n * D;
        double s = 0, p = 0;
        #pragma omp simd reduction(+ : s, p)
        for (int64_t i = 0; i < D; i++) { s += (double)xp[i] * xp[i]; p += (double)xp[i] * dyp[i]; }
        double nrm = sqrt(s);
        float k1, k2;   /* dx = k1*dy - k2*x */
        if (nrm > eps) { k1 = (float)(1.0 / nrm); k2 = (float)(p / (nrm * nrm * nrm)); }
        else { k1 = (float)(1.0 / eps); k2 = 0.0f; }
        #pragma omp simd
        for (int64_t i = 0; i < D; i++) dxp[i] = k1 * dyp[i] - k2 * xp[i];
    }
}
