/* test_nn.c: lib/nn networks: names and counts (torchvision's), initialisation
 * statistics, forward/backward of ResNet-18 (cifar and imagenet stems) and
 * ResNet-50 at tiny widths, finite-difference checks of whole-network gradients,
 * SGD/momentum/weight decay, the cosine schedule and the EMA update against hand
 * computations, contexts and smaller batches. */
#include "check.h"
#include "nn/net.h"
#include "ops/ops.h"
#include "core/rng.h"
#include "io/tstream.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct gsg_net_config tiny_cfg(enum gsg_arch arch, enum gsg_stem stem, int cin, int width, int pred)
{
    struct gsg_net_config c = {arch, stem, cin, width, 0, 2, 12, 6, pred};
    return c;
}

static void fill_normal(float *x, int64_t n, uint64_t seed, uint64_t tag)
{
    struct gsg_rng r;
    gsg_rng_init(&r, seed, gsg_rng_stream(GSG_RNG_TEST, tag, 0, 0));
    for (int64_t i = 0; i < n; i++) x[i] = (float)gsg_rng_normal(&r);
}

static int all_finite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

TEST(names_match_torchvision_resnet18)
{
    struct gsg_net_config c;
    CHECK_OK(gsg_net_config_recipe(&c, "cifar"));
    c.width = 4;
    c.proj_hidden = 8; c.proj_dim = 8; c.pred_hidden = 4;
    struct gsg_net *net = NULL;
    CHECK_OK(gsg_net_create(&net, &c, 2, 8, 8, GSG_DEV_CPU, 1, 0));
    if (!net) return;
    int nb_backbone = 0, np_backbone = 0;
    for (int i = 0; i < gsg_net_param_count(net); i++)
        if (gsg_net_param(net, i)->group == GSG_GROUP_BACKBONE) np_backbone++;
    for (int i = 0; i < gsg_net_buffer_count(net); i++)
        if (strncmp(gsg_net_buffer(net, i)->name, "projector.", 10) && strncmp(gsg_net_buffer(net, i)->name, "predictor.", 10))
            nb_backbone++;
    /* torchvision resnet18 state_dict: 122 entries: 62 parameters (2 of them fc) + 60 buffers */
    CHECK_EQ_I64(np_backbone, 60);
    CHECK_EQ_I64(nb_backbone, 60);
    CHECK(!strcmp(gsg_net_param(net, 0)->name, "conv1.weight"));
    CHECK(gsg_net_param_find(net, "layer2.0.downsample.0.weight") != NULL);
    CHECK(gsg_net_param_find(net, "layer1.0.downsample.0.weight") == NULL);
    CHECK(gsg_net_param_find(net, "layer4.1.bn2.bias") != NULL);
    CHECK(gsg_net_buffer_find(net, "layer3.1.bn1.num_batches_tracked") != NULL);
    CHECK(gsg_net_buffer_find(net, "layer3.1.bn1.num_batches_tracked")->value.dtype == GSG_DTYPE_I64);
    CHECK(gsg_net_buffer_find(net, "layer3.1.bn1.num_batches_tracked")->value.ndim == 0);
    const struct gsg_param *w = gsg_net_param_find(net, "layer3.0.conv1.weight");
    CHECK(w && w->value.dims[0] == 16 && w->value.dims[1] == 8 && w->value.dims[2] == 3 && w->value.dims[3] == 3);
    /* heads */
    CHECK(gsg_net_param_find(net, "projector.0.weight") && !gsg_net_param_find(net, "projector.0.bias"));
    CHECK(gsg_net_param_find(net, "projector.1.weight") != NULL);
    CHECK(gsg_net_param_find(net, "projector.4.weight") == NULL);         /* affine-free last BN */
    CHECK(gsg_net_buffer_find(net, "projector.4.running_mean") != NULL);
    CHECK(gsg_net_param_find(net, "predictor.0.weight") && !gsg_net_param_find(net, "predictor.0.bias"));
    CHECK(gsg_net_param_find(net, "predictor.3.bias") != NULL);
    CHECK(gsg_net_param_find(net, "predictor.3.bias")->group == GSG_GROUP_PREDICTOR);
    CHECK(gsg_net_param_find(net, "projector.3.weight")->group == GSG_GROUP_PROJECTOR);
    /* predictor parameters come last in the arena */
    int seen_pred = 0, order_ok = 1;
    for (int i = 0; i < gsg_net_param_count(net); i++) {
        if (gsg_net_param(net, i)->group == GSG_GROUP_PREDICTOR) seen_pred = 1;
        else if (seen_pred) order_ok = 0;
    }
    CHECK(order_ok);
    gsg_net_destroy(net);
}

