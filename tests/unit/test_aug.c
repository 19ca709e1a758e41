/* test_aug.c: augmentation ops against hand-computed values, the random
 * parameters statistically, recipes, and determinism across thread counts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "aug/aug.h"
#include "aug/batch.h"
#include "aug/recipe.h"

static float *resize_u8(const uint8_t *src, int C, int H, int W, double bx, double by, double bw, double bh, int oh, int ow, int flip)
{
    float *dst = malloc(sizeof(float) * (size_t)C * oh * ow);
    float *tmp = malloc(sizeof(float) * gsg_aug_resize_tmp(C, H, W, oh, ow));
    gsg_aug_resize(dst, src, C, H, W, bx, by, bw, bh, oh, ow, flip, tmp);
    free(tmp);
    return dst;
}

TEST(resize_identity_and_flip)
{
    uint8_t src[2 * 3 * 5];            /* C=2, H=3, W=5 */
    for (int i = 0; i < 30; i++) src[i] = (uint8_t)(7 * i + 3);
    float *same = resize_u8(src, 2, 3, 5, 0, 0, 5, 3, 3, 5, 0);
    float *flip = resize_u8(src, 2, 3, 5, 0, 0, 5, 3, 3, 5, 1);
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++) {
                CHECK_CLOSE(same[(c * 3 + y) * 5 + x], src[(c * 3 + y) * 5 + x], 0, 1e-4);
                CHECK_CLOSE(flip[(c * 3 + y) * 5 + x], src[(c * 3 + y) * 5 + 4 - x], 0, 1e-4);
            }
    free(same); free(flip);
}

TEST(resize_crop_of_ramp)
{
    /* ramp v = 10 x on 16 x 8; crop x 4..12 at scale 1 gives 10 (4 + x) exactly */
    uint8_t src[8 * 16];
    for (int y = 0; y < 8; y++) for (int x = 0; x < 16; x++) src[y * 16 + x] = (uint8_t)(10 * x);
    float *a = resize_u8(src, 1, 8, 16, 4, 2, 8, 4, 4, 8, 0);
    for (int y = 0; y < 4; y++) for (int x = 0; x < 8; x++) CHECK_CLOSE(a[y * 8 + x], 10 * (4 + x), 0, 1e-3);
    free(a);
    /* 2x upscale of x 4..8: sample o at 4 + (o + 0.5) / 2; bilinear between pixel centres j + 0.5:
     * o=0: 4.25 -> 0.25*30 + 0.75*40 = 37.5; o=1: 4.75 -> 42.5; o=7: 7.75 -> 72.5 */
    float *b = resize_u8(src, 1, 8, 16, 4, 0, 4, 8, 8, 8, 0);
    CHECK_CLOSE(b[0], 37.5, 0, 1e-3);
    CHECK_CLOSE(b[1], 42.5, 0, 1e-3);
    CHECK_CLOSE(b[7], 72.5, 0, 1e-3);
    free(b);
}

TEST(resize_antialias_shrink)
{
    /* 8 -> 4 (scale 2): triangle of half-width 2 input pixels around centres 1, 3, 5, 7.
     * o=0: taps j=0,1,2 weights .75,.75,.25 -> (0 + 7.5 + 5) / 1.75 = 7.142857 (ramp 10 j)
     * o=1: taps j=1..4 weights .25,.75,.75,.25 -> (2.5 + 15 + 22.5 + 10) / 2 = 25 */
    uint8_t src[8], flat[8];
    for (int x = 0; x < 8; x++) { src[x] = (uint8_t)(10 * x); flat[x] = 77; }
    float *a = resize_u8(src, 1, 1, 8, 0, 0, 8, 1, 1, 4, 0);
    CHECK_CLOSE(a[0], 12.5 / 1.75, 1e-5, 1e-4);
    CHECK_CLOSE(a[1], 25.0, 1e-5, 1e-4);
    float *f = resize_u8(flat, 1, 1, 8, 0, 0, 8, 1, 1, 4, 0);
    for (int i = 0; i < 4; i++) CHECK_CLOSE(f[i], 77, 0, 1e-3);
    free(a); free(f);
}

