/* linear.h: linear probe on frozen features.
 *
 * Features are standardised with the labelled training rows' per-dimension mean
 * and std (dims with std < 1e-6 become 0), then one of two solvers fits
 * logits = x W^T + b over K classes (K = max label + 1 over train and test):
 *  - GSG_PROBE_SGD: softmax cross-entropy, mini-batch SGD with momentum, weight
 *    decay on W, cosine learning rate per step (lr * 0.5 * (1 + cos(pi t / T))),
 *    batches from a fresh permutation each epoch drawn from the counter-based RNG
 *    (seed, GSG_RNG_PROBE, epoch): the same seed gives the same numbers.
 *  - GSG_PROBE_RIDGE: the exact least-squares classifier: W minimises
 *    |X W^T + b - Y|^2 + lambda * N * |W|^2 with one-hot Y, b unregularised,
 *    solved in double by Cholesky (LAPACK dposv).
 * Prediction is the arg-max logit (ties: the lower class), top-5 as in knn.h.
 * Rows with label < 0 are ignored (train) or not scored (test). */
#ifndef GSG_EVAL_LINEAR_H
#define GSG_EVAL_LINEAR_H
#include <stdint.h>
#include "core/status.h"

enum gsg_probe_solver { GSG_PROBE_SGD = 0, GSG_PROBE_RIDGE = 1 };

struct gsg_probe_opts {
    enum gsg_probe_solver solver;
    int64_t epochs;          /* SGD (default 100) */
    int64_t batch;           /* SGD (default 256) */
    double lr;               /* SGD base lr (default 0.1) */
    double momentum;         /* SGD (default 0.9) */
    double weight_decay;     /* SGD (default 0) */
    double ridge;            /* ridge lambda (default 1e-3) */
    uint64_t seed;           /* SGD shuffling and nothing else (default 0) */
    int64_t classes;         /* 0 = max label + 1 */
};
struct gsg_probe_opts gsg_probe_opts_default(void);
const char *gsg_probe_solver_name(enum gsg_probe_solver s);   /* "sgd", "ridge" */

struct gsg_probe_result {
    int64_t classes;
    int64_t trained;         /* labelled training rows used */
    int64_t scored;          /* labelled test rows */
    double train_top1;       /* accuracy on the training rows */
    double train_loss;       /* SGD: mean cross-entropy of the last epoch; ridge: mean squared error */
    double top1, top5;       /* on the test rows */
};

/* train: (Ntr, D) f32 with ytrain (Ntr) i64; test: (Nte, D) f32 with ytest (Nte) i64 or NULL;
 * pred: (Nte) i64 predicted class, or NULL. Inputs are not modified. */
gsg_status gsg_probe_fit_eval(struct gsg_probe_result *res, int64_t *pred,
                              const float *train, const int64_t *ytrain, int64_t Ntr,
                              const float *test, const int64_t *ytest, int64_t Nte,
                              int64_t D, const struct gsg_probe_opts *opts);

#endif
