/* test_dataset.c: the four readers (IDX plain/gzip, CIFAR-10/100, JPEG folder,
 * tensor stream) on data made here, their validation of bad input, and
 * Debian's Fashion-MNIST when it is installed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "core/afile.h"
#include "io/cifar.h"
#include "io/dataset.h"
#include "io/idx.h"
#include "io/jpeg.h"
#include "io/tstream.h"

static char root[256];

static const char *P(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static gsg_status open_ds(struct gsg_dataset *ds, const char *path, enum gsg_data_format f, int test, int skip_bad)
{
    struct gsg_dataset_opts o = {.path = path, .format = f, .test = test, .skip_bad = skip_bad};
    return gsg_dataset_open(ds, &o);
}

TEST(idx_plain_and_gzip)
{
    mkdir(P("idx"), 0755);
    uint8_t img[5 * 3 * 4], lab[5] = {0, 1, 2, 3, 9};
    for (int i = 0; i < 60; i++) img[i] = (uint8_t)(i * 3);
    int64_t d3[3] = {5, 3, 4}, d1[1] = {5};
    CHECK_OK(gsg_idx_write(P("idx/train-images-idx3-ubyte.gz"), 3, d3, img, 1));
    CHECK_OK(gsg_idx_write(P("idx/train-labels-idx1-ubyte.gz"), 1, d1, lab, 1));
    CHECK_OK(gsg_idx_write(P("idx/t10k-images-idx3-ubyte"), 3, d3, img, 0));
    CHECK_OK(gsg_idx_write(P("idx/t10k-labels-idx1-ubyte"), 1, d1, lab, 0));
    for (int test = 0; test < 2; test++) {
        struct gsg_dataset ds;
        CHECK_OK(open_ds(&ds, P("idx"), GSG_DATA_AUTO, test, 0));
        CHECK_EQ_I64(ds.format, GSG_DATA_IDX);
        CHECK_EQ_I64(ds.n, 5); CHECK_EQ_I64(ds.c, 1); CHECK_EQ_I64(ds.h, 3); CHECK_EQ_I64(ds.w, 4);
        CHECK(ds.images && memcmp(ds.images, img, 60) == 0);
        CHECK(ds.labels && ds.labels[4] == 9 && ds.labels[1] == 1);
        CHECK_EQ_I64(ds.nclasses, 10);
        gsg_dataset_free(&ds);
    }
    /* the image file alone finds its labels file; --limit */
    struct gsg_dataset ds;
    struct gsg_dataset_opts o = {.path = P("idx/t10k-images-idx3-ubyte"), .limit = 2};
    CHECK_OK(gsg_dataset_open(&ds, &o));
    CHECK_EQ_I64(ds.n, 2);
    CHECK(ds.labels && ds.labels[1] == 1);
    gsg_dataset_free(&ds);
}

