/* test_tstream_corrupt.c: every kind of bad stream gives one error naming the record and byte,
 * with the right status, and never a giant allocation; writer failures leave no file behind. */
#define _GNU_SOURCE
#include "check.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>
#include "io/tstream.h"

static char dir[256];
static char path[300];

static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* A raw (uncompressed) record with every field given; returns its size. */
static size_t raw_record(uint8_t *out, uint8_t version, uint8_t dtype, uint8_t ndim, uint8_t flags, uint32_t hb,
                         const char *name, const char *meta, uint64_t seq, uint64_t data_bytes, const uint64_t *dims,
                         const void *data, size_t ndata)
{
    size_t nl = strlen(name), ml = meta ? strlen(meta) : 0;
    memset(out, 0, hb);
    memcpy(out, "GSGT", 4);
    out[4] = version; out[5] = dtype; out[6] = ndim; out[7] = flags;
    for (int i = 0; i < 4; i++) out[8 + i] = (uint8_t)(hb >> (8 * i));
    out[12] = (uint8_t)nl; out[13] = (uint8_t)(nl >> 8);
    out[14] = (uint8_t)ml; out[15] = (uint8_t)(ml >> 8);
    put64(out + 16, seq);
    put64(out + 24, data_bytes);
    for (int i = 0; i < ndim; i++) put64(out + 32 + 8 * i, dims[i]);
    memcpy(out + 32 + 8 * ndim, name, nl);
    if (ml) memcpy(out + 32 + 8 * ndim + nl, meta, ml);
    if (ndata) memcpy(out + hb, data, ndata);
    return hb + ndata;
}

/* A valid raw f32 [2,3] record named "x" plus the end record. */
static size_t good_raw(uint8_t *out, uint64_t nrec_in_end)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    uint64_t dims[2] = {2, 3};
    size_t n = raw_record(out, 1, 1, 2, 0, 64, "x", NULL, 0, 24, dims, v, 24);
    int64_t c = (int64_t)nrec_in_end;
    n += raw_record(out + n, 1, 7, 0, 0, 64, "gsg.end", NULL, 1, 8, NULL, &c, 8);
    return n;
}

static size_t compress_frame(uint8_t *dst, size_t cap, const uint8_t *src, size_t n)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    size_t k = ZSTD_compress2(c, dst, cap, src, n);
    ZSTD_freeCCtx(c);
    GSG_ASSERT(!ZSTD_isError(k));
    return k;
}

static void write_file(const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    GSG_ASSERT(f);
    if (n) GSG_ASSERT(fwrite(p, 1, n, f) == n);
    fclose(f);
}

/* Read the whole file; returns the final status and the number of good records. */
static gsg_status read_all(int *nrec)
{
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    *nrec = 0;
    gsg_status st = gsg_tstream_open_read(&r, path);
    if (st < 0) return st;
    while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) (*nrec)++;
    gsg_tstream_close_read(r);
    return st;
}

#define EXPECT_ERR(status, n_good, ...) do { \
    int nr_; gsg_status st_ = read_all(&nr_); \
    CHECK_MSG(st_ == (status), "status %d, expected %d: %s", st_, (status), gsg_err_msg()); \
    CHECK_EQ_I64(nr_, (n_good)); \
    const char *subs_[] = {__VA_ARGS__, NULL}; \
    for (int i_ = 0; subs_[i_]; i_++) CHECK_MSG(strstr(gsg_err_msg(), subs_[i_]) != NULL, "'%s' not in: %s", subs_[i_], gsg_err_msg()); \
    CHECK(strchr(gsg_err_msg(), '\n') == NULL); \
    CHECK(strstr(gsg_err_msg(), path) == gsg_err_msg()); \
} while (0)

static uint8_t buf[1 << 20], buf2[1 << 20];

TEST(good_raw_stream_reads)
{
    write_file(buf, good_raw(buf, 1));
    int n;
    CHECK(read_all(&n) == GSG_END);
    CHECK_EQ_I64(n, 1);
}

TEST(wrong_magic)
{
    size_t n = good_raw(buf, 1);
    buf[0] = 'X';
    write_file(buf, n);
    EXPECT_ERR(GSG_E_FORMAT, 0, "record 0 at byte 0:", "expected a zstd frame", "found bad magic 58 53 47 54");
    /* inside a zstd frame: the decompressed record has the wrong magic */
    n = good_raw(buf, 1);
    buf[0] = 'G';
    uint8_t tmp[200];
    memcpy(tmp, buf, 88);
    tmp[3] = 'X';
    size_t k = compress_frame(buf2, sizeof buf2, tmp, 88);
    memcpy(buf2 + k, buf + 88, 72);
    write_file(buf2, k + 72);
    EXPECT_ERR(GSG_E_FORMAT, 0, "record 0 at byte 0:", "expected record magic 'GSGT', found 47 53 47 58");
}

