#define _GNU_SOURCE
#include "npy.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "../core/afile.h"

static const char *descr_of(enum gsg_dtype dt)
{
    switch (dt) {
    case GSG_DTYPE_F32: return "<f4";
    case GSG_DTYPE_F16: return "<f2";
    case GSG_DTYPE_F64: return "<f8";
    case GSG_DTYPE_U8: return "|u1";
    case GSG_DTYPE_I32: return "<i4";
    case GSG_DTYPE_I64: return "<i8";
    case GSG_DTYPE_BF16:
    case GSG_DTYPE_INVALID: return NULL;
    }
    return NULL;
}

static enum gsg_dtype dtype_of(const char *d)
{
    static const struct { const char *s; enum gsg_dtype dt; } tab[] = {
        {"<f4", GSG_DTYPE_F32}, {"<f2", GSG_DTYPE_F16}, {"<f8", GSG_DTYPE_F64}, {"|u1", GSG_DTYPE_U8},
        {"<u1", GSG_DTYPE_U8}, {"u1", GSG_DTYPE_U8}, {"|b1", GSG_DTYPE_U8}, {"<i4", GSG_DTYPE_I32}, {"<i8", GSG_DTYPE_I64},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(d, tab[i].s) == 0) return tab[i].dt;
    return GSG_DTYPE_INVALID;
}

/* The header dict, parsed as the Python literal it is: {'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), } with keys in any order, each exactly once, and nothing else. */
struct npy_hdr { char descr[16]; int fortran; int nd; int64_t dims[GSG_MAX_DIMS]; };

static const char *skip_ws(const char *p) { while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++; return p; }

/* 'text' or "text" into buf; returns the position after the closing quote, NULL on error. */
static const char *parse_str(const char *p, char *buf, size_t cap)
{
    char q = *p;
    if (q != '\'' && q != '"') return NULL;
    const char *e = strchr(p + 1, q);
    if (!e || (size_t)(e - p - 1) >= cap) return NULL;
    memcpy(buf, p + 1, (size_t)(e - p - 1));
    buf[e - p - 1] = 0;
    return e + 1;
}

static gsg_status parse_header(const char *h, const char *label, struct npy_hdr *o)
{
    memset(o, 0, sizeof *o);
    int seen_d = 0, seen_f = 0, seen_s = 0;
    const char *p = skip_ws(h);
    if (*p != '{') return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: expected a dict '{', found '%.20s'", label, p);
    p = skip_ws(p + 1);
    while (*p != '}') {
        char key[32];
        const char *q = parse_str(p, key, sizeof key);
        if (!q) return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: expected a quoted key, found '%.20s'", label, p);
        p = skip_ws(q);
        if (*p != ':') return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: expected ':' after '%s'", label, key);
        p = skip_ws(p + 1);
        if (!strcmp(key, "descr")) {
            if (seen_d++) return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: duplicate key 'descr'", label);
            if (!(q = parse_str(p, o->descr, sizeof o->descr)))
                return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: 'descr': expected a dtype string such as '<f4', found '%.20s'", label, p);
            p = q;
        } else if (!strcmp(key, "fortran_order")) {
            if (seen_f++) return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: duplicate key 'fortran_order'", label);
            if (!strncmp(p, "False", 5)) { o->fortran = 0; p += 5; }
            else if (!strncmp(p, "True", 4)) { o->fortran = 1; p += 4; }
            else return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: 'fortran_order': expected True or False, found '%.20s'", label, p);
        } else if (!strcmp(key, "shape")) {
            if (seen_s++) return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: duplicate key 'shape'", label);
            if (*p != '(') return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: 'shape': expected a tuple, found '%.20s'", label, p);
            p = skip_ws(p + 1);
            while (*p != ')') {
                if (*p < '0' || *p > '9') return gsg_err_set(GSG_E_FORMAT, "%s: bad .npy shape: expected a dim, found '%.20s'", label, p);
                errno = 0;
                char *e;
                long long v = strtoll(p, &e, 10);
                if (errno || v < 0) return gsg_err_set(GSG_E_FORMAT, "%s: bad .npy shape: dim out of range", label);
                if (o->nd == GSG_MAX_DIMS) return gsg_err_set(GSG_E_FORMAT, "%s: .npy rank above 8", label);
                o->dims[o->nd++] = v;
                p = e;
                if (*p == 'L') p++;
                p = skip_ws(p);
                if (*p == ',') p = skip_ws(p + 1);
                else if (*p != ')') return gsg_err_set(GSG_E_FORMAT, "%s: bad .npy shape: expected ',' or ')', found '%.20s'", label, p);
            }
            p++;
        } else {
            return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: unexpected key '%s' (expected descr, fortran_order, shape)", label, key);
        }
        p = skip_ws(p);
        if (*p == ',') p = skip_ws(p + 1);
        else if (*p != '}') return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: expected ',' or '}', found '%.20s'", label, p);
    }
    p = skip_ws(p + 1);
    if (*p) return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: expected only padding after the dict, found '%.20s'", label, p);
    if (!seen_d || !seen_f || !seen_s)
        return gsg_err_set(GSG_E_FORMAT, "%s: .npy header: missing key '%s'", label, !seen_d ? "descr" : !seen_f ? "fortran_order" : "shape");
    return GSG_OK;
}