TEST(idx_bad_input)
{
    uint8_t img[2 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t d3[3] = {2, 2, 2}, big[3] = {3, 2, 2};
    uint8_t *data;
    int64_t dims[3];
    /* header promises 3 images, file holds 2: truncated, naming the file and both sizes */
    CHECK_OK(gsg_idx_write(P("short.idx"), 3, d3, img, 0));
    FILE *f = fopen(P("short.idx"), "r+b");
    uint8_t three = 3;
    fseek(f, 7, SEEK_SET); fwrite(&three, 1, 1, f); fclose(f);
    (void)big;
    gsg_status st = gsg_idx_read(P("short.idx"), 3, &data, dims);
    CHECK_EQ_I64(st, GSG_E_TRUNCATED);
    CHECK_MSG(strstr(gsg_err_msg(), "short.idx") && strstr(gsg_err_msg(), "3x2x2 = 12 bytes") && strstr(gsg_err_msg(), "has 8"), "%s", gsg_err_msg());
    /* gzip: the same check on the decompressed bytes */
    uint8_t raw[16 + 8];
    CHECK_OK(gsg_idx_write(P("ok.idx"), 3, d3, img, 0));
    FILE *g = fopen(P("ok.idx"), "rb"); CHECK(fread(raw, 1, 24, g) == 24); fclose(g);
    raw[7] = 3;
    CHECK_OK(gsg_idx_write(P("tmp.idx"), 1, (int64_t[]){24}, raw, 1));   /* gzip of the raw bytes, with a bogus 1-d header */
    /* a gzip stream that is cut short */
    CHECK_OK(gsg_idx_write(P("cut.idx.gz"), 3, d3, img, 1));
    struct stat sb; stat(P("cut.idx.gz"), &sb);
    CHECK(truncate(P("cut.idx.gz"), sb.st_size - 12) == 0);
    st = gsg_idx_read(P("cut.idx.gz"), 3, &data, dims);
    CHECK(st < 0);
    CHECK_MSG(strstr(gsg_err_msg(), "cut.idx.gz") != NULL, "%s", gsg_err_msg());
    /* more data than the header says */
    uint8_t extra[24 + 3];
    memcpy(extra, raw, 24); raw[7] = 2; memcpy(extra, raw, 24); extra[24] = extra[25] = extra[26] = 1;
    write_bytes(P("long.idx"), extra, sizeof extra);
    st = gsg_idx_read(P("long.idx"), 3, &data, dims);
    CHECK_EQ_I64(st, GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "more data") != NULL, "%s", gsg_err_msg());
    /* wrong magic / dims */
    uint8_t bad[8] = {0, 0, 9, 3, 0, 0, 0, 0};
    write_bytes(P("magic.idx"), bad, sizeof bad);
    CHECK_EQ_I64(gsg_idx_read(P("magic.idx"), 3, &data, dims), GSG_E_FORMAT);
    CHECK_EQ_I64(gsg_idx_read(P("ok.idx"), 1, &data, dims), GSG_E_FORMAT);   /* images where labels are expected */
    /* labels that do not match the images */
    mkdir(P("idx2"), 0755);
    int64_t d1[1] = {3};
    uint8_t lab[3] = {0, 1, 2};
    CHECK_OK(gsg_idx_write(P("idx2/train-images-idx3-ubyte"), 3, d3, img, 0));
    CHECK_OK(gsg_idx_write(P("idx2/train-labels-idx1-ubyte"), 1, d1, lab, 0));
    struct gsg_dataset ds;
    CHECK_EQ_I64(open_ds(&ds, P("idx2"), GSG_DATA_IDX, 0, 0), GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "3 labels, expected 2") != NULL, "%s", gsg_err_msg());
}

static void cifar_file(const char *path, int classes, int n, int first_label)
{
    size_t lb = classes == 10 ? 1 : 2, rec = lb + 3072;
    uint8_t *b = malloc(rec * (size_t)n);
    for (int i = 0; i < n; i++) {
        uint8_t *r = b + rec * (size_t)i;
        if (classes == 100) r[0] = (uint8_t)(i % 20);
        r[lb - 1] = (uint8_t)((first_label + i) % classes);
        for (int p = 0; p < 3072; p++) r[lb + p] = (uint8_t)(p / 1024 * 80 + i);   /* plane c = 80 c + i */
    }
    write_bytes(path, b, rec * (size_t)n);
    free(b);
}

TEST(cifar10_and_100)
{
    mkdir(P("c10"), 0755);
    cifar_file(P("c10/data_batch_1.bin"), 10, 3, 0);
    cifar_file(P("c10/data_batch_2.bin"), 10, 2, 5);
    cifar_file(P("c10/data_batch_3.bin"), 10, 1, 1);   /* the train split needs all five batches */
    cifar_file(P("c10/data_batch_4.bin"), 10, 1, 2);
    cifar_file(P("c10/data_batch_5.bin"), 10, 1, 3);
    cifar_file(P("c10/test_batch.bin"), 10, 4, 7);
    struct gsg_dataset ds;
    CHECK_OK(open_ds(&ds, P("c10"), GSG_DATA_AUTO, 0, 0));
    CHECK_EQ_I64(ds.format, GSG_DATA_CIFAR10);
    CHECK_EQ_I64(ds.n, 8); CHECK_EQ_I64(ds.c, 3); CHECK_EQ_I64(ds.h, 32);
    CHECK(ds.labels[2] == 2 && ds.labels[3] == 5 && ds.labels[4] == 6 && ds.labels[5] == 1 && ds.labels[7] == 3);
    CHECK_EQ_I64(ds.images[3 * 3072 + 2 * 1024 + 5], 160);   /* image 3 = batch 2 image 0, blue plane */
    CHECK_EQ_I64(ds.images[1 * 3072 + 1024], 81);
    gsg_dataset_free(&ds);
    CHECK_OK(open_ds(&ds, P("c10"), GSG_DATA_AUTO, 1, 0));
    CHECK_EQ_I64(ds.n, 4); CHECK_EQ_I64(ds.labels[0], 7); CHECK_EQ_I64(ds.labels[3], 0);
    gsg_dataset_free(&ds);
    mkdir(P("c100"), 0755);
    cifar_file(P("c100/train.bin"), 100, 3, 97);
    CHECK_OK(open_ds(&ds, P("c100"), GSG_DATA_AUTO, 0, 0));
    CHECK_EQ_I64(ds.format, GSG_DATA_CIFAR100);
    CHECK_EQ_I64(ds.n, 3); CHECK_EQ_I64(ds.labels[0], 97); CHECK_EQ_I64(ds.labels[2], 99); CHECK_EQ_I64(ds.nclasses, 100);
    gsg_dataset_free(&ds);
    /* a single file, format detected from its size */
    CHECK_OK(open_ds(&ds, P("c100/train.bin"), GSG_DATA_AUTO, 0, 0));
    CHECK_EQ_I64(ds.format, GSG_DATA_CIFAR100);
    gsg_dataset_free(&ds);
}

