#include "jpeg.h"
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include "core/afile.h"
#include "core/limits.h"

gsg_status gsg_jpeg_init(struct gsg_jpeg *j)
{
    memset(j, 0, sizeof *j);
    GSG_TRY(gsg_limit_get("GSG_MAX_PIXELS", GSG_MAX_PIXELS_DEFAULT, &j->max_pixels));
    j->tj = tjInitDecompress();
    if (!j->tj) return gsg_err_set(GSG_E_NOMEM, "jpeg: cannot create a TurboJPEG decompressor: %s", tjGetErrorStr2(NULL));
    return GSG_OK;
}

void gsg_jpeg_free(struct gsg_jpeg *j)
{
    if (j->tj) tjDestroy(j->tj);
    free(j->file); free(j->pix); free(j->out);
    memset(j, 0, sizeof *j);
}

/* After a failed call, TurboJPEG 2.x leaves the handle in a state where later calls can fail
 * too: replace it, so that one bad file never spoils the good ones after it. */
static void tj_reset(struct gsg_jpeg *j)
{
    if (j->tj) tjDestroy(j->tj);
    j->tj = tjInitDecompress();
    j->resets++;
}

static gsg_status grow(uint8_t **p, size_t *cap, size_t n)
{
    if (n <= *cap) return GSG_OK;
    free(*p);
    *p = malloc(n);
    if (!*p) { *cap = 0; return gsg_err_set(GSG_E_NOMEM, "jpeg: out of memory for %zu bytes", n); }
    *cap = n;
    return GSG_OK;
}

static gsg_status load(struct gsg_jpeg *j, const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return gsg_err_set(GSG_E_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) { fclose(f); return gsg_err_set(GSG_E_IO, "%s: not a regular file", path); }
    size_t size = (size_t)sb.st_size;
    if (size == 0) { fclose(f); return gsg_err_set(GSG_E_FORMAT, "%s: empty file, expected a JPEG or PNG image", path); }
    gsg_status st = grow(&j->file, &j->file_cap, size);
    if (st < 0) { fclose(f); return st; }
    size_t got = fread(j->file, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (got != size) return gsg_err_set(GSG_E_IO, "%s: read %zu of %zu bytes%s%s", path, got, size, err ? ": " : "", err ? strerror(errno) : "");
    *n = size;
    return GSG_OK;
}

static gsg_status check_pixels(const struct gsg_jpeg *j, const char *path, const char *kind, int w, int h)
{
    uint64_t px = (uint64_t)w * (uint64_t)h;
    if (px > j->max_pixels)
        return gsg_err_set(GSG_E_FORMAT, "%s: %s of %dx%d = %llu pixels: expected at most %llu (GSG_MAX_PIXELS)", path, kind, w, h,
                           (unsigned long long)px, (unsigned long long)j->max_pixels);
    return GSG_OK;
}

/* ---------------- PNG (libpng, from the bytes in j->file) ---------------- */
static const uint8_t PNG_SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

struct png_src { const uint8_t *p; size_t n, pos; char msg[200]; };

static void png_mem_read(png_structp png, png_bytep out, png_size_t len)
{
    struct png_src *s = png_get_io_ptr(png);
    if (len > s->n - s->pos) png_error(png, "unexpected end of file (truncated)");
    memcpy(out, s->p + s->pos, len);
    s->pos += len;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    struct png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* Header only (decode == 0), or the whole image as interleaved RGB (channels 3) or grey (1) in j->pix. */
static gsg_status png_run(struct gsg_jpeg *j, const char *path, size_t n, int decode, int channels, int *w, int *h)
{
    struct png_src src = {j->file, n, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return gsg_err_set(GSG_E_NOMEM, "%s: cannot create a PNG decoder", path);
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    volatile gsg_status st = GSG_OK;
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); return gsg_err_set(GSG_E_NOMEM, "%s: cannot create a PNG decoder", path); }
    if (setjmp(png_jmpbuf(png))) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: corrupt PNG: %s", path, src.msg[0] ? src.msg : "libpng error");
        goto done;
    }
    png_set_read_fn(png, &src, png_mem_read);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)8 << 20);   /* text/ICC chunks: at most 8 MiB each */
    png_read_info(png, info);
    png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
    if (pw < 1 || ph < 1 || pw > 0x7fffffff || ph > 0x7fffffff) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: PNG header gives an image of %ux%u", path, (unsigned)pw, (unsigned)ph);
        goto done;
    }
    *w = (int)pw; *h = (int)ph;
    if ((st = check_pixels(j, path, "PNG", *w, *h)) < 0) goto done;
    if (!decode) goto done;
    int ct = png_get_color_type(png, info);
    png_set_expand(png);                  /* palette -> RGB, grey < 8 bits -> 8 bits, tRNS -> alpha */
    png_set_strip_16(png);
    png_set_strip_alpha(png);             /* like PIL's convert('RGB'): alpha dropped, not composited */
    if (channels == 3 && (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA)) png_set_gray_to_rgb(png);
    int interlace = png_set_interlace_handling(png);
    (void)interlace;
    png_read_update_info(png, info);
    int got_ch = png_get_channels(png, info);
    if (got_ch != 1 && got_ch != 3) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: PNG decodes to %d channels, expected 1 or 3", path, got_ch);
        goto done;
    }
    size_t px = (size_t)pw * ph, row = (size_t)pw * (size_t)got_ch;
    if ((st = grow(&j->pix, &j->pix_cap, px * 3)) < 0) goto done;
    rows = malloc((size_t)ph * sizeof *rows);
    if (!rows) { st = gsg_err_set(GSG_E_NOMEM, "%s: out of memory", path); goto done; }
    for (png_uint_32 y = 0; y < ph; y++) rows[y] = j->pix + (size_t)y * row;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    j->png_channels = got_ch;
