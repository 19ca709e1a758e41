/* tstream.c: GSGT tensor stream writer and reader (formats/tensor-stream.md). */
#define _GNU_SOURCE
#include "tstream.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY   /* ZSTD_d_stableOutBuffer (zstd >= 1.4.4; a parameter, no struct layouts) */
#include <zstd.h>
#include <zstd_errors.h>
#include "../core/afile.h"
#include "../core/limits.h"
#include "aio.h"

static const uint8_t ZSTD_MAGIC_LE[4] = {0x28, 0xB5, 0x2F, 0xFD};

/* ---------- little-endian helpers ---------- */
static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

int gsg_tstream_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 255) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) return 0;
    }
    return 1;
}

int gsg_meta_get(const char *meta, const char *key, char *buf, size_t cap)
{
    if (!meta) return 0;
    size_t kl = strlen(key);
    const char *p = meta;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = ll - kl - 1;
            if (cap) {
                if (vl >= cap) vl = cap - 1;
                memcpy(buf, p + kl + 1, vl);
                buf[vl] = 0;
            }
            return 1;
        }
        if (!eol) break;
        p = eol + 1;
    }
    return 0;
}

int gsg_meta_add(char *buf, size_t cap, const char *key, const char *fmt, ...)
{
    size_t o = strlen(buf);
    int n = snprintf(buf + o, cap - o, "%s=", key);
    if (n < 0 || (size_t)n >= cap - o) { buf[o] = 0; return -1; }
    size_t o2 = o + (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(buf + o2, cap - o2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 1 >= cap - o2) { buf[o] = 0; return -1; }
    buf[o2 + (size_t)n] = '\n';
    buf[o2 + (size_t)n + 1] = 0;
    return 0;
}

/* ================= writer ================= */
struct gsg_tstream_writer {
    FILE *f;                 /* written with write(2) on its fd, through out */
    struct gsg_aio_out *out; /* compressed bytes go to chunks that a background thread writes */
    struct gsg_afile *af;    /* NULL when wrapping a caller's FILE */
    char label[512];
    int level;
    ZSTD_CCtx *cctx;
    uint8_t *obuf;
    size_t ocap;
    uint8_t *stage;          /* one-shot path: header + data contiguous (grown to the largest record) */
    size_t stage_cap;
    uint8_t *cbuf;           /* one-shot path: ZSTD_compressBound of the largest record */
    size_t cbuf_cap;
    int workers;
    uint64_t count;
    uint64_t bytes_out;
};

static gsg_status writer_new(struct gsg_tstream_writer **out, FILE *f, const char *label, int level)
{
    *out = NULL;
    if (level < 0 || level > 22) return gsg_err_set(GSG_E_USAGE, "compression level %d out of range 0..22", level);
    struct gsg_tstream_writer *w = calloc(1, sizeof *w);
    if (!w) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    w->f = f;
    w->level = level;
    snprintf(w->label, sizeof w->label, "%s", label);
    fflush(f);   /* bytes the caller put into f's stdio buffer go first */
    if (gsg_aio_out_open(&w->out, fileno(f)) != 0) { free(w); return gsg_err_set(GSG_E_NOMEM, "out of memory"); }
    if (level > 0) {
        w->cctx = ZSTD_createCCtx();
        w->ocap = ZSTD_CStreamOutSize() * 8;
        w->obuf = malloc(w->ocap);
        if (!w->cctx || !w->obuf) {
            ZSTD_freeCCtx(w->cctx);
            free(w->obuf);
            gsg_aio_out_abort(w->out);
            free(w);
            return gsg_err_set(GSG_E_NOMEM, "out of memory");
        }
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
    }
    *out = w;
    return GSG_OK;
}

gsg_status gsg_tstream_open_write_file(struct gsg_tstream_writer **w, FILE *f, const char *label, int level)
{
    return writer_new(w, f, label, level);
}

gsg_status gsg_tstream_open_write(struct gsg_tstream_writer **w, const char *path, int level)
{
    struct gsg_afile *af;
    *w = NULL;
    if (level < 0 || level > 22) return gsg_err_set(GSG_E_USAGE, "compression level %d out of range 0..22", level);
    GSG_TRY(gsg_afile_open(&af, path));
    gsg_status st = writer_new(w, af->f, strcmp(path, "-") == 0 ? "<stdout>" : path, level);
    if (st < 0) { gsg_afile_abort(af); return st; }
    (*w)->af = af;
    return GSG_OK;
}

void gsg_tstream_set_workers(struct gsg_tstream_writer *w, int nworkers)
{
    if (w->cctx) ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, nworkers);
    w->workers = nworkers;
}

uint64_t gsg_tstream_count(const struct gsg_tstream_writer *w) { return w->count; }