TEST(names_resnet50_imagenet)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET50, GSG_STEM_IMAGENET, 3, 2, 4);
    c.proj_layers = 3;
    struct gsg_net *net = NULL;
    CHECK_OK(gsg_net_create(&net, &c, 2, 16, 16, GSG_DEV_CPU, 1, 0));
    if (!net) return;
    int np = 0, nb = 0;
    for (int i = 0; i < gsg_net_param_count(net); i++)
        if (gsg_net_param(net, i)->group == GSG_GROUP_BACKBONE) np++;
    for (int i = 0; i < gsg_net_buffer_count(net); i++)
        if (strncmp(gsg_net_buffer(net, i)->name, "pro", 3) && strncmp(gsg_net_buffer(net, i)->name, "pre", 3)) nb++;
    /* torchvision resnet50 state_dict: 320 entries: 161 parameters (2 of them fc) + 159 buffers */
    CHECK_EQ_I64(np, 159);
    CHECK_EQ_I64(nb, 159);
    const struct gsg_param *p = gsg_net_param_find(net, "layer1.0.conv3.weight");
    CHECK(p && p->value.dims[0] == 8 && p->value.dims[1] == 2 && p->value.dims[2] == 1);
    CHECK(gsg_net_param_find(net, "layer1.0.downsample.0.weight") != NULL);
    CHECK(gsg_net_param_find(net, "conv1.weight")->value.dims[2] == 7);
    CHECK(gsg_net_param_find(net, "projector.6.weight") != NULL);
    CHECK(gsg_net_buffer_find(net, "projector.7.running_var") != NULL);
    CHECK(gsg_net_param_find(net, "projector.7.weight") == NULL);
    CHECK_EQ_I64(gsg_net_feature_dim(&c), 64);
    gsg_net_destroy(net);
}

TEST(init_statistics_and_determinism)
{
    struct gsg_net_config c;
    CHECK_OK(gsg_net_config_recipe(&c, "cifar"));
    c.width = 16; c.zero_init_residual = 1;
    c.proj_hidden = 64; c.proj_dim = 32; c.pred_hidden = 16;
    struct gsg_net *a = NULL, *b = NULL, *d = NULL;
    CHECK_OK(gsg_net_create(&a, &c, 2, 8, 8, GSG_DEV_CPU, 7, 0));
    CHECK_OK(gsg_net_create(&b, &c, 4, 8, 8, GSG_DEV_CPU, 7, GSG_NET_INFERENCE));
    CHECK_OK(gsg_net_create(&d, &c, 2, 8, 8, GSG_DEV_CPU, 8, 0));
    if (!a || !b || !d) return;
    int64_t n1, n2;
    float *pa = gsg_net_param_data(a, &n1), *pb = gsg_net_param_data(b, &n2);
    CHECK_EQ_I64(n1, n2);
    CHECK(memcmp(pa, pb, (size_t)n1 * 4) == 0);             /* same seed, same weights */
    CHECK(memcmp(pa, gsg_net_param_data(d, NULL), (size_t)n1 * 4) != 0);
    CHECK(gsg_net_grad_data(b, NULL) == NULL);
    /* kaiming normal fan_out: layer3.0.conv2 [64,64,3,3], std sqrt(2/(64*9)) */
    const struct gsg_param *w = gsg_net_param_find(a, "layer3.0.conv2.weight");
    double s = 0, s2 = 0;
    int64_t n = gsg_tensor_numel(&w->value);
    for (int64_t i = 0; i < n; i++) { double v = ((float *)w->value.data)[i]; s += v; s2 += v * v; }
    double sd = sqrt(s2 / n - (s / n) * (s / n));
    CHECK_CLOSE(sd, sqrt(2.0 / (64 * 9)), 0.05, 0);
    CHECK(fabs(s / n) < 0.01);
    /* linear default: uniform(-1/sqrt(in), 1/sqrt(in)); projector.0 in = 128 */
    w = gsg_net_param_find(a, "projector.0.weight");
    n = gsg_tensor_numel(&w->value);
    double mx = 0; s2 = 0;
    for (int64_t i = 0; i < n; i++) { double v = fabs(((float *)w->value.data)[i]); if (v > mx) mx = v; s2 += v * v; }
    CHECK(mx <= 1.0 / sqrt(128.0));
    CHECK(mx > 0.95 / sqrt(128.0));
    CHECK_CLOSE(sqrt(s2 / n), 1.0 / sqrt(128.0) / sqrt(3.0), 0.05, 0);
    /* BN: gamma 1, beta 0; zero_init_residual zeroes bn2 of basic blocks; running_var 1 */
    CHECK(((float *)gsg_net_param_find(a, "bn1.weight")->value.data)[3] == 1.0f);
    CHECK(((float *)gsg_net_param_find(a, "layer1.0.bn1.weight")->value.data)[0] == 1.0f);
    CHECK(((float *)gsg_net_param_find(a, "layer1.0.bn2.weight")->value.data)[0] == 0.0f);
    CHECK(((float *)gsg_net_param_find(a, "layer1.0.bn2.bias")->value.data)[0] == 0.0f);
    CHECK(((float *)gsg_net_buffer_find(a, "layer1.0.bn2.running_var")->value.data)[0] == 1.0f);
    CHECK(((float *)gsg_net_buffer_find(a, "layer1.0.bn2.running_mean")->value.data)[0] == 0.0f);
    gsg_net_destroy(a); gsg_net_destroy(b); gsg_net_destroy(d);
}

