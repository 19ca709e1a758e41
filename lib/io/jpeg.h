/* jpeg.h: JPEG decoding with libjpeg-turbo (TurboJPEG API), and PNG decoding with libpng,
 * to planar u8 [C,H,W]. The format is taken from the file's first bytes, not its name.
 * CMYK and YCCK JPEGs are decoded to CMYK and converted to RGB as PIL does (Adobe files'
 * inverted ink values undone); a PNG's alpha is dropped, palettes and 16-bit samples are
 * reduced to 8-bit RGB or grey. An image of more than GSG_MAX_PIXELS pixels (core/limits.h,
 * default 2^27) is refused when its header is read, before anything is allocated for it.
 * When the image is much larger than needed, it is decoded with DCT scaling
 * (1/2, 1/4 or 1/8): the smallest scaled size whose shorter side is still at
 * least min_side, which costs a fraction of a full decode. Warnings from the
 * decoder (truncated or corrupt data) are errors: a damaged file never becomes
 * a silently grey image. */
#ifndef GSG_JPEG_H
#define GSG_JPEG_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

/* One decoder per thread. */
struct gsg_jpeg {
    void *tj;                /* tjhandle (decompressor) */
    uint8_t *file; size_t file_cap;        /* file bytes */
    uint8_t *pix; size_t pix_cap;          /* interleaved decode */
    uint8_t *out; size_t out_cap;          /* planar result */
    uint64_t max_pixels;     /* GSG_MAX_PIXELS */
    int kind;                /* of the last header: 1 JPEG, 2 PNG */
    int cmyk;                /* JPEG in CMYK or YCCK */
    int png_channels;        /* channels of the last PNG decode in pix */
    int64_t resets;          /* decoder handles replaced after a failure (tests) */
};
gsg_status gsg_jpeg_init(struct gsg_jpeg *j);
void gsg_jpeg_free(struct gsg_jpeg *j);

/* Width and height from the header of a file (reads the whole file into j->file). */
gsg_status gsg_jpeg_probe(struct gsg_jpeg *j, const char *path, int *w, int *h);
/* The scaled size that libjpeg-turbo produces for a min_side request (min_side <= 0: full size). */
void gsg_jpeg_scaled_size(int w, int h, int min_side, int *sw, int *sh);
/* Decode path to planar u8 [channels, *h, *w] in j->out (channels 1: grey, 3: RGB).
 * w, h get the decoded (possibly DCT-scaled) size; ow, oh the original size. */
gsg_status gsg_jpeg_decode_file(struct gsg_jpeg *j, const char *path, int channels, int min_side,
                                int *w, int *h, int *ow, int *oh);
/* Encode interleaved u8 [h, w, channels] (channels 1 or 3) to a JPEG file (atomic); tests and benchmarks. */
gsg_status gsg_jpeg_write(const char *path, const uint8_t *pix, int w, int h, int channels, int quality);

#endif
