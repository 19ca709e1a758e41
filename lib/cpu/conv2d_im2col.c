/* conv2d_im2col.c: portable conv2d, im2col/col2im + OpenBLAS sgemm, channels-last.
 *
 * For NHWC input a row of the column matrix is one output pixel's receptive field in
 * (kh, kw, ci) order, so each tap copies Ci contiguous floats (and at stride 1 a whole
 * kernel row copies K*Ci contiguous floats):
 *   col  [M, KKC]  M = rows of a tile (whole images), KKC = K*K*Ci
 *   wr   [Co, KKC] the weights reordered from [Co,Ci,K,K] once per call
 *   fwd:  y_tile [M, Co]   = col · wrᵀ                 (sgemm NT)
 *   bwdW: acc    [Co, KKC] += dy_tileᵀ · col           (sgemm TN, per-thread accumulator)
 *   bwdX: dcol   [M, KKC]  = dy_tile · wr, then col2im (sgemm NN)
 * docs/performance.md §4: streaming a whole-batch column matrix through memory costs 30 %, and 4x4 layers
 * one image at a time give tall-skinny GEMMs that do not scale. So the batch is cut into
 * tiles of whole images of about TILE_ROWS output pixels (column matrix capped at
 * TILE_BYTES, about an L2), and the tiles are shared out over the OpenMP threads, each
 * with its own column buffer; OpenBLAS runs single-threaded inside the parallel region.
 * When there are fewer tiles than threads (batch 1), tiles run one after the other and
 * OpenBLAS threads each GEMM instead. 1x1 stride-1 unpadded layers use x as col directly. */
#include "cpu/conv2d.h"
#include <cblas.h>
#include <omp.h>
#include <string.h>

#ifndef TILE_ROWS
#define TILE_ROWS 1024
#endif
#ifndef TILE_BYTES
#define TILE_BYTES ((size_t)4 << 20)
#endif

struct gsg_cpu_conv2d_im2col {
    struct gsg_conv2d_desc d;
    int64_t Ho, Wo, P, KKC;   /* P = Ho*Wo output pixels per image */
    int64_t nb, ntiles;       /* images per tile, tiles per batch */
    int nthreads, direct;     /* direct: K=1, stride 1, pad 0 (col is x itself) */
    float *wr;                /* [Co, KKC] */
    float *col;               /* nthreads x [nb*P, KKC] */
    float *acc;               /* nthreads x [Co, KKC] (dw partial sums) */
    size_t bytes;
};

gsg_status gsg_cpu_conv2d_im2col_create(struct gsg_cpu_conv2d_im2col **out, const struct gsg_conv2d_desc *d)
{
    *out = NULL;
    struct gsg_cpu_conv2d_im2col *k = calloc(1, sizeof *k);
    if (!k) return gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for an im2col plan");
    k->d = *d;
    gsg_conv2d_out_hw(d, &k->Ho, &k->Wo);
    k->P = k->Ho * k->Wo;
    k->KKC = d->K * d->K * d->Ci;
    k->direct = d->K == 1 && d->stride == 1 && d->pad == 0;
    k->nthreads = omp_get_max_threads();
    if (k->nthreads < 1) k->nthreads = 1;
    int64_t nb = (TILE_ROWS + k->P - 1) / k->P;
    int64_t cap = (int64_t)(TILE_BYTES / ((size_t)k->P * (size_t)k->KKC * sizeof(float)));
    if (nb > cap) nb = cap;
    int64_t share = (d->N + k->nthreads - 1) / k->nthreads;   /* keep every thread busy */
    if (nb > share) nb = share;
    if (nb < 1) nb = 1;
    k->nb = nb;
    k->ntiles = (d->N + nb - 1) / nb;
    size_t wr_n = (size_t)(d->Co * k->KKC);
    size_t col_n = k->direct ? 0 : (size_t)(nb * k->P * k->KKC);
    k->bytes = (wr_n + (size_t)k->nthreads * (col_n + wr_n)) * sizeof(float);
    k->wr = gsg_aligned_alloc(wr_n * sizeof(float));
    k->acc = gsg_aligned_alloc((size_t)k->nthreads * wr_n * sizeof(float));
    k->col = col_n ? gsg_aligned_alloc((size_t)k->nthreads * col_n * sizeof(float)) : NULL;
    if (!k->wr || !k->acc || (col_n && !k->col)) {
        size_t bytes = k->bytes;
        gsg_cpu_conv2d_im2col_destroy(k);
        return gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for im2col buffers (%zu bytes)", bytes);
    }
    *out = k;
    return GSG_OK;
}

