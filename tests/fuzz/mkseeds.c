/* mkseeds.c: writes the seed inputs of every harness into tests/fuzz/corpus/<harness>/ (run by
 * `make fuzz-seeds`; the corpora in git are these seeds merged with what `make fuzz` found).
 * Every seed is small and valid (or one step from valid), so the fuzzer starts deep in each format. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include "core/afile.h"
#include "io/idx.h"
#include "io/imgwrite.h"
#include "io/npy.h"
#include "io/tstream.h"
#include "ssl/train.h"

#define FUZZ_CHECK(x) do { if (!(x)) { fprintf(stderr, "mkseeds: %s:%d: %s failed: %s\n", __FILE__, __LINE__, #x, gsg_err_msg()); exit(1); } } while (0)
#include "fuzz_ckpt_config.h"

static const char *root = "tests/fuzz/corpus";

static char *seed_path(const char *harness, const char *name)
{
    char *p;
    FUZZ_CHECK(asprintf(&p, "%s/%s", root, harness) > 0);
    mkdir(root, 0755);
    mkdir(p, 0755);
    free(p);
    FUZZ_CHECK(asprintf(&p, "%s/%s/seed-%s", root, harness, name) > 0);
    return p;
}

static void put(const char *harness, const char *name, const void *a, size_t na, const void *b, size_t nb)
{
    char *p = seed_path(harness, name);
    uint8_t *buf = malloc(na + nb + 1);
    FUZZ_CHECK(buf);
    if (na) memcpy(buf, a, na);
    if (nb) memcpy(buf + na, b, nb);
    FUZZ_CHECK(gsg_afile_write_all(p, buf, na + nb) == GSG_OK);
    free(buf);
    free(p);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*n + 1);
    FUZZ_CHECK(b && fread(b, 1, *n, f) == *n);
    fclose(f);
    return b;
}

static void tstreams(void)
{
    uint8_t img[4 * 8 * 8];
    for (int i = 0; i < (int)sizeof img; i++) img[i] = (uint8_t)(i * 13);
    int64_t lab[4] = {0, 1, 2, 1};
    float f[15];
    for (int i = 0; i < 15; i++) f[i] = (float)i / 3;
    for (int level = 0; level <= 1; level++) {
        char *p = seed_path("tstream", level ? "images-zstd" : "images-raw");
        struct gsg_tstream_writer *w;
        FUZZ_CHECK(gsg_tstream_open_write(&w, p, level) == GSG_OK);
        FUZZ_CHECK(gsg_tstream_write_raw(w, "images", 0, "dataset=fuzz\n", GSG_DTYPE_U8, 4, (int64_t[]){4, 1, 8, 8}, img) == GSG_OK);
        FUZZ_CHECK(gsg_tstream_write_raw(w, "label", 0, NULL, GSG_DTYPE_I64, 1, (int64_t[]){4}, lab) == GSG_OK);
        FUZZ_CHECK(gsg_tstream_close(w) == GSG_OK);
        free(p);
    }
    char *p = seed_path("tstream", "nhwc-two-segments");
    struct gsg_tstream_writer *w;
    FUZZ_CHECK(gsg_tstream_open_write(&w, p, 1) == GSG_OK);
    FUZZ_CHECK(gsg_tstream_write_raw(w, "images", 0, NULL, GSG_DTYPE_U8, 4, (int64_t[]){2, 4, 4, 3}, img) == GSG_OK);
    FUZZ_CHECK(gsg_tstream_close(w) == GSG_OK);
    size_t n;
    uint8_t *one = slurp(p, &n);
    put("tstream", "nhwc-two-segments", one, n, one, n);
    free(one);
    free(p);
    p = seed_path("tstream", "f32-and-empty");
    FUZZ_CHECK(gsg_tstream_open_write(&w, p, 1) == GSG_OK);
    FUZZ_CHECK(gsg_tstream_write_raw(w, "x", 7, "k=v\n", GSG_DTYPE_F32, 2, (int64_t[]){3, 5}, f) == GSG_OK);
    FUZZ_CHECK(gsg_tstream_write_raw(w, "z", 8, NULL, GSG_DTYPE_F32, 2, (int64_t[]){0, 5}, f) == GSG_OK);
    FUZZ_CHECK(gsg_tstream_write_raw(w, "images", 9, NULL, GSG_DTYPE_U8, 3, (int64_t[]){3, 8, 8}, img) == GSG_OK);
    FUZZ_CHECK(gsg_tstream_close(w) == GSG_OK);
    free(p);
    p = seed_path("tstream", "end-only");
    FUZZ_CHECK(gsg_tstream_open_write(&w, p, 0) == GSG_OK);
    FUZZ_CHECK(gsg_tstream_close(w) == GSG_OK);
    free(p);
}

static void npys(void)
{
    static const struct { const char *name; enum gsg_dtype dt; int nd; int64_t d[3]; } v[] = {
        {"f32-2x3", GSG_DTYPE_F32, 2, {2, 3}}, {"u8-4", GSG_DTYPE_U8, 1, {4}}, {"i64-scalar", GSG_DTYPE_I64, 0, {0}},
        {"f64-0x2", GSG_DTYPE_F64, 2, {0, 2}}, {"f16-2x1x2", GSG_DTYPE_F16, 3, {2, 1, 2}}, {"i32-3", GSG_DTYPE_I32, 1, {3}},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        struct gsg_tensor t;
        FUZZ_CHECK(gsg_tensor_alloc(&t, v[i].dt, GSG_DEV_CPU, v[i].nd, v[i].d) == GSG_OK);
        for (size_t k = 0; k < gsg_tensor_nbytes(&t); k++) ((uint8_t *)t.data)[k] = (uint8_t)(k * 29 + 1);
        char *p = seed_path("npy", v[i].name);
        FUZZ_CHECK(gsg_npy_save(p, &t) == GSG_OK);
        free(p);
        gsg_tensor_free(&t);
    }
    /* version 2.0 header, as numpy writes for long headers */
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    uint8_t buf[256] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0};
    size_t hl = strlen(dict), pad = 64 - (12 + hl + 1) % 64, tot = hl + pad + 1;
    buf[8] = (uint8_t)tot; buf[9] = (uint8_t)(tot >> 8);
    memcpy(buf + 12, dict, hl);
    memset(buf + 12 + hl, ' ', pad);
    buf[12 + hl + pad] = '\n';
    float two[2] = {1.5f, -2};
    put("npy", "v2-f32-2", buf, 12 + tot, two, sizeof two);
}