TEST(config_text_round_trip)
{
    struct gsg_net_config c, d;
    CHECK_OK(gsg_net_config_recipe(&c, "imagenet"));
    char buf[1024] = "lr=0.05\n";
    CHECK(gsg_net_config_format(&c, buf, sizeof buf) == 0);
    CHECK_OK(gsg_net_config_parse(&d, buf));
    CHECK(memcmp(&c, &d, sizeof c) == 0);
    CHECK(gsg_net_config_parse(&d, "arch=resnet18\n") == GSG_E_FORMAT);
    CHECK(strstr(gsg_err_msg(), "stem") != NULL);
    CHECK(gsg_net_config_recipe(&d, "mnist") == GSG_E_USAGE);
    c.proj_layers = 4;
    CHECK(gsg_net_config_check(&c) == GSG_E_USAGE);
    CHECK(strstr(gsg_err_msg(), "proj_layers") != NULL);
}

/* Run forward+backward on a random batch and check shapes, finiteness and that
 * every parameter received some gradient. */
static void run_fwd_bwd(const struct gsg_net_config *c, int64_t N, int64_t H, int64_t W)
{
    struct gsg_net *net = NULL;
    struct gsg_net_ctx *ctx = NULL;
    CHECK_OK(gsg_net_create(&net, c, N, H, W, GSG_DEV_CPU, 3, 0));
    if (!net) return;
    CHECK_OK(gsg_net_ctx_create(net, &ctx));
    int64_t D = c->proj_dim, F = gsg_net_feature_dim(c);
    float *x = malloc((size_t)(N * H * W * c->in_channels) * 4), *dz = malloc((size_t)(N * D) * 4);
    float *dp = malloc((size_t)(N * D) * 4);
    fill_normal(x, N * H * W * c->in_channels, 1, 1);
    fill_normal(dz, N * D, 1, 2);
    fill_normal(dp, N * D, 1, 3);
    struct gsg_tensor xt = gsg_tview(x, GSG_DTYPE_F32, 4, N, H, W, (int64_t)c->in_channels);
    struct gsg_net_out o;
    CHECK_OK(gsg_net_forward(net, ctx, &o, &xt, GSG_FWD_TRAIN));
    CHECK(o.h.ndim == 2 && o.h.dims[0] == N && o.h.dims[1] == F);
    CHECK(o.z.ndim == 2 && o.z.dims[0] == N && o.z.dims[1] == D);
    CHECK(o.p.ndim == 2 && o.p.dims[1] == D);
    CHECK(all_finite(o.h.data, N * F) && all_finite(o.p.data, N * D));
    /* z ends in affine-free BN: every column has batch mean 0, biased variance ~1 */
    double m = 0, v = 0;
    for (int64_t i = 0; i < N; i++) m += ((float *)o.z.data)[i * D];
    m /= N;
    for (int64_t i = 0; i < N; i++) { double t = ((float *)o.z.data)[i * D] - m; v += t * t; }
    CHECK(fabs(m) < 1e-4);
    CHECK_CLOSE(v / N, 1.0, 1e-2, 0);
    struct gsg_tensor dzt = gsg_tview(dz, GSG_DTYPE_F32, 2, N, D), dpt = gsg_tview(dp, GSG_DTYPE_F32, 2, N, D);
    gsg_net_zero_grad(net);
    CHECK_OK(gsg_net_backward(net, ctx, &dzt, &dpt));
    CHECK(gsg_net_backward(net, ctx, &dzt, &dpt) == GSG_E_USAGE);   /* one backward per forward */
    int64_t ng;
    float *g = gsg_net_grad_data(net, &ng);
    CHECK(all_finite(g, ng));
    int zero_grads = 0;
    for (int i = 0; i < gsg_net_param_count(net); i++) {
        const struct gsg_param *p = gsg_net_param(net, i);
        double s = 0;
        for (int64_t k = 0; k < gsg_tensor_numel(&p->grad); k++) s += fabs(((float *)p->grad.data)[k]);
        if (!(s > 0)) { zero_grads++; printf("  zero gradient: %s\n", p->name); }
    }
    CHECK_EQ_I64(zero_grads, 0);
    /* eval modes */
    CHECK_OK(gsg_net_forward(net, ctx, &o, &xt, GSG_FWD_EVAL));
    CHECK(all_finite(o.p.data, N * D));
    CHECK(gsg_net_backward(net, ctx, &dzt, &dpt) == GSG_E_USAGE);
    CHECK_OK(gsg_net_forward(net, ctx, &o, &xt, GSG_FWD_EVAL_BACKBONE));
    CHECK(o.z.data == NULL && o.h.dims[1] == F);
    CHECK_EQ_I64(*(int64_t *)gsg_net_buffer_find(net, "bn1.num_batches_tracked")->value.data, 1);
    free(x); free(dz); free(dp);
    gsg_net_ctx_destroy(ctx);
    gsg_net_destroy(net);
}

TEST(resnet18_cifar_fwd_bwd)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 3, 4, 5);
    run_fwd_bwd(&c, 4, 8, 8);
}

