/* safetensors.h: write the safetensors format (huggingface/safetensors), the file
 * PyTorch's `safetensors.torch.load_file` reads: an 8-byte little-endian header
 * length, a JSON header {"name": {"dtype", "shape", "data_offsets": [begin, end]},
 * "__metadata__": {str: str}} padded with spaces to a multiple of 8, then the
 * tensors' bytes packed back to back in the order given. */
#ifndef GSG_SAFETENSORS_H
#define GSG_SAFETENSORS_H
#include <stdio.h>
#include "../tensor/tensor.h"

/* "F32", "F16", "BF16", "F64", "U8", "I32", "I64"; NULL for invalid. */
const char *gsg_safetensors_dtype(enum gsg_dtype dt);

/* Write n host tensors named names[i] (unique, 1..255 chars) to f. meta is NULL or a
 * NULL-terminated list of key, value strings for "__metadata__" (JSON-escaped here). */
gsg_status gsg_safetensors_write(FILE *f, const char *label, int n, const char *const *names,
                                 const struct gsg_tensor *ts, const char *const *meta);
/* Atomic file output ("-" = stdout). */
gsg_status gsg_safetensors_save(const char *path, int n, const char *const *names,
                                const struct gsg_tensor *ts, const char *const *meta);

#endif
