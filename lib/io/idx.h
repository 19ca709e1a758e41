/* idx.h: MNIST / Fashion-MNIST IDX files (u8 data), plain or gzip-compressed
 * (zlib reads both). The header (magic 0x00 0x00 0x08 ndim, big-endian u32 dims)
 * is validated against the data: a file with fewer or more bytes than the header
 * promises is rejected, naming the file and both sizes. */
#ifndef GSG_IDX_H
#define GSG_IDX_H
#include <stdint.h>
#include "core/status.h"

/* Read an IDX file whose element type is u8 with ndim dims (1 for labels, 3 for
 * images). *data (malloc'd, caller frees) holds product(dims) bytes. */
gsg_status gsg_idx_read(const char *path, int ndim, uint8_t **data, int64_t *dims);

/* Write u8 data as an IDX file (gzip when gz != 0); used by tests. Atomic. */
gsg_status gsg_idx_write(const char *path, int ndim, const int64_t *dims, const uint8_t *data, int gz);

#endif
