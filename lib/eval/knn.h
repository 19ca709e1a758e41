/* knn.h: the weighted k-NN classifier used as the SSL monitor (InstDisc's vote,
 * as in the SimSiam/BYOL monitors).
 *
 * For every query q (L2-normalised) and every bank row b (L2-normalised):
 *   s = cos(q, b); keep the k most similar bank rows; each votes for its label with
 *   weight exp(s / T); class score = sum of its votes. Top-1 is correct when the
 *   best class is the query's label, top-5 when the label is among the 5 best.
 * Ties, defined so that results are exact and reproducible:
 *   - neighbours: higher similarity first; equal similarity -> lower bank index first;
 *   - classes: higher score first; equal score -> lower class index first (classes
 *     that got no vote rank after every voted class, by index).
 * k larger than the bank uses the whole bank (the result records the k used).
 * Queries with label < 0 are classified but not scored.
 *
 * Speed: the similarities are one blocked sgemm per (query block, bank block); each
 * query keeps a partial top-k (a min-heap) across bank blocks, and most candidates
 * are rejected by a vectorised test against the heap's root. Query blocks run in
 * parallel (OpenMP), each thread with its own single-threaded sgemm. Memory: a
 * normalised copy of the bank plus, per thread, one Qb x Bb block of similarities
 * and Qb heaps of k entries. */
#ifndef GSG_EVAL_KNN_H
#define GSG_EVAL_KNN_H
#include <stdint.h>
#include "core/status.h"

struct gsg_knn_opts {
    int64_t k;            /* neighbours (default 200) */
    double T;             /* temperature (default 0.1) */
    int64_t classes;      /* number of classes; 0 = max label + 1 over bank and queries */
    int64_t query_block;  /* rows of queries per sgemm (default 256) */
    int64_t bank_block;   /* rows of bank per sgemm (default 1024) */
};
struct gsg_knn_opts gsg_knn_opts_default(void);

struct gsg_knn_result {
    int64_t k_used;       /* min(k, bank size) */
    int64_t classes;
    int64_t scored;       /* queries with a known label */
    int64_t correct1, correct5;
    double top1, top5;    /* fractions of scored queries (0 when none) */
};

/* bank: (Nb, D) f32; bank_labels: (Nb) i64 in [0, classes), every one known;
 * query: (Nq, D) f32; query_labels: (Nq) i64, -1 = unknown (may be NULL: none scored);
 * pred: (Nq) i64 predicted class, or NULL. Inputs are not modified. */
gsg_status gsg_knn_eval(struct gsg_knn_result *res, int64_t *pred,
                        const float *bank, const int64_t *bank_labels, int64_t Nb,
                        const float *query, const int64_t *query_labels, int64_t Nq,
                        int64_t D, const struct gsg_knn_opts *opts);

/* Naive reference (one query at a time, full sort), for tests only. */
gsg_status gsg_knn_eval_ref(struct gsg_knn_result *res, int64_t *pred,
                            const float *bank, const int64_t *bank_labels, int64_t Nb,
                            const float *query, const int64_t *query_labels, int64_t Nq,
                            int64_t D, const struct gsg_knn_opts *opts);

/* Rows to unit length in place (eps 1e-12; zero rows stay zero). x: (N, D) f32. */
void gsg_eval_l2_normalize(float *x, int64_t N, int64_t D);

#endif
