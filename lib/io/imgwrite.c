/* imgwrite.c: PNG via libpng, JPEG via TurboJPEG, contact sheets. */
#define _GNU_SOURCE
#include "imgwrite.h"
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include "../core/afile.h"

enum gsg_img_format gsg_img_format_from_name(const char *s)
{
    if (strcmp(s, "png") == 0) return GSG_IMG_PNG;
    if (strcmp(s, "jpeg") == 0 || strcmp(s, "jpg") == 0) return GSG_IMG_JPEG;
    return 0;
}

enum gsg_img_format gsg_img_format_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return 0;
    if (strcasecmp(dot, ".png") == 0) return GSG_IMG_PNG;
    if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0) return GSG_IMG_JPEG;
    return 0;
}

/* libpng reports errors through longjmp; the message is kept for the error record. */
struct png_ctx { jmp_buf jb; char msg[256]; };

static void png_err(png_structp p, png_const_charp m)
{
    struct png_ctx *c = png_get_error_ptr(p);
    snprintf(c->msg, sizeof c->msg, "%s", m);
    longjmp(c->jb, 1);
}

static void png_warn(png_structp p, png_const_charp m) { (void)p; (void)m; }

static gsg_status write_png(FILE *f, const char *label, const struct gsg_image *img)
{
    struct png_ctx ctx;
    ctx.msg[0] = 0;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_err, png_warn);
    if (!p) return gsg_err_set(GSG_E_NOMEM, "%s: out of memory (png)", label);
    png_infop info = png_create_info_struct(p);
    if (!info) { png_destroy_write_struct(&p, NULL); return gsg_err_set(GSG_E_NOMEM, "%s: out of memory (png)", label); }
    png_bytep *rows = malloc(sizeof *rows * (size_t)img->h);
    if (!rows) { png_destroy_write_struct(&p, &info); return gsg_err_set(GSG_E_NOMEM, "%s: out of memory", label); }
    if (setjmp(ctx.jb)) {
        png_destroy_write_struct(&p, &info);
        free(rows);
        return gsg_err_set(GSG_E_IO, "%s: PNG: %s", label, ctx.msg[0] ? ctx.msg : "write error");
    }
    png_init_io(p, f);
    png_set_compression_level(p, 6);
    png_set_IHDR(p, info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
                 img->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int y = 0; y < img->h; y++) rows[y] = img->pix + (size_t)y * (size_t)img->w * (size_t)img->channels;
    png_write_info(p, info);
    png_write_image(p, rows);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    free(rows);
    if (ferror(f)) return gsg_err_set(GSG_E_IO, "%s: write error: %s", label, strerror(errno ? errno : EIO));
    return GSG_OK;
}

static gsg_status write_jpeg(FILE *f, const char *label, const struct gsg_image *img, int quality)
{
    tjhandle tj = tjInitCompress();
    if (!tj) return gsg_err_set(GSG_E_NOMEM, "%s: TurboJPEG: cannot initialise", label);
    unsigned char *jbuf = NULL;
    unsigned long jsize = 0;
    int gray = img->channels == 1;
    int rc = tjCompress2(tj, img->pix, img->w, img->w * img->channels, img->h, gray ? TJPF_GRAY : TJPF_RGB,
                         &jbuf, &jsize, gray ? TJSAMP_GRAY : TJSAMP_444, quality, TJFLAG_ACCURATEDCT);
    gsg_status st = GSG_OK;
    if (rc != 0) st = gsg_err_set(GSG_E_IO, "%s: TurboJPEG: %s", label, tjGetErrorStr2(tj));
    else if (fwrite(jbuf, 1, jsize, f) != jsize)
        st = gsg_err_set(GSG_E_IO, "%s: write error: %s", label, strerror(errno ? errno : EIO));
    tjFree(jbuf);
    tjDestroy(tj);
    return st;
}

gsg_status gsg_img_write(FILE *f, const char *label, const struct gsg_image *img, enum gsg_img_format fmt, int quality)
{
    if (img->channels != 1 && img->channels != 3)
        return gsg_err_set(GSG_E_USAGE, "%s: %d channels: expected 1 or 3", label, img->channels);
    if (img->w < 1 || img->h < 1 || img->w > 65500 || img->h > 65500)
        return gsg_err_set(GSG_E_USAGE, "%s: image of %dx%d pixels: expected 1..65500 on each side", label, img->w, img->h);
    if (quality < 1 || quality > 100) return gsg_err_set(GSG_E_USAGE, "%s: JPEG quality %d: expected 1..100", label, quality);
    switch (fmt) {
    case GSG_IMG_PNG: return write_png(f, label, img);
    case GSG_IMG_JPEG: return write_jpeg(f, label, img, quality);
    }
    return gsg_err_set(GSG_E_USAGE, "%s: unknown image format", label);
}

