/* elementwise.c: CPU add, in-place add, scale, zero (OpenMP static, vectorised). */
#include "cpu/cpu_ops.h"
#include <string.h>

#define PAR_MIN 65536

void gsg_cpu_add(float *y, const float *a, const float *b, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void gsg_cpu_add_inplace(float *y, const float *a, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] += a[i];
}

void gsg_cpu_scale(float *y, float alpha, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] *= alpha;
}

void gsg_cpu_zero(void *y, size_t nbytes)
{
    const size_t chunk = (size_t)1 << 20;
    if (nbytes < 4 * chunk) { memset(y, 0, nbytes); return; }
    int64_t nchunks = (int64_t)((nbytes + chunk - 1) / chunk);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nchunks; i++) {
        size_t off = (size_t)i * chunk, len = nbytes - off < chunk ? nbytes - off : chunk;
        memset((char *)y + off, 0, len);
    }
}

void gsg_cpu_add_relu(float *y, const float *a, const float *b, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        y[i] = v < 0.0f ? 0.0f : v;
    }
}
