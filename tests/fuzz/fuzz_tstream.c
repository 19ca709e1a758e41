/* fuzz_tstream.c: the GSGT tensor stream reader (lib/io/tstream.c) on arbitrary bytes: every
 * record is read and its data touched; then the same bytes go through the data set reader for u8
 * image streams (gsg-augment --data FILE.gsgt, lib/io/dataset.c), which copies images out. */
#include "fuzz.h"
#include "io/dataset.h"
#include "io/tstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd(data, size, path);
    FILE *f = fdopen(dup(fd), "rb");
    FUZZ_CHECK(f);
    struct gsg_tstream_reader *r = NULL;
    if (gsg_tstream_open_read_file(&r, f, "fuzz") == GSG_OK) {
        struct gsg_record rec;
        gsg_status st;
        uint64_t n = 0;
        while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) {
            size_t nb = gsg_tensor_nbytes(&rec.t);
            FUZZ_CHECK(nb == 0 || rec.t.data);
            FUZZ_CHECK(strlen(rec.meta) == rec.meta_len);
            fuzz_touch(rec.t.data, nb);
            if (n++ % 2 == 0) {
                FUZZ_CHECK(gsg_tstream_record_take(r, &rec) == GSG_OK);
                fuzz_touch(rec.t.data, nb);
                gsg_aligned_free(rec.t.data);
            }
            int64_t any[GSG_MAX_DIMS] = {-1, -1, -1, -1, -1, -1, -1, -1};
            (void)gsg_tstream_expect(r, &rec, "images", GSG_DTYPE_U8, 4, any);
        }
        FUZZ_CHECK(st == GSG_END || st < 0);
        FUZZ_CHECK(st == GSG_END || gsg_err_msg()[0]);
        gsg_tstream_close_read(r);
    }
    fclose(f);

    struct gsg_dataset ds;
    struct gsg_dataset_opts o = {.path = path, .format = GSG_DATA_STREAM};
    if (gsg_dataset_open(&ds, &o) == GSG_OK) {
        FUZZ_CHECK(ds.n > 0 && ds.c >= 1 && ds.h >= 1 && ds.w >= 1);
        struct gsg_dataset_loader l = {0};
        int64_t pick[2] = {0, ds.n - 1};
        for (int k = 0; k < 2; k++)
            for (int ch = 1; ch <= 3; ch += 2) {
                struct gsg_image img;
                if (gsg_dataset_image(&l, &ds, pick[k], ch, 0, &img) == GSG_OK)
                    fuzz_touch(img.data, (size_t)img.c * img.h * img.w);
            }
        fuzz_touch(ds.labels, (size_t)ds.n * sizeof *ds.labels);
        gsg_dataset_loader_free(&l);
        gsg_dataset_free(&ds);
    }
    close(fd);
    return 0;
}
