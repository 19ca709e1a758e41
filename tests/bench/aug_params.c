/* aug_params: print N random parameter sets that gsg_aug_sample draws for a recipe, one line
 * per view, as a whitespace-separated table with a header line (read by tests/bench/aug_compare.py).
 * View i is view 0 of image i in epoch 0, so the rows are independent draws.
 *   aug_params RECIPE N [SEED [H W]]   (H W: source image size, default the recipe's size) */
#include <stdio.h>
#include <stdlib.h>
#include "aug/aug.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc == 5 || argc > 6) {
        fprintf(stderr, "usage: aug_params RECIPE N [SEED [H W]]\n");
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
    if (n < 1 || H < 1 || W < 1) {
        fprintf(stderr, "aug_params: N, H and W must be positive\n");
        return 2;
    }
    printf("x y w h scale ratio flip jitter first bright contrast sat hue gray blur sigma solarize\n");
    for (long long i = 0; i < n; i++) {
        struct gsg_rng rng;
        struct gsg_aug_params p;
        gsg_aug_rng(&rng, seed, 0, i, 0);
        gsg_aug_sample(&p, r, H, W, &rng);
        printf("%d %d %d %d %.6f %.6f %d %d %d %.6f %.6f %.6f %.6f %d %d %.6f %d\n", p.crop_x, p.crop_y, p.crop_w,
               p.crop_h, (double)p.crop_w * p.crop_h / ((double)H * W), (double)p.crop_w / p.crop_h, p.flip, p.jitter,
               p.order[0], p.bright, p.contrast, p.sat, p.hue, p.gray, p.blur, p.sigma, p.solarize);
    }
    return ferror(stdout) ? 1 : 0;
}
