/* fuzz_cifar.c: the CIFAR-10 / CIFAR-100 batch reader (lib/io/cifar.c) through the data set
 * opener (gsg-augment --data FILE.bin --format cifar10|cifar100). The first input byte picks
 * CIFAR-100 (odd) or CIFAR-10 (even); the rest is the file. */
#include "fuzz.h"
#include "io/cifar.h"
#include "io/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int classes = data[0] & 1 ? 100 : 10;
    char path[64];
    int fd = fuzz_memfd(data + 1, size - 1, path);
    uint8_t *im = NULL;
    int64_t *lab = NULL, n = 0;
    if (gsg_cifar_read(path, classes, &im, &lab, &n) == GSG_OK) {
        size_t rec = (classes == 10 ? 1 : 2) + GSG_CIFAR_IMAGE_BYTES;
        FUZZ_CHECK(n > 0 && (size_t)n * rec == size - 1);
        for (int64_t i = 0; i < n; i++) FUZZ_CHECK(lab[i] >= 0 && lab[i] < classes);
        fuzz_touch(im, (size_t)n * GSG_CIFAR_IMAGE_BYTES);
    } else {
        FUZZ_CHECK(n == 0 && gsg_err_msg()[0]);
    }
    free(im);
    free(lab);

    struct gsg_dataset ds;
    struct gsg_dataset_opts o = {.path = path, .format = classes == 10 ? GSG_DATA_CIFAR10 : GSG_DATA_CIFAR100};
    if (gsg_dataset_open(&ds, &o) == GSG_OK) {
        FUZZ_CHECK(ds.c == 3 && ds.h == 32 && ds.w == 32 && ds.nclasses == classes);
        struct gsg_dataset_loader l = {0};
        struct gsg_image img;
        FUZZ_CHECK(gsg_dataset_image(&l, &ds, ds.n - 1, 1, 0, &img) == GSG_OK);
        fuzz_touch(img.data, 32 * 32);
        gsg_dataset_loader_free(&l);
        gsg_dataset_free(&ds);
    }
    close(fd);
    return 0;
}