TEST(unknown_version_and_dtype)
{
    size_t n = good_raw(buf, 1);
    buf[4] = 2;
    write_file(buf, n);
    EXPECT_ERR(GSG_E_FORMAT, 0, "record 0 at byte 0:", "expected version 1, found unsupported version 2");
    n = good_raw(buf, 1);
    buf[5] = 9;
    write_file(buf, n);
    EXPECT_ERR(GSG_E_FORMAT, 0, "found unknown dtype 9");
    n = good_raw(buf, 1);
    buf[5] = 0;   /* a zeroed header is caught */
    write_file(buf, n);
    EXPECT_ERR(GSG_E_FORMAT, 0, "found unknown dtype 0");
    /* the second record is bad: the first one is still delivered */
    float v[6] = {0};
    uint64_t dims[2] = {2, 3};
    n = raw_record(buf, 1, 1, 2, 0, 64, "x", NULL, 0, 24, dims, v, 24);
    n += raw_record(buf + n, 1, 12, 2, 0, 64, "y", NULL, 1, 24, dims, v, 24);
    write_file(buf, n);
    EXPECT_ERR(GSG_E_FORMAT, 1, "record 1 at byte 88:", "found unknown dtype 12");
}

TEST(bad_fixed_fields)
{
    float v[6] = {0};
    uint64_t dims[9] = {2, 3, 1, 1, 1, 1, 1, 1, 1};
    write_file(buf, raw_record(buf, 1, 1, 9, 0, 128, "x", NULL, 0, 24, dims, v, 24));
    EXPECT_ERR(GSG_E_FORMAT, 0, "expected ndim 0..8, found 9");
    write_file(buf, raw_record(buf, 1, 1, 2, 4, 64, "x", NULL, 0, 24, dims, v, 24));
    EXPECT_ERR(GSG_E_FORMAT, 0, "expected flags 0 in version 1, found 0x04");
    write_file(buf, raw_record(buf, 1, 1, 2, 0, 60, "x", NULL, 0, 24, dims, v, 24));
    EXPECT_ERR(GSG_E_FORMAT, 0, "expected header_bytes a multiple of 64");
    write_file(buf, raw_record(buf, 1, 1, 2, 0, 64, "Bad-Name", NULL, 0, 24, dims, v, 24));
    EXPECT_ERR(GSG_E_FORMAT, 0, "expected a record name of 1-255 chars");
    size_t n = raw_record(buf, 1, 1, 2, 0, 64, "x", NULL, 0, 24, dims, v, 24);
    buf[60] = 7;   /* padding */
    write_file(buf, n);
    EXPECT_ERR(GSG_E_FORMAT, 0, "record 0 'x' at byte 0:", "expected zero header padding");
}

TEST(dims_product_overflow)
{
    uint64_t dims[2] = {1ull << 62, 8};
    write_file(buf, raw_record(buf, 1, 1, 2, 0, 64, "big", NULL, 0, 0, dims, NULL, 0));
    EXPECT_ERR(GSG_E_FORMAT, 0, "record 0 'big' at byte 0:", "fits in 64 bits", "(overflow)");
    uint64_t d2[1] = {1ull << 63};
    write_file(buf, raw_record(buf, 1, 1, 1, 0, 64, "big", NULL, 0, 0, d2, NULL, 0));
    EXPECT_ERR(GSG_E_FORMAT, 0, "expected dim 0 below 2^63");
}

TEST(data_bytes_disagrees_with_shape)
{
    float v[6] = {0};
    uint64_t dims[2] = {2, 3};
    write_file(buf, raw_record(buf, 1, 1, 2, 0, 64, "x", NULL, 0, 20, dims, v, 24));
    EXPECT_ERR(GSG_E_FORMAT, 0, "record 0 'x' at byte 0:", "expected data_bytes 24 for shape [2,3] of f32, found 20");
}

