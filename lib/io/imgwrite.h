/* imgwrite.h: write u8 images as PNG (libpng) or JPEG (TurboJPEG), and lay out
 * u8 image tensors [N,C,H,W] or [N,V,C,H,W] as one contact sheet. */
#ifndef GSG_IMGWRITE_H
#define GSG_IMGWRITE_H
#include <stdint.h>
#include <stdio.h>
#include "../tensor/tensor.h"

enum gsg_img_format { GSG_IMG_PNG = 1, GSG_IMG_JPEG = 2 };

/* An interleaved 8-bit image: pix is (H, W, channels) row-major, channels 1 (gray) or 3 (RGB). */
struct gsg_image {
    uint8_t *pix;
    int w, h, channels;
};

/* GSG_IMG_PNG / GSG_IMG_JPEG from "png", "jpeg" or "jpg"; 0 if unknown. */
enum gsg_img_format gsg_img_format_from_name(const char *s);
/* The format a path's extension names (.png, .jpg, .jpeg); 0 if none. */
enum gsg_img_format gsg_img_format_from_path(const char *path);

/* Encode img to f (label names it in messages). quality 1..100 is used for JPEG only. */
gsg_status gsg_img_write(FILE *f, const char *label, const struct gsg_image *img, enum gsg_img_format fmt, int quality);
/* Atomic file output ("-" = stdout). */
gsg_status gsg_img_save(const char *path, const struct gsg_image *img, enum gsg_img_format fmt, int quality);

/* Contact sheet geometry: cells of V views side by side (each H x W), `cols` cells per
 * row, `rows` rows, `gap` pixels of value `gap_value` between views and cells. */
struct gsg_sheet {
    struct gsg_image img;
    int views, cols, rows, gap, cell_h, cell_w;
};
/* Allocate a sheet for `rows` x `cols` cells of V views of C x H x W (C = 1 or 3). */
gsg_status gsg_sheet_init(struct gsg_sheet *s, int rows, int cols, int views, int channels, int h, int w,
                          int gap, uint8_t gap_value);
/* Paste image n of t (u8 [N,C,H,W] or [N,V,C,H,W], planar channels) into cell number `cell`. */
gsg_status gsg_sheet_put(struct gsg_sheet *s, int cell, const struct gsg_tensor *t, int64_t n);
void gsg_sheet_free(struct gsg_sheet *s);

#endif
