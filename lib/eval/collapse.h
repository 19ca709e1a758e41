/* collapse.h: representation-collapse metrics for SSL features and projections.
 *
 * - effective rank (Roy & Vetterli 2007): exp of the Shannon entropy of the
 *   normalised singular values p_k = s_k / sum s of an [N,D] matrix. Computed
 *   from the eigenvalues of the DxD covariance (D <= N) or of the NxN Gram
 *   (N < D), which share their non-zero spectrum; s_k = sqrt(lambda_k).
 *   1 means every row is the same direction; min(N,D) means a flat spectrum.
 * - per-dimension std of L2-normalised rows (SimSiam paper, fig. 2): about
 *   1/sqrt(D) when rows spread over the sphere, 0 under complete collapse.
 * - mean cosine similarity between matching rows of two [N,D] matrices.
 * - a verdict from these numbers (thresholds in struct gsg_collapse_limits).
 *
 * All inputs are host f32, row-major, contiguous. Functions return GSG_OK or
 * an error status with the error record filled (never abort on user data). */
#ifndef GSG_EVAL_COLLAPSE_H
#define GSG_EVAL_COLLAPSE_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

/* Effective rank of x. center=1 subtracts the column means first (the
 * covariance spectrum), center=0 uses the raw matrix (RankMe's variant).
 * A zero matrix (or a centred constant one) has no spectrum: *erank = 0.
 * x: (N, D) f32 contiguous. Needs N >= 1, D >= 1; O(min(N,D)^2) extra memory. */
gsg_status gsg_collapse_erank(double *erank, const float *x, int64_t N, int64_t D, int center);

/* Per-dimension standard deviation (population, divide by N) of the rows of x
 * after L2-normalising each row (eps 1e-12; zero rows stay zero).
 * std_out: (D) f32, may be NULL. *std_mean: mean over dimensions, may be NULL.
 * x: (N, D) f32 contiguous. */
gsg_status gsg_collapse_norm_std(float *std_out, double *std_mean, const float *x, int64_t N, int64_t D);

/* Mean over rows of cos(a[n], b[n]) (eps 1e-8 on each norm, as torch's cosine_similarity).
 * a, b: (N, D) f32 contiguous. */
gsg_status gsg_collapse_mean_cos(double *mean_cos, const float *a, const float *b, int64_t N, int64_t D);

enum gsg_collapse_verdict {
    GSG_COLLAPSE_OK = 0,          /* spread over many directions */
    GSG_COLLAPSE_DIMENSIONAL = 1, /* spread, but into few directions (low effective rank) */
    GSG_COLLAPSE_COMPLETE = 2,    /* (almost) one output for every input */
};

/* Thresholds for the verdict. Defaults (gsg_collapse_limits_default):
 *   complete     when std_ratio < 0.01 or erank < 1.5
 *   dimensional  when erank < 0.05 * min(N, D)    (otherwise ok)
 * where std_ratio = std_mean * sqrt(D) (about 1 for rows spread over the sphere).
 * std_ratio is low (0.05-0.1) for the all-positive backbone features of a random
 * ReLU network too, so the complete-collapse bar on it is set well below that. */
struct gsg_collapse_limits {
    double complete_std_ratio;
    double complete_erank;
    double dimensional_erank_frac;
};
struct gsg_collapse_limits gsg_collapse_limits_default(void);

/* Everything at once for one [N,D] matrix. */
struct gsg_collapse_report {
    int64_t N, D;
    double erank;        /* effective rank of the centred, L2-normalised rows */
    double erank_max;    /* min(N, D): the largest possible value */
    double std_mean;     /* mean per-dimension std of L2-normalised rows */
    double std_ratio;    /* std_mean * sqrt(D) */
    double std_min, std_max;
    enum gsg_collapse_verdict verdict;
};

/* Fill rep for x: (N, D) f32 contiguous. limits may be NULL (defaults). */
gsg_status gsg_collapse_measure(struct gsg_collapse_report *rep, const float *x, int64_t N, int64_t D,
                                const struct gsg_collapse_limits *limits);
/* The verdict for given numbers (used by gsg_collapse_measure). */
enum gsg_collapse_verdict gsg_collapse_judge(const struct gsg_collapse_report *rep,
                                             const struct gsg_collapse_limits *limits);
/* "ok", "dimensional-collapse", "collapsed" */
const char *gsg_collapse_verdict_name(enum gsg_collapse_verdict v);
/* One human line, e.g. "ok: effective rank 41.2 of 64, std*sqrt(D) 0.93" into buf. */
char *gsg_collapse_verdict_line(char *buf, size_t cap, const struct gsg_collapse_report *rep);

#endif
