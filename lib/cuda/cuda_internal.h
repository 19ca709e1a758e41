// cuda_internal.h: what the .cu files share (C++ only): the per-process context, the error-checking
// macros that name the failing call, file and line, the cuBLAS/cuDNN entry points loaded by dlopen,
// and small launch helpers.
#ifndef GSG_CUDA_INTERNAL_H
#define GSG_CUDA_INTERNAL_H
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cublas_v2.h>
#include <cudnn.h>
#include <stdint.h>
#include "gsg_cuda.h"
#include "cuda_host.h"

// The cuBLAS and cuDNN functions we call, resolved at gsg_cuda_init (never linked: see gsg_cuda.h).
#define GSG_CUBLAS_FNS(X) \
    X(cublasCreate_v2) X(cublasDestroy_v2) X(cublasSetStream_v2) X(cublasSetMathMode) \
    X(cublasSetWorkspace_v2) X(cublasGetStatusString) X(cublasGetVersion_v2)
#define GSG_CUDNN_FNS(X) \
    X(cudnnCreate) X(cudnnDestroy) X(cudnnSetStream) X(cudnnGetErrorString) X(cudnnGetVersion) \
    X(cudnnCreateTensorDescriptor) X(cudnnSetTensor4dDescriptor) X(cudnnDestroyTensorDescriptor) \
    X(cudnnCreateFilterDescriptor) X(cudnnSetFilter4dDescriptor) X(cudnnDestroyFilterDescriptor) \
    X(cudnnCreateConvolutionDescriptor) X(cudnnSetConvolution2dDescriptor) \
    X(cudnnSetConvolutionMathType) X(cudnnDestroyConvolutionDescriptor) \
    X(cudnnGetConvolutionForwardAlgorithm_v7) X(cudnnGetConvolutionBackwardDataAlgorithm_v7) \
    X(cudnnGetConvolutionBackwardFilterAlgorithm_v7) \
    X(cudnnFindConvolutionForwardAlgorithmEx) X(cudnnFindConvolutionBackwardDataAlgorithmEx) \
    X(cudnnFindConvolutionBackwardFilterAlgorithmEx) \
    X(cudnnGetConvolutionForwardWorkspaceSize) X(cudnnGetConvolutionBackwardDataWorkspaceSize) \
    X(cudnnGetConvolutionBackwardFilterWorkspaceSize) \
    X(cudnnConvolutionForward) X(cudnnConvolutionBackwardData) X(cudnnConvolutionBackwardFilter)

// cublasGemmEx is overloaded in C++ (a compatibility wrapper), so its pointer type is spelled out.
typedef cublasStatus_t (*gsg_cublasGemmEx_t)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                             const void *, const void *, cudaDataType, int, const void *,
                                             cudaDataType, int, const void *, void *, cudaDataType, int,
                                             cublasComputeType_t, cublasGemmAlgo_t);

struct gsg_cuda_libs {
#define GSG_X(f) decltype(&::f) f;
    GSG_CUBLAS_FNS(GSG_X)
    GSG_CUDNN_FNS(GSG_X)
#undef GSG_X
    gsg_cublasGemmEx_t cublasGemmEx;
};

struct gsg_cuda_ctx {
    int ready;
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    struct gsg_cuda_libs fn;
    int sm_count;
    void *workspace;        // shared by cuDNN plans and cuBLAS (one stream: one op at a time)
    size_t workspace_bytes;
    void *blas_ws;          // cuBLAS's own fixed workspace (no allocation inside graph capture)
    void *scratch;          // small reductions' partials (batch norm, losses)
    size_t scratch_bytes;
    char describe[768];
};

extern struct gsg_cuda_ctx gsg_cu;

extern "C" gsg_status gsg_cuda_ctx_get(struct gsg_cuda_ctx **ctx);   // initialises device 0 on first use
// Grow-only buffers. Growing synchronises the device (cudaFree); they are sized by plans and the
// first (eager) step, so later steps and graph replays never allocate.
gsg_status gsg_cuda_workspace(size_t bytes, void **p);
gsg_status gsg_cuda_scratch(size_t bytes, void **p);

gsg_status gsg_cuda_fail(cudaError_t e, const char *call, const char *file, int line);
gsg_status gsg_cublas_fail(cublasStatus_t e, const char *call, const char *file, int line);
gsg_status gsg_cudnn_fail(cudnnStatus_t e, const char *call, const char *file, int line);

#define GSG_CU(stmt) do { cudaError_t e_ = (stmt); \
    if (e_ != cudaSuccess) return gsg_cuda_fail(e_, #stmt, __FILE__, __LINE__); } while (0)
#define GSG_CUBLAS(stmt) do { cublasStatus_t e_ = (stmt); \
    if (e_ != CUBLAS_STATUS_SUCCESS) return gsg_cublas_fail(e_, #stmt, __FILE__, __LINE__); } while (0)
#define GSG_CUDNN(stmt) do { cudnnStatus_t e_ = (stmt); \
    if (e_ != CUDNN_STATUS_SUCCESS) return gsg_cudnn_fail(e_, #stmt, __FILE__, __LINE__); } while (0)
// After a kernel launch: launch-configuration errors only (no synchronisation).
#define GSG_LAUNCHED(name) do { cudaError_t e_ = cudaGetLastError(); \
    if (e_ != cudaSuccess) return gsg_cuda_fail(e_, "the launch of " name, __FILE__, __LINE__); } while (0)
#define GSG_CTX(c) struct gsg_cuda_ctx *c = NULL; GSG_TRY(gsg_cuda_ctx_get(&c))

static inline unsigned gsg_grid(int64_t n, int block, int per_thread = 1, int64_t max_blocks = 65535LL * 16)
{
    return (unsigned)gsg_cuda_blocks(n, block, per_thread, max_blocks);
}

// Double-precision warp and block sums (fixed order: a deterministic tree).
__device__ __forceinline__ double gsg_warp_sum(double v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

#endif
