// linear.cu: y (N,Out) = x (N,In) w (Out,In)^T (+ b) through cuBLAS. Row-major arrays are column-major
// transposes, so (column-major names)  y^T = w^T' x^T :  gemm(T, N, Out, N, In, w, x) ;
// dx^T = w^T dy^T : gemm(N, N, In, N, Out, w, dy) ;  dw^T += x^T dy : gemm(N, T, In, Out, N, x, dy, beta 1).
// fp32: CUBLAS_COMPUTE_32F (no TF32). bf16: CUBLAS_COMPUTE_32F_FAST_16BF (fp32 storage, bf16 tensor-core
// products, fp32 accumulation: no conversion buffers).
#include "cuda_internal.h"

static cublasComputeType_t compute_type(void)
{
    return gsg_cuda_precision() == GSG_PREC_BF16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F;
}

static gsg_status gemm(struct gsg_cuda_ctx *c, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
                       int64_t k, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                       int64_t ldc)
{
    const float alpha = 1.0f;
    GSG_CUBLAS(c->fn.cublasGemmEx(c->blas, ta, tb, (int)m, (int)n, (int)k, &alpha, A, CUDA_R_32F, (int)lda, B,
                                  CUDA_R_32F, (int)ldb, &beta, C, CUDA_R_32F, (int)ldc, compute_type(),
                                  CUBLAS_GEMM_DEFAULT));
    return GSG_OK;
}

__global__ void k_bias_add(float *y, const float *b, int64_t N, int64_t Out)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N * Out; i += (int64_t)gridDim.x * blockDim.x)
        y[i] += b[i % Out];
}

// db[o] += sum_n dy[n,o]: one thread per column, rows in order, in double
__global__ void k_bias_grad(float *db, const float *dy, int64_t N, int64_t Out)
{
    int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (o >= Out) return;
    double s = 0;
    for (int64_t n = 0; n < N; n++) s += dy[n * Out + o];
    db[o] += (float)s;
}

extern "C" gsg_status gsg_cuda_linear_fwd(float *y, const float *x, const float *w, const float *b, int64_t N,
                                          int64_t In, int64_t Out)
{
    if (N <= 0) return GSG_OK;
    GSG_CTX(c);
    GSG_TRY(gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, Out, N, In, w, In, x, In, 0.0f, y, Out));
    if (b) {
        k_bias_add<<<gsg_grid(N * Out, 256, 4), 256, 0, c->stream>>>(y, b, N, Out);
        GSG_LAUNCHED("k_bias_add");
    }
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_linear_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                                          const float *w, int64_t N, int64_t In, int64_t Out)
{
    if (N <= 0) return GSG_OK;
    GSG_CTX(c);
    if (dx) GSG_TRY(gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, In, N, Out, w, In, dy, Out, 0.0f, dx, In));
    if (dw) GSG_TRY(gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, In, Out, N, x, In, dy, Out, 1.0f, dw, In));
    if (db) {
        k_bias_grad<<<(unsigned)((Out + 255) / 256), 256, 0, c->stream>>>(db, dy, N, Out);
        GSG_LAUNCHED("k_bias_grad");
    }
    return GSG_OK;
}
