/* gsg.c: Guided Stop-Gradient selection and the SimSiam/BYOL losses (see gsg.h). */
#include "gsg.h"
#include "../core/rng.h"
#include <math.h>
#include <string.h>

const struct gsg_case gsg_case_table[4] = {
    /* k=0 */ {GSG_VIEW_A1, GSG_VIEW_A2, GSG_VIEW_B1, GSG_VIEW_B2},
    /* k=1 */ {GSG_VIEW_A1, GSG_VIEW_A2, GSG_VIEW_B2, GSG_VIEW_B1},
    /* k=2 */ {GSG_VIEW_A2, GSG_VIEW_A1, GSG_VIEW_B1, GSG_VIEW_B2},
    /* k=3 */ {GSG_VIEW_A2, GSG_VIEW_A1, GSG_VIEW_B2, GSG_VIEW_B1},
};

const int gsg_dist_pair[4][2] = {
    {GSG_VIEW_A1, GSG_VIEW_B1}, {GSG_VIEW_A1, GSG_VIEW_B2}, {GSG_VIEW_A2, GSG_VIEW_B1}, {GSG_VIEW_A2, GSG_VIEW_B2},
};

const char *gsg_view_name(int v)
{
    static const char *names[4] = {"A1", "A2", "B1", "B2"};
    return (v >= 0 && v < 4) ? names[v] : "?";
}

int gsg_dist_parse(const char *s, enum gsg_dist *out)
{
    if (!strcmp(s, "euclidean")) *out = GSG_DIST_EUCLIDEAN;
    else if (!strcmp(s, "normalized")) *out = GSG_DIST_NORMALIZED;
    else if (!strcmp(s, "cosine")) *out = GSG_DIST_COSINE;
    else return -1;
    return 0;
}

const char *gsg_dist_name(enum gsg_dist d)
{
    switch (d) {
    case GSG_DIST_EUCLIDEAN: return "euclidean";
    case GSG_DIST_NORMALIZED: return "normalized";
    case GSG_DIST_COSINE: return "cosine";
    }
    return "?";
}

