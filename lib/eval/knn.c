/* knn.c: blocked weighted k-NN (see knn.h for the definition and tie rules). */
#include "eval/knn.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tensor/tensor.h"

struct gsg_knn_opts gsg_knn_opts_default(void)
{
    struct gsg_knn_opts o = { .k = 200, .T = 0.1, .classes = 0, .query_block = 256, .bank_block = 1024 };
    return o;
}

void gsg_eval_l2_normalize(float *x, int64_t N, int64_t D)
{
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        float *r = x + n * D;
        double s = 0;
        for (int64_t d = 0; d < D; d++) s += (double)r[d] * r[d];
        float inv = (float)(1.0 / fmax(sqrt(s), 1e-12));
        for (int64_t d = 0; d < D; d++) r[d] *= inv;
    }
}

/* (s, i) is worse than (t, j): lower similarity, or equal and higher index. */
static inline int worse(float s, int64_t i, float t, int64_t j)
{
    return s < t || (s == t && i > j);
}

/* Min-heap of the k best so far, worst at the root. */
static void heap_sift_down(float *hs, int64_t *hi, int64_t n, int64_t pos)
{
    for (;;) {
        int64_t l = 2 * pos + 1, r = l + 1, w = pos;
        if (l < n && worse(hs[l], hi[l], hs[w], hi[w])) w = l;
        if (r < n && worse(hs[r], hi[r], hs[w], hi[w])) w = r;
        if (w == pos) return;
        float ts = hs[w]; hs[w] = hs[pos]; hs[pos] = ts;
        int64_t ti = hi[w]; hi[w] = hi[pos]; hi[pos] = ti;
        pos = w;
    }
}

static void heap_push(float *hs, int64_t *hi, int64_t *n, float s, int64_t i)
{
    int64_t pos = (*n)++;
    hs[pos] = s;
    hi[pos] = i;
    while (pos > 0) {
        int64_t p = (pos - 1) / 2;
        if (!worse(hs[pos], hi[pos], hs[p], hi[p])) break;
        float ts = hs[p]; hs[p] = hs[pos]; hs[pos] = ts;
        int64_t ti = hi[p]; hi[p] = hi[pos]; hi[pos] = ti;
        pos = p;
    }
}

/* Vote: scores (C) from the neighbours; returns the predicted class and whether the
 * label is in the top 1 / top 5 (ranking by score desc, class asc). */
static int64_t vote(double *score, int64_t C, const float *ns, const int64_t *ni, int64_t nn,
                    const int64_t *bank_labels, double T, int64_t label, int *in1, int *in5)
{
    for (int64_t c = 0; c < C; c++) score[c] = 0;
    for (int64_t j = 0; j < nn; j++) score[bank_labels[ni[j]]] += exp((double)ns[j] / T);
    int64_t best = 0;
    for (int64_t c = 1; c < C; c++) if (score[c] > score[best]) best = c;
    *in1 = label >= 0 && best == label;
    *in5 = 0;
    if (label >= 0) {
        /* rank of label = number of classes strictly ahead of it */
        int64_t ahead = 0;
        for (int64_t c = 0; c < C; c++)
            if (score[c] > score[label] || (score[c] == score[label] && c < label)) ahead++;
        *in5 = ahead < 5;
    }
    return best;
}

static gsg_status check_inputs(struct gsg_knn_opts *o, const float *bank, const int64_t *bank_labels, int64_t Nb,
                               const float *query, const int64_t *query_labels, int64_t Nq, int64_t D)
{
    if (!bank || !bank_labels || !query) return gsg_err_set(GSG_E_USAGE, "k-NN: missing input");
    if (Nb < 1) return gsg_err_set(GSG_E_SHAPE, "k-NN: the bank is empty");
    if (Nq < 0 || D < 1) return gsg_err_set(GSG_E_SHAPE, "k-NN: %lld queries of dimension %lld", (long long)Nq, (long long)D);
    if (o->k < 1) return gsg_err_set(GSG_E_USAGE, "k-NN: k = %lld, expected >= 1", (long long)o->k);
    if (!(o->T > 0) || !isfinite(o->T)) return gsg_err_set(GSG_E_USAGE, "k-NN: temperature %g, expected > 0", o->T);
    if (o->query_block < 1) o->query_block = 256;
    if (o->bank_block < 1) o->bank_block = 1024;
    int64_t maxl = -1;
    for (int64_t i = 0; i < Nb; i++) {
        if (bank_labels[i] < 0)
            return gsg_err_set(GSG_E_FORMAT, "k-NN: bank row %lld has no label (%lld); the bank needs every label",
                               (long long)i, (long long)bank_labels[i]);
        if (bank_labels[i] > maxl) maxl = bank_labels[i];
    }
    if (query_labels)
        for (int64_t i = 0; i < Nq; i++) if (query_labels[i] > maxl) maxl = query_labels[i];
    if (o->classes == 0) o->classes = maxl + 1;
    if (maxl >= o->classes)
        return gsg_err_set(GSG_E_FORMAT, "k-NN: label %lld, expected < %lld classes", (long long)maxl, (long long)o->classes);
    if (o->classes > 1000000) return gsg_err_set(GSG_E_FORMAT, "k-NN: %lld classes, expected at most 1000000", (long long)o->classes);
    for (int64_t i = 0; i < Nb * D; i++)
        if (!isfinite(bank[i])) return gsg_err_set(GSG_E_NUMERIC, "k-NN: bank row %lld is not finite", (long long)(i / D));
    for (int64_t i = 0; i < Nq * D; i++)
        if (!isfinite(query[i])) return gsg_err_set(GSG_E_NUMERIC, "k-NN: query row %lld is not finite", (long long)(i / D));
    return GSG_OK;
}

