#include "idx.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "core/afile.h"

/* The bytes of an IDX file, plain or gzip (one or more members). Only complete gzip members
 * may follow the first one: any other byte after a member is trailing garbage, an error. */
struct src {
    FILE *f;
    const char *path;
    int gz;
    z_stream zs;
    int zinit, member_end;
    uint8_t in[1 << 16];
    uint64_t raw_off;        /* compressed bytes consumed before zs.next_in */
};

static gsg_status src_err(struct src *s, gsg_status st, const char *what)
{
    return gsg_err_set(st, "%s: at byte %llu of the gzip stream: %s", s->path,
                       (unsigned long long)(s->raw_off + (s->zinit ? s->zs.total_in : 0)), what);
}

/* Refill the raw input; returns the bytes now available (0 at end of file). */
static size_t src_refill(struct src *s)
{
    if (s->zs.avail_in) return s->zs.avail_in;
    size_t n = fread(s->in, 1, sizeof s->in, s->f);
    s->zs.next_in = s->in;
    s->zs.avail_in = (uInt)n;
    return n;
}

/* Read up to n bytes; *got gets the count (0 only at the end of the data). */
static gsg_status src_read(struct src *s, void *buf, size_t n, size_t *got)
{
    *got = 0;
    if (!s->gz) {
        *got = fread(buf, 1, n, s->f);
        if (*got < n && ferror(s->f)) return gsg_err_set(GSG_E_IO, "%s: read error: %s", s->path, strerror(errno));
        return GSG_OK;
    }
    while (*got < n) {
        if (s->member_end) {
            /* another member may follow; anything else is trailing garbage */
            size_t avail = src_refill(s);
            if (avail == 0) {
                if (ferror(s->f)) return gsg_err_set(GSG_E_IO, "%s: read error: %s", s->path, strerror(errno));
                return GSG_OK;
            }
            if (avail < 2) {   /* one more byte may complete the magic */
                uint8_t b0 = s->zs.next_in[0];
                memmove(s->in, &b0, 1);
                size_t k = fread(s->in + 1, 1, sizeof s->in - 1, s->f);
                s->zs.next_in = s->in;
                s->zs.avail_in = (uInt)(1 + k);
                avail = 1 + k;
            }
            if (avail < 2 || s->zs.next_in[0] != 0x1f || s->zs.next_in[1] != 0x8b)
                return src_err(s, GSG_E_FORMAT, "expected the end of the file or another gzip member, found trailing garbage");
            s->raw_off += s->zs.total_in;
            if (inflateReset(&s->zs) != Z_OK) return src_err(s, GSG_E_FORMAT, "cannot restart the gzip decoder");
            s->member_end = 0;
        }
        if (src_refill(s) == 0) {
            if (ferror(s->f)) return gsg_err_set(GSG_E_IO, "%s: read error: %s", s->path, strerror(errno));
            return src_err(s, GSG_E_TRUNCATED, "expected more of the gzip stream, found the end of the file (truncated)");
        }
        s->zs.next_out = (Bytef *)buf + *got;
        size_t want = n - *got;
        s->zs.avail_out = want > (1u << 30) ? (1u << 30) : (uInt)want;
        uInt before = s->zs.avail_out;
        int zr = inflate(&s->zs, Z_NO_FLUSH);
        *got += before - s->zs.avail_out;
        if (zr == Z_STREAM_END) s->member_end = 1;
        else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            char m[160];
            snprintf(m, sizeof m, "corrupt gzip data (%s)", s->zs.msg ? s->zs.msg : "zlib error");
            return src_err(s, GSG_E_FORMAT, m);
        }
    }
    return GSG_OK;
}

