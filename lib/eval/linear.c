/* linear.c: linear probe (softmax + SGD, or ridge least squares); see linear.h. */
#include "eval/linear.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/rng.h"
#include "tensor/tensor.h"

extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                   const int *ldb, int *info, size_t uplo_len);

struct gsg_probe_opts gsg_probe_opts_default(void)
{
    struct gsg_probe_opts o = { .solver = GSG_PROBE_SGD, .epochs = 100, .batch = 256, .lr = 0.1, .momentum = 0.9,
                                .weight_decay = 0.0, .ridge = 1e-3, .seed = 0, .classes = 0 };
    return o;
}

const char *gsg_probe_solver_name(enum gsg_probe_solver s)
{
    switch (s) {
    case GSG_PROBE_SGD: return "sgd";
    case GSG_PROBE_RIDGE: return "ridge";
    }
    return "?";
}

/* Rank-based top-1/top-5 of one row of logits (ties: lower class first). */
static int64_t rank_row(const float *z, int64_t K, int64_t label, int *in1, int *in5)
{
    int64_t best = 0;
    for (int64_t c = 1; c < K; c++) if (z[c] > z[best]) best = c;
    *in1 = label >= 0 && best == label;
    *in5 = 0;
    if (label >= 0) {
        int64_t ahead = 0;
        for (int64_t c = 0; c < K; c++) if (z[c] > z[label] || (z[c] == z[label] && c < label)) ahead++;
        *in5 = ahead < 5;
    }
    return best;
}

/* logits (N, K) = xs (N, D) W^T (K, D) + b (K) */
static void logits_of(float *z, const float *xs, int64_t N, int64_t D, const float *W, const float *b, int64_t K)
{
    for (int64_t n = 0; n < N; n++) memcpy(z + n * K, b, sizeof(float) * (size_t)K);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)K, (int)D, 1.0f, xs, (int)D, W, (int)D, 1.0f, z, (int)K);
}

static gsg_status fit_sgd(float *W, float *b, double *loss_out, const float *xs, const int64_t *y, int64_t N, int64_t D,
                          int64_t K, const struct gsg_probe_opts *o)
{
    int64_t B = o->batch < N ? o->batch : N;
    int64_t steps_per_epoch = (N + B - 1) / B, total = steps_per_epoch * o->epochs;
    float *xb = gsg_aligned_alloc(sizeof(float) * (size_t)(B * D));    /* (B, D) */
    float *z = gsg_aligned_alloc(sizeof(float) * (size_t)(B * K));     /* (B, K) logits, then dlogits */
    float *gW = gsg_aligned_alloc(sizeof(float) * (size_t)(K * D));
    float *mW = gsg_aligned_alloc(sizeof(float) * (size_t)(K * D));
    float *gb = calloc((size_t)K, sizeof(float)), *mb = calloc((size_t)K, sizeof(float));
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)N), *yb = malloc(sizeof(int64_t) * (size_t)B);
    gsg_status st = GSG_OK;
    if (!xb || !z || !gW || !mW || !gb || !mb || !perm || !yb) { st = gsg_err_set(GSG_E_NOMEM, "linear probe: out of memory"); goto out; }
    memset(mW, 0, sizeof(float) * (size_t)(K * D));
    int64_t t = 0;
    double loss_epoch = 0;
    for (int64_t ep = 0; ep < o->epochs; ep++) {
        struct gsg_rng rng;
        gsg_rng_init(&rng, o->seed, gsg_rng_stream(GSG_RNG_PROBE, (uint64_t)ep, 0, 0));
        gsg_rng_permutation(&rng, perm, N);
        loss_epoch = 0;
        for (int64_t s0 = 0; s0 < N; s0 += B, t++) {
            int64_t nb = N - s0 < B ? N - s0 : B;
            for (int64_t i = 0; i < nb; i++) {
                memcpy(xb + i * D, xs + perm[s0 + i] * D, sizeof(float) * (size_t)D);
                yb[i] = y[perm[s0 + i]];
            }
            logits_of(z, xb, nb, D, W, b, K);
            /* softmax cross-entropy; z becomes dL/dlogits = (softmax - onehot) / nb */
            for (int64_t i = 0; i < nb; i++) {
                float *r = z + i * K;
                float mx = r[0];
                for (int64_t c = 1; c < K; c++) if (r[c] > mx) mx = r[c];
                double se = 0;
                for (int64_t c = 0; c < K; c++) se += exp((double)r[c] - mx);
                loss_epoch += log(se) + mx - r[yb[i]];
                for (int64_t c = 0; c < K; c++) r[c] = (float)(exp((double)r[c] - mx) / se / (double)nb);
                r[yb[i]] -= 1.0f / (float)nb;
            }
            if (!isfinite(loss_epoch)) { st = gsg_err_set(GSG_E_NUMERIC, "linear probe: loss is not finite at epoch %lld (lower --lr)", (long long)ep); goto out; }
            /* gW (K, D) = z^T (K, nb) xb (nb, D) + wd W */
            memcpy(gW, W, sizeof(float) * (size_t)(K * D));
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)D, (int)nb, 1.0f, z, (int)K, xb, (int)D,
                        (float)o->weight_decay, gW, (int)D);
            for (int64_t c = 0; c < K; c++) { gb[c] = 0; for (int64_t i = 0; i < nb; i++) gb[c] += z[i * K + c]; }
            float lr = (float)(o->lr * 0.5 * (1.0 + cos(M_PI * (double)t / (double)total)));
            float mom = (float)o->momentum;
            for (int64_t i = 0; i < K * D; i++) { mW[i] = mom * mW[i] + gW[i]; W[i] -= lr * mW[i]; }
            for (int64_t c = 0; c < K; c++) { mb[c] = mom * mb[c] + gb[c]; b[c] -= lr * mb[c]; }
        }
    }
    *loss_out = loss_epoch / (double)N;
