/* FP exceptions are never enabled here; without this GCC will not if-convert float compares, and the
 * pixel loops stay scalar. Results are unchanged (IEEE semantics otherwise kept). */
#pragma GCC optimize("no-trapping-math")
#include "aug.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static gsg_status grow(float **p, size_t *cap, size_t n)
{
    if (n <= *cap) return GSG_OK;
    free(*p);
    *p = malloc(n * sizeof(float));
    if (!*p) { *cap = 0; return gsg_err_set(GSG_E_NOMEM, "out of memory for %zu floats of augmentation scratch", n); }
    *cap = n;
    return GSG_OK;
}

void gsg_aug_scratch_free(struct gsg_aug_scratch *s)
{
    free(s->a); free(s->b); free(s->c);
    memset(s, 0, sizeof *s);
}

void gsg_aug_rng(struct gsg_rng *rng, uint64_t seed, uint64_t epoch, int64_t index, int view)
{
    gsg_rng_init(rng, seed, gsg_rng_stream(GSG_RNG_AUGMENT, epoch, (uint64_t)index, (uint64_t)view));
}

/* ---------------- random parameters ---------------- */

void gsg_aug_sample_crop(int *x, int *y, int *w, int *h, int H, int W, float scale_lo, float scale_hi,
                         float ratio_lo, float ratio_hi, struct gsg_rng *rng)
{
    double area = (double)H * W, lr0 = log(ratio_lo), lr1 = log(ratio_hi);
    for (int t = 0; t < 10; t++) {
        double target = area * gsg_rng_range(rng, scale_lo, scale_hi);
        double aspect = exp(gsg_rng_range(rng, lr0, lr1));
        int cw = (int)nearbyint(sqrt(target * aspect)), ch = (int)nearbyint(sqrt(target / aspect));
        if (cw > 0 && cw <= W && ch > 0 && ch <= H) {
            *y = (int)gsg_rng_below(rng, (uint32_t)(H - ch + 1));
            *x = (int)gsg_rng_below(rng, (uint32_t)(W - cw + 1));
            *w = cw; *h = ch;
            return;
        }
    }
    double in_ratio = (double)W / H;
    int cw = W, ch = H;
    if (in_ratio < ratio_lo) { cw = W; ch = (int)nearbyint(cw / (double)ratio_lo); }
    else if (in_ratio > ratio_hi) { ch = H; cw = (int)nearbyint(ch * (double)ratio_hi); }
    if (cw < 1) cw = 1;
    if (ch < 1) ch = 1;
    *w = cw; *h = ch;
    *y = (H - ch) / 2; *x = (W - cw) / 2;
}

void gsg_aug_sample(struct gsg_aug_params *p, const struct gsg_aug_recipe *r, int H, int W, struct gsg_rng *rng)
{
    memset(p, 0, sizeof *p);
    gsg_aug_sample_crop(&p->crop_x, &p->crop_y, &p->crop_w, &p->crop_h, H, W, r->scale_lo, r->scale_hi,
                        r->ratio_lo, r->ratio_hi, rng);
    /* every draw below happens whatever the outcome, so each parameter has a fixed place in the stream */
    p->flip = gsg_rng_uniform(rng) < r->flip_p;
    p->jitter = gsg_rng_uniform(rng) < r->jitter_p;
    for (int i = 0; i < 4; i++) p->order[i] = i;
    for (int i = 3; i > 0; i--) {
        int j = (int)gsg_rng_below(rng, (uint32_t)(i + 1));
        int t = p->order[i]; p->order[i] = p->order[j]; p->order[j] = t;
    }
    float b = gsg_rng_uniform(rng), c = gsg_rng_uniform(rng), s = gsg_rng_uniform(rng), hu = gsg_rng_uniform(rng);
    p->bright = fmaxf(0.0f, 1.0f - r->brightness) + b * (1.0f + r->brightness - fmaxf(0.0f, 1.0f - r->brightness));
    p->contrast = fmaxf(0.0f, 1.0f - r->contrast) + c * (1.0f + r->contrast - fmaxf(0.0f, 1.0f - r->contrast));
    p->sat = fmaxf(0.0f, 1.0f - r->saturation) + s * (1.0f + r->saturation - fmaxf(0.0f, 1.0f - r->saturation));
    p->hue = -r->hue + hu * 2.0f * r->hue;
    p->gray = gsg_rng_uniform(rng) < r->gray_p;
    p->blur = gsg_rng_uniform(rng) < r->blur_p;
    p->sigma = r->blur_sigma_lo + gsg_rng_uniform(rng) * (r->blur_sigma_hi - r->blur_sigma_lo);
    p->solarize = gsg_rng_uniform(rng) < r->solarize_p;
}

