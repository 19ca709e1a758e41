/* test_readers.c: hostile inputs for every reader of outside bytes (issue 10's defects), each
 * generated here; every case failed before its fix. Memory-bound cases run in a child process
 * under an address-space limit, so a reader that allocates the declared size fails them. */
#define _GNU_SOURCE
#include <errno.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <dirent.h>
#include <zlib.h>
#include <omp.h>
#include "check.h"
#include "core/afile.h"
#include "core/limits.h"
#include "eval/encode.h"
#include "io/dataset.h"
#include "io/idx.h"
#include "io/jpeg.h"
#include "io/npy.h"
#include "io/tstream.h"
#include "nn/net.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static char root[256];

static const char *P(const char *name)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 512, "%s/%s", root, name);
    return b;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static void append_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "ab");
    fwrite(data, 1, n, f);
    fclose(f);
}

/* Run fn in a child with at most `limit` bytes of address space (none under ASan, whose shadow
 * memory needs more); the child's exit status is fn's result (0 = pass). */
static int in_child(int (*fn)(void), size_t limit)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (!UNDER_ASAN) {
            struct rlimit rl = {limit, limit};
            setrlimit(RLIMIT_AS, &rl);
        }
        _exit(fn());
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 100 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
}

/* ---------------- 1. IDX ---------------- */

TEST(idx_dims_product_wraps)
{
    /* dims [65536, 2^24, 2^24] multiply to 2^64, which wrapped to 0 bytes: 16 bytes made a data set
     * of 65536 images of 2^24 x 2^24 pixels (gsg-augment then read out of bounds) */
    const uint8_t h[16] = {0, 0, 8, 3, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
    write_bytes(P("wrap-idx3-ubyte"), h, sizeof h);
    uint8_t *data = NULL;
    int64_t dims[3];
    gsg_status st = gsg_idx_read(P("wrap-idx3-ubyte"), 3, &data, dims);
    CHECK_EQ_I64(st, GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "at most 2^40 bytes, found 65536x16777216x16777216") != NULL, "%s", gsg_err_msg());
    CHECK(data == NULL);
    struct gsg_dataset ds;
    struct gsg_dataset_opts o = {.path = P("wrap-idx3-ubyte")};
    CHECK(gsg_dataset_open(&ds, &o) < 0);
}

TEST(idx_gzip_trailing_garbage)
{
    uint8_t img[2 * 3 * 4];
    for (int i = 0; i < 24; i++) img[i] = (uint8_t)(i * 7);
    int64_t d[3] = {2, 3, 4};
    CHECK_OK(gsg_idx_write(P("g-idx3-ubyte.gz"), 3, d, img, 1));
    uint8_t *data = NULL;
    int64_t dims[3];
    CHECK_OK(gsg_idx_read(P("g-idx3-ubyte.gz"), 3, &data, dims));
    CHECK(data && memcmp(data, img, 24) == 0);
    free(data);
    /* a second gzip member is more of the same file (gzip's concatenation), not garbage */
    FILE *f = fopen(P("g-idx3-ubyte.gz"), "rb");
    uint8_t gz[4096];
    size_t gn = fread(gz, 1, sizeof gz, f);
    fclose(f);
    uint8_t empty_member[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    write_bytes(P("two.gz"), gz, gn);
    append_bytes(P("two.gz"), empty_member, sizeof empty_member);
    CHECK_OK(gsg_idx_read(P("two.gz"), 3, &data, dims));
    free(data);
    /* bytes after the gzip stream that are no gzip member: rejected (zlib's gzread ignored them) */
    write_bytes(P("junk.gz"), gz, gn);
    append_bytes(P("junk.gz"), "trailing garbage", 16);
    gsg_status st = gsg_idx_read(P("junk.gz"), 3, &data, dims);
    CHECK_EQ_I64(st, GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "trailing garbage") && strstr(gsg_err_msg(), "junk.gz"), "%s", gsg_err_msg());
    /* a gzip stream cut short */
    write_bytes(P("cut.gz"), gz, gn - 6);
    st = gsg_idx_read(P("cut.gz"), 3, &data, dims);
    CHECK_MSG(st == GSG_E_TRUNCATED || st == GSG_E_FORMAT, "%d %s", st, gsg_err_msg());
}

static int idx_lying_gzip_child(void)
{
    /* a gzip IDX header declaring 60000 x 4096 x 4096 bytes (1 TiB) with 24 bytes behind it */
    uint8_t raw[16 + 24] = {0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0x10, 0, 0, 0, 0x10, 0};
    uLongf zn = compressBound(sizeof raw) + 32;
    uint8_t z[256];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = raw; zs.avail_in = sizeof raw; zs.next_out = z; zs.avail_out = (uInt)zn;
    deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    write_bytes(P("lie-idx3-ubyte.gz"), z, n);
    uint8_t *data = NULL;
    int64_t dims[3];
    gsg_status st = gsg_idx_read(P("lie-idx3-ubyte.gz"), 3, &data, dims);
    return st == GSG_E_TRUNCATED && strstr(gsg_err_msg(), "(truncated)") ? 0 : 1;
}

