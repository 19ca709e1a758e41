/* npy.h: NumPy .npy files (format versions 1.0, 2.0, 3.0), C order only. */
#ifndef GSG_NPY_H
#define GSG_NPY_H
#include <stdio.h>
#include "../tensor/tensor.h"

/* Read a whole .npy from f (label names it in messages) into a newly allocated host tensor. */
gsg_status gsg_npy_read(FILE *f, const char *label, struct gsg_tensor *t);
gsg_status gsg_npy_load(const char *path, struct gsg_tensor *t);   /* "-" = stdin */
/* Write t as .npy version 1.0 with the header numpy writes, so files round-trip byte for byte.
 * bf16 has no numpy dtype: callers convert it to f32 first (GSG_E_UNSUPPORTED otherwise). */
gsg_status gsg_npy_write(FILE *f, const char *label, const struct gsg_tensor *t);
gsg_status gsg_npy_save(const char *path, const struct gsg_tensor *t);   /* atomic; "-" = stdout */

#endif
