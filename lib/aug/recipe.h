/* recipe.h: augmentation recipes by name (docs/algorithm.md §7): image size, channels,
 * the random augmentation parameters, the --plain (eval) resize, and the
 * normalisation mean/std that gsg-step applies to the u8 views. */
#ifndef GSG_AUG_RECIPE_H
#define GSG_AUG_RECIPE_H

struct gsg_aug_recipe {
    const char *name;            /* "cifar", "fmnist", "imagenet" */
    const char *dataset;         /* the data set it is meant for (documentation) */
    int channels;                /* 1 or 3: views have this many channels */
    int size;                    /* output side in pixels (views are size x size) */
    /* RandomResizedCrop: area fraction and aspect ratio ranges (torchvision get_params) */
    float scale_lo, scale_hi, ratio_lo, ratio_hi;
    float flip_p;                /* horizontal flip probability */
    /* ColorJitter(brightness, contrast, saturation, hue) applied with probability jitter_p,
     * the four in a random order; 0 disables one */
    float jitter_p, brightness, contrast, saturation, hue;
    float gray_p;                /* RandomGrayscale probability */
    /* GaussianBlur with probability blur_p, sigma uniform in [lo, hi]; kernel side
     * blur_kernel (odd), or 0 for about 10% of size rounded to odd (torchvision's recipes) */
    float blur_p, blur_sigma_lo, blur_sigma_hi;
    int blur_kernel;
    float solarize_p;            /* RandomSolarize probability, threshold solarize_threshold */
    int solarize_threshold;
    /* --plain: resize the shorter side to eval_resize (0: to size) then centre-crop size x size.
     * eval_resize scales with --size as eval_resize * size / recipe size. */
    int eval_resize;
    float mean[3], std[3];       /* normalisation, per channel, on [0,1] values */
};

/* The recipe called name, or NULL. */
const struct gsg_aug_recipe *gsg_aug_recipe_find(const char *name);
/* "cifar|fmnist|imagenet" (for help and error messages). */
const char *gsg_aug_recipe_names(void);
/* A copy of r for another output side: size, eval_resize and blur kernel follow. */
struct gsg_aug_recipe gsg_aug_recipe_resized(const struct gsg_aug_recipe *r, int size);
/* Blur kernel side used for output side size (odd, >= 3). */
int gsg_aug_recipe_blur_kernel(const struct gsg_aug_recipe *r);

#endif
