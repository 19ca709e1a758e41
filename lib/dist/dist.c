/* dist.c: ranks and collectives (dist.h) over MPI, with NCCL for device tensors (nccl.c). Built with
 * -DGSG_HAVE_MPI=1 when the Makefile found Open MPI (MPI=auto|1); without it every world has one
 * rank and a launch as several ranks is refused. MPI is called from the main thread only, outside
 * OpenMP regions (MPI_THREAD_FUNNELED). Collectives are the non-blocking forms, polled until done
 * or until the timeout, so a dead or hung rank becomes an error on the others instead of a hang. */
#define _GNU_SOURCE
#include "dist.h"
#include "dist_internal.h"
#include "../core/tool.h"
#include "../cuda/gsg_cuda.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef GSG_HAVE_MPI
#include <mpi.h>
#endif

struct gsg_comm {
    int rank, size, local_rank, local_size;
    int mpi;              /* MPI_Init was called by us */
    int broken;           /* a collective timed out or failed: only MPI_Abort is left */
    int force_stage;      /* GSG_DIST_STAGE=1: host tensors too go through the staging buffer (tests) */
    double timeout;
    double comm_s;
    int64_t ncoll;
    enum gsg_dev dev;
    struct gsg_nccl *nccl;   /* NULL: device tensors are staged through the host */
    void *stage;
    size_t stage_cap;
};

int gsg_comm_rank(const struct gsg_comm *d) { return d ? d->rank : 0; }
int gsg_comm_size(const struct gsg_comm *d) { return d ? d->size : 1; }
int gsg_comm_local_size(const struct gsg_comm *d) { return d ? d->local_size : 1; }
void gsg_comm_set_timeout(struct gsg_comm *d, double s) { if (d) d->timeout = s; }

const char *gsg_comm_backend(const struct gsg_comm *d)
{
    if (!d || d->size == 1) return "none";
    if (d->nccl) return "mpi+nccl";
    if (d->dev != GSG_DEV_CPU) return "mpi (host-staged)";
    return "mpi";
}

double gsg_comm_take_seconds(struct gsg_comm *d, int64_t *count)
{
    if (!d) { if (count) *count = 0; return 0; }
    double s = d->comm_s;
    if (count) *count = d->ncoll;
    d->comm_s = 0;
    d->ncoll = 0;
    return s;
}

gsg_status gsg_comm_init(struct gsg_comm **out, int *argc, char ***argv)
{
    *out = NULL;
    struct gsg_comm *d = calloc(1, sizeof *d);
    if (!d) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    d->timeout = 600;
    d->dev = GSG_DEV_CPU;
    int r, n, lr, ln;
    int launched = gsg_launch_env(&r, &n, &lr, &ln);
    d->rank = 0; d->size = 1; d->local_rank = 0; d->local_size = 1;
    const char *fs = getenv("GSG_DIST_STAGE");
    d->force_stage = fs && !strcmp(fs, "1");
    if (!launched) { *out = d; return GSG_OK; }
#ifdef GSG_HAVE_MPI
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        free(d);
        return gsg_err_set(GSG_E_IO, "MPI_Init failed (launched as rank %d of %d)", r, n);
    }
    d->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_rank(node, &d->local_rank);
        MPI_Comm_size(node, &d->local_size);
        MPI_Comm_free(&node);
    }
    /* errors come back as codes (the default handler would abort without saying which collective) */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    *out = d;
    return GSG_OK;
#else
    (void)argc; (void)argv; (void)lr; (void)ln;
    free(d);
    return gsg_err_set(GSG_E_UNSUPPORTED, "launched as rank %d of %d, but this build has no MPI (built with MPI=0 or "
                       "without libopenmpi-dev): rebuild with MPI=1, or run one process", r, n);
#endif
}