void gsg_cpu_conv2d_im2col_destroy(struct gsg_cpu_conv2d_im2col *k)
{
    if (!k) return;
    gsg_aligned_free(k->wr);
    gsg_aligned_free(k->col);
    gsg_aligned_free(k->acc);
    free(k);
}

size_t gsg_cpu_conv2d_im2col_workspace_bytes(const struct gsg_cpu_conv2d_im2col *k) { return k->bytes; }

/* wr[co][(kh*K+kw)*Ci+ci] = w[co][ci][kh][kw]
 * w: (Co, Ci, K, K)  wr: (Co, K*K*Ci) */
static void reorder_w(const struct gsg_cpu_conv2d_im2col *k, float *wr, const float *w)
{
    const int64_t Ci = k->d.Ci, KK = k->d.K * k->d.K, KKC = k->KKC;
    #pragma omp parallel for num_threads(k->nthreads)
    for (int64_t co = 0; co < k->d.Co; co++)
        for (int64_t ci = 0; ci < Ci; ci++)
            for (int64_t t = 0; t < KK; t++) wr[co * KKC + t * Ci + ci] = w[(co * Ci + ci) * KK + t];
}

/* col rows for images n0..n0+cnt-1.  x: (N, H, W, Ci)  col: (cnt*P, KKC) */
static void im2col(const struct gsg_cpu_conv2d_im2col *k, float *col, const float *x, int64_t n0, int64_t cnt)
{
    const int64_t H = k->d.H, W = k->d.W, Ci = k->d.Ci, K = k->d.K, s = k->d.stride, p = k->d.pad;
    for (int64_t i = 0; i < cnt; i++) {
        const float *xn = x + (n0 + i) * H * W * Ci;
        for (int64_t oh = 0; oh < k->Ho; oh++)
            for (int64_t ow = 0; ow < k->Wo; ow++) {
                float *row = col + ((i * k->Ho + oh) * k->Wo + ow) * k->KKC;
                int64_t iw0 = ow * s - p;
                int64_t kw_lo = iw0 < 0 ? -iw0 : 0, kw_hi = iw0 + K > W ? W - iw0 : K;
                if (kw_hi < kw_lo) kw_hi = kw_lo;
                for (int64_t kh = 0; kh < K; kh++) {
                    float *dst = row + kh * K * Ci;
                    int64_t ih = oh * s - p + kh;
                    if (ih < 0 || ih >= H) { memset(dst, 0, (size_t)(K * Ci) * sizeof(float)); continue; }
                    const float *src = xn + (ih * W + iw0) * Ci;
                    if (kw_lo > 0) memset(dst, 0, (size_t)(kw_lo * Ci) * sizeof(float));
                    if (kw_hi > kw_lo)
                        memcpy(dst + kw_lo * Ci, src + kw_lo * Ci, (size_t)((kw_hi - kw_lo) * Ci) * sizeof(float));
                    if (kw_hi < K) memset(dst + kw_hi * Ci, 0, (size_t)((K - kw_hi) * Ci) * sizeof(float));
                }
            }
    }
}

/* dx images n0..n0+cnt-1 = col2im(dcol), written.  dcol: (cnt*P, KKC)  dx: (N, H, W, Ci) */
static void col2im(const struct gsg_cpu_conv2d_im2col *k, float *dx, const float *dcol, int64_t n0, int64_t cnt)
{
    const int64_t H = k->d.H, W = k->d.W, Ci = k->d.Ci, K = k->d.K, s = k->d.stride, p = k->d.pad;
    memset(dx + n0 * H * W * Ci, 0, (size_t)(cnt * H * W * Ci) * sizeof(float));
    for (int64_t i = 0; i < cnt; i++) {
        float *dxn = dx + (n0 + i) * H * W * Ci;
        for (int64_t oh = 0; oh < k->Ho; oh++)
            for (int64_t ow = 0; ow < k->Wo; ow++) {
                const float *row = dcol + ((i * k->Ho + oh) * k->Wo + ow) * k->KKC;
                int64_t iw0 = ow * s - p;
                int64_t kw_lo = iw0 < 0 ? -iw0 : 0, kw_hi = iw0 + K > W ? W - iw0 : K;
                for (int64_t kh = 0; kh < K; kh++) {
                    int64_t ih = oh * s - p + kh;
                    if (ih < 0 || ih >= H) continue;
                    float *dst = dxn + (ih * W + iw0) * Ci;
                    const float *src = row + kh * K * Ci;
                    /* taps of one kernel row are contiguous in both: add them as one run */
                    for (int64_t j = kw_lo * Ci; j < kw_hi * Ci; j++) dst[j] += src[j];
                }
            }
    }
}

