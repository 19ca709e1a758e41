/* bench_conv.c: GFLOP/s of every distinct conv layer of the CIFAR ResNet-18 (widths
 * 64-128-256-512, 32x32x3 input, 3x3 stem, 1x1 stride-2 shortcuts) and of the narrow
 * Fashion-MNIST variant (16-32-64-128, 28x28x1): forward, backward-data and backward-weights,
 * oneDNN and im2col + OpenBLAS side by side, through the public gsg_conv2d_* front end.
 * FLOPs are the standard count, 2*N*Ho*Wo*Co*Ci*K*K per direction (docs/performance.md §1), padding taps
 * included. Each figure is the best of --reps timed calls after one warm-up call.
 * The "net" lines weight each layer by how often ResNet-18 uses it: the conv time of one
 * encoder pass (fwd) and its backward (bwd-data + bwd-weights) at this batch size; the stem's
 * bwd-data is shown but left out of the totals (an image needs no gradient). */
#include "core/tool.h"
#include "ops/ops.h"
#include "cpu/conv2d.h"
#include "tensor/tensor.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct layer { const char *name; int64_t H, Ci, Co, K, stride, pad, count; };

static const struct layer cifar[] = {
    {"stem 3->64 @32", 32, 3, 64, 3, 1, 1, 1},
    {"L1 64->64 @32", 32, 64, 64, 3, 1, 1, 4},
    {"L2 64->128 @32 s2", 32, 64, 128, 3, 2, 1, 1},
    {"L2 128->128 @16", 16, 128, 128, 3, 1, 1, 3},
    {"L2 sc 64->128 1x1 s2", 32, 64, 128, 1, 2, 0, 1},
    {"L3 128->256 @16 s2", 16, 128, 256, 3, 2, 1, 1},
    {"L3 256->256 @8", 8, 256, 256, 3, 1, 1, 3},
    {"L3 sc 128->256 1x1 s2", 16, 128, 256, 1, 2, 0, 1},
    {"L4 256->512 @8 s2", 8, 256, 512, 3, 2, 1, 1},
    {"L4 512->512 @4", 4, 512, 512, 3, 1, 1, 3},
    {"L4 sc 256->512 1x1 s2", 8, 256, 512, 1, 2, 0, 1},
};
static const struct layer fmnist[] = {
    {"stem 1->16 @28", 28, 1, 16, 3, 1, 1, 1},
    {"L1 16->16 @28", 28, 16, 16, 3, 1, 1, 4},
    {"L2 16->32 @28 s2", 28, 16, 32, 3, 2, 1, 1},
    {"L2 32->32 @14", 14, 32, 32, 3, 1, 1, 3},
    {"L2 sc 16->32 1x1 s2", 28, 16, 32, 1, 2, 0, 1},
    {"L3 32->64 @14 s2", 14, 32, 64, 3, 2, 1, 1},
    {"L3 64->64 @7", 7, 64, 64, 3, 1, 1, 3},
    {"L3 sc 32->64 1x1 s2", 14, 32, 64, 1, 2, 0, 1},
    {"L4 64->128 @7 s2", 7, 64, 128, 3, 2, 1, 1},
    {"L4 128->128 @4", 4, 128, 128, 3, 1, 1, 3},
    {"L4 sc 64->128 1x1 s2", 7, 64, 128, 1, 2, 0, 1},
};

static void fill(float *p, int64_t n, float scale, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) { s = s * 1664525u + 1013904223u; p[i] = scale * ((float)(s >> 8) / 8388608.0f - 1.0f); }
}

/* Seconds of one call: dir 0 fwd, 1 bwd-data, 2 bwd-weights; -1 on failure. */
static double time_call(struct gsg_conv2d *plan, int dir, struct gsg_tensor *y, struct gsg_tensor *x,
                        struct gsg_tensor *w, struct gsg_tensor *dy, struct gsg_tensor *dx, struct gsg_tensor *dw)
{
    double t0 = gsg_now();
    gsg_status st = dir == 0 ? gsg_conv2d_fwd(plan, y, x, w)
                  : dir == 1 ? gsg_conv2d_bwd(plan, dx, NULL, dy, x, w)
                             : gsg_conv2d_bwd(plan, NULL, dw, dy, x, w);
    double t = gsg_now() - t0;
    if (st < 0) { fprintf(stderr, "bench_conv: %s\n", gsg_err_msg()); return -1; }
    return t;
}

