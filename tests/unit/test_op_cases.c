/* test_op_cases.c: every case of the op table (op_cases.h) on the CPU against the references,
 * forward and backward, one PASS/FAIL line per case. tests/gpu/test_ops_gpu.c runs the same table
 * CUDA vs CPU. Also checks that the table covers every op kind. */
#include "check.h"
#include "op_cases.h"

static void run_case(const struct op_case *c)
{
    struct oc_result cpu, ref;
    gsg_status st = oc_run(c, GSG_DEV_CPU, &cpu);
    oc_run(c, OC_REF, &ref);
    int ok = st >= 0;
    if (!ok) printf("  %s: cpu: %s\n", c->name, gsg_err_msg());
    else ok = oc_compare(c, &cpu, &ref, c->ref_tol, "cpu vs reference");
    /* a case must produce something, and the comparison must be able to fail */
    if (ok && (cpu.nout == 0 || cpu.o[0].n == 0)) { printf("  %s: no outputs\n", c->name); ok = 0; }
    if (ok) {
        cpu.o[0].v[cpu.o[0].n / 2] += 1.0f + fabsf(cpu.o[0].v[cpu.o[0].n / 2]);
        if (oc_compare(c, &cpu, &ref, c->ref_tol, NULL)) { printf("  %s: perturbation not detected\n", c->name); ok = 0; }
    }
    oc_result_free(&cpu);
    oc_result_free(&ref);
    if (ok) { check_passed_cases++; printf("PASS op_case_%s\n", c->name); }
    else { check_failed_cases++; printf("FAIL op_case_%s\n", c->name); }
    fflush(stdout);
}

TEST(op_table_covers_every_kind)
{
    int seen[OC_NTXENT + 1] = {0};
    for (int i = 0; i < OC_COUNT; i++) seen[oc_table[i].kind] = 1;
    for (int k = 0; k <= OC_NTXENT; k++) CHECK_MSG(seen[k], "op kind %d has no case", k);
}

/* the ops refuse what they cannot do (one-line errors naming the op) */
TEST(engine_op_errors)
{
    float a[4] = {0}, b[6] = {0};
    struct gsg_tensor ta = gsg_tview(a, GSG_DTYPE_F32, 1, (int64_t)4), tb = gsg_tview(b, GSG_DTYPE_F32, 1, (int64_t)6);
    CHECK(gsg_op_copy(&ta, &tb) == GSG_E_SHAPE);
    CHECK(strstr(gsg_err_msg(), "copy") != NULL);
    CHECK(gsg_op_sgd(&ta, &ta, &tb, 0.1, 0.9, 0) == GSG_E_SHAPE);
    CHECK(gsg_op_sgd(&ta, &ta, &ta, NAN, 0.9, 0) == GSG_E_NUMERIC);
    CHECK(gsg_op_ema(&ta, &tb, 0.5) == GSG_E_SHAPE);
    CHECK(gsg_op_ema(&ta, &ta, 1.5) == GSG_E_USAGE);
    uint8_t u[2 * 2 * 1 * 2 * 2] = {0};
    float y[2 * 2 * 2];
    int64_t rows[2] = {0, 2};
    struct gsg_tensor tu = gsg_tview(u, GSG_DTYPE_U8, 5, (int64_t)2, (int64_t)2, (int64_t)1, (int64_t)2, (int64_t)2);
    struct gsg_tensor ty = gsg_tview(y, GSG_DTYPE_F32, 4, (int64_t)2, (int64_t)2, (int64_t)2, (int64_t)1);
    struct gsg_tensor tr = gsg_tview(rows, GSG_DTYPE_I64, 1, (int64_t)2);
    const float m = 0.5f, s = 0.25f;
    CHECK(gsg_op_views_to_f32(&ty, &tu, 2, NULL, &m, &s) == GSG_E_SHAPE);   /* view out of range */
    CHECK(gsg_op_views_to_f32(&ty, &tu, 1, &tr, &m, &s) == GSG_E_SHAPE);    /* row 2 of 2 images */
    CHECK(strstr(gsg_err_msg(), "rows[1]") != NULL);
    rows[1] = 1;
    CHECK_OK(gsg_op_views_to_f32(&ty, &tu, 1, &tr, &m, &s));
    double sums[3];
    struct gsg_tensor ts = gsg_tview(sums, GSG_DTYPE_F64, 1, (int64_t)3), tx = gsg_tview(a, GSG_DTYPE_F32, 2, (int64_t)1, (int64_t)1);
    struct gsg_tensor sh = gsg_tview(b, GSG_DTYPE_F32, 1, (int64_t)1), mu = gsg_tview(b + 1, GSG_DTYPE_F32, 1, (int64_t)1),
                      is = gsg_tview(b + 2, GSG_DTYPE_F32, 1, (int64_t)1);
    CHECK_OK(gsg_bn_stats(&ts, &tx, &sh));
    CHECK(gsg_bn_finalize(&mu, &is, NULL, NULL, &ts, &sh, 0.1f, 1e-5f) == GSG_E_SHAPE);   /* one value per channel */
    struct gsg_tensor ts2 = gsg_tview(sums, GSG_DTYPE_F64, 1, (int64_t)2);
    CHECK(gsg_bn_stats(&ts2, &tx, &sh) == GSG_E_SHAPE);
}