/* ---------------- resampling ---------------- */

/* Filter taps of output sample i (PIL's precompute_coeffs with the triangle filter). */
struct taps {
    int kmax;
    int *start, *count;
    float *w;          /* [out, kmax] */
};

static int taps_kmax(int in_size, double in_len, int out_size)
{
    double scale = in_len / out_size, support = scale > 1.0 ? scale : 1.0;
    (void)in_size;
    return (int)ceil(support) * 2 + 1;
}

static void taps_compute(struct taps *t, int in_size, double in0, double in_len, int out_size, int flip)
{
    double scale = in_len / out_size;
    double fscale = scale > 1.0 ? scale : 1.0, support = fscale, ss = 1.0 / fscale;
    for (int o = 0; o < out_size; o++) {
        double center = in0 + (o + 0.5) * scale;
        int lo = (int)floor(center - support + 0.5), hi = (int)floor(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        if (hi - lo > t->kmax) hi = lo + t->kmax;
        int dst = flip ? out_size - 1 - o : o;
        float *w = t->w + (size_t)dst * t->kmax;
        double sum = 0, ww[64 + 1];
        int n = 0;
        double *wp = t->kmax <= 64 ? ww : NULL;
        for (int j = lo; j < hi; j++, n++) {
            double d = fabs((j + 0.5 - center) * ss);
            double v = d < 1.0 ? 1.0 - d : 0.0;
            if (wp) wp[n] = v; else w[n] = (float)v;
            sum += v;
        }
        if (n == 0) {   /* the box lies outside the image: take the nearest edge pixel */
            lo = center < 0 ? 0 : in_size - 1;
            n = 1; sum = 1;
            if (wp) wp[0] = 1; else w[0] = 1;
        }
        for (int k = 0; k < n; k++) w[k] = (float)((wp ? wp[k] : w[k]) / sum);
        for (int k = n; k < t->kmax; k++) w[k] = 0;
        /* fixed-width window for the vector loops: move it left when it would pass the edge */
        int shift = lo + t->kmax > in_size ? lo + t->kmax - in_size : 0;
        if (shift > lo) shift = lo;
        if (shift > 0) {
            for (int k = n - 1; k >= 0; k--) w[k + shift] = w[k];
            for (int k = 0; k < shift; k++) w[k] = 0;
            lo -= shift; n += shift;
        }
        t->start[dst] = lo;
        t->count[dst] = n;
    }
}

size_t gsg_aug_resize_tmp(int C, int H, int W, int oh, int ow)
{
    size_t rowcap = (size_t)H * ow > (size_t)oh * W ? (size_t)H * ow : (size_t)oh * W;
    return (size_t)C * rowcap + (size_t)(ow + oh) * 160 + (size_t)(ow + oh) * 4 + (size_t)W + 16;
}

void gsg_aug_resize(float *dst, const uint8_t *src, int C, int H, int W, double bx, double by, double bw, double bh,
                    int oh, int ow, int flip, float *tmp)
{
    struct taps tx, ty;
    tx.kmax = taps_kmax(W, bw, ow);
    ty.kmax = taps_kmax(H, bh, oh);
    if (tx.kmax > 64) tx.kmax = 64 + 1;   /* very large shrink factors: truncated windows, renormalised */
    if (ty.kmax > 64) ty.kmax = 64 + 1;
    /* layout of tmp: row buffer [C, rows, ow], then the tap tables */
    float *row = tmp;
    size_t rowcap = (size_t)H * ow > (size_t)oh * W ? (size_t)H * ow : (size_t)oh * W;
    float *tw = tmp + (size_t)C * rowcap;
    tx.w = tw; ty.w = tw + (size_t)ow * tx.kmax;
    float *wt = ty.w + (size_t)oh * ty.kmax;       /* tx.w transposed: [kmax, ow] */
    int *ti = (int *)(wt + (size_t)ow * tx.kmax);
    tx.start = ti; tx.count = ti + ow; ty.start = ti + 2 * ow; ty.count = ti + 2 * ow + oh;
    taps_compute(&tx, W, bx, bw, ow, flip);
    taps_compute(&ty, H, by, bh, oh, 0);
    int r0 = ty.start[0], r1 = ty.start[0] + ty.count[0];
    for (int o = 1; o < oh; o++) {
        if (ty.start[o] < r0) r0 = ty.start[o];
        if (ty.start[o] + ty.count[o] > r1) r1 = ty.start[o] + ty.count[o];
    }
    int rows = r1 - r0;
    /* every window has kmax taps inside the row when the row is at least kmax wide */
    int fixed = W >= tx.kmax;
    if (fixed)
        for (int x = 0; x < ow; x++)
            for (int k = 0; k < tx.kmax; k++) wt[(size_t)k * ow + x] = tx.w[(size_t)x * tx.kmax + k];
    float *srow = (float *)(ti + 2 * ow + 2 * oh);
    if (fixed && rows > oh) {
        /* shrinking vertically: the vertical pass first (contiguous, on oh rows only), then the
         * horizontal pass on oh rows instead of rows */
        int c0 = tx.start[0], c1 = tx.start[0] + tx.kmax;
        for (int x = 1; x < ow; x++) {
            if (tx.start[x] < c0) c0 = tx.start[x];
            if (tx.start[x] + tx.kmax > c1) c1 = tx.start[x] + tx.kmax;
        }
        int cols = c1 - c0;
        for (int c = 0; c < C; c++)
            for (int y = 0; y < oh; y++) {
                float *o = row + ((size_t)c * oh + y) * cols;
                const float *w = ty.w + (size_t)y * ty.kmax;
                for (int x = 0; x < cols; x++) o[x] = 0;
                for (int k = 0; k < ty.count[y]; k++) {
                    const uint8_t *sr = src + ((size_t)c * H + (size_t)(ty.start[y] + k)) * W + c0;
                    float wk = w[k];
                    for (int x = 0; x < cols; x++) o[x] += wk * (float)sr[x];
                }
            }
        const int K = tx.kmax;
        int *st = ti + 2 * ow + 2 * oh;      /* starts relative to c0 (srow is not needed here) */
        for (int x = 0; x < ow; x++) st[x] = tx.start[x] - c0;
        for (int c = 0; c < C; c++)
            for (int y = 0; y < oh; y++) {
                const float *sv = row + ((size_t)c * oh + y) * cols;
                float *o = dst + ((size_t)c * oh + y) * ow;
                for (int x = 0; x < ow; x++) o[x] = 0;
                for (int k = 0; k < K; k++) {
                    const float *wk = wt + (size_t)k * ow, *sk = sv + k;
                    for (int x = 0; x < ow; x++) o[x] += wk[x] * sk[st[x]];
                }
            }
        return;
    }
    /* horizontal pass: rows r0..r1 of every channel */
    for (int c = 0; c < C; c++) {
        for (int y = 0; y < rows; y++) {
            const uint8_t *s = src + ((size_t)c * H + (size_t)(r0 + y)) * W;
            float *o = row + ((size_t)c * rows + y) * ow;
            if (fixed) {
                for (int x = 0; x < W; x++) srow[x] = (float)s[x];
                const int K = tx.kmax;
                const int *st = tx.start;
                for (int x = 0; x < ow; x++) o[x] = 0;
                for (int k = 0; k < K; k++) {
                    const float *wk = wt + (size_t)k * ow, *sk = srow + k;
                    for (int x = 0; x < ow; x++) o[x] += wk[x] * sk[st[x]];
                }
            } else {
                for (int x = 0; x < ow; x++) {
                    const float *w = tx.w + (size_t)x * tx.kmax;
                    const uint8_t *sp = s + tx.start[x];
                    int n = tx.count[x];
                    float acc = 0;
                    for (int k = 0; k < n; k++) acc += w[k] * (float)sp[k];
                    o[x] = acc;
                }
            }
        }
    }
    /* vertical pass */
    for (int c = 0; c < C; c++) {
        const float *rc = row + (size_t)c * rows * ow;
        for (int y = 0; y < oh; y++) {
            float *o = dst + ((size_t)c * oh + y) * ow;
            const float *w = ty.w + (size_t)y * ty.kmax;
            int n = ty.count[y], s0 = ty.start[y] - r0;
            for (int x = 0; x < ow; x++) o[x] = 0;
            for (int k = 0; k < n; k++) {
                const float *rr = rc + (size_t)(s0 + k) * ow;
                float wk = w[k];
                for (int x = 0; x < ow; x++) o[x] += wk * rr[x];
            }
        }
    }
}

/* ---------------- colour ops ---------------- */

static inline float clamp255(float v) { return v < 0 ? 0 : (v > 255.0f ? 255.0f : v); }

void gsg_aug_brightness(float *x, int C, int64_t HW, float f)
{
    int64_t n = (int64_t)C * HW;
    for (int64_t i = 0; i < n; i++) x[i] = clamp255(x[i] * f);
}

static float grey_mean(const float *x, int C, int64_t HW)
{
    double sum = 0;
    if (C == 3) {
        const float *r = x, *g = x + HW, *b = x + 2 * HW;
        float acc = 0;
        for (int64_t i = 0; i < HW; i++) acc += 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i];
        sum = acc;
    } else {
        float acc = 0;
        for (int64_t i = 0; i < HW; i++) acc += x[i];
        sum = acc;
    }
    return (float)(sum / (double)HW);
}