TEST(idx_gzip_lying_header_bounded)
{
    CHECK_EQ_I64(in_child(idx_lying_gzip_child, (size_t)1 << 30), 0);
}

/* ---------------- 2. .npy ---------------- */

static size_t npy_with_header(uint8_t *buf, const char *dict)
{
    size_t dl = strlen(dict), hl = dl + 1, pad = (64 - (10 + hl) % 64) % 64, hlen = hl + pad;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)(hlen & 0xff); buf[9] = (uint8_t)(hlen >> 8);
    memcpy(buf + 10, dict, dl);
    memset(buf + 10 + dl, ' ', pad);
    buf[10 + hlen - 1] = '\n';
    return 10 + hlen;
}

static int npy_huge_child(void)
{
    /* a 128-byte file declaring 2^37 float64 values (1 TiB): the old reader allocated and zeroed
     * them before reading */
    uint8_t buf[256];
    size_t n = npy_with_header(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (137438953472,), }");
    memcpy(buf + n, "12345678", 8);
    write_bytes(P("huge.npy"), buf, n + 8);
    struct gsg_tensor t;
    gsg_status st = gsg_npy_load(P("huge.npy"), &t);
    if (st != GSG_E_TRUNCATED || !strstr(gsg_err_msg(), "truncated")) return 1;
    /* the same from a pipe: the buffer grows with the bytes that arrive */
    int fd[2];
    if (pipe(fd) != 0) return 2;
    if (write(fd[1], buf, n + 8) != (ssize_t)(n + 8)) return 3;
    close(fd[1]);
    FILE *f = fdopen(fd[0], "rb");
    st = gsg_npy_read(f, "<pipe>", &t);
    fclose(f);
    return st == GSG_E_TRUNCATED ? 0 : 4;
}

TEST(npy_declared_size_not_allocated)
{
    CHECK_EQ_I64(in_child(npy_huge_child, (size_t)1 << 30), 0);
}

TEST(npy_header_dict_parsed)
{
    uint8_t buf[512];
    float v[6] = {1, 2, 3, 4, 5, 6};
    struct gsg_tensor t;
    /* Fortran order, with another False later in the header: was read as C order */
    size_t n = npy_with_header(buf, "{'fortran_order': True, 'shape': (2, 3), 'descr': '<f4', 'extra': False, }");
    memcpy(buf + n, v, 24);
    write_bytes(P("f.npy"), buf, n + 24);
    CHECK(gsg_npy_load(P("f.npy"), &t) == GSG_E_FORMAT);
    n = npy_with_header(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }");
    memcpy(buf + n, v, 24);
    write_bytes(P("f2.npy"), buf, n + 24);
    CHECK(gsg_npy_load(P("f2.npy"), &t) == GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "Fortran-order") != NULL, "%s", gsg_err_msg());
    /* keys in any order, C order: read */
    n = npy_with_header(buf, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}");
    memcpy(buf + n, v, 24);
    write_bytes(P("c.npy"), buf, n + 24);
    CHECK_OK(gsg_npy_load(P("c.npy"), &t));
    CHECK(t.ndim == 2 && t.dims[0] == 2 && t.dims[1] == 3 && ((float *)t.data)[5] == 6);
    gsg_tensor_free(&t);
    /* a missing key, a duplicate key, a bad value */
    n = npy_with_header(buf, "{'descr': '<f4', 'shape': (6,), }");
    write_bytes(P("m.npy"), buf, n + 24);
    CHECK(gsg_npy_load(P("m.npy"), &t) == GSG_E_FORMAT && strstr(gsg_err_msg(), "missing key 'fortran_order'"));
    n = npy_with_header(buf, "{'descr': '<f4', 'fortran_order': False, 'fortran_order': True, 'shape': (6,), }");
    write_bytes(P("d.npy"), buf, n + 24);
    CHECK(gsg_npy_load(P("d.npy"), &t) == GSG_E_FORMAT && strstr(gsg_err_msg(), "duplicate"));
    n = npy_with_header(buf, "{'descr': '<f4', 'fortran_order': Nope, 'shape': (6,), }");
    write_bytes(P("b.npy"), buf, n + 24);
    CHECK(gsg_npy_load(P("b.npy"), &t) == GSG_E_FORMAT && strstr(gsg_err_msg(), "True or False"));
}

/* ---------------- 3. JPEG / PNG ---------------- */


