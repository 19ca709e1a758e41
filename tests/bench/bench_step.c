/* bench_step.c: images/s of one SimSiam training step of lib/nn: two views, forward, symmetric
 * negative-cosine loss, backward, SGD update, plus peak RSS and the step's FLOP rate. The model
 * is a recipe's (lib/nn/net.c gsg_net_config_recipe): cifar (CIFAR ResNet-18 on 32x32x3, projector
 * 512-2048-2048, predictor 2048-512-2048) or fmnist (width 16 on 28x28x1, 128-512-512, 512-128-512);
 * input size and normalisation are the recipe's (lib/aug/recipe.c). The FLOP count is the standard
 * one of docs/performance.md §1, taken from the network built (gsg_net_view_train_flops), two views.
 * The PyTorch peer is tests/bench/torch_step.py; `make bench` runs both (tests/bench/bench.py).
 *
 * usage: bench_step [--recipe cifar|fmnist|imagenet] [--precision fp32|bf16] [--batch 256] [--steps 3]
 *                   [--warmup 1] [--size S] [--width W]
 * Prints a per-phase breakdown and a final line
 *   RESULT side=gsg recipe=R precision=P batch=N threads=T img_s=X step_s=Y peak_rss_mb=Z gflop_per_img=G gflops=F
 * Exit status: 0 ok, 1 runtime failure, 2 usage error, 3 not available here (bf16 on a CPU or build
 * without native bf16: one line saying why). */
#include "nn/net.h"
#include "ops/ops.h"
#include "core/rng.h"
#include "core/tool.h"
#include "aug/recipe.h"
#include "cpu/conv2d.h"
#include "cuda/gsg_cuda.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <omp.h>

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* Exit status 3: the configuration cannot run here (the driver prints "n/a"). */
enum { EXIT_NA = 3 };

