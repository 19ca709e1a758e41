// runtime.cu: the per-process CUDA context (device, one stream, one cuBLAS and one cuDNN handle,
// the shared workspace), memory and copies, the error reporting of every .cu file.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_internal.h"
#include "libfind.h"

#ifndef GSG_CUDA_LIBDIR_DEFAULT
#define GSG_CUDA_LIBDIR_DEFAULT "/usr/local/cuda/lib64"
#endif

struct gsg_cuda_ctx gsg_cu;

gsg_status gsg_cuda_fail(cudaError_t e, const char *call, const char *file, int line)
{
    int d = -1;
    cudaGetDevice(&d);
    return gsg_err_set(GSG_E_CUDA, "CUDA error '%s' in %s on device %d (%s:%d)", cudaGetErrorString(e), call, d,
                       file, line);
}

gsg_status gsg_cublas_fail(cublasStatus_t e, const char *call, const char *file, int line)
{
    const char *s = gsg_cu.fn.cublasGetStatusString ? gsg_cu.fn.cublasGetStatusString(e) : "?";
    return gsg_err_set(GSG_E_CUDA, "cuBLAS error %d '%s' in %s (%s:%d)", (int)e, s, call, file, line);
}

gsg_status gsg_cudnn_fail(cudnnStatus_t e, const char *call, const char *file, int line)
{
    const char *s = gsg_cu.fn.cudnnGetErrorString ? gsg_cu.fn.cudnnGetErrorString(e) : "?";
    return gsg_err_set(GSG_E_CUDA, "cuDNN error %d '%s' in %s (%s:%d)", (int)e, s, call, file, line);
}

extern "C" int gsg_cuda_built(void) { return 1; }

// Where cuBLAS and cuDNN came from, and their versions (gsg_cuda_libs_describe).
static char lib_blas_path[1024], lib_dnn_path[1024];
static char lib_report[3072];

// dlopen names through lib/cuda/libfind.c: GSG_CUDA_LIBDIR, the build's toolkit folder, the PyTorch
// wheels' nvidia/*/lib folders, the loader's path.
static void *open_lib(const char *const *names, char *path, size_t pcap, char *why, size_t cap)
{
    return gsg_gpulib_open(names, GSG_CUDA_LIBDIR_DEFAULT, path, pcap, why, cap);
}

