/* test_dist.c: lib/dist without a launcher: the placement read from each launcher's environment,
 * a one-rank world (every collective the identity, nothing timed), and the NCCL loader (libnccl.so.2
 * found, every entry point resolved and a bootstrap id made, where the library is installed). The collectives between
 * ranks are tested under mpirun by tests/pipelines/mpi.bats. */
#include "check.h"
#include "dist/dist.h"
#include "dist/dist_internal.h"
#include <stdlib.h>

static const char *const VARS[] = {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK",
                                   "OMPI_COMM_WORLD_LOCAL_SIZE", "PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID",
                                   "MPI_LOCALNRANKS", "PMIX_RANK", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS",
                                   "SLURM_LOCALID", NULL};

static void clear_env(void)
{
    for (int i = 0; VARS[i]; i++) unsetenv(VARS[i]);
}

TEST(launch_env_each_launcher)
{
    int r, n, lr, ln;
    clear_env();
    CHECK(gsg_launch_env(&r, &n, &lr, &ln) == 0);
    CHECK(r == 0 && n == 1 && lr == 0 && ln == 1);
    /* Open MPI's mpirun */
    setenv("OMPI_COMM_WORLD_SIZE", "4", 1); setenv("OMPI_COMM_WORLD_RANK", "3", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1); setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
    CHECK(gsg_launch_env(&r, &n, &lr, &ln) == 1);
    CHECK(r == 3 && n == 4 && lr == 1 && ln == 2);
    clear_env();
    /* MPICH hydra / srun --mpi=pmi2 */
    setenv("PMI_SIZE", "8", 1); setenv("PMI_RANK", "5", 1); setenv("MPI_LOCALRANKID", "1", 1); setenv("MPI_LOCALNRANKS", "4", 1);
    CHECK(gsg_launch_env(&r, &n, &lr, &ln) == 1);
    CHECK(r == 5 && n == 8 && lr == 1 && ln == 4);
    clear_env();
    /* srun --mpi=pmix */
    setenv("PMIX_RANK", "2", 1); setenv("SLURM_STEP_NUM_TASKS", "3", 1); setenv("SLURM_LOCALID", "2", 1);
    CHECK(gsg_launch_env(&r, &n, &lr, &ln) == 1);
    CHECK(r == 2 && n == 3 && lr == 2);
    clear_env();
    /* one rank of one is no launch; a rank outside the world, or garbage, is ignored */
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1); setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    CHECK(gsg_launch_env(&r, &n, NULL, NULL) == 0);
    CHECK(n == 1);
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1); setenv("OMPI_COMM_WORLD_RANK", "2", 1);
    CHECK(gsg_launch_env(&r, &n, NULL, NULL) == 0);
    CHECK(r == 0 && n == 1);
    setenv("OMPI_COMM_WORLD_RANK", "1x", 1);
    CHECK(gsg_launch_env(&r, &n, NULL, NULL) == 0);
    /* SLURM_NTASKS alone (inside sbatch, no srun step) is not a launch */
    clear_env();
    setenv("SLURM_NTASKS", "4", 1);
    CHECK(gsg_launch_env(&r, &n, NULL, NULL) == 0);
    clear_env();
}

TEST(one_rank_world_is_the_identity)
{
    clear_env();
    struct gsg_comm *d = NULL;
    int argc = 1;
    char *args[] = {"test_dist", NULL}, **argv = args;
    CHECK_OK(gsg_comm_init(&d, &argc, &argv));
    CHECK(d != NULL);
    CHECK(gsg_comm_rank(d) == 0 && gsg_comm_size(d) == 1 && gsg_comm_local_size(d) == 1);
    CHECK(strcmp(gsg_comm_backend(d), "none") == 0);
    float x[3] = {1, 2, 3};
    int64_t n3 = 3;
    struct gsg_tensor t = gsg_tensor_view(x, GSG_DTYPE_F32, GSG_DEV_CPU, 1, &n3);
    CHECK_OK(gsg_comm_allreduce(d, &t, "test"));
    double y[2] = {4, 5};
    CHECK_OK(gsg_comm_allreduce_f64(d, y, 2, "test"));
    CHECK_OK(gsg_comm_max_f64(d, y, 2, "test"));
    CHECK_OK(gsg_comm_bcast(d, y, sizeof y, 0, "test"));
    CHECK_OK(gsg_comm_device_wait(d, "test"));
    CHECK(x[0] == 1 && x[1] == 2 && x[2] == 3 && y[0] == 4 && y[1] == 5);
    int64_t calls = -1;
    CHECK(gsg_comm_take_seconds(d, &calls) == 0 && calls == 0);
    gsg_comm_end(d, 0);
    gsg_comm_end(NULL, 0);   /* a no-op */
}

TEST(nccl_loader_resolves_every_entry_point)
{
    char why[256] = "";
    if (gsg_nccl_load(why, sizeof why) != 0) {
        printf("  # libnccl.so.2 not loadable here (%s): the loader's failure path is what ran\n", why);
        CHECK(why[0] != 0);
        return;
    }
    printf("  # libnccl.so.2 loaded, every entry point resolved\n");
    CHECK(gsg_nccl_load(why, sizeof why) == 0);   /* loading twice is harmless */
    /* the bootstrap id needs no GPU: rank 0 makes it, MPI carries it (the first half of the handshake) */
    struct gsg_nccl_id id;
    memset(&id, 0, sizeof id);
    CHECK_MSG(gsg_nccl_unique_id(&id, why, sizeof why) == 0, "%s", why);
    int nonzero = 0;
    for (size_t i = 0; i < sizeof id.internal; i++) nonzero |= id.internal[i] != 0;
    CHECK(nonzero);
}

int main(void)
{
    RUN(launch_env_each_launcher);
    RUN(one_rank_world_is_the_identity);
    RUN(nccl_loader_resolves_every_entry_point);
    return check_summary();
}
