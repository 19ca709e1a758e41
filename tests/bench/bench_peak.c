/* bench_peak.c: the fp32 FMA peak this build reaches: every OpenMP thread runs independent chains of
 * fused multiply-adds on the widest vectors the build targets (-march: AVX-512 zmm, else AVX2+FMA ymm,
 * else 4-lane SSE without FMA), enough chains to cover the FMA latency of two pipes, for about
 * --seconds. `make bench` reports each step's GFLOP/s as a share of this figure.
 *
 * usage: bench_peak [--seconds 1] [--chains 12]
 * Threads: OMP_NUM_THREADS. Prints one line and
 *   RESULT peak_gflops=X threads=T vector_bits=B chains=C seconds=S
 * Exit status: 0 ok, 2 usage error. */
#include "core/tool.h"
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHAINS 16

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define VBITS 512
#define ISA "avx512f"
#define FLOPS_PER_OP 2
static inline vec vset(float x) { return _mm512_set1_ps(x); }
static inline vec vfma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline float vsum(vec a) { return _mm512_reduce_add_ps(a); }
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define VBITS 256
#define ISA "avx2+fma"
#define FLOPS_PER_OP 2
static inline vec vset(float x) { return _mm256_set1_ps(x); }
static inline vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline float vsum(vec a)
{
    float t[8];
    _mm256_storeu_ps(t, a);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#else
typedef __m128 vec;   /* x86-64 baseline: multiply then add, still 2 flops per lane */
#define LANES 4
#define VBITS 128
#define ISA "sse (no fma)"
#define FLOPS_PER_OP 2
static inline vec vset(float x) { return _mm_set1_ps(x); }
static inline vec vfma(vec a, vec b, vec c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
static inline float vsum(vec a)
{
    float t[4];
    _mm_storeu_ps(t, a);
    return t[0] + t[1] + t[2] + t[3];
}
#endif

/* iters rounds of `chains` independent FMAs (acc = acc * m + c): chains is a compile-time constant in
 * each instantiation, so every accumulator stays in a register. Returns a sum the caller prints, so the
 * work cannot be dropped. */
#define KERNEL(NC) \
    static float kernel_##NC(int64_t iters, float seed) \
    { \
        vec acc[NC]; \
        const vec m = vset(0.999999f), c = vset(1e-7f); \
        for (int k = 0; k < NC; k++) acc[k] = vset(seed + (float)k); \
        for (int64_t i = 0; i < iters; i++) { \
            _Pragma("GCC unroll 16") \
            for (int k = 0; k < NC; k++) acc[k] = vfma(acc[k], m, c); \
        } \
        vec s = acc[0]; \
        for (int k = 1; k < NC; k++) s += acc[k];   /* GCC vector arithmetic */ \
        return vsum(s); \
    }

KERNEL(8)
KERNEL(10)
KERNEL(12)
KERNEL(16)

static float run(int chains, int64_t iters, float seed)
{
    switch (chains) {
    case 8: return kernel_8(iters, seed);
    case 10: return kernel_10(iters, seed);
    case 16: return kernel_16(iters, seed);
    default: return kernel_12(iters, seed);
    }
}

/* Seconds for every thread to run iters rounds (threads start together; the slowest one counts). */
static double timed(int chains, int64_t iters, float *sink)
{
    double t0 = 0, t1;
    float s = 0;
    #pragma omp parallel reduction(+ : s)
    {
        #pragma omp barrier
        #pragma omp master
        t0 = gsg_now();
        s += run(chains, iters, (float)omp_get_thread_num());
    }
    t1 = gsg_now();
    *sink += s;
    return t1 - t0;
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    int64_t chains = 12;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: bench_peak [--seconds 1] [--chains 8|10|12|16]\n"
                   "fp32 FMA GFLOP/s of this build at OMP_NUM_THREADS threads: independent FMA chains on the widest\n"
                   "vectors -march targets (this build: %s, %d-bit). Exit status: 0 ok, 2 usage error.\n", ISA, VBITS);
            return 0;
        }
        if (!v) { fprintf(stderr, "bench_peak: %s needs a value\nTry 'bench_peak --help'.\n", a); return 2; }
        if (!strcmp(a, "--seconds")) { if (gsg_parse_f64("--seconds", v, 0.01, 60, &seconds)) return 2; }
        else if (!strcmp(a, "--chains")) { if (gsg_parse_i64("--chains", v, 8, MAX_CHAINS, &chains)) return 2; }
        else { fprintf(stderr, "bench_peak: unknown option '%s'\nTry 'bench_peak --help'.\n", a); return 2; }
        i++;
    }
    if (chains != 8 && chains != 10 && chains != 12 && chains != 16) {
        fprintf(stderr, "bench_peak: --chains: %lld is not 8, 10, 12 or 16\nTry 'bench_peak --help'.\n", (long long)chains);
        return 2;
    }
    int nc = (int)chains, threads = omp_get_max_threads();
    float sink = 0;
    /* calibrate: double the rounds until a run takes a tenth of the budget (the first runs also warm
     * the clocks up), then measure three runs of the budget and keep the fastest */
    int64_t iters = 1 << 12;
    double t = timed(nc, iters, &sink);
    while (t < seconds / 10 && iters < ((int64_t)1 << 40)) {
        iters *= 2;
        t = timed(nc, iters, &sink);
    }
    iters = (int64_t)((double)iters * (seconds / 3) / (t > 1e-9 ? t : 1e-9)) + 1;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double tr = timed(nc, iters, &sink);
        if (tr < best) best = tr;
    }
    double flops = (double)threads * (double)iters * nc * LANES * FLOPS_PER_OP;
    double gf = flops / best / 1e9;
    printf("bench_peak: %.1f GFLOP/s fp32 (%s %d-bit, %d chains, %d threads, best of 3 runs of %.3f s; checksum %g)\n",
           gf, ISA, VBITS, nc, threads, best, (double)sink);
    printf("RESULT peak_gflops=%.2f threads=%d vector_bits=%d chains=%d seconds=%.3f\n", gf, threads, VBITS, nc, best);
    return 0;
}