void gsg_cpu_conv2d_im2col_fwd(struct gsg_cpu_conv2d_im2col *k, float *y, const float *x, const float *w)
{
    const int64_t Co = k->d.Co, KKC = k->KKC, P = k->P, N = k->d.N;
    reorder_w(k, k->wr, w);
    const size_t col_n = (size_t)(k->nb * P * KKC);
    const int par = k->ntiles >= k->nthreads && k->nthreads > 1;
    /* dynamic is safe here: each tile writes its own rows of y, with no sum across tiles */
    #pragma omp parallel for schedule(dynamic, 1) num_threads(k->nthreads) if (par)
    for (int64_t t = 0; t < k->ntiles; t++) {
        int64_t n0 = t * k->nb, cnt = n0 + k->nb > N ? N - n0 : k->nb;
        const float *col;
        if (k->direct) col = x + n0 * P * KKC;
        else {
            float *c = k->col + (size_t)omp_get_thread_num() * col_n;
            im2col(k, c, x, n0, cnt);
            col = c;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(cnt * P), (int)Co, (int)KKC, 1.0f, col,
                    (int)KKC, k->wr, (int)KKC, 0.0f, y + n0 * P * Co, (int)Co);
    }
}

void gsg_cpu_conv2d_im2col_bwd(struct gsg_cpu_conv2d_im2col *k, float *dx, float *dw, const float *dy,
                               const float *x, const float *w)
{
    if (!dx && !dw) return;
    const int64_t Co = k->d.Co, KKC = k->KKC, P = k->P, N = k->d.N;
    const size_t col_n = (size_t)(k->nb * P * KKC), wr_n = (size_t)(Co * KKC);
    if (dx) reorder_w(k, k->wr, w);
    const int par = k->ntiles >= k->nthreads && k->nthreads > 1;
    const int nacc = par ? k->nthreads : 1;
    if (dw) memset(k->acc, 0, (size_t)nacc * wr_n * sizeof(float));
    /* schedule(static): thread u always sums the same contiguous run of tiles, in order, into
     * acc[u], and the accumulators are added in thread order below, so dw is the same bits on
     * every run with this thread count (dynamic scheduling handed tiles to whichever thread was
     * free and changed the rounding from run to run). Tiles are of equal size but the last. */
    #pragma omp parallel for schedule(static) num_threads(k->nthreads) if (par)
    for (int64_t t = 0; t < k->ntiles; t++) {
        int tid = par ? omp_get_thread_num() : 0;
        int64_t n0 = t * k->nb, cnt = n0 + k->nb > N ? N - n0 : k->nb;
        const int M = (int)(cnt * P);
        const float *dyt = dy + n0 * P * Co;
        float *c = k->direct ? NULL : k->col + (size_t)tid * col_n;
        if (dw) {
            const float *col = x + n0 * P * KKC;
            if (!k->direct) { im2col(k, c, x, n0, cnt); col = c; }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Co, (int)KKC, M, 1.0f, dyt, (int)Co, col,
                        (int)KKC, 1.0f, k->acc + (size_t)tid * wr_n, (int)KKC);
        }
        if (dx) {
            /* dcol = dy_tile · wr; for a direct layer dcol is dx itself */
            float *dcol = k->direct ? dx + n0 * P * KKC : c;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, (int)KKC, (int)Co, 1.0f, dyt, (int)Co, k->wr,
                        (int)KKC, 0.0f, dcol, (int)KKC);
            if (!k->direct) col2im(k, dx, c, n0, cnt);
        }
    }
    if (dw) {
        /* dw[co][ci][kh][kw] += sum over threads of acc[co][(kh*K+kw)*Ci+ci] */
        const int64_t Ci = k->d.Ci, KK = k->d.K * k->d.K;
        #pragma omp parallel for num_threads(k->nthreads)
        for (int64_t co = 0; co < Co; co++)
            for (int64_t ci = 0; ci < Ci; ci++)
                for (int64_t tap = 0; tap < KK; tap++) {
                    float sum = 0;
                    for (int a = 0; a < nacc; a++) sum += k->acc[(size_t)a * wr_n + co * KKC + tap * Ci + ci];
                    dw[(co * Ci + ci) * KK + tap] += sum;
                }
    }
}
