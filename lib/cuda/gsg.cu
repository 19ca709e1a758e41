// gsg.cu: Guided Stop-Gradient on the device: the four distances per row, the choice k, the GSG loss
// and its gradient, SimSiam's symmetric loss, and the pair gather/scatter. The math of lib/ssl/gsg.c
// (rows in double, torch's eps rules); the case and pair tables are passed from lib/ssl's, so the two
// backends cannot drift. One warp per row; the mean over rows is one block summing in a fixed order.
#include <math.h>
#include "cuda_internal.h"
extern "C" {
#include "../ssl/gsg.h"
}

#define WARPS 8

struct tables { int cs[4][4]; int pair[4][2]; };
struct four_c { const float *v[4]; };
struct four_m { float *v[4]; };

static tables host_tables(void)
{
    tables t;
    for (int k = 0; k < 4; k++) {
        t.cs[k][0] = gsg_case_table[k].src_a;
        t.cs[k][1] = gsg_case_table[k].tgt_a;
        t.cs[k][2] = gsg_case_table[k].src_b;
        t.cs[k][3] = gsg_case_table[k].tgt_b;
        t.pair[k][0] = gsg_dist_pair[k][0];
        t.pair[k][1] = gsg_dist_pair[k][1];
    }
    return t;
}

__device__ double row_dot(const float *x, const float *y, int64_t D, int lane)
{
    double s = 0;
    for (int64_t i = lane; i < D; i += 32) s += (double)x[i] * y[i];
    return gsg_warp_sum(s);
}

__global__ void k_distances(float *d, four_c z, tables tb, int64_t N, int64_t D, int dist)
{
    int64_t n = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (n >= N) return;
    for (int j = 0; j < 4; j++) {
        const float *x = z.v[tb.pair[j][0]] + n * D, *y = z.v[tb.pair[j][1]] + n * D;
        double r;
        if (dist == GSG_DIST_EUCLIDEAN) {
            double s = 0;
            for (int64_t i = lane; i < D; i += 32) { double e = (double)x[i] - y[i]; s += e * e; }
            r = sqrt(gsg_warp_sum(s));
        } else if (dist == GSG_DIST_NORMALIZED) {
            double nx = fmax(sqrt(row_dot(x, x, D, lane)), GSG_NORM_EPS), ny = fmax(sqrt(row_dot(y, y, D, lane)), GSG_NORM_EPS);
            double s = 0;
            for (int64_t i = lane; i < D; i += 32) { double e = x[i] / nx - y[i] / ny; s += e * e; }
            r = sqrt(gsg_warp_sum(s));
        } else {
            double nx = sqrt(row_dot(x, x, D, lane)), ny = sqrt(row_dot(y, y, D, lane)), s = row_dot(x, y, D, lane);
            r = 1.0 - s / fmax(nx * ny, GSG_COS_EPS);
        }
        if (lane == 0) d[n * 4 + j] = (float)r;
    }
}

__global__ void k_choose(int64_t *k, const float *d, int64_t N)
{
    int64_t n = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (n >= N) return;
    const float *r = d + n * 4;
    int best = -1;
    for (int j = 0; j < 4; j++) {
        if (isnan(r[j])) continue;
        if (best < 0 || r[j] < r[best]) best = j;   // strict: the first index wins ties
    }
    k[n] = best < 0 ? 0 : best;
}

// cos(a, b) of one row (eps 1e-8); g (or NULL) = scale * d cos / d a, as gsg_cos_row
__device__ double cos_row(float *g, const float *a, const float *b, int64_t D, double scale, int lane)
{
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = lane; i < D; i += 32) {
        double x = a[i], y = b[i];
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab = gsg_warp_sum(ab);
    aa = gsg_warp_sum(aa);
    bb = gsg_warp_sum(bb);
    double prod = sqrt(aa) * sqrt(bb);
    double den = prod > GSG_COS_EPS ? prod : GSG_COS_EPS;
    double c = ab / den;
    if (g) {
        double gb = scale / den;
        double ga = (prod > GSG_COS_EPS && aa > 0) ? scale * c / aa : 0.0;
        for (int64_t i = lane; i < D; i += 32) g[i] = (float)(gb * b[i] - ga * a[i]);
    }
    return c;
}

__global__ void k_gsg_loss(float *rows, four_m dp, int want_dp, four_c p, four_c t, tables tb, const int64_t *k,
                           int64_t N, int64_t D, double scale)
{
    int64_t n = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (n >= N) return;
    const int *cs = tb.cs[k[n] & 3];   // src_a, tgt_a, src_b, tgt_b
    float *ga = NULL, *gb = NULL;
    if (want_dp) {
        for (int v = 0; v < 4; v++)
            if (v != cs[0] && v != cs[2])
                for (int64_t i = lane; i < D; i += 32) dp.v[v][n * D + i] = 0.0f;
        ga = dp.v[cs[0]] + n * D;
        gb = dp.v[cs[2]] + n * D;
    }
    double ca = cos_row(ga, p.v[cs[0]] + n * D, t.v[cs[1]] + n * D, D, scale, lane);
    double cb = cos_row(gb, p.v[cs[2]] + n * D, t.v[cs[3]] + n * D, D, scale, lane);
    if (lane == 0) rows[n] = (float)(-(ca + cb) / 2);
}