static void finish(struct gsg_knn_result *res, int64_t scored, int64_t c1, int64_t c5)
{
    res->scored = scored;
    res->correct1 = c1;
    res->correct5 = c5;
    res->top1 = scored ? (double)c1 / (double)scored : 0.0;
    res->top5 = scored ? (double)c5 / (double)scored : 0.0;
}

/* Merge similarities s[0..nb) of bank rows b0.. into one query's heap (hs, hi, *n of K). */
static void merge_row(float *hs, int64_t *hi, int64_t *n, int64_t K, const float *s, int64_t nb, int64_t b0)
{
    int64_t j = 0;
    for (; j < nb && *n < K; j++) heap_push(hs, hi, n, s[j], b0 + j);
    /* Bank indices only grow, so an equal similarity never beats the root. Most
     * rows lose against the root: test 64 at a time (vectorised OR), then look closer. */
    float root = hs[0];
    while (j < nb) {
        int64_t e = j + 64 < nb ? j + 64 : nb;
        int any = 0;
        for (int64_t i = j; i < e; i++) any |= s[i] > root;
        if (any) {
            for (int64_t i = j; i < e; i++) {
                if (s[i] > root) {
                    hs[0] = s[i];
                    hi[0] = b0 + i;
                    heap_sift_down(hs, hi, K, 0);
                    root = hs[0];
                }
            }
        }
        j = e;
    }
}

