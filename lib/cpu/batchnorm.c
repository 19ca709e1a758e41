/* batchnorm.c: CPU batch norm over [M,C] with C innermost (BN2d on NHWC, BN1d on [N,D]).
 *
 * Two passes over memory in each direction:
 *   forward  pass 1: per-channel shifted sums  s1 = sum(x-K), s2 = sum((x-K)^2) in double
 *                    (K = the first row: no catastrophic cancellation in var = E[d^2] - E[d]^2);
 *            pass 2: y = (x - mean) * scale + beta  (+ ReLU when fused).
 *   backward pass 1: sum(dy), sum(dy * (x - mean)) in double;
 *            pass 2: dx = P dy + Q (x - mean) + R.
 * The reductions are cut into a fixed number of chunks of rows that depends on M and C only (never
 * on the thread count): each chunk sums its rows in order into its own partial arrays, the threads
 * share out whole chunks, and every channel then adds the chunk partials in chunk order. So the
 * statistics and gradients are the same bits for any number of threads, run after run. The
 * elementwise passes split rows statically over threads. Small C (16, 32, ...) would leave the inner loop short, so
 * k = 64/C consecutive rows are treated as one block of L = k*C contiguous lanes with per-lane
 * partials that are folded to C at the end: the inner loop is always >= 64 lanes long and contiguous.
 * The partials live in a grow-only workspace owned by the calling thread: no allocation per call
 * once the largest C has been seen. */
#include "cpu/cpu_ops.h"
#include "cpu/cpu_engine.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static __thread double *bn_ws;
static __thread size_t bn_ws_cap;   /* doubles */

static double *workspace(size_t n)
{
    if (n > bn_ws_cap) {
        free(bn_ws);
        bn_ws = NULL;
        bn_ws_cap = 0;
        if (posix_memalign((void **)&bn_ws, 64, n * sizeof(double))) return NULL;
        bn_ws_cap = n;
    }
    return bn_ws;
}

static int64_t pad8(int64_t n) { return (n + 7) & ~(int64_t)7; }

/* lanes per block: k rows of C channels, k*C >= 64 */
static int64_t block_rows(int64_t C) { return C >= 64 ? 1 : 64 / C; }

/* Chunks of the row groups: at most BN_CHUNKS, at least BN_CHUNK_MIN elements each, a function of
 * the shape alone. 32 chunks keep 32 threads busy; the extra partials cost 2*32*L doubles. */
#define BN_CHUNKS 32
#define BN_CHUNK_MIN 4096
static int64_t n_chunks(int64_t G, int64_t L)
{
    int64_t n = G * L / BN_CHUNK_MIN;
    if (n > BN_CHUNKS) n = BN_CHUNKS;
    if (n > G) n = G;
    return n < 1 ? 1 : n;
}

/* Channel c's two sums over every chunk's partials: part holds, per chunk u, 2*Lp doubles
 * (the first sums at [0, Lp), the second at [Lp, 2*Lp)), k rows of C channels each. The order
 * (chunk, then row) is fixed, so results depend on neither scheduling nor the thread count. */
static inline void sum_partials(const double *part, int64_t nch, int64_t k, int64_t Lp, int64_t C, int64_t c,
                                double *a1, double *a2)
{
    double s1 = 0, s2 = 0;
    for (int64_t u = 0; u < nch; u++)
        for (int64_t j = 0; j < k; j++) {
            s1 += part[(int64_t)u * 2 * Lp + j * C + c];
            s2 += part[(int64_t)u * 2 * Lp + Lp + j * C + c];
        }
    *a1 = s1;
    *a2 = s2;
}

static int pick_threads(int64_t M, int64_t C)
{
    if (M * C < 32768) return 1;
    int t = omp_get_max_threads();
    return t < 1 ? 1 : t;
}

/* Static split of G groups over nt parts: [*g0, *g1). */
static void split(int64_t G, int64_t t, int64_t nt, int64_t *g0, int64_t *g1)
{
    int64_t q = G / nt, r = G % nt;
    *g0 = t * q + (t < r ? t : r);
    *g1 = *g0 + q + (t < r ? 1 : 0);
}

/* pass 1 of the fused BN+ReLU backward: sums of the ReLU-masked dy. gcc will not if-convert a
 * float-mask select feeding double accumulators, so the mask is applied in f32 into a small
 * on-stack chunk first; both loops then vectorise. */