gsg_status gsg_npy_read(FILE *f, const char *label, struct gsg_tensor *t)
{
    memset(t, 0, sizeof *t);
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10) return gsg_err_set(GSG_E_TRUNCATED, "%s: not a .npy file: shorter than its 10-byte preamble", label);
    if (memcmp(pre, "\x93NUMPY", 6) != 0) return gsg_err_set(GSG_E_FORMAT, "%s: at byte 0: not a .npy file (bad magic)", label);
    unsigned major = pre[6];
    size_t hlen, pos;
    if (major == 1) { hlen = pre[8] | (pre[9] << 8); pos = 10; }
    else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) return gsg_err_set(GSG_E_TRUNCATED, "%s: truncated .npy preamble", label);
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
        pos = 12;
    } else return gsg_err_set(GSG_E_FORMAT, "%s: at byte 6: unsupported .npy version %u", label, major);
    if (hlen > (1u << 20)) return gsg_err_set(GSG_E_FORMAT, "%s: .npy header of %zu bytes is too large", label, hlen);
    char *h = malloc(hlen + 1);
    if (!h) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    if (fread(h, 1, hlen, f) != hlen) { free(h); return gsg_err_set(GSG_E_TRUNCATED, "%s: truncated .npy header", label); }
    h[hlen] = 0;
    gsg_status st = GSG_OK;
    uint8_t *buf = NULL;
    struct npy_hdr hd;
    if (strlen(h) != hlen) { st = gsg_err_set(GSG_E_FORMAT, "%s: .npy header holds a NUL byte", label); goto out; }
    if ((st = parse_header(h, label, &hd)) < 0) goto out;
    enum gsg_dtype dt = dtype_of(hd.descr);
    if (dt == GSG_DTYPE_INVALID) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: .npy dtype '%s' is not supported (f2 f4 f8 u1 i4 i8, little-endian)", label, hd.descr);
        goto out;
    }
    if (hd.fortran && hd.nd > 1) { st = gsg_err_set(GSG_E_FORMAT, "%s: Fortran-order .npy files are not supported", label); goto out; }
    uint64_t bytes;
    if (gsg_shape_bytes(hd.nd, hd.dims, gsg_dtype_size(dt), &bytes) != 0 || bytes > ((uint64_t)1 << 40)) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: .npy shape too large", label);
        goto out;
    }
    /* never allocate what the file does not hold: a regular file's remaining size is checked
     * first; a pipe's data is read into a buffer that grows as bytes arrive */
    struct stat sb;
    long here = ftell(f);
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && here >= 0) {
        uint64_t rest = (uint64_t)sb.st_size > (uint64_t)here ? (uint64_t)sb.st_size - (uint64_t)here : 0;
        if (rest < bytes) {
            st = gsg_err_set(GSG_E_TRUNCATED, "%s: .npy data truncated: expected %llu bytes after the %zu-byte header, found %llu", label,
                             (unsigned long long)bytes, pos + hlen, (unsigned long long)rest);
            goto out;
        }
        st = gsg_tensor_alloc(t, dt, GSG_DEV_CPU, hd.nd, hd.dims);
        if (st < 0) goto out;
        if (bytes && fread(t->data, 1, (size_t)bytes, f) != (size_t)bytes) {
            gsg_tensor_free(t);
            st = gsg_err_set(GSG_E_TRUNCATED, "%s: .npy data truncated: expected %llu bytes after the %zu-byte header", label,
                             (unsigned long long)bytes, pos + hlen);
        }
        goto out;
    }
    size_t cap = bytes < ((uint64_t)1 << 20) ? (size_t)bytes : (size_t)1 << 20, got = 0;
    buf = malloc(cap ? cap : 1);
    if (!buf) { st = gsg_err_set(GSG_E_NOMEM, "out of memory"); goto out; }
    while (got < bytes) {
        if (got == cap) {
            size_t ncap = (uint64_t)cap * 2 < bytes ? cap * 2 : (size_t)bytes;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) { st = gsg_err_set(GSG_E_NOMEM, "%s: out of memory for %zu bytes", label, ncap); goto out; }
            buf = nb;
            cap = ncap;
        }
        size_t k = fread(buf + got, 1, cap - got, f);
        if (k == 0) {
            st = gsg_err_set(GSG_E_TRUNCATED, "%s: .npy data truncated: expected %llu bytes after the %zu-byte header, found %zu", label,
                             (unsigned long long)bytes, pos + hlen, got);
            goto out;
        }
        got += k;
    }
    st = gsg_tensor_alloc(t, dt, GSG_DEV_CPU, hd.nd, hd.dims);
    if (st >= 0 && bytes) memcpy(t->data, buf, (size_t)bytes);
