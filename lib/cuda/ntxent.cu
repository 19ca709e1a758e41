// ntxent.cu: NT-Xent (ops.h), the twin of lib/cpu/ntxent.c. One cuBLAS GEMM forms the block's dot
// products with every row, work[k,j] = <u_{bR+k}, u_j> (R x M), always in fp32 (CUBLAS_COMPUTE_32F:
// the loss stays fp32 under --precision bf16); then one warp per anchor row takes the log-sum-exp over
// j != a in double (max and sum by a fixed shuffle tree). The backward forms the dot products again,
// replaces them in place by the coefficients
//   c[k,j] = (dloss_a p_aj + dloss_j p_ja - [j = pos(a)] (dloss_a + dloss_j)) / tau,  c[k,a] = 0,
// p_xy = exp(s_xy - lse_x), and du = c u by a second GEMM. Row-major arrays are column-major
// transposes (as linear.cu): work^T = u^T' u_b^T : gemm(T, N, M, R, D) ; du^T = u^T c^T : gemm(N, N, D, R, M).
#include <math.h>
#include "cuda_internal.h"

#define WARPS 8   // anchor rows per block

static gsg_status gemm32(struct gsg_cuda_ctx *c, cublasOperation_t ta, int64_t m, int64_t n, int64_t k, const float *A,
                         int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    const float alpha = 1.0f, beta = 0.0f;
    GSG_CUBLAS(c->fn.cublasGemmEx(c->blas, ta, CUBLAS_OP_N, (int)m, (int)n, (int)k, &alpha, A, CUDA_R_32F, (int)lda, B,
                                  CUDA_R_32F, (int)ldb, &beta, C, CUDA_R_32F, (int)ldc, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    return GSG_OK;
}

static gsg_status dots(struct gsg_cuda_ctx *c, float *work, const float *u, int64_t M, int64_t D, int64_t R,
                       int64_t block)
{
    return gemm32(c, CUBLAS_OP_T, M, R, D, u, D, u + block * R * D, D, work, M);
}

__device__ __forceinline__ int64_t positive(int64_t a, int64_t R)
{
    int64_t b = a / R, k = a % R;
    return b * R + (k + R / 2) % R;
}

__device__ __forceinline__ double warp_max(double v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__global__ void k_ntxent_fwd(float *loss, float *lse, const float *work, int64_t M, int64_t R, int64_t block, double inv)
{
    int64_t k = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (k >= R) return;
    const int64_t a = block * R + k;
    const float *row = work + k * M;
    double mx = -INFINITY, s = 0;
    for (int64_t j = lane; j < M; j += 32) {
        double v = row[j] * inv;
        if (j != a && v > mx) mx = v;
    }
    mx = warp_max(mx);
    for (int64_t j = lane; j < M; j += 32)
        if (j != a) s += exp(row[j] * inv - mx);
    s = gsg_warp_sum(s);
    if (lane == 0) {
        double l = mx + log(s);
        lse[k] = (float)l;
        loss[k] = (float)(l - row[positive(a, R)] * inv);
    }
}

__global__ void k_ntxent_coef(float *work, const float *dloss, const float *lse, int64_t M, int64_t R, int64_t block,
                              double inv)
{
    int64_t k = blockIdx.x * (int64_t)WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (k >= R) return;
    const int64_t a = block * R + k, p = positive(a, R);
    float *row = work + k * M;
    const double la = lse[a], ga = dloss[a];
    for (int64_t j = lane; j < M; j += 32) {
        double c = 0;
        if (j != a) {
            double s = row[j] * inv;
            c = ga * exp(s - la) + (double)dloss[j] * exp(s - (double)lse[j]);
            if (j == p) c -= ga + (double)dloss[j];
        }
        row[j] = (float)(c * inv);
    }
}

static unsigned rows_grid(int64_t R) { return (unsigned)((R + WARPS - 1) / WARPS); }

extern "C" gsg_status gsg_cuda_ntxent_fwd(float *loss, float *lse, float *work, const float *u, int64_t M, int64_t D,
                                          int64_t R, int64_t block, double tau)
{
    if (R <= 0) return GSG_OK;
    GSG_CTX(c);
    GSG_TRY(dots(c, work, u, M, D, R, block));
    k_ntxent_fwd<<<rows_grid(R), 32 * WARPS, 0, c->stream>>>(loss, lse, work, M, R, block, 1.0 / tau);
    GSG_LAUNCHED("k_ntxent_fwd");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_ntxent_bwd(float *du, float *work, const float *dloss, const float *u, const float *lse,
                                          int64_t M, int64_t D, int64_t R, int64_t block, double tau)
{
    if (R <= 0) return GSG_OK;
    GSG_CTX(c);
    GSG_TRY(dots(c, work, u, M, D, R, block));
    k_ntxent_coef<<<rows_grid(R), 32 * WARPS, 0, c->stream>>>(work, dloss, lse, M, R, block, 1.0 / tau);
    GSG_LAUNCHED("k_ntxent_coef");
    return gemm32(c, CUBLAS_OP_N, D, R, M, u, D, work, M, du, D);
}