TEST(jpeg_decoder_recovers_after_bad_header)
{
    mkdir(P("rec"), 0755);
    uint8_t pix[32 * 24 * 3];
    smooth(pix, 32, 24, 1);
    CHECK_OK(gsg_jpeg_write(P("rec/good.jpg"), pix, 32, 24, 3, 95));
    /* SOI, then a SOF0 whose length disagrees with its 5 components: the header parse fails, and
     * TurboJPEG 2.1's handle then failed every later file with the same message */
    const uint8_t bad[] = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x10, 0x05, 1, 0x11, 0, 2, 0x11, 0,
                           3, 0x11, 0, 4, 0x11, 0, 5, 0x11, 0, 0xFF, 0xD9};
    write_bytes(P("rec/bad.jpg"), bad, sizeof bad);
    struct gsg_jpeg j;
    CHECK_OK(gsg_jpeg_init(&j));
    int w, h, ow, oh;
    CHECK(gsg_jpeg_probe(&j, P("rec/bad.jpg"), &w, &h) == GSG_E_FORMAT);
    for (int k = 0; k < 3; k++) {
        CHECK_OK(gsg_jpeg_probe(&j, P("rec/good.jpg"), &w, &h));
        CHECK(w == 32 && h == 24);
        CHECK_OK(gsg_jpeg_decode_file(&j, P("rec/good.jpg"), 3, 0, &w, &h, &ow, &oh));
        CHECK(gsg_jpeg_probe(&j, P("rec/bad.jpg"), &w, &h) == GSG_E_FORMAT);
    }
    CHECK(j.resets >= 1);
    gsg_jpeg_free(&j);
    /* a data set with one bad file among good ones, one thread, --skip-bad: only the bad one goes */
    for (int i = 0; i < 20; i++) {
        char name[64];
        snprintf(name, sizeof name, "rec/g%02d.jpg", i);
        CHECK_OK(gsg_jpeg_write(P(name), pix, 32, 24, 3, 90));
    }
    struct gsg_dataset ds;
    struct gsg_dataset_opts o = {.path = P("rec"), .skip_bad = 1};
    omp_set_num_threads(1);
    CHECK_OK(gsg_dataset_open(&ds, &o));
    CHECK_EQ_I64(ds.n, 21); CHECK_EQ_I64(ds.skipped, 1); CHECK_EQ_I64(ds.nskipped_msgs, 1);
    CHECK(ds.nskipped_msgs == 1 && strstr(ds.skipped_msgs[0], "rec/bad.jpg"));
    struct gsg_dataset_loader l = {0};
    struct gsg_image img;
    for (int64_t i = 0; i < ds.n; i++) CHECK_OK(gsg_dataset_image(&l, &ds, i, 3, 0, &img));
    gsg_dataset_loader_free(&l);
    gsg_dataset_free(&ds);
    omp_set_num_threads(omp_get_num_procs());
}

TEST(jpeg_cmyk_decoded_to_rgb)
{
    /* a YCCK JPEG written by TurboJPEG from CMYK samples (libjpeg adds the Adobe marker, so the
     * samples are inverted ink: RGB = sample_C * sample_K / 255, as PIL converts them) */
    enum { W = 16, H = 16 };
    uint8_t cmyk[W * H * 4];
    for (int i = 0; i < W * H; i++) { cmyk[4 * i] = 200; cmyk[4 * i + 1] = 100; cmyk[4 * i + 2] = 50; cmyk[4 * i + 3] = 220; }
    tjhandle c = tjInitCompress();
    unsigned char *jb = NULL;
    unsigned long jn = 0;
    CHECK(tjCompress2(c, cmyk, W, 0, H, TJPF_CMYK, &jb, &jn, TJSAMP_444, 98, 0) == 0);
    write_bytes(P("cmyk.jpg"), jb, jn);
    tjFree(jb);
    tjDestroy(c);
    struct gsg_jpeg j;
    CHECK_OK(gsg_jpeg_init(&j));
    int w, h, ow, oh;
    CHECK_OK(gsg_jpeg_probe(&j, P("cmyk.jpg"), &w, &h));
    CHECK(j.cmyk == 1);
    CHECK_OK(gsg_jpeg_decode_file(&j, P("cmyk.jpg"), 3, 0, &w, &h, &ow, &oh));
    const double er = 200.0 * 220 / 255, eg = 100.0 * 220 / 255, eb = 50.0 * 220 / 255;
    CHECK_CLOSE(j.out[0], er, 0, 4); CHECK_CLOSE(j.out[W * H + 7], eg, 0, 4); CHECK_CLOSE(j.out[2 * W * H + 100], eb, 0, 4);
    gsg_jpeg_free(&j);
}

