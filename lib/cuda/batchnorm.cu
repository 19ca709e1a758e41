// batchnorm.cu: batch norm over [M,C] with C innermost (BN2d on NHWC, BN1d on [N,D]), training-mode
// statistics, apply, backward, BN+ReLU fused; the same arithmetic as lib/cpu/batchnorm.c:
//   forward  pass 1: per-channel shifted sums s1 = sum(x-K), s2 = sum((x-K)^2) in double, K = row 0;
//            finalize: mean, biased var (normalising), unbiased var (running stats), scale/shift;
//            pass 2: y = (x - mean) * scale + shift (+ ReLU).
//   backward pass 1: sum(g), sum(g (x - mean)) in double, g = dy (masked by relu_y > 0 when fused);
//            finalize: dgamma += invstd * s2, dbeta += s1, P Q R;  pass 2: dx = P g + Q (x - mean) + R.
// Pass 1 runs on a (channel tile of 32) x (row chunk) grid, 32x8 threads per block; each block writes
// one partial per channel and the finalize kernel adds the partials in chunk order. The chunk count is
// a function of (M, C) only (gsg_bn_chunks), so results are bit-identical run to run.
#include <math.h>
#include "cuda_internal.h"

#define TX 32
#define TY 8

// s1/s2 of chunk blockIdx.y for channels blockIdx.x*32 + tx. mode 0: x - K (forward; K = x row 0);
// mode 1: g and g (x - mu) (backward; mu = save_mean), g = dy masked by relu_y when given.
__global__ void k_bn_partials(double *part, const float *x, const float *dy, const float *relu_y, const float *mu,
                              int64_t M, int64_t C, int G)
{
    __shared__ double sh1[TY][TX], sh2[TY][TX];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t c = blockIdx.x * (int64_t)TX + tx;
    const int g = blockIdx.y;
    const int64_t r0 = M * g / G, r1 = M * (g + 1) / G;
    double s1 = 0, s2 = 0;
    if (c < C) {
        if (!dy) {
            const double K = x[c];
            for (int64_t r = r0 + ty; r < r1; r += TY) {
                double d = (double)x[r * C + c] - K;
                s1 += d;
                s2 += d * d;
            }
        } else {
            const double m = mu[c];
            for (int64_t r = r0 + ty; r < r1; r += TY) {
                int64_t i = r * C + c;
                float gv = (!relu_y || relu_y[i] > 0.0f) ? dy[i] : 0.0f;
                s1 += gv;
                s2 += (double)gv * ((double)x[i] - m);
            }
        }
    }
    sh1[ty][tx] = s1;
    sh2[ty][tx] = s2;
    __syncthreads();
    if (ty == 0 && c < C) {
        double a = 0, b = 0;
        for (int j = 0; j < TY; j++) { a += sh1[j][tx]; b += sh2[j][tx]; }
        part[(int64_t)g * 2 * C + c] = a;
        part[(int64_t)g * 2 * C + C + c] = b;
    }
}

static __device__ void sum_parts(const double *part, int G, int64_t C, int64_t c, double *a1, double *a2)
{
    double s1 = 0, s2 = 0;
    for (int g = 0; g < G; g++) { s1 += part[(int64_t)g * 2 * C + c]; s2 += part[(int64_t)g * 2 * C + C + c]; }
    *a1 = s1;
    *a2 = s2;
}

