/* rng.h: counter-based random numbers (Philox4x32-10 from Random123).
 * A draw is a pure function of (seed, stream, counter): the same seed gives the
 * same numbers whatever the thread count, and the same header compiles for CUDA
 * device code (every function is static inline and uses no globals).
 * Convention: seed = the user's --seed; stream = gsg_rng_stream(tag, a, b, c)
 * names what is drawn (e.g. tag GSG_RNG_AUGMENT with epoch, image index, view). */
#ifndef GSG_RNG_H
#define GSG_RNG_H
#include <stdint.h>
#include <math.h>
#include <Random123/philox.h>

#ifdef __CUDACC__
#define GSG_HD __host__ __device__
#else
#define GSG_HD
#endif

enum gsg_rng_tag {
    GSG_RNG_SHUFFLE = 1,    /* (epoch, 0, 0) */
    GSG_RNG_AUGMENT = 2,    /* (epoch, image index, view) */
    GSG_RNG_INIT = 3,       /* (parameter index, 0, 0) */
    GSG_RNG_PERMUTE = 4,    /* (step, rank, 0): GSG's pairing permutation */
    GSG_RNG_PROBE = 5,      /* linear probe / eval */
    GSG_RNG_TEST = 99,
};

struct gsg_rng {
    uint64_t seed;
    uint64_t stream;
    uint64_t counter;      /* next block of 4 words */
    uint32_t buf[4];
    int avail;             /* words left in buf */
};

/* One Philox4x32-10 block: counter = (ctr lo, ctr hi, stream lo, stream hi), key = seed. */
static inline GSG_HD void gsg_philox_block(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t ctr)
{
    philox4x32_ctr_t c = {{(uint32_t)ctr, (uint32_t)(ctr >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)}};
    philox4x32_key_t k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    philox4x32_ctr_t r = philox4x32_R(10, c, k);
    out[0] = r.v[0]; out[1] = r.v[1]; out[2] = r.v[2]; out[3] = r.v[3];
}

/* Mix a tag and three indices into a 64-bit stream id (splitmix64 finaliser chain). */
static inline GSG_HD uint64_t gsg_rng_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline GSG_HD uint64_t gsg_rng_stream(uint64_t tag, uint64_t a, uint64_t b, uint64_t c)
{
    return gsg_rng_mix(gsg_rng_mix(gsg_rng_mix(gsg_rng_mix(tag) ^ a) ^ b) ^ c);
}

static inline GSG_HD void gsg_rng_init(struct gsg_rng *r, uint64_t seed, uint64_t stream)
{
    r->seed = seed;
    r->stream = stream;
    r->counter = 0;
    r->avail = 0;
}

static inline GSG_HD uint32_t gsg_rng_u32(struct gsg_rng *r)
{
    if (r->avail == 0) {
        gsg_philox_block(r->buf, r->seed, r->stream, r->counter++);
        r->avail = 4;
    }
    return r->buf[4 - r->avail--];
}

static inline GSG_HD uint64_t gsg_rng_u64(struct gsg_rng *r)
{
    uint64_t hi = gsg_rng_u32(r);
    return (hi << 32) | gsg_rng_u32(r);
}

/* Uniform in [0,1) with 24 bits (float) or 53 bits (double). */
static inline GSG_HD float gsg_rng_uniform(struct gsg_rng *r)
{
    return (float)(gsg_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

static inline GSG_HD double gsg_rng_uniform_f64(struct gsg_rng *r)
{
    return (double)(gsg_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [lo, hi). */
static inline GSG_HD double gsg_rng_range(struct gsg_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * gsg_rng_uniform_f64(r);
}

/* Unbiased integer in [0, n) (Lemire's method with rejection). n >= 1. */
static inline GSG_HD uint32_t gsg_rng_below(struct gsg_rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)gsg_rng_u32(r) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)gsg_rng_u32(r) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* Standard normal (Box-Muller, one value per call, no cached state). */
static inline GSG_HD double gsg_rng_normal(struct gsg_rng *r)
{
    double u1 = gsg_rng_uniform_f64(r), u2 = gsg_rng_uniform_f64(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Fisher-Yates permutation of 0..n-1 into perm. */
static inline void gsg_rng_permutation(struct gsg_rng *r, int64_t *perm, int64_t n)
{
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)gsg_rng_below(r, (uint32_t)(i + 1));
        int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}

#endif