/* SyncBN semantics: two "ranks" with half the rows each, their sums added (the all-reduce), give
 * the statistics and gradients of BN over all rows */
TEST(bn_split_two_ranks_equal_one)
{
    const int64_t M = 64, C = 5, h = M / 2;
    struct oc_rng g = {42};
    float *x = oc_rand(&g, M * C, -2, 2), *dy = oc_rand(&g, M * C, -1, 1), *gm = oc_rand(&g, C, 0.5, 1.5),
          *bt = oc_rand(&g, C, -1, 1);
    float y[64 * 5], dx[64 * 5], mean[5], inv[5], shift[5] = {0}, dg[5] = {0}, db[5] = {0};
    float fy[64 * 5], fdx[64 * 5], fm[5], fi[5], fdg[5] = {0}, fdb[5] = {0}, rm[5] = {0}, rv[5] = {1, 1, 1, 1, 1};
    double s0[11], s1[11];
    struct gsg_tensor T5 = gsg_tview(NULL, GSG_DTYPE_F32, 1, C);
#define V5(p) (T5.data = (p), T5)
    struct gsg_tensor tsh = V5(shift), tm = V5(mean), ti = V5(inv), tg = V5(gm), tb = V5(bt), tdg = V5(dg), tdb = V5(db);
    struct gsg_tensor S0 = gsg_tview(s0, GSG_DTYPE_F64, 1, 2 * C + 1), S1 = gsg_tview(s1, GSG_DTYPE_F64, 1, 2 * C + 1);
    struct gsg_tensor x0 = gsg_tview(x, GSG_DTYPE_F32, 2, h, C), x1 = gsg_tview(x + h * C, GSG_DTYPE_F32, 2, h, C);
    struct gsg_tensor y0 = gsg_tview(y, GSG_DTYPE_F32, 2, h, C), y1 = gsg_tview(y + h * C, GSG_DTYPE_F32, 2, h, C);
    struct gsg_tensor d0 = gsg_tview(dy, GSG_DTYPE_F32, 2, h, C), d1 = gsg_tview(dy + h * C, GSG_DTYPE_F32, 2, h, C);
    struct gsg_tensor e0 = gsg_tview(dx, GSG_DTYPE_F32, 2, h, C), e1 = gsg_tview(dx + h * C, GSG_DTYPE_F32, 2, h, C);
    CHECK_OK(gsg_bn_stats(&S0, &x0, &tsh));
    CHECK_OK(gsg_bn_stats(&S1, &x1, &tsh));
    for (int i = 0; i < 2 * C + 1; i++) s0[i] = s1[i] = s0[i] + s1[i];   /* the all-reduce */
    CHECK_OK(gsg_bn_finalize(&tm, &ti, NULL, NULL, &S0, &tsh, 0.1f, 1e-5f));
    CHECK_OK(gsg_bn_apply(&y0, &x0, &tm, &ti, &tg, &tb, 1));
    CHECK_OK(gsg_bn_apply(&y1, &x1, &tm, &ti, &tg, &tb, 1));
    CHECK_OK(gsg_bn_bwd_stats(&S0, &tdg, &tdb, &d0, &y0, &x0, &tm, &ti));
    CHECK_OK(gsg_bn_bwd_stats(&S1, &tdg, &tdb, &d1, &y1, &x1, &tm, &ti));   /* dgamma/dbeta: the sum of both ranks */
    for (int i = 0; i < 2 * C + 1; i++) s0[i] = s1[i] = s0[i] + s1[i];
    CHECK_OK(gsg_bn_bwd_apply(&e0, &d0, &y0, &x0, &tg, &tm, &ti, &S0));
    CHECK_OK(gsg_bn_bwd_apply(&e1, &d1, &y1, &x1, &tg, &tm, &ti, &S1));
    /* one rank with every row, the fused kernels */
    struct gsg_tensor X = gsg_tview(x, GSG_DTYPE_F32, 2, M, C), Y = gsg_tview(fy, GSG_DTYPE_F32, 2, M, C);
    struct gsg_tensor DY = gsg_tview(dy, GSG_DTYPE_F32, 2, M, C), DX = gsg_tview(fdx, GSG_DTYPE_F32, 2, M, C);
    struct gsg_tensor fm_ = V5(fm), fi_ = V5(fi), rm_ = V5(rm), rv_ = V5(rv), fdg_ = V5(fdg), fdb_ = V5(fdb);
    CHECK_OK(gsg_batchnorm_relu_fwd(&Y, &fm_, &fi_, &X, &tg, &tb, &rm_, &rv_, 1, 0.1f, 1e-5f));
    CHECK_OK(gsg_batchnorm_relu_bwd(&DX, &fdg_, &fdb_, &DY, &Y, &X, &tg, &fm_, &fi_));
#undef V5
    CHECK(check_nmse(y, fy, M * C) < 1e-12);
    CHECK(check_nmse(dx, fdx, M * C) < 1e-12);
    CHECK(check_nmse(mean, fm, C) < 1e-12 && check_nmse(inv, fi, C) < 1e-12);
    CHECK(check_nmse(dg, fdg, C) < 1e-12 && check_nmse(db, fdb, C) < 1e-12);
    free(x); free(dy); free(gm); free(bt);
}