void gsg_aug_contrast(float *x, int C, int64_t HW, float f)
{
    float m = grey_mean(x, C, HW) * (1.0f - f);
    int64_t n = (int64_t)C * HW;
    for (int64_t i = 0; i < n; i++) x[i] = clamp255(f * x[i] + m);
}

void gsg_aug_saturation(float *x, int C, int64_t HW, float f)
{
    if (C != 3) return;
    float *r = x, *g = x + HW, *b = x + 2 * HW, f1 = 1.0f - f;
    for (int64_t i = 0; i < HW; i++) {
        float y = f1 * (0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i]);
        r[i] = clamp255(f * r[i] + y);
        g[i] = clamp255(f * g[i] + y);
        b[i] = clamp255(f * b[i] + y);
    }
}

void gsg_aug_grayscale(float *x, int C, int64_t HW)
{
    if (C != 3) return;
    float *r = x, *g = x + HW, *b = x + 2 * HW;
    for (int64_t i = 0; i < HW; i++) {
        float y = 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i];
        r[i] = g[i] = b[i] = y;
    }
}

static inline float minf(float a, float b) { return a < b ? a : b; }
static inline float maxf(float a, float b) { return a > b ? a : b; }

/* torchvision's _rgb2hsv, hue shift, _hsv2rgb, with v on the 0..255 scale. Written with
 * 0/1 masks as torchvision does, and HSV -> RGB as v - v s max(0, min(k, 4 - k, 1)) with
 * k = (n + 6 h) mod 6 for n = 5, 3, 1 (the same six cases), so the loop vectorises. */