TEST(jpeg_pixel_limit_at_header)
{
    /* an 8x8 JPEG whose SOF says 65500 x 65500: refused from its header */
    uint8_t pix[8 * 8 * 3];
    smooth(pix, 8, 8, 0);
    CHECK_OK(gsg_jpeg_write(P("big.jpg"), pix, 8, 8, 3, 90));
    FILE *f = fopen(P("big.jpg"), "rb");
    uint8_t b[4096];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    int patched = 0;
    for (size_t i = 2; i + 9 < n; i++)
        if (b[i] == 0xFF && (b[i + 1] == 0xC0 || b[i + 1] == 0xC2)) {
            b[i + 5] = 0xFF; b[i + 6] = 0xDC; b[i + 7] = 0xFF; b[i + 8] = 0xDC;   /* height, width = 65500 */
            patched = 1;
            break;
        }
    CHECK(patched);
    write_bytes(P("big.jpg"), b, n);
    struct gsg_jpeg j;
    CHECK_OK(gsg_jpeg_init(&j));
    int w, h, ow, oh;
    gsg_status st = gsg_jpeg_probe(&j, P("big.jpg"), &w, &h);
    CHECK_EQ_I64(st, GSG_E_FORMAT);
    CHECK_MSG(strstr(gsg_err_msg(), "65500x65500 = 4290250000 pixels: expected at most 134217728 (GSG_MAX_PIXELS)") != NULL, "%s", gsg_err_msg());
    CHECK(gsg_jpeg_decode_file(&j, P("big.jpg"), 3, 0, &w, &h, &ow, &oh) == GSG_E_FORMAT);
    CHECK(j.pix_cap < 1000000 && j.out_cap < 1000000);
    gsg_jpeg_free(&j);
    /* the limit is the environment's when set */
    setenv("GSG_MAX_PIXELS", "32", 1);
    CHECK_OK(gsg_jpeg_write(P("small.jpg"), pix, 8, 8, 3, 90));
    CHECK_OK(gsg_jpeg_init(&j));
    CHECK(gsg_jpeg_probe(&j, P("small.jpg"), &w, &h) == GSG_E_FORMAT && strstr(gsg_err_msg(), "at most 32"));
    gsg_jpeg_free(&j);
    setenv("GSG_MAX_PIXELS", "lots", 1);
    CHECK(gsg_jpeg_init(&j) == GSG_E_USAGE && strstr(gsg_err_msg(), "GSG_MAX_PIXELS"));
    gsg_jpeg_free(&j);
    unsetenv("GSG_MAX_PIXELS");
    uint64_t v;
    CHECK(gsg_limit_parse("256M", &v) == 0 && v == (256u << 20));
    CHECK(gsg_limit_parse("2g", &v) == 0 && v == (2ull << 30));
    CHECK(gsg_limit_parse("12x", &v) != 0 && gsg_limit_parse("-1", &v) != 0 && gsg_limit_parse("", &v) != 0);
}

/* A PNG fixture through libpng (channels 1 grey or 3 RGB, interleaved rows). */
static int png_fixture(const char *path, const uint8_t *pix, int w, int h, int channels)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) { png_destroy_write_struct(&png, &info); fclose(f); return -1; }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, pix + (size_t)y * w * channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f);
}