/* An error from the output (seen now or earlier by its thread) as one message. */
static gsg_status w_err(const struct gsg_tstream_writer *w, int e)
{
    if (e == ENOMEM) return gsg_err_set(GSG_E_NOMEM, "%s: out of memory for the output buffers", w->label);
    return gsg_err_set(GSG_E_IO, "%s: write error: %s", w->label, strerror(e));
}

static gsg_status w_out(struct gsg_tstream_writer *w, const void *p, size_t n)
{
    int e = gsg_aio_out_write(w->out, p, n);
    if (e) return w_err(w, e);
    w->bytes_out += n;
    return GSG_OK;
}

static gsg_status w_compress(struct gsg_tstream_writer *w, const void *src, size_t n, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {src, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {w->obuf, w->ocap, 0};
        size_t rem = ZSTD_compressStream2(w->cctx, &out, &in, mode);
        if (ZSTD_isError(rem)) return gsg_err_set(GSG_E_IO, "%s: zstd: %s", w->label, ZSTD_getErrorName(rem));
        GSG_TRY(w_out(w, w->obuf, out.pos));
        if (mode == ZSTD_e_end ? rem == 0 : in.pos == in.size) break;
    }
    return GSG_OK;
}

gsg_status gsg_tstream_write_raw(struct gsg_tstream_writer *w, const char *name, uint64_t seq,
                                 const char *meta, enum gsg_dtype dt, int ndim, const int64_t *dims,
                                 const void *data)
{
    if (!gsg_tstream_name_valid(name))
        return gsg_err_set(GSG_E_USAGE, "%s: invalid record name '%s' (1-255 chars of a-z 0-9 _ .)", w->label, name);
    if (gsg_dtype_size(dt) == 0) return gsg_err_set(GSG_E_USAGE, "%s: record '%s': invalid dtype", w->label, name);
    if (ndim < 0 || ndim > GSG_MAX_DIMS) return gsg_err_set(GSG_E_USAGE, "%s: record '%s': rank %d > 8", w->label, name, ndim);
    size_t name_len = strlen(name), meta_len = meta ? strlen(meta) : 0;
    if (meta_len > GSG_TSTREAM_MAX_META) return gsg_err_set(GSG_E_USAGE, "%s: record '%s': meta of %zu bytes > 32768", w->label, name, meta_len);
    uint64_t data_bytes;
    if (gsg_shape_bytes(ndim, dims, gsg_dtype_size(dt), &data_bytes) != 0)
        return gsg_err_set(GSG_E_USAGE, "%s: record '%s': shape overflows", w->label, name);
    size_t hb = GSG_TSTREAM_FIXED + 8 * (size_t)ndim + name_len + meta_len;
    hb = (hb + 63) & ~(size_t)63;
    uint8_t hdr_stack[1024];
    uint8_t *hdr = hb <= sizeof hdr_stack ? hdr_stack : calloc(1, hb);
    if (!hdr) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    memset(hdr, 0, hb);
    memcpy(hdr, "GSGT", 4);
    hdr[4] = GSG_TSTREAM_VERSION;
    hdr[5] = (uint8_t)dt;
    hdr[6] = (uint8_t)ndim;
    hdr[7] = 0;
    put_u32(hdr + 8, (uint32_t)hb);
    put_u16(hdr + 12, (uint16_t)name_len);
    put_u16(hdr + 14, (uint16_t)meta_len);
    put_u64(hdr + 16, seq);
    put_u64(hdr + 24, data_bytes);
    for (int i = 0; i < ndim; i++) put_u64(hdr + 32 + 8 * i, (uint64_t)dims[i]);
    memcpy(hdr + 32 + 8 * ndim, name, name_len);
    if (meta_len) memcpy(hdr + 32 + 8 * ndim + name_len, meta, meta_len);
    gsg_status st;
    if (w->level == 0) {
        st = w_out(w, hdr, hb);
        if (st == GSG_OK) st = w_out(w, data, (size_t)data_bytes);
    } else if (w->workers == 0 && hb + data_bytes <= ((uint64_t)64 << 20)) {
        /* One-shot: ZSTD_compress2 on a contiguous record into a big-enough buffer skips the
         * streaming path's internal input and output copies (measured: tests/bench/io.sh). */
        size_t n = hb + (size_t)data_bytes, bound = ZSTD_compressBound(n);
        st = GSG_OK;
        if (w->stage_cap < n) {
            free(w->stage);
            w->stage = malloc(n);
            w->stage_cap = w->stage ? n : 0;
        }
        /* compress straight into the output chunk when the bound fits there, else via cbuf */
        uint8_t *dst = NULL;
        int e = gsg_aio_out_reserve(w->out, bound, &dst);
        if (e) st = w_err(w, e);
        if (st == GSG_OK && !dst && w->cbuf_cap < bound) {
            free(w->cbuf);
            w->cbuf = malloc(bound);
            w->cbuf_cap = w->cbuf ? bound : 0;
        }
        if (st == GSG_OK && (!w->stage || (!dst && !w->cbuf)))
            st = gsg_err_set(GSG_E_NOMEM, "%s: out of memory for a %zu-byte record", w->label, n);
        if (st == GSG_OK) {
            memcpy(w->stage, hdr, hb);
            if (data_bytes) memcpy(w->stage + hb, data, (size_t)data_bytes);
            ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);
            size_t c = ZSTD_compress2(w->cctx, dst ? dst : w->cbuf, dst ? bound : w->cbuf_cap, w->stage, n);
            if (ZSTD_isError(c)) st = gsg_err_set(GSG_E_IO, "%s: zstd: %s", w->label, ZSTD_getErrorName(c));
            else if (!dst) st = w_out(w, w->cbuf, c);
            else if ((e = gsg_aio_out_commit(w->out, c)) != 0) st = w_err(w, e);
            else w->bytes_out += c;
        }
    } else {
        ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);
        ZSTD_CCtx_setPledgedSrcSize(w->cctx, hb + data_bytes);
        st = w_compress(w, hdr, hb, ZSTD_e_continue);
        if (st == GSG_OK) st = w_compress(w, data, (size_t)data_bytes, ZSTD_e_end);
    }
    if (hdr != hdr_stack) free(hdr);
    if (st == GSG_OK && strcmp(name, GSG_TSTREAM_END_NAME) != 0) w->count++;
    return st;
}