static void bwd_sums_masked(double *restrict sd, double *restrict sdx, const float *restrict dy,
                            const float *restrict ry, const float *restrict x, const double *restrict mu, int64_t L)
{
    float gm[256];
    for (int64_t i0 = 0; i0 < L; i0 += 256) {
        const int64_t n = L - i0 < 256 ? L - i0 : 256;
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) gm[i] = ry[i0 + i] > 0.0f ? dy[i0 + i] : 0.0f;
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            double gv = gm[i];
            sd[i0 + i] += gv;
            sdx[i0 + i] += gv * ((double)x[i0 + i] - mu[i0 + i]);
        }
    }
}

/* The reduction pass every BN kernel shares: chunks [u0, u1) of NCH over the G = M / k groups of
 * L = k*C lanes, each into its own 2*Lp partials (part + u*2*Lp), the rows after the last whole
 * group joining the last chunk. Forward (dy NULL): sum(x - K), sum((x - K)^2); backward: sum(g),
 * sum(g (x - K)) with g = dy, masked by relu_y > 0 when relu_y is given. Kext: K repeated k times. */
static void chunk_sums(double *part, int64_t u0, int64_t u1, int64_t NCH, const float *x, const float *dy,
                       const float *relu_y, const double *Kext, int64_t M, int64_t C, int64_t k, int64_t Lp)
{
    const int64_t L = k * C, G = M / k, tail0 = G * k;
    for (int64_t u = u0; u < u1; u++) {
        double *restrict s1 = part + u * 2 * Lp, *restrict s2 = s1 + Lp;
        int64_t c0, c1;
        split(G, u, NCH, &c0, &c1);
        for (int64_t i = 0; i < L; i++) s1[i] = s2[i] = 0;
        for (int64_t g = c0; g < c1; g++) {
            const float *restrict xp = x + g * L;
            if (!dy) {
                #pragma omp simd
                for (int64_t i = 0; i < L; i++) {
                    double d = (double)xp[i] - Kext[i];
                    s1[i] += d;
                    s2[i] += d * d;
                }
            } else if (relu_y) {
                bwd_sums_masked(s1, s2, dy + g * L, relu_y + g * L, xp, Kext, L);
            } else {
                const float *restrict dyp = dy + g * L;
                #pragma omp simd
                for (int64_t i = 0; i < L; i++) {
                    double gv = dyp[i];
                    s1[i] += gv;
                    s2[i] += gv * ((double)xp[i] - Kext[i]);
                }
            }
        }
        for (int64_t r = u == NCH - 1 ? tail0 : M; r < M; r++) {
            const float *restrict xp = x + r * C;
            const float *ry = relu_y ? relu_y + r * C : NULL;
            for (int64_t c = 0; c < C; c++) {
                double d = (double)xp[c] - Kext[c];
                if (!dy) {
                    s1[c] += d;
                    s2[c] += d * d;
                } else {
                    double gv = (!ry || ry[c] > 0.0f) ? (double)dy[r * C + c] : 0.0;
                    s1[c] += gv;
                    s2[c] += gv * d;
                }
            }
        }
    }
}

gsg_status gsg_cpu_bn_sums(double *sums, const float *x, const float *dy, const float *relu_y, const float *K,
                           int64_t M, int64_t C)
{
    const int64_t k = block_rows(C), L = k * C, Lp = pad8(L), G = M / k;
    const int T = pick_threads(M, C);
    const int64_t NCH = n_chunks(G, L);
    double *ws = workspace((size_t)(Lp + NCH * 2 * Lp));
    if (!ws) return gsg_err_set(GSG_E_NOMEM, "batchnorm: out of memory for a %lld-channel workspace", (long long)C);
    double *Kext = ws, *part = ws + Lp;
    for (int64_t j = 0; j < k; j++)
        for (int64_t c = 0; c < C; c++) Kext[j * C + c] = K[c];
    #pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t u0, u1;
        split(NCH, t, nt, &u0, &u1);
        chunk_sums(part, u0, u1, NCH, x, dy, relu_y, Kext, M, C, k, Lp);
        #pragma omp barrier
        #pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) sum_partials(part, NCH, k, Lp, C, c, &sums[c], &sums[C + c]);
    }
    return GSG_OK;
}

