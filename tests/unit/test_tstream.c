/* test_tstream.c: tensor stream round trips, concatenation, and corrupt input. */
#include "check.h"
#include <stdlib.h>
#include <unistd.h>
#include "io/tstream.h"

static const char *P = "/tmp/gsg_test_tstream.gsgt";

static void write_sample(const char *path, int level, int nrec)
{
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write(&w, path, level));
    float x[6] = {1, 2, 3, 4, 5, 6};
    uint8_t big[100000];
    for (int i = 0; i < (int)sizeof big; i++) big[i] = (uint8_t)(i * 7);
    for (int r = 0; r < nrec; r++) {
        struct gsg_tensor t = gsg_tview(x, GSG_DTYPE_F32, 2, (int64_t)2, (int64_t)3);
        CHECK_OK(gsg_tstream_write(w, "batch.x", (uint64_t)r, "epoch=1\nseed=5\n", &t));
        struct gsg_tensor u = gsg_tview(big, GSG_DTYPE_U8, 3, (int64_t)10, (int64_t)100, (int64_t)100);
        CHECK_OK(gsg_tstream_write(w, "batch.img", (uint64_t)r, NULL, &u));
        int64_t s = 42;
        struct gsg_tensor sc = gsg_tview(&s, GSG_DTYPE_I64, 0);
        CHECK_OK(gsg_tstream_write(w, "scalar", (uint64_t)r, NULL, &sc));
    }
    CHECK_OK(gsg_tstream_close(w));
}

static int count_records(const char *path, gsg_status *last)
{
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    *last = gsg_tstream_open_read(&r, path);
    if (*last < 0) return -1;
    int n = 0;
    while ((*last = gsg_tstream_read(r, &rec)) == GSG_OK) n++;
    gsg_tstream_close_read(r);
    return n;
}

TEST(roundtrip_levels)
{
    for (int level = 0; level <= 3; level += 3) {
        write_sample(P, level, 2);
        struct gsg_tstream_reader *r;
        struct gsg_record rec;
        CHECK_OK(gsg_tstream_open_read(&r, P));
        CHECK_OK(gsg_tstream_read(r, &rec));
        CHECK(strcmp(rec.name, "batch.x") == 0);
        CHECK(rec.t.dtype == GSG_DTYPE_F32 && rec.t.ndim == 2 && rec.t.dims[1] == 3);
        CHECK_CLOSE(((float *)rec.t.data)[5], 6, 0, 0);
        char v[16];
        CHECK(gsg_meta_get(rec.meta, "seed", v, sizeof v) && strcmp(v, "5") == 0);
        CHECK(rec.compressed == (level > 0));
        CHECK_OK(gsg_tstream_read(r, &rec));
        CHECK(rec.t.dims[0] == 10 && ((uint8_t *)rec.t.data)[99999] == (uint8_t)(99999 * 7));
        CHECK_OK(gsg_tstream_read(r, &rec));
        CHECK(rec.t.ndim == 0 && ((int64_t *)rec.t.data)[0] == 42);
        int n = 3;
        gsg_status st;
        while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) n++;
        CHECK(st == GSG_END);
        CHECK_EQ_I64(n, 6);
        gsg_tstream_close_read(r);
    }
}

TEST(concatenation_and_truncation)
{
    write_sample(P, 1, 2);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cat %s %s > %s.cat && zstd -t -q %s.cat", P, P, P, P);
    CHECK(system(cmd) == 0);
    char cat[256];
    snprintf(cat, sizeof cat, "%s.cat", P);
    gsg_status st;
    CHECK_EQ_I64(count_records(cat, &st), 12);
    CHECK(st == GSG_END);
    /* cut inside the last record */
    snprintf(cmd, sizeof cmd, "head -c $(( $(stat -c %%s %s) - 5 )) %s > %s.cat", P, P, P);
    CHECK(system(cmd) == 0);
    count_records(cat, &st);
    CHECK(st == GSG_E_TRUNCATED || st == GSG_E_FORMAT);
    CHECK(strstr(gsg_err_msg(), "record") != NULL);
    unlink(cat);
    unlink(P);
}

