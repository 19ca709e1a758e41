/* linear.c: CPU linear layer through OpenBLAS sgemm (row-major).
 *   forward  y[N,Out]  = x[N,In] w[Out,In]^T (+ b)       sgemm NT
 *   backward dx[N,In]  = dy[N,Out] w[Out,In]              sgemm NN, beta 0 (written)
 *            dw[Out,In] += dy^T[Out,N] x[N,In]            sgemm TN, beta 1 (accumulated)
 *            db[Out]    += column sums of dy */
#include "cpu/cpu_ops.h"
#include <cblas.h>
#include <omp.h>

void gsg_cpu_linear_fwd(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t In,
                        int64_t Out)
{
    float beta = 0.0f;
    if (b) {
        #pragma omp parallel for schedule(static) if (N * Out >= 65536)
        for (int64_t n = 0; n < N; n++) {
            float *restrict yp = y + n * Out;
            #pragma omp simd
            for (int64_t o = 0; o < Out; o++) yp[o] = b[o];
        }
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)Out, (int)In, 1.0f, x, (int)In, w, (int)In,
                beta, y, (int)Out);
}

void gsg_cpu_linear_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int64_t N,
                        int64_t In, int64_t Out)
{
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)In, (int)Out, 1.0f, dy, (int)Out, w,
                    (int)In, 0.0f, dx, (int)In);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Out, (int)In, (int)N, 1.0f, dy, (int)Out, x,
                    (int)In, 1.0f, dw, (int)In);
    if (db) {
        /* split the Out columns over threads: each owns a contiguous slice of db (no sharing) */
        #pragma omp parallel if (N * Out >= 65536)
        {
            int64_t nt = 1, t = 0;
#ifdef _OPENMP
            nt = omp_get_num_threads();
            t = omp_get_thread_num();
#endif
            int64_t per = ((Out + nt - 1) / nt + 15) & ~(int64_t)15;
            int64_t o0 = t * per, o1 = o0 + per > Out ? Out : o0 + per;
            for (int64_t n = 0; n < N && o0 < o1; n++) {
                const float *restrict dyp = dy + n * Out;
                #pragma omp simd
                for (int64_t o = o0; o < o1; o++) db[o] += dyp[o];
            }
        }
    }
}