void gsg_comm_end(struct gsg_comm *d, int rc)
{
    if (!d) return;
    const int failed = rc != 0 || d->broken;
    gsg_nccl_destroy(d->nccl, failed);
    d->nccl = NULL;
#ifdef GSG_HAVE_MPI
    if (d->mpi) {
        if (failed) {
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, rc ? rc : 1);   /* ends every rank; the launcher exits with rc */
        }
        MPI_Finalize();
    }
#endif
    free(d->stage);
    free(d);
}

#ifdef GSG_HAVE_MPI
static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static gsg_status mpi_fail(struct gsg_comm *d, int rc, const char *what)
{
    char m[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, m, &len);
    d->broken = 1;
    return gsg_err_set(GSG_E_IO, "rank %d of %d: %s: MPI error: %s", d->rank, d->size, what, m);
}

/* Poll a request until it completes or the timeout passes (spinning briefly, then sleeping 50 us
 * between polls so a waiting rank leaves its core to the ranks still computing). */
static gsg_status wait_req(struct gsg_comm *d, MPI_Request *q, const char *what, double t0)
{
    int done = 0;
    for (long spins = 0;; spins++) {
        int rc = MPI_Test(q, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what);
        if (done) break;
        if (spins > 2000) {
            sleep_us(50);
            if (gsg_now() - t0 > d->timeout) {
                d->broken = 1;
                return gsg_err_set(GSG_E_IO, "rank %d of %d: %s: no answer from the other ranks in %g s (a rank died or "
                                   "hangs; --dist-timeout sets the limit)", d->rank, d->size, what, d->timeout);
            }
        }
    }
    return GSG_OK;
}

/* One collective over n elements of type at x, in chunks of 2^30 (counts are int): an in-place
 * all-reduce with op, or (root >= 0) a broadcast from root. Timed and counted. */
static gsg_status host_collective(struct gsg_comm *d, void *x, int64_t n, MPI_Datatype type, MPI_Op op, int root,
                                  const char *what)
{
    if (d->broken) return gsg_err_set(GSG_E_IO, "rank %d of %d: %s: an earlier collective failed", d->rank, d->size, what);
    double t0 = gsg_now();
    char *p = x;
    int esz = 0;
    MPI_Type_size(type, &esz);
    for (int64_t o = 0; o < n;) {
        int64_t k = n - o < (1 << 30) ? n - o : (1 << 30);
        MPI_Request q;
        int rc = root >= 0 ? MPI_Ibcast(p + o * esz, (int)k, type, root, MPI_COMM_WORLD, &q)
                           : MPI_Iallreduce(MPI_IN_PLACE, p + o * esz, (int)k, type, op, MPI_COMM_WORLD, &q);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what);
        GSG_TRY(wait_req(d, &q, what, t0));
        o += k;
    }
    d->comm_s += gsg_now() - t0;
    d->ncoll++;
    return GSG_OK;
}

static gsg_status host_allreduce(struct gsg_comm *d, void *x, int64_t n, MPI_Datatype type, MPI_Op op, const char *what)
{
    return host_collective(d, x, n, type, op, -1, what);
}
#endif

static gsg_status reduce_f64(struct gsg_comm *d, double *x, int64_t n, int max, const char *what)
{
    if (!d || d->size == 1) return GSG_OK;
#ifdef GSG_HAVE_MPI
    return host_allreduce(d, x, n, MPI_DOUBLE, max ? MPI_MAX : MPI_SUM, what);
#else
    (void)x; (void)n; (void)max; (void)what;
    return GSG_OK;
#endif
}

gsg_status gsg_comm_allreduce_f64(struct gsg_comm *d, double *x, int64_t n, const char *what) { return reduce_f64(d, x, n, 0, what); }
gsg_status gsg_comm_max_f64(struct gsg_comm *d, double *x, int64_t n, const char *what) { return reduce_f64(d, x, n, 1, what); }

gsg_status gsg_comm_bcast(struct gsg_comm *d, void *buf, size_t bytes, int root, const char *what)
{
    if (!d || d->size == 1) return GSG_OK;
#ifdef GSG_HAVE_MPI
    return host_collective(d, buf, (int64_t)bytes, MPI_BYTE, MPI_OP_NULL, root, what);
#else
    (void)buf; (void)bytes; (void)root; (void)what;
    return GSG_OK;
#endif
}