TEST(image_folder_extensions_and_png)
{
    mkdir(P("if"), 0755); mkdir(P("if/a"), 0755); mkdir(P("if/b"), 0755);
    uint8_t pix[20 * 10 * 3];
    smooth(pix, 20, 10, 3);
    CHECK_OK(gsg_jpeg_write(P("if/a/x.JPG"), pix, 20, 10, 3, 95));
    CHECK(png_fixture(P("if/b/y.png"), pix, 20, 10, 3) == 0);
    uint8_t grey[20 * 10];
    for (int i = 0; i < 200; i++) grey[i] = (uint8_t)i;
    CHECK(png_fixture(P("if/b/z.PNG"), grey, 20, 10, 1) == 0);
    write_bytes(P("if/a/README.txt"), "not an image", 12);
    write_bytes(P("if/b/labels.csv"), "1,2", 3);
    write_bytes(P("if/b/.DS_Store"), "\0\0\0\1Bud1", 8);
    CHECK(gsg_dataset_is_image_name("a.jpeg") && gsg_dataset_is_image_name("A.JPEG") && gsg_dataset_is_image_name("p.Png"));
    CHECK(!gsg_dataset_is_image_name("README.txt") && !gsg_dataset_is_image_name(".png") && !gsg_dataset_is_image_name("x.webp"));
    struct gsg_dataset ds;
    struct gsg_dataset_opts o = {.path = P("if")};
    CHECK_OK(gsg_dataset_open(&ds, &o));
    CHECK_EQ_I64(ds.n, 3); CHECK_EQ_I64(ds.nclasses, 2);
    struct gsg_dataset_loader l = {0};
    struct gsg_image img;
    CHECK_OK(gsg_dataset_image(&l, &ds, 1, 3, 0, &img));          /* the RGB PNG: exact pixels */
    CHECK(img.w == 20 && img.h == 10);
    int diff = 0;
    for (int y = 0; y < 10; y++) for (int x = 0; x < 20; x++) for (int c = 0; c < 3; c++)
        diff += img.data[(c * 10 + y) * 20 + x] != pix[(y * 20 + x) * 3 + c];
    CHECK_EQ_I64(diff, 0);
    CHECK_OK(gsg_dataset_image(&l, &ds, 2, 3, 0, &img));          /* grey PNG as RGB */
    CHECK(img.data[5] == 5 && img.data[200 + 5] == 5 && img.data[400 + 199] == 199);
    CHECK_OK(gsg_dataset_image(&l, &ds, 2, 1, 0, &img));
    CHECK(img.c == 1 && img.data[77] == 77);
    CHECK_OK(gsg_dataset_image(&l, &ds, 1, 1, 0, &img));          /* RGB PNG as grey */
    CHECK_EQ_I64(img.data[0], (299 * pix[0] + 587 * pix[1] + 114 * pix[2] + 500) / 1000);
    gsg_dataset_loader_free(&l);
    gsg_dataset_free(&ds);
    /* a corrupt PNG is named, and skipped with skip_bad */
    uint8_t sig[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0};
    write_bytes(P("if/b/broken.png"), sig, sizeof sig);
    CHECK(gsg_dataset_open(&ds, &o) == GSG_E_FORMAT && strstr(gsg_err_msg(), "if/b/broken.png"));
    o.skip_bad = 1;
    CHECK_OK(gsg_dataset_open(&ds, &o));
    CHECK(ds.n == 3 && ds.nskipped_msgs == 1 && strstr(ds.skipped_msgs[0], "broken.png"));
    gsg_dataset_free(&ds);
    unlink(P("if/b/broken.png"));
}

/* ---------------- 4. checkpoints ---------------- */

static struct gsg_net_config small_cfg(void)
{
    struct gsg_net_config c = {GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, 4, 0, 2, 8, 6, 4};
    return c;
}

TEST(ckpt_param_count_matches_network)
{
    struct gsg_net_config cs[4] = {small_cfg(), small_cfg(), small_cfg(), small_cfg()};
    cs[1].arch = GSG_ARCH_RESNET34; cs[1].stem = GSG_STEM_IMAGENET; cs[1].in_channels = 3; cs[1].proj_layers = 3;
    cs[2].arch = GSG_ARCH_RESNET50; cs[2].pred_hidden = 0;
    cs[3].width = 3; cs[3].proj_layers = 3; cs[3].pred_hidden = 5;
    for (int k = 0; k < 4; k++) {
        struct gsg_net *n = NULL;
        CHECK_OK(gsg_net_create(&n, &cs[k], 1, 8, 8, GSG_DEV_CPU, 1, GSG_NET_INFERENCE));
        if (!n) continue;
        int64_t sum = 0;
        for (int i = 0; i < gsg_net_param_count(n); i++) sum += gsg_tensor_numel(&gsg_net_param(n, i)->value);
        CHECK_EQ_I64(gsg_net_config_param_numel(&cs[k]), sum);
        gsg_net_destroy(n);
    }
}

static void text_record(struct gsg_tstream_writer *w, const char *name, const char *text)
{
    int64_t len = (int64_t)strlen(text);
    gsg_tstream_write_raw(w, name, 0, NULL, GSG_DTYPE_U8, 1, &len, text);
}

static int ckpt_config_only_child(void)
{
    /* only gsg.config, asking for a resnet50 of width 1024 (billions of parameters) */
    struct gsg_tstream_writer *w;
    if (gsg_tstream_open_write(&w, P("cfg-only.gsgt"), 1) < 0) return 1;
    text_record(w, "gsg.config", "arch=resnet50\nstem=imagenet\nin_channels=3\nwidth=1024\nzero_init_residual=0\n"
                                 "proj_layers=3\nproj_hidden=65536\nproj_dim=65536\npred_hidden=65536\n");
    if (gsg_tstream_close(w) < 0) return 2;
    char *c = NULL, *s = NULL;
    gsg_status st = gsg_ckpt_read_text(P("cfg-only.gsgt"), &c, &s);
    if (st != GSG_E_FORMAT || !strstr(gsg_err_msg(), "the file holds 0 bytes of tensors")) return 3;
    struct gsg_encoder *e = NULL;
    struct gsg_encoder_spec sp = {.ckpt = P("cfg-only.gsgt"), .max_batch = 2, .C = 3, .H = 32, .W = 32, .dev = GSG_DEV_CPU};
    st = gsg_encoder_create(&e, &sp);
    return st == GSG_E_FORMAT ? 0 : 4;
}