void gsg_aug_hue(float *x, int C, int64_t HW, float h)
{
    if (C != 3 || h == 0.0f) return;
    float *R = x, *G = x + HW, *B = x + 2 * HW;
#pragma omp simd
    for (int64_t i = 0; i < HW; i++) {
        float r = R[i], g = G[i], b = B[i];
        float maxc = maxf(maxf(r, g), b), minc = minf(minf(r, g), b);
        float cr = maxc - minc;
        float eqc = (float)(cr == 0.0f);
        float s = cr / (maxc + eqc * (1.0f - maxc));
        float inv = 1.0f / (cr + eqc);
        float rc = (maxc - r) * inv, gc = (maxc - g) * inv, bc = (maxc - b) * inv;
        float mr = (float)(maxc == r), mg = (float)(maxc == g) * (1.0f - mr), mb = (1.0f - mr) * (1.0f - mg);
        float hh = mr * (bc - gc) + mg * (2.0f + rc - bc) + mb * (4.0f + gc - rc);
        hh = hh * (1.0f / 6.0f) + 1.0f;
        hh = hh - floorf(hh);                 /* fmod(h/6 + 1, 1) */
        hh = hh + h;                          /* (h + factor) mod 1 */
        hh = hh - floorf(hh);
        float h6 = hh * 6.0f, vs = maxc * s;
        float kr = 5.0f + h6, kg = 3.0f + h6, kb = 1.0f + h6;
        kr -= 6.0f * (float)(kr >= 6.0f);
        kg -= 6.0f * (float)(kg >= 6.0f);
        kb -= 6.0f * (float)(kb >= 6.0f);
        R[i] = maxc - vs * maxf(0.0f, minf(minf(kr, 4.0f - kr), 1.0f));
        G[i] = maxc - vs * maxf(0.0f, minf(minf(kg, 4.0f - kg), 1.0f));
        B[i] = maxc - vs * maxf(0.0f, minf(minf(kb, 4.0f - kb), 1.0f));
    }
}

