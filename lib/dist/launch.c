/* launch.c: the launcher's placement from the environment (dist.h), without MPI, so tools that only
 * need to know their shard (gsg-augment --shard auto) do not load libmpi. */
#include "dist.h"
#include <stdlib.h>

static int env_int(const char *name, int *out)
{
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > (1 << 24)) return 0;
    *out = (int)x;
    return 1;
}

int gsg_launch_env(int *rank, int *size, int *local_rank, int *local_size)
{
    int r = 0, n = 1, lr = 0, ln = 1;
    int found = 0;
    if (env_int("OMPI_COMM_WORLD_SIZE", &n) && env_int("OMPI_COMM_WORLD_RANK", &r)) {   /* Open MPI's mpirun */
        found = 1;
        if (!env_int("OMPI_COMM_WORLD_LOCAL_RANK", &lr)) lr = 0;
        if (!env_int("OMPI_COMM_WORLD_LOCAL_SIZE", &ln)) ln = 1;
    } else if (env_int("PMI_SIZE", &n) && env_int("PMI_RANK", &r)) {                     /* MPICH hydra, srun --mpi=pmi2 */
        found = 1;
        if (!env_int("MPI_LOCALRANKID", &lr) && !env_int("SLURM_LOCALID", &lr)) lr = 0;
        if (!env_int("MPI_LOCALNRANKS", &ln)) ln = 1;
    } else if (env_int("PMIX_RANK", &r) && (env_int("SLURM_STEP_NUM_TASKS", &n) || env_int("SLURM_NTASKS", &n))) {
        found = 1;                                                                      /* srun --mpi=pmix */
        if (!env_int("SLURM_LOCALID", &lr)) lr = 0;
        ln = 1;
    }
    if (!found || n < 1 || r >= n) { r = 0; n = 1; lr = 0; ln = 1; found = 0; }
    if (rank) *rank = r;
    if (size) *size = n;
    if (local_rank) *local_rank = lr;
    if (local_size) *local_size = ln < 1 ? 1 : ln;
    return found && n > 1;
}