out:
    gsg_aligned_free(xb); gsg_aligned_free(z); gsg_aligned_free(gW); gsg_aligned_free(mW);
    free(gb); free(mb); free(perm); free(yb);
    return st;
}

static gsg_status fit_ridge(float *W, float *b, double *loss_out, const float *xs, const int64_t *y, int64_t N, int64_t D,
                            int64_t K, double lambda)
{
    if (D > 46000) return gsg_err_set(GSG_E_UNSUPPORTED, "linear probe: ridge solver needs D <= 46000, found %lld", (long long)D);
    double *A = calloc((size_t)(D * D), sizeof(double));   /* (D, D) X^T X + lambda N I */
    double *R = calloc((size_t)(D * K), sizeof(double));   /* (D, K) X^T (Y - ybar), column-major per class */
    double *ybar = calloc((size_t)K, sizeof(double));
    double *xd = malloc(sizeof(double) * (size_t)(1024 * D));
    gsg_status st = GSG_OK;
    if (!A || !R || !ybar || !xd) { st = gsg_err_set(GSG_E_NOMEM, "linear probe: out of memory"); goto out; }
    for (int64_t n = 0; n < N; n++) ybar[y[n]] += 1.0 / (double)N;
    for (int64_t n0 = 0; n0 < N; n0 += 1024) {
        int64_t nb = N - n0 < 1024 ? N - n0 : 1024;
        for (int64_t i = 0; i < nb * D; i++) xd[i] = xs[n0 * D + i];
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)D, (int)nb, 1.0, xd, (int)D, 1.0, A, (int)D);
        for (int64_t i = 0; i < nb; i++) {
            int64_t c = y[n0 + i];
            for (int64_t d = 0; d < D; d++) R[c * D + d] += xd[i * D + d];
        }
    }
    /* xs is centred, so X^T (Y - ybar) = X^T Y; b = ybar. */
    for (int64_t d = 0; d < D; d++) A[d * D + d] += lambda * (double)N;
    int n = (int)D, nrhs = (int)K, info = 0;
    dposv_("U", &n, &nrhs, A, &n, R, &n, &info, 1);
    if (info != 0) { st = gsg_err_set(GSG_E_NUMERIC, "linear probe: ridge system is singular (LAPACK info %d); raise --ridge", info); goto out; }
    for (int64_t c = 0; c < K; c++) {
        b[c] = (float)ybar[c];
        for (int64_t d = 0; d < D; d++) W[c * D + d] = (float)R[c * D + d];
    }
    /* mean squared error of the fit */
    double se = 0;
    for (int64_t i = 0; i < N; i++) {
        for (int64_t c = 0; c < K; c++) {
            double v = b[c];
            for (int64_t d = 0; d < D; d++) v += (double)W[c * D + d] * xs[i * D + d];
            v -= (c == y[i]);
            se += v * v;
        }
    }
    *loss_out = se / (double)N;
