/* gsg_cuda.h: the C interface of the CUDA backend. Built from the .cu files
 * when nvcc is present; otherwise lib/cuda/stubs.c defines every symbol and
 * returns GSG_E_NO_CUDA with a one-line message. */
#ifndef GSG_CUDA_H
#define GSG_CUDA_H
#include <stddef.h>
#include "../core/status.h"
#ifdef __cplusplus
extern "C" {
#endif

int gsg_cuda_built(void);                 /* 1 when compiled with nvcc */
gsg_status gsg_cuda_init(int device);     /* select and check a device */
gsg_status gsg_cuda_malloc(void **p, size_t bytes);
void gsg_cuda_free(void *p);
gsg_status gsg_cuda_memset0(void *p, size_t bytes);
gsg_status gsg_cuda_memcpy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes);
gsg_status gsg_cuda_sync(void);

#ifdef __cplusplus
}
#endif
#endif