gsg_status gsg_comm_device_wait(struct gsg_comm *d, const char *what)
{
    if (!d || !d->nccl) return GSG_OK;
    double t0 = gsg_now();
    gsg_status st = gsg_nccl_wait(d->nccl, d->timeout, what);
    if (st < 0) { d->broken = 1; return gsg_err_prefix(st, "rank %d of %d", d->rank, d->size); }
    d->comm_s += gsg_now() - t0;
    return GSG_OK;
}

gsg_status gsg_comm_use_device(struct gsg_comm *d, enum gsg_dev dev)
{
    if (!d) return GSG_OK;
    d->dev = dev;
    if (d->size == 1 || dev == GSG_DEV_CPU) return GSG_OK;
    const char *e = getenv("GSG_DIST_NCCL");
    if (e && !strcmp(e, "0")) return GSG_OK;
    /* rank 0 creates the NCCL id, MPI carries it; a rank without NCCL makes every rank stage */
    char why[256] = "";
    struct gsg_nccl_id id;
    int ok = gsg_nccl_load(why, sizeof why) == 0 && (d->rank != 0 || gsg_nccl_unique_id(&id, why, sizeof why) == 0);
    double all_ok = ok ? 0 : 1;
    GSG_TRY(gsg_comm_max_f64(d, &all_ok, 1, "NCCL bootstrap"));
    if (all_ok != 0) {
        if (d->rank == 0)
            fprintf(stderr, "%s: NCCL unavailable on some rank (%s): device tensors are all-reduced through host MPI\n",
                    gsg_tool_prog(), why[0] ? why : "see that rank");
        return GSG_OK;
    }
    GSG_TRY(gsg_comm_bcast(d, &id, sizeof id, 0, "NCCL bootstrap"));
    return gsg_nccl_create(&d->nccl, &id, d->rank, d->size);
}

gsg_status gsg_comm_allreduce(struct gsg_comm *d, struct gsg_tensor *t, const char *what)
{
    if (!d || d->size == 1) return GSG_OK;
    if (t->dtype != GSG_DTYPE_F32 && t->dtype != GSG_DTYPE_F64)
        return gsg_err_set(GSG_E_SHAPE, "%s: all-reduce of %s, expected f32 or f64", what, gsg_dtype_name(t->dtype));
#ifdef GSG_HAVE_MPI
    const int64_t n = gsg_tensor_numel(t);
    const int f64 = t->dtype == GSG_DTYPE_F64;
    MPI_Datatype type = f64 ? MPI_DOUBLE : MPI_FLOAT;
    if (t->dev == GSG_DEV_CPU && !d->force_stage) return host_allreduce(d, t->data, n, type, MPI_SUM, what);
    if (d->nccl) {
        double t0 = gsg_now();
        gsg_status st = gsg_nccl_allreduce(d->nccl, t->data, n, f64, what);
        if (st < 0) { d->broken = 1; return gsg_err_prefix(st, "rank %d of %d", d->rank, d->size); }
        d->comm_s += gsg_now() - t0;
        d->ncoll++;
        return GSG_OK;
    }
    /* host staging: device -> host, MPI, host -> device */
    size_t bytes = (size_t)n * (f64 ? 8 : 4);
    if (bytes > d->stage_cap) {
        free(d->stage);
        d->stage = malloc(bytes);
        if (!d->stage) { d->stage_cap = 0; return gsg_err_set(GSG_E_NOMEM, "%s: out of memory for the host staging buffer", what); }
        d->stage_cap = bytes;
    }
    GSG_TRY(gsg_tensor_to_host(d->stage, t));
    GSG_TRY(host_allreduce(d, d->stage, n, type, MPI_SUM, what));
    return gsg_tensor_from_host(t, d->stage);
#else
    return GSG_OK;
#endif
}