static gsg_status bn_fwd(float *y, float *save_mean, float *save_invstd, const float *x, const float *gamma,
                         const float *beta, float *running_mean, float *running_var, int64_t M, int64_t C,
                         int training, float momentum, float eps, int relu)
{
    const int64_t k = block_rows(C), L = k * C, Lp = pad8(L), G = M / k, tail0 = G * k;
    const int T = pick_threads(M, C);
    const int64_t NCH = n_chunks(G, L);
    /* layout: Kext[Lp] (double) | mu[Lp] sc[Lp] sh[Lp] (float, 2 doubles' worth each rounded) | partials */
    double *ws = workspace((size_t)(Lp + 2 * Lp + NCH * 2 * Lp));
    if (!ws) return gsg_err_set(GSG_E_NOMEM, "batchnorm: out of memory for a %lld-channel workspace", (long long)C);
    double *Kext = ws;
    float *mu = (float *)(ws + Lp), *sc = mu + Lp, *sh = sc + Lp;
    double *part = ws + 3 * Lp;

    if (!training) {
        for (int64_t c = 0; c < C; c++) {
            double is = 1.0 / sqrt((double)running_var[c] + eps);
            double g = gamma ? gamma[c] : 1.0;
            mu[c] = running_mean[c];
            sc[c] = (float)(g * is);
            sh[c] = beta ? beta[c] : 0.0f;
            if (save_mean) save_mean[c] = running_mean[c];
            if (save_invstd) save_invstd[c] = (float)is;
        }
    } else {
        for (int64_t c = 0; c < C; c++) Kext[c] = x[c];
    }
    for (int64_t j = 1; j < k; j++) {
        if (training) memcpy(Kext + j * C, Kext, (size_t)C * sizeof *Kext);
        else {
            memcpy(mu + j * C, mu, (size_t)C * sizeof *mu);
            memcpy(sc + j * C, sc, (size_t)C * sizeof *sc);
            memcpy(sh + j * C, sh, (size_t)C * sizeof *sh);
        }
    }

    #pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t g0, g1;
        split(G, t, nt, &g0, &g1);
        const int last = (t == nt - 1);
        if (training) {
            int64_t u0, u1;
            split(NCH, t, nt, &u0, &u1);
            chunk_sums(part, u0, u1, NCH, x, NULL, NULL, Kext, M, C, k, Lp);
            #pragma omp barrier
            #pragma omp for schedule(static)
            for (int64_t c = 0; c < C; c++) {
                double a1, a2;
                sum_partials(part, NCH, k, Lp, C, c, &a1, &a2);
                double m1 = a1 / (double)M;
                double var = a2 / (double)M - m1 * m1;
                if (var < 0) var = 0;
                double mean = Kext[c] + m1;
                double is = 1.0 / sqrt(var + eps);
                double gm = gamma ? gamma[c] : 1.0;
                mu[c] = (float)mean;
                sc[c] = (float)(gm * is);
                sh[c] = beta ? beta[c] : 0.0f;
                if (save_mean) save_mean[c] = (float)mean;
                if (save_invstd) save_invstd[c] = (float)is;
                if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
                if (running_var)
                    running_var[c] = (float)((1.0 - momentum) * running_var[c] +
                                             momentum * var * (double)M / (double)(M > 1 ? M - 1 : 1));
            }
            #pragma omp single
            {
                for (int64_t j = 1; j < k; j++) {
                    memcpy(mu + j * C, mu, (size_t)C * sizeof *mu);
                    memcpy(sc + j * C, sc, (size_t)C * sizeof *sc);
                    memcpy(sh + j * C, sh, (size_t)C * sizeof *sh);
                }
            }
        }
        /* pass 2 */
        for (int64_t g = g0; g < g1; g++) {
            const float *restrict xp = x + g * L;
            float *restrict yp = y + g * L;
            if (relu) {
                #pragma omp simd
                for (int64_t i = 0; i < L; i++) {
                    float v = (xp[i] - mu[i]) * sc[i] + sh[i];
                    yp[i] = v < 0.0f ? 0.0f : v;   /* NaN propagates, as torch.relu */
                }
            } else {
                #pragma omp simd
                for (int64_t i = 0; i < L; i++) yp[i] = (xp[i] - mu[i]) * sc[i] + sh[i];
            }
        }
        if (last)
            for (int64_t r = tail0; r < M; r++) {
                const float *restrict xp = x + r * C;
                float *restrict yp = y + r * C;
                #pragma omp simd
                for (int64_t c = 0; c < C; c++) {
                    float v = (xp[c] - mu[c]) * sc[c] + sh[c];
                    yp[c] = relu && v < 0.0f ? 0.0f : v;
                }
            }
    }
    return GSG_OK;
}

