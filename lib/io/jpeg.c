#include "jpeg.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include "core/afile.h"

gsg_status gsg_jpeg_init(struct gsg_jpeg *j)
{
    memset(j, 0, sizeof *j);
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
    if (size == 0) { fclose(f); return gsg_err_set(GSG_E_FORMAT, "%s: empty file, expected a JPEG image", path); }
    gsg_status st = grow(&j->file, &j->file_cap, size);
    if (st < 0) { fclose(f); return st; }
    size_t got = fread(j->file, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (got != size) return gsg_err_set(GSG_E_IO, "%s: read %zu of %zu bytes%s%s", path, got, size, err ? ": " : "", err ? strerror(errno) : "");
    *n = size;
    return GSG_OK;
}

static gsg_status header(struct gsg_jpeg *j, const char *path, size_t n, int *w, int *h)
{
    int sub, cs;
    if (n < 4 || j->file[0] != 0xFF || j->file[1] != 0xD8)
        return gsg_err_set(GSG_E_FORMAT, "%s: at byte 0: expected a JPEG (FF D8), found %02x %02x", path,
                           n > 0 ? j->file[0] : 0, n > 1 ? j->file[1] : 0);
    if (tjDecompressHeader3(j->tj, j->file, (unsigned long)n, w, h, &sub, &cs) != 0)
        return gsg_err_set(GSG_E_FORMAT, "%s: bad JPEG header: %s", path, tjGetErrorStr2(j->tj));
    if (*w < 1 || *h < 1) return gsg_err_set(GSG_E_FORMAT, "%s: JPEG header gives an empty image (%dx%d)", path, *w, *h);
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

gsg_status gsg_jpeg_decode_file(struct gsg_jpeg *j, const char *path, int channels, int min_side,
                                int *w, int *h, int *ow, int *oh)
{
    size_t n;
    GSG_TRY(load(j, path, &n));
    GSG_TRY(header(j, path, n, ow, oh));
    int sw, sh;
    gsg_jpeg_scaled_size(*ow, *oh, min_side, &sw, &sh);
    size_t px = (size_t)sw * sh;
    int pf = channels == 1 ? TJPF_GRAY : TJPF_RGB;
    if (channels == 1) {
        GSG_TRY(grow(&j->out, &j->out_cap, px));
        if (tjDecompress2(j->tj, j->file, (unsigned long)n, j->out, sw, 0, sh, pf, 0) != 0)
            return gsg_err_set(GSG_E_FORMAT, "%s: corrupt JPEG: %s", path, tjGetErrorStr2(j->tj));
    } else {
        GSG_TRY(grow(&j->pix, &j->pix_cap, px * 3));
        GSG_TRY(grow(&j->out, &j->out_cap, px * 3));
        if (tjDecompress2(j->tj, j->file, (unsigned long)n, j->pix, sw, 0, sh, pf, 0) != 0)
            return gsg_err_set(GSG_E_FORMAT, "%s: corrupt JPEG: %s", path, tjGetErrorStr2(j->tj));
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