TEST(lying_header_no_giant_alloc)
{
    /* an uncompressed record claiming 2^40 bytes of data, followed by 10 bytes: above the
     * record limit (GSG_MAX_RECORD_BYTES), refused from its header */
    uint8_t h[64] = {'G', 'S', 'G', 'T', 1, 5, 1, 0, 64, 0, 0, 0, 1, 0, 0, 0};
    uint64_t n = 1ull << 40;
    memcpy(h + 24, &n, 8);
    memcpy(h + 32, &n, 8);
    h[40] = 'x';
    FILE *f = fopen(P, "wb");
    fwrite(h, 1, 64, f);
    fwrite("0123456789", 1, 10, f);
    fclose(f);
    gsg_status st;
    count_records(P, &st);
    CHECK(st == GSG_E_FORMAT);
    CHECK(strstr(gsg_err_msg(), "record 0 'x' at byte 0") != NULL);
    CHECK(strstr(gsg_err_msg(), "GSG_MAX_RECORD_BYTES") != NULL);
    unlink(P);
}

TEST(all_dtypes_levels_exact)
{
    static const enum gsg_dtype dts[] = {GSG_DTYPE_F32, GSG_DTYPE_F16, GSG_DTYPE_BF16, GSG_DTYPE_F64,
                                         GSG_DTYPE_U8, GSG_DTYPE_I32, GSG_DTYPE_I64};
    static const int levels[] = {0, 1, 3, 19};
    uint8_t src[7][8 * 60];
    for (int d = 0; d < 7; d++)
        for (size_t i = 0; i < sizeof src[d]; i++) src[d][i] = (uint8_t)(i * 131 + (size_t)d * 7 + (i >> 5));
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        struct gsg_tstream_writer *w;
        CHECK_OK(gsg_tstream_open_write(&w, P, levels[l]));
        for (int d = 0; d < 7; d++) {
            struct gsg_tensor t = gsg_tview(src[d], dts[d], 3, (int64_t)3, (int64_t)4, (int64_t)5);
            CHECK_OK(gsg_tstream_write(w, "t", (uint64_t)(100 + d), NULL, &t));
        }
        int64_t e = 0;
        struct gsg_tensor empty = gsg_tview(&e, GSG_DTYPE_F32, 2, (int64_t)0, (int64_t)5);
        CHECK_OK(gsg_tstream_write(w, "empty", 7, "k=v\n", &empty));
        CHECK_EQ_I64(gsg_tstream_count(w), 8);
        CHECK_OK(gsg_tstream_close(w));
        struct gsg_tstream_reader *r;
        struct gsg_record rec;
        CHECK_OK(gsg_tstream_open_read(&r, P));
        uint64_t stored = 0;
        for (int d = 0; d < 7; d++) {
            CHECK_OK(gsg_tstream_read(r, &rec));
            CHECK(rec.t.dtype == dts[d] && rec.t.ndim == 3 && rec.t.dims[2] == 5 && rec.seq == (uint64_t)(100 + d));
            CHECK(memcmp(rec.t.data, src[d], 60 * gsg_dtype_size(dts[d])) == 0);
            CHECK(((uintptr_t)rec.t.data & 63) == 0);
            CHECK(rec.offset == stored);
            stored += rec.stored_bytes;
        }
        CHECK_OK(gsg_tstream_read(r, &rec));
        CHECK(rec.t.ndim == 2 && rec.t.dims[0] == 0 && strcmp(rec.meta, "k=v\n") == 0 && rec.meta_len == 4);
        CHECK(gsg_tstream_read(r, &rec) == GSG_END);
        CHECK(gsg_tstream_read(r, &rec) == GSG_END);
        gsg_tstream_close_read(r);
    }
    unlink(P);
}

TEST(take_keeps_data_and_expect_messages)
{
    write_sample(P, 1, 2);
    struct gsg_tstream_reader *r;
    struct gsg_record rec, kept;
    CHECK_OK(gsg_tstream_open_read(&r, P));
    CHECK_OK(gsg_tstream_read(r, &kept));
    CHECK_OK(gsg_tstream_record_take(r, &kept));
    CHECK_OK(gsg_tstream_read(r, &rec));
    int64_t want[3] = {10, -1, 100};
    CHECK_OK(gsg_tstream_expect(r, &rec, "batch.img", GSG_DTYPE_U8, 3, want));
    want[2] = 99;
    CHECK(gsg_tstream_expect(r, &rec, "batch.img", GSG_DTYPE_U8, 3, want) == GSG_E_FORMAT);
    CHECK(strstr(gsg_err_msg(), "record 1 'batch.img' at byte") && strstr(gsg_err_msg(), "shape [10,100,100], expected [10,-1,99]"));
    CHECK(gsg_tstream_expect(r, &rec, "other", GSG_DTYPE_INVALID, 3, want) == GSG_E_FORMAT);
    CHECK(gsg_tstream_expect(r, &rec, NULL, GSG_DTYPE_F32, 3, want) == GSG_E_FORMAT);
    CHECK(strstr(gsg_err_msg(), "dtype u8, expected f32") != NULL);
    while (gsg_tstream_read(r, &rec) == GSG_OK) {}
    CHECK_CLOSE(((float *)kept.t.data)[4], 5, 0, 0);
    gsg_tensor_free(&kept.t);
    gsg_tstream_close_read(r);
    unlink(P);
}