TEST(cifar_bad_input)
{
    cifar_file(P("trunc.bin"), 10, 3, 0);
    CHECK(truncate(P("trunc.bin"), 3 * 3073 - 100) == 0);
    struct gsg_dataset ds;
    CHECK_EQ_I64(open_ds(&ds, P("trunc.bin"), GSG_DATA_CIFAR10, 0, 0), GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "trunc.bin: size 9119 is not a whole number of CIFAR-10 records of 3073 bytes") != NULL, "%s", gsg_err_msg());
    cifar_file(P("label.bin"), 10, 2, 0);
    FILE *f = fopen(P("label.bin"), "r+b");
    uint8_t ten = 10;
    fseek(f, 3073, SEEK_SET); fwrite(&ten, 1, 1, f); fclose(f);
    CHECK_EQ_I64(open_ds(&ds, P("label.bin"), GSG_DATA_CIFAR10, 0, 0), GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "record 1 at byte 3073: expected a label in 0..9, found 10") != NULL, "%s", gsg_err_msg());
    mkdir(P("cempty"), 0755);
    mkdir(P("cempty/cifar-10-batches-bin"), 0755);
    CHECK(open_ds(&ds, P("cempty"), GSG_DATA_AUTO, 0, 0) < 0);
    CHECK_MSG(strstr(gsg_err_msg(), "no data_batch_1.bin") != NULL, "%s", gsg_err_msg());
}


