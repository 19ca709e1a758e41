/* nccl.c: NCCL all-reduce for GPU ranks (dist_internal.h). The few entry points used are declared
 * here with NCCL's ABI (nccl.h 2.x: ncclResult_t int, ncclSum 0, ncclFloat32 7, ncclFloat64 8) and
 * resolved with dlsym; when the Makefile finds nccl.h it compiles this file with
 * GSG_NCCL_HEADER=1, which checks those values against the header. */
#define _GNU_SOURCE
#include "dist_internal.h"
#include "../core/tool.h"
#include "../cuda/gsg_cuda.h"
#include "../cuda/libfind.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef GSG_NCCL_HEADER
#include <nccl.h>
_Static_assert(ncclSum == 0 && ncclFloat32 == 7 && ncclFloat64 == 8 && ncclSuccess == 0 && ncclInProgress == 7,
               "NCCL's enum values changed: update lib/dist/nccl.c");
_Static_assert(sizeof(ncclUniqueId) == sizeof(struct gsg_nccl_id), "ncclUniqueId size changed");
#endif

typedef int nres;   /* ncclResult_t */
enum { N_SUCCESS = 0, N_INPROGRESS = 7, N_SUM = 0, N_F32 = 7, N_F64 = 8 };

static struct {
    int loaded;
    nres (*GetUniqueId)(struct gsg_nccl_id *);
    nres (*CommInitRank)(void **, int, struct gsg_nccl_id, int);
    nres (*AllReduce)(const void *, void *, size_t, int, int, void *, void *);
    nres (*CommGetAsyncError)(void *, nres *);
    nres (*CommAbort)(void *);
    nres (*CommDestroy)(void *);
    const char *(*GetErrorString)(nres);
} nc;

struct gsg_nccl {
    void *comm;
};

static char nccl_report[1400];
const char *gsg_nccl_describe(void) { return nccl_report; }

int gsg_nccl_load(char *why, size_t cap)
{
    if (nc.loaded) return 0;
    const char *env = getenv("GSG_NCCL_LIB");
    void *h = NULL;
    char path[1024] = "", lwhy[1100] = "";
    if (env && *env) {
        h = dlopen(env, RTLD_NOW | RTLD_GLOBAL);
        if (!h) {
            const char *e = dlerror();   /* read once: a second call returns NULL */
            snprintf(why, cap, "cannot load GSG_NCCL_LIB=%s: %s", env, e ? e : "?");
            return -1;
        }
        snprintf(path, sizeof path, "%s", env);
    } else {
        /* GSG_CUDA_LIBDIR, the toolkit, the PyTorch wheels (nvidia/cu13/lib, nvidia/nccl/lib), the loader */
        static const char *const names[] = {"libnccl.so.2", "libnccl.so", NULL};
        h = gsg_gpulib_open(names, "/usr/local/cuda/lib:/usr/local/cuda/lib64", path, sizeof path, lwhy, sizeof lwhy);
        if (!h) {
            snprintf(why, cap, "cannot load libnccl.so.2 (set GSG_NCCL_LIB or GSG_CUDA_LIBDIR): %s", lwhy);
            return -1;
        }
    }
#define SYM(f) do { *(void **)&nc.f = dlsym(h, "nccl" #f); \
        if (!nc.f) { snprintf(why, cap, "libnccl.so.2 lacks nccl%s", #f); return -1; } } while (0)
    SYM(GetUniqueId);
    SYM(CommInitRank);
    SYM(AllReduce);
    SYM(CommGetAsyncError);
    SYM(CommAbort);
    SYM(CommDestroy);
    SYM(GetErrorString);
#undef SYM
    int (*getver)(int *) = NULL;
    *(void **)&getver = dlsym(h, "ncclGetVersion");
    int v = 0;
    if (getver) getver(&v);
    char real[256];
    gsg_gpulib_real_name(path, real, sizeof real);
    /* NCCL >= 2.9 codes its version as major*10000 + minor*100 + patch */
    snprintf(nccl_report, sizeof nccl_report, "NCCL %d.%d.%d from %.900s (%.200s)", v / 10000, v / 100 % 100, v % 100,
             path, real);
    nc.loaded = 1;
    return 0;
}

int gsg_nccl_unique_id(struct gsg_nccl_id *id, char *why, size_t cap)
{
    nres r = nc.GetUniqueId(id);
    if (r != N_SUCCESS) { snprintf(why, cap, "ncclGetUniqueId: %s", nc.GetErrorString(r)); return -1; }
    return 0;
}

gsg_status gsg_nccl_create(struct gsg_nccl **out, const struct gsg_nccl_id *id, int rank, int size)
{
    *out = NULL;
    if (!gsg_cuda_stream()) return gsg_err_set(GSG_E_NO_CUDA, "NCCL: no CUDA stream (%s)", gsg_err_msg());
    struct gsg_nccl *c = calloc(1, sizeof *c);
    if (!c) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    nres r = nc.CommInitRank(&c->comm, size, *id, rank);
    if (r != N_SUCCESS) {
        free(c);
        return gsg_err_set(GSG_E_IO, "ncclCommInitRank (rank %d of %d): %s", rank, size, nc.GetErrorString(r));
    }
    *out = c;
    return GSG_OK;
}

gsg_status gsg_nccl_allreduce(struct gsg_nccl *c, void *x, int64_t n, int f64, const char *what)
{
    nres r = nc.AllReduce(x, x, (size_t)n, f64 ? N_F64 : N_F32, N_SUM, c->comm, gsg_cuda_stream());
    if (r != N_SUCCESS) return gsg_err_set(GSG_E_IO, "%s: ncclAllReduce: %s", what, nc.GetErrorString(r));
    return GSG_OK;
}

gsg_status gsg_nccl_wait(struct gsg_nccl *c, double timeout, const char *what)
{
    /* bounded: a dead peer leaves NCCL's kernel spinning, which only an abort ends */
    double t0 = gsg_now();
    for (;;) {
        int idle = gsg_cuda_stream_idle();
        if (idle < 0) return gsg_err_prefix(GSG_E_CUDA, "%s", what);
        if (idle) break;
        nres ae = N_SUCCESS;
        nc.CommGetAsyncError(c->comm, &ae);
        if (ae != N_SUCCESS && ae != N_INPROGRESS)
            return gsg_err_set(GSG_E_IO, "%s: NCCL: %s", what, nc.GetErrorString(ae));
        if (gsg_now() - t0 > timeout)
            return gsg_err_set(GSG_E_IO, "%s: no answer from the other ranks in %g s (a rank died or hangs; "
                               "--dist-timeout sets the limit)", what, timeout);
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return GSG_OK;
}

void gsg_nccl_destroy(struct gsg_nccl *c, int abort)
{
    if (!c) return;
    if (abort) nc.CommAbort(c->comm);
    else nc.CommDestroy(c->comm);
    free(c);
}