TEST(lying_header_bounded_allocation)
{
    /* raw: claims 2^29 bytes (under GSG_MAX_RECORD_BYTES); the reader must fail with 'truncated'
     * after the 10 bytes that exist */
    uint64_t d29[1] = {1ull << 29};
    write_file(buf, raw_record(buf, 1, 5, 1, 0, 64, "lie", NULL, 0, 1ull << 29, d29, "0123456789", 10));
    EXPECT_ERR(GSG_E_TRUNCATED, 0, "record 0 'lie' at byte 0:", "found end of input (truncated)");
    /* raw: claims 2^40 bytes, above the record limit: refused before anything is read */
    uint64_t dims[1] = {1ull << 40};
    size_t n = raw_record(buf, 1, 5, 1, 0, 64, "lie", NULL, 0, 1ull << 40, dims, "0123456789", 10);
    write_file(buf, n);
    EXPECT_ERR(GSG_E_FORMAT, 0, "record 0 'lie' at byte 0:", "at most 1073741824 bytes of data (GSG_MAX_RECORD_BYTES), found 1099511627776");
    /* compressed: the frame's content size disagrees with the header */
    size_t k = compress_frame(buf2, sizeof buf2, buf, n);
    write_file(buf2, k);
    EXPECT_ERR(GSG_E_FORMAT, 0, "record 0 'lie' at byte 0:", "expected a zstd frame of 1099511627840 bytes");
}

static size_t sample_stream(int level, int nrec)
{
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write(&w, path, level));
    static uint8_t img[200000];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)((i * 2654435761u) >> 13);
    for (int r = 0; r < nrec; r++) {
        struct gsg_tensor t = gsg_tview(img, GSG_DTYPE_U8, 2, (int64_t)200, (int64_t)1000);
        CHECK_OK(gsg_tstream_write(w, "img", (uint64_t)r, NULL, &t));
    }
    CHECK_OK(gsg_tstream_close(w));
    FILE *f = fopen(path, "rb");
    size_t n = fread(buf2, 1, sizeof buf2, f);
    fclose(f);
    return n;
}

TEST(truncation_inside_and_at_boundary)
{
    for (int level = 0; level <= 1; level++) {
        size_t n = sample_stream(level, 3);
        struct gsg_tstream_reader *r;
        struct gsg_record rec;
        CHECK_OK(gsg_tstream_open_read(&r, path));
        uint64_t off[3];
        for (int i = 0; i < 3; i++) { CHECK_OK(gsg_tstream_read(r, &rec)); off[i] = rec.offset; }
        uint64_t end_off = off[2] + rec.stored_bytes;
        gsg_tstream_close_read(r);
        /* inside record 1 */
        write_file(buf2, (size_t)off[1] + 1000);
        if (level == 0) EXPECT_ERR(GSG_E_TRUNCATED, 1, "record 1 'img' at byte", "(truncated)");
        else EXPECT_ERR(GSG_E_TRUNCATED, 1, "record 1", "(truncated)");
        /* at the boundary before the end record */
        write_file(buf2, (size_t)end_off);
        char want[100];
        snprintf(want, sizeof want, "record 3 at byte %llu: expected a record or the end record", (unsigned long long)end_off);
        EXPECT_ERR(GSG_E_TRUNCATED, 3, want, "found end of input (truncated)");
        /* a few stray bytes */
        write_file(buf2, (size_t)off[1] + 2);
        EXPECT_ERR(GSG_E_TRUNCATED, 1, "record 1 at byte");
        /* inside the end record */
        write_file(buf2, n - 3);
        int nr;
        CHECK(read_all(&nr) == GSG_E_TRUNCATED || gsg_err_status() == GSG_E_FORMAT);
        CHECK_EQ_I64(nr, 3);
    }
    write_file(buf2, 0);
    EXPECT_ERR(GSG_E_TRUNCATED, 0, "found empty input (truncated)");
}

TEST(corrupt_zstd_frame)
{
    sample_stream(1, 3);
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    CHECK_OK(gsg_tstream_open_read(&r, path));
    CHECK_OK(gsg_tstream_read(r, &rec));
    CHECK_OK(gsg_tstream_read(r, &rec));
    uint64_t off = rec.offset, sz = rec.stored_bytes;
    gsg_tstream_close_read(r);
    FILE *f = fopen(path, "rb");
    size_t n = fread(buf2, 1, sizeof buf2, f);
    fclose(f);
    /* flip bytes at several places inside record 1's frame: every one must fail at record 1 */
    int fails = 0;
    for (int k = 1; k < 8; k++) {
        size_t at = (size_t)(off + sz * (uint64_t)k / 8);
        buf2[at] ^= 0x5a;
        write_file(buf2, n);
        int nr;
        gsg_status st = read_all(&nr);
        char want[64];
        snprintf(want, sizeof want, "record 1 'img' at byte %llu", (unsigned long long)off);
        if (!(st == GSG_E_FORMAT && nr == 1 && (strstr(gsg_err_msg(), want) || strstr(gsg_err_msg(), "record 1 at byte"))))
            { fails++; printf("  flip at %zu: status %d, %d records: %s\n", at, st, nr, gsg_err_msg()); }
        buf2[at] ^= 0x5a;
    }
    CHECK_EQ_I64(fails, 0);
    /* the last byte is part of the checksum */
    buf2[off + sz - 1] ^= 1;
    write_file(buf2, n);
    EXPECT_ERR(GSG_E_FORMAT, 1, "record 1 'img'", "expected a valid zstd frame, found a corrupt one");
}