/* Reference resampling weights, written from the PIL/torchvision definition: output o samples
 * in0 + (o + .5) * scale; input pixel j (centre j + .5) weighs tri((j + .5 - centre) / max(scale, 1)),
 * normalised over the pixels inside the image. */
static void ref_weights(double *w, int in, double in0, double len, int out)
{
    double scale = len / out, fs = scale > 1 ? scale : 1;
    for (int o = 0; o < out; o++) {
        double c = in0 + (o + 0.5) * scale, sum = 0;
        for (int j = 0; j < in; j++) {
            double d = fabs((j + 0.5 - c) / fs);
            w[o * in + j] = d < 1 ? 1 - d : 0;
            sum += w[o * in + j];
        }
        for (int j = 0; j < in; j++) w[o * in + j] /= sum;
    }
}

TEST(resize_matches_reference_both_orders)
{
    /* shrinking (vertical pass first) and enlarging (horizontal first), odd boxes, 2 channels */
    enum { C = 2, H = 40, W = 37 };
    uint8_t src[C * H * W];
    for (int i = 0; i < C * H * W; i++) src[i] = (uint8_t)((i * 2654435761u) >> 24);
    const double boxes[3][4] = {{1.5, 2.0, 33.0, 37.5}, {10.0, 12.0, 7.0, 5.0}, {0, 0, W, H}};
    const int outs[3][2] = {{9, 11}, {16, 13}, {12, 12}};
    for (int b = 0; b < 3; b++) {
        int oh = outs[b][0], ow = outs[b][1];
        double *wy = malloc(sizeof(double) * oh * H), *wx = malloc(sizeof(double) * ow * W);
        ref_weights(wy, H, boxes[b][1], boxes[b][3], oh);
        ref_weights(wx, W, boxes[b][0], boxes[b][2], ow);
        for (int flip = 0; flip < 2; flip++) {
            float *got = resize_u8(src, C, H, W, boxes[b][0], boxes[b][1], boxes[b][2], boxes[b][3], oh, ow, flip);
            double maxerr = 0;
            for (int c = 0; c < C; c++)
                for (int y = 0; y < oh; y++)
                    for (int x = 0; x < ow; x++) {
                        double v = 0;
                        int xs = flip ? ow - 1 - x : x;
                        for (int i = 0; i < H; i++)
                            for (int j = 0; j < W; j++) v += wy[y * H + i] * wx[xs * W + j] * src[(c * H + i) * W + j];
                        double e = fabs(v - got[(c * oh + y) * ow + x]);
                        if (e > maxerr) maxerr = e;
                    }
            CHECK_MSG(maxerr < 2e-3, "box %d flip %d: max error %g", b, flip, maxerr);
            free(got);
        }
        free(wy); free(wx);
    }
}

TEST(grayscale_weights)
{
    float x[3] = {100, 50, 200};
    gsg_aug_grayscale(x, 3, 1);
    for (int c = 0; c < 3; c++) CHECK_CLOSE(x[c], 82.05, 0, 1e-3);   /* .299*100 + .587*50 + .114*200 */
}

TEST(hue_rotates_primaries)
{
    /* planar [3, 4]: red, green, blue, grey */
    float x[12] = {255, 0, 0, 90, 0, 255, 0, 90, 0, 0, 255, 90};
    gsg_aug_hue(x, 3, 4, 1.0f / 3.0f);   /* red -> green -> blue -> red; grey unchanged */
    float want[12] = {0, 0, 255, 90, 255, 0, 0, 90, 0, 255, 0, 90};
    for (int i = 0; i < 12; i++) CHECK_CLOSE(x[i], want[i], 0, 1e-2);
    float y[3] = {255, 0, 0};
    gsg_aug_hue(y, 3, 1, 0.5f);          /* red -> cyan */
    CHECK_CLOSE(y[0], 0, 0, 1e-2); CHECK_CLOSE(y[1], 255, 0, 1e-2); CHECK_CLOSE(y[2], 255, 0, 1e-2);
    float z[3] = {200, 100, 50};
    gsg_aug_hue(z, 3, 1, -0.25f);
    gsg_aug_hue(z, 3, 1, 0.25f);         /* a rotation and back */
    CHECK_CLOSE(z[0], 200, 0, 1e-2); CHECK_CLOSE(z[1], 100, 0, 1e-2); CHECK_CLOSE(z[2], 50, 0, 1e-2);
}

