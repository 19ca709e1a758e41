/* bench_gsg.c: SimSiam vs SimSiam+GSG training steps on the cifar recipe, and the share of
 * GSG's selection itself (distances, argmin, loss and its gradient) in the GSG step.
 *   bench_gsg [--batch 128] [--steps 2] [--threads T] [--width 64] [--only simsiam|gsg]
 * The first step of each method warms up (plans, page faults) and is not timed; the
 * minimum over the timed steps is reported. Collapse monitors are off while timing. */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/rng.h"
#include "core/tool.h"
#include "ssl/train.h"

static int64_t arg_i64(int argc, char **argv, const char *name, int64_t def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return atoll(argv[i + 1]);
    return def;
}

static const char *arg_str(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return def;
}

/* returns the best step time; *sel receives the best selection time */
static double run(int gsg, int64_t B, int64_t steps, int64_t width, double *sel)
{
    struct gsg_train_config c;
    if (gsg_train_config_recipe(&c, "cifar") < 0) { fprintf(stderr, "bench_gsg: %s\n", gsg_err_msg()); exit(1); }
    c.gsg = gsg;
    c.batch = B;
    c.steps_per_epoch = 1000;
    c.epochs = 1;
    c.net.width = (int)width;
    const int64_t V = gsg ? 4 : 2, C = 3, H = 32, W = 32;
    uint8_t *views = malloc((size_t)(B * V * C * H * W));
    struct gsg_rng r;
    gsg_rng_init(&r, 1, gsg_rng_stream(GSG_RNG_TEST, 77, 0, 0));
    for (int64_t i = 0; i < B * V * C * H * W; i++) views[i] = (uint8_t)gsg_rng_below(&r, 256);
    struct gsg_trainer *tr;
    if (gsg_trainer_create(&tr, &c, GSG_DEV_CPU) < 0) { fprintf(stderr, "bench_gsg: %s\n", gsg_err_msg()); exit(1); }
    gsg_trainer_set_monitor_every(tr, 0);
    struct gsg_train_batch b = {views, B, V, C, H, W, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
    double best = INFINITY, bsel = INFINITY;
    for (int64_t s = 0; s <= steps; s++) {
        struct gsg_train_stats st;
        if (gsg_trainer_step(tr, &b, &st) < 0) { fprintf(stderr, "bench_gsg: %s\n", gsg_err_msg()); exit(1); }
        if (s == 0) continue;
        if (st.seconds < best) best = st.seconds;
        if (st.select_seconds < bsel) bsel = st.select_seconds;
    }
    gsg_trainer_destroy(tr);
    free(views);
    *sel = bsel;
    return best;
}

/* The selection alone at [4,N,D], repeated: distances, argmin, loss, dp. */
static double selection_only(int64_t N, int64_t D, int reps)
{
    float *buf = malloc((size_t)(9 * N * D) * sizeof(float));
    struct gsg_rng r;
    gsg_rng_init(&r, 2, gsg_rng_stream(GSG_RNG_TEST, 78, 0, 0));
    for (int64_t i = 0; i < 8 * N * D; i++) buf[i] = (float)gsg_rng_normal(&r);
    const float *p[4], *t[4];
    float *dp[4];
    for (int v = 0; v < 4; v++) { p[v] = buf + v * N * D; t[v] = buf + (4 + v) * N * D; }
    float *g = malloc((size_t)(4 * N * D) * sizeof(float));
    for (int v = 0; v < 4; v++) dp[v] = g + v * N * D;
    float *d = malloc((size_t)N * 4 * sizeof(float)), *lr = malloc((size_t)N * sizeof(float));
    int64_t *k = malloc((size_t)N * sizeof(int64_t));
    double best = INFINITY;
    for (int i = 0; i < reps; i++) {
        double t0 = gsg_now();
        gsg_select_and_loss(d, k, lr, dp, p, t, N, D, GSG_DIST_EUCLIDEAN);
        double el = gsg_now() - t0;
        if (el < best) best = el;
    }
    free(buf); free(g); free(d); free(lr); free(k);
    return best;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bench_gsg [--batch 128] [--steps 2] [--threads T] [--width 64] [--only simsiam|gsg|both]\n");
            return 0;
        }
    int64_t B = arg_i64(argc, argv, "--batch", 128), steps = arg_i64(argc, argv, "--steps", 2);
    int64_t threads = arg_i64(argc, argv, "--threads", 0), width = arg_i64(argc, argv, "--width", 64);
    const char *only = arg_str(argc, argv, "--only", "both");
    if (threads > 0) omp_set_num_threads((int)threads);
    printf("bench_gsg: cifar recipe (CIFAR ResNet-18 width %lld, projector 512-2048-2048, predictor 2048-512-2048), "
           "batch %lld, threads %d, best of %lld steps after 1 warm-up\n",
           (long long)width, (long long)B, omp_get_max_threads(), (long long)steps);
    double ts = 0, tg = 0, sel = 0, sel_s = 0;
    if (strcmp(only, "gsg")) {
        ts = run(0, B, steps, width, &sel_s);
        printf("gsg-step simsiam      step %8.3f s %8.1f img/s\n", ts, (double)B / ts);
    }
    if (strcmp(only, "simsiam")) {
        tg = run(1, B, steps, width, &sel);
        printf("gsg-step simsiam+gsg  step %8.3f s %8.1f img/s (%.2fx the SimSiam step time)\n", tg, (double)B / tg,
               ts > 0 ? tg / ts : 0.0);
        double alone = selection_only(B, 2048, 20);
        printf("gsg selection in the step (distances, argmin, loss, dp): %.3f ms = %.3f%% of the GSG step\n", 1e3 * sel,
               100.0 * sel / tg);
        printf("gsg selection alone at [4,%lld,2048]: %.3f ms = %.3f%% of the GSG step\n", (long long)B, 1e3 * alone,
               100.0 * alone / tg);
    }
    printf("RESULT simsiam_img_s=%.3f gsg_img_s=%.3f\n", ts > 0 ? (double)B / ts : 0.0, tg > 0 ? (double)B / tg : 0.0);
    return 0;
}