gsg_status gsg_cpu_batchnorm_fwd(float *y, float *save_mean, float *save_invstd, const float *x, const float *gamma,
                                 const float *beta, float *running_mean, float *running_var, int64_t M, int64_t C,
                                 int training, float momentum, float eps)
{
    return bn_fwd(y, save_mean, save_invstd, x, gamma, beta, running_mean, running_var, M, C, training, momentum,
                  eps, 0);
}

gsg_status gsg_cpu_batchnorm_relu_fwd(float *y, float *save_mean, float *save_invstd, const float *x,
                                      const float *gamma, const float *beta, float *running_mean,
                                      float *running_var, int64_t M, int64_t C, int training, float momentum,
                                      float eps)
{
    return bn_fwd(y, save_mean, save_invstd, x, gamma, beta, running_mean, running_var, M, C, training, momentum,
                  eps, 1);
}

gsg_status gsg_cpu_batchnorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy, const float *relu_y,
                                 const float *x, const float *gamma, const float *save_mean,
                                 const float *save_invstd, int64_t M, int64_t C)
{
    const int64_t k = block_rows(C), L = k * C, Lp = pad8(L), G = M / k, tail0 = G * k;
    const int T = pick_threads(M, C);
    const int64_t NCH = n_chunks(G, L);
    /* layout: muext[Lp] (double) | P Q R mu (float, Lp each = 2 doubles' worth) | partials */
    double *ws = workspace((size_t)(Lp + 2 * Lp + NCH * 2 * Lp));
    if (!ws) return gsg_err_set(GSG_E_NOMEM, "batchnorm: out of memory for a %lld-channel workspace", (long long)C);
    double *muext = ws;
    float *P = (float *)(ws + Lp), *Q = P + Lp, *R = Q + Lp, *mu = R + Lp;
    double *part = ws + 3 * Lp;
    for (int64_t j = 0; j < k; j++)
        for (int64_t c = 0; c < C; c++) {
            muext[j * C + c] = save_mean[c];
            mu[j * C + c] = save_mean[c];
        }

    #pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t g0, g1;
        split(G, t, nt, &g0, &g1);
        const int last = (t == nt - 1);
        int64_t u0, u1;
        split(NCH, t, nt, &u0, &u1);
        chunk_sums(part, u0, u1, NCH, x, dy, relu_y, muext, M, C, k, Lp);
        #pragma omp barrier
        #pragma omp for schedule(static)
        for (int64_t c = 0; c < C; c++) {
            double a1, a2;
            sum_partials(part, NCH, k, Lp, C, c, &a1, &a2);
            double is = save_invstd[c], gm = gamma ? gamma[c] : 1.0;
            if (dgamma) dgamma[c] += (float)(is * a2);
            if (dbeta) dbeta[c] += (float)a1;
            P[c] = (float)(gm * is);
            Q[c] = (float)(-gm * is * is * is * a2 / (double)M);
            R[c] = (float)(-gm * is * a1 / (double)M);
        }
        #pragma omp single
        {
            for (int64_t j = 1; j < k; j++) {
                memcpy(P + j * C, P, (size_t)C * sizeof *P);
                memcpy(Q + j * C, Q, (size_t)C * sizeof *Q);
                memcpy(R + j * C, R, (size_t)C * sizeof *R);
            }
        }
        for (int64_t g = g0; g < g1; g++) {
            const float *xp = x + g * L, *dyp = dy + g * L;
            float *dxp = dx + g * L;
            if (relu_y) {
                const float *restrict ry = relu_y + g * L;
                #pragma omp simd
                for (int64_t i = 0; i < L; i++) {
                    float gv = ry[i] > 0.0f ? dyp[i] : 0.0f;
                    dxp[i] = P[i] * gv + Q[i] * (xp[i] - mu[i]) + R[i];
                }
            } else {
                #pragma omp simd
                for (int64_t i = 0; i < L; i++) dxp[i] = P[i] * dyp[i] + Q[i] * (xp[i] - mu[i]) + R[i];
            }
        }
        if (last)
            for (int64_t r = tail0; r < M; r++) {
                const float *xp = x + r * C, *dyp = dy + r * C;
                const float *ry = relu_y ? relu_y + r * C : NULL;
                float *dxp = dx + r * C;
                for (int64_t c = 0; c < C; c++) {
                    float gv = (!ry || ry[c] > 0.0f) ? dyp[c] : 0.0f;
                    dxp[c] = P[c] * gv + Q[c] * (xp[c] - mu[c]) + R[c];
                }
            }
    }
    return GSG_OK;
}
