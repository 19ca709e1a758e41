/* aug_params: print N random parameter sets that gsg_aug_sample draws for a recipe, one line
 * per view, as a whitespace-separated table with a header line (read by tests/bench/aug_compare.py).
 * Rows are views 0..V-1 of images 0..N-1 in epoch 0 (the draws gsg-augment makes for those images
 * in its first epoch); order: the colour ops (0 brightness, 1 contrast, 2 saturation, 3 hue) in
 * application order, as digits; view 0 of different images are independent draws.
 *   aug_params RECIPE N [SEED [H W [V]]]   (H W: source image size, default the recipe's size; V default 1) */
#include <stdio.h>
#include <stdlib.h>
#include "aug/aug.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc == 5 || argc > 7) {
        fprintf(stderr, "usage: aug_params RECIPE N [SEED [H W [V]]]\n");
        return 2;
    }
    const struct gsg_aug_recipe *r = gsg_aug_recipe_find(argv[1]);
    if (!r) {
        fprintf(stderr, "aug_params: unknown recipe '%s' (expected %s)\n", argv[1], gsg_aug_recipe_names());
        return 2;
    }
    long long n = atoll(argv[2]);
    unsigned long long seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    int H = argc > 5 ? atoi(argv[4]) : r->size, W = argc > 5 ? atoi(argv[5]) : r->size;
    int V = argc > 6 ? atoi(argv[6]) : 1;
    if (n < 1 || H < 1 || W < 1 || V < 1) {
        fprintf(stderr, "aug_params: N, H, W and V must be positive\n");
        return 2;
    }
    printf("index view x y w h scale ratio flip jitter first order bright contrast sat hue gray blur sigma solarize\n");
    for (long long i = 0; i < n * V; i++) {
        struct gsg_rng rng;
        struct gsg_aug_params p;
        gsg_aug_rng(&rng, seed, 0, i / V, (int)(i % V));
        gsg_aug_sample(&p, r, H, W, &rng);
        printf("%lld %d %d %d %d %d %.6f %.6f %d %d %d %d%d%d%d %.6f %.6f %.6f %.6f %d %d %.6f %d\n", i / V, (int)(i % V), p.crop_x, p.crop_y, p.crop_w,
               p.crop_h, (double)p.crop_w * p.crop_h / ((double)H * W), (double)p.crop_w / p.crop_h, p.flip, p.jitter,
               p.order[0], p.order[0], p.order[1], p.order[2], p.order[3], p.bright, p.contrast, p.sat, p.hue, p.gray, p.blur, p.sigma, p.solarize);
    }
    return ferror(stdout) ? 1 : 0;
}
