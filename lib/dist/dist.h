/* dist.h: data-parallel ranks (docs/distributed.md). One process per rank, launched by mpirun or
 * srun; MPI carries the collectives between CPU ranks and bootstraps NCCL between GPU ranks (or
 * stages device tensors through host MPI where NCCL is absent). Without a launcher (or in a build
 * without MPI) a process is rank 0 of 1 and every collective is the identity.
 *
 * Every collective waits at most the timeout (gsg_comm_set_timeout, default 600 s): a rank that
 * died or hangs turns into GSG_E_IO on the others ("... no answer from the other ranks in T s"),
 * after which the only call left is gsg_comm_end(d, rc != 0), which aborts the whole job. */
#ifndef GSG_DIST_H
#define GSG_DIST_H
#include <stddef.h>
#include <stdint.h>
#include "../core/status.h"
#include "../tensor/tensor.h"

/* The launcher's placement from the environment alone (no MPI call): Open MPI's OMPI_COMM_WORLD_*,
 * PMI_RANK/PMI_SIZE (MPICH, srun --mpi=pmi2), PMIX_RANK with SLURM_NTASKS (srun --mpi=pmix).
 * Returns 1 when launched as one of several ranks (rank, size filled; local_* when known, else
 * 0 and 1), 0 otherwise (rank 0, size 1). */
int gsg_launch_env(int *rank, int *size, int *local_rank, int *local_size);

struct gsg_comm;
/* Join the job: MPI_Init when the environment says a launcher started several ranks, else a
 * one-rank world. GSG_E_UNSUPPORTED (one line) when launched as several ranks by a build without
 * MPI. */
gsg_status gsg_comm_init(struct gsg_comm **d, int *argc, char ***argv);
/* Leave with the process's exit status rc: MPI_Finalize when rc is 0, else (or after a broken
 * collective) MPI_Abort with rc, which ends every rank; mpirun then exits with rc. NULL is a no-op. */
void gsg_comm_end(struct gsg_comm *d, int rc);
int gsg_comm_rank(const struct gsg_comm *d);
int gsg_comm_size(const struct gsg_comm *d);
int gsg_comm_local_size(const struct gsg_comm *d);   /* ranks on this node */
const char *gsg_comm_backend(const struct gsg_comm *d);   /* "none", "mpi", "mpi+nccl", "mpi (host-staged)" */
void gsg_comm_set_timeout(struct gsg_comm *d, double seconds);
/* Collectives on device tensors use NCCL (when dev is CUDA and libnccl.so.2 loads; GSG_DIST_NCCL=0
 * refuses it), else host staging. Call once, before the first collective on a device tensor. */
gsg_status gsg_comm_use_device(struct gsg_comm *d, enum gsg_dev dev);

/* In place: t := its elementwise sum over the ranks. t f32 or f64 on any device; what names the
 * collective in errors ("gradients", "layer1.0.bn1 statistics"). Host tensors (and staged device
 * tensors) hold the sum on return; with NCCL the sum is enqueued on the process stream, which
 * orders every later op, and gsg_comm_device_wait bounds the wait for it. */
gsg_status gsg_comm_allreduce(struct gsg_comm *d, struct gsg_tensor *t, const char *what);
gsg_status gsg_comm_device_wait(struct gsg_comm *d, const char *what);
gsg_status gsg_comm_allreduce_f64(struct gsg_comm *d, double *x, int64_t n, const char *what);   /* host */
gsg_status gsg_comm_max_f64(struct gsg_comm *d, double *x, int64_t n, const char *what);         /* host, max */
/* bytes of buf from root to every rank (host memory). */
gsg_status gsg_comm_bcast(struct gsg_comm *d, void *buf, size_t bytes, int root, const char *what);
/* Seconds spent in collectives and their count since the last call (the call resets both). */
double gsg_comm_take_seconds(struct gsg_comm *d, int64_t *count);

#endif