gsg_status gsg_tstream_write(struct gsg_tstream_writer *w, const char *name, uint64_t seq,
                             const char *meta, const struct gsg_tensor *t)
{
    if (t->dev != GSG_DEV_CPU) return gsg_err_set(GSG_E_USAGE, "%s: record '%s': tensor is not on the host", w->label, name);
    if (strcmp(name, GSG_TSTREAM_END_NAME) == 0) return gsg_err_set(GSG_E_USAGE, "%s: the name gsg.end is reserved", w->label);
    return gsg_tstream_write_raw(w, name, seq, meta, t->dtype, t->ndim, t->dims, t->data);
}

gsg_status gsg_tstream_flush(struct gsg_tstream_writer *w)
{
    int e = gsg_aio_out_flush(w->out);
    if (e) return w_err(w, e);
    if (fflush(w->f) != 0) return gsg_err_set(GSG_E_IO, "%s: write error: %s", w->label, strerror(errno));
    return GSG_OK;
}

static void writer_free(struct gsg_tstream_writer *w)
{
    gsg_aio_out_abort(w->out);   /* NULL after a close */
    ZSTD_freeCCtx(w->cctx);
    free(w->obuf);
    free(w->stage);
    free(w->cbuf);
    free(w);
}

gsg_status gsg_tstream_close(struct gsg_tstream_writer *w)
{
    int64_t n = (int64_t)w->count;
    gsg_status st = gsg_tstream_write_raw(w, GSG_TSTREAM_END_NAME, w->count, NULL, GSG_DTYPE_I64, 0, NULL, &n);
    /* every byte is written (or an error known) before the file is committed */
    int e = gsg_aio_out_close(w->out);
    w->out = NULL;
    if (st == GSG_OK && e) st = w_err(w, e);
    if (st == GSG_OK && fflush(w->f) != 0) st = gsg_err_set(GSG_E_IO, "%s: write error: %s", w->label, strerror(errno));
    if (w->af) {
        if (st == GSG_OK) st = gsg_afile_commit(w->af);
        else gsg_afile_abort(w->af);
    }
    writer_free(w);
    return st;
}

void gsg_tstream_abort(struct gsg_tstream_writer *w)
{
    if (!w) return;
    /* a temporary file is removed: discard and stop the thread at once. Other outputs cannot be
     * taken back: the records written so far go out, as stdio's fflush did before (a consumer sees
     * them, then the missing end record) */
    if (w->af && w->af->tmp) gsg_aio_out_abort(w->out);
    else gsg_aio_out_close(w->out);
    w->out = NULL;
    if (w->af) gsg_afile_abort(w->af);
    else fflush(w->f);
    writer_free(w);
}

