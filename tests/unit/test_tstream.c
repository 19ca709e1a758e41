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
    /* an uncompressed record claiming 2^40 bytes of data, followed by 10 bytes */
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
    CHECK(st == GSG_E_TRUNCATED);
    CHECK(strstr(gsg_err_msg(), "record 0 'x' at byte 0") != NULL);
    unlink(P);
}

int main(void)
{
    RUN(roundtrip_levels);
    RUN(concatenation_and_truncation);
    RUN(lying_header_no_giant_alloc);
    return check_summary();
}
