/* bench_io: the tensor stream writer and reader against the zstd CLI (driven by tests/bench/io.sh).
 *   bench_io gen u8|f32 BYTES        raw image-like (Fashion-MNIST tiled) or smooth f32 bytes -> stdout
 *   bench_io write u8|f32 [LEVEL [WORKERS]]   raw bytes on stdin -> GSGT stream on stdout, one record per batch
 *   bench_io read                    GSGT stream on stdin -> decompressed and validated, nothing written
 * Each mode reports "<mode> <bytes> <seconds> <MB/s>" on stderr (MB = 1e6 bytes). */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "core/tool.h"
#include "io/tstream.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
#define U8_BATCH (512 * 2 * 28 * 28)      /* views u8 [512,2,1,28,28] */
#define F32_ROWS 256
#define F32_COLS 1024                     /* activations f32 [256,1024] */

static void die(const char *m) { fprintf(stderr, "bench_io: %s\n", m); exit(1); }

static size_t write_all(const void *p, size_t n)
{
    const char *c = p;
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(STDOUT_FILENO, c + done, n - done);
        if (k <= 0) die("write error");
        done += (size_t)k;
    }
    return done;
}

static size_t read_full(void *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = read(STDIN_FILENO, (char *)p + done, n - done);
        if (k < 0) die("read error");
        if (k == 0) break;
        done += (size_t)k;
    }
    return done;
}

/* Fashion-MNIST training images (60000 x 28 x 28), or a synthetic stand-in when absent. */
static uint8_t *load_images(size_t *n)
{
    gzFile g = gzopen(FMNIST, "rb");
    size_t cap = 60000u * 784u;
    uint8_t *p = malloc(cap);
    if (!p) die("out of memory");
    if (g) {
        uint8_t hdr[16];
        if (gzread(g, hdr, 16) == 16 && gzread(g, p, (unsigned)cap) == (int)cap) { gzclose(g); *n = cap; return p; }
        gzclose(g);
    }
    fprintf(stderr, "bench_io: %s missing: using synthetic blobs\n", FMNIST);
    for (size_t i = 0; i < cap; i++) {
        size_t img = i / 784, y = (i % 784) / 28, x = i % 28;
        double d = hypot((double)y - 14, (double)x - 14) / (6 + (double)(img % 7));
        p[i] = d < 1 ? (uint8_t)(200 * (1 - d) + (double)(img * 31 % 50)) : 0;
    }
    *n = cap;
    return p;
}

static int gen(const char *kind, size_t total)
{
    size_t done = 0;
    if (strcmp(kind, "u8") == 0) {
        size_t n;
        uint8_t *img = load_images(&n);
        size_t pos = 0;
        while (done < total) {
            size_t k = n - pos < total - done ? n - pos : total - done;
            write_all(img + pos, k);
            done += k;
            pos = (pos + k) % n;
        }
        free(img);
    } else {
        /* smooth post-ReLU activations: a few low-frequency waves per row, about 40% zeros */
        size_t rows = 4096, cols = F32_COLS;
        float *a = malloc(rows * cols * sizeof(float));
        if (!a) die("out of memory");
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++) {
                double v = sin(0.013 * (double)c + 0.7 * (double)r) + 0.5 * sin(0.071 * (double)c * (1 + (double)(r % 5)))
                         + 0.25 * cos(0.003 * (double)(c * r % 977));
                a[r * cols + c] = v > 0.2 ? (float)(v - 0.2) : 0.0f;
            }
        size_t n = rows * cols * sizeof(float), pos = 0;
        while (done < total) {
            size_t k = n - pos < total - done ? n - pos : total - done;
            write_all((char *)a + pos, k);
            done += k;
            pos = (pos + k) % n;
        }
        free(a);
    }
    return 0;
}

static int bwrite(const char *kind, int level, int workers)
{
    int u8 = strcmp(kind, "u8") == 0;
    size_t batch = u8 ? U8_BATCH : (size_t)F32_ROWS * F32_COLS * 4;
    uint8_t *buf = gsg_aligned_alloc(batch);
    struct gsg_tstream_writer *w;
    if (gsg_tstream_open_write(&w, "-", level) < 0) die(gsg_err_msg());
    if (workers) gsg_tstream_set_workers(w, workers);
    double t0 = gsg_now();
    size_t total = 0, got;
    uint64_t seq = 0;
    while ((got = read_full(buf, batch)) == batch) {
        struct gsg_tensor t = u8 ? gsg_tview(buf, GSG_DTYPE_U8, 5, (int64_t)512, (int64_t)2, (int64_t)1, (int64_t)28, (int64_t)28)
                                 : gsg_tview(buf, GSG_DTYPE_F32, 2, (int64_t)F32_ROWS, (int64_t)F32_COLS);
        if (gsg_tstream_write(w, u8 ? "views" : "features", seq++, "epoch=0\n", &t) < 0) die(gsg_err_msg());
        total += batch;
    }
    if (got) {   /* a last partial batch as a flat record */
        struct gsg_tensor t = gsg_tview(buf, GSG_DTYPE_U8, 1, (int64_t)got);
        if (gsg_tstream_write(w, "tail", seq, NULL, &t) < 0) die(gsg_err_msg());
        total += got;
    }
    if (gsg_tstream_close(w) < 0) die(gsg_err_msg());
    double dt = gsg_now() - t0;
    fprintf(stderr, "write %zu %.3f %.1f\n", total, dt, (double)total / dt / 1e6);
    gsg_aligned_free(buf);
    return 0;
}

static int bread(void)
{
    struct gsg_tstream_reader *r;
    if (gsg_tstream_open_read(&r, "-") < 0) die(gsg_err_msg());
    struct gsg_record rec;
    gsg_status st;
    double t0 = gsg_now();
    size_t total = 0;
    unsigned sum = 0;
    while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) {
        total += gsg_tensor_nbytes(&rec.t);
        sum += ((uint8_t *)rec.t.data)[0];
    }
    if (st < 0) die(gsg_err_msg());
    double dt = gsg_now() - t0;
    gsg_tstream_close_read(r);
    fprintf(stderr, "read %zu %.3f %.1f (%u)\n", total, dt, (double)total / dt / 1e6, sum & 1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "gen") == 0) return gen(argv[2], (size_t)strtoull(argv[3], NULL, 10));
    if (argc >= 3 && strcmp(argv[1], "write") == 0)
        return bwrite(argv[2], argc > 3 ? atoi(argv[3]) : GSG_TSTREAM_DEFAULT_LEVEL, argc > 4 ? atoi(argv[4]) : 0);
    if (argc >= 2 && strcmp(argv[1], "read") == 0) return bread();
    fprintf(stderr, "usage: bench_io gen u8|f32 BYTES | write u8|f32 [LEVEL [WORKERS]] | read\n");
    return 2;
}