/* ================= reader ================= */
struct gsg_tstream_reader {
    FILE *f;
    int own_file;
    char label[512];
    ZSTD_DCtx *dctx;
    /* input: read(2) on fileno(f), bypassing stdio buffering, ahead of the caller by a prefetch
     * thread; the window ai->p[ai->pos..ai->len) holds the unread bytes, ai->p[0] is at input offset ai->off */
    struct gsg_aio_in *ai;
    /* current record */
    int comp;
    int frame_done;
    /* fast path: a compressed record whose frame declares its size (at most FAST_MAX) is decoded in
     * one pass straight into fbuf (zstd's stable output buffer, no internal copy), then parsed there */
    int fast;
    uint8_t *fbuf;
    size_t fcap, fpos, flen;
    uint64_t rec_index;       /* records seen so far in the input (all segments, incl. end records) */
    uint64_t seg_count;       /* data records since the last end record */
    int last_was_end;
    uint8_t *hdr;             /* header buffer, GSG_TSTREAM_MAX_HEADER + 1 */
    uint8_t *data;
    size_t data_cap;
    char *taken;              /* unused marker */
    uint64_t max_bytes;       /* record data limit (GSG_MAX_RECORD_BYTES) */
};

const char *gsg_tstream_path(const struct gsg_tstream_reader *r) { return r->label; }
void gsg_tstream_set_max_record(struct gsg_tstream_reader *r, uint64_t bytes) { r->max_bytes = bytes; }
uint64_t gsg_tstream_bytes_in(const struct gsg_tstream_reader *r) { return r->ai->off + r->ai->pos; }

gsg_status gsg_tstream_open_read_file(struct gsg_tstream_reader **out, FILE *f, const char *label)
{
    *out = NULL;
    struct gsg_tstream_reader *r = calloc(1, sizeof *r);
    if (!r) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    r->f = f;
    snprintf(r->label, sizeof r->label, "%s", label);
    gsg_status lst = gsg_limit_get("GSG_MAX_RECORD_BYTES", GSG_MAX_RECORD_BYTES_DEFAULT, &r->max_bytes);
    if (lst < 0) { free(r); return lst; }
    r->dctx = ZSTD_createDCtx();
    r->hdr = malloc(GSG_TSTREAM_MAX_HEADER + 1);
    gsg_aio_in_open(&r->ai, fileno(f));   /* r->ai stays NULL when it fails */
    if (!r->dctx || !r->ai || !r->hdr) { gsg_tstream_close_read(r); return gsg_err_set(GSG_E_NOMEM, "out of memory"); }
    *out = r;
    return GSG_OK;
}

