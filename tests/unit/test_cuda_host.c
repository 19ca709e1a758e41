/* test_cuda_host.c: the CUDA backend's host-side logic, on the CPU (lib/cuda/host.c, cuda_host.h):
 * precision parsing and the process setting, algorithm choice, the per-layer choice cache, launch
 * geometry, batch norm's chunking, the CUDA-graph state machine, k-NN candidate keys, and the one-line
 * refusal of every CUDA entry point on a machine without a GPU. */
#include "check.h"
#include "cuda/cuda_host.h"
#include "cuda/gsg_cuda.h"
#include "ops/ops.h"
#include <stdlib.h>

TEST(precision_parse_and_setting)
{
    enum gsg_precision p = GSG_PREC_FP32;
    CHECK(gsg_precision_parse("bf16", &p) == 0 && p == GSG_PREC_BF16);
    CHECK(gsg_precision_parse("fp32", &p) == 0 && p == GSG_PREC_FP32);
    CHECK(gsg_precision_parse("fp16", &p) == -1);
    CHECK(gsg_precision_parse("", &p) == -1);
    CHECK(gsg_precision_parse(NULL, &p) == -1);
    CHECK(!strcmp(gsg_precision_name(GSG_PREC_BF16), "bf16") && !strcmp(gsg_precision_name(GSG_PREC_FP32), "fp32"));
    /* the environment gives the default at first use; an explicit setting wins */
    setenv("GSG_PRECISION", "bf16", 1);
    CHECK(gsg_cuda_precision() == GSG_PREC_BF16);
    gsg_cuda_set_precision(GSG_PREC_FP32);
    CHECK(gsg_cuda_precision() == GSG_PREC_FP32);
    unsetenv("GSG_PRECISION");
}

TEST(algo_pick_rules)
{
    struct gsg_algo_perf l[4] = {
        {7, 0, 0.1f, 0, 1},          /* best ranked but cannot run */
        {3, 1, 0.2f, 1000, 0},       /* runs, not deterministic */
        {5, 1, 0.3f, 1u << 20, 1},   /* deterministic, 1 MiB */
        {1, 1, 0.9f, 10, 1},         /* deterministic, small */
    };
    CHECK_EQ_I64(gsg_algo_pick(l, 4, 1u << 30, 1), 2);   /* first deterministic that fits */
    CHECK_EQ_I64(gsg_algo_pick(l, 4, 1u << 30, 0), 1);   /* ranking order when determinism is not asked */
    CHECK_EQ_I64(gsg_algo_pick(l, 4, 4096, 1), 3);       /* 1 MiB does not fit: the next deterministic */
    CHECK_EQ_I64(gsg_algo_pick(l, 2, 1u << 30, 1), 1);   /* no deterministic one: the first that runs */
    CHECK_EQ_I64(gsg_algo_pick(l, 2, 100, 1), -1);       /* nothing fits */
    CHECK_EQ_I64(gsg_algo_pick(l, 0, 100, 1), -1);
}

TEST(conv_cache_by_shape_and_precision)
{
    struct gsg_conv_cache c = {0};
    struct gsg_conv_key a = {512, 32, 32, 64, 64, 3, 1, 1, GSG_PREC_FP32}, b = a;
    b.prec = GSG_PREC_BF16;
    struct gsg_conv_choice va = {1, 1, 1, {3, 3, 3}, 100, 200, 300, 0}, vb = {2, 0, 3, {1, 1, 1}, 1, 2, 3, 1};
    CHECK(gsg_conv_cache_find(&c, &a) == NULL);
    CHECK(gsg_conv_cache_put(&c, &a, &va) == 0);
    CHECK(gsg_conv_cache_find(&c, &b) == NULL);   /* precision is part of the key */
    CHECK(gsg_conv_cache_put(&c, &b, &vb) == 0);
    const struct gsg_conv_choice *h = gsg_conv_cache_find(&c, &a);
    CHECK(h && h->fwd == 1 && h->ws_bwd_filter == 300 && h->math[0] == 3);
    h = gsg_conv_cache_find(&c, &b);
    CHECK(h && h->fwd == 2 && h->bwd_filter == 3 && h->fp32_fallback == 1);   /* the bf16 fallback is cached too */
    va.fwd = 6;
    CHECK(gsg_conv_cache_put(&c, &a, &va) == 0);   /* replace, no duplicate */
    CHECK_EQ_I64(c.n, 2);
    CHECK(gsg_conv_cache_find(&c, &a)->fwd == 6);
    for (int i = 0; i < 40; i++) {   /* growth keeps earlier entries */
        struct gsg_conv_key k = a;
        k.N = 1000 + i;
        struct gsg_conv_choice v = {i, i, i, {0, 0, 0}, 0, 0, 0, 0};
        CHECK(gsg_conv_cache_put(&c, &k, &v) == 0);
    }
    CHECK_EQ_I64(c.n, 42);
    struct gsg_conv_key k = a;
    k.N = 1033;
    CHECK(gsg_conv_cache_find(&c, &k) && gsg_conv_cache_find(&c, &k)->fwd == 33);
    k.stride = 2;
    CHECK(gsg_conv_cache_find(&c, &k) == NULL);
    gsg_conv_cache_free(&c);
    CHECK(c.n == 0 && c.keys == NULL);
}