TEST(brightness_contrast_saturation)
{
    float b[3] = {100, 200, 0};
    gsg_aug_brightness(b, 1, 3, 1.5f);
    CHECK_CLOSE(b[0], 150, 0, 1e-4); CHECK_CLOSE(b[1], 255, 0, 1e-4); CHECK_CLOSE(b[2], 0, 0, 1e-4);
    float c[2] = {0, 200};                   /* mean 100; factor .5 -> 50, 150 */
    gsg_aug_contrast(c, 1, 2, 0.5f);
    CHECK_CLOSE(c[0], 50, 0, 1e-4); CHECK_CLOSE(c[1], 150, 0, 1e-4);
    float s[3] = {100, 50, 200}, s1[3] = {100, 50, 200};
    gsg_aug_saturation(s, 3, 1, 0.0f);        /* saturation 0 = grey */
    for (int k = 0; k < 3; k++) CHECK_CLOSE(s[k], 82.05, 0, 1e-3);
    gsg_aug_saturation(s1, 3, 1, 1.0f);       /* 1 = identity */
    CHECK_CLOSE(s1[0], 100, 0, 1e-4); CHECK_CLOSE(s1[1], 50, 0, 1e-4); CHECK_CLOSE(s1[2], 200, 0, 1e-4);
    float s2[3] = {100, 50, 200};             /* factor 2: 2x - grey, clamped */
    gsg_aug_saturation(s2, 3, 1, 2.0f);
    CHECK_CLOSE(s2[0], 117.95, 0, 1e-3); CHECK_CLOSE(s2[1], 17.95, 0, 1e-3); CHECK_CLOSE(s2[2], 255, 0, 1e-3);
}

TEST(solarize_and_quantize)
{
    float x[4] = {100, 200, 128, 127.5f};
    gsg_aug_solarize(x, 1, 4, 128);
    CHECK_CLOSE(x[0], 100, 0, 0); CHECK_CLOSE(x[1], 55, 0, 0); CHECK_CLOSE(x[2], 127, 0, 0); CHECK_CLOSE(x[3], 127.5, 0, 0);
    float q[6] = {1.49f, 1.5f, -3, 300, 254.6f, 0.2f};
    uint8_t u[6];
    gsg_aug_quantize(u, q, 6);
    CHECK_EQ_I64(u[0], 1); CHECK_EQ_I64(u[1], 2); CHECK_EQ_I64(u[2], 0); CHECK_EQ_I64(u[3], 255); CHECK_EQ_I64(u[4], 255); CHECK_EQ_I64(u[5], 0);
}