TEST(resnet18_imagenet_fwd_bwd)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET18, GSG_STEM_IMAGENET, 3, 4, 5);
    run_fwd_bwd(&c, 3, 19, 17);
}

TEST(resnet50_fwd_bwd)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET50, GSG_STEM_IMAGENET, 3, 2, 5);
    c.proj_layers = 3;
    run_fwd_bwd(&c, 3, 16, 16);
}

TEST(resnet34_no_predictor_fwd_bwd)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET34, GSG_STEM_CIFAR, 1, 2, 0);
    run_fwd_bwd(&c, 3, 7, 7);
}

/* L = sum(z * Rz) + sum(p * Rp), in double from the f32 outputs. */
static double loss_of(struct gsg_net *net, struct gsg_net_ctx *ctx, const struct gsg_tensor *x, const float *rz,
                      const float *rp, int64_t ND)
{
    struct gsg_net_out o;
    if (gsg_net_forward(net, ctx, &o, x, GSG_FWD_TRAIN) < 0) return NAN;
    double L = 0;
    for (int64_t i = 0; i < ND; i++) L += (double)((float *)o.z.data)[i] * rz[i] + (double)((float *)o.p.data)[i] * rp[i];
    return L;
}

static void fd_check(const struct gsg_net_config *c, int64_t N, int64_t H, int64_t W, const char **names,
                     const int *idx, int ncoord)
{
    struct gsg_net *net = NULL;
    struct gsg_net_ctx *ctx = NULL;
    CHECK_OK(gsg_net_create(&net, c, N, H, W, GSG_DEV_CPU, 11, 0));
    if (!net) return;
    CHECK_OK(gsg_net_ctx_create(net, &ctx));
    int64_t D = c->proj_dim, ND = N * D, nx = N * H * W * c->in_channels;
    float *x = malloc((size_t)nx * 4), *rz = malloc((size_t)ND * 4), *rp = malloc((size_t)ND * 4);
    fill_normal(x, nx, 5, 1);
    fill_normal(rz, ND, 5, 2);
    fill_normal(rp, ND, 5, 3);
    struct gsg_tensor xt = gsg_tview(x, GSG_DTYPE_F32, 4, N, H, W, (int64_t)c->in_channels);
    struct gsg_tensor rzt = gsg_tview(rz, GSG_DTYPE_F32, 2, N, D), rpt = gsg_tview(rp, GSG_DTYPE_F32, 2, N, D);
    struct gsg_net_out o;
    gsg_net_zero_grad(net);
    CHECK_OK(gsg_net_forward(net, ctx, &o, &xt, GSG_FWD_TRAIN));
    CHECK_OK(gsg_net_backward(net, ctx, &rzt, &rpt));
    for (int k = 0; k < ncoord; k++) {
        const struct gsg_param *p = gsg_net_param_find(net, names[k]);
        CHECK_MSG(p != NULL, "no parameter %s", names[k]);
        if (!p) continue;
        float *w = (float *)p->value.data + idx[k];
        double g = ((float *)p->grad.data)[idx[k]];
        float w0 = *w;
        double best = INFINITY, fd = 0;
        /* four step sizes; accept the closest (f32 rounding vs curvature and ReLU kinks) */
        for (int e = 0; e < 4; e++) {
            static const float steps[4] = {1e-2f, 3e-3f, 1e-3f, 3e-4f};
            float eps = steps[e];
            float wp = w0 + eps, wm = w0 - eps;
            *w = wp;
            double lp = loss_of(net, ctx, &xt, rz, rp, ND);
            *w = wm;
            double lm = loss_of(net, ctx, &xt, rz, rp, ND);
            *w = w0;
            double f = (lp - lm) / ((double)wp - (double)wm);
            if (fabs(f - g) < best) { best = fabs(f - g); fd = f; }
        }
        CHECK_MSG(fabs(fd - g) <= 0.05 * fabs(g) + 0.02, "%s[%d]: analytic %.6g, finite difference %.6g", names[k],
                  idx[k], g, fd);
    }
    free(x); free(rz); free(rp);
    gsg_net_ctx_destroy(ctx);
    gsg_net_destroy(net);
}

TEST(finite_difference_resnet18_cifar)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 3, 4, 3);
    const char *names[] = {"conv1.weight", "bn1.weight", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight",
                           "layer3.1.bn1.bias", "layer4.1.conv2.weight", "projector.0.weight", "projector.1.weight",
                           "projector.3.weight", "predictor.0.weight", "predictor.1.bias", "predictor.3.bias",
                           "predictor.3.weight"};
    const int idx[] = {3, 1, 7, 2, 0, 11, 5, 2, 4, 1, 2, 3, 7};
    fd_check(&c, 4, 32, 32, names, idx, 13);
}

TEST(finite_difference_resnet50_imagenet)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET50, GSG_STEM_IMAGENET, 1, 2, 0);
    c.proj_layers = 3;
    const char *names[] = {"conv1.weight", "layer1.0.conv3.weight", "layer1.0.downsample.1.weight",
                           "layer3.2.conv2.weight", "projector.3.weight", "projector.6.weight"};
    const int idx[] = {10, 1, 2, 4, 3, 1};
    fd_check(&c, 4, 64, 64, names, idx, 6);
}

