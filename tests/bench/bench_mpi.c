/* bench_mpi.c: the data-parallel training step of lib/ssl (gsg_trainer with lib/dist) on the cifar
 * recipe with synthetic views: one process (`bench_mpi`) or R ranks (`mpirun -np R bench_mpi`), the
 * same global batch either way. Every rank steps on batch/R images with synchronised BN and one
 * gradient all-reduce per step; rank 0 prints the medians over the timed steps:
 *   RESULT ranks=R threads=T img_s=X step_s=Y comm_s=Z comm_share=S grad_s=G allreduce_mb=M
 * (comm: the time inside collectives, BN statistics and the wait for the slower rank included;
 * grad: the gradient all-reduce alone; img_s: global images per second).
 * `make bench-mpi` runs 1 rank x 2 threads against 2 ranks x 1 thread (tests/bench/mpi.mk).
 *
 * usage: bench_mpi [--batch 256] [--steps 3] [--warmup 1] [--gsg] [--local-bn] [--width W] */
#include "ssl/train.h"
#include "dist/dist.h"
#include "core/rng.h"
#include "core/tool.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_d);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

int main(int argc, char **argv)
{
    int64_t B = 256, steps = 3, warmup = 1, width = 0;
    int gsg = 0, local_bn = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: [mpirun -np R] bench_mpi [--batch 256] [--steps 3] [--warmup 1] [--gsg] [--local-bn] [--width W]\n"
                   "The data-parallel SimSiam (+GSG) step of the cifar recipe on synthetic views, global batch split\n"
                   "over the ranks: images/s and the share of the step spent in collectives.\n"
                   "Exit status: 0 ok, 1 runtime failure, 2 usage error.\n");
            return 0;
        }
        if (!strcmp(a, "--gsg")) { gsg = 1; continue; }
        if (!strcmp(a, "--local-bn")) { local_bn = 1; continue; }
        if (!v) { fprintf(stderr, "bench_mpi: %s needs a value\nTry 'bench_mpi --help'.\n", a); return 2; }
        if (!strcmp(a, "--batch")) B = atoll(v);
        else if (!strcmp(a, "--steps")) steps = atoll(v);
        else if (!strcmp(a, "--warmup")) warmup = atoll(v);
        else if (!strcmp(a, "--width")) width = atoll(v);
        else { fprintf(stderr, "bench_mpi: unknown option '%s'\nTry 'bench_mpi --help'.\n", a); return 2; }
        i++;
    }
    if (B < 2 || steps < 1 || steps > 1000 || warmup < 0) { fprintf(stderr, "bench_mpi: bad sizes\n"); return 2; }
    gsg_tool_init(argc, argv, "bench_mpi");
    struct gsg_comm *d = NULL;
    gsg_status st = gsg_comm_init(&d, &argc, &argv);
    if (st < 0) return gsg_tool_report(st);
    const int R = gsg_comm_size(d), rank = gsg_comm_rank(d);
    if (B % R) { fprintf(stderr, "bench_mpi: batch %lld does not split over %d ranks\n", (long long)B, R); gsg_comm_end(d, 2); return 2; }
    struct gsg_train_config c;
    gsg_train_config_recipe(&c, "cifar");
    if (width) c.net.width = (int)width;
    c.gsg = gsg;
    c.batch = B;
    c.world = R;
    c.steps_per_epoch = 1000;
    c.epochs = 10;
    c.seed = 1;
    const int64_t N = B / R, V = gsg ? 4 : 2, C = 3, H = 32, W = 32;
    uint8_t *views = malloc((size_t)(N * V * C * H * W));
    struct gsg_trainer *tr = NULL;
    if (!views) { st = gsg_err_set(GSG_E_NOMEM, "out of memory"); goto out; }
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (uint64_t)rank;
    for (int64_t i = 0; i < N * V * C * H * W; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        views[i] = (uint8_t)(s >> 56);
    }
    if ((st = gsg_trainer_create(&tr, &c, GSG_DEV_CPU)) < 0) goto out;
    if ((st = gsg_trainer_set_dist(tr, d, !local_bn)) < 0) goto out;
    gsg_trainer_set_monitor_every(tr, 0);
    struct gsg_train_batch b = {views, N, V, C, H, W, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}};
    double ts[1000], tc[1000], tg[1000];
    int n = 0;
    for (int64_t i = 0; i < warmup + steps; i++) {
        struct gsg_train_stats ss;
        if ((st = gsg_trainer_step(tr, &b, &ss)) < 0) goto out;
        /* the slowest rank sets the pace: the step is rank 0's wall time, which waits for it */
        if (i >= warmup) { ts[n] = ss.seconds; tc[n] = ss.comm_seconds; tg[n] = ss.grad_seconds; n++; }
        if (rank == 0)
            fprintf(stderr, "  step %lld: %.3f s (collectives %.3f s in %lld calls, gradients %.3f s)%s\n", (long long)i, ss.seconds,
                    ss.comm_seconds, (long long)ss.comm_calls, ss.grad_seconds, i < warmup ? " warm-up" : "");
    }
    double step_s = median(ts, n), comm_s = median(tc, n), grad_s = median(tg, n);
    int64_t np = 0;
    gsg_net_grad_data(gsg_trainer_net(tr), &np);
    if (rank == 0)
        printf("RESULT ranks=%d threads=%d img_s=%.3f step_s=%.4f comm_s=%.4f comm_share=%.4f grad_s=%.4f allreduce_mb=%.1f\n", R,
               omp_get_max_threads(), (double)B / step_s, step_s, comm_s, comm_s / step_s, grad_s,
               R > 1 ? 4.0 * (double)np / 1048576.0 : 0.0);
out:
    gsg_trainer_destroy(tr);
    free(views);
    int rc = st < 0 ? gsg_tool_report(st) : 0;
    gsg_comm_end(d, rc);
    return rc;
}
