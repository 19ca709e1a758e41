/* relu.c: CPU ReLU forward and backward (elementwise, OpenMP static, vectorised). */
#include "cpu/cpu_ops.h"

#define PAR_MIN 65536   /* below this many elements one thread is faster than waking the team */

void gsg_cpu_relu_fwd(float *y, const float *x, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];   /* NaN propagates, as torch.relu */
}

void gsg_cpu_relu_bwd(float *dx, const float *dy, const float *y, int64_t n)
{
    #pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
