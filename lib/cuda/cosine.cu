// cosine.cu: row-wise cosine similarity and L2 normalisation, one warp per row, the three dot
// products accumulated in double (as lib/cpu/cosine.c) and reduced by a fixed shuffle tree.
#include <math.h>
#include "cuda_internal.h"

#define WARPS 8   // rows per block

__device__ __forceinline__ void dots3(const float *a, const float *b, int64_t D, int lane, double *ab, double *aa,
                                      double *bb)
{
    double s = 0, p = 0, q = 0;
    for (int64_t i = lane; i < D; i += 32) {
        double x = a[i], y = b[i];
        s += x * y;
        p += x * x;
        q += y * y;
    }
    *ab = gsg_warp_sum(s);
    *aa = gsg_warp_sum(p);
    *bb = gsg_warp_sum(q);
}

__global__ void k_cosine_fwd(float *out, const float *a, const float *b, int64_t N, int64_t D, float eps)
{
    int64_t n = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (n >= N) return;
    double ab, aa, bb;
    dots3(a + n * D, b + n * D, D, lane, &ab, &aa, &bb);
    double den = sqrt(aa) * sqrt(bb);
    if (lane == 0) out[n] = (float)(ab / (den > eps ? den : (double)eps));
}

__global__ void k_cosine_bwd(float *da, float *db, const float *dout, const float *a, const float *b, int64_t N,
                             int64_t D, float eps)
{
    int64_t n = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (n >= N) return;
    const float *ap = a + n * D, *bp = b + n * D;
    double ab, aa, bb;
    dots3(ap, bp, D, lane, &ab, &aa, &bb);
    double den = sqrt(aa) * sqrt(bb), g = dout[n];
    float kb, ka, ka_self, kb_self;   // da = kb*b - ka_self*a ; db = ka*a - kb_self*b
    if (den > eps) {
        double cs = ab / den;
        kb = ka = (float)(g / den);
        ka_self = (float)(g * cs / aa);
        kb_self = (float)(g * cs / bb);
    } else {
        kb = ka = (float)(g / eps);
        ka_self = kb_self = 0.0f;
    }
    for (int64_t i = lane; i < D; i += 32) {
        float x = ap[i], y = bp[i];
        if (da) da[n * D + i] = kb * y - ka_self * x;
        if (db) db[n * D + i] = ka * x - kb_self * y;
    }
}

__global__ void k_l2norm_fwd(float *y, const float *x, int64_t N, int64_t D, float eps)
{
    int64_t n = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (n >= N) return;
    const float *xp = x + n * D;
    double s = 0;
    for (int64_t i = lane; i < D; i += 32) s += (double)xp[i] * xp[i];
    s = gsg_warp_sum(s);
    double nrm = sqrt(s);
    float inv = (float)(1.0 / (nrm > eps ? nrm : (double)eps));
    for (int64_t i = lane; i < D; i += 32) y[n * D + i] = xp[i] * inv;
}

__global__ void k_l2norm_bwd(float *dx, const float *dy, const float *x, int64_t N, int64_t D, float eps)
{
    int64_t n = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (n >= N) return;
    const float *xp = x + n * D, *dyp = dy + n * D;
    double s = 0, p = 0;
    for (int64_t i = lane; i < D; i += 32) { s += (double)xp[i] * xp[i]; p += (double)xp[i] * dyp[i]; }
    s = gsg_warp_sum(s);
    p = gsg_warp_sum(p);
    double nrm = sqrt(s);
    float k1, k2;   // dx = k1*dy - k2*x
    if (nrm > eps) { k1 = (float)(1.0 / nrm); k2 = (float)(p / (nrm * nrm * nrm)); }
    else { k1 = (float)(1.0 / eps); k2 = 0.0f; }
    for (int64_t i = lane; i < D; i += 32) {
        float g = dyp[i], v = xp[i];   // dx may alias dy: read before write, same thread
        dx[n * D + i] = k1 * g - k2 * v;
    }
}

static unsigned rows_grid(int64_t N) { return (unsigned)((N + WARPS - 1) / WARPS); }

extern "C" gsg_status gsg_cuda_cosine_fwd(float *out, const float *a, const float *b, int64_t N, int64_t D, float eps)
{
    if (N <= 0) return GSG_OK;
    GSG_CTX(c);
    k_cosine_fwd<<<rows_grid(N), 32 * WARPS, 0, c->stream>>>(out, a, b, N, D, eps);
    GSG_LAUNCHED("k_cosine_fwd");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_cosine_bwd(float *da, float *db, const float *dout, const float *a, const float *b,
                                          int64_t N, int64_t D, float eps)
{
    if (N <= 0 || (!da && !db)) return GSG_OK;
    GSG_CTX(c);
    k_cosine_bwd<<<rows_grid(N), 32 * WARPS, 0, c->stream>>>(da, db, dout, a, b, N, D, eps);
    GSG_LAUNCHED("k_cosine_bwd");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_l2norm_fwd(float *y, const float *x, int64_t N, int64_t D, float eps)
{
    if (N <= 0) return GSG_OK;
    GSG_CTX(c);
    k_l2norm_fwd<<<rows_grid(N), 32 * WARPS, 0, c->stream>>>(y, x, N, D, eps);
    GSG_LAUNCHED("k_l2norm_fwd");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_l2norm_bwd(float *dx, const float *dy, const float *x, int64_t N, int64_t D, float eps)
{
    if (N <= 0) return GSG_OK;
    GSG_CTX(c);
    k_l2norm_bwd<<<rows_grid(N), 32 * WARPS, 0, c->stream>>>(dx, dy, x, N, D, eps);
    GSG_LAUNCHED("k_l2norm_bwd");
    return GSG_OK;
}
