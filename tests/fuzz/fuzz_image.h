/* fuzz_image.h: one image entry of a JPEG folder data set (lib/io/jpeg.c via lib/io/dataset.c,
 * gsg-augment --data FOLDER), shared by fuzz_jpeg.c and fuzz_png.c (which differ only in the
 * entry's file name and their corpora: PNG files are not JPEGs and must be refused by name).
 *  1. The entry (class folder c/, file a.EXT) sits beside a good JPEG c/b.jpg; the folder is
 *     opened with --skip-bad: the good image must be kept and decode (a bad entry must not break
 *     the thread's decoder for the next file), the entry decodes or fails with a message.
 *  2. Without --skip-bad the open fails or keeps both.
 *  3. One long-lived decoder probes and decodes the entry, then the good JPEG: that must work. */
#include "fuzz.h"
#include "io/dataset.h"
#include "io/jpeg.h"

#ifndef FUZZ_IMAGE_NAME
#error define FUZZ_IMAGE_NAME
#endif

static char *good_path, *dir_path;
static struct gsg_jpeg dec;

static void image_init(void)
{
    if (good_path) return;
    uint8_t pix[16 * 16 * 3];
    for (int i = 0; i < (int)sizeof pix; i++) pix[i] = (uint8_t)(i * 7);
    char *tmp = fuzz_file("d/c/.keep", "", 0);
    free(tmp);
    FUZZ_CHECK(asprintf(&good_path, "%s/d/c/b.jpg", fuzz_dir()) > 0);
    FUZZ_CHECK(asprintf(&dir_path, "%s/d", fuzz_dir()) > 0);
    FUZZ_CHECK(gsg_jpeg_write(good_path, pix, 16, 16, 3, 90) == GSG_OK);
    FUZZ_CHECK(gsg_jpeg_init(&dec) == GSG_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    image_init();
    char *entry = fuzz_file("d/c/" FUZZ_IMAGE_NAME, data, size);
    int w, h, ow, oh;
    /* 3: one decoder, bad then good */
    if (gsg_jpeg_probe(&dec, entry, &w, &h) == GSG_OK) {
        FUZZ_CHECK(w > 0 && h > 0);
        if (gsg_jpeg_decode_file(&dec, entry, 3, 64, &w, &h, &ow, &oh) == GSG_OK) fuzz_touch(dec.out, (size_t)3 * w * h);
        if (gsg_jpeg_decode_file(&dec, entry, 1, 0, &w, &h, &ow, &oh) == GSG_OK) fuzz_touch(dec.out, (size_t)w * h);
    } else {
        FUZZ_CHECK(gsg_err_msg()[0]);
    }
    FUZZ_CHECK(gsg_jpeg_decode_file(&dec, good_path, 3, 0, &w, &h, &ow, &oh) == GSG_OK);
    FUZZ_CHECK(w == 16 && h == 16);

    /* 1: --skip-bad keeps the good file */
    for (int skip = 1; skip >= 0; skip--) {
        struct gsg_dataset ds;
        struct gsg_dataset_opts o = {.path = dir_path, .format = GSG_DATA_JPEG, .skip_bad = skip};
        gsg_status st = gsg_dataset_open(&ds, &o);
        if (skip) FUZZ_CHECK(st == GSG_OK);
        if (st < 0) { FUZZ_CHECK(gsg_err_msg()[0]); continue; }
        FUZZ_CHECK(ds.n == 2 - ds.skipped && ds.n >= 1);
        FUZZ_CHECK(skip || ds.n == 2);
        struct gsg_dataset_loader l = {0};
        struct gsg_image img;
        for (int64_t i = 0; i < ds.n; i++) {
            int is_good = strcmp(ds.files[i], good_path) == 0;
            st = gsg_dataset_image(&l, &ds, i, 3, 32, &img);
            FUZZ_CHECK(st == GSG_OK || !is_good);
            if (st == GSG_OK) fuzz_touch(img.data, (size_t)3 * img.h * img.w);
        }
        FUZZ_CHECK(strcmp(ds.files[ds.n - 1], good_path) == 0);
        FUZZ_CHECK(gsg_dataset_image(&l, &ds, ds.n - 1, 1, 0, &img) == GSG_OK && img.w == 16 && img.h == 16);
        gsg_dataset_loader_free(&l);
        gsg_dataset_free(&ds);
    }
    free(entry);
    return 0;
}