__global__ void k_simsiam_loss(float *rows, float *dp1, float *dp2, const float *p1, const float *p2, const float *t1,
                               const float *t2, int64_t N, int64_t D, double scale)
{
    int64_t n = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (n >= N) return;
    double c1 = cos_row(dp1 ? dp1 + n * D : NULL, p1 + n * D, t2 + n * D, D, scale, lane);
    double c2 = cos_row(dp2 ? dp2 + n * D : NULL, p2 + n * D, t1 + n * D, D, scale, lane);
    if (lane == 0) rows[n] = (float)(-(c1 + c2) / 2);
}

// out[0] = mean of rows[0..N): one block of 1024 threads, strided sums in double, a fixed tree
__global__ void k_mean(float *out, const float *rows, int64_t N)
{
    __shared__ double sh[1024];
    double s = 0;
    for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += rows[i];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = (float)(sh[0] / (double)N);
}

__global__ void k_gather_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N * D; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = src[perm[i / D] * D + i % D];
}

__global__ void k_scatter_add_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N * D; i += (int64_t)gridDim.x * blockDim.x)
        dst[perm[i / D] * D + i % D] += src[i];
}

static unsigned rows_grid(int64_t N) { return (unsigned)((N + WARPS - 1) / WARPS); }

extern "C" gsg_status gsg_cuda_gsg_distances(float *d, const float *const z[4], int64_t N, int64_t D, int dist)
{
    if (N <= 0) return GSG_OK;
    if (dist < GSG_DIST_EUCLIDEAN || dist > GSG_DIST_COSINE)
        return gsg_err_set(GSG_E_USAGE, "gsg distances: unknown distance %d", dist);
    GSG_CTX(c);
    four_c zz = {{z[0], z[1], z[2], z[3]}};
    k_distances<<<rows_grid(N), 32 * WARPS, 0, c->stream>>>(d, zz, host_tables(), N, D, dist);
    GSG_LAUNCHED("k_distances");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_gsg_choose(int64_t *k, const float *d, int64_t N)
{
    if (N <= 0) return GSG_OK;
    GSG_CTX(c);
    k_choose<<<(unsigned)((N + 255) / 256), 256, 0, c->stream>>>(k, d, N);
    GSG_LAUNCHED("k_choose");
    return GSG_OK;
}

static gsg_status rows_buffer(float **rows, int64_t N)
{
    if (*rows) return GSG_OK;
    void *p = NULL;
    GSG_TRY(gsg_cuda_scratch((size_t)N * sizeof(float), &p));
    *rows = (float *)p;
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_gsg_loss(float *loss_rows, float *loss, float *const dp[4], const float *const p[4],
                                        const float *const t[4], const int64_t *k, int64_t N, int64_t D)
{
    if (N <= 0) return GSG_OK;
    GSG_CTX(c);
    GSG_TRY(rows_buffer(&loss_rows, N));
    four_m g = {{dp ? dp[0] : NULL, dp ? dp[1] : NULL, dp ? dp[2] : NULL, dp ? dp[3] : NULL}};
    four_c pp = {{p[0], p[1], p[2], p[3]}}, tt = {{t[0], t[1], t[2], t[3]}};
    k_gsg_loss<<<rows_grid(N), 32 * WARPS, 0, c->stream>>>(loss_rows, g, dp != NULL, pp, tt, host_tables(), k, N, D,
                                                           -0.5 / (double)N);
    GSG_LAUNCHED("k_gsg_loss");
    if (loss) {
        k_mean<<<1, 1024, 0, c->stream>>>(loss, loss_rows, N);
        GSG_LAUNCHED("k_mean");
    }
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_simsiam_loss(float *loss_rows, float *loss, float *dp1, float *dp2, const float *p1,
                                            const float *p2, const float *t1, const float *t2, int64_t N, int64_t D)
{
    if (N <= 0) return GSG_OK;
    GSG_CTX(c);
    GSG_TRY(rows_buffer(&loss_rows, N));
    k_simsiam_loss<<<rows_grid(N), 32 * WARPS, 0, c->stream>>>(loss_rows, dp1, dp2, p1, p2, t1, t2, N, D,
                                                               -0.5 / (double)N);
    GSG_LAUNCHED("k_simsiam_loss");
    if (loss) {
        k_mean<<<1, 1024, 0, c->stream>>>(loss, loss_rows, N);
        GSG_LAUNCHED("k_mean");
    }
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_gather_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D)
{
    if (N * D <= 0) return GSG_OK;
    GSG_CTX(c);
    k_gather_rows<<<gsg_grid(N * D, 256, 4), 256, 0, c->stream>>>(dst, src, perm, N, D);
    GSG_LAUNCHED("k_gather_rows");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_scatter_add_rows(float *dst, const float *src, const int64_t *perm, int64_t N,
                                                int64_t D)
{
    if (N * D <= 0) return GSG_OK;
    GSG_CTX(c);
    k_scatter_add_rows<<<gsg_grid(N * D, 256, 4), 256, 0, c->stream>>>(dst, src, perm, N, D);
    GSG_LAUNCHED("k_scatter_add_rows");
    return GSG_OK;
}