TEST(ckpt_config_bounded_by_file)
{
    CHECK_EQ_I64(in_child(ckpt_config_only_child, (size_t)2 << 30), 0);
    /* a config that does not parse is refused by the loader itself */
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write(&w, P("cfg-bad.gsgt"), 1));
    text_record(w, "gsg.config", "arch=resnet18\nstem=cifar\nin_channels=1\nwidth=-5\nzero_init_residual=0\nproj_layers=2\n"
                                 "proj_hidden=8\nproj_dim=6\npred_hidden=4\n");
    CHECK_OK(gsg_tstream_close(w));
    char *c = NULL, *s = NULL;
    CHECK(gsg_ckpt_read_text(P("cfg-bad.gsgt"), &c, &s) == GSG_E_FORMAT && strstr(gsg_err_msg(), "gsg.config"));
}

TEST(ckpt_state_malformed_is_an_error)
{
    struct gsg_net_config nc = small_cfg();
    struct gsg_net *n = NULL;
    CHECK_OK(gsg_net_create(&n, &nc, 2, 4, 4, GSG_DEV_CPU, 1, GSG_NET_INFERENCE));
    if (!n) return;
    const char *bad[] = {"step=abc\nepoch=0\n", "step=\n", "step=-3\n", "epoch=1x\n", "junk line\n", "Step=1\n"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        struct gsg_ckpt ck = {n, NULL, NULL, NULL, bad[k]};
        CHECK_OK(gsg_ckpt_save(P("st.gsgt"), &ck));
        char *c = NULL, *s = NULL;
        gsg_status st = gsg_ckpt_read_text(P("st.gsgt"), &c, &s);
        CHECK_MSG(st == GSG_E_FORMAT && strstr(gsg_err_msg(), "gsg.state"), "'%s': %d %s", bad[k], st, gsg_err_msg());
        struct gsg_ckpt ld = {n, NULL, NULL, NULL, NULL};
        CHECK(gsg_ckpt_load(P("st.gsgt"), &ld, NULL, NULL) == GSG_E_FORMAT);
    }
    struct gsg_ckpt ck = {n, NULL, NULL, NULL, "step=12\nepoch=3\nnote=anything goes here\n"};
    CHECK_OK(gsg_ckpt_save(P("st.gsgt"), &ck));
    char *c = NULL, *s = NULL;
    CHECK_OK(gsg_ckpt_read_text(P("st.gsgt"), &c, &s));
    CHECK(s && strstr(s, "step=12"));
    free(c); free(s);
    gsg_net_destroy(n);
}

/* ---------------- 6. tensor stream record cap ---------------- */

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* A zstd frame made by hand: a raw block with a 64-byte record header for u8 [data] named 'bomb',
 * then RLE blocks of zeros for the data (4 bytes per 128 KiB), then the end record. Returns bytes. */
static size_t zstd_bomb(uint8_t *out, uint64_t data)
{
    uint8_t h[64] = {'G', 'S', 'G', 'T', 1, 5, 1, 0};
    put_u32(h + 8, 64); put_u16(h + 12, 4); put_u16(h + 14, 0); put_u64(h + 16, 0); put_u64(h + 24, data); put_u64(h + 32, data);
    memcpy(h + 40, "bomb", 4);
    size_t o = 0;
    const uint8_t magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
    memcpy(out, magic, 4); o = 4;
    out[o++] = 0xE0;                       /* 8-byte content size, single segment, no checksum */
    put_u64(out + o, 64 + data); o += 8;
    uint32_t bh = (64u << 3) | (0u << 1);  /* raw block of 64 bytes, not last */
    out[o++] = (uint8_t)bh; out[o++] = (uint8_t)(bh >> 8); out[o++] = (uint8_t)(bh >> 16);
    memcpy(out + o, h, 64); o += 64;
    uint64_t left = data;
    while (left) {
        uint32_t k = left > (128u << 10) ? (128u << 10) : (uint32_t)left;
        left -= k;
        bh = (k << 3) | (1u << 1) | (left == 0);
        out[o++] = (uint8_t)bh; out[o++] = (uint8_t)(bh >> 8); out[o++] = (uint8_t)(bh >> 16);
        out[o++] = 0;
    }
    return o;
}