static gsg_status load_libs(struct gsg_cuda_libs *fn)
{
    static const char *const blas_names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so", NULL};
    static const char *const dnn_names[] = {"libcudnn.so.9", "libcudnn.so", NULL};
    char why[1100] = "";
    void *hb = open_lib(blas_names, lib_blas_path, sizeof lib_blas_path, why, sizeof why);
    if (!hb)
        return gsg_err_set(GSG_E_NO_CUDA, "cannot load cuBLAS (libcublas.so.13 or .12; set GSG_CUDA_LIBDIR): %s", why);
    void *hd = open_lib(dnn_names, lib_dnn_path, sizeof lib_dnn_path, why, sizeof why);
    if (!hd) return gsg_err_set(GSG_E_NO_CUDA, "cannot load cuDNN (libcudnn.so.9; set GSG_CUDA_LIBDIR): %s", why);
#define GSG_X(f) \
    fn->f = (decltype(fn->f))dlsym(hb, #f); \
    if (!fn->f) return gsg_err_set(GSG_E_NO_CUDA, "cuBLAS (%s) has no symbol %s", lib_blas_path, #f);
    GSG_CUBLAS_FNS(GSG_X)
#undef GSG_X
#define GSG_X(f) \
    fn->f = (decltype(fn->f))dlsym(hd, #f); \
    if (!fn->f) return gsg_err_set(GSG_E_NO_CUDA, "cuDNN (%s) has no symbol %s", lib_dnn_path, #f);
    GSG_CUDNN_FNS(GSG_X)
#undef GSG_X
    fn->cublasGemmEx = (gsg_cublasGemmEx_t)dlsym(hb, "cublasGemmEx");
    if (!fn->cublasGemmEx) return gsg_err_set(GSG_E_NO_CUDA, "cuBLAS (%s) has no symbol cublasGemmEx", lib_blas_path);
    // versions without a device: cublasGetProperty needs no handle, cudnnGetVersion none either
    typedef cublasStatus_t (*getprop_t)(libraryPropertyType, int *);
    getprop_t gp = (getprop_t)dlsym(hb, "cublasGetProperty");
    int bmaj = -1, bmin = -1, bpat = -1;
    if (gp) { gp(MAJOR_VERSION, &bmaj); gp(MINOR_VERSION, &bmin); gp(PATCH_LEVEL, &bpat); }
    size_t dv = fn->cudnnGetVersion();
    char rb[256], rd[256];
    gsg_gpulib_real_name(lib_blas_path, rb, sizeof rb);
    gsg_gpulib_real_name(lib_dnn_path, rd, sizeof rd);
    snprintf(lib_report, sizeof lib_report, "cuBLAS %d.%d.%d from %.1000s (%.200s); cuDNN %zu.%zu.%zu from %.1000s (%.200s)",
             bmaj, bmin, bpat, lib_blas_path, rb, dv / 10000, dv / 100 % 100, dv % 100, lib_dnn_path, rd);
    return GSG_OK;
}

extern "C" const char *gsg_cuda_libs_describe(void) { return lib_report; }

extern "C" gsg_status gsg_cuda_libs_probe(size_t *cudnn_version)
{
    static struct gsg_cuda_libs fn;
    static int loaded = 0;
    if (!loaded) {
        GSG_TRY(load_libs(&fn));
        loaded = 1;
    }
    if (cudnn_version) *cudnn_version = fn.cudnnGetVersion();
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_init(int device)
{
    if (gsg_cu.ready) {
        if (device != gsg_cu.device)
            return gsg_err_set(GSG_E_USAGE, "CUDA device %d requested, but this process already uses device %d",
                               device, gsg_cu.device);
        return GSG_OK;
    }
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return gsg_err_set(GSG_E_NO_CUDA, "no CUDA device available (%s)",
                           e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0");
    if (device < 0 || device >= n)
        return gsg_err_set(GSG_E_USAGE, "CUDA device %d out of range 0..%d", device, n - 1);
    struct gsg_cuda_ctx c;
    memset(&c, 0, sizeof c);
    c.device = device;
    GSG_CU(cudaSetDevice(device));
    GSG_TRY(load_libs(&c.fn));
    gsg_cu.fn = c.fn;   // error strings of the library calls below
    cudaDeviceProp prop;
    GSG_CU(cudaGetDeviceProperties(&prop, device));
    c.sm_count = prop.multiProcessorCount;
    // A blocking stream: it orders with the legacy default stream, so nothing outside (a library or
    // a test using cudaMemcpy) can race our kernels; graph capture uses the thread-local mode.
    GSG_CU(cudaStreamCreate(&c.stream));
    GSG_CUBLAS(c.fn.cublasCreate_v2(&c.blas));
    GSG_CUBLAS(c.fn.cublasSetStream_v2(c.blas, c.stream));
    GSG_CUBLAS(c.fn.cublasSetMathMode(c.blas, CUBLAS_DEFAULT_MATH));   // no TF32 unless asked per call
    GSG_CUDNN(c.fn.cudnnCreate(&c.dnn));
    GSG_CUDNN(c.fn.cudnnSetStream(c.dnn, c.stream));
    const size_t blas_ws = (size_t)32 << 20;
    GSG_CU(cudaMalloc(&c.blas_ws, blas_ws));
    GSG_CUBLAS(c.fn.cublasSetWorkspace_v2(c.blas, c.blas_ws, blas_ws));
    int bv = 0;
    c.fn.cublasGetVersion_v2(c.blas, &bv);
    size_t dv = c.fn.cudnnGetVersion();
    snprintf(c.describe, sizeof c.describe, "%s (sm_%d%d, %d SMs, %.0f GiB), cuDNN %zu.%zu.%zu, cuBLAS %d.%d.%d",
             prop.name, prop.major, prop.minor, prop.multiProcessorCount, (double)prop.totalGlobalMem / 1073741824.0,
             dv / 10000, dv / 100 % 100, dv % 100, bv / 10000, bv / 100 % 100, bv % 100);
    c.ready = 1;
    gsg_cu = c;
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_ctx_get(struct gsg_cuda_ctx **ctx)
{
    if (!gsg_cu.ready) {
        const char *d = getenv("GSG_CUDA_DEVICE");
        GSG_TRY(gsg_cuda_init(d && *d ? atoi(d) : 0));
    }
    *ctx = &gsg_cu;
    return GSG_OK;
}

static gsg_status grow(void **p, size_t *have, size_t bytes)
{
    if (bytes <= *have) return GSG_OK;
    size_t want = bytes + bytes / 4;   // headroom: the next layer is often a bit larger
    want = (want + 255) & ~(size_t)255;
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    GSG_CU(cudaStreamIsCapturing(gsg_cu.stream, &cs));
    if (cs != cudaStreamCaptureStatusNone)
        return gsg_err_set(GSG_E_CUDA, "a CUDA buffer must grow to %zu bytes during graph capture: run the step "
                           "eagerly once first", bytes);
    if (*p) {
        GSG_CU(cudaStreamSynchronize(gsg_cu.stream));
        GSG_CU(cudaFree(*p));
        *p = NULL;
        *have = 0;
    }
    GSG_CU(cudaMalloc(p, want));
    *have = want;
    return GSG_OK;
}

gsg_status gsg_cuda_workspace(size_t bytes, void **p)
{
    GSG_TRY(grow(&gsg_cu.workspace, &gsg_cu.workspace_bytes, bytes));
    *p = gsg_cu.workspace;
    return GSG_OK;
}

gsg_status gsg_cuda_scratch(size_t bytes, void **p)
{
    GSG_TRY(grow(&gsg_cu.scratch, &gsg_cu.scratch_bytes, bytes < 4096 ? 4096 : bytes));
    *p = gsg_cu.scratch;
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_malloc(void **p, size_t bytes)
{
    *p = NULL;
    GSG_CTX(c);
    (void)c;
    GSG_CU(cudaMalloc(p, bytes ? bytes : 64));
    return GSG_OK;
}

extern "C" void gsg_cuda_free(void *p)
{
    if (p) cudaFree(p);
}

extern "C" gsg_status gsg_cuda_memset0(void *p, size_t bytes)
{
    GSG_CTX(c);
    GSG_CU(cudaMemsetAsync(p, 0, bytes, c->stream));
    return GSG_OK;
}

// Copies are ordered on the stream; a copy to host memory waits for it (the host reads next).
extern "C" gsg_status gsg_cuda_memcpy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes)
{
    if (!bytes) return GSG_OK;
    if (!dst_dev && !src_dev) { memcpy(dst, src, bytes); return GSG_OK; }
    GSG_CTX(c);
    cudaMemcpyKind k = dst_dev ? (src_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice) : cudaMemcpyDeviceToHost;
    GSG_CU(cudaMemcpyAsync(dst, src, bytes, k, c->stream));
    if (!dst_dev || k == cudaMemcpyHostToDevice) GSG_CU(cudaStreamSynchronize(c->stream));
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_sync(void)
{
    GSG_CTX(c);
    GSG_CU(cudaStreamSynchronize(c->stream));
    GSG_CU(cudaGetLastError());
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_check(const char *where)
{
    GSG_CTX(c);
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e != cudaSuccess)
        return gsg_err_set(GSG_E_CUDA, "%s: CUDA error '%s' (asynchronous, raised by a kernel of this step)",
                           where ? where : "step", cudaGetErrorString(e));
    return GSG_OK;
}

extern "C" const char *gsg_cuda_describe(void) { return gsg_cu.ready ? gsg_cu.describe : ""; }

extern "C" void gsg_cuda_shutdown(void)
{
    if (!gsg_cu.ready) return;
    cudaStreamSynchronize(gsg_cu.stream);
    if (gsg_cu.workspace) cudaFree(gsg_cu.workspace);
    if (gsg_cu.scratch) cudaFree(gsg_cu.scratch);
    if (gsg_cu.blas_ws) cudaFree(gsg_cu.blas_ws);
    gsg_cu.fn.cudnnDestroy(gsg_cu.dnn);
    gsg_cu.fn.cublasDestroy_v2(gsg_cu.blas);
    cudaStreamDestroy(gsg_cu.stream);
    struct gsg_cuda_libs fn = gsg_cu.fn;
    memset(&gsg_cu, 0, sizeof gsg_cu);
    gsg_cu.fn = fn;   // error strings stay available
}

// ---- bf16 conversions ----
__global__ void k_f32_to_bf16(__nv_bfloat16 *y, const float *x, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16_rn(x[i]);
}
__global__ void k_bf16_to_f32(float *y, const __nv_bfloat16 *x, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = __bfloat162float(x[i]);
}

extern "C" gsg_status gsg_cuda_f32_to_bf16(uint16_t *y, const float *x, int64_t n)
{
    if (n <= 0) return GSG_OK;
    GSG_CTX(c);
    k_f32_to_bf16<<<gsg_grid(n, 256, 4), 256, 0, c->stream>>>((__nv_bfloat16 *)y, x, n);
    GSG_LAUNCHED("k_f32_to_bf16");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_bf16_to_f32(float *y, const uint16_t *x, int64_t n)
{
    if (n <= 0) return GSG_OK;
    GSG_CTX(c);
    k_bf16_to_f32<<<gsg_grid(n, 256, 4), 256, 0, c->stream>>>(y, (const __nv_bfloat16 *)x, n);
    GSG_LAUNCHED("k_bf16_to_f32");
    return GSG_OK;
}

// The process stream, for libraries that enqueue on it (NCCL, lib/dist/nccl.c); NULL on failure.
extern "C" void *gsg_cuda_stream(void)
{
    struct gsg_cuda_ctx *c = NULL;
    if (gsg_cuda_ctx_get(&c) < 0) return NULL;
    return (void *)c->stream;
}

// 1 when everything enqueued on the stream has finished, 0 while work is pending, < 0 on an error.
extern "C" int gsg_cuda_stream_idle(void)
{
    struct gsg_cuda_ctx *c = NULL;
    if (gsg_cuda_ctx_get(&c) < 0) return -1;
    cudaError_t e = cudaStreamQuery(c->stream);
    if (e == cudaSuccess) return 1;
    if (e == cudaErrorNotReady) return 0;
    gsg_err_set(GSG_E_CUDA, "CUDA error '%s' while waiting for the stream", cudaGetErrorString(e));
    return -1;
}
