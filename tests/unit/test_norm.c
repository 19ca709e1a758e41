/* test_norm.c: gsg_record_norm, the mean=/std= meta of image records (lib/io/norm.h). */
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "core/status.h"
#include "io/norm.h"

/* One record per meta text, written to a temp stream and read back: results per record. */
struct norm_case { const char *meta; int64_t C; int want_st; int want_found; float mean0, mean2, std2; };

static const struct norm_case CASES[] = {
    { "mean=0.5\nstd=0.25\n", 3, GSG_OK, 1, 0.5f, 0.5f, 0.25f },                 /* one value: every channel */
    { "mean=0.1,0.2,0.3\nstd=1,2,3\n", 3, GSG_OK, 1, 0.1f, 0.3f, 3.0f },
    { "mean=0.1,0.2,0.3\nstd=1,2,3\n", 1, GSG_OK, 1, 0.1f, 0.3f, 3.0f },         /* more than C: kept */
    { "epoch=0\n", 3, GSG_OK, 0, 0, 0, 0 },                                     /* absent: caller decides */
    { "mean=0.1\n", 1, GSG_OK, 0, 0, 0, 0 },                                    /* half absent */
    { "mean=0.1,0.2\nstd=1,2\n", 3, GSG_E_FORMAT, 1, 0, 0, 0 },                  /* 2 numbers for 3 channels */
    { "mean=0.1,0.2,0.3,0.4\nstd=1\n", 3, GSG_E_FORMAT, 1, 0, 0, 0 },            /* 4 numbers */
    { "mean=0.1\nstd=0\n", 1, GSG_E_FORMAT, 1, 0, 0, 0 },                        /* std must be positive */
    { "mean=0.1\nstd=-1\n", 1, GSG_E_FORMAT, 1, 0, 0, 0 },
    { "mean=x\nstd=1\n", 1, GSG_E_FORMAT, 1, 0, 0, 0 },
    { "mean=0.1;0.2\nstd=1\n", 1, GSG_E_FORMAT, 1, 0, 0, 0 },                    /* bad separator */
    { "mean=nan\nstd=1\n", 1, GSG_E_FORMAT, 1, 0, 0, 0 },
    { "mean=0.1,\nstd=1\n", 1, GSG_E_FORMAT, 1, 0, 0, 0 },                       /* trailing comma */
};

TEST(record_norm_cases)
{
    char path[] = "/tmp/gsg-test-norm.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write(&w, path, 1));
    const int n = (int)(sizeof CASES / sizeof CASES[0]);
    for (int i = 0; i < n; i++) {
        uint8_t px[3] = { 0 };
        int64_t d[4] = { 1, 3, 1, 1 };
        CHECK_OK(gsg_tstream_write_raw(w, "images", (uint64_t)i, CASES[i].meta, GSG_DTYPE_U8, 4, d, px));
    }
    CHECK_OK(gsg_tstream_close(w));
    struct gsg_tstream_reader *r;
    CHECK_OK(gsg_tstream_open_read(&r, path));
    for (int i = 0; i < n; i++) {
        struct gsg_record rec;
        CHECK_OK(gsg_tstream_read(r, &rec));
        float mean[3] = { -9, -9, -9 }, std[3] = { -9, -9, -9 };
        int found = -1;
        gsg_status st = gsg_record_norm(r, &rec, CASES[i].C, mean, std, &found);
        CHECK_MSG(st == CASES[i].want_st, "case %d (%s): status %d, want %d", i, CASES[i].meta, (int)st, CASES[i].want_st);
        if (st == GSG_E_FORMAT) CHECK_MSG(strstr(gsg_err_msg(), "record") != NULL, "case %d: %s", i, gsg_err_msg());
        if (st != GSG_OK) continue;
        CHECK_EQ_I64(found, CASES[i].want_found);
        if (!found) continue;
        CHECK_CLOSE(mean[0], CASES[i].mean0, 0, 1e-7);
        CHECK_CLOSE(mean[2], CASES[i].mean2, 0, 1e-7);
        CHECK_CLOSE(std[2], CASES[i].std2, 0, 1e-7);
    }
    gsg_tstream_close_read(r);
    unlink(path);
}

int main(void)
{
    RUN(record_norm_cases);
    return check_summary();
}
