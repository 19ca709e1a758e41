/* collapse.c: effective rank, normalised per-dimension std, mean cosine, verdict. */
#include "eval/collapse.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tensor/tensor.h"

/* LAPACK (in OpenBLAS): symmetric eigenvalues, divide and conquer. The trailing
 * size_t arguments are the hidden Fortran lengths of the two character args. */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info,
                    size_t jobz_len, size_t uplo_len);

static gsg_status check_dims(const char *what, const void *x, int64_t N, int64_t D)
{
    if (!x) return gsg_err_set(GSG_E_USAGE, "%s: no data", what);
    if (N < 1 || D < 1) return gsg_err_set(GSG_E_SHAPE, "%s: shape [%lld,%lld], expected N >= 1 and D >= 1",
                                          what, (long long)N, (long long)D);
    return GSG_OK;
}

/* Eigenvalues of the symmetric m x m matrix a (lower triangle used, destroyed) into w. */
static gsg_status sym_eigenvalues(double *w, double *a, int64_t m)
{
    if (m > 46000) return gsg_err_set(GSG_E_UNSUPPORTED, "effective rank: min(N,D) = %lld is too large (at most 46000)",
                                      (long long)m);
    int n = (int)m, lda = (int)m, info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0;
    dsyevd_("N", "L", &n, a, &lda, w, &wq, &lwork, &iwq, &liwork, &info, 1, 1);
    if (info != 0) return gsg_err_set(GSG_E_NUMERIC, "effective rank: LAPACK dsyevd workspace query failed (info %d)", info);
    lwork = (int)wq + 1;
    liwork = iwq > 0 ? iwq : 1;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    if (!work || !iwork) { free(work); free(iwork); return gsg_err_set(GSG_E_NOMEM, "effective rank: out of memory"); }
    dsyevd_("N", "L", &n, a, &lda, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work);
    free(iwork);
    if (info != 0) return gsg_err_set(GSG_E_NUMERIC, "effective rank: eigenvalues did not converge (LAPACK info %d)", info);
    return GSG_OK;
}

gsg_status gsg_collapse_erank(double *erank, const float *x, int64_t N, int64_t D, int center)
{
    GSG_TRY(check_dims("effective rank", x, N, D));
    double *mean = calloc((size_t)D, sizeof(double));
    if (!mean) return gsg_err_set(GSG_E_NOMEM, "effective rank: out of memory");
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) mean[d] += x[n * D + d];
    for (int64_t d = 0; d < D; d++) {
        if (!isfinite(mean[d])) { free(mean); return gsg_err_set(GSG_E_NUMERIC, "effective rank: column %lld is not finite", (long long)d); }
        mean[d] = center ? mean[d] / (double)N : 0.0;
    }
    /* The smaller of X^T X (D x D) and X X^T (N x N), in double, lower triangle. OpenBLAS threads
     * dsyrk and dsyevd by the thread count: the same bits run to run at a fixed count, not across
     * counts (tests/unit/test_determinism.c); the other monitors here are serial loops.
     * (row-major lower = column-major upper; filled to a full matrix below).
     * D <= N: rows are converted in chunks, so extra memory stays O(D^2). */
    int64_t m = D <= N ? D : N;
    int64_t chunk = D <= N ? (N < 1024 ? N : 1024) : N;
    double *a = malloc(sizeof(double) * (size_t)(m * m));
    double *w = malloc(sizeof(double) * (size_t)m);
    double *xd = malloc(sizeof(double) * (size_t)(chunk * D));
    gsg_status st = GSG_OK;
    if (!a || !w || !xd) { st = gsg_err_set(GSG_E_NOMEM, "effective rank: out of memory"); goto out; }
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        int64_t nb = N - n0 < chunk ? N - n0 : chunk;
        for (int64_t n = 0; n < nb; n++)
            for (int64_t d = 0; d < D; d++) xd[n * D + d] = (double)x[(n0 + n) * D + d] - mean[d];
        if (D <= N)
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)D, (int)nb, 1.0, xd, (int)D, n0 ? 1.0 : 0.0, a, (int)m);
        else
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)N, (int)D, 1.0, xd, (int)D, 0.0, a, (int)m);
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < i; j++) a[j * m + i] = a[i * m + j];
    st = sym_eigenvalues(w, a, m);
    if (st < 0) goto out;
    double lmax = 0;
    for (int64_t k = 0; k < m; k++) if (w[k] > lmax) lmax = w[k];
    /* Eigenvalues below the round-off of an f32 input count as zero (s_k/s_max < 1e-5). */
    double floor_l = lmax * 1e-10;
    double ssum = 0;
    for (int64_t k = 0; k < m; k++) { w[k] = w[k] > floor_l ? sqrt(w[k]) : 0.0; ssum += w[k]; }
    *erank = 0.0;
    if (!(ssum > 0)) goto out;
    double h = 0;
    for (int64_t k = 0; k < m; k++) {
        double p = w[k] / ssum;
        if (p > 0) h -= p * log(p);
    }
    *erank = exp(h);
out:
    free(mean);
    free(a);
    free(w);
    free(xd);
    return st;
}