static int tstream_bomb_child(void)
{
    /* 33 KB of frame that expands to 1 GiB + 128 KiB, above the default record limit */
    uint64_t data = ((uint64_t)1 << 30) + (128u << 10);
    size_t cap = (size_t)(data / (128u << 10) + 8) * 4 + 256;
    uint8_t *buf = malloc(cap);
    size_t n = zstd_bomb(buf, data);
    write_bytes(P("bomb.gsgt"), buf, n);
    free(buf);
    struct gsg_tstream_reader *r;
    if (gsg_tstream_open_read(&r, P("bomb.gsgt")) < 0) return 1;
    struct gsg_record rec;
    gsg_status st = gsg_tstream_read(r, &rec);
    gsg_tstream_close_read(r);
    return st == GSG_E_FORMAT && strstr(gsg_err_msg(), "GSG_MAX_RECORD_BYTES") ? 0 : 2;
}

TEST(tstream_record_cap_before_decompressing)
{
    CHECK_EQ_I64(in_child(tstream_bomb_child, (size_t)512 << 20), 0);
    /* the limit from the environment: a 2 MiB bomb is refused under GSG_MAX_RECORD_BYTES=1M, read under 4M */
    uint8_t *buf = malloc(1 << 16);
    size_t n = zstd_bomb(buf, 2u << 20);
    write_bytes(P("bomb2.gsgt"), buf, n);
    free(buf);
    setenv("GSG_MAX_RECORD_BYTES", "1M", 1);
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    CHECK_OK(gsg_tstream_open_read(&r, P("bomb2.gsgt")));
    gsg_status st = gsg_tstream_read(r, &rec);
    CHECK_MSG(st == GSG_E_FORMAT && strstr(gsg_err_msg(), "at most 1048576 bytes"), "%s", gsg_err_msg());
    gsg_tstream_close_read(r);
    setenv("GSG_MAX_RECORD_BYTES", "4M", 1);
    CHECK_OK(gsg_tstream_open_read(&r, P("bomb2.gsgt")));
    CHECK_OK(gsg_tstream_read(r, &rec));
    CHECK(rec.t.dims[0] == (2 << 20) && ((uint8_t *)rec.t.data)[12345] == 0);
    gsg_tstream_close_read(r);
    setenv("GSG_MAX_RECORD_BYTES", "many", 1);
    CHECK(gsg_tstream_open_read(&r, P("bomb2.gsgt")) == GSG_E_USAGE && strstr(gsg_err_msg(), "GSG_MAX_RECORD_BYTES"));
    unsetenv("GSG_MAX_RECORD_BYTES");
}

/* ---------------- 7. CIFAR ---------------- */

TEST(cifar_folder_missing_batch_named)
{
    mkdir(P("c10"), 0755);
    uint8_t rec[3073] = {3};
    for (int b = 1; b <= 5; b++) {
        char name[64];
        snprintf(name, sizeof name, "c10/data_batch_%d.bin", b);
        write_bytes(P(name), rec, sizeof rec);
    }
    write_bytes(P("c10/test_batch.bin"), rec, sizeof rec);
    struct gsg_dataset ds;
    struct gsg_dataset_opts o = {.path = P("c10")};
    CHECK_OK(gsg_dataset_open(&ds, &o));
    CHECK_EQ_I64(ds.n, 5);
    gsg_dataset_free(&ds);
    unlink(P("c10/data_batch_3.bin"));
    CHECK(gsg_dataset_open(&ds, &o) == GSG_E_IO);
    CHECK_MSG(strstr(gsg_err_msg(), "no data_batch_3.bin") != NULL, "%s", gsg_err_msg());
    o.test = 1;
    CHECK_OK(gsg_dataset_open(&ds, &o));   /* the test split needs test_batch.bin only */
    gsg_dataset_free(&ds);
    unlink(P("c10/test_batch.bin"));
    CHECK(gsg_dataset_open(&ds, &o) == GSG_E_IO && strstr(gsg_err_msg(), "no test_batch.bin"));
}

/* ---------------- 8. zero-size records with huge dims ---------------- */

TEST(zero_size_huge_dims_no_overflow)
{
    struct gsg_tensor t = gsg_tensor_view(NULL, GSG_DTYPE_F32, GSG_DEV_CPU, 3, (int64_t[]){(int64_t)1 << 40, (int64_t)1 << 40, 0});
    CHECK_EQ_I64(gsg_tensor_numel(&t), 0);
    CHECK_EQ_I64(gsg_tensor_nbytes(&t), 0);
    /* such a record read from a stream */
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write(&w, P("zero.gsgt"), 1));
    int64_t d[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 0};
    CHECK_OK(gsg_tstream_write_raw(w, "z", 0, NULL, GSG_DTYPE_F32, 3, d, ""));
    CHECK_OK(gsg_tstream_close(w));
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    CHECK_OK(gsg_tstream_open_read(&r, P("zero.gsgt")));
    CHECK_OK(gsg_tstream_read(r, &rec));
    CHECK_EQ_I64(gsg_tensor_numel(&rec.t), 0);
    gsg_tstream_close_read(r);
}

