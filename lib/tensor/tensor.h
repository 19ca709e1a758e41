/* tensor.h: a dense, contiguous, row-major tensor with dtype, shape and device.
 * Tensors do not own a reference count: whoever allocates frees. Views share
 * data with another tensor or buffer and must not be freed. */
#ifndef GSG_TENSOR_H
#define GSG_TENSOR_H
#include <stddef.h>
#include <stdint.h>
#include "../core/status.h"

#define GSG_MAX_DIMS 8

/* On-disk codes (formats/tensor-stream.md); 0 is invalid. */
enum gsg_dtype {
    GSG_DTYPE_INVALID = 0,
    GSG_DTYPE_F32 = 1,
    GSG_DTYPE_F16 = 2,
    GSG_DTYPE_BF16 = 3,
    GSG_DTYPE_F64 = 4,
    GSG_DTYPE_U8 = 5,
    GSG_DTYPE_I32 = 6,
    GSG_DTYPE_I64 = 7,
};
#define GSG_DTYPE_COUNT 8

enum gsg_dev {
    GSG_DEV_CPU = 0,
    GSG_DEV_CUDA = 1,
};

struct gsg_tensor {
    void *data;
    enum gsg_dtype dtype;
    enum gsg_dev dev;
    int ndim;
    int64_t dims[GSG_MAX_DIMS];
    int owned;           /* 1 when gsg_tensor_alloc allocated data */
};

size_t gsg_dtype_size(enum gsg_dtype dt);            /* 0 for invalid */
const char *gsg_dtype_name(enum gsg_dtype dt);       /* "f32", "u8", ... */
enum gsg_dtype gsg_dtype_from_name(const char *s);   /* GSG_DTYPE_INVALID if unknown */
const char *gsg_dev_name(enum gsg_dev dev);

int64_t gsg_tensor_numel(const struct gsg_tensor *t);
size_t gsg_tensor_nbytes(const struct gsg_tensor *t);
/* Product of dims times elem size with overflow checks; returns -1 on overflow. */
int gsg_shape_bytes(int ndim, const int64_t *dims, size_t elem, uint64_t *bytes);

/* Allocate (64-byte aligned, zeroed) on dev. */
gsg_status gsg_tensor_alloc(struct gsg_tensor *t, enum gsg_dtype dt, enum gsg_dev dev,
                            int ndim, const int64_t *dims);
void gsg_tensor_free(struct gsg_tensor *t);
/* A non-owning view of existing memory. */
struct gsg_tensor gsg_tensor_view(void *data, enum gsg_dtype dt, enum gsg_dev dev,
                                  int ndim, const int64_t *dims);
/* Convenience: a HOST view with dims as int64_t arguments, e.g. gsg_tview(p, GSG_DTYPE_F32, 2, N, D).
 * Host memory only (test buffers, staging areas); memory of a device-resident object is viewed with
 * gsg_tview_dev (its device) or gsg_tensor_sub (a part of another tensor, inheriting its device). */
struct gsg_tensor gsg_tview(void *data, enum gsg_dtype dt, int ndim, ...);
struct gsg_tensor gsg_tview_dev(enum gsg_dev dev, void *data, enum gsg_dtype dt, int ndim, ...);
/* A view of base's memory from element offset off, with base's dtype and device and the given shape.
 * GSG_ASSERTs that the view lies inside base (an engine bug otherwise). */
struct gsg_tensor gsg_tensor_sub(const struct gsg_tensor *base, int64_t off, int ndim, const int64_t *dims);
int gsg_tensor_same_shape(const struct gsg_tensor *a, const struct gsg_tensor *b);
/* "[256,3,32,32]" into buf */
char *gsg_shape_str(char *buf, size_t cap, int ndim, const int64_t *dims);
/* Copy between tensors of equal dtype and numel, across devices (synchronous when a host is
 * involved). Inside a training step use gsg_op_copy (lib/ops/copy.h), which never leaves the device. */
gsg_status gsg_tensor_copy(struct gsg_tensor *dst, const struct gsg_tensor *src);
/* Explicit host staging (docs/execution.md): the only way layers above lib/ops read or write a
 * tensor's bytes from the host. host: gsg_tensor_nbytes(t) bytes of host memory. On the CPU these are
 * a memcpy; on CUDA a synchronous transfer on the process stream (so it also waits for the work that
 * produced src). Used where host work is meant: GSG selection, monitors, checkpoints, I/O. */
gsg_status gsg_tensor_to_host(void *host, const struct gsg_tensor *src);
gsg_status gsg_tensor_from_host(struct gsg_tensor *dst, const void *host);

/* Host allocation helpers: 64-byte aligned, never NULL on success. */
void *gsg_aligned_alloc(size_t bytes);
void gsg_aligned_free(void *p);

/* f16/bf16 conversions */
float gsg_f16_to_f32(uint16_t h);
uint16_t gsg_f32_to_f16(float f);
float gsg_bf16_to_f32(uint16_t h);
uint16_t gsg_f32_to_bf16(float f);
/* Read element i of any dtype as double (host tensors). */
double gsg_tensor_get(const struct gsg_tensor *t, int64_t i);

#endif
