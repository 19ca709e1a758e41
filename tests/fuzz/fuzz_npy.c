/* fuzz_npy.c: the .npy reader (lib/io/npy.c, gsg-tensor from-npy) on arbitrary bytes. A file it
 * accepts must survive a round trip: written back with gsg_npy_write and read again, it gives the
 * same dtype, shape and bytes. */
#include "fuzz.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t empty[1];
    FILE *f = fmemopen(size ? (void *)data : empty, size ? size : 1, "rb");
    FUZZ_CHECK(f);
    if (!size) fgetc(f);   /* fmemopen wants a non-empty buffer: consume the stand-in byte */
    struct gsg_tensor t;
    gsg_status st = gsg_npy_read(f, "fuzz.npy", &t);
    fclose(f);
    if (st < 0) { FUZZ_CHECK(gsg_err_msg()[0]); return 0; }
    size_t nb = gsg_tensor_nbytes(&t);
    FUZZ_CHECK(nb <= size);   /* the data came from the input */
    fuzz_touch(t.data, nb);

    char *buf = NULL;
    size_t len = 0;
    FILE *w = open_memstream(&buf, &len);
    FUZZ_CHECK(w);
    FUZZ_CHECK(gsg_npy_write(w, "back.npy", &t) == GSG_OK);
    FUZZ_CHECK(fclose(w) == 0);
    FILE *rf = fmemopen(buf, len, "rb");
    FUZZ_CHECK(rf);
    struct gsg_tensor u;
    FUZZ_CHECK(gsg_npy_read(rf, "back.npy", &u) == GSG_OK);
    fclose(rf);
    FUZZ_CHECK(u.dtype == t.dtype && u.ndim == t.ndim);
    for (int i = 0; i < t.ndim; i++) FUZZ_CHECK(u.dims[i] == t.dims[i]);
    FUZZ_CHECK(nb == 0 || memcmp(u.data, t.data, nb) == 0);
    gsg_tensor_free(&u);
    gsg_tensor_free(&t);
    free(buf);
    return 0;
}