/* the tensor layer's views inherit the device; staging round-trips; a sub-view is an offset view */
TEST(tensor_views_and_staging)
{
    struct gsg_tensor v = gsg_tview_dev(GSG_DEV_CUDA, (void *)0x1000, GSG_DTYPE_F32, 2, (int64_t)3, (int64_t)4);
    CHECK(v.dev == GSG_DEV_CUDA && v.ndim == 2 && v.dims[0] == 3 && v.dims[1] == 4 && !v.owned);
    struct gsg_tensor s = gsg_tensor_sub(&v, 5, 1, (int64_t[]){7});
    CHECK(s.dev == GSG_DEV_CUDA && s.data == (void *)(0x1000 + 5 * 4) && s.dims[0] == 7);
    CHECK(gsg_tview((void *)0x1000, GSG_DTYPE_U8, 1, (int64_t)1).dev == GSG_DEV_CPU);
    struct gsg_tensor t;
    CHECK_OK(gsg_tensor_alloc(&t, GSG_DTYPE_I64, GSG_DEV_CPU, 1, (int64_t[]){5}));
    int64_t in[5] = {1, -2, 3, -4, 5}, out[5] = {0};
    CHECK_OK(gsg_tensor_from_host(&t, in));
    CHECK_OK(gsg_tensor_to_host(out, &t));
    CHECK(memcmp(in, out, sizeof in) == 0 && ((int64_t *)t.data)[3] == -4);
    gsg_tensor_free(&t);
}

int main(void)
{
    RUN(op_table_covers_every_kind);
    for (int i = 0; i < OC_COUNT; i++) run_case(&oc_table[i]);
    RUN(engine_op_errors);
    RUN(tensor_views_and_staging);
    RUN(bn_split_two_ranks_equal_one);
    return check_summary();
}
