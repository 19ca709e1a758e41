/* dataset.h: one image data set in memory, from any of the supported sources:
 *   idx       MNIST / Fashion-MNIST IDX files, plain or gzip ("fashion-mnist" finds Debian's copy)
 *   cifar10   CIFAR-10 binary batches (data_batch_1..5.bin, all five for the train split / test_batch.bin)
 *   cifar100  CIFAR-100 binary (train.bin / test.bin)
 *   jpeg      a folder of JPEG/PNG images, one sub-folder per class (torchvision's ImageFolder);
 *             only *.jpg, *.jpeg and *.png (any case) are read, other files are ignored;
 *             decoded lazily
 *   stream    a GSGT stream with u8 images [N,C,H,W] (or [N,H,W], or [N,H,W,C] with C 1 or 3)
 *             and optional integer labels named 'label' or 'labels'
 * Every source is validated when it is opened, before any image is used; a JPEG
 * folder has every file's header checked (decode errors can still surface later). */
#ifndef GSG_DATASET_H
#define GSG_DATASET_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"
#include "aug/aug.h"
#include "io/jpeg.h"

#define GSG_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

enum gsg_data_format {
    GSG_DATA_AUTO = 0,
    GSG_DATA_IDX = 1,
    GSG_DATA_CIFAR10 = 2,
    GSG_DATA_CIFAR100 = 3,
    GSG_DATA_JPEG = 4,
    GSG_DATA_STREAM = 5,
};
const char *gsg_data_format_name(enum gsg_data_format f);
/* 0 on success, -1 for an unknown name. */
int gsg_data_format_parse(const char *s, enum gsg_data_format *f);

struct gsg_dataset_opts {
    const char *path;             /* file, folder, "-" (stream on stdin) or "fashion-mnist" */
    int test;                     /* 0: the train split, 1: the test split (folders of several splits) */
    enum gsg_data_format format;  /* GSG_DATA_AUTO detects it */
    int64_t offset;               /* drop the first offset images (then limit applies): --range A:B */
    int64_t limit;                /* keep the first limit images (0: all) */
    int skip_bad;                 /* JPEG: skip unreadable files (counted in skipped) instead of failing */
};

struct gsg_dataset {
    enum gsg_data_format format;
    char *source;                 /* what was opened (a file or folder) */
    int64_t n;
    int c, h, w;                  /* h = w = 0: sizes vary (JPEG folder) */
    uint8_t *images;              /* [N,C,H,W], NULL for a JPEG folder */
    int64_t *labels;              /* [N], -1 when unknown */
    int64_t nclasses;             /* 0 when unknown */
    char **files;                 /* JPEG: path of image i */
    int *file_w, *file_h;         /* JPEG: stored size of image i */
    int64_t skipped;              /* files skipped at open (skip_bad) */
    char **skipped_msgs;          /* [nskipped_msgs]: why each one was skipped (names the file) */
    int64_t nskipped_msgs;
};
/* 1 if a file name has one of the image extensions a folder data set reads (.jpg .jpeg .png, any case). */
int gsg_dataset_is_image_name(const char *name);

gsg_status gsg_dataset_open(struct gsg_dataset *ds, const struct gsg_dataset_opts *o);
void gsg_dataset_free(struct gsg_dataset *ds);

/* Per-thread access to images; zero-initialise. */
struct gsg_dataset_loader {
    struct gsg_jpeg jpeg;
    int jpeg_ready;
    uint8_t *conv;
    size_t conv_cap;
};
/* Image i as planar u8 with the given channel count (grey <-> RGB converted as needed).
 * min_side: JPEG folders decode with DCT scaling down to that shorter side (0: full size).
 * img->data stays valid until the next call with the same loader. */
gsg_status gsg_dataset_image(struct gsg_dataset_loader *l, const struct gsg_dataset *ds, int64_t i, int channels,
                             int min_side, struct gsg_image *img);
void gsg_dataset_loader_free(struct gsg_dataset_loader *l);

#endif