static double row_norm(const float *x, int64_t D)
{
    double s = 0;
    for (int64_t i = 0; i < D; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

/* One distance between rows x and y of D floats. */
static double row_dist(const float *x, const float *y, int64_t D, enum gsg_dist dist)
{
    double s = 0;
    switch (dist) {
    case GSG_DIST_EUCLIDEAN:
        for (int64_t i = 0; i < D; i++) { double e = (double)x[i] - y[i]; s += e * e; }
        return sqrt(s);
    case GSG_DIST_NORMALIZED: {
        double nx = fmax(row_norm(x, D), GSG_NORM_EPS), ny = fmax(row_norm(y, D), GSG_NORM_EPS);
        for (int64_t i = 0; i < D; i++) { double e = x[i] / nx - y[i] / ny; s += e * e; }
        return sqrt(s);
    }
    case GSG_DIST_COSINE: {
        double nx = row_norm(x, D), ny = row_norm(y, D);
        for (int64_t i = 0; i < D; i++) s += (double)x[i] * y[i];
        return 1.0 - s / fmax(nx * ny, GSG_COS_EPS);
    }
    }
    return NAN;
}

void gsg_distances(float *d, const float *const z[4], int64_t N, int64_t D, enum gsg_dist dist)
{
    #pragma omp parallel for schedule(static) if (N * D >= 65536)
    for (int64_t n = 0; n < N; n++)
        for (int j = 0; j < 4; j++)
            d[n * 4 + j] = (float)row_dist(z[gsg_dist_pair[j][0]] + n * D, z[gsg_dist_pair[j][1]] + n * D, D, dist);
}

void gsg_choose(int64_t *k, const float *d, int64_t N)
{
    for (int64_t n = 0; n < N; n++) {
        const float *r = d + n * 4;
        int best = -1;
        for (int j = 0; j < 4; j++) {
            if (isnan(r[j])) continue;
            if (best < 0 || r[j] < r[best]) best = j;   /* strict: first index wins ties */
        }
        k[n] = best < 0 ? 0 : best;
    }
}

void gsg_count_choices(int64_t counts[4], const int64_t *k, int64_t N)
{
    counts[0] = counts[1] = counts[2] = counts[3] = 0;
    for (int64_t n = 0; n < N; n++)
        if (k[n] >= 0 && k[n] < 4) counts[k[n]]++;
}

double gsg_cos_row(float *g, const float *a, const float *b, int64_t D, double scale)
{
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < D; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    double na = sqrt(aa), nb = sqrt(bb), prod = na * nb;
    double den = prod > GSG_COS_EPS ? prod : GSG_COS_EPS;
    double c = ab / den;
    if (g) {
        /* d/da [ab / (|a||b|)] = b / (|a||b|) - c a / |a|^2 ; clamped: b / eps */
        double gb = scale / den;
        double ga = (prod > GSG_COS_EPS && aa > 0) ? scale * c / aa : 0.0;
        for (int64_t i = 0; i < D; i++) g[i] = (float)(gb * b[i] - ga * a[i]);
    }
    return c;
}

/* One row of the GSG loss: writes dp rows (when dp) and returns loss[n]. */
static double gsg_row(float *const dp[4], const float *const p[4], const float *const t[4], int64_t kn,
                      int64_t n, int64_t D, double scale)
{
    const struct gsg_case *c = &gsg_case_table[kn & 3];
    float *ga = NULL, *gb = NULL;
    if (dp) {
        for (int v = 0; v < 4; v++)
            if (v != c->src_a && v != c->src_b) memset(dp[v] + n * D, 0, (size_t)D * sizeof(float));
        ga = dp[c->src_a] + n * D;
        gb = dp[c->src_b] + n * D;
    }
    double ca = gsg_cos_row(ga, p[c->src_a] + n * D, t[c->tgt_a] + n * D, D, scale);
    double cb = gsg_cos_row(gb, p[c->src_b] + n * D, t[c->tgt_b] + n * D, D, scale);
    return -(ca + cb) / 2;
}

double gsg_gsg_loss(float *loss_rows, float *const dp[4], const float *const p[4],
                    const float *const t[4], const int64_t *k, int64_t N, int64_t D)
{
    if (N <= 0) return 0.0;
    const double scale = -0.5 / (double)N;   /* dL/dcos for each of the two pairs of a row */
    double s = 0;
    if (loss_rows) {
        #pragma omp parallel for schedule(static) if (N * D >= 65536)
        for (int64_t n = 0; n < N; n++) loss_rows[n] = (float)gsg_row(dp, p, t, k[n], n, D, scale);
        /* the mean in a fixed order, independent of the thread count */
        for (int64_t n = 0; n < N; n++) s += loss_rows[n];
    } else {
        for (int64_t n = 0; n < N; n++) s += gsg_row(dp, p, t, k[n], n, D, scale);
    }
    return s / (double)N;
}

double gsg_select_and_loss(float *d, int64_t *k, float *loss_rows, float *const dp[4],
                           const float *const p[4], const float *const t[4], int64_t N, int64_t D,
                           enum gsg_dist dist)
{
    gsg_distances(d, t, N, D, dist);
    gsg_choose(k, d, N);
    return gsg_gsg_loss(loss_rows, dp, p, t, k, N, D);
}

double gsg_simsiam_loss(float *loss_rows, float *dp1, float *dp2, const float *p1, const float *p2,
                        const float *t1, const float *t2, int64_t N, int64_t D)
{
    if (N <= 0) return 0.0;
    const double scale = -0.5 / (double)N;
    double s = 0;
    for (int64_t n = 0; n < N; n++) {
        double c1 = gsg_cos_row(dp1 ? dp1 + n * D : NULL, p1 + n * D, t2 + n * D, D, scale);
        double c2 = gsg_cos_row(dp2 ? dp2 + n * D : NULL, p2 + n * D, t1 + n * D, D, scale);
        double l = -(c1 + c2) / 2;
        if (loss_rows) loss_rows[n] = (float)l;
        s += l;
    }
    return s / (double)N;
}

void gsg_pair_permutation(int64_t *perm, int64_t N, uint64_t seed, int64_t step, int64_t rank)
{
    struct gsg_rng r;
    gsg_rng_init(&r, seed, gsg_rng_stream(GSG_RNG_PERMUTE, (uint64_t)step, (uint64_t)rank, 0));
    gsg_rng_permutation(&r, perm, N);
}

void gsg_gather_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D)
{
    for (int64_t n = 0; n < N; n++) memcpy(dst + n * D, src + perm[n] * D, (size_t)D * sizeof(float));
}

void gsg_scatter_add_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D)
{
    for (int64_t n = 0; n < N; n++) {
        float *o = dst + perm[n] * D;
        const float *s = src + n * D;
        for (int64_t i = 0; i < D; i++) o[i] += s[i];
    }
}

void gsg_ema_update(float *xi, const float *theta, int64_t n, double m)
{
    const float a = (float)m, b = (float)(1.0 - m);
    #pragma omp parallel for schedule(static) if (n >= 262144)
    for (int64_t i = 0; i < n; i++) xi[i] = a * xi[i] + b * theta[i];
}

double gsg_ema_momentum(double base, int sched, int64_t step, int64_t total)
{
    if (!sched || total <= 0) return base;
    return 1.0 - (1.0 - base) * (cos(M_PI * (double)step / (double)total) + 1.0) / 2.0;
}

double gsg_cosine_lr(double base, int64_t step, int64_t total, int64_t warmup)
{
    if (warmup > 0 && step < warmup) return base * (double)(step + 1) / (double)warmup;
    int64_t span = total - warmup;
    if (span <= 0) return base;
    double x = (double)(step - warmup) / (double)span;
    if (x > 1) x = 1;
    return base * 0.5 * (1.0 + cos(M_PI * x));
}