void gsg_aug_solarize(float *x, int C, int64_t HW, float threshold)
{
    int64_t n = (int64_t)C * HW;
    for (int64_t i = 0; i < n; i++) x[i] = x[i] >= threshold ? 255.0f - x[i] : x[i];
}

static inline int reflect(int i, int n)
{
    if (n == 1) return 0;
    for (;;) {
        if (i < 0) i = -i;
        else if (i >= n) i = 2 * (n - 1) - i;
        else return i;
    }
}

size_t gsg_aug_blur_tmp(int C, int H, int W)
{
    return (size_t)C * H * W + (size_t)W + 2 * 257;
}

void gsg_aug_blur(float *x, int C, int H, int W, int k, float sigma, float *tmp)
{
    float kern[257];
    if (k > 257) k = 257;
    if (k % 2 == 0) k--;
    int half = k / 2;
    double sum = 0;
    for (int i = 0; i < k; i++) {
        double t = (i - half) / (double)sigma;
        kern[i] = (float)exp(-0.5 * t * t);
        sum += kern[i];
    }
    for (int i = 0; i < k; i++) kern[i] = (float)(kern[i] / sum);
    float *pad = tmp + (size_t)C * H * W;    /* one reflect-padded row: W + 2*half */
    /* horizontal: x -> tmp */
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++) {
            const float *s = x + ((size_t)c * H + y) * W;
            float *o = tmp + ((size_t)c * H + y) * W;
            for (int i = 0; i < W + 2 * half; i++) pad[i] = s[reflect(i - half, W)];
            for (int xx = 0; xx < W; xx++) o[xx] = 0;
            for (int j = 0; j < k; j++) {
                const float *pj = pad + j;
                float kj = kern[j];
                for (int xx = 0; xx < W; xx++) o[xx] += kj * pj[xx];
            }
        }
    /* vertical: tmp -> x */
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++) {
            float *o = x + ((size_t)c * H + y) * W;
            for (int xx = 0; xx < W; xx++) o[xx] = 0;
            for (int j = 0; j < k; j++) {
                const float *s = tmp + ((size_t)c * H + reflect(y - half + j, H)) * W;
                float kj = kern[j];
                for (int xx = 0; xx < W; xx++) o[xx] += kj * s[xx];
            }
        }
}

void gsg_aug_quantize(uint8_t *dst, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = clamp255(x[i]) + 0.5f;
        dst[i] = (uint8_t)(int)v;
    }
}

/* ---------------- views ---------------- */

static gsg_status prepare(const struct gsg_image *img, const struct gsg_aug_recipe *r, struct gsg_aug_scratch *s)
{
    if (img->c != r->channels)
        return gsg_err_set(GSG_E_SHAPE, "augment: image has %d channels, recipe '%s' expects %d", img->c, r->name, r->channels);
    if (img->h < 1 || img->w < 1 || r->size < 1)
        return gsg_err_set(GSG_E_SHAPE, "augment: empty image (%dx%d) or size %d", img->w, img->h, r->size);
    size_t plane = (size_t)r->channels * r->size * r->size;
    GSG_TRY(grow(&s->a, &s->cap_a, plane));
    GSG_TRY(grow(&s->b, &s->cap_b, gsg_aug_resize_tmp(img->c, img->h, img->w, r->size, r->size)));
    GSG_TRY(grow(&s->c, &s->cap_c, gsg_aug_blur_tmp(r->channels, r->size, r->size)));
    return GSG_OK;
}