out:
    free(A); free(R); free(ybar); free(xd);
    return st;
}

gsg_status gsg_probe_fit_eval(struct gsg_probe_result *res, int64_t *pred,
                              const float *train, const int64_t *ytrain, int64_t Ntr,
                              const float *test, const int64_t *ytest, int64_t Nte,
                              int64_t D, const struct gsg_probe_opts *opts)
{
    struct gsg_probe_opts o = opts ? *opts : gsg_probe_opts_default();
    if (!train || !ytrain || (Nte > 0 && !test)) return gsg_err_set(GSG_E_USAGE, "linear probe: missing input");
    if (D < 1 || Ntr < 1 || Nte < 0) return gsg_err_set(GSG_E_SHAPE, "linear probe: %lld training rows of dimension %lld", (long long)Ntr, (long long)D);
    if (o.solver == GSG_PROBE_SGD && (o.epochs < 1 || o.batch < 1 || !(o.lr > 0) || o.momentum < 0 || o.momentum >= 1 || o.weight_decay < 0))
        return gsg_err_set(GSG_E_USAGE, "linear probe: bad SGD settings (epochs %lld, batch %lld, lr %g, momentum %g, wd %g)",
                           (long long)o.epochs, (long long)o.batch, o.lr, o.momentum, o.weight_decay);
    if (o.solver == GSG_PROBE_RIDGE && !(o.ridge > 0)) return gsg_err_set(GSG_E_USAGE, "linear probe: ridge %g, expected > 0", o.ridge);
    int64_t maxl = -1, Nl = 0;
    for (int64_t i = 0; i < Ntr; i++) { if (ytrain[i] >= 0) Nl++; if (ytrain[i] > maxl) maxl = ytrain[i]; }
    if (ytest) for (int64_t i = 0; i < Nte; i++) if (ytest[i] > maxl) maxl = ytest[i];
    if (Nl == 0) return gsg_err_set(GSG_E_FORMAT, "linear probe: no training row has a label");
    int64_t K = o.classes ? o.classes : maxl + 1;
    if (maxl >= K) return gsg_err_set(GSG_E_FORMAT, "linear probe: label %lld, expected < %lld classes", (long long)maxl, (long long)K);
    if (K > 100000) return gsg_err_set(GSG_E_FORMAT, "linear probe: %lld classes, expected at most 100000", (long long)K);
    for (int64_t i = 0; i < Ntr * D; i++) if (!isfinite(train[i])) return gsg_err_set(GSG_E_NUMERIC, "linear probe: training row %lld is not finite", (long long)(i / D));
    for (int64_t i = 0; i < Nte * D; i++) if (!isfinite(test[i])) return gsg_err_set(GSG_E_NUMERIC, "linear probe: test row %lld is not finite", (long long)(i / D));
    memset(res, 0, sizeof *res);
    res->classes = K;
    res->trained = Nl;

    float *xs = gsg_aligned_alloc(sizeof(float) * (size_t)(Nl * D));   /* (Nl, D) standardised */
    int64_t *y = malloc(sizeof(int64_t) * (size_t)Nl);
    double *mu = calloc((size_t)D, sizeof(double)), *sd = calloc((size_t)D, sizeof(double));
    float *W = gsg_aligned_alloc(sizeof(float) * (size_t)(K * D)), *b = calloc((size_t)K, sizeof(float));
    int64_t chunk = 1024;
    float *xt = gsg_aligned_alloc(sizeof(float) * (size_t)(chunk * D)), *z = gsg_aligned_alloc(sizeof(float) * (size_t)(chunk * K));
    gsg_status st = GSG_OK;
    if (!xs || !y || !mu || !sd || !W || !b || !xt || !z) { st = gsg_err_set(GSG_E_NOMEM, "linear probe: out of memory"); goto out; }
    for (int64_t i = 0, j = 0; i < Ntr; i++) {
        if (ytrain[i] < 0) continue;
        for (int64_t d = 0; d < D; d++) mu[d] += train[i * D + d];
        memcpy(xs + j * D, train + i * D, sizeof(float) * (size_t)D);
        y[j++] = ytrain[i];
    }
    for (int64_t d = 0; d < D; d++) mu[d] /= (double)Nl;
    for (int64_t j = 0; j < Nl; j++) for (int64_t d = 0; d < D; d++) { double v = xs[j * D + d] - mu[d]; sd[d] += v * v; }
    for (int64_t d = 0; d < D; d++) { sd[d] = sqrt(sd[d] / (double)Nl); sd[d] = sd[d] < 1e-6 ? 0.0 : 1.0 / sd[d]; }
    for (int64_t j = 0; j < Nl; j++) for (int64_t d = 0; d < D; d++) xs[j * D + d] = (float)((xs[j * D + d] - mu[d]) * sd[d]);
    memset(W, 0, sizeof(float) * (size_t)(K * D));
    if (o.solver == GSG_PROBE_RIDGE) st = fit_ridge(W, b, &res->train_loss, xs, y, Nl, D, K, o.ridge);
    else st = fit_sgd(W, b, &res->train_loss, xs, y, Nl, D, K, &o);
    if (st < 0) goto out;
    /* training accuracy */
    int64_t c1 = 0, c5 = 0, scored = 0;
    for (int64_t n0 = 0; n0 < Nl; n0 += chunk) {
        int64_t nb = Nl - n0 < chunk ? Nl - n0 : chunk;
        logits_of(z, xs + n0 * D, nb, D, W, b, K);
        for (int64_t i = 0; i < nb; i++) { int in1, in5; rank_row(z + i * K, K, y[n0 + i], &in1, &in5); c1 += in1; }
    }
    res->train_top1 = (double)c1 / (double)Nl;
    c1 = 0;
    for (int64_t n0 = 0; n0 < Nte; n0 += chunk) {
        int64_t nb = Nte - n0 < chunk ? Nte - n0 : chunk;
        for (int64_t i = 0; i < nb; i++)
            for (int64_t d = 0; d < D; d++) xt[i * D + d] = (float)((test[(n0 + i) * D + d] - mu[d]) * sd[d]);
        logits_of(z, xt, nb, D, W, b, K);
        for (int64_t i = 0; i < nb; i++) {
            int64_t label = ytest ? ytest[n0 + i] : -1;
            int in1, in5;
            int64_t best = rank_row(z + i * K, K, label, &in1, &in5);
            if (pred) pred[n0 + i] = best;
            if (label >= 0) { scored++; c1 += in1; c5 += in5; }
        }
    }
    res->scored = scored;
    res->top1 = scored ? (double)c1 / (double)scored : 0.0;
    res->top5 = scored ? (double)c5 / (double)scored : 0.0;
out:
    gsg_aligned_free(xs); free(y); free(mu); free(sd); gsg_aligned_free(W); free(b); gsg_aligned_free(xt); gsg_aligned_free(z);
    return st;
}
