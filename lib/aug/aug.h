/* aug.h: image augmentations with torchvision semantics (RandomResizedCrop,
 * horizontal flip, ColorJitter, RandomGrayscale, GaussianBlur, RandomSolarize)
 * on planar images. A view is computed in float (0..255 scale) from the u8
 * source and rounded to u8 once at the end, where torchvision on PIL images
 * rounds after every op: results agree to about +-1 grey level.
 * Random parameters come from the counter-based RNG keyed by
 * (seed, epoch, image index, view): a view depends on nothing else. */
#ifndef GSG_AUG_H
#define GSG_AUG_H
#include <stddef.h>
#include <stdint.h>
#include "core/rng.h"
#include "core/status.h"
#include "aug/recipe.h"

/* A planar u8 image [C,H,W]. orig_h/orig_w: the size of the image as stored (a JPEG
 * decoded with DCT scaling is smaller); random crops are drawn in original pixels. */
struct gsg_image {
    const uint8_t *data;     /* [C,H,W] */
    int c, h, w;
    int orig_h, orig_w;
};

enum gsg_aug_color_op { GSG_AUG_BRIGHTNESS = 0, GSG_AUG_CONTRAST = 1, GSG_AUG_SATURATION = 2, GSG_AUG_HUE = 3 };

/* The random parameters of one view. */
struct gsg_aug_params {
    int crop_x, crop_y, crop_w, crop_h;   /* box in original pixels (torchvision get_params) */
    int flip;
    int jitter;                           /* colour jitter applied */
    int order[4];                         /* enum gsg_aug_color_op, in application order */
    float bright, contrast, sat, hue;     /* factors; identity is 1, 1, 1, 0 */
    int gray, blur, solarize;
    float sigma;                          /* blur sigma */
};

/* Per-thread scratch memory, grown on demand; zero-initialise, free with gsg_aug_scratch_free. */
struct gsg_aug_scratch {
    float *a, *b, *c;
    size_t cap_a, cap_b, cap_c;
};
void gsg_aug_scratch_free(struct gsg_aug_scratch *s);

/* RandomResizedCrop.get_params: 10 tries of area fraction in [scale_lo, scale_hi] and
 * log-uniform aspect ratio, else the centre crop with the ratio clamped. */
void gsg_aug_sample_crop(int *x, int *y, int *w, int *h, int H, int W, float scale_lo, float scale_hi,
                         float ratio_lo, float ratio_hi, struct gsg_rng *rng);
/* All parameters of one view for an image of H x W original pixels. */
void gsg_aug_sample(struct gsg_aug_params *p, const struct gsg_aug_recipe *r, int H, int W, struct gsg_rng *rng);
/* The RNG of view v of image index in epoch epoch. */
void gsg_aug_rng(struct gsg_rng *rng, uint64_t seed, uint64_t epoch, int64_t index, int view);

/* ---- ops (planar float, values on the 0..255 scale) ---- */
/* Resample the box (bx, by, bw, bh) of src (source pixels, fractional) to oh x ow:
 * bilinear (triangle filter), widened to antialias when shrinking (PIL / torchvision
 * antialias=True); flip mirrors the output horizontally. tmp: gsg_aug_resize_tmp floats. */
void gsg_aug_resize(float *dst, const uint8_t *src, int C, int H, int W, double bx, double by, double bw, double bh,
                    int oh, int ow, int flip, float *tmp);
size_t gsg_aug_resize_tmp(int C, int H, int W, int oh, int ow);
void gsg_aug_brightness(float *x, int C, int64_t HW, float f);   /* x * f */
void gsg_aug_contrast(float *x, int C, int64_t HW, float f);     /* blend with the mean grey level */
void gsg_aug_saturation(float *x, int C, int64_t HW, float f);   /* blend with the grey image */
void gsg_aug_hue(float *x, int C, int64_t HW, float h);          /* rotate hue by h turns, h in [-0.5, 0.5] */
void gsg_aug_grayscale(float *x, int C, int64_t HW);             /* 0.299 R + 0.587 G + 0.114 B into every channel */
void gsg_aug_solarize(float *x, int C, int64_t HW, float threshold);   /* x >= threshold -> 255 - x */
/* Gaussian blur, kernel side k (odd, <= 257), reflect padding (torchvision); tmp: gsg_aug_blur_tmp floats. */
void gsg_aug_blur(float *x, int C, int H, int W, int k, float sigma, float *tmp);
size_t gsg_aug_blur_tmp(int C, int H, int W);
/* Clamp to 0..255, round half up to u8. */
void gsg_aug_quantize(uint8_t *dst, const float *x, int64_t n);

/* One view with given parameters: dst u8 [r->channels, r->size, r->size]; img->c must equal r->channels. */
gsg_status gsg_aug_view(uint8_t *dst, const struct gsg_image *img, const struct gsg_aug_recipe *r,
                        const struct gsg_aug_params *p, struct gsg_aug_scratch *s);
/* V random views of image index: dst u8 [V, C, S, S]. */
gsg_status gsg_aug_views(uint8_t *dst, const struct gsg_image *img, const struct gsg_aug_recipe *r, int V,
                         uint64_t seed, uint64_t epoch, int64_t index, struct gsg_aug_scratch *s);
/* The deterministic eval image (--plain): shorter side to r->eval_resize then centre crop
 * r->size (eval_resize 0: the whole image resized to size x size). dst u8 [C, S, S]. */
gsg_status gsg_aug_plain(uint8_t *dst, const struct gsg_image *img, const struct gsg_aug_recipe *r,
                         struct gsg_aug_scratch *s);

#endif
