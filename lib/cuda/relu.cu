// relu.cu: y = max(x, 0) (y may alias x); dx = dy * (y > 0) (dx may alias dy).
#include "cuda_internal.h"

__global__ void k_relu_fwd(float *y, const float *x, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

__global__ void k_relu_bwd(float *dx, const float *dy, const float *y, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

extern "C" gsg_status gsg_cuda_relu_fwd(float *y, const float *x, int64_t n)
{
    if (n <= 0) return GSG_OK;
    GSG_CTX(c);
    k_relu_fwd<<<gsg_grid(n, 256, 4), 256, 0, c->stream>>>(y, x, n);
    GSG_LAUNCHED("k_relu_fwd");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_relu_bwd(float *dx, const float *dy, const float *y, int64_t n)
{
    if (n <= 0) return GSG_OK;
    GSG_CTX(c);
    k_relu_bwd<<<gsg_grid(n, 256, 4), 256, 0, c->stream>>>(dx, dy, y, n);
    GSG_LAUNCHED("k_relu_bwd");
    return GSG_OK;
}