TEST(end_record_count_mismatch)
{
    write_file(buf, good_raw(buf, 5));
    EXPECT_ERR(GSG_E_FORMAT, 1, "record 1 'gsg.end' at byte 88:", "expected the end record to count the 1 records read, found 5");
}

static int count_tmp_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

TEST(writer_dev_full_and_abort)
{
    struct gsg_tstream_writer *w;
    FILE *f = fopen("/dev/full", "wb");
    if (!f) { printf("  /dev/full missing\n"); return; }
    CHECK_OK(gsg_tstream_open_write_file(&w, f, "/dev/full", 1));
    static uint8_t big[1 << 18];
    struct gsg_tensor t = gsg_tview(big, GSG_DTYPE_U8, 1, (int64_t)sizeof big);
    gsg_status st = gsg_tstream_write(w, "x", 0, NULL, &t);
    if (st == GSG_OK) st = gsg_tstream_close(w);
    else gsg_tstream_abort(w);
    fclose(f);
    CHECK(st == GSG_E_IO);
    CHECK(strstr(gsg_err_msg(), "write error") != NULL);
    /* abort removes the temporary file and never creates the target */
    unlink(path);
    CHECK_OK(gsg_tstream_open_write(&w, path, 1));
    CHECK_OK(gsg_tstream_write(w, "x", 0, NULL, &t));
    CHECK_EQ_I64(count_tmp_files(), 1);
    gsg_tstream_abort(w);
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ_I64(count_tmp_files(), 0);
}

/* A record must reach the reader as soon as the producer flushes it (no waiting for a full input buffer). */
TEST(pipe_delivers_record_before_more_input)
{
    int data[2], ack[2];
    CHECK(pipe(data) == 0 && pipe(ack) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(data[0]); close(ack[1]);
        FILE *f = fdopen(data[1], "wb");
        struct gsg_tstream_writer *w;
        int64_t v = 7;
        struct gsg_tensor t = gsg_tview(&v, GSG_DTYPE_I64, 0);
        if (gsg_tstream_open_write_file(&w, f, "pipe", 1) < 0 || gsg_tstream_write(w, "first", 0, NULL, &t) < 0 ||
            gsg_tstream_flush(w) < 0) _exit(3);
        char c;
        if (read(ack[0], &c, 1) != 1) _exit(4);   /* wait until the reader has record 0 */
        if (gsg_tstream_write(w, "second", 1, NULL, &t) < 0 || gsg_tstream_close(w) < 0) _exit(5);
        fclose(f);
        _exit(0);
    }
    close(data[1]); close(ack[0]);
    alarm(10);   /* a reader that waits for more input would deadlock here */
    FILE *f = fdopen(data[0], "rb");
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    CHECK_OK(gsg_tstream_open_read_file(&r, f, "pipe"));
    CHECK_OK(gsg_tstream_read(r, &rec));
    CHECK(strcmp(rec.name, "first") == 0);
    CHECK(write(ack[1], "k", 1) == 1);
    CHECK_OK(gsg_tstream_read(r, &rec));
    CHECK(strcmp(rec.name, "second") == 0);
    CHECK(gsg_tstream_read(r, &rec) == GSG_END);
    alarm(0);
    gsg_tstream_close_read(r);
    fclose(f);
    close(ack[1]);
    int ws;
    waitpid(pid, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/gsg_test_corrupt.XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(path, sizeof path, "%s/s.gsgt", dir);
    RUN(good_raw_stream_reads);
    RUN(wrong_magic);
    RUN(unknown_version_and_dtype);
    RUN(bad_fixed_fields);
    RUN(dims_product_overflow);
    RUN(data_bytes_disagrees_with_shape);
    RUN(lying_header_bounded_allocation);
    RUN(truncation_inside_and_at_boundary);
    RUN(corrupt_zstd_frame);
    RUN(end_record_count_mismatch);
    RUN(writer_dev_full_and_abort);
    RUN(pipe_delivers_record_before_more_input);
    unlink(path);
    rmdir(dir);
    return check_summary();
}