TEST(blur_kernel)
{
    enum { H = 9, W = 11 };
    float x[H * W], tmp[H * W + W + 2 * 257 + 16];
    for (int i = 0; i < H * W; i++) x[i] = 0;
    x[4 * W + 5] = 1000;                 /* impulse in the middle */
    gsg_aug_blur(x, 1, H, W, 5, 1.0f, tmp);
    double sum = 0;
    for (int i = 0; i < H * W; i++) sum += x[i];
    CHECK_CLOSE(sum, 1000, 1e-5, 1e-3);   /* fully inside: mass kept */
    /* separable Gaussian, k=5, sigma 1: 1-D weights e^{-t^2/2} / sum, t = -2..2 */
    double w1 = exp(-0.5), w2 = exp(-2.0), z = 1 + 2 * w1 + 2 * w2;
    CHECK_CLOSE(x[4 * W + 5], 1000 / (z * z), 1e-5, 1e-3);
    CHECK_CLOSE(x[4 * W + 6], 1000 * w1 / (z * z), 1e-5, 1e-3);
    CHECK_CLOSE(x[3 * W + 5], 1000 * w1 / (z * z), 1e-5, 1e-3);
    CHECK_CLOSE(x[2 * W + 7], 1000 * w2 * w2 / (z * z), 1e-4, 1e-3);
    CHECK_CLOSE(x[4 * W + 8], 0, 0, 1e-6);
    float f[H * W];
    for (int i = 0; i < H * W; i++) f[i] = 42;
    gsg_aug_blur(f, 1, H, W, 7, 2.0f, tmp);   /* reflect padding keeps a flat image flat */
    for (int i = 0; i < H * W; i++) CHECK_CLOSE(f[i], 42, 1e-5, 1e-3);
    /* reflect (not replicate) at the border: row [0, 100, 0...], k=3: x[0] = w0*x[1] + w1*x[0] + w0*x[1] */
    float r[5] = {0, 100, 0, 0, 0}, t3[5 + 5 + 2 * 257 + 16];
    gsg_aug_blur(r, 1, 1, 5, 3, 1.0f, t3);
    double a = exp(-0.5), zz = 1 + 2 * a;
    CHECK_CLOSE(r[0], 2 * a * 100 / zz, 1e-5, 1e-3);
}

TEST(crop_parameters_statistics)
{
    const int N = 20000, H = 1000, W = 1000;
    double sum_s = 0, sum_lr = 0, sum_pos = 0;
    int pos_n = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        struct gsg_rng rng;
        gsg_aug_rng(&rng, 5, 0, i, 0);
        int x, y, w, h;
        gsg_aug_sample_crop(&x, &y, &w, &h, H, W, 0.2f, 1.0f, 0.75f, 4.0f / 3.0f, &rng);
        if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > W || y + h > H) bad++;
        double s = (double)w * h / ((double)H * W), lr = log((double)w / h);
        if (s < 0.2 - 0.003 || s > 1.0 || lr < log(0.75) - 0.003 || lr > log(4.0 / 3.0) + 0.003) bad++;
        sum_s += s; sum_lr += lr;
        if (W - w > 0) { sum_pos += (double)x / (W - w); pos_n++; }
    }
    CHECK_EQ_I64(bad, 0);
    /* accepted area fraction of the first try with s*r <= 1 and s/r <= 1 (s ~ U(.2,1), log r ~ U):
     * 0.5385 by integration (independent numpy simulation); the spread is ~0.21/sqrt(N) = 0.0015 */
    CHECK_CLOSE(sum_s / N, 0.5385, 0, 0.006);
    CHECK_CLOSE(sum_lr / N, 0.0, 0, 0.005);         /* log aspect is symmetric, sd 0.158 */
    CHECK_CLOSE(sum_pos / pos_n, 0.5, 0, 0.01);     /* offsets uniform over the free range */
}