out:
    free(buf);
    free(h);
    return st;
}

gsg_status gsg_npy_load(const char *path, struct gsg_tensor *t)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return gsg_err_set(GSG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    gsg_status st = gsg_npy_read(f, strcmp(path, "-") == 0 ? "<stdin>" : path, t);
    if (f != stdin) fclose(f);
    return st;
}

gsg_status gsg_npy_write(FILE *f, const char *label, const struct gsg_tensor *t)
{
    const char *d = descr_of(t->dtype);
    if (!d) return gsg_err_set(GSG_E_UNSUPPORTED, "%s: dtype %s has no .npy equivalent (convert to f32 first)", label, gsg_dtype_name(t->dtype));
    /* The header numpy 1.24 writes, byte for byte: the dict, 21 - digits(shape[0]) spare spaces,
     * then space padding and '\n' so that the data starts at a multiple of 64. */
    char shape[256] = "";
    size_t o = 0;
    for (int i = 0; i < t->ndim; i++)
        o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
    if (t->ndim == 1) snprintf(shape + o, sizeof shape - o, ",");
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", d, shape);
    if (t->ndim > 0) {
        char d0[32];
        int dl = snprintf(d0, sizeof d0, "%lld", (long long)t->dims[0]);
        for (int i = dl; i < 21 && n < (int)sizeof dict - 1; i++) dict[n++] = ' ';
        dict[n] = 0;
    }
    size_t hl = (size_t)n + 1;
    size_t padlen = 64 - ((6 + 2 + 2 + hl) % 64);
    size_t hlen = hl + padlen;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(dict, 1, (size_t)n, f) != (size_t)n) goto werr;
    for (size_t i = 0; i < padlen; i++) if (fputc(' ', f) == EOF) goto werr;
    if (fputc('\n', f) == EOF) goto werr;
    size_t nb = gsg_tensor_nbytes(t);
    if (nb && fwrite(t->data, 1, nb, f) != nb) goto werr;
    return GSG_OK;
werr:
    return gsg_err_set(GSG_E_IO, "%s: write error: %s", label, strerror(errno ? errno : EIO));
}

gsg_status gsg_npy_save(const char *path, const struct gsg_tensor *t)
{
    struct gsg_afile *af;
    GSG_TRY(gsg_afile_open(&af, path));
    gsg_status st = gsg_npy_write(af->f, path, t);
    if (st < 0) { gsg_afile_abort(af); return st; }
    return gsg_afile_commit(af);
}