int main(int argc, char **argv)
{
    int64_t N = 256, steps = 3, warmup = 1, size = -1, width = -1;
    const char *recipe = "cifar", *prec_s = "fp32";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: bench_step [--recipe cifar|fmnist|imagenet] [--precision fp32|bf16] [--batch 256] [--steps 3]\n"
                   "                  [--warmup 1] [--size S] [--width W]\n"
                   "One SimSiam step of lib/nn (two views, forward, loss, backward, SGD) on a recipe's model:\n"
                   "images/s, peak RSS and GFLOP/s (standard count, two views per image). --size defaults to the\n"
                   "recipe's (cifar 32, fmnist 28); --width overrides its base width. bf16: convolutions in\n"
                   "oneDNN's bf16 kernels, which need AVX512_BF16 or AMX-BF16. Threads: OMP_NUM_THREADS.\n"
                   "Exit status: 0 ok, 1 runtime failure, 2 usage error, 3 not available here (bf16 without\n"
                   "native bf16).\n");
            return 0;
        }
        if (!v) { fprintf(stderr, "bench_step: %s needs a value\nTry 'bench_step --help'.\n", a); return 2; }
        if (!strcmp(a, "--batch")) N = atoll(v);
        else if (!strcmp(a, "--steps")) steps = atoll(v);
        else if (!strcmp(a, "--warmup")) warmup = atoll(v);
        else if (!strcmp(a, "--size")) size = atoll(v);
        else if (!strcmp(a, "--width")) width = atoll(v);
        else if (!strcmp(a, "--recipe")) recipe = v;
        else if (!strcmp(a, "--precision")) prec_s = v;
        else { fprintf(stderr, "bench_step: unknown option '%s'\nTry 'bench_step --help'.\n", a); return 2; }
        i++;
    }
    const struct gsg_aug_recipe *ar = gsg_aug_recipe_find(recipe);
    struct gsg_net_config cfg;
    if (!ar || gsg_net_config_recipe(&cfg, recipe) < 0) {
        fprintf(stderr, "bench_step: unknown recipe '%s' (expected cifar, fmnist or imagenet)\nTry 'bench_step --help'.\n", recipe);
        return 2;
    }
    if (size < 0) size = ar->size;
    if (N < 2 || steps < 1 || warmup < 0 || size < 4) {
        fprintf(stderr, "bench_step: bad sizes (--batch >= 2, --steps >= 1, --warmup >= 0, --size >= 4)\n"
                "Try 'bench_step --help'.\n");
        return 2;
    }
    enum gsg_precision prec;
    if (gsg_precision_parse(prec_s, &prec) < 0) {
        fprintf(stderr, "bench_step: --precision: '%s' is not fp32 or bf16\nTry 'bench_step --help'.\n", prec_s);
        return 2;
    }
    if (width > 0) cfg.width = (int)width;
    gsg_precision_set(prec);   /* always, before any conv2d plan: GSG_PRECISION does not apply here */
    if (prec == GSG_PREC_BF16) {
        char why[200];
        if (!gsg_cpu_bf16_supported(why, sizeof why)) { fprintf(stderr, "bench_step: bf16: %s\n", why); return EXIT_NA; }
    }
    int64_t C = cfg.in_channels, D = cfg.proj_dim;
    struct gsg_net *net = NULL;
    struct gsg_net_ctx *ctx[2] = {NULL, NULL};
    struct gsg_sgd *opt = NULL;
    gsg_status st = gsg_net_create(&net, &cfg, N, size, size, GSG_DEV_CPU, 1, 0);
    if (st >= 0) st = gsg_net_ctx_create(net, &ctx[0]);
    if (st >= 0) st = gsg_net_ctx_create(net, &ctx[1]);
    if (st >= 0) st = gsg_sgd_create(&opt, net, 0.9, 5e-4);
    if (st < 0) { fprintf(stderr, "bench_step: %s\n", gsg_err_msg()); return 1; }
    /* two u8 views [N,C,H,W], converted per step like gsg-step does */
    uint8_t *u8 = malloc((size_t)(2 * N * C * size * size));
    float *x = gsg_aligned_alloc((size_t)(N * size * size * C) * sizeof(float));
    float *cosv = malloc((size_t)N * 4), *dcos = malloc((size_t)N * 4);
    float *dp[2] = {gsg_aligned_alloc((size_t)(N * D) * 4), gsg_aligned_alloc((size_t)(N * D) * 4)};
    if (!u8 || !x || !cosv || !dcos || !dp[0] || !dp[1]) { fprintf(stderr, "bench_step: out of memory\n"); return 1; }
    struct gsg_rng r;
    gsg_rng_init(&r, 1, 1);
    for (int64_t i = 0; i < 2 * N * C * size * size; i++) u8[i] = (uint8_t)gsg_rng_below(&r, 256);
    const float *mean = ar->mean, *sd = ar->std;
    /* FLOPs per image: two views, each forward + backward (standard count, docs/performance.md §1) */
    double gflop_img = 2.0 * (double)gsg_net_view_train_flops(net) / 1e9;
    printf("bench_step: SimSiam step, %s recipe: %s %s stem width %d, %lldx%lldx%lld, batch %lld x 2 views, %s%s, "
           "%d threads, %.4f GFLOP per image\n",
           recipe, gsg_arch_name(cfg.arch), gsg_stem_name(cfg.stem), cfg.width, (long long)size, (long long)size,
           (long long)C, (long long)N, gsg_precision_name(prec), prec == GSG_PREC_BF16 ? " (convolutions)" : "",
           omp_get_max_threads(), gflop_img);
    double t_fwd = 0, t_loss = 0, t_bwd = 0, t_opt = 0, t_total = 0;
    struct gsg_net_out o[2];
    for (int64_t s = 0; s < warmup + steps; s++) {
        double t0 = gsg_now(), t1, t2, t3, t4;
        gsg_net_zero_grad(net);
        for (int v = 0; v < 2 && st >= 0; v++) {
            struct gsg_tensor img = gsg_tview(u8 + v * N * C * size * size, GSG_DTYPE_U8, 4, N, C, size, size);
            struct gsg_tensor xt = gsg_tview(x, GSG_DTYPE_F32, 4, N, size, size, C);
            st = gsg_image_to_f32(&xt, &img, mean, sd);
            if (st >= 0) st = gsg_net_forward(net, ctx[v], &o[v], &xt, GSG_FWD_TRAIN);
        }
        t1 = gsg_now();
        /* L = -(mean cos(p1, sg z2) + mean cos(p2, sg z1)) / 2: dL/dcos = -1/(2N) per row */
        for (int v = 0; v < 2 && st >= 0; v++) {
            struct gsg_tensor ct = gsg_tview(cosv, GSG_DTYPE_F32, 1, N), dct = gsg_tview(dcos, GSG_DTYPE_F32, 1, N);
            struct gsg_tensor dpt = gsg_tview(dp[v], GSG_DTYPE_F32, 2, N, D);
            st = gsg_cosine_fwd(&ct, &o[v].p, &o[1 - v].z);
            for (int64_t i = 0; i < N; i++) dcos[i] = -0.5f / (float)N;
            if (st >= 0) st = gsg_cosine_bwd(&dpt, NULL, &dct, &o[v].p, &o[1 - v].z);
        }
        t2 = gsg_now();
        for (int v = 1; v >= 0 && st >= 0; v--) {
            struct gsg_tensor dpt = gsg_tview(dp[v], GSG_DTYPE_F32, 2, N, D);
            st = gsg_net_backward(net, ctx[v], NULL, &dpt);
        }
        t3 = gsg_now();
        if (st >= 0) st = gsg_sgd_step(opt, 0.06, 0.06);
        t4 = gsg_now();
        if (st < 0) { fprintf(stderr, "bench_step: %s\n", gsg_err_msg()); return 1; }
        printf("  step %lld%s: %.3f s (forward %.3f, loss %.4f, backward %.3f, sgd %.4f)\n", (long long)s,
               s < warmup ? " (warm-up)" : "", t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3);
        fflush(stdout);
        if (s >= warmup) { t_fwd += t1 - t0; t_loss += t2 - t1; t_bwd += t3 - t2; t_opt += t4 - t3; t_total += t4 - t0; }
    }
    double step_s = t_total / steps, img_s = N / step_s, rss = peak_rss_mb();
    printf("bench_step: %.2f images/s (%.3f s/step: forward %.1f%%, loss %.2f%%, backward %.1f%%, sgd %.2f%%), "
           "%.1f GFLOP/s at %.4f GFLOP per image, peak RSS %.0f MiB\n",
           img_s, step_s, 100 * t_fwd / t_total, 100 * t_loss / t_total, 100 * t_bwd / t_total,
           100 * t_opt / t_total, img_s * gflop_img, gflop_img, rss);
    printf("RESULT side=gsg recipe=%s precision=%s batch=%lld threads=%d img_s=%.3f step_s=%.4f peak_rss_mb=%.0f "
           "gflop_per_img=%.6f gflops=%.2f\n", recipe, gsg_precision_name(prec), (long long)N, omp_get_max_threads(),
           img_s, step_s, rss, gflop_img, img_s * gflop_img);
    gsg_sgd_destroy(opt);
    gsg_net_ctx_destroy(ctx[0]);
    gsg_net_ctx_destroy(ctx[1]);
    gsg_net_destroy(net);
    free(u8); free(cosv); free(dcos);
    gsg_aligned_free(x); gsg_aligned_free(dp[0]); gsg_aligned_free(dp[1]);
    return 0;
}