static int run_net(const char *net, const struct layer *L, int nl, int64_t N, int reps, const char **impls, int nimpl)
{
    static const char *dirs[3] = {"fwd", "bwdD", "bwdW"};   /* bwd-data, bwd-weights */
    double net_t[4][3] = {{0}}, net_f[3] = {0}, ws[4] = {0}, wsmax[4] = {0};
    printf("\n== %s ResNet-18 convs, batch %lld, %d threads: GFLOP/s (best of %d) ==\n", net, (long long)N,
           omp_get_max_threads(), reps);
    printf("%-24s %5s", "layer", "x");
    for (int i = 0; i < nimpl; i++)
        for (int dir = 0; dir < 3; dir++) printf(" %6.6s:%-4.4s", impls[i], dirs[dir]);
    printf("   GFLOP\n");
    for (int l = 0; l < nl; l++) {
        struct gsg_conv2d_desc d = {N, L[l].H, L[l].H, L[l].Ci, L[l].Co, L[l].K, L[l].stride, L[l].pad};
        int64_t Ho, Wo;
        gsg_conv2d_out_hw(&d, &Ho, &Wo);
        double flop = 2.0 * N * Ho * Wo * d.Co * d.Ci * d.K * d.K;
        struct gsg_tensor x, y, w, dy, dx, dw;
        int64_t xd[4] = {N, d.H, d.W, d.Ci}, yd[4] = {N, Ho, Wo, d.Co}, wd[4] = {d.Co, d.Ci, d.K, d.K};
        if (gsg_tensor_alloc(&x, GSG_DTYPE_F32, GSG_DEV_CPU, 4, xd) < 0 || gsg_tensor_alloc(&dx, GSG_DTYPE_F32, GSG_DEV_CPU, 4, xd) < 0 ||
            gsg_tensor_alloc(&y, GSG_DTYPE_F32, GSG_DEV_CPU, 4, yd) < 0 || gsg_tensor_alloc(&dy, GSG_DTYPE_F32, GSG_DEV_CPU, 4, yd) < 0 ||
            gsg_tensor_alloc(&w, GSG_DTYPE_F32, GSG_DEV_CPU, 4, wd) < 0 || gsg_tensor_alloc(&dw, GSG_DTYPE_F32, GSG_DEV_CPU, 4, wd) < 0) {
            fprintf(stderr, "bench_conv: %s\n", gsg_err_msg());
            return 1;
        }
        fill(x.data, gsg_tensor_numel(&x), 1.0f, 1);
        fill(dy.data, gsg_tensor_numel(&dy), 1.0f, 2);
        fill(w.data, gsg_tensor_numel(&w), 0.05f, 3);
        printf("%-24s %5lld", L[l].name, (long long)L[l].count);
        fflush(stdout);
        /* implementations interleaved call by call, so a busy machine slows both alike */
        struct gsg_conv2d *plans[4] = {NULL};
        double best[4][3];
        for (int i = 0; i < nimpl; i++) {
            setenv("GSG_CONV", impls[i], 1);
            if (gsg_conv2d_create(&plans[i], GSG_DEV_CPU, &d) < 0) fprintf(stderr, "bench_conv: %s\n", gsg_err_msg());
            for (int dir = 0; dir < 3; dir++) best[i][dir] = plans[i] ? 1e30 : -1;
        }
        for (int r = 0; r <= reps; r++)   /* r == 0 is the warm-up */
            for (int dir = 0; dir < 3; dir++)
                for (int i = 0; i < nimpl; i++) {
                    if (!plans[i] || best[i][dir] < 0) continue;
                    double t = time_call(plans[i], dir, &y, &x, &w, &dy, &dx, &dw);
                    if (t < 0) best[i][dir] = -1;
                    else if (r > 0 && t < best[i][dir]) best[i][dir] = t;
                }
        for (int i = 0; i < nimpl; i++) {
            double b = (double)gsg_conv2d_workspace_bytes(plans[i]);
            ws[i] += b;
            if (b > wsmax[i]) wsmax[i] = b;
            gsg_conv2d_destroy(plans[i]);
            for (int dir = 0; dir < 3; dir++) {
                if (best[i][dir] > 0) printf(" %11.1f", flop / best[i][dir] / 1e9);
                else printf(" %11s", "n/a");
                /* the stem's input gradient is never needed (the input is an image) */
                if (!(l == 0 && dir == 1)) net_t[i][dir] += best[i][dir] * (double)L[l].count;
            }
        }
        unsetenv("GSG_CONV");
        for (int dir = 0; dir < 3; dir++)
            if (!(l == 0 && dir == 1)) net_f[dir] += flop * (double)L[l].count;
        printf("   %5.2f\n", flop / 1e9);
        gsg_tensor_free(&x); gsg_tensor_free(&dx); gsg_tensor_free(&y);
        gsg_tensor_free(&dy); gsg_tensor_free(&w); gsg_tensor_free(&dw);
    }
    printf("%-24s %5s", "net (weighted by x)", "");
    for (int i = 0; i < nimpl; i++)
        for (int dir = 0; dir < 3; dir++) printf(" %11.1f", net_f[dir] / net_t[i][dir] / 1e9);
    printf("   %5.2f\n", net_f[0] / 1e9);
    for (int i = 0; i < nimpl; i++)
        printf("%s: one encoder pass at batch %lld: conv fwd %.3f s, bwd %.3f s; SimSiam step convs "
               "(2 views x fwd+bwd) %.2f s = %.1f img/s if convs were all\n",
               impls[i], (long long)N, net_t[i][0], net_t[i][1] + net_t[i][2],
               2 * (net_t[i][0] + net_t[i][1] + net_t[i][2]),
               N / (2 * (net_t[i][0] + net_t[i][1] + net_t[i][2])));
    for (int i = 0; i < nimpl; i++)
        printf("%s: plan workspace over the %d distinct layers: sum %.1f MB, largest %.1f MB%s\n", impls[i], nl,
               ws[i] / 1e6, wsmax[i] / 1e6, strcmp(impls[i], "onednn") ? "" : " (oneDNN plans share one arena: the largest counts)");
    return 0;
}