TEST(contexts_are_independent_and_grads_accumulate)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, 2, 3);
    int64_t N = 4, H = 6, W = 6, D = c.proj_dim;
    struct gsg_net *net = NULL;
    struct gsg_net_ctx *c1 = NULL, *c2 = NULL;
    CHECK_OK(gsg_net_create(&net, &c, N, H, W, GSG_DEV_CPU, 2, 0));
    if (!net) return;
    CHECK_OK(gsg_net_ctx_create(net, &c1));
    CHECK_OK(gsg_net_ctx_create(net, &c2));
    float x1[4 * 36], x2[4 * 36], dz[4 * 6], dp[4 * 6];
    fill_normal(x1, N * H * W, 9, 1);
    fill_normal(x2, N * H * W, 9, 2);
    fill_normal(dz, N * D, 9, 3);
    fill_normal(dp, N * D, 9, 4);
    struct gsg_tensor t1 = gsg_tview(x1, GSG_DTYPE_F32, 4, N, H, W, (int64_t)1);
    struct gsg_tensor t2 = gsg_tview(x2, GSG_DTYPE_F32, 4, N, H, W, (int64_t)1);
    struct gsg_tensor dzt = gsg_tview(dz, GSG_DTYPE_F32, 2, N, D), dpt = gsg_tview(dp, GSG_DTYPE_F32, 2, N, D);
    int64_t ng;
    float *g = gsg_net_grad_data(net, &ng);
    float *g1 = malloc((size_t)ng * 4), *g2 = malloc((size_t)ng * 4);
    struct gsg_net_out o;
    /* separately */
    gsg_net_zero_grad(net);
    CHECK_OK(gsg_net_forward(net, c1, &o, &t1, GSG_FWD_TRAIN));
    CHECK_OK(gsg_net_backward(net, c1, &dzt, &dpt));
    memcpy(g1, g, (size_t)ng * 4);
    gsg_net_zero_grad(net);
    CHECK_OK(gsg_net_forward(net, c1, &o, &t2, GSG_FWD_TRAIN));
    CHECK_OK(gsg_net_backward(net, c1, &dzt, &dpt));
    memcpy(g2, g, (size_t)ng * 4);
    /* interleaved in two contexts: forward 1, forward 2, backward 2, backward 1 */
    gsg_net_zero_grad(net);
    CHECK_OK(gsg_net_forward(net, c1, &o, &t1, GSG_FWD_TRAIN));
    CHECK_OK(gsg_net_forward(net, c2, &o, &t2, GSG_FWD_TRAIN));
    CHECK_OK(gsg_net_backward(net, c2, &dzt, &dpt));
    CHECK_OK(gsg_net_backward(net, c1, &dzt, &dpt));
    double worst = 0;
    for (int64_t i = 0; i < ng; i++) {
        double e = fabs((double)g[i] - ((double)g1[i] + g2[i])) / (1e-3 + fabs((double)g1[i] + g2[i]));
        if (e > worst) worst = e;
    }
    CHECK_MSG(worst < 1e-3, "interleaved gradients differ from the sum: worst relative error %g", worst);
    /* a smaller batch through the same network */
    struct gsg_tensor t3 = gsg_tview(x1, GSG_DTYPE_F32, 4, (int64_t)3, H, W, (int64_t)1);
    CHECK_OK(gsg_net_forward(net, c1, &o, &t3, GSG_FWD_EVAL));
    CHECK(o.z.dims[0] == 3);
    struct gsg_tensor t5 = gsg_tview(x1, GSG_DTYPE_F32, 4, (int64_t)5, H, W, (int64_t)1);
    CHECK(gsg_net_forward(net, c1, &o, &t5, GSG_FWD_EVAL) == GSG_E_SHAPE);
    CHECK(strstr(gsg_err_msg(), "[5,6,6,1]") != NULL);
    free(g1); free(g2);
    gsg_net_ctx_destroy(c1);
    gsg_net_ctx_destroy(c2);
    gsg_net_destroy(net);
}

TEST(sgd_momentum_weight_decay_by_hand)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, 1, 2);
    struct gsg_net *net = NULL;
    struct gsg_sgd *opt = NULL;
    CHECK_OK(gsg_net_create(&net, &c, 2, 4, 4, GSG_DEV_CPU, 4, 0));
    if (!net) return;
    CHECK_OK(gsg_sgd_create(&opt, net, 0.9, 0.01));
    const struct gsg_param *a = gsg_net_param_find(net, "layer1.0.conv1.weight");
    const struct gsg_param *q = gsg_net_param_find(net, "predictor.3.bias");
    float *wa = a->value.data, *ga = a->grad.data, *wq = q->value.data, *gq = q->grad.data;
    double w = wa[0], m = 0, v = wq[1], mv = 0;
    const double g1 = 0.5, g2 = -0.25, lr = 0.1, lrp = 0.03;
    for (int step = 0; step < 3; step++) {
        double g = step == 1 ? g2 : g1;
        gsg_net_zero_grad(net);
        ga[0] = (float)g;
        gq[1] = (float)(2 * g);
        CHECK_OK(gsg_sgd_step(opt, lr, lrp));
        /* torch.optim.SGD: d = g + wd w; m = mu m + d (m = d on the first step); w -= lr m */
        double d = g + 0.01 * w; m = 0.9 * m + d; w -= lr * m;
        double dv = 2 * g + 0.01 * v; mv = 0.9 * mv + dv; v -= lrp * mv;
        CHECK_CLOSE(wa[0], w, 1e-5, 1e-7);
        CHECK_CLOSE(wq[1], v, 1e-5, 1e-7);
    }
    int64_t nm;
    float *mom = gsg_sgd_momentum(opt, &nm);
    CHECK_CLOSE(mom[a->offset], m, 1e-5, 1e-7);
    CHECK(gsg_sgd_step(opt, NAN, 0.1) == GSG_E_NUMERIC);
    gsg_sgd_destroy(opt);
    gsg_net_destroy(net);
}