TEST(launch_geometry)
{
    CHECK_EQ_I64(gsg_cuda_blocks(0, 256, 1, 0), 1);
    CHECK_EQ_I64(gsg_cuda_blocks(256, 256, 1, 0), 1);
    CHECK_EQ_I64(gsg_cuda_blocks(257, 256, 1, 0), 2);
    CHECK_EQ_I64(gsg_cuda_blocks(1 << 20, 256, 4, 0), 1024);
    CHECK_EQ_I64(gsg_cuda_blocks((int64_t)1 << 40, 256, 1, 65535), 65535);
}

TEST(bn_chunks_bounds)
{
    int64_t Ms[] = {2, 15, 16, 100, 4096, 131072, 524288, (int64_t)1 << 26};
    int64_t Cs[] = {1, 16, 64, 512, 2048};
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof Cs / sizeof *Cs; j++) {
            int g = gsg_bn_chunks(Ms[i], Cs[j]);
            CHECK_MSG(g >= 1 && g <= 256, "M=%lld C=%lld: %d", (long long)Ms[i], (long long)Cs[j], g);
            CHECK_MSG(g == 1 || Ms[i] / g >= 16, "M=%lld C=%lld: %d", (long long)Ms[i], (long long)Cs[j], g);
            CHECK(g == gsg_bn_chunks(Ms[i], Cs[j]));
        }
    CHECK(gsg_bn_chunks(524288, 16) > 64);    /* narrow layers still fill the GPU */
    CHECK(gsg_bn_chunks(8, 64) == 1);
}

