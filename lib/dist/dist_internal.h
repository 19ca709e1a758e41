/* dist_internal.h: NCCL behind dist.c (lib/dist/nccl.c). libnccl.so.2 is loaded at run time, so a
 * build needs neither NCCL's header nor its library, and CPU runs never load it. */
#ifndef GSG_DIST_INTERNAL_H
#define GSG_DIST_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "../core/status.h"

struct gsg_nccl_id { char internal[128]; };   /* ncclUniqueId (NCCL_UNIQUE_ID_BYTES = 128) */
struct gsg_nccl;

/* Load libnccl.so.2: GSG_NCCL_LIB (that file only), else the search of lib/cuda/libfind.h (GSG_CUDA_LIBDIR,
 * the toolkit's folders, the PyTorch wheels' nvidia/<name>/lib, the loader path). 0, or -1 with the
 * loader's reason in why. */
int gsg_nccl_load(char *why, size_t cap);
/* After a successful load: "NCCL 2.27.3 from /path/libnccl.so.2 (libnccl.so.2.27.3)"; "" before. */
const char *gsg_nccl_describe(void);
int gsg_nccl_unique_id(struct gsg_nccl_id *id, char *why, size_t cap);
/* One communicator per process on the process's CUDA device and stream. */
gsg_status gsg_nccl_create(struct gsg_nccl **c, const struct gsg_nccl_id *id, int rank, int size);
/* In place sum of n f32 (f64 != 0: f64) device values, enqueued on the process stream. */
gsg_status gsg_nccl_allreduce(struct gsg_nccl *c, void *x, int64_t n, int f64, const char *what);
/* Wait until the stream is idle, at most timeout seconds (GSG_E_IO after; NCCL's asynchronous
 * errors are reported as they appear). */
gsg_status gsg_nccl_wait(struct gsg_nccl *c, double timeout, const char *what);
void gsg_nccl_destroy(struct gsg_nccl *c, int abort);

#endif
