/* fuzz_idx.c: the IDX reader (lib/io/idx.c) through the data set opener (gsg-augment --data
 * FILE-images-idx3-ubyte[.gz]), plain and gzip. The first input byte picks the mode:
 *   bit 0  gzip the rest of the input first (the fuzzer then explores IDX headers behind gzip);
 *          raw inputs that are gzip already exercise the gzip framing itself
 *   bit 1  read it as a labels file (1 dim) instead of images (3 dims)
 * Accepted images are read back one by one, as gsg-augment does. */
#include "fuzz.h"
#include <zlib.h>
#include "io/dataset.h"
#include "io/idx.h"

static uint8_t *gzip_bytes(const uint8_t *p, size_t n, size_t *zn)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    FUZZ_CHECK(deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n) + 64;
    uint8_t *z = malloc(cap);
    FUZZ_CHECK(z);
    zs.next_in = (Bytef *)p; zs.avail_in = (uInt)n;
    zs.next_out = z; zs.avail_out = (uInt)cap;
    FUZZ_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    *zn = zs.total_out;
    deflateEnd(&zs);
    return z;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int mode = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1, zn = 0;
    uint8_t *z = NULL;
    if (mode & 1) { z = gzip_bytes(p, n, &zn); p = z; n = zn; }
    char path[64];
    int fd = fuzz_memfd(p, n, path);
    if (mode & 2) {
        uint8_t *lab = NULL;
        int64_t dims[1];
        if (gsg_idx_read(path, 1, &lab, dims) == GSG_OK) {
            FUZZ_CHECK(dims[0] >= 0 && (uint64_t)dims[0] <= n);
            fuzz_touch(lab, (size_t)dims[0]);
        } else {
            FUZZ_CHECK(lab == NULL && gsg_err_msg()[0]);
        }
        free(lab);
    } else {
        struct gsg_dataset ds;
        struct gsg_dataset_opts o = {.path = path, .format = GSG_DATA_IDX};
        if (gsg_dataset_open(&ds, &o) == GSG_OK) {
            FUZZ_CHECK(ds.n > 0 && ds.h > 0 && ds.w > 0);
            struct gsg_dataset_loader l = {0};
            for (int64_t i = 0; i < ds.n && i < 64; i++) {
                struct gsg_image img;
                FUZZ_CHECK(gsg_dataset_image(&l, &ds, i, 1, 0, &img) == GSG_OK);
                fuzz_touch(img.data, (size_t)img.h * img.w);
            }
            struct gsg_image img;
            FUZZ_CHECK(gsg_dataset_image(&l, &ds, ds.n - 1, 3, 0, &img) == GSG_OK);
            fuzz_touch(img.data, (size_t)3 * img.h * img.w);
            gsg_dataset_loader_free(&l);
            gsg_dataset_free(&ds);
        }
    }
    close(fd);
    free(z);
    return 0;
}