TEST(graph_state_machine)
{
    struct gsg_graph_state s;
    int drop = 7;
    gsg_graph_state_init(&s, 1);
    CHECK_EQ_I64(gsg_graph_next(&s, 42, &drop), GSG_GRAPH_EAGER);
    CHECK(drop == 0);
    CHECK_EQ_I64(gsg_graph_next(&s, 42, &drop), GSG_GRAPH_CAPTURE);
    gsg_graph_captured(&s, 1);
    CHECK_EQ_I64(gsg_graph_next(&s, 42, &drop), GSG_GRAPH_REPLAY);
    CHECK_EQ_I64(gsg_graph_next(&s, 42, &drop), GSG_GRAPH_REPLAY);
    CHECK(drop == 0);
    /* a new key (another batch shape) drops the graph and warms up again */
    CHECK_EQ_I64(gsg_graph_next(&s, 43, &drop), GSG_GRAPH_EAGER);
    CHECK(drop == 1);
    CHECK_EQ_I64(gsg_graph_next(&s, 43, &drop), GSG_GRAPH_CAPTURE);
    gsg_graph_captured(&s, 0);   /* capture failed: stay eager for this key */
    for (int i = 0; i < 3; i++) CHECK_EQ_I64(gsg_graph_next(&s, 43, &drop), GSG_GRAPH_EAGER);
    CHECK(drop == 0);
    CHECK_EQ_I64(gsg_graph_next(&s, 42, &drop), GSG_GRAPH_EAGER);   /* nothing captured to drop */
    CHECK(drop == 0);
    gsg_graph_state_init(&s, 0);   /* no warm-up: capture at once */
    CHECK_EQ_I64(gsg_graph_next(&s, 1, &drop), GSG_GRAPH_CAPTURE);
    uint64_t k1 = gsg_graph_key(0, "abc", 3), k2 = gsg_graph_key(0, "abd", 3);
    CHECK(k1 != k2 && k1 == gsg_graph_key(0, "abc", 3));
    CHECK(gsg_graph_key(k1, "x", 1) != gsg_graph_key(k2, "x", 1));
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

TEST(knn_keys_order_as_knn_h)
{
    const float sims[] = {0.5f, -0.25f, 0.5f, 1.0f, -1.0f, 0.0f, -0.0f, 0.5f, 1e-30f, -1e-30f, 0.75f};
    const int n = (int)(sizeof sims / sizeof *sims);
    uint64_t key[16];
    for (int i = 0; i < n; i++) {
        key[i] = gsg_knn_key(sims[i], (uint32_t)(i * 1000));
        CHECK(key[i] != 0);   /* above the empty slot */
        CHECK(gsg_knn_key_sim(key[i]) == sims[i] && gsg_knn_key_index(key[i]) == (uint32_t)(i * 1000));
        CHECK(!signbit(gsg_knn_key_sim(gsg_knn_key(-0.0f, 1))));
    }
    qsort(key, (size_t)n, sizeof *key, cmp_desc);
    for (int i = 1; i < n; i++) {
        float s0 = gsg_knn_key_sim(key[i - 1]), s1 = gsg_knn_key_sim(key[i]);
        uint32_t i0 = gsg_knn_key_index(key[i - 1]), i1 = gsg_knn_key_index(key[i]);
        /* higher similarity first; equal similarity (0 and -0 included): lower index first */
        CHECK_MSG(s0 > s1 || (s0 == s1 && i0 < i1), "%g@%u before %g@%u", s0, i0, s1, i1);
    }
    CHECK(gsg_knn_key_sim(key[0]) == 1.0f && gsg_knn_key_sim(key[n - 1]) == -1.0f);
    CHECK(gsg_knn_key_index(key[1]) == 10000);   /* 0.75 */
    CHECK(gsg_knn_key_index(key[2]) == 0 && gsg_knn_key_index(key[3]) == 2000 && gsg_knn_key_index(key[4]) == 7000);
    /* 0 (index 5000) and -0 (index 6000) tie: the lower index first */
    CHECK(gsg_knn_key(0.0f, 5000) > gsg_knn_key(-0.0f, 6000) && gsg_knn_key(-0.0f, 5000) > gsg_knn_key(0.0f, 6000));
}

TEST(cuda_entry_points_refuse_without_gpu)
{
    float buf[8] = {0};
    CHECK_EQ_I64(gsg_cuda_relu_fwd(buf, buf, 8), GSG_E_NO_CUDA);
    CHECK_MSG(strstr(gsg_err_msg(), "CUDA") != NULL, "%s", gsg_err_msg());
    struct gsg_conv2d_desc d = {2, 8, 8, 4, 8, 3, 1, 1};
    struct gsg_cuda_conv2d *p = (struct gsg_cuda_conv2d *)buf;
    CHECK_EQ_I64(gsg_cuda_conv2d_create(&p, &d), GSG_E_NO_CUDA);
    CHECK(p == NULL);
    CHECK_EQ_I64(gsg_cuda_check("step 3"), GSG_E_NO_CUDA);
    CHECK(!strcmp(gsg_cuda_describe(), ""));
    struct gsg_cuda_graph *g = NULL;
    if (!gsg_cuda_built()) CHECK_EQ_I64(gsg_cuda_graph_create(&g, 1), GSG_E_NO_CUDA);
    gsg_cuda_graph_destroy(g);
}

/* every cuBLAS/cuDNN symbol the backend calls resolves in the libraries found at run time */
TEST(cuda_libraries_resolve)
{
    size_t v = 0;
    gsg_status st = gsg_cuda_libs_probe(&v);
    if (!gsg_cuda_built()) {
        CHECK_EQ_I64(st, GSG_E_NO_CUDA);
        return;
    }
    CHECK_MSG(st == GSG_OK || (st == GSG_E_NO_CUDA && strstr(gsg_err_msg(), "cannot load")), "%s", gsg_err_msg());
    if (st == GSG_OK) CHECK_MSG(v / 10000 == 9, "cuDNN version %zu", v);
}

int main(void)
{
    RUN(precision_parse_and_setting);
    RUN(algo_pick_rules);
    RUN(conv_cache_by_shape_and_precision);
    RUN(launch_geometry);
    RUN(bn_chunks_bounds);
    RUN(graph_state_machine);
    RUN(knn_keys_order_as_knn_h);
    RUN(cuda_libraries_resolve);
    if (gsg_cuda_built() && gsg_cuda_init(0) == GSG_OK) SKIP(cuda_entry_points_refuse_without_gpu, "a GPU is present");
    else RUN(cuda_entry_points_refuse_without_gpu);
    return check_summary();
}