TEST(view_parameter_rates)
{
    const struct gsg_aug_recipe *r = gsg_aug_recipe_find("imagenet");
    const int N = 20000;
    int flips = 0, jit = 0, gray = 0, blur = 0, first[4] = {0};
    double bmin = 9, bmax = -9, bsum = 0, hmin = 9, hmax = -9, smin = 9, smax = -9;
    for (int i = 0; i < N; i++) {
        struct gsg_rng rng;
        struct gsg_aug_params p;
        gsg_aug_rng(&rng, 11, 3, i, i % 4);
        gsg_aug_sample(&p, r, 375, 500, &rng);
        flips += p.flip; jit += p.jitter; gray += p.gray; blur += p.blur;
        first[p.order[0]]++;
        if (p.bright < bmin) bmin = p.bright;
        if (p.bright > bmax) bmax = p.bright;
        bsum += p.bright;
        if (p.hue < hmin) hmin = p.hue;
        if (p.hue > hmax) hmax = p.hue;
        if (p.sigma < smin) smin = p.sigma;
        if (p.sigma > smax) smax = p.sigma;
    }
    /* binomial: 4 standard deviations */
    CHECK_CLOSE(flips / (double)N, 0.5, 0, 4 * sqrt(0.25 / N));
    CHECK_CLOSE(jit / (double)N, 0.8, 0, 4 * sqrt(0.16 / N));
    CHECK_CLOSE(gray / (double)N, 0.2, 0, 4 * sqrt(0.16 / N));
    CHECK_CLOSE(blur / (double)N, 0.5, 0, 4 * sqrt(0.25 / N));
    for (int k = 0; k < 4; k++) CHECK_CLOSE(first[k] / (double)N, 0.25, 0, 4 * sqrt(0.1875 / N));
    CHECK(bmin >= 0.6 && bmin < 0.61 && bmax <= 1.4 && bmax > 1.39);
    CHECK_CLOSE(bsum / N, 1.0, 0, 4 * 0.8 / sqrt(12.0 * N));
    CHECK(hmin >= -0.1 && hmin < -0.099 && hmax <= 0.1 && hmax > 0.099);
    CHECK(smin >= 0.1 && smax <= 2.0);
}

TEST(recipes)
{
    const struct gsg_aug_recipe *c = gsg_aug_recipe_find("cifar"), *f = gsg_aug_recipe_find("fmnist"),
                                *i = gsg_aug_recipe_find("imagenet");
    CHECK(c && f && i && !gsg_aug_recipe_find("mnist"));
    CHECK_EQ_I64(c->size, 32); CHECK_EQ_I64(c->channels, 3);
    CHECK_CLOSE(c->jitter_p, 0.8, 0, 1e-7); CHECK_CLOSE(c->hue, 0.1, 0, 1e-7); CHECK_CLOSE(c->gray_p, 0.2, 0, 1e-7);
    CHECK_CLOSE(c->blur_p, 0, 0, 0);
    CHECK_EQ_I64(f->size, 28); CHECK_EQ_I64(f->channels, 1);
    CHECK_CLOSE(f->mean[0], 0.2860, 0, 1e-7); CHECK_CLOSE(f->std[0], 0.3530, 0, 1e-7);
    CHECK_CLOSE(f->saturation, 0, 0, 0); CHECK_CLOSE(f->brightness, 0.4, 0, 1e-7);
    CHECK_EQ_I64(i->size, 224); CHECK_EQ_I64(gsg_aug_recipe_blur_kernel(i), 23); CHECK_CLOSE(i->blur_p, 0.5, 0, 1e-7);
    struct gsg_aug_recipe i112 = gsg_aug_recipe_resized(i, 112);
    CHECK_EQ_I64(i112.size, 112); CHECK_EQ_I64(i112.eval_resize, 128); CHECK_EQ_I64(gsg_aug_recipe_blur_kernel(&i112), 11);
    CHECK_EQ_I64(gsg_aug_recipe_blur_kernel(c), 3);
}

TEST(plain_resize_centre_crop)
{
    /* imagenet --size 8: shorter side to 9 (256*8/224 = 9), then centre 8x8.
     * A 18 x 12 image (W x H) of columns 10 x: resized 13 x 9, crop left = round(2.5) = 2 (banker's) */
    struct gsg_aug_recipe r = gsg_aug_recipe_resized(gsg_aug_recipe_find("imagenet"), 8);
    CHECK_EQ_I64(r.eval_resize, 9);
    uint8_t *src = malloc(3 * 12 * 18);
    for (int c = 0; c < 3; c++) for (int y = 0; y < 12; y++) for (int x = 0; x < 18; x++) src[(c * 12 + y) * 18 + x] = 50;
    struct gsg_image img = {src, 3, 12, 18, 12, 18};
    struct gsg_aug_scratch s = {0};
    uint8_t out[3 * 64];
    CHECK_OK(gsg_aug_plain(out, &img, &r, &s));
    for (int k = 0; k < 3 * 64; k++) CHECK_EQ_I64(out[k], 50);
    /* same-size fmnist image: the identity */
    const struct gsg_aug_recipe *f = gsg_aug_recipe_find("fmnist");
    uint8_t g[28 * 28], go[28 * 28];
    for (int k = 0; k < 28 * 28; k++) g[k] = (uint8_t)(k * 7);
    struct gsg_image gi = {g, 1, 28, 28, 28, 28};
    CHECK_OK(gsg_aug_plain(go, &gi, f, &s));
    CHECK(memcmp(g, go, sizeof g) == 0);
    gsg_aug_scratch_free(&s);
    free(src);
}

