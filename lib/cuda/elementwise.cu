// elementwise.cu: y = a + b, y += a, y = relu(a + b), y *= alpha (any aliasing allowed: each element
// is read before it is written by the same thread).
#include "cuda_internal.h"

#define GRID_STRIDE(i, n) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void k_add(float *y, const float *a, const float *b, int64_t n) { GRID_STRIDE(i, n) y[i] = a[i] + b[i]; }
__global__ void k_add_inplace(float *y, const float *a, int64_t n) { GRID_STRIDE(i, n) y[i] += a[i]; }
__global__ void k_add_relu(float *y, const float *a, const float *b, int64_t n)
{
    GRID_STRIDE(i, n) { float v = a[i] + b[i]; y[i] = v > 0.0f ? v : 0.0f; }
}
__global__ void k_scale(float *y, float alpha, int64_t n) { GRID_STRIDE(i, n) y[i] *= alpha; }

extern "C" gsg_status gsg_cuda_add(float *y, const float *a, const float *b, int64_t n)
{
    if (n <= 0) return GSG_OK;
    GSG_CTX(c);
    k_add<<<gsg_grid(n, 256, 4), 256, 0, c->stream>>>(y, a, b, n);
    GSG_LAUNCHED("k_add");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_add_inplace(float *y, const float *a, int64_t n)
{
    if (n <= 0) return GSG_OK;
    GSG_CTX(c);
    k_add_inplace<<<gsg_grid(n, 256, 4), 256, 0, c->stream>>>(y, a, n);
    GSG_LAUNCHED("k_add_inplace");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_add_relu(float *y, const float *a, const float *b, int64_t n)
{
    if (n <= 0) return GSG_OK;
    GSG_CTX(c);
    k_add_relu<<<gsg_grid(n, 256, 4), 256, 0, c->stream>>>(y, a, b, n);
    GSG_LAUNCHED("k_add_relu");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_scale(float *y, float alpha, int64_t n)
{
    if (n <= 0) return GSG_OK;
    GSG_CTX(c);
    k_scale<<<gsg_grid(n, 256, 4), 256, 0, c->stream>>>(y, alpha, n);
    GSG_LAUNCHED("k_scale");
    return GSG_OK;
}