TEST(jpeg_folder)
{
    mkdir(P("jpg"), 0755); mkdir(P("jpg/cat"), 0755); mkdir(P("jpg/dog"), 0755); mkdir(P("jpg/empty"), 0755);
    uint8_t pix[64 * 48 * 3];
    smooth(pix, 64, 48, 0); CHECK_OK(gsg_jpeg_write(P("jpg/cat/a.jpg"), pix, 64, 48, 3, 95));
    smooth(pix, 48, 64, 5); CHECK_OK(gsg_jpeg_write(P("jpg/cat/b.jpg"), pix, 48, 64, 3, 95));
    smooth(pix, 64, 48, 9); CHECK_OK(gsg_jpeg_write(P("jpg/dog/c.jpeg"), pix, 64, 48, 3, 95));
    struct gsg_dataset ds;
    CHECK_OK(open_ds(&ds, P("jpg"), GSG_DATA_AUTO, 0, 0));
    CHECK_EQ_I64(ds.format, GSG_DATA_JPEG);
    CHECK_EQ_I64(ds.n, 3); CHECK_EQ_I64(ds.nclasses, 3); CHECK_EQ_I64(ds.h, 0);
    CHECK(ds.labels[0] == 0 && ds.labels[1] == 0 && ds.labels[2] == 1);
    CHECK(ds.file_w[1] == 48 && ds.file_h[1] == 64);
    struct gsg_dataset_loader l = {0};
    struct gsg_image img;
    CHECK_OK(gsg_dataset_image(&l, &ds, 2, 3, 0, &img));
    CHECK(img.w == 64 && img.h == 48 && img.c == 3 && img.orig_w == 64);
    smooth(pix, 64, 48, 9);
    double err = 0;
    for (int y = 0; y < 48; y++) for (int x = 0; x < 64; x++) for (int c = 0; c < 3; c++)
        err += abs((int)img.data[(c * 48 + y) * 64 + x] - (int)pix[(y * 64 + x) * 3 + c]);
    CHECK_MSG(err / (64 * 48 * 3) < 3.0, "mean abs error %g", err / (64 * 48 * 3));
    /* DCT scaling: shorter side >= 12 -> 1/4 scale, 16 x 12; original size kept for the crops */
    CHECK_OK(gsg_dataset_image(&l, &ds, 0, 3, 12, &img));
    CHECK(img.w == 16 && img.h == 12 && img.orig_w == 64 && img.orig_h == 48);
    CHECK_OK(gsg_dataset_image(&l, &ds, 0, 1, 0, &img));        /* grey decode */
    CHECK(img.c == 1 && img.w == 64);
    gsg_dataset_free(&ds);
    int sw, sh;
    gsg_jpeg_scaled_size(4000, 3000, 501, &sw, &sh);
    CHECK(sw == 1000 && sh == 750);
    gsg_jpeg_scaled_size(500, 375, 501, &sw, &sh);
    CHECK(sw == 500 && sh == 375);

    /* a file that is not a JPEG: fail naming it, or skip it */
    write_bytes(P("jpg/dog/notes.jpg"), "hello, not a jpeg", 17);
    CHECK_EQ_I64(open_ds(&ds, P("jpg"), GSG_DATA_JPEG, 0, 0), GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "jpg/dog/notes.jpg") && strstr(gsg_err_msg(), "--skip-bad"), "%s", gsg_err_msg());
    CHECK_OK(open_ds(&ds, P("jpg"), GSG_DATA_JPEG, 0, 1));
    CHECK_EQ_I64(ds.n, 3); CHECK_EQ_I64(ds.skipped, 1);
    gsg_dataset_free(&ds);
    unlink(P("jpg/dog/notes.jpg"));
    /* a JPEG cut short: the header reads, the decode fails naming the file */
    FILE *f = fopen(P("jpg/cat/a.jpg"), "rb");
    uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(P("jpg/dog/half.jpg"), buf, n - 200);   /* entropy-coded data cut short */
    CHECK_OK(open_ds(&ds, P("jpg"), GSG_DATA_JPEG, 0, 0));
    CHECK_EQ_I64(ds.n, 4);
    gsg_status st = gsg_dataset_image(&l, &ds, 3, 3, 0, &img);
    CHECK_EQ_I64(st, GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "half.jpg") != NULL, "%s", gsg_err_msg());
    gsg_dataset_free(&ds);
    gsg_dataset_loader_free(&l);
    /* an empty folder */
    mkdir(P("nothing"), 0755);
    CHECK_EQ_I64(open_ds(&ds, P("nothing"), GSG_DATA_AUTO, 0, 0), GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "no image files") != NULL, "%s", gsg_err_msg());
}