gsg_status gsg_img_save(const char *path, const struct gsg_image *img, enum gsg_img_format fmt, int quality)
{
    struct gsg_afile *af;
    GSG_TRY(gsg_afile_open(&af, path));
    gsg_status st = gsg_img_write(af->f, strcmp(path, "-") == 0 ? "<stdout>" : path, img, fmt, quality);
    if (st < 0) { gsg_afile_abort(af); return st; }
    return gsg_afile_commit(af);
}

gsg_status gsg_sheet_init(struct gsg_sheet *s, int rows, int cols, int views, int channels, int h, int w,
                          int gap, uint8_t gap_value)
{
    memset(s, 0, sizeof *s);
    if (rows < 1 || cols < 1 || views < 1 || h < 1 || w < 1 || gap < 0)
        return gsg_err_set(GSG_E_USAGE, "contact sheet: empty geometry");
    if (channels != 1 && channels != 3)
        return gsg_err_set(GSG_E_SHAPE, "contact sheet: %d channels: expected 1 or 3", channels);
    int64_t cw = (int64_t)views * w + (int64_t)(views - 1) * gap;
    int64_t W = (int64_t)cols * cw + (int64_t)(cols + 1) * gap;
    int64_t H = (int64_t)rows * h + (int64_t)(rows + 1) * gap;
    if (W > 65500 || H > 65500)
        return gsg_err_set(GSG_E_USAGE, "contact sheet of %lldx%lld pixels: at most 65500 per side (use --rows/--max/--cols)",
                           (long long)W, (long long)H);
    size_t n = (size_t)W * (size_t)H * (size_t)channels;
    s->img.pix = malloc(n);
    if (!s->img.pix) return gsg_err_set(GSG_E_NOMEM, "contact sheet: out of memory (%zu bytes)", n);
    memset(s->img.pix, gap_value, n);
    s->img.w = (int)W;
    s->img.h = (int)H;
    s->img.channels = channels;
    s->views = views;
    s->cols = cols;
    s->rows = rows;
    s->gap = gap;
    s->cell_h = h;
    s->cell_w = w;
    return GSG_OK;
}

gsg_status gsg_sheet_put(struct gsg_sheet *s, int cell, const struct gsg_tensor *t, int64_t n)
{
    int has_views = t->ndim == 5;
    if (t->dtype != GSG_DTYPE_U8 || (t->ndim != 4 && t->ndim != 5))
        return gsg_err_set(GSG_E_SHAPE, "contact sheet: expected u8 [N,C,H,W] or [N,V,C,H,W]");
    int64_t V = has_views ? t->dims[1] : 1, C = t->dims[t->ndim - 3], H = t->dims[t->ndim - 2], W = t->dims[t->ndim - 1];
    if (C != s->img.channels || H != s->cell_h || W != s->cell_w || V < s->views || n < 0 || n >= t->dims[0])
        return gsg_err_set(GSG_E_SHAPE, "contact sheet: image shape differs from the first one");
    if (cell < 0 || cell >= s->rows * s->cols) return gsg_err_set(GSG_E_USAGE, "contact sheet: cell %d out of range", cell);
    int r = cell / s->cols, c = cell % s->cols;
    size_t plane = (size_t)H * (size_t)W, stride = (size_t)s->img.w * (size_t)C;
    const uint8_t *src = (const uint8_t *)t->data + (size_t)n * (size_t)V * (size_t)C * plane;
    size_t y0 = (size_t)s->gap + (size_t)r * (size_t)(H + s->gap);
    size_t x_cell = (size_t)s->gap + (size_t)c * ((size_t)s->views * (size_t)W + (size_t)(s->views - 1) * (size_t)s->gap + (size_t)s->gap);
    for (int v = 0; v < s->views; v++) {
        size_t x0 = x_cell + (size_t)v * (size_t)(W + s->gap);
        const uint8_t *img = src + (size_t)v * (size_t)C * plane;
        for (int64_t y = 0; y < H; y++) {
            uint8_t *dst = s->img.pix + (y0 + (size_t)y) * stride + x0 * (size_t)C;
            for (int64_t x = 0; x < W; x++)
                for (int64_t ch = 0; ch < C; ch++)
                    dst[x * C + ch] = img[(size_t)ch * plane + (size_t)y * (size_t)W + (size_t)x];
        }
    }
    return GSG_OK;
}

void gsg_sheet_free(struct gsg_sheet *s)
{
    free(s->img.pix);
    s->img.pix = NULL;
}