static void idxs(void)
{
    uint8_t im[3 * 4 * 5], lab[5] = {0, 1, 2, 3, 9};
    for (int i = 0; i < (int)sizeof im; i++) im[i] = (uint8_t)(i * 5);
    for (int gz = 0; gz <= 1; gz++) {
        char *p = seed_path("idx", "tmp");
        FUZZ_CHECK(gsg_idx_write(p, 3, (int64_t[]){3, 4, 5}, im, gz) == GSG_OK);
        size_t n;
        uint8_t *b = slurp(p, &n);
        uint8_t mode = 0;
        put("idx", gz ? "images-gzfile" : "images", &mode, 1, b, n);
        if (!gz) { mode = 1; put("idx", "images-gzipped-by-harness", &mode, 1, b, n); }
        if (!gz) { mode = 0; put("idx", "images-truncated", &mode, 1, b, n - 7); }
        free(b);
        FUZZ_CHECK(gsg_idx_write(p, 1, (int64_t[]){5}, lab, gz) == GSG_OK);
        b = slurp(p, &n);
        mode = 2;
        put("idx", gz ? "labels-gzfile" : "labels", &mode, 1, b, n);
        free(b);
        remove(p);
        free(p);
    }
}

static void cifars(void)
{
    uint8_t rec[2 * 3074];
    for (int i = 0; i < (int)sizeof rec; i++) rec[i] = (uint8_t)(i * 3);
    uint8_t m = 0;
    rec[0] = 7; rec[3073] = 2;
    put("cifar", "c10-two", &m, 1, rec, 2 * 3073);
    m = 1;
    rec[0] = 19; rec[1] = 99;
    put("cifar", "c100-one", &m, 1, rec, 3074);
    m = 0;
    put("cifar", "c10-short", &m, 1, rec, 3000);
}

static void jpeg_to(const char *harness, const char *name, int w, int h, int pf, int samp, int flags)
{
    tjhandle c = tjInitCompress();
    FUZZ_CHECK(c);
    int ps = tjPixelSize[pf];
    uint8_t *pix = malloc((size_t)w * h * ps);
    for (int i = 0; i < w * h * ps; i++) pix[i] = (uint8_t)(i * 7 + i / 13);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    FUZZ_CHECK(tjCompress2(c, pix, w, 0, h, pf, &buf, &n, samp, 75, flags) == 0);
    put(harness, name, buf, n, NULL, 0);
    tjFree(buf);
    tjDestroy(c);
    free(pix);
}

