/* stubs.c: the CUDA backend's symbols for builds without nvcc. */
#include "gsg_cuda.h"

static gsg_status no_cuda(void)
{
    return gsg_err_set(GSG_E_NO_CUDA, "this build has no CUDA backend (nvcc was not found at build time; rebuild with CUDA=1 on a machine with the CUDA Toolkit)");
}

int gsg_cuda_built(void) { return 0; }
gsg_status gsg_cuda_init(int device) { (void)device; return no_cuda(); }
gsg_status gsg_cuda_malloc(void **p, size_t bytes) { (void)bytes; *p = NULL; return no_cuda(); }
void gsg_cuda_free(void *p) { (void)p; }
gsg_status gsg_cuda_memset0(void *p, size_t bytes) { (void)p; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_memcpy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes)
{ (void)dst; (void)dst_dev; (void)src; (void)src_dev; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_sync(void) { return no_cuda(); }
