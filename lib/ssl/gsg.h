/* gsg.h: Guided Stop-Gradient selection and the SimSiam/BYOL losses (docs/algorithm.md).
 *
 * Pure math on projection rows, host f32 buffers, no allocation. Every row is
 * computed independently in double precision with a fixed summation order, so
 * results do not depend on the thread count, and gsg-select re-derives exactly
 * the choices gsg-step made from the dumped projections.
 *
 * View order everywhere: 0 = A1, 1 = A2, 2 = B1, 3 = B2, where A1,A2 are two
 * views of image n and B1,B2 two views of image r[n] (r the pairing permutation).
 *
 *   d[n,4] = dist(tA1,tB1), dist(tA1,tB2), dist(tA2,tB1), dist(tA2,tB2)
 *   k[n]   = argmin d[n,:] (first index on ties)
 *   k=0: pA1->tA2, pB1->tB2   k=1: pA1->tA2, pB2->tB1
 *   k=2: pA2->tA1, pB1->tB2   k=3: pA2->tA1, pB2->tB1
 *   loss[n] = -(cos(src_a, tgt_a) + cos(src_b, tgt_b)) / 2,  L = mean_n loss[n]
 *
 * Cosine: <a,b> / max(|a||b|, 1e-8) (torch.nn.CosineSimilarity).
 */
#ifndef GSG_SSL_GSG_H
#define GSG_SSL_GSG_H
#include <stdint.h>
#include "../core/status.h"

enum gsg_view { GSG_VIEW_A1 = 0, GSG_VIEW_A2 = 1, GSG_VIEW_B1 = 2, GSG_VIEW_B2 = 3 };

#define GSG_COS_EPS 1e-8
#define GSG_NORM_EPS 1e-12

/* Distance used for the selection. The paper: Euclidean on raw projections. */
enum gsg_dist {
    GSG_DIST_EUCLIDEAN = 0,    /* |tX - tY| on raw z */
    GSG_DIST_NORMALIZED = 1,   /* |tX/|tX| - tY/|tY|| (eps 1e-12, F.normalize) */
    GSG_DIST_COSINE = 2,       /* 1 - cos(tX, tY) */
};
/* "euclidean" | "normalized" | "cosine" -> 0 and *out, -1 when unknown. */
int gsg_dist_parse(const char *s, enum gsg_dist *out);
const char *gsg_dist_name(enum gsg_dist d);

/* The four-case table: for choice k, pair a is (src_a -> tgt_a) in image n,
 * pair b is (src_b -> tgt_b) in image r[n]; values are enum gsg_view. */
struct gsg_case { int src_a, tgt_a, src_b, tgt_b; };
extern const struct gsg_case gsg_case_table[4];
/* The two views compared by distance column j (0..3): dist(view dx[j], view dy[j]). */
extern const int gsg_dist_pair[4][2];
/* "A1" .. "B2" */
const char *gsg_view_name(int v);

/* d: [N,4] (written). z[v]: [N,D] rows of view v (raw projections, detached). */
void gsg_distances(float *d, const float *const z[4], int64_t N, int64_t D, enum gsg_dist dist);
/* k: [N] (written) = argmin of each row of d [N,4]; first index on ties; a row with
 * a NaN distance picks the first non-NaN minimum (k=0 when all are NaN). */
void gsg_choose(int64_t *k, const float *d, int64_t N);
/* counts[4] (written): how many rows chose each k. */
void gsg_count_choices(int64_t counts[4], const int64_t *k, int64_t N);

/* The GSG loss for given choices. p[v]: [N,D] predictions (p[v] may equal t[v]
 * for the no-predictor ablation; t is never written), t[v]: [N,D] targets.
 * loss_rows [N] (written, may be NULL). dp[v] [N,D] (written for all four views:
 * zero in unselected rows) or dp == NULL for the loss only. Returns L (double). */
double gsg_gsg_loss(float *loss_rows, float *const dp[4], const float *const p[4],
                    const float *const t[4], const int64_t *k, int64_t N, int64_t D);

/* Everything for one step: distances on t, choices, loss and dp (all written;
 * d, k, loss_rows may be NULL except k is needed internally: pass a buffer). */
double gsg_select_and_loss(float *d, int64_t *k, float *loss_rows, float *const dp[4],
                           const float *const p[4], const float *const t[4], int64_t N, int64_t D,
                           enum gsg_dist dist);

/* SimSiam's symmetric loss: L = -(mean cos(p1, t2) + mean cos(p2, t1)) / 2.
 * dp1, dp2 [N,D] written (or NULL). loss_rows [N] (may be NULL): per-row value. */
double gsg_simsiam_loss(float *loss_rows, float *dp1, float *dp2, const float *p1, const float *p2,
                        const float *t1, const float *t2, int64_t N, int64_t D);

/* Row cosine of a and b (eps 1e-8); when g != NULL writes g = scale * d cos / d a. */
double gsg_cos_row(float *g, const float *a, const float *b, int64_t D, double scale);

/* The pairing permutation r of 0..N-1 for (seed, step, rank): Philox stream
 * gsg_rng_stream(GSG_RNG_PERMUTE, step, rank, 0), Fisher-Yates. Fixed points allowed. */
void gsg_pair_permutation(int64_t *perm, int64_t N, uint64_t seed, int64_t step, int64_t rank);

/* dst[n,:] = src[perm[n],:] for n < N (rows of D floats). */
void gsg_gather_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D);
/* dst[perm[n],:] += src[n,:] (the backward of gather). */
void gsg_scatter_add_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D);

/* BYOL target update, parameters only: xi <- m xi + (1 - m) theta (n floats). */
void gsg_ema_update(float *xi, const float *theta, int64_t n, double m);
/* EMA coefficient at step (0-based) of total steps: base when sched == 0 (the reference
 * code's constant), else BYOL's cosine schedule 1 - (1 - base)(cos(pi step/total) + 1)/2. */
double gsg_ema_momentum(double base, int sched, int64_t step, int64_t total);

/* Cosine learning-rate schedule with linear warmup, per step (0-based):
 * warmup steps ramp base*(s+1)/warm, then base * 0.5 (1 + cos(pi (s - warm)/(total - warm))). */
double gsg_cosine_lr(double base, int64_t step, int64_t total, int64_t warmup);

#endif