static void images(void)
{
    jpeg_to("jpeg", "rgb-16x12-420", 16, 12, TJPF_RGB, TJSAMP_420, 0);
    jpeg_to("jpeg", "gray-8x8", 8, 8, TJPF_GRAY, TJSAMP_GRAY, 0);
    jpeg_to("jpeg", "rgb-24x8-444-progressive", 24, 8, TJPF_RGB, TJSAMP_444, TJFLAG_PROGRESSIVE);
    jpeg_to("jpeg", "cmyk-8x8", 8, 8, TJPF_CMYK, TJSAMP_444, 0);
    jpeg_to("png", "a-jpeg-named-png", 8, 8, TJPF_RGB, TJSAMP_420, 0);
    for (int ch = 1; ch <= 3; ch += 2) {
        uint8_t pix[6 * 5 * 3];
        for (int i = 0; i < (int)sizeof pix; i++) pix[i] = (uint8_t)(i * 11);
        struct gsg_image im = {pix, 6, 5, ch};
        char *p = seed_path("png", ch == 1 ? "gray-6x5" : "rgb-6x5");
        FUZZ_CHECK(gsg_img_save(p, &im, GSG_IMG_PNG, 90) == GSG_OK);
        free(p);
    }
}

static void ckpts(void)
{
    struct gsg_train_config c;
    fuzz_ckpt_config(&c);
    struct gsg_trainer *tr;
    FUZZ_CHECK(gsg_trainer_create(&tr, &c, GSG_DEV_CPU) == GSG_OK);
    char *p = seed_path("ckpt", "tiny-step0");
    FUZZ_CHECK(gsg_trainer_save(tr, p) == GSG_OK);
    free(p);
    gsg_trainer_destroy(tr);
    /* only the text records: gsg-encode must refuse it without building the network first */
    char cfg[4096] = "";
    FUZZ_CHECK(gsg_train_config_format(&c, cfg, sizeof cfg) == 0);
    p = seed_path("ckpt", "text-only");
    struct gsg_tstream_writer *w;
    FUZZ_CHECK(gsg_tstream_open_write(&w, p, 0) == GSG_OK);
    int64_t n = (int64_t)strlen(cfg);
    FUZZ_CHECK(gsg_tstream_write_raw(w, "gsg.config", 0, NULL, GSG_DTYPE_U8, 1, &n, cfg) == GSG_OK);
    n = 7;
    FUZZ_CHECK(gsg_tstream_write_raw(w, "gsg.state", 0, NULL, GSG_DTYPE_U8, 1, &n, "step=3\n") == GSG_OK);
    FUZZ_CHECK(gsg_tstream_close(w) == GSG_OK);
    free(p);
}

static void texts(void)
{
    static const struct { const char *name; uint8_t mode, b1, b2; const char *s; } v[] = {
        {"i64-batch", 0, 4, 6, "256"}, {"i64-neg", 0, 0, 8, "-9223372036854775808"}, {"i64-space", 0, 3, 8, " +17"},
        {"f64-lr", 1, 3, 6, "0.05"}, {"f64-exp", 1, 2, 5, "1e-3"}, {"f64-hex", 1, 0, 7, "0x1p-4"},
        {"net-config", 2, 0, 0, "arch=resnet18\nstem=cifar\nin_channels=1\nwidth=8\nzero_init_residual=1\n"
                                "proj_layers=2\nproj_hidden=32\nproj_dim=32\npred_hidden=8\n"},
        {"meta", 4, 16, 0, "step\nepoch=1\nstep=12\nseed=3\n"}, {"format", 5, 0, 0, "cifar100"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        uint8_t h[3] = {v[i].mode, v[i].b1, v[i].b2};
        put("options", v[i].name, h, 3, v[i].s, strlen(v[i].s));
    }
    struct gsg_train_config c;
    fuzz_ckpt_config(&c);
    char cfg[4096] = "";
    FUZZ_CHECK(gsg_train_config_format(&c, cfg, sizeof cfg) == 0);
    uint8_t h[3] = {3, 0, 0};
    put("options", "train-config", h, 3, cfg, strlen(cfg));
}

static void safetensors(void)
{
    /* n-1, nmeta, then per tensor: dtype, ndim, dims, data, name length, name, flag; then meta strings */
    static const uint8_t a[] = {1, 1, 0, 2, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                                6, 'w', 'e', 'i', 'g', 'h', 't', 0,
                                4, 6, 0xff, 0, 5, 'e', 'm', 'p', 't', 'y', 0,
                                4, 's', 't', 'e', 'p', 2, '4', '2'};
    static const uint8_t b[] = {0, 2, 4, 1, 3, 1, 2, 3, 4, 'q', 0xc3, 0xa9, '"', 0, 3, 'k', '\n', 0xff, 4, 'v', '\\', 0xed, 0xa0,
                                1, 'a', 1, 'b'};
    put("safetensors", "two-tensors-meta", a, sizeof a, NULL, 0);
    put("safetensors", "escapes", b, sizeof b, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1) root = argv[1];
    tstreams();
    npys();
    idxs();
    cifars();
    images();
    ckpts();
    texts();
    safetensors();
    return 0;
}
