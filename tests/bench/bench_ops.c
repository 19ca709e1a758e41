/* bench_ops.c: time of the non-conv ops on the shapes of a cifar ResNet-18 SimSiam step (batch 128
 * per view), through the public front ends. Each figure is the best of --reps calls after a warm-up.
 * GB/s counts the bytes the op must touch at least once (inputs read + outputs written), so a
 * two-pass kernel shows as lower than the machine's bandwidth. A PyTorch twin of the same list is
 * tests/bench/bench_ops_torch.py (`make bench-ops` runs both when /usr/bin/python3 has torch). */
#include "core/tool.h"
#include "ops/ops.h"
#include "ops/ops_extra.h"
#include "tensor/tensor.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reps = 20;

static struct gsg_tensor mk(enum gsg_dtype dt, int ndim, const int64_t *d)
{
    struct gsg_tensor t;
    if (gsg_tensor_alloc(&t, dt, GSG_DEV_CPU, ndim, d) < 0) { fprintf(stderr, "bench_ops: %s\n", gsg_err_msg()); exit(1); }
    if (dt == GSG_DTYPE_F32)
        for (int64_t i = 0; i < gsg_tensor_numel(&t); i++) ((float *)t.data)[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    return t;
}

#define TIME(label, bytes, flops, stmt) do { \
    double best_ = 1e30; \
    for (int r_ = 0; r_ <= reps; r_++) { double t0_ = gsg_now(); \
        gsg_status st_ = (stmt); if (st_ < 0) { fprintf(stderr, "bench_ops: %s\n", gsg_err_msg()); exit(1); } \
        double dt_ = gsg_now() - t0_; if (r_ && dt_ < best_) best_ = dt_; } \
    printf("%-34s %-18s %9.3f ms %8.1f GB/s", label, shp, best_ * 1e3, (double)(bytes) / best_ / 1e9); \
    if ((flops) > 0) printf(" %7.1f GFLOP/s", (double)(flops) / best_ / 1e9); \
    printf("\n"); fflush(stdout); } while (0)

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--help")) {
            printf("Usage: bench_ops [--reps N]\nTimes batch norm, ReLU, add, pools, linear, cosine on ResNet-18 shapes.\n");
            return 0;
        } else { fprintf(stderr, "bench_ops: unknown option '%s'\nTry 'bench_ops --help'.\n", argv[i]); return 2; }
    }
    printf("bench_ops: %d threads, best of %d\n", omp_get_max_threads(), reps);
    char shp[64];
    const int64_t bn_shapes[][4] = {{128, 32, 32, 64}, {128, 16, 16, 128}, {128, 8, 8, 256}, {128, 4, 4, 512}, {1, 1, 256, 2048}};
    for (size_t s = 0; s < sizeof bn_shapes / sizeof *bn_shapes; s++) {
        const int64_t *d = bn_shapes[s];
        int64_t C = d[3];
        struct gsg_tensor x = mk(GSG_DTYPE_F32, 4, d), y = mk(GSG_DTYPE_F32, 4, d), dy = mk(GSG_DTYPE_F32, 4, d),
                          dx = mk(GSG_DTYPE_F32, 4, d), x2 = mk(GSG_DTYPE_F32, 4, d);
        struct gsg_tensor g = mk(GSG_DTYPE_F32, 1, &C), b = mk(GSG_DTYPE_F32, 1, &C), rm = mk(GSG_DTYPE_F32, 1, &C),
                          rv = mk(GSG_DTYPE_F32, 1, &C), sm = mk(GSG_DTYPE_F32, 1, &C), si = mk(GSG_DTYPE_F32, 1, &C),
                          dg = mk(GSG_DTYPE_F32, 1, &C), db = mk(GSG_DTYPE_F32, 1, &C);
        for (int64_t c = 0; c < C; c++) ((float *)rv.data)[c] = 1.0f;
        gsg_shape_str(shp, sizeof shp, 4, d);
        double nb = (double)gsg_tensor_nbytes(&x);
        TIME("batchnorm fwd (train)", 2 * nb, 0, gsg_batchnorm_fwd(&y, &sm, &si, &x, &g, &b, &rm, &rv, 1, 0.1f, 1e-5f));
        TIME("batchnorm+relu fwd (train)", 2 * nb, 0,
             gsg_batchnorm_relu_fwd(&y, &sm, &si, &x, &g, &b, &rm, &rv, 1, 0.1f, 1e-5f));
        TIME("batchnorm fwd (eval)", 2 * nb, 0, gsg_batchnorm_fwd(&y, NULL, NULL, &x, &g, &b, &rm, &rv, 0, 0.1f, 1e-5f));
        TIME("batchnorm bwd", 3 * nb, 0, gsg_batchnorm_bwd(&dx, &dg, &db, &dy, &x, &g, &sm, &si));
        TIME("batchnorm+relu bwd", 4 * nb, 0, gsg_batchnorm_relu_bwd(&dx, &dg, &db, &dy, &y, &x, &g, &sm, &si));
        TIME("relu fwd", 2 * nb, 0, gsg_relu_fwd(&y, &x));
        TIME("relu bwd", 3 * nb, 0, gsg_relu_bwd(&dx, &dy, &y));
        TIME("add_inplace", 3 * nb, 0, gsg_add_inplace(&x2, &x));
        TIME("add_relu", 3 * nb, 0, gsg_add_relu(&y, &x2, &x));
        struct gsg_tensor *ts[] = {&x, &y, &dy, &dx, &x2, &g, &b, &rm, &rv, &sm, &si, &dg, &db};
        for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) gsg_tensor_free(ts[i]);
    }
    {   /* ImageNet stem max pool and the global average pool */
        const int64_t xd[4] = {32, 112, 112, 64}, yd[4] = {32, 56, 56, 64};
        struct gsg_tensor x = mk(GSG_DTYPE_F32, 4, xd), dx = mk(GSG_DTYPE_F32, 4, xd), y = mk(GSG_DTYPE_F32, 4, yd),
                          dy = mk(GSG_DTYPE_F32, 4, yd), am = mk(GSG_DTYPE_I32, 4, yd);
        gsg_shape_str(shp, sizeof shp, 4, xd);
        double nx = (double)gsg_tensor_nbytes(&x), ny = (double)gsg_tensor_nbytes(&y);
        TIME("maxpool 3x3/2 fwd", nx + 2 * ny, 0, gsg_maxpool_fwd(&y, &am, &x));
        TIME("maxpool 3x3/2 bwd", nx + 2 * ny, 0, gsg_maxpool_bwd(&dx, &dy, &am));
        gsg_tensor_free(&x); gsg_tensor_free(&dx); gsg_tensor_free(&y); gsg_tensor_free(&dy); gsg_tensor_free(&am);
        const int64_t ad[4] = {128, 4, 4, 512}, pd[2] = {128, 512};
        struct gsg_tensor a = mk(GSG_DTYPE_F32, 4, ad), da = mk(GSG_DTYPE_F32, 4, ad), p = mk(GSG_DTYPE_F32, 2, pd),
                          dp = mk(GSG_DTYPE_F32, 2, pd);
        gsg_shape_str(shp, sizeof shp, 4, ad);
        TIME("avgpool fwd", (double)gsg_tensor_nbytes(&a), 0, gsg_avgpool_fwd(&p, &a));
        TIME("avgpool bwd", (double)gsg_tensor_nbytes(&a), 0, gsg_avgpool_bwd(&da, &dp));
        gsg_tensor_free(&a); gsg_tensor_free(&da); gsg_tensor_free(&p); gsg_tensor_free(&dp);
    }
    {   /* projector linear 512 -> 2048 and 2048 -> 2048 at batch 256; the loss's cosine */
        const int64_t dims[][2] = {{512, 2048}, {2048, 2048}};
        for (int k = 0; k < 2; k++) {
            int64_t N = 256, In = dims[k][0], Out = dims[k][1];
            int64_t xd[2] = {N, In}, wd[2] = {Out, In}, yd[2] = {N, Out};
            struct gsg_tensor x = mk(GSG_DTYPE_F32, 2, xd), w = mk(GSG_DTYPE_F32, 2, wd), y = mk(GSG_DTYPE_F32, 2, yd),
                              dx = mk(GSG_DTYPE_F32, 2, xd), dw = mk(GSG_DTYPE_F32, 2, wd), dy = mk(GSG_DTYPE_F32, 2, yd);
            snprintf(shp, sizeof shp, "[%lld,%lld]x[%lld,%lld]", (long long)N, (long long)In, (long long)Out, (long long)In);
            double fl = 2.0 * N * In * Out;
            TIME("linear fwd", 4.0 * (N * In + In * Out + N * Out), fl, gsg_linear_fwd(&y, &x, &w, NULL));
            TIME("linear bwd (dx, dw)", 4.0 * (N * In + 2 * In * Out + N * Out), 2 * fl, gsg_linear_bwd(&dx, &dw, NULL, &dy, &x, &w));
            struct gsg_tensor *ts[] = {&x, &w, &y, &dx, &dw, &dy};
            for (size_t i = 0; i < 6; i++) gsg_tensor_free(ts[i]);
        }
        int64_t cd[2] = {256, 2048}, N = 256;
        struct gsg_tensor a = mk(GSG_DTYPE_F32, 2, cd), b = mk(GSG_DTYPE_F32, 2, cd), da = mk(GSG_DTYPE_F32, 2, cd),
                          db = mk(GSG_DTYPE_F32, 2, cd), o = mk(GSG_DTYPE_F32, 1, &N), g = mk(GSG_DTYPE_F32, 1, &N);
        gsg_shape_str(shp, sizeof shp, 2, cd);
        double nb = (double)gsg_tensor_nbytes(&a);
        TIME("cosine fwd", 2 * nb, 0, gsg_cosine_fwd(&o, &a, &b));
        TIME("cosine bwd", 4 * nb, 0, gsg_cosine_bwd(&da, &db, &g, &a, &b));
        TIME("l2norm fwd", 2 * nb, 0, gsg_l2norm_fwd(&da, &a));
        TIME("l2norm bwd", 3 * nb, 0, gsg_l2norm_bwd(&db, &b, &a));
        struct gsg_tensor *ts[] = {&a, &b, &da, &db, &o, &g};
        for (size_t i = 0; i < 6; i++) gsg_tensor_free(ts[i]);
    }
    {
        const int64_t xd[4] = {256, 3, 32, 32}, yd[4] = {256, 32, 32, 3};
        struct gsg_tensor x = mk(GSG_DTYPE_U8, 4, xd), y = mk(GSG_DTYPE_F32, 4, yd);
        float mean[3] = {0.49f, 0.48f, 0.45f}, sd[3] = {0.25f, 0.24f, 0.26f};
        gsg_shape_str(shp, sizeof shp, 4, xd);
        TIME("image_to_f32", (double)gsg_tensor_nbytes(&x) + (double)gsg_tensor_nbytes(&y), 0,
             gsg_image_to_f32(&y, &x, mean, sd));
        gsg_tensor_free(&x); gsg_tensor_free(&y);
    }
    return 0;
}
