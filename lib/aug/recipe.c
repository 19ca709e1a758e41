#include "recipe.h"
#include <string.h>

static const struct gsg_aug_recipe recipes[] = {
    {   /* SimSiam's CIFAR recipe */
        .name = "cifar", .dataset = "CIFAR-10/100", .channels = 3, .size = 32,
        .scale_lo = 0.2f, .scale_hi = 1.0f, .ratio_lo = 3.0f / 4.0f, .ratio_hi = 4.0f / 3.0f,
        .flip_p = 0.5f,
        .jitter_p = 0.8f, .brightness = 0.4f, .contrast = 0.4f, .saturation = 0.4f, .hue = 0.1f,
        .gray_p = 0.2f,
        .blur_p = 0.0f, .blur_sigma_lo = 0.1f, .blur_sigma_hi = 2.0f, .blur_kernel = 0,
        .solarize_p = 0.0f, .solarize_threshold = 128,
        .eval_resize = 0,
        .mean = {0.4914f, 0.4822f, 0.4465f}, .std = {0.2023f, 0.1994f, 0.2010f},
    },
    {   /* the CPU-feasible default: Fashion-MNIST */
        .name = "fmnist", .dataset = "Fashion-MNIST", .channels = 1, .size = 28,
        .scale_lo = 0.2f, .scale_hi = 1.0f, .ratio_lo = 3.0f / 4.0f, .ratio_hi = 4.0f / 3.0f,
        .flip_p = 0.5f,
        .jitter_p = 0.8f, .brightness = 0.4f, .contrast = 0.4f, .saturation = 0.0f, .hue = 0.0f,
        .gray_p = 0.0f,
        .blur_p = 0.0f, .blur_sigma_lo = 0.1f, .blur_sigma_hi = 2.0f, .blur_kernel = 0,
        .solarize_p = 0.0f, .solarize_threshold = 128,
        .eval_resize = 0,
        .mean = {0.2860f, 0.2860f, 0.2860f}, .std = {0.3530f, 0.3530f, 0.3530f},
    },
    {   /* the authors' ImageNet recipe (SimSiam/GSG public code) */
        .name = "imagenet", .dataset = "ImageNet (folder of JPEGs)", .channels = 3, .size = 224,
        .scale_lo = 0.2f, .scale_hi = 1.0f, .ratio_lo = 3.0f / 4.0f, .ratio_hi = 4.0f / 3.0f,
        .flip_p = 0.5f,
        .jitter_p = 0.8f, .brightness = 0.4f, .contrast = 0.4f, .saturation = 0.4f, .hue = 0.1f,
        .gray_p = 0.2f,
        .blur_p = 0.5f, .blur_sigma_lo = 0.1f, .blur_sigma_hi = 2.0f, .blur_kernel = 23,
        .solarize_p = 0.0f, .solarize_threshold = 128,
        .eval_resize = 256,
        .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f},
    },
};

const struct gsg_aug_recipe *gsg_aug_recipe_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++)
        if (strcmp(recipes[i].name, name) == 0) return &recipes[i];
    return NULL;
}

const char *gsg_aug_recipe_names(void) { return "cifar|fmnist|imagenet"; }

int gsg_aug_recipe_blur_kernel(const struct gsg_aug_recipe *r)
{
    int k = r->blur_kernel;
    if (k <= 0) k = (int)(0.1 * r->size);
    if (k % 2 == 0) k++;
    if (k < 3) k = 3;
    return k;
}

struct gsg_aug_recipe gsg_aug_recipe_resized(const struct gsg_aug_recipe *r, int size)
{
    struct gsg_aug_recipe o = *r;
    if (size <= 0 || size == r->size) return o;
    if (r->eval_resize > 0) o.eval_resize = (int)((long long)r->eval_resize * size / r->size);
    if (r->blur_kernel > 0) {
        int k = (int)((long long)r->blur_kernel * size / r->size);
        if (k % 2 == 0) k++;
        o.blur_kernel = k < 3 ? 3 : k;
    }
    o.size = size;
    return o;
}