static gsg_status read_exact(struct src *s, void *buf, size_t n, uint64_t at, const char *what)
{
    size_t got = 0;
    while (got < n) {
        size_t k;
        GSG_TRY(src_read(s, (uint8_t *)buf + got, n - got, &k));
        if (k == 0)
            return gsg_err_set(GSG_E_TRUNCATED, "%s: truncated %s: expected %llu bytes at byte %llu, found %llu", s->path, what,
                               (unsigned long long)n, (unsigned long long)at, (unsigned long long)got);
        got += k;
    }
    return GSG_OK;
}

static const char *dims_str(char *ds, size_t cap, int ndim, const int64_t *dims)
{
    int o = 0;
    ds[0] = 0;
    for (int i = 0; i < ndim && (size_t)o < cap; i++) o += snprintf(ds + o, cap - (size_t)o, "%s%lld", i ? "x" : "", (long long)dims[i]);
    return ds;
}

gsg_status gsg_idx_read(const char *path, int ndim, uint8_t **data, int64_t *dims)
{
    *data = NULL;
    struct src *s = calloc(1, sizeof *s);
    if (!s) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    s->path = path;
    s->f = fopen(path, "rb");
    if (!s->f) { gsg_status e = gsg_err_set(GSG_E_IO, "%s: %s", path, strerror(errno)); free(s); return e; }
    gsg_status st;
    uint64_t fsize = 0;
    int regular = 0;
    struct stat sb;
    if (fstat(fileno(s->f), &sb) == 0 && S_ISREG(sb.st_mode)) { regular = 1; fsize = (uint64_t)sb.st_size; }
    uint8_t m[2];
    size_t mn = fread(m, 1, 2, s->f);
    if (mn == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        s->gz = 1;
        memcpy(s->in, m, 2);
        s->zs.next_in = s->in;
        s->zs.avail_in = 2;
        if (inflateInit2(&s->zs, 15 + 16) != Z_OK) { st = gsg_err_set(GSG_E_NOMEM, "%s: cannot start the gzip decoder", path); goto fail; }
        s->zinit = 1;
    } else if (fseek(s->f, 0, SEEK_SET) != 0) {
        st = gsg_err_set(GSG_E_IO, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    uint8_t head[4 + 4 * 8];
    if ((st = read_exact(s, head, 4, 0, "IDX header")) < 0) goto fail;
    if (head[0] != 0 || head[1] != 0) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: at byte 0: expected IDX magic 00 00 08 %02x, found %02x %02x %02x %02x", path, ndim,
                         head[0], head[1], head[2], head[3]);
        goto fail;
    }
    if (head[2] != 0x08) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: at byte 2: expected IDX type 0x08 (u8), found 0x%02x", path, head[2]);
        goto fail;
    }
    if (head[3] != ndim) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: at byte 3: expected %d dims, found %d", path, ndim, head[3]);
        goto fail;
    }
    if ((st = read_exact(s, head + 4, (size_t)4 * ndim, 4, "IDX header")) < 0) goto fail;
    /* the size product is checked before each multiplication: no wrap-around */
    uint64_t total = 1;
    const uint64_t lim = (uint64_t)1 << 40;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = head + 4 + 4 * i;
        dims[i] = ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
    }
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)dims[i];
        if (d && total > lim / d) {
            char ds[128];
            st = gsg_err_set(GSG_E_FORMAT, "%s: at byte 4: expected IDX dims of at most 2^40 bytes, found %s", path,
                             dims_str(ds, sizeof ds, ndim, dims));
            goto fail;
        }
        total *= d;
    }
    uint64_t hdr = 4 + 4 * (uint64_t)ndim;
    char ds[128];
    if (!s->gz && regular && fsize != hdr + total) {
        st = gsg_err_set(fsize < hdr + total ? GSG_E_TRUNCATED : GSG_E_FORMAT,
                         "%s: IDX header says %s = %llu bytes of data, file has %llu%s", path, dims_str(ds, sizeof ds, ndim, dims),
                         (unsigned long long)total, (unsigned long long)(fsize - hdr),
                         fsize < hdr + total ? " (truncated)" : " (more data than the header's size)");
        goto fail;
    }
    /* the buffer grows as bytes arrive, so a lying gzip header costs what the file holds */
    size_t cap = total < ((uint64_t)1 << 24) || (!s->gz && regular) ? (size_t)(total ? total : 1) : (size_t)1 << 24;
    *data = malloc(cap);
    if (!*data) { st = gsg_err_set(GSG_E_NOMEM, "%s: out of memory for %zu bytes", path, cap); goto fail; }
    size_t got = 0;
    while (got < total) {
        if (got == cap) {
            size_t ncap = (uint64_t)cap * 2 < total ? cap * 2 : (size_t)total;
            uint8_t *nd = realloc(*data, ncap);
            if (!nd) { st = gsg_err_set(GSG_E_NOMEM, "%s: out of memory for %zu bytes", path, ncap); goto fail; }
            *data = nd;
            cap = ncap;
        }
        size_t k;
        if ((st = src_read(s, *data + got, cap - got, &k)) < 0) goto fail;
        if (k == 0) {
            st = gsg_err_set(GSG_E_TRUNCATED, "%s: IDX header says %s = %llu bytes of data, file has %llu (truncated)", path,
                             dims_str(ds, sizeof ds, ndim, dims), (unsigned long long)total, (unsigned long long)got);
            goto fail;
        }
        got += k;
    }
    uint8_t extra[64];
    size_t k;
    if ((st = src_read(s, extra, sizeof extra, &k)) < 0) goto fail;
    if (k != 0) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: at byte %llu: expected the end of the file (the IDX header's size), found more data",
                         path, (unsigned long long)(hdr + total));
        goto fail;
    }
    if (s->gz && !s->member_end) {   /* src_read returned 0 only at a member's end */
        st = src_err(s, GSG_E_TRUNCATED, "expected the end of the gzip member (truncated)");
        goto fail;
    }
    if (s->zinit) inflateEnd(&s->zs);
    fclose(s->f);
    free(s);
    return GSG_OK;