// Forward statistics. training: from the partials; else from the running stats. Writes mu/sc/sh
// (apply constants), save_mean/save_invstd, and updates the running stats (training).
__global__ void k_bn_fwd_finalize(float *mu, float *sc, float *shf, float *save_mean, float *save_invstd,
                                  const double *part, const float *x, const float *gamma, const float *beta,
                                  float *running_mean, float *running_var, int64_t M, int64_t C, int G,
                                  int training, float momentum, float eps)
{
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= C) return;
    double mean, is;
    if (training) {
        double a1, a2;
        sum_parts(part, G, C, c, &a1, &a2);
        double m1 = a1 / (double)M;
        double var = a2 / (double)M - m1 * m1;
        if (var < 0) var = 0;
        mean = (double)x[c] + m1;
        is = 1.0 / sqrt(var + eps);
        if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
        if (running_var)
            running_var[c] = (float)((1.0 - momentum) * running_var[c] +
                                     momentum * var * (double)M / (double)(M > 1 ? M - 1 : 1));
        mu[c] = (float)mean;
    } else {
        mean = running_mean[c];
        is = 1.0 / sqrt((double)running_var[c] + eps);
        mu[c] = running_mean[c];
    }
    // The scale from the float 1/sigma that save_invstd keeps, not the double: the split plan (SyncBN:
    // k_bn_consts from the all-reduced mean/invstd) and the backward start from that float, so the
    // fused and split forwards give the same bits (test_cuda_ops batchnorm_split_matches_fused).
    const float isf = (float)is;
    double gm = gamma ? gamma[c] : 1.0;
    sc[c] = (float)(gm * (double)isf);
    shf[c] = beta ? beta[c] : 0.0f;
    if (save_mean) save_mean[c] = training ? (float)mean : running_mean[c];
    if (save_invstd) save_invstd[c] = isf;
}

// Constants from given mean/invstd (the apply half of a split BN).
__global__ void k_bn_consts(float *mu, float *sc, float *shf, const float *mean, const float *invstd,
                            const float *gamma, const float *beta, int64_t C)
{
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= C) return;
    mu[c] = mean[c];
    sc[c] = (float)((gamma ? (double)gamma[c] : 1.0) * (double)invstd[c]);
    shf[c] = beta ? beta[c] : 0.0f;
}

__global__ void k_bnf_apply(float *y, const float *x, const float *mu, const float *sc, const float *shf, int64_t n,
                           int64_t C, int relu)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % C;
        float v = (x[i] - mu[c]) * sc[c] + shf[c];
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

__global__ void k_bn_bwd_finalize(float *P, float *Q, float *R, float *dgamma, float *dbeta, const double *part,
                                  const float *gamma, const float *save_invstd, int64_t M, int64_t C, int G)
{
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= C) return;
    double a1, a2;
    sum_parts(part, G, C, c, &a1, &a2);
    double is = save_invstd[c], gm = gamma ? gamma[c] : 1.0;
    if (dgamma) dgamma[c] += (float)(is * a2);
    if (dbeta) dbeta[c] += (float)a1;
    P[c] = (float)(gm * is);
    Q[c] = (float)(-gm * is * is * is * a2 / (double)M);
    R[c] = (float)(-gm * is * a1 / (double)M);
}

__global__ void k_bnf_bwd_apply(float *dx, const float *dy, const float *relu_y, const float *x, const float *mu,
                               const float *P, const float *Q, const float *R, int64_t n, int64_t C)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % C;
        float gv = (!relu_y || relu_y[i] > 0.0f) ? dy[i] : 0.0f;
        dx[i] = P[c] * gv + Q[c] * (x[i] - mu[c]) + R[c];
    }
}

// scratch: partials (2 G C doubles) then 4 float arrays of C
struct bn_scratch { double *part; float *a, *b, *c, *d; };
static gsg_status bn_scratch_get(int64_t C, int G, bn_scratch *s)
{
    size_t np = (size_t)2 * G * C * sizeof(double), nf = ((size_t)C * sizeof(float) + 255) & ~(size_t)255;
    void *p = NULL;
    const size_t npr = (np + 255) & ~(size_t)255;
    GSG_TRY(gsg_cuda_scratch(npr + 4 * nf, &p));
    s->part = (double *)p;
    char *f = (char *)p + npr;
    s->a = (float *)f;
    s->b = (float *)(f + nf);
    s->c = (float *)(f + 2 * nf);
    s->d = (float *)(f + 3 * nf);
    return GSG_OK;
}