gsg_status gsg_aug_view(uint8_t *dst, const struct gsg_image *img, const struct gsg_aug_recipe *r,
                        const struct gsg_aug_params *p, struct gsg_aug_scratch *s)
{
    GSG_TRY(prepare(img, r, s));
    int C = r->channels, S = r->size;
    int64_t HW = (int64_t)S * S;
    double fx = (double)img->w / (img->orig_w > 0 ? img->orig_w : img->w);
    double fy = (double)img->h / (img->orig_h > 0 ? img->orig_h : img->h);
    gsg_aug_resize(s->a, img->data, C, img->h, img->w, p->crop_x * fx, p->crop_y * fy, p->crop_w * fx, p->crop_h * fy,
                   S, S, p->flip, s->b);
    if (p->jitter) {
        for (int i = 0; i < 4; i++) {
            switch ((enum gsg_aug_color_op)p->order[i]) {
            case GSG_AUG_BRIGHTNESS: if (r->brightness > 0) gsg_aug_brightness(s->a, C, HW, p->bright); break;
            case GSG_AUG_CONTRAST: if (r->contrast > 0) gsg_aug_contrast(s->a, C, HW, p->contrast); break;
            case GSG_AUG_SATURATION: if (r->saturation > 0) gsg_aug_saturation(s->a, C, HW, p->sat); break;
            case GSG_AUG_HUE: if (r->hue > 0) gsg_aug_hue(s->a, C, HW, p->hue); break;
            }
        }
    }
    if (p->gray) gsg_aug_grayscale(s->a, C, HW);
    if (p->blur) gsg_aug_blur(s->a, C, S, S, gsg_aug_recipe_blur_kernel(r), p->sigma, s->c);
    if (p->solarize) gsg_aug_solarize(s->a, C, HW, (float)r->solarize_threshold);
    gsg_aug_quantize(dst, s->a, (int64_t)C * HW);
    return GSG_OK;
}

gsg_status gsg_aug_views(uint8_t *dst, const struct gsg_image *img, const struct gsg_aug_recipe *r, int V,
                         uint64_t seed, uint64_t epoch, int64_t index, struct gsg_aug_scratch *s)
{
    size_t view_bytes = (size_t)r->channels * r->size * r->size;
    int H = img->orig_h > 0 ? img->orig_h : img->h, W = img->orig_w > 0 ? img->orig_w : img->w;
    for (int v = 0; v < V; v++) {
        struct gsg_rng rng;
        struct gsg_aug_params p;
        gsg_aug_rng(&rng, seed, epoch, index, v);
        gsg_aug_sample(&p, r, H, W, &rng);
        GSG_TRY(gsg_aug_view(dst + (size_t)v * view_bytes, img, r, &p, s));
    }
    return GSG_OK;
}

gsg_status gsg_aug_plain(uint8_t *dst, const struct gsg_image *img, const struct gsg_aug_recipe *r,
                         struct gsg_aug_scratch *s)
{
    GSG_TRY(prepare(img, r, s));
    int S = r->size;
    double oh = img->orig_h > 0 ? img->orig_h : img->h, ow = img->orig_w > 0 ? img->orig_w : img->w;
    double bx = 0, by = 0, bw = img->w, bh = img->h;
    if (r->eval_resize > 0) {
        /* torchvision Resize(eval_resize): shorter side to eval_resize, the other int(side * long / short) */
        double rw, rh;
        if (ow <= oh) { rw = r->eval_resize; rh = (int)((double)r->eval_resize * oh / ow); }
        else { rh = r->eval_resize; rw = (int)((double)r->eval_resize * ow / oh); }
        /* CenterCrop(S) of the resized image, as a box in stored pixels */
        double top = (int)nearbyint((rh - S) / 2.0), left = (int)nearbyint((rw - S) / 2.0);
        double sx = img->w / rw, sy = img->h / rh;
        bx = left * sx; by = top * sy; bw = S * sx; bh = S * sy;
    }
    gsg_aug_resize(s->a, img->data, r->channels, img->h, img->w, bx, by, bw, bh, S, S, 0, s->b);
    gsg_aug_quantize(dst, s->a, (int64_t)r->channels * S * S);
    return GSG_OK;
}