done:
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return st;
}

/* ---------------- JPEG ---------------- */
/* 1 when the JPEG has an Adobe APP14 marker (Adobe CMYK/YCCK JPEGs store inverted ink values). */
static int has_adobe_marker(const uint8_t *p, size_t n)
{
    size_t i = 2;
    while (i + 4 <= n && p[i] == 0xFF) {
        uint8_t m = p[i + 1];
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01 || m == 0xFF) { i += m == 0xFF ? 1 : 2; continue; }
        if (m == 0xDA || m == 0xD9) break;           /* start of scan / end of image */
        size_t len = ((size_t)p[i + 2] << 8) | p[i + 3];
        if (len < 2) break;
        if (m == 0xEE && len >= 7 && i + 4 + 5 <= n && memcmp(p + i + 4, "Adobe", 5) == 0) return 1;
        i += 2 + len;
    }
    return 0;
}

static gsg_status header(struct gsg_jpeg *j, const char *path, size_t n, int *w, int *h)
{
    j->kind = 0;
    if (n >= 8 && memcmp(j->file, PNG_SIG, 8) == 0) {
        j->kind = 2;
        return png_run(j, path, n, 0, 0, w, h);
    }
    int sub, cs;
    if (n < 4 || j->file[0] != 0xFF || j->file[1] != 0xD8)
        return gsg_err_set(GSG_E_FORMAT, "%s: at byte 0: expected a JPEG (FF D8) or PNG (89 50 4E 47), found %02x %02x", path,
                           n > 0 ? j->file[0] : 0, n > 1 ? j->file[1] : 0);
    if (!j->tj) tj_reset(j);
    if (!j->tj) return gsg_err_set(GSG_E_NOMEM, "jpeg: cannot create a TurboJPEG decompressor");
    if (tjDecompressHeader3(j->tj, j->file, (unsigned long)n, w, h, &sub, &cs) != 0) {
        gsg_status st = gsg_err_set(GSG_E_FORMAT, "%s: bad JPEG header: %s", path, tjGetErrorStr2(j->tj));
        tj_reset(j);
        return st;
    }
    if (*w < 1 || *h < 1) return gsg_err_set(GSG_E_FORMAT, "%s: JPEG header gives an empty image (%dx%d)", path, *w, *h);
    GSG_TRY(check_pixels(j, path, "JPEG", *w, *h));
    j->kind = 1;
    j->cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    return GSG_OK;
}

gsg_status gsg_jpeg_probe(struct gsg_jpeg *j, const char *path, int *w, int *h)
{
    size_t n;
    GSG_TRY(load(j, path, &n));
    return header(j, path, n, w, h);
}

void gsg_jpeg_scaled_size(int w, int h, int min_side, int *sw, int *sh)
{
    *sw = w; *sh = h;
    if (min_side <= 0) return;
    int nsf = 0;
    tjscalingfactor *sf = tjGetScalingFactors(&nsf);
    int best_w = w, best_h = h;
    for (int i = 0; sf && i < nsf; i++) {
        if (sf[i].num != 1 || sf[i].denom < 2) continue;           /* 1/2, 1/4, 1/8: the fast reduced IDCTs */
        int cw = TJSCALED(w, sf[i]), ch = TJSCALED(h, sf[i]);
        if ((cw < ch ? cw : ch) < min_side) continue;
        if ((int64_t)cw * ch < (int64_t)best_w * best_h) { best_w = cw; best_h = ch; }
    }
    *sw = best_w; *sh = best_h;
}

static uint8_t grey_of(unsigned r, unsigned g, unsigned b) { return (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000); }