int main(int argc, char **argv)
{
    int64_t N = 128, reps = 3;
    const char *which = "all";
    const char *impls[2] = {"onednn", "im2col"};   /* at most 4 (plans[4]) */
    int nimpl = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bench_conv [--batch N] [--reps R] [--net cifar|fmnist|all] [--impl onednn|im2col|both]\n"
                   "Prints GFLOP/s per conv layer and direction for each implementation. Exit: 0 ok, 1 failure, 2 usage.\n");
            return 0;
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            if (gsg_parse_i64("--batch", argv[++i], 1, 4096, &N)) return 2;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            if (gsg_parse_i64("--reps", argv[++i], 1, 1000, &reps)) return 2;
        } else if (!strcmp(argv[i], "--net") && i + 1 < argc) {
            which = argv[++i];
        } else if (!strcmp(argv[i], "--impl") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "both")) nimpl = 2;
            else { impls[0] = v; nimpl = 1; }
        } else {
            fprintf(stderr, "bench_conv: unknown option '%s'\nTry 'bench_conv --help'.\n", argv[i]);
            return 2;
        }
    }
#ifndef GSG_HAVE_DNNL
    if (nimpl == 2) { impls[0] = "im2col"; nimpl = 1; printf("(built without oneDNN: im2col only)\n"); }
#endif
    int rc = 0;
    if (!strcmp(which, "cifar") || !strcmp(which, "all"))
        rc |= run_net("cifar", cifar, (int)(sizeof cifar / sizeof cifar[0]), N, (int)reps, impls, nimpl);
    if (!strcmp(which, "fmnist") || !strcmp(which, "all"))
        rc |= run_net("fmnist (narrow)", fmnist, (int)(sizeof fmnist / sizeof fmnist[0]), N, (int)reps, impls, nimpl);
    return rc;
}