TEST(cosine_schedule_values)
{
    /* SimSiam: lr = base * 0.5 * (1 + cos(pi * epoch / epochs)) */
    CHECK_CLOSE(gsg_lr_cosine(0.06, 0, 0, 200, 0), 0.06, 1e-12, 0);
    CHECK_CLOSE(gsg_lr_cosine(0.06, 0, 100, 200, 0), 0.03, 1e-12, 1e-15);
    CHECK_CLOSE(gsg_lr_cosine(0.06, 0, 50, 200, 0), 0.06 * 0.5 * (1 + sqrt(0.5)), 1e-12, 0);
    CHECK_CLOSE(gsg_lr_cosine(0.06, 0, 200, 200, 0), 0.0, 0, 1e-15);
    CHECK_CLOSE(gsg_lr_cosine(0.06, 0, 300, 200, 0), 0.0, 0, 1e-15);
    /* warmup 10 of 110: linear up to base, then cosine over the remaining 100 */
    CHECK_CLOSE(gsg_lr_cosine(1.0, 0, 0, 110, 10), 0.1, 1e-12, 0);
    CHECK_CLOSE(gsg_lr_cosine(1.0, 0, 9, 110, 10), 1.0, 1e-12, 0);
    CHECK_CLOSE(gsg_lr_cosine(1.0, 0, 10, 110, 10), 1.0, 1e-12, 0);
    CHECK_CLOSE(gsg_lr_cosine(1.0, 0, 60, 110, 10), 0.5, 1e-12, 0);
    CHECK_CLOSE(gsg_lr_cosine(1.0, 0.1, 60, 110, 10), 0.55, 1e-12, 0);
}

TEST(ema_and_copy_by_hand)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, 2, 3), ct = c;
    ct.pred_hidden = 0;
    struct gsg_net *on = NULL, *tg = NULL;
    CHECK_OK(gsg_net_create(&on, &c, 2, 4, 4, GSG_DEV_CPU, 1, 0));
    CHECK_OK(gsg_net_create(&tg, &ct, 2, 4, 4, GSG_DEV_CPU, 2, GSG_NET_INFERENCE));
    if (!on || !tg) return;
    CHECK_OK(gsg_net_copy(tg, on));
    const struct gsg_param *po = gsg_net_param_find(on, "layer2.1.conv1.weight");
    const struct gsg_param *pt = gsg_net_param_find(tg, "layer2.1.conv1.weight");
    CHECK(memcmp(po->value.data, pt->value.data, gsg_tensor_nbytes(&po->value)) == 0);
    CHECK(gsg_net_param_find(tg, "predictor.0.weight") == NULL);
    float *bo = gsg_net_buffer_find(on, "bn1.running_var")->value.data;
    float *bt = gsg_net_buffer_find(tg, "bn1.running_var")->value.data;
    double xi = ((float *)pt->value.data)[3];
    ((float *)po->value.data)[3] += 1.0f;
    double th = ((float *)po->value.data)[3];
    bo[0] = 5.0f;
    CHECK_OK(gsg_net_ema_update(tg, on, 0.99));
    CHECK_CLOSE(((float *)pt->value.data)[3], 0.99 * xi + 0.01 * th, 1e-6, 1e-7);
    CHECK(bt[0] == 1.0f);                                     /* buffers untouched */
    CHECK(gsg_net_copy(on, tg) == GSG_E_SHAPE);               /* the target has no predictor to give */
    gsg_net_destroy(on);
    gsg_net_destroy(tg);
}

/* The synchronised-BN plan: with an all-reduce hook every training BN runs as statistics -> hook ->
 * apply. The identity hook (one rank) and a hook that doubles the sums (two ranks holding the same
 * batch) must both give the fused plan's projections and gradients; the hook runs once per BN in
 * the forward and once per BN in the backward; a failing hook fails the forward naming the layer. */