gsg_status gsg_jpeg_decode_file(struct gsg_jpeg *j, const char *path, int channels, int min_side,
                                int *w, int *h, int *ow, int *oh)
{
    size_t n;
    GSG_TRY(load(j, path, &n));
    GSG_TRY(header(j, path, n, ow, oh));
    if (j->kind == 2) {   /* PNG: no reduced decode; full size, grey converted like the other sources */
        int pw, ph;
        GSG_TRY(png_run(j, path, n, 1, channels, &pw, &ph));
        size_t px = (size_t)pw * ph;
        GSG_TRY(grow(&j->out, &j->out_cap, px * (size_t)channels));
        const uint8_t *s = j->pix;
        if (channels == 1) {
            if (j->png_channels == 1) memcpy(j->out, s, px);
            else for (size_t i = 0; i < px; i++) j->out[i] = grey_of(s[3 * i], s[3 * i + 1], s[3 * i + 2]);
        } else {
            uint8_t *r = j->out, *g = j->out + px, *b = j->out + 2 * px;
            for (size_t i = 0; i < px; i++) { r[i] = s[3 * i]; g[i] = s[3 * i + 1]; b[i] = s[3 * i + 2]; }
        }
        *w = pw; *h = ph;
        return GSG_OK;
    }
    int sw, sh;
    gsg_jpeg_scaled_size(*ow, *oh, min_side, &sw, &sh);
    size_t px = (size_t)sw * sh;
    if (j->cmyk) {
        /* TurboJPEG decodes CMYK and YCCK JPEGs to CMYK only; RGB is made here as PIL does:
         * R = (255 - C)(255 - K) / 255 with the ink values, which Adobe files store inverted */
        GSG_TRY(grow(&j->pix, &j->pix_cap, px * 4));
        GSG_TRY(grow(&j->out, &j->out_cap, px * 3));
        if (tjDecompress2(j->tj, j->file, (unsigned long)n, j->pix, sw, 0, sh, TJPF_CMYK, 0) != 0) {
            gsg_status st = gsg_err_set(GSG_E_FORMAT, "%s: corrupt CMYK JPEG: %s", path, tjGetErrorStr2(j->tj));
            tj_reset(j);
            return st;
        }
        int inv = has_adobe_marker(j->file, n);
        const uint8_t *s = j->pix;
        uint8_t *r = j->out, *g = j->out + px, *b = j->out + 2 * px;
        for (size_t i = 0; i < px; i++) {
            unsigned c = s[4 * i], m = s[4 * i + 1], y = s[4 * i + 2], k = s[4 * i + 3];
            if (!inv) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }   /* now 255 = no ink */
            unsigned rr = (c * k + 127) / 255, gg = (m * k + 127) / 255, bb = (y * k + 127) / 255;
            if (channels == 1) j->out[i] = grey_of(rr, gg, bb);
            else { r[i] = (uint8_t)rr; g[i] = (uint8_t)gg; b[i] = (uint8_t)bb; }
        }
        *w = sw; *h = sh;
        return GSG_OK;
    }
    int pf = channels == 1 ? TJPF_GRAY : TJPF_RGB;
    if (channels == 1) {
        GSG_TRY(grow(&j->out, &j->out_cap, px));
        if (tjDecompress2(j->tj, j->file, (unsigned long)n, j->out, sw, 0, sh, pf, 0) != 0) {
            gsg_status st = gsg_err_set(GSG_E_FORMAT, "%s: corrupt JPEG: %s", path, tjGetErrorStr2(j->tj));
            tj_reset(j);
            return st;
        }
    } else {
        GSG_TRY(grow(&j->pix, &j->pix_cap, px * 3));
        GSG_TRY(grow(&j->out, &j->out_cap, px * 3));
        if (tjDecompress2(j->tj, j->file, (unsigned long)n, j->pix, sw, 0, sh, pf, 0) != 0) {
            gsg_status st = gsg_err_set(GSG_E_FORMAT, "%s: corrupt JPEG: %s", path, tjGetErrorStr2(j->tj));
            tj_reset(j);
            return st;
        }
        uint8_t *r = j->out, *g = j->out + px, *b = j->out + 2 * px;
        const uint8_t *s = j->pix;
        for (size_t i = 0; i < px; i++) { r[i] = s[3 * i]; g[i] = s[3 * i + 1]; b[i] = s[3 * i + 2]; }
    }
    *w = sw; *h = sh;
    return GSG_OK;
}

gsg_status gsg_jpeg_write(const char *path, const uint8_t *pix, int w, int h, int channels, int quality)
{
    tjhandle c = tjInitCompress();
    if (!c) return gsg_err_set(GSG_E_NOMEM, "jpeg: cannot create a TurboJPEG compressor");
    unsigned char *buf = NULL;
    unsigned long n = 0;
    int rc = tjCompress2(c, pix, w, 0, h, channels == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &n,
                         channels == 1 ? TJSAMP_GRAY : TJSAMP_420, quality, 0);
    gsg_status st = rc == 0 ? gsg_afile_write_all(path, buf, n) : gsg_err_set(GSG_E_FORMAT, "%s: JPEG encode failed: %s", path, tjGetErrorStr2(c));
    tjFree(buf);
    tjDestroy(c);
    return st;
}