static gsg_status partials(cudaStream_t st, double *part, const float *x, const float *dy, const float *relu_y,
                           const float *mu, int64_t M, int64_t C, int G)
{
    dim3 grid((unsigned)((C + TX - 1) / TX), (unsigned)G), block(TX, TY);
    k_bn_partials<<<grid, block, 0, st>>>(part, x, dy, relu_y, mu, M, C, G);
    GSG_LAUNCHED("k_bn_partials");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_batchnorm_fwd(float *y, float *save_mean, float *save_invstd, const float *x,
                                             const float *gamma, const float *beta, float *running_mean,
                                             float *running_var, int64_t M, int64_t C, int training, float momentum,
                                             float eps, int relu)
{
    if (M <= 0 || C <= 0) return GSG_OK;
    GSG_CTX(ctx);
    const int G = gsg_bn_chunks(M, C);
    bn_scratch s;
    GSG_TRY(bn_scratch_get(C, G + 1, &s));
    if (training) GSG_TRY(partials(ctx->stream, s.part, x, NULL, NULL, NULL, M, C, G));
    const unsigned cg = (unsigned)((C + 255) / 256);
    k_bn_fwd_finalize<<<cg, 256, 0, ctx->stream>>>(s.a, s.b, s.c, save_mean, save_invstd, s.part, x, gamma, beta,
                                                   running_mean, running_var, M, C, G, training, momentum, eps);
    GSG_LAUNCHED("k_bn_fwd_finalize");
    k_bnf_apply<<<gsg_grid(M * C, 256, 4), 256, 0, ctx->stream>>>(y, x, s.a, s.b, s.c, M * C, C, relu);
    GSG_LAUNCHED("k_bnf_apply");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_batchnorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy,
                                             const float *relu_y, const float *x, const float *gamma,
                                             const float *save_mean, const float *save_invstd, int64_t M, int64_t C)
{
    if (M <= 0 || C <= 0) return GSG_OK;
    GSG_CTX(ctx);
    const int G = gsg_bn_chunks(M, C);
    bn_scratch s;
    GSG_TRY(bn_scratch_get(C, G + 1, &s));
    GSG_TRY(partials(ctx->stream, s.part, x, dy, relu_y, save_mean, M, C, G));
    const unsigned cg = (unsigned)((C + 255) / 256);
    k_bn_bwd_finalize<<<cg, 256, 0, ctx->stream>>>(s.a, s.b, s.c, dgamma, dbeta, s.part, gamma, save_invstd, M, C, G);
    GSG_LAUNCHED("k_bn_bwd_finalize");
    k_bnf_bwd_apply<<<gsg_grid(M * C, 256, 4), 256, 0, ctx->stream>>>(dx, dy, relu_y, x, save_mean, s.a, s.b, s.c,
                                                                     M * C, C);
    GSG_LAUNCHED("k_bnf_bwd_apply");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_batchnorm_stats(float *mean, float *invstd, float *running_mean, float *running_var,
                                               const float *x, int64_t M, int64_t C, float momentum, float eps)
{
    if (M <= 0 || C <= 0) return GSG_OK;
    GSG_CTX(ctx);
    const int G = gsg_bn_chunks(M, C);
    bn_scratch s;
    GSG_TRY(bn_scratch_get(C, G + 1, &s));
    GSG_TRY(partials(ctx->stream, s.part, x, NULL, NULL, NULL, M, C, G));
    const unsigned cg = (unsigned)((C + 255) / 256);
    k_bn_fwd_finalize<<<cg, 256, 0, ctx->stream>>>(s.a, s.b, s.c, mean, invstd, s.part, x, NULL, NULL, running_mean,
                                                   running_var, M, C, G, 1, momentum, eps);
    GSG_LAUNCHED("k_bn_fwd_finalize");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_batchnorm_apply(float *y, const float *x, const float *mean, const float *invstd,
                                               const float *gamma, const float *beta, int64_t M, int64_t C, int relu)
{
    if (M <= 0 || C <= 0) return GSG_OK;
    GSG_CTX(ctx);
    bn_scratch s;
    GSG_TRY(bn_scratch_get(C, 1, &s));
    const unsigned cg = (unsigned)((C + 255) / 256);
    k_bn_consts<<<cg, 256, 0, ctx->stream>>>(s.a, s.b, s.c, mean, invstd, gamma, beta, C);
    GSG_LAUNCHED("k_bn_consts");
    k_bnf_apply<<<gsg_grid(M * C, 256, 4), 256, 0, ctx->stream>>>(y, x, s.a, s.b, s.c, M * C, C, relu);
    GSG_LAUNCHED("k_bnf_apply");
    return GSG_OK;
}
