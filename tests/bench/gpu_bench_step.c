/* gpu_bench_step.c: images/s of our training step (lib/ssl/train.h's trainer, the step gsg-step runs) on
 * a device: SimSiam or SimSiam+GSG (4-view pairing), the cifar or fmnist recipe, fp32 or bf16, optionally
 * through a CUDA graph. The PyTorch peer is tests/bench/gpu_torch_step.py; tests/bench/gpu_bench.sh runs
 * both and prints the ratios (`make bench-gpu`).
 *
 * usage: gpu_bench_step [--recipe cifar|fmnist] [--method simsiam|gsg] [--batch N] [--steps S] [--warmup W]
 *                       [--precision fp32|bf16] [--device cuda|cpu] [--graph]
 * Each timed step ends with the one checked synchronisation (gsg_cuda_check), so the time is the step's
 * wall time on the device. Prints one line per timed step and a final line
 *   RESULT ours recipe=R method=M precision=P graph=0|1 batch=N img_s=X step_ms=Y
 * Exit status: 0 ok, 1 runtime failure (the message says why: no device, engine refused, ...), 2 usage. */
#include "core/rng.h"
#include "core/tool.h"
#include "cuda/gsg_cuda.h"
#include "ssl/train.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct step_arg {
    struct gsg_trainer *tr;
    const struct gsg_train_batch *b;
    struct gsg_train_stats st;
};

static gsg_status one_step(void *p)
{
    struct step_arg *a = p;
    return gsg_trainer_step(a->tr, a->b, &a->st);
}

static int usage(const char *why)
{
    fprintf(stderr, "gpu_bench_step: %s\nTry 'gpu_bench_step --help'.\n", why);
    return 2;
}

int main(int argc, char **argv)
{
    const char *recipe = "cifar", *method = "gsg", *prec_s = "fp32", *dev_s = "cuda";
    int64_t N = -1, steps = 10, warmup = 3;
    int graph = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: gpu_bench_step [--recipe cifar|fmnist] [--method simsiam|gsg] [--batch N] [--steps 10]\n"
                   "                      [--warmup 3] [--precision fp32|bf16] [--device cuda|cpu] [--graph]\n"
                   "Images/s of the training step (lib/ssl/train.h) on a device. Batch default: the recipe's\n"
                   "bench size (cifar 512, fmnist 256). Exit status: 0 ok, 1 runtime failure, 2 usage error.\n");
            return 0;
        }
        if (!strcmp(a, "--graph")) { graph = 1; continue; }
        if (!v) return usage("an option needs a value");
        if (!strcmp(a, "--recipe")) recipe = v;
        else if (!strcmp(a, "--method")) method = v;
        else if (!strcmp(a, "--batch")) N = atoll(v);
        else if (!strcmp(a, "--steps")) steps = atoll(v);
        else if (!strcmp(a, "--warmup")) warmup = atoll(v);
        else if (!strcmp(a, "--precision")) prec_s = v;
        else if (!strcmp(a, "--device")) dev_s = v;
        else return usage("unknown option");
        i++;
    }
    enum gsg_precision prec;
    if (gsg_precision_parse(prec_s, &prec) < 0) return usage("--precision: expected fp32 or bf16");
    if (strcmp(method, "simsiam") && strcmp(method, "gsg")) return usage("--method: expected simsiam or gsg");
    if (strcmp(dev_s, "cuda") && strcmp(dev_s, "cpu")) return usage("--device: expected cuda or cpu");
    if (steps < 1 || warmup < 0) return usage("--steps >= 1 and --warmup >= 0");
    const enum gsg_dev dev = strcmp(dev_s, "cuda") ? GSG_DEV_CPU : GSG_DEV_CUDA;
    struct gsg_train_config c;
    if (gsg_train_config_recipe(&c, recipe) < 0) return usage(gsg_err_msg());
    if (N < 0) N = strcmp(recipe, "cifar") ? 256 : 512;
    if (N < 2) return usage("--batch: expected at least 2");
    c.batch = N;
    c.gsg = !strcmp(method, "gsg");
    c.pairing = GSG_PAIR_4VIEW;
    c.steps_per_epoch = 1000;
    c.epochs = 10;
    gsg_cuda_set_precision(prec);
    if (dev == GSG_DEV_CUDA && gsg_cuda_init(0) < 0) { fprintf(stderr, "gpu_bench_step: %s\n", gsg_err_msg()); return 1; }
    const int64_t V = c.gsg ? 4 : 2, C = c.net.in_channels, H = c.image_h, W = c.image_w;
    uint8_t *views = malloc((size_t)(N * V * C * H * W));
    if (!views) { fprintf(stderr, "gpu_bench_step: out of memory\n"); return 1; }
    struct gsg_rng r;
    gsg_rng_init(&r, 1, gsg_rng_stream(GSG_RNG_TEST, 91, 0, 0));
    for (int64_t i = 0; i < N * V * C * H * W; i++) views[i] = (uint8_t)gsg_rng_below(&r, 256);
    struct gsg_train_batch b = {views, N, V, C, H, W, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}};
    struct gsg_trainer *tr = NULL;
    if (gsg_trainer_create(&tr, &c, dev) < 0) { fprintf(stderr, "gpu_bench_step: %s\n", gsg_err_msg()); return 1; }
    gsg_trainer_set_monitor_every(tr, 0);
    struct gsg_cuda_graph *g = NULL;
    if (graph && dev == GSG_DEV_CUDA && gsg_cuda_graph_create(&g, 1) < 0) {
        fprintf(stderr, "gpu_bench_step: %s\n", gsg_err_msg());
        return 1;
    }
    printf("gpu_bench_step: %s, %s recipe, batch %lld x %lld views, %s, %s%s%s\n", c.gsg ? "SimSiam+GSG" : "SimSiam",
           recipe, (long long)N, (long long)V, prec_s, dev_s, g ? ", CUDA graph" : "",
           dev == GSG_DEV_CUDA ? "" : " (host check of the driver)");
    if (dev == GSG_DEV_CUDA) printf("gpu_bench_step: %s\n", gsg_cuda_describe());
    struct step_arg sa = {tr, &b, {0}};
    double total = 0, best = 1e30;
    int graphed = 0;
    for (int64_t s = 0; s < warmup + steps; s++) {
        double t0 = gsg_now();
        gsg_status st = g ? gsg_cuda_graph_run(g, (uint64_t)N, one_step, &sa) : one_step(&sa);
        if (st >= 0 && dev == GSG_DEV_CUDA) st = gsg_cuda_check("gpu_bench_step");
        double el = gsg_now() - t0;
        if (st < 0) { fprintf(stderr, "gpu_bench_step: step %lld: %s\n", (long long)s, gsg_err_msg()); return 1; }
        if (g && gsg_cuda_graph_last_action(g) == 2) graphed = 1;
        if (s >= warmup) {
            total += el;
            if (el < best) best = el;
        }
        printf("  step %lld%s: %.3f ms, loss %.5f\n", (long long)s, s < warmup ? " (warm-up)" : "", 1e3 * el, sa.st.loss);
    }
    const double step_s = total / (double)steps;
    if (g && !graphed) printf("gpu_bench_step: the step could not be captured as a graph: it ran eagerly\n");
    printf("RESULT ours recipe=%s method=%s precision=%s graph=%d batch=%lld img_s=%.2f step_ms=%.3f best_ms=%.3f\n",
           recipe, method, prec_s, graphed, (long long)N, (double)N / step_s, 1e3 * step_s, 1e3 * best);
    gsg_cuda_graph_destroy(g);
    gsg_trainer_destroy(tr);
    free(views);
    return 0;
}