struct hook_state { int calls, scale, fail; };
static gsg_status test_hook(void *arg, struct gsg_tensor *sums)
{
    struct hook_state *h = arg;
    h->calls++;
    if (h->fail) return gsg_err_set(GSG_E_IO, "all-reduce failed");
    CHECK(sums->dtype == GSG_DTYPE_F64 && sums->ndim == 1 && sums->dims[0] % 2 == 1);
    double *v = sums->data;
    for (int64_t i = 0; i < sums->dims[0]; i++) v[i] *= h->scale;
    return GSG_OK;
}

TEST(bn_allreduce_hook_plan)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, 4, 5);
    int64_t N = 6, H = 8, W = 8, D = c.proj_dim;
    float x[6 * 64], dp[6 * 6];
    fill_normal(x, N * H * W, 5, 1);
    fill_normal(dp, N * D, 5, 2);
    struct gsg_tensor xt = gsg_tview(x, GSG_DTYPE_F32, 4, N, H, W, (int64_t)1), dpt = gsg_tview(dp, GSG_DTYPE_F32, 2, N, D);
    float *zref = NULL, *gref = NULL;
    int64_t ng = 0;
    for (int mode = 0; mode < 4; mode++) {   /* 0 fused, 1 identity hook, 2 doubling hook, 3 failing hook */
        struct gsg_net *net = NULL;
        struct gsg_net_ctx *ctx = NULL;
        CHECK_OK(gsg_net_create(&net, &c, N, H, W, GSG_DEV_CPU, 3, 0));
        if (!net) return;
        CHECK_OK(gsg_net_ctx_create(net, &ctx));
        struct hook_state hs = {0, mode == 2 ? 2 : 1, mode == 3};
        if (mode) gsg_net_set_bn_allreduce(net, test_hook, &hs);
        int nbn = gsg_net_buffer_count(net) / 3;
        struct gsg_net_out o;
        CHECK_OK(gsg_net_zero_grad(net));
        gsg_status st = gsg_net_forward(net, ctx, &o, &xt, GSG_FWD_TRAIN);
        if (mode == 3) {
            CHECK(st == GSG_E_IO);
            CHECK(strstr(gsg_err_msg(), "bn1.running_mean") != NULL && strstr(gsg_err_msg(), "all-reduce failed") != NULL);
        } else {
            CHECK_OK(st);
            CHECK_EQ_I64(hs.calls, mode ? nbn : 0);
            CHECK_OK(gsg_net_backward(net, ctx, NULL, &dpt));
            CHECK_EQ_I64(hs.calls, mode ? 2 * nbn : 0);
            float *g = gsg_net_grad_data(net, &ng);
            if (mode == 0) {
                zref = malloc((size_t)(N * D) * 4);
                gref = malloc((size_t)ng * 4);
                memcpy(zref, o.p.data, (size_t)(N * D) * 4);
                memcpy(gref, g, (size_t)ng * 4);
            } else {
                CHECK_MSG(check_nmse(o.p.data, zref, N * D) < 1e-10, "p: nmse %g", check_nmse(o.p.data, zref, N * D));
                CHECK_MSG(check_nmse(g, gref, ng) < 1e-10, "gradients: nmse %g", check_nmse(g, gref, ng));
            }
        }
        gsg_net_ctx_destroy(ctx);
        gsg_net_destroy(net);
    }
    free(zref);
    free(gref);
}

TEST(refuses_bad_arguments)
{
    struct gsg_net_config c = tiny_cfg(GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, 2, 3);
    struct gsg_net *net = NULL;
    CHECK(gsg_net_create(&net, &c, 0, 4, 4, GSG_DEV_CPU, 1, 0) == GSG_E_USAGE);
    /* without a GPU (or a CUDA build) the backend's reason; with one, the first op lacking a kernel */
    gsg_status cst = gsg_net_create(&net, &c, 2, 4, 4, GSG_DEV_CUDA, 1, 0);
    if (cst == GSG_OK) gsg_net_destroy(net), net = NULL;
    else {
        CHECK(cst == GSG_E_NO_CUDA || cst == GSG_E_UNSUPPORTED);
        CHECK(strlen(gsg_err_msg()) > 0 && strchr(gsg_err_msg(), '\n') == NULL);
    }
    c.width = 0;
    CHECK(gsg_net_create(&net, &c, 2, 4, 4, GSG_DEV_CPU, 1, 0) == GSG_E_USAGE);
    CHECK(strstr(gsg_err_msg(), "width") != NULL);
    CHECK(net == NULL);
}

/* --parity-dump FILE: a tensor stream for tests/pipelines/torch_parity.py:
 * the initial weights and buffers (w.<name>), the input x [N,H,W,C], eval-mode
 * outputs (eval.h/z/p), then one training-mode forward (train.z/p) and backward
 * with dz, dp (g.<name> = gradients, b.<name> = buffers after the step). */