TEST(image_stream)
{
    struct gsg_tstream_writer *w;
    uint8_t im[3 * 1 * 2 * 2], hwc[2 * 2 * 2 * 3];
    for (int i = 0; i < 12; i++) im[i] = (uint8_t)i;
    for (int i = 0; i < 24; i++) hwc[i] = (uint8_t)i;
    int64_t lab[3] = {4, 5, 6};
    CHECK_OK(gsg_tstream_open_write(&w, P("s.gsgt"), 1));
    CHECK_OK(gsg_tstream_write_raw(w, "images", 0, NULL, GSG_DTYPE_U8, 4, (int64_t[]){3, 1, 2, 2}, im));
    CHECK_OK(gsg_tstream_write_raw(w, "label", 0, NULL, GSG_DTYPE_I64, 1, (int64_t[]){3}, lab));
    CHECK_OK(gsg_tstream_close(w));
    struct gsg_dataset ds;
    CHECK_OK(open_ds(&ds, P("s.gsgt"), GSG_DATA_AUTO, 0, 0));
    CHECK_EQ_I64(ds.format, GSG_DATA_STREAM);
    CHECK(ds.n == 3 && ds.c == 1 && ds.h == 2 && ds.w == 2 && ds.labels[2] == 6 && ds.images[11] == 11);
    struct gsg_dataset_loader l = {0};
    struct gsg_image img;
    CHECK_OK(gsg_dataset_image(&l, &ds, 1, 3, 0, &img));       /* grey -> RGB */
    CHECK(img.c == 3 && img.data[0] == 4 && img.data[4] == 4 && img.data[11] == 7);
    gsg_dataset_free(&ds);
    gsg_dataset_loader_free(&l);
    /* channels-last [N,H,W,C] (numpy's usual layout), no labels */
    CHECK_OK(gsg_tstream_open_write(&w, P("hwc.gsgt"), 1));
    CHECK_OK(gsg_tstream_write_raw(w, "x", 0, NULL, GSG_DTYPE_U8, 4, (int64_t[]){2, 2, 2, 3}, hwc));
    CHECK_OK(gsg_tstream_close(w));
    CHECK_OK(open_ds(&ds, P("hwc.gsgt"), GSG_DATA_STREAM, 0, 0));
    CHECK(ds.n == 2 && ds.c == 3 && ds.h == 2 && ds.w == 2 && ds.labels[0] == -1);
    CHECK(ds.images[0] == 0 && ds.images[1] == 3 && ds.images[4] == 1 && ds.images[12] == 12);
    gsg_dataset_free(&ds);
    /* label count mismatch; a stream without images */
    CHECK_OK(gsg_tstream_open_write(&w, P("bad.gsgt"), 1));
    CHECK_OK(gsg_tstream_write_raw(w, "images", 0, NULL, GSG_DTYPE_U8, 4, (int64_t[]){3, 1, 2, 2}, im));
    CHECK_OK(gsg_tstream_write_raw(w, "label", 0, NULL, GSG_DTYPE_I64, 1, (int64_t[]){2}, lab));
    CHECK_OK(gsg_tstream_close(w));
    CHECK_EQ_I64(open_ds(&ds, P("bad.gsgt"), GSG_DATA_AUTO, 0, 0), GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "2 labels for 3 images") != NULL, "%s", gsg_err_msg());
    CHECK_OK(gsg_tstream_open_write(&w, P("noimg.gsgt"), 1));
    CHECK_OK(gsg_tstream_write_raw(w, "label", 0, NULL, GSG_DTYPE_I64, 1, (int64_t[]){2}, lab));
    CHECK_OK(gsg_tstream_close(w));
    CHECK_EQ_I64(open_ds(&ds, P("noimg.gsgt"), GSG_DATA_AUTO, 0, 0), GSG_E_FORMAT);
}

TEST(fashion_mnist_package)
{
    if (access(GSG_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) != 0) {
        SKIP(fashion_mnist_package, "Debian's dataset-fashion-mnist is not installed");
        check_case_failed = 0;
        return;
    }
    struct gsg_dataset ds;
    CHECK_OK(open_ds(&ds, "fashion-mnist", GSG_DATA_AUTO, 1, 0));
    CHECK_EQ_I64(ds.n, 10000); CHECK_EQ_I64(ds.c, 1); CHECK_EQ_I64(ds.h, 28); CHECK_EQ_I64(ds.w, 28);
    CHECK_EQ_I64(ds.nclasses, 10);
    int64_t counts[10] = {0};
    double mean = 0;
    for (int64_t i = 0; i < ds.n; i++) counts[ds.labels[i]]++;
    for (int64_t i = 0; i < ds.n * 784; i++) mean += ds.images[i];
    for (int k = 0; k < 10; k++) CHECK_EQ_I64(counts[k], 1000);
    /* the fmnist recipe's normalisation mean (0.2860, on the train set) */
    CHECK_CLOSE(mean / (ds.n * 784.0) / 255.0, 0.2860, 0, 0.01);
    gsg_dataset_free(&ds);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/gsg_test_dataset.XXXXXX");
    if (!mkdtemp(root)) { perror("mkdtemp"); return 1; }
    RUN(idx_plain_and_gzip);
    RUN(idx_bad_input);
    RUN(cifar10_and_100);
    RUN(cifar_bad_input);
    RUN(jpeg_folder);
    RUN(image_stream);
    if (access(GSG_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) == 0) RUN(fashion_mnist_package);
    else SKIP(fashion_mnist_package, "Debian's dataset-fashion-mnist is not installed");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return check_summary();
}
