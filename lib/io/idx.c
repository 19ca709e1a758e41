#include "idx.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "core/afile.h"

static gsg_status read_exact(gzFile f, const char *path, void *buf, size_t n, uint64_t at, const char *what)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) {
            int e;
            const char *m = gzerror(f, &e);
            return gsg_err_set(GSG_E_FORMAT, "%s: at byte %llu: %s", path, (unsigned long long)(at + got),
                               e == Z_ERRNO ? strerror(errno) : m);
        }
        if (r == 0)
            return gsg_err_set(GSG_E_TRUNCATED, "%s: truncated %s: expected %llu bytes at byte %llu, found %llu", path, what,
                               (unsigned long long)n, (unsigned long long)at, (unsigned long long)got);
        got += (size_t)r;
    }
    return GSG_OK;
}

gsg_status gsg_idx_read(const char *path, int ndim, uint8_t **data, int64_t *dims)
{
    *data = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) return gsg_err_set(GSG_E_IO, "%s: %s", path, strerror(errno ? errno : ENOENT));
    gzbuffer(f, 1 << 20);
    gsg_status st;
    uint8_t head[4 + 4 * 8];
    if ((st = read_exact(f, path, head, 4, 0, "IDX header")) < 0) goto fail;
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
    if ((st = read_exact(f, path, head + 4, (size_t)4 * ndim, 4, "IDX header")) < 0) goto fail;
    uint64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = head + 4 + 4 * i;
        dims[i] = ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
        total *= (uint64_t)dims[i];
        if (total > ((uint64_t)1 << 40)) {
            st = gsg_err_set(GSG_E_FORMAT, "%s: IDX header dims give more than 2^40 bytes", path);
            goto fail;
        }
    }
    uint64_t hdr = 4 + 4 * (uint64_t)ndim;
    *data = malloc(total ? total : 1);
    if (!*data) { st = gsg_err_set(GSG_E_NOMEM, "%s: out of memory for %llu bytes", path, (unsigned long long)total); goto fail; }
    size_t got = 0;
    while (got < total) {
        unsigned chunk = total - got > (1u << 30) ? (1u << 30) : (unsigned)(total - got);
        int r = gzread(f, *data + got, chunk);
        if (r < 0) {
            int e;
            const char *m = gzerror(f, &e);
            st = gsg_err_set(GSG_E_FORMAT, "%s: at byte %llu: %s", path, (unsigned long long)(hdr + got),
                             e == Z_ERRNO ? strerror(errno) : m);
            goto fail;
        }
        if (r == 0) {
            char ds[96];
            int o = 0;
            for (int i = 0; i < ndim; i++) o += snprintf(ds + o, sizeof ds - (size_t)o, "%s%lld", i ? "x" : "", (long long)dims[i]);
            st = gsg_err_set(GSG_E_TRUNCATED, "%s: IDX header says %s = %llu bytes of data, file has %llu (truncated)", path, ds,
                             (unsigned long long)total, (unsigned long long)got);
            goto fail;
        }
        got += (size_t)r;
    }
    uint8_t extra[64];
    int r = gzread(f, extra, sizeof extra);
    if (r != 0) {
        if (r < 0) {
            int e;
            const char *m = gzerror(f, &e);
            st = gsg_err_set(GSG_E_FORMAT, "%s: at byte %llu: %s", path, (unsigned long long)(hdr + total),
                             e == Z_ERRNO ? strerror(errno) : m);
        } else {
            st = gsg_err_set(GSG_E_FORMAT, "%s: at byte %llu: expected the end of the file (the IDX header's size), found more data",
                             path, (unsigned long long)(hdr + total));
        }
        goto fail;
    }
    gzclose(f);
    return GSG_OK;
fail:
    gzclose(f);
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
    memcpy(buf + hn, data, total);
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
