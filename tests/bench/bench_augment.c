/* bench_augment: views per second of the augmentation recipes, 1 and 2 threads.
 *   bench_augment DIR [--images N] [--jpegs N] [--reps R]
 * Writes the images it measures to DIR (a CIFAR-10 batch DIR/data_batch_1.bin and a
 * folder DIR/jpeg/CLASS/IMG.jpg of 500x375 photos-like JPEGs) so that
 * bench_augment_tv.py can time torchvision on the very same images, then prints
 *   cifar threads=T views_per_s=X
 *   jpeg threads=T views_per_s=X
 * Timings are for the library (decode + augment), without stream compression. */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "aug/batch.h"
#include "core/afile.h"
#include "core/tool.h"
#include "io/jpeg.h"

/* A smooth, photo-like test image: a few random blobs and gradients plus mild noise. */
static void synth(uint8_t *hwc, int w, int h, struct gsg_rng *rng)
{
    float cx[6], cy[6], rad[6], col[6][3], base[3], gx[3], gy[3];
    for (int k = 0; k < 3; k++) { base[k] = 40 + 120 * gsg_rng_uniform(rng); gx[k] = 60 * (gsg_rng_uniform(rng) - 0.5f); gy[k] = 60 * (gsg_rng_uniform(rng) - 0.5f); }
    for (int b = 0; b < 6; b++) {
        cx[b] = gsg_rng_uniform(rng) * w; cy[b] = gsg_rng_uniform(rng) * h;
        rad[b] = (0.05f + 0.3f * gsg_rng_uniform(rng)) * (w < h ? w : h);
        for (int k = 0; k < 3; k++) col[b][k] = 200 * (gsg_rng_uniform(rng) - 0.4f);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float v[3];
            for (int k = 0; k < 3; k++) v[k] = base[k] + gx[k] * x / w + gy[k] * y / h;
            for (int b = 0; b < 6; b++) {
                float dx = (x - cx[b]) / rad[b], dy = (y - cy[b]) / rad[b], e = expf(-(dx * dx + dy * dy));
                for (int k = 0; k < 3; k++) v[k] += col[b][k] * e;
            }
            float nz = 8 * (gsg_rng_uniform(rng) - 0.5f);
            for (int k = 0; k < 3; k++) {
                float t = v[k] + nz;
                hwc[((size_t)y * w + x) * 3 + k] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
            }
        }
}

static double run(struct gsg_dataset *ds, const struct gsg_aug_recipe *r, int views, int threads, int64_t n, int reps)
{
    struct gsg_aug_batcher b;
    if (gsg_aug_batcher_init(&b, ds, r, views, 1, 0, 0, threads) < 0) { fprintf(stderr, "bench_augment: %s\n", gsg_err_msg()); exit(1); }
    int64_t B = n < 256 ? n : 256;
    uint8_t *out = malloc(gsg_aug_batcher_item_bytes(&b) * (size_t)B);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)B), *lab = malloc(sizeof(int64_t) * (size_t)B);
    double best = 0;
    for (int rep = 0; rep <= reps; rep++) {      /* rep 0 warms up */
        double t0 = gsg_now();
        for (int64_t s = 0; s + B <= n; s += B) {
            for (int64_t i = 0; i < B; i++) idx[i] = s + i;
            if (gsg_aug_batch(&b, out, lab, idx, B, (uint64_t)rep) < 0) { fprintf(stderr, "bench_augment: %s\n", gsg_err_msg()); exit(1); }
        }
        double rate = (double)(n / B * B) * views / (gsg_now() - t0);
        if (rep > 0 && rate > best) best = rate;
    }
    free(out); free(idx); free(lab);
    gsg_aug_batcher_free(&b);
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        printf("Usage: bench_augment DIR [--images N] [--jpegs N] [--reps R]\n");
        return argc < 2 ? 2 : 0;
    }
    const char *dir = argv[1];
    int64_t nimg = 8192, njpg = 96;
    int reps = 3;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--images") == 0) nimg = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--jpegs") == 0) njpg = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--reps") == 0) reps = atoi(argv[i + 1]);
        else { fprintf(stderr, "bench_augment: unknown option '%s'\n", argv[i]); return 2; }
    }
    mkdir(dir, 0755);
    struct gsg_rng rng;
    gsg_rng_init(&rng, 7, gsg_rng_stream(GSG_RNG_TEST, 1, 0, 0));
    /* CIFAR-10 batch of synthetic 32x32 images */
    size_t rec = 3073;
    uint8_t *bin = malloc(rec * (size_t)nimg), hwc[32 * 32 * 3];
    for (int64_t i = 0; i < nimg; i++) {
        synth(hwc, 32, 32, &rng);
        uint8_t *r = bin + (size_t)i * rec;
        r[0] = (uint8_t)(i % 10);
        for (int p = 0; p < 1024; p++) for (int k = 0; k < 3; k++) r[1 + k * 1024 + p] = hwc[p * 3 + k];
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/data_batch_1.bin", dir);
    if (gsg_afile_write_all(path, bin, rec * (size_t)nimg) < 0) { fprintf(stderr, "bench_augment: %s\n", gsg_err_msg()); return 1; }
    free(bin);
    /* JPEG folder: 2 classes of 500x375 images */
    uint8_t *big = malloc(500 * 375 * 3);
    for (int64_t i = 0; i < njpg; i++) {
        snprintf(path, sizeof path, "%s/jpeg/c%lld", dir, (long long)(i % 2));
        char tmp[8192];
        snprintf(tmp, sizeof tmp, "%s/jpeg", dir); mkdir(tmp, 0755); mkdir(path, 0755);
        snprintf(tmp, sizeof tmp, "%s/img%04lld.jpg", path, (long long)i);
        synth(big, 500, 375, &rng);
        if (gsg_jpeg_write(tmp, big, 500, 375, 3, 90) < 0) { fprintf(stderr, "bench_augment: %s\n", gsg_err_msg()); return 1; }
    }
    free(big);

    struct gsg_dataset ds;
    struct gsg_dataset_opts o = {.path = dir, .format = GSG_DATA_CIFAR10};
    if (gsg_dataset_open(&ds, &o) < 0) { fprintf(stderr, "bench_augment: %s\n", gsg_err_msg()); return 1; }
    const struct gsg_aug_recipe *cifar = gsg_aug_recipe_find("cifar");
    for (int t = 1; t <= 2; t++) printf("cifar threads=%d views_per_s=%.0f\n", t, run(&ds, cifar, 2, t, ds.n, reps));
    fflush(stdout);
    gsg_dataset_free(&ds);
    snprintf(path, sizeof path, "%s/jpeg", dir);
    struct gsg_dataset_opts oj = {.path = path, .format = GSG_DATA_JPEG};
    if (gsg_dataset_open(&ds, &oj) < 0) { fprintf(stderr, "bench_augment: %s\n", gsg_err_msg()); return 1; }
    const struct gsg_aug_recipe *inet = gsg_aug_recipe_find("imagenet");
    for (int t = 1; t <= 2; t++) printf("jpeg threads=%d views_per_s=%.0f\n", t, run(&ds, inet, 2, t, ds.n, reps > 2 ? 2 : reps));
    gsg_dataset_free(&ds);
    return 0;
}
