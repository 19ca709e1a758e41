// runtime.cu: device selection, memory and copies for the CUDA backend.
#include <cuda_runtime.h>
#include "gsg_cuda.h"

#define GSG_CUDA_CHECK(stmt) do { cudaError_t e_ = (stmt); if (e_ != cudaSuccess) { \
    int d_ = -1; cudaGetDevice(&d_); \
    return gsg_err_set(GSG_E_CUDA, "CUDA error '%s' in %s on device %d (%s:%d)", \
                       cudaGetErrorString(e_), #stmt, d_, __FILE__, __LINE__); } } while (0)

extern "C" int gsg_cuda_built(void) { return 1; }

extern "C" gsg_status gsg_cuda_init(int device)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return gsg_err_set(GSG_E_NO_CUDA, "no CUDA device available (%s)",
                           e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0");
    if (device < 0 || device >= n)
        return gsg_err_set(GSG_E_USAGE, "CUDA device %d out of range 0..%d", device, n - 1);
    GSG_CUDA_CHECK(cudaSetDevice(device));
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_malloc(void **p, size_t bytes)
{
    GSG_CUDA_CHECK(cudaMalloc(p, bytes ? bytes : 64));
    return GSG_OK;
}

extern "C" void gsg_cuda_free(void *p) { cudaFree(p); }

extern "C" gsg_status gsg_cuda_memset0(void *p, size_t bytes)
{
    GSG_CUDA_CHECK(cudaMemset(p, 0, bytes));
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_memcpy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes)
{
    cudaMemcpyKind k = dst_dev ? (src_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                               : (src_dev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    GSG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_sync(void)
{
    GSG_CUDA_CHECK(cudaDeviceSynchronize());
    return GSG_OK;
}
