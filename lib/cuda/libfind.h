/* libfind.h: where the GPU libraries that are loaded at run time (cuBLAS, cuDNN: lib/cuda/runtime.cu;
 * NCCL: lib/dist/nccl.c) are looked for, in this order:
 *   1. GSG_CUDA_LIBDIR (colon-separated folders);
 *   2. the folders the caller names (the toolkit's lib64 recorded at build time);
 *   3. every site-packages/nvidia/<name>/lib of the PyTorch wheels this process can see: under
 *      $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local, /usr/local, /usr and /opt/conda (the CUDA 13 wheels put
 *      cuBLAS, cuDNN and NCCL together in nvidia/cu13/lib, older ones in nvidia/cublas/lib and so on);
 *   4. the loader's own path (LD_LIBRARY_PATH, the ld.so cache).
 * Plain C, no CUDA headers: built with and without nvcc. */
#ifndef GSG_LIBFIND_H
#define GSG_LIBFIND_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

/* dlopen (RTLD_NOW | RTLD_GLOBAL) the first of names (NULL-terminated; each name tried in every folder
 * before the next name) found in the folders above; extra_dirs is colon-separated or NULL. On success
 * the handle, and path holds the file that was opened (the loader's name for it). On failure NULL and
 * why holds the loader's reason for the most telling failure: a file that exists but does not load
 * (a missing dependency, a wrong architecture) before "not found". */
void *gsg_gpulib_open(const char *const *names, const char *extra_dirs, char *path, size_t pcap, char *why,
                      size_t wcap);
/* The colon-separated folders of step 3 that exist on this machine (for messages and the docs). */
void gsg_gpulib_wheel_dirs(char *out, size_t cap);
/* "libcublas.so.13.0.2.14" for a path that is a link to its versioned file; path itself otherwise. */
void gsg_gpulib_real_name(const char *path, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