static int parity_dump(const char *path, int64_t width, int64_t N, int64_t H)
{
    struct gsg_net_config c;
    gsg_net_config_recipe(&c, "cifar");
    c.width = (int)width; c.proj_hidden = 64; c.proj_dim = 32; c.pred_hidden = 16;
    struct gsg_net *net = NULL;
    struct gsg_net_ctx *ctx = NULL;
    struct gsg_tstream_writer *w = NULL;
    gsg_status st = gsg_net_create(&net, &c, N, H, H, GSG_DEV_CPU, 2024, 0);
    if (st >= 0) st = gsg_net_ctx_create(net, &ctx);
    if (st >= 0) st = gsg_tstream_open_write(&w, path, 1);
    if (st < 0) { fprintf(stderr, "test_nn: %s\n", gsg_err_msg()); return 1; }
    char name[300], meta[2048] = "";
    gsg_net_config_format(&c, meta, sizeof meta);
    for (int i = 0; st >= 0 && i < gsg_net_param_count(net); i++) {
        snprintf(name, sizeof name, "w.%s", gsg_net_param(net, i)->name);
        st = gsg_tstream_write(w, name, 0, i ? NULL : meta, &gsg_net_param(net, i)->value);
    }
    for (int i = 0; st >= 0 && i < gsg_net_buffer_count(net); i++) {
        snprintf(name, sizeof name, "w.%s", gsg_net_buffer(net, i)->name);
        st = gsg_tstream_write(w, name, 0, NULL, &gsg_net_buffer(net, i)->value);
    }
    int64_t D = c.proj_dim;
    float *x = malloc((size_t)(N * H * H * 3) * 4), *dz = malloc((size_t)(N * D) * 4), *dp = malloc((size_t)(N * D) * 4);
    fill_normal(x, N * H * H * 3, 77, 1);
    fill_normal(dz, N * D, 77, 2);
    fill_normal(dp, N * D, 77, 3);
    struct gsg_tensor xt = gsg_tview(x, GSG_DTYPE_F32, 4, N, H, H, (int64_t)3);
    struct gsg_tensor dzt = gsg_tview(dz, GSG_DTYPE_F32, 2, N, D), dpt = gsg_tview(dp, GSG_DTYPE_F32, 2, N, D);
    struct gsg_net_out o;
    if (st >= 0) st = gsg_tstream_write(w, "x", 0, NULL, &xt);
    if (st >= 0) st = gsg_tstream_write(w, "dz", 0, NULL, &dzt);
    if (st >= 0) st = gsg_tstream_write(w, "dp", 0, NULL, &dpt);
    if (st >= 0) st = gsg_net_forward(net, ctx, &o, &xt, GSG_FWD_EVAL);
    if (st >= 0) st = gsg_tstream_write(w, "eval.h", 0, NULL, &o.h);
    if (st >= 0) st = gsg_tstream_write(w, "eval.z", 0, NULL, &o.z);
    if (st >= 0) st = gsg_tstream_write(w, "eval.p", 0, NULL, &o.p);
    gsg_net_zero_grad(net);
    if (st >= 0) st = gsg_net_forward(net, ctx, &o, &xt, GSG_FWD_TRAIN);
    if (st >= 0) st = gsg_tstream_write(w, "train.h", 0, NULL, &o.h);
    if (st >= 0) st = gsg_tstream_write(w, "train.z", 0, NULL, &o.z);
    if (st >= 0) st = gsg_tstream_write(w, "train.p", 0, NULL, &o.p);
    if (st >= 0) st = gsg_net_backward(net, ctx, &dzt, &dpt);
    for (int i = 0; st >= 0 && i < gsg_net_param_count(net); i++) {
        snprintf(name, sizeof name, "g.%s", gsg_net_param(net, i)->name);
        st = gsg_tstream_write(w, name, 0, NULL, &gsg_net_param(net, i)->grad);
    }
    for (int i = 0; st >= 0 && i < gsg_net_buffer_count(net); i++) {
        snprintf(name, sizeof name, "b.%s", gsg_net_buffer(net, i)->name);
        st = gsg_tstream_write(w, name, 0, NULL, &gsg_net_buffer(net, i)->value);
    }
    if (st >= 0) st = gsg_tstream_close(w);
    else gsg_tstream_abort(w);
    free(x); free(dz); free(dp);
    gsg_net_ctx_destroy(ctx);
    gsg_net_destroy(net);
    if (st < 0) { fprintf(stderr, "test_nn: %s\n", gsg_err_msg()); return 1; }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--parity-dump")) return parity_dump(argv[2], 64, 4, 16);
    if (argc == 4 && !strcmp(argv[1], "--parity-dump-width")) return parity_dump(argv[3], atoi(argv[2]), 4, 16);
    RUN(names_match_torchvision_resnet18);
    RUN(names_resnet50_imagenet);
    RUN(init_statistics_and_determinism);
    RUN(config_text_round_trip);
    RUN(resnet18_cifar_fwd_bwd);
    RUN(resnet18_imagenet_fwd_bwd);
    RUN(resnet50_fwd_bwd);
    RUN(resnet34_no_predictor_fwd_bwd);
    RUN(finite_difference_resnet18_cifar);
    RUN(finite_difference_resnet50_imagenet);
    RUN(contexts_are_independent_and_grads_accumulate);
    RUN(sgd_momentum_weight_decay_by_hand);
    RUN(cosine_schedule_values);
    RUN(ema_and_copy_by_hand);
    RUN(bn_allreduce_hook_plan);
    RUN(refuses_bad_arguments);
    return check_summary();
}