gsg_status gsg_tstream_open_read(struct gsg_tstream_reader **r, const char *path)
{
    FILE *f;
    if (strcmp(path, "-") == 0) f = stdin;
    else {
        f = fopen(path, "rb");
        if (!f) return gsg_err_set(GSG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    gsg_status st = gsg_tstream_open_read_file(r, f, strcmp(path, "-") == 0 ? "<stdin>" : path);
    if (st < 0) { if (f != stdin) fclose(f); return st; }
    (*r)->own_file = f != stdin;
    return GSG_OK;
}

void gsg_tstream_close_read(struct gsg_tstream_reader *r)
{
    if (!r) return;
    gsg_aio_in_close(r->ai);   /* first: stops the prefetch thread, even one blocked in read(2) */
    if (r->own_file && r->f) fclose(r->f);
    ZSTD_freeDCtx(r->dctx);
    free(r->hdr);
    gsg_aligned_free(r->data);
    gsg_aligned_free(r->fbuf);
    free(r);
}

/* Make at least n bytes available in in[in_pos..]; returns bytes available (may be < n at EOF). */
static gsg_status r_fill(struct gsg_tstream_reader *r, size_t n, size_t *avail)
{
    struct gsg_aio_in *a = r->ai;
    /* on a pipe this returns what has arrived instead of waiting for a full buffer */
    int e = gsg_aio_in_fill(a, n);
    *avail = a->len - a->pos;
    if (e)
        return gsg_err_set(GSG_E_IO, "%s: read error at byte %llu: %s", r->label,
                           (unsigned long long)(a->off + a->len), strerror(e));
    return GSG_OK;
}

/* Record error with position. name may be NULL. */
static gsg_status rec_err(const struct gsg_tstream_reader *r, gsg_status st, uint64_t idx, const char *name,
                         uint64_t off, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static gsg_status rec_err(const struct gsg_tstream_reader *r, gsg_status st, uint64_t idx, const char *name,
                         uint64_t off, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (name && name[0])
        return gsg_err_set(st, "%s: record %llu '%s' at byte %llu: %s", r->label, (unsigned long long)idx, name,
                           (unsigned long long)off, msg);
    return gsg_err_set(st, "%s: record %llu at byte %llu: %s", r->label, (unsigned long long)idx,
                       (unsigned long long)off, msg);
}

/* Read exactly n decompressed (or raw) bytes of the current record into dst. */
static gsg_status r_read(struct gsg_tstream_reader *r, void *dst, size_t n, uint64_t idx, const char *name, uint64_t off)
{
    uint8_t *d = dst;
    size_t done = 0;
    if (r->fast) {
        if (n > r->flen - r->fpos)
            return rec_err(r, GSG_E_FORMAT, idx, name, off, "expected %zu more bytes in the record's zstd frame, found the end of the frame",
                           n - (r->flen - r->fpos));
        memcpy(d, r->fbuf + r->fpos, n);
        r->fpos += n;
        return GSG_OK;
    }
    while (done < n) {
        size_t avail;
        GSG_TRY(r_fill(r, 1, &avail));
        if (avail == 0)
            return rec_err(r, GSG_E_TRUNCATED, idx, name, off, "expected %zu more bytes of the record, found end of input (truncated)", n - done);
        if (!r->comp) {
            size_t k = avail < n - done ? avail : n - done;
            memcpy(d + done, r->ai->p + r->ai->pos, k);
            r->ai->pos += k;
            done += k;
            continue;
        }
        if (r->frame_done)
            return rec_err(r, GSG_E_FORMAT, idx, name, off, "expected %zu more bytes in the record's zstd frame, found the end of the frame", n - done);
        ZSTD_inBuffer in = {r->ai->p, r->ai->len, r->ai->pos};
        ZSTD_outBuffer out = {d + done, n - done, 0};
        size_t ret = ZSTD_decompressStream(r->dctx, &out, &in);
        if (ZSTD_isError(ret))
            return rec_err(r, GSG_E_FORMAT, idx, name, off, "expected a valid zstd frame, found a corrupt one (%s)", ZSTD_getErrorName(ret));
        r->ai->pos = in.pos;
        done += out.pos;
        if (ret == 0) r->frame_done = 1;
    }
    return GSG_OK;
}

/* Finish the current zstd frame: nothing may follow the record's data inside it. */
static gsg_status r_end_frame(struct gsg_tstream_reader *r, uint64_t idx, const char *name, uint64_t off)
{
    if (r->fast) {
        if (r->fpos != r->flen)
            return rec_err(r, GSG_E_FORMAT, idx, name, off, "expected the zstd frame to end with the record's data, found more bytes");
        return GSG_OK;
    }
    if (!r->comp) return GSG_OK;
    while (!r->frame_done) {
        size_t avail;
        GSG_TRY(r_fill(r, 1, &avail));
        uint8_t extra;
        ZSTD_inBuffer in = {r->ai->p, r->ai->len, r->ai->pos};
        ZSTD_outBuffer out = {&extra, 1, 0};
        size_t ret = ZSTD_decompressStream(r->dctx, &out, &in);
        if (ZSTD_isError(ret))
            return rec_err(r, GSG_E_FORMAT, idx, name, off, "expected a valid zstd frame, found a corrupt one (%s)", ZSTD_getErrorName(ret));
        r->ai->pos = in.pos;
        if (out.pos) return rec_err(r, GSG_E_FORMAT, idx, name, off, "expected the zstd frame to end with the record's data, found more bytes");
        if (ret == 0) { r->frame_done = 1; break; }
        if (avail == 0 && in.pos == in.size)
            return rec_err(r, GSG_E_TRUNCATED, idx, name, off, "expected the rest of the record's zstd frame, found end of input (truncated)");
    }
    ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
    return GSG_OK;
}

#define FAST_MAX ((size_t)64 << 20)

/* The record's name from partly decoded bytes, for messages ("" when not (yet) readable). */
static void partial_name(const uint8_t *p, size_t n, char name[256])
{
    name[0] = 0;
    if (n < GSG_TSTREAM_FIXED || memcmp(p, "GSGT", 4) != 0 || p[6] > GSG_MAX_DIMS) return;
    size_t nl = get_u16(p + 12), at = GSG_TSTREAM_FIXED + 8 * (size_t)p[6];
    if (nl < 1 || nl > 255 || at + nl > n) return;
    memcpy(name, p + at, nl);
    name[nl] = 0;
    if (!gsg_tstream_name_valid(name) || strlen(name) != nl) name[0] = 0;
}

/* Decode the whole current frame (content bytes declared in its header) into fbuf. */
static gsg_status r_frame_all(struct gsg_tstream_reader *r, size_t content, uint64_t idx, uint64_t off)
{
    if (r->fcap < content) {
        size_t cap = content < ((size_t)1 << 20) ? ((size_t)1 << 20) : content;
        uint8_t *p = gsg_aligned_alloc(cap);
        if (!p) return gsg_err_set(GSG_E_NOMEM, "%s: out of memory (%zu bytes)", r->label, cap);
        gsg_aligned_free(r->fbuf);
        r->fbuf = p;
        r->fcap = cap;
    }
    ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
    ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_stableOutBuffer, 1);
    ZSTD_outBuffer out = {r->fbuf, content, 0};
    gsg_status st = GSG_OK;
    for (;;) {
        size_t avail;
        st = r_fill(r, 1, &avail);
        if (st < 0) break;
        char nm[256];
        if (avail == 0) {
            partial_name(r->fbuf, out.pos, nm);
            st = rec_err(r, GSG_E_TRUNCATED, idx, nm, off, "expected the rest of the record's zstd frame, found end of input (truncated)");
            break;
        }
        ZSTD_inBuffer in = {r->ai->p, r->ai->len, r->ai->pos};
        size_t ret = ZSTD_decompressStream(r->dctx, &out, &in);
        r->ai->pos = in.pos;
        if (ZSTD_isError(ret)) {
            /* a checksum mismatch comes after the whole content was written */
            partial_name(r->fbuf, ZSTD_getErrorCode(ret) == ZSTD_error_checksum_wrong ? content : out.pos, nm);
            st = rec_err(r, GSG_E_FORMAT, idx, nm, off, "expected a valid zstd frame, found a corrupt one (%s)", ZSTD_getErrorName(ret));
            break;
        }
        if (ret == 0) break;
    }
    ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
    ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_stableOutBuffer, 0);
    if (st < 0) return st;
    if (out.pos != content)
        return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected a zstd frame of %zu bytes as its header declares, found %zu", content, out.pos);
    r->fast = 1;
    r->fpos = 0;
    r->flen = content;
    r->frame_done = 1;
    return GSG_OK;
}

static gsg_status r_grow(struct gsg_tstream_reader *r, size_t need)
{
    if (need <= r->data_cap) return GSG_OK;
    size_t cap = r->data_cap ? r->data_cap : 4096;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = gsg_aligned_alloc(cap);
    if (!p) return gsg_err_set(GSG_E_NOMEM, "%s: out of memory (%zu bytes)", r->label, cap);
    gsg_aligned_free(r->data);   /* contents need not survive: called before a record's data is read */
    r->data = p;
    r->data_cap = cap;
    return GSG_OK;
}

gsg_status gsg_tstream_read(struct gsg_tstream_reader *r, struct gsg_record *rec)
{
    for (;;) {
        memset(rec, 0, sizeof *rec);
        size_t avail;
        GSG_TRY(r_fill(r, 4, &avail));
        uint64_t off = r->ai->off + r->ai->pos;
        uint64_t idx = r->rec_index;
        if (avail == 0) {
            if (r->rec_index == 0)
                return gsg_err_set(GSG_E_TRUNCATED, "%s: record 0 at byte 0: expected a record or the end record 'gsg.end', found empty input (truncated)", r->label);
            if (!r->last_was_end)
                return gsg_err_set(GSG_E_TRUNCATED, "%s: record %llu at byte %llu: expected a record or the end record 'gsg.end', found end of input (truncated)",
                                   r->label, (unsigned long long)idx, (unsigned long long)off);
            return GSG_END;
        }
        if (avail < 4) return rec_err(r, GSG_E_TRUNCATED, idx, NULL, off, "expected a record header, found %zu stray bytes at the end of input (truncated)", avail);
        const uint8_t *m = r->ai->p + r->ai->pos;
        unsigned long long content = ZSTD_CONTENTSIZE_UNKNOWN;
        r->fast = 0;
        if (memcmp(m, ZSTD_MAGIC_LE, 4) == 0) {
            r->comp = 1;
            r->frame_done = 0;
            GSG_TRY(r_fill(r, 18, &avail));   /* ZSTD_FRAMEHEADERSIZE_MAX */
            content = ZSTD_getFrameContentSize(r->ai->p + r->ai->pos, avail);
            if (content == ZSTD_CONTENTSIZE_ERROR)
                return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected a valid zstd frame header, found a corrupt one");
            /* the declared size is checked before anything is decompressed */
            if (content != ZSTD_CONTENTSIZE_UNKNOWN && content > GSG_TSTREAM_MAX_HEADER + r->max_bytes)
                return rec_err(r, GSG_E_FORMAT, idx, NULL, off,
                               "expected a record of at most %llu bytes (GSG_MAX_RECORD_BYTES), found a zstd frame declaring %llu",
                               (unsigned long long)r->max_bytes, content);
            if (content != ZSTD_CONTENTSIZE_UNKNOWN && content >= GSG_TSTREAM_FIXED && content <= FAST_MAX)
                GSG_TRY(r_frame_all(r, (size_t)content, idx, off));
        } else if (memcmp(m, "GSGT", 4) == 0) {
            r->comp = 0;
        } else {
            return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected a zstd frame (28 b5 2f fd) or 'GSGT', found bad magic %02x %02x %02x %02x",
                           m[0], m[1], m[2], m[3]);
        }
        uint8_t *h = r->hdr;
        GSG_TRY(r_read(r, h, GSG_TSTREAM_FIXED, idx, NULL, off));
        if (memcmp(h, "GSGT", 4) != 0)
            return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected record magic 'GSGT', found %02x %02x %02x %02x", h[0], h[1], h[2], h[3]);
        if (h[4] != GSG_TSTREAM_VERSION)
            return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected version 1, found unsupported version %u", h[4]);
        unsigned dt = h[5], nd = h[6], flags = h[7];
        uint32_t hb = get_u32(h + 8);
        uint16_t name_len = get_u16(h + 12), meta_len = get_u16(h + 14);
        uint64_t seq = get_u64(h + 16), data_bytes = get_u64(h + 24);
        if (dt == 0 || dt >= GSG_DTYPE_COUNT)
            return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected a dtype code 1..7, found unknown dtype %u", dt);
        if (nd > GSG_MAX_DIMS) return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected ndim 0..8, found %u", nd);
        if (flags != 0) return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected flags 0 in version 1, found 0x%02x", flags);
        if (name_len < 1 || name_len > 255) return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected a name length 1..255, found %u", name_len);
        if (meta_len > GSG_TSTREAM_MAX_META) return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected a meta length of at most 32768, found %u", meta_len);
        uint64_t need = GSG_TSTREAM_FIXED + 8ull * nd + name_len + meta_len;
        if (hb % 64 != 0 || hb < need || hb > GSG_TSTREAM_MAX_HEADER)
            return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected header_bytes a multiple of 64 in %llu..65536, found %u", (unsigned long long)need, hb);
        GSG_TRY(r_read(r, h + GSG_TSTREAM_FIXED, hb - GSG_TSTREAM_FIXED, idx, NULL, off));
        int64_t dims[GSG_MAX_DIMS];
        for (unsigned i = 0; i < nd; i++) {
            uint64_t d = get_u64(h + 32 + 8 * i);
            if (d > (uint64_t)INT64_MAX) return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected dim %u below 2^63, found %llu", i, (unsigned long long)d);
            dims[i] = (int64_t)d;
        }
        const char *nm = (const char *)h + 32 + 8 * nd;
        memcpy(rec->name, nm, name_len);
        rec->name[name_len] = 0;
        if (!gsg_tstream_name_valid(rec->name) || strlen(rec->name) != name_len)
            return rec_err(r, GSG_E_FORMAT, idx, NULL, off, "expected a record name of 1-255 chars of [a-z0-9_.], found an invalid one");
        char *meta = (char *)h + 32 + 8 * nd + name_len;
        if (memchr(meta, 0, meta_len)) return rec_err(r, GSG_E_FORMAT, idx, rec->name, off, "expected key=value text in meta, found a NUL byte");
        for (uint64_t i = need; i < hb; i++)
            if (h[i] != 0) return rec_err(r, GSG_E_FORMAT, idx, rec->name, off, "expected zero header padding, found a nonzero byte at header byte %llu", (unsigned long long)i);
        uint64_t expect;
        char sbuf[200];
        if (gsg_shape_bytes((int)nd, dims, gsg_dtype_size((enum gsg_dtype)dt), &expect) != 0)
            return rec_err(r, GSG_E_FORMAT, idx, rec->name, off, "expected a shape whose byte size fits in 64 bits, found %s of %s (overflow)",
                           gsg_shape_str(sbuf, sizeof sbuf, (int)nd, dims), gsg_dtype_name((enum gsg_dtype)dt));
        if (expect != data_bytes)
            return rec_err(r, GSG_E_FORMAT, idx, rec->name, off, "expected data_bytes %llu for shape %s of %s, found %llu",
                           (unsigned long long)expect, gsg_shape_str(sbuf, sizeof sbuf, (int)nd, dims),
                           gsg_dtype_name((enum gsg_dtype)dt), (unsigned long long)data_bytes);
        if (content != ZSTD_CONTENTSIZE_UNKNOWN && content != hb + data_bytes)
            return rec_err(r, GSG_E_FORMAT, idx, rec->name, off, "expected a zstd frame of %llu bytes (header + data), found one of %llu",
                           (unsigned long long)(hb + data_bytes), content);
        if (data_bytes > r->max_bytes)
            return rec_err(r, GSG_E_FORMAT, idx, rec->name, off,
                           "expected a record of at most %llu bytes of data (GSG_MAX_RECORD_BYTES), found %llu",
                           (unsigned long long)r->max_bytes, (unsigned long long)data_bytes);
        if (data_bytes > SIZE_MAX / 2) return rec_err(r, GSG_E_FORMAT, idx, rec->name, off, "expected a record that fits in memory, found %llu bytes of data", (unsigned long long)data_bytes);
        /* data: grow the buffer as bytes arrive, so a lying header cannot force a huge allocation */
        uint64_t got = 0;
        size_t cap_needed = data_bytes ? (size_t)data_bytes : 1;
        uint8_t *data = r->data;
        if (r->fast) {
            if (data_bytes > r->flen - r->fpos)
                return rec_err(r, GSG_E_FORMAT, idx, rec->name, off, "expected %llu bytes of data in the zstd frame, found %zu",
                               (unsigned long long)data_bytes, r->flen - r->fpos);
            data = r->fbuf + r->fpos;   /* 64-byte aligned: fbuf is, and header_bytes is a multiple of 64 */
            r->fpos += (size_t)data_bytes;
        } else if (r->data_cap < cap_needed) {
            size_t step = cap_needed < (64u << 20) ? cap_needed : (64u << 20);
            GSG_TRY(r_grow(r, step));
            while (got < data_bytes) {
                size_t k = (size_t)(data_bytes - got) < r->data_cap - (size_t)got ? (size_t)(data_bytes - got) : r->data_cap - (size_t)got;
                GSG_TRY(r_read(r, r->data + got, k, idx, rec->name, off));
                got += k;
                if (got < data_bytes) {
                    size_t ncap = r->data_cap * 2 < cap_needed ? r->data_cap * 2 : cap_needed;
                    uint8_t *p = gsg_aligned_alloc(ncap);
                    if (!p) return gsg_err_set(GSG_E_NOMEM, "%s: out of memory", r->label);
                    memcpy(p, r->data, (size_t)got);
                    gsg_aligned_free(r->data);
                    r->data = p;
                    r->data_cap = ncap;
                }
            }
            data = r->data;
        } else {
            GSG_TRY(r_read(r, r->data, (size_t)data_bytes, idx, rec->name, off));
        }
        GSG_TRY(r_end_frame(r, idx, rec->name, off));
        r->rec_index++;
        uint64_t end_off = r->ai->off + r->ai->pos;
        if (strcmp(rec->name, GSG_TSTREAM_END_NAME) == 0) {
            int64_t v = 0;
            if (dt != GSG_DTYPE_I64 || nd != 0)
                return rec_err(r, GSG_E_FORMAT, idx, rec->name, off, "expected the end record to be an i64 scalar, found %s of rank %u", gsg_dtype_name((enum gsg_dtype)dt), nd);
            memcpy(&v, data, 8);
            if ((uint64_t)v != r->seg_count)
                return rec_err(r, GSG_E_FORMAT, idx, rec->name, off, "expected the end record to count the %llu records read, found %lld",
                               (unsigned long long)r->seg_count, (long long)v);
            r->seg_count = 0;
            r->last_was_end = 1;
            continue;
        }
        r->seg_count++;
        r->last_was_end = 0;
        meta[meta_len] = 0;   /* hdr has one spare byte past the max header */
        rec->seq = seq;
        rec->meta = meta;
        rec->meta_len = meta_len;
        rec->t = gsg_tensor_view(data, (enum gsg_dtype)dt, GSG_DEV_CPU, (int)nd, dims);
        rec->index = idx;
        rec->offset = off;
        rec->stored_bytes = end_off - off;
        rec->compressed = r->comp;
        return GSG_OK;
    }
}

