/* optim.c: CPU kernels of the optimiser update and the EMA (elementwise, OpenMP static). */
#include "cpu/cpu_engine.h"

#define PAR_MIN 65536

void gsg_cpu_sgd(float *w, float *m, const float *g, int64_t n, float lr, float mom, float wd)
{
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float b = mom * m[i] + d;
        m[i] = b;
        w[i] = w[i] - lr * b;
    }
}

void gsg_cpu_ema(float *x, const float *src, int64_t n, float a, float b)
{
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t k = 0; k < n; k++) x[k] = x[k] * a + src[k] * b;
}