gsg_status gsg_collapse_norm_std(float *std_out, double *std_mean, const float *x, int64_t N, int64_t D)
{
    GSG_TRY(check_dims("normalised std", x, N, D));
    double *s1 = calloc((size_t)D, sizeof(double)), *s2 = calloc((size_t)D, sizeof(double));
    if (!s1 || !s2) { free(s1); free(s2); return gsg_err_set(GSG_E_NOMEM, "normalised std: out of memory"); }
    for (int64_t n = 0; n < N; n++) {
        const float *r = x + n * D;
        double nn = 0;
        for (int64_t d = 0; d < D; d++) nn += (double)r[d] * r[d];
        if (!isfinite(nn)) { free(s1); free(s2); return gsg_err_set(GSG_E_NUMERIC, "normalised std: row %lld is not finite", (long long)n); }
        double inv = 1.0 / fmax(sqrt(nn), 1e-12);
        for (int64_t d = 0; d < D; d++) { double v = r[d] * inv; s1[d] += v; s2[d] += v * v; }
    }
    double tot = 0;
    for (int64_t d = 0; d < D; d++) {
        double m = s1[d] / (double)N, var = s2[d] / (double)N - m * m;
        double sd = var > 0 ? sqrt(var) : 0.0;
        if (std_out) std_out[d] = (float)sd;
        tot += sd;
    }
    if (std_mean) *std_mean = tot / (double)D;
    free(s1);
    free(s2);
    return GSG_OK;
}

gsg_status gsg_collapse_mean_cos(double *mean_cos, const float *a, const float *b, int64_t N, int64_t D)
{
    GSG_TRY(check_dims("mean cosine", a, N, D));
    GSG_TRY(check_dims("mean cosine", b, N, D));
    double tot = 0;
    for (int64_t n = 0; n < N; n++) {
        const float *ra = a + n * D, *rb = b + n * D;
        double ab = 0, aa = 0, bb = 0;
        for (int64_t d = 0; d < D; d++) { ab += (double)ra[d] * rb[d]; aa += (double)ra[d] * ra[d]; bb += (double)rb[d] * rb[d]; }
        tot += ab / (fmax(sqrt(aa), 1e-8) * fmax(sqrt(bb), 1e-8));
    }
    if (!isfinite(tot)) return gsg_err_set(GSG_E_NUMERIC, "mean cosine: the inputs are not finite");
    *mean_cos = tot / (double)N;
    return GSG_OK;
}

struct gsg_collapse_limits gsg_collapse_limits_default(void)
{
    struct gsg_collapse_limits l = { .complete_std_ratio = 0.01, .complete_erank = 1.5, .dimensional_erank_frac = 0.05 };
    return l;
}

enum gsg_collapse_verdict gsg_collapse_judge(const struct gsg_collapse_report *rep, const struct gsg_collapse_limits *limits)
{
    struct gsg_collapse_limits l = limits ? *limits : gsg_collapse_limits_default();
    if (rep->std_ratio < l.complete_std_ratio || rep->erank < l.complete_erank) return GSG_COLLAPSE_COMPLETE;
    if (rep->erank < l.dimensional_erank_frac * rep->erank_max) return GSG_COLLAPSE_DIMENSIONAL;
    return GSG_COLLAPSE_OK;
}

gsg_status gsg_collapse_measure(struct gsg_collapse_report *rep, const float *x, int64_t N, int64_t D,
                                const struct gsg_collapse_limits *limits)
{
    GSG_TRY(check_dims("collapse", x, N, D));
    memset(rep, 0, sizeof *rep);
    rep->N = N;
    rep->D = D;
    rep->erank_max = (double)(N < D ? N : D);
    float *sd = malloc(sizeof(float) * (size_t)D);
    float *xn = gsg_aligned_alloc(sizeof(float) * (size_t)(N * D));
    gsg_status st = GSG_OK;
    if (!sd || !xn) { st = gsg_err_set(GSG_E_NOMEM, "collapse: out of memory"); goto out; }
    st = gsg_collapse_norm_std(sd, &rep->std_mean, x, N, D);
    if (st < 0) goto out;
    rep->std_min = rep->std_max = sd[0];
    for (int64_t d = 1; d < D; d++) { if (sd[d] < rep->std_min) rep->std_min = sd[d]; if (sd[d] > rep->std_max) rep->std_max = sd[d]; }
    rep->std_ratio = rep->std_mean * sqrt((double)D);
    for (int64_t n = 0; n < N; n++) {
        const float *r = x + n * D;
        double nn = 0;
        for (int64_t d = 0; d < D; d++) nn += (double)r[d] * r[d];
        double inv = 1.0 / fmax(sqrt(nn), 1e-12);
        for (int64_t d = 0; d < D; d++) xn[n * D + d] = (float)(r[d] * inv);
    }
    st = gsg_collapse_erank(&rep->erank, xn, N, D, 1);
    if (st < 0) goto out;
    rep->verdict = gsg_collapse_judge(rep, limits);
out:
    free(sd);
    gsg_aligned_free(xn);
    return st;
}

const char *gsg_collapse_verdict_name(enum gsg_collapse_verdict v)
{
    switch (v) {
    case GSG_COLLAPSE_OK: return "ok";
    case GSG_COLLAPSE_DIMENSIONAL: return "dimensional-collapse";
    case GSG_COLLAPSE_COMPLETE: return "collapsed";
    }
    return "?";
}

char *gsg_collapse_verdict_line(char *buf, size_t cap, const struct gsg_collapse_report *rep)
{
    const char *why = "";
    switch (rep->verdict) {
    case GSG_COLLAPSE_OK: why = "features spread over many directions"; break;
    case GSG_COLLAPSE_DIMENSIONAL: why = "features use few directions"; break;
    case GSG_COLLAPSE_COMPLETE: why = "(almost) the same output for every input"; break;
    }
    snprintf(buf, cap, "%s: effective rank %.1f of %.0f, std*sqrt(D) %.3f (%s)", gsg_collapse_verdict_name(rep->verdict),
             rep->erank, rep->erank_max, rep->std_ratio, why);
    return buf;
}