gsg_status gsg_tstream_record_take(struct gsg_tstream_reader *r, struct gsg_record *rec)
{
    (void)r;
    size_t n = gsg_tensor_nbytes(&rec->t);
    void *p = gsg_aligned_alloc(n ? n : 1);
    if (!p) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    if (n) memcpy(p, rec->t.data, n);   /* a zero-size record may have no data pointer */
    rec->t.data = p;
    rec->t.owned = 1;
    return GSG_OK;
}

gsg_status gsg_tstream_record_error(const struct gsg_tstream_reader *r, const struct gsg_record *rec,
                                    gsg_status st, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rec_err(r, st, rec->index, rec->name, rec->offset, "%s", msg);
}

gsg_status gsg_tstream_expect(const struct gsg_tstream_reader *r, const struct gsg_record *rec,
                              const char *name, enum gsg_dtype dt, int ndim, const int64_t *dims)
{
    char a[200], b[200];
    if (name && strcmp(rec->name, name) != 0)
        return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "expected record '%s'", name);
    if (dt != GSG_DTYPE_INVALID && rec->t.dtype != dt)
        return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "dtype %s, expected %s", gsg_dtype_name(rec->t.dtype), gsg_dtype_name(dt));
    int ok = rec->t.ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        if (dims[i] >= 0 && dims[i] != rec->t.dims[i]) ok = 0;
    if (!ok) {
        int64_t show[GSG_MAX_DIMS];
        for (int i = 0; i < ndim; i++) show[i] = dims[i];
        return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "shape %s, expected %s",
                                        gsg_shape_str(a, sizeof a, rec->t.ndim, rec->t.dims), gsg_shape_str(b, sizeof b, ndim, show));
    }
    return GSG_OK;
}