/* ---------------- 9. stale temporaries ---------------- */

static pid_t dead_pid(void)
{
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return p;   /* reaped: no process has this pid now (unless reused at once, which the test tolerates) */
}

TEST(afile_removes_own_stale_temporaries)
{
    mkdir(P("tmp"), 0755);
    char host[256] = "", tag[64];
    gethostname(host, sizeof host - 1);
    size_t o = 0;
    for (size_t i = 0; host[i] && o < 32; i++)
        tag[o++] = (host[i] >= 'a' && host[i] <= 'z') || (host[i] >= 'A' && host[i] <= 'Z') || (host[i] >= '0' && host[i] <= '9') ? host[i] : '_';
    tag[o] = 0;
    pid_t dead = dead_pid();
    char stale[600], live[600], other_host[600], other_out[600], legacy[600], mine[600];
    snprintf(stale, sizeof stale, "%s.tmp.%s-%ld.Ab12Cd", P("tmp/out.gsgt"), tag, (long)dead);
    snprintf(live, sizeof live, "%s.tmp.%s-%ld.Zz99Yy", P("tmp/out.gsgt"), tag, (long)getppid());
    snprintf(mine, sizeof mine, "%s.tmp.%s-%ld.Mm00Nn", P("tmp/out.gsgt"), tag, (long)getpid());
    snprintf(other_host, sizeof other_host, "%s.tmp.%s-%ld.Ab12Cd", P("tmp/out.gsgt"), "elsewhere9", (long)dead);
    snprintf(other_out, sizeof other_out, "%s.tmp.%s-%ld.Ab12Cd", P("tmp/other.gsgt"), tag, (long)dead);
    snprintf(legacy, sizeof legacy, "%s.tmp.Qw12Er", P("tmp/out.gsgt"));
    const char *all[] = {stale, live, mine, other_host, other_out, legacy};
    for (int i = 0; i < 6; i++) write_bytes(all[i], "partial", 7);
    char h2[64];
    long pid;
    CHECK(gsg_afile_parse_tmp_name(strrchr(stale, '/') + 1, "out.gsgt", h2, sizeof h2, &pid) == 0 && pid == (long)dead);
    CHECK(gsg_afile_parse_tmp_name("out.gsgt.tmp.h-12.abc", "out.gsgt", h2, sizeof h2, &pid) != 0);
    CHECK(gsg_afile_parse_tmp_name("out.gsgtx.tmp.h-12.abcdef", "out.gsgt", h2, sizeof h2, &pid) != 0);
    CHECK_OK(gsg_afile_write_all(P("tmp/out.gsgt"), "final", 5));
    CHECK(access(stale, F_OK) != 0);                 /* dead writer, this host, this output: removed */
    CHECK(access(live, F_OK) == 0);                  /* a live pid (our parent): kept */
    CHECK(access(mine, F_OK) == 0);                  /* this process's own: kept */
    CHECK(access(other_host, F_OK) == 0);            /* another machine's: kept */
    CHECK(access(other_out, F_OK) == 0);             /* another output's: kept */
    CHECK(access(legacy, F_OK) == 0);                /* no pid in the name: kept */
    CHECK(access(P("tmp/out.gsgt"), F_OK) == 0);
    /* the temporary's own name follows the pattern */
    struct gsg_afile *af;
    CHECK_OK(gsg_afile_open(&af, P("tmp/new.gsgt")));
    CHECK(gsg_afile_parse_tmp_name(strrchr(af->tmp, '/') + 1, "new.gsgt", h2, sizeof h2, &pid) == 0 && pid == (long)getpid() &&
          strcmp(h2, tag) == 0);
    gsg_afile_abort(af);
}

int main(void)
{
    char tmpl[] = "/tmp/gsg_test_readers.XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    snprintf(root, sizeof root, "%s", tmpl);
    RUN(idx_dims_product_wraps);
    RUN(idx_gzip_trailing_garbage);
    RUN(idx_gzip_lying_header_bounded);
    RUN(npy_declared_size_not_allocated);
    RUN(npy_header_dict_parsed);
    RUN(jpeg_decoder_recovers_after_bad_header);
    RUN(jpeg_cmyk_decoded_to_rgb);
    RUN(jpeg_pixel_limit_at_header);
    RUN(image_folder_extensions_and_png);
    RUN(ckpt_param_count_matches_network);
    RUN(ckpt_config_bounded_by_file);
    RUN(ckpt_state_malformed_is_an_error);
    RUN(tstream_record_cap_before_decompressing);
    RUN(cifar_folder_missing_batch_named);
    RUN(zero_size_huge_dims_no_overflow);
    RUN(afile_removes_own_stale_temporaries);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) printf("  could not remove %s\n", root);
    return check_summary();
}