TEST(views_deterministic_across_threads)
{
    enum { N = 24, V = 4 };
    struct gsg_dataset ds = {0};
    ds.format = GSG_DATA_CIFAR10; ds.n = N; ds.c = 3; ds.h = 32; ds.w = 32;
    ds.images = malloc((size_t)N * 3072);
    ds.labels = malloc(N * sizeof(int64_t));
    for (int64_t i = 0; i < N * 3072; i++) ds.images[i] = (uint8_t)((i * 2654435761u) >> 13);
    for (int i = 0; i < N; i++) ds.labels[i] = i % 10;
    const struct gsg_aug_recipe *r = gsg_aug_recipe_find("cifar");
    size_t item = (size_t)V * 3072;
    uint8_t *a = malloc(item * N), *b = malloc(item * N), *c = malloc(item * 2);
    int64_t idx[N], lab[N], rev[2];
    for (int i = 0; i < N; i++) idx[i] = i;
    struct gsg_aug_batcher b1, b2;
    CHECK_OK(gsg_aug_batcher_init(&b1, &ds, r, V, 9, 0, 0, 1));
    CHECK_OK(gsg_aug_batcher_init(&b2, &ds, r, V, 9, 0, 0, 2));
    CHECK_OK(gsg_aug_batch(&b1, a, lab, idx, N, 2));
    CHECK_OK(gsg_aug_batch(&b2, b, lab, idx, N, 2));
    CHECK(memcmp(a, b, item * N) == 0);
    for (int i = 0; i < N; i++) CHECK_EQ_I64(lab[i], i % 10);
    /* image 17's views do not depend on its batch mates or position */
    rev[0] = 17; rev[1] = 3;
    CHECK_OK(gsg_aug_batch(&b2, c, lab, rev, 2, 2));
    CHECK(memcmp(c, a + 17 * item, item) == 0);
    CHECK(memcmp(c + item, a + 3 * item, item) == 0);
    /* another epoch or seed gives other views; the views of one image differ */
    CHECK_OK(gsg_aug_batch(&b2, b, lab, idx, N, 3));
    CHECK(memcmp(a, b, item * N) != 0);
    CHECK(memcmp(a, a + 3072, 3072) != 0);
    gsg_aug_batcher_free(&b1); gsg_aug_batcher_free(&b2);
    int64_t p1[100], p2[100];
    gsg_aug_shuffle(p1, 100, 1, 0);
    gsg_aug_shuffle(p2, 100, 1, 1);
    int same = 1, seen[100] = {0};
    for (int i = 0; i < 100; i++) { same &= p1[i] == p2[i]; seen[p1[i]]++; }
    CHECK(!same);
    for (int i = 0; i < 100; i++) CHECK_EQ_I64(seen[i], 1);
    free(a); free(b); free(c);
    free(ds.images); free(ds.labels);
}

int main(void)
{
    RUN(resize_identity_and_flip);
    RUN(resize_crop_of_ramp);
    RUN(resize_antialias_shrink);
    RUN(resize_matches_reference_both_orders);
    RUN(grayscale_weights);
    RUN(hue_rotates_primaries);
    RUN(brightness_contrast_saturation);
    RUN(solarize_and_quantize);
    RUN(blur_kernel);
    RUN(crop_parameters_statistics);
    RUN(view_parameter_rates);
    RUN(recipes);
    RUN(plain_resize_centre_crop);
    RUN(views_deterministic_across_threads);
    return check_summary();
}