fail:
    if (s->zinit) inflateEnd(&s->zs);
    fclose(s->f);
    free(s);
    free(*data);
    *data = NULL;
    return st;
}

gsg_status gsg_idx_write(const char *path, int ndim, const int64_t *dims, const uint8_t *data, int gz)
{
    uint64_t total = 1;
    size_t hn = 4 + 4 * (size_t)ndim;
    for (int i = 0; i < ndim; i++) total *= (uint64_t)dims[i];
    uint8_t *buf = malloc(hn + total);
    if (!buf) return gsg_err_set(GSG_E_NOMEM, "%s: out of memory", path);
    buf[0] = 0; buf[1] = 0; buf[2] = 8; buf[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = (uint32_t)dims[i];
        buf[4 + 4 * i] = (uint8_t)(d >> 24); buf[5 + 4 * i] = (uint8_t)(d >> 16);
        buf[6 + 4 * i] = (uint8_t)(d >> 8); buf[7 + 4 * i] = (uint8_t)d;
    }
    if (total) memcpy(buf + hn, data, total);
    gsg_status st;
    if (!gz) {
        st = gsg_afile_write_all(path, buf, hn + total);
    } else {
        uLongf cap = compressBound((uLong)(hn + total)) + 32;
        uint8_t *z = malloc(cap);
        if (!z) { free(buf); return gsg_err_set(GSG_E_NOMEM, "%s: out of memory", path); }
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);   /* gzip wrapper */
        zs.next_in = buf; zs.avail_in = (uInt)(hn + total);
        zs.next_out = z; zs.avail_out = (uInt)cap;
        int zr = deflate(&zs, Z_FINISH);
        size_t zn = zs.total_out;
        deflateEnd(&zs);
        st = zr == Z_STREAM_END ? gsg_afile_write_all(path, z, zn) : gsg_err_set(GSG_E_IO, "%s: gzip failed", path);
        free(z);
    }
    free(buf);
    return st;
}
