/* cifar.h: CIFAR-10 / CIFAR-100 binary batches. A CIFAR-10 record is 1 label
 * byte + 3072 image bytes (R, G, B planes of 32x32); a CIFAR-100 record has a
 * coarse and a fine label byte before the image (the fine label is used).
 * The file size must be a whole number of records and labels must be in range. */
#ifndef GSG_CIFAR_H
#define GSG_CIFAR_H
#include <stdint.h>
#include "core/status.h"

#define GSG_CIFAR_IMAGE_BYTES 3072

/* Append the records of one file: *images grows to [n,3,32,32], *labels to [n]
 * (realloc'd; start with NULL and *n = 0). classes: 10 or 100. */
gsg_status gsg_cifar_read(const char *path, int classes, uint8_t **images, int64_t **labels, int64_t *n);

#endif