TEST(writer_rejects_bad_records)
{
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write(&w, P, 1));
    float x = 1;
    struct gsg_tensor t = gsg_tview(&x, GSG_DTYPE_F32, 0);
    CHECK(gsg_tstream_write(w, "Upper", 0, NULL, &t) == GSG_E_USAGE);
    CHECK(gsg_tstream_write(w, "", 0, NULL, &t) == GSG_E_USAGE);
    CHECK(gsg_tstream_write(w, "gsg.end", 0, NULL, &t) == GSG_E_USAGE);
    static char meta[40000];
    memset(meta, 'a', sizeof meta - 1);
    CHECK(gsg_tstream_write(w, "m", 0, meta, &t) == GSG_E_USAGE);
    CHECK_EQ_I64(gsg_tstream_count(w), 0);
    gsg_tstream_abort(w);
    CHECK(access(P, F_OK) != 0);
    struct gsg_tstream_writer *w2;
    CHECK(gsg_tstream_open_write(&w2, P, 23) == GSG_E_USAGE && w2 == NULL);
    CHECK(access(P, F_OK) != 0);
    char buf[64] = "";
    CHECK(gsg_meta_add(buf, sizeof buf, "epoch", "%d", 3) == 0 && gsg_meta_add(buf, sizeof buf, "seed", "%s", "9") == 0);
    CHECK(strcmp(buf, "epoch=3\nseed=9\n") == 0);
    char v[8];
    CHECK(gsg_meta_get(buf, "seed", v, sizeof v) && strcmp(v, "9") == 0);
    CHECK(!gsg_meta_get(buf, "see", v, sizeof v));
    CHECK(gsg_meta_add(buf, 20, "toolong", "%s", "xxxxxxxxxxxx") == -1 && strcmp(buf, "epoch=3\nseed=9\n") == 0);
}

TEST(mixed_raw_and_compressed_concatenation)
{
    char p0[300], cmd[1200];
    snprintf(p0, sizeof p0, "%s.raw", P);
    write_sample(p0, 0, 1);
    write_sample(P, 1, 1);
    snprintf(cmd, sizeof cmd, "cat %s %s %s > %s.mix", p0, P, p0, P);
    CHECK(system(cmd) == 0);
    char mix[320];
    snprintf(mix, sizeof mix, "%s.mix", P);
    gsg_status st;
    CHECK_EQ_I64(count_records(mix, &st), 9);
    CHECK(st == GSG_END);
    /* the decompressed compressed stream is the raw stream, byte for byte */
    snprintf(cmd, sizeof cmd, "zstd -d -q -c %s | cmp -s - %s", P, p0);
    CHECK(system(cmd) == 0);
    unlink(p0);
    unlink(mix);
    unlink(P);
}

TEST(large_record_grows_buffer)
{
    /* 80 MiB: larger than the first 64 MiB step of the reader's buffer */
    size_t n = 80u << 20;
    uint8_t *big = gsg_aligned_alloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(i >> 12);
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write(&w, P, 1));
    struct gsg_tensor t = gsg_tview(big, GSG_DTYPE_U8, 2, (int64_t)(n >> 12), (int64_t)4096);
    CHECK_OK(gsg_tstream_write(w, "big", 0, NULL, &t));
    CHECK_OK(gsg_tstream_close(w));
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    CHECK_OK(gsg_tstream_open_read(&r, P));
    CHECK_OK(gsg_tstream_read(r, &rec));
    CHECK(gsg_tensor_nbytes(&rec.t) == n && memcmp(rec.t.data, big, n) == 0);
    CHECK(gsg_tstream_read(r, &rec) == GSG_END);
    gsg_tstream_close_read(r);
    gsg_aligned_free(big);
    unlink(P);
}

int main(void)
{
    RUN(roundtrip_levels);
    RUN(concatenation_and_truncation);
    RUN(lying_header_no_giant_alloc);
    RUN(all_dtypes_levels_exact);
    RUN(take_keeps_data_and_expect_messages);
    RUN(writer_rejects_bad_records);
    RUN(mixed_raw_and_compressed_concatenation);
    RUN(large_record_grows_buffer);
    return check_summary();
}