gsg_status gsg_knn_eval(struct gsg_knn_result *res, int64_t *pred,
                        const float *bank, const int64_t *bank_labels, int64_t Nb,
                        const float *query, const int64_t *query_labels, int64_t Nq,
                        int64_t D, const struct gsg_knn_opts *opts)
{
    struct gsg_knn_opts o = opts ? *opts : gsg_knn_opts_default();
    GSG_TRY(check_inputs(&o, bank, bank_labels, Nb, query, query_labels, Nq, D));
    memset(res, 0, sizeof *res);
    int64_t K = o.k < Nb ? o.k : Nb, C = o.classes;
    res->k_used = K;
    res->classes = C;
    int64_t Qb = o.query_block < Nq ? o.query_block : (Nq > 0 ? Nq : 1);
    int64_t Bb = o.bank_block < Nb ? o.bank_block : Nb;
    int64_t scored = 0, c1 = 0, c5 = 0, nomem = 0;
    float *bn = gsg_aligned_alloc(sizeof(float) * (size_t)(Nb * D));
    if (!bn) return gsg_err_set(GSG_E_NOMEM, "k-NN: out of memory for the bank (%lld x %lld)", (long long)Nb, (long long)D);
    memcpy(bn, bank, sizeof(float) * (size_t)(Nb * D));
    gsg_eval_l2_normalize(bn, Nb, D);
    int64_t nblocks = (Nq + Qb - 1) / Qb;
    /* One parallel region: each thread takes whole query blocks and runs its own
     * (single-threaded, as OpenBLAS does inside a parallel region) sgemm over the
     * bank, so there is no barrier per bank block. */
#pragma omp parallel reduction(+ : scored, c1, c5, nomem)
    {
        float *qn = gsg_aligned_alloc(sizeof(float) * (size_t)(Qb * D));   /* (Qb, D) */
        float *sim = gsg_aligned_alloc(sizeof(float) * (size_t)(Qb * Bb)); /* (Qb, Bb) */
        float *hs = malloc(sizeof(float) * (size_t)(Qb * K));              /* (Qb, K) heaps */
        int64_t *hi = malloc(sizeof(int64_t) * (size_t)(Qb * K));
        int64_t *hn = malloc(sizeof(int64_t) * (size_t)Qb);
        double *score = malloc(sizeof(double) * (size_t)C);
        int ok = qn && sim && hs && hi && hn && score;
        if (!ok) nomem++;
        /* dynamic is safe for reproducibility: a block's similarities, heaps and votes are its own
         * (each sgemm is single-threaded here), and the counts are integer sums */
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < nblocks; blk++) {
            if (!ok) continue;
            int64_t q0 = blk * Qb, nq = Nq - q0 < Qb ? Nq - q0 : Qb;
            memcpy(qn, query + q0 * D, sizeof(float) * (size_t)(nq * D));
            for (int64_t q = 0; q < nq; q++) {
                float *r = qn + q * D;
                double ss = 0;
                for (int64_t d = 0; d < D; d++) ss += (double)r[d] * r[d];
                float inv = (float)(1.0 / fmax(sqrt(ss), 1e-12));
                for (int64_t d = 0; d < D; d++) r[d] *= inv;
                hn[q] = 0;
            }
            for (int64_t b0 = 0; b0 < Nb; b0 += Bb) {
                int64_t nb = Nb - b0 < Bb ? Nb - b0 : Bb;
                /* sim (nq, nb) = qn (nq, D) . bn[b0:b0+nb] (nb, D)^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb, (int)D, 1.0f, qn, (int)D,
                            bn + b0 * D, (int)D, 0.0f, sim, (int)nb);
                for (int64_t q = 0; q < nq; q++) merge_row(hs + q * K, hi + q * K, &hn[q], K, sim + q * nb, nb, b0);
            }
            for (int64_t q = 0; q < nq; q++) {
                int64_t label = query_labels ? query_labels[q0 + q] : -1;
                int in1, in5;
                int64_t best = vote(score, C, hs + q * K, hi + q * K, hn[q], bank_labels, o.T, label, &in1, &in5);
                if (pred) pred[q0 + q] = best;
                if (label >= 0) { scored++; c1 += in1; c5 += in5; }
            }
        }
        gsg_aligned_free(qn);
        gsg_aligned_free(sim);
        free(hs);
        free(hi);
        free(hn);
        free(score);
    }
    gsg_aligned_free(bn);
    if (nomem) return gsg_err_set(GSG_E_NOMEM, "k-NN: out of memory for the similarity blocks");
    finish(res, scored, c1, c5);
    return GSG_OK;
}

/* ---- naive reference ---- */
struct ref_pair { double s; int64_t i; };
static int ref_cmp(const void *a, const void *b)
{
    const struct ref_pair *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

gsg_status gsg_knn_eval_ref(struct gsg_knn_result *res, int64_t *pred,
                            const float *bank, const int64_t *bank_labels, int64_t Nb,
                            const float *query, const int64_t *query_labels, int64_t Nq,
                            int64_t D, const struct gsg_knn_opts *opts)
{
    struct gsg_knn_opts o = opts ? *opts : gsg_knn_opts_default();
    GSG_TRY(check_inputs(&o, bank, bank_labels, Nb, query, query_labels, Nq, D));
    memset(res, 0, sizeof *res);
    int64_t K = o.k < Nb ? o.k : Nb, C = o.classes;
    res->k_used = K;
    res->classes = C;
    struct ref_pair *all = malloc(sizeof *all * (size_t)Nb);
    double *score = malloc(sizeof(double) * (size_t)C);
    float *ns = malloc(sizeof(float) * (size_t)K);
    int64_t *ni = malloc(sizeof(int64_t) * (size_t)K);
    if (!all || !score || !ns || !ni) { free(all); free(score); free(ns); free(ni); return gsg_err_set(GSG_E_NOMEM, "k-NN: out of memory"); }
    int64_t scored = 0, c1 = 0, c5 = 0;
    for (int64_t q = 0; q < Nq; q++) {
        const float *x = query + q * D;
        double xx = 0;
        for (int64_t d = 0; d < D; d++) xx += (double)x[d] * x[d];
        for (int64_t b = 0; b < Nb; b++) {
            const float *y = bank + b * D;
            double xy = 0, yy = 0;
            for (int64_t d = 0; d < D; d++) { xy += (double)x[d] * y[d]; yy += (double)y[d] * y[d]; }
            all[b].s = xy / (fmax(sqrt(xx), 1e-12) * fmax(sqrt(yy), 1e-12));
            all[b].i = b;
        }
        qsort(all, (size_t)Nb, sizeof *all, ref_cmp);
        for (int64_t j = 0; j < K; j++) { ns[j] = (float)all[j].s; ni[j] = all[j].i; }
        int64_t label = query_labels ? query_labels[q] : -1;
        int in1, in5;
        int64_t best = vote(score, C, ns, ni, K, bank_labels, o.T, label, &in1, &in5);
        if (pred) pred[q] = best;
        if (label >= 0) { scored++; c1 += in1; c5 += in5; }
    }
    finish(res, scored, c1, c5);
    free(all); free(score); free(ns); free(ni);
    return GSG_OK;
}
