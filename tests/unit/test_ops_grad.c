/* test_ops_grad.c: finite-difference gradient checks, in double, of every op's reference backward
 * (lib/ops/ref.h) against its reference forward. Loss L = sum(g * y) with a random g, so the analytic
 * gradient is the reference backward fed dy = g; each input/parameter element is perturbed by +-h and
 * the central difference is compared. Shapes are small and random-ish, odd sizes and batch 1 included. */
#include "check.h"
#include "ops/ref.h"
#include <math.h>
#include <stdlib.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void)   /* [0,1) */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}
static double *rnd(int64_t n, double lo, double hi)
{
    double *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * urand();
    return p;
}
/* values in +-[lo, hi] with random sign, away from 0 (for relu kinks) */
static double *rnd_away(int64_t n, double lo, double hi)
{
    double *p = rnd(n, lo, hi);
    for (int64_t i = 0; i < n; i++) if (urand() < 0.5) p[i] = -p[i];
    return p;
}
static double *zeros(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }
static double sum_gy(const double *g, const double *y, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += g[i] * y[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* Compare grad[0..n) with central differences of f over param[0..n). */
static void fd_check(const char *what, loss_fn f, void *ctx, double *param, const double *grad, int64_t n, double h,
                     double rtol, double atol)
{
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double save = param[i];
        param[i] = save + h;
        double lp = f(ctx);
        param[i] = save - h;
        double lm = f(ctx);
        param[i] = save;
        double fd = (lp - lm) / (2 * h), err = fabs(fd - grad[i]);
        if (err > atol + rtol * fabs(fd)) {
            if (!bad) CHECK_MSG(0, "%s[%lld]: analytic %.10g vs finite difference %.10g", what, (long long)i, grad[i], fd);
            bad++;
        }
        if (err > worst) worst = err;
    }
    if (bad) printf("  %s: %d of %lld elements off, worst abs error %.3g\n", what, bad, (long long)n, worst);
}

/* ---------------- batch norm ---------------- */
struct bn_ctx { int64_t M, C; double *x, *gamma, *beta, *g, *y; };
static double bn_loss(void *p)
{
    struct bn_ctx *c = p;
    gsg_ref_batchnorm_fwd(c->y, NULL, NULL, c->x, c->gamma, c->beta, NULL, NULL, c->M, c->C, 1, 0.1, 1e-5);
    return sum_gy(c->g, c->y, c->M * c->C);
}
static void bn_case(int64_t M, int64_t C, int affine, double xscale)
{
    struct bn_ctx c = {M, C, rnd(M * C, -xscale, xscale), affine ? rnd(C, 0.5, 1.5) : NULL,
                       affine ? rnd(C, -0.5, 0.5) : NULL, rnd(M * C, -1, 1), zeros(M * C)};
    for (int64_t i = 0; i < M * C; i++) c.x[i] += 0.3 * xscale;   /* nonzero mean */
    double *mean = zeros(C), *is = zeros(C), *dx = zeros(M * C), *dg = zeros(C), *db = zeros(C);
    gsg_ref_batchnorm_fwd(c.y, mean, is, c.x, c.gamma, c.beta, NULL, NULL, M, C, 1, 0.1, 1e-5);
    gsg_ref_batchnorm_bwd(dx, affine ? dg : NULL, affine ? db : NULL, c.g, c.x, c.gamma, mean, is, M, C);
    double h = 1e-6 * xscale;
    fd_check("bn dx", bn_loss, &c, c.x, dx, M * C, h, 1e-5, 1e-7);
    if (affine) {
        fd_check("bn dgamma", bn_loss, &c, c.gamma, dg, C, 1e-6, 1e-5, 1e-7);
        fd_check("bn dbeta", bn_loss, &c, c.beta, db, C, 1e-6, 1e-5, 1e-7);
    }
    free(c.x); free(c.gamma); free(c.beta); free(c.g); free(c.y);
    free(mean); free(is); free(dx); free(dg); free(db);
}
TEST(grad_batchnorm_affine) { bn_case(7, 3, 1, 1.0); bn_case(2, 5, 1, 2.0); bn_case(1 * 3 * 5, 4, 1, 0.5); }
TEST(grad_batchnorm_no_affine) { bn_case(9, 2, 0, 1.0); bn_case(3, 1, 0, 3.0); }
TEST(grad_batchnorm_channels_16) { bn_case(2 * 3 * 3, 16, 1, 1.0); }

/* ---------------- relu ---------------- */
struct relu_ctx { int64_t n; double *x, *g, *y; };
static double relu_loss(void *p)
{
    struct relu_ctx *c = p;
    gsg_ref_relu_fwd(c->y, c->x, c->n);
    return sum_gy(c->g, c->y, c->n);
}
TEST(grad_relu)
{
    int64_t n = 37;
    struct relu_ctx c = {n, rnd_away(n, 1e-3, 1), rnd(n, -1, 1), zeros(n)};
    double *dx = zeros(n);
    gsg_ref_relu_fwd(c.y, c.x, n);
    gsg_ref_relu_bwd(dx, c.g, c.y, n);
    fd_check("relu dx", relu_loss, &c, c.x, dx, n, 1e-6, 1e-6, 1e-8);
    free(c.x); free(c.g); free(c.y); free(dx);
}

/* ---------------- max pool ---------------- */
struct mp_ctx { int64_t N, H, W, C; double *x, *g, *y; int64_t *arg; };
static int64_t mp_out(int64_t H) { return (H - 1) / 2 + 1; }
static double mp_loss(void *p)
{
    struct mp_ctx *c = p;
    gsg_ref_maxpool_fwd(c->y, c->arg, c->x, c->N, c->H, c->W, c->C);
    return sum_gy(c->g, c->y, c->N * mp_out(c->H) * mp_out(c->W) * c->C);
}
static void mp_case(int64_t N, int64_t H, int64_t W, int64_t C)
{
    int64_t nx = N * H * W * C, ny = N * mp_out(H) * mp_out(W) * C;
    struct mp_ctx c = {N, H, W, C, rnd(nx, -1, 1), rnd(ny, -1, 1), zeros(ny), malloc((size_t)ny * sizeof(int64_t))};
    double *dx = zeros(nx);
    gsg_ref_maxpool_fwd(c.y, c.arg, c.x, N, H, W, C);
    gsg_ref_maxpool_bwd(dx, c.g, c.arg, N, H, W, C);
    fd_check("maxpool dx", mp_loss, &c, c.x, dx, nx, 1e-7, 1e-6, 1e-8);
    free(c.x); free(c.g); free(c.y); free(c.arg); free(dx);
}
TEST(grad_maxpool) { mp_case(2, 5, 7, 3); mp_case(1, 4, 4, 2); mp_case(1, 1, 1, 3); mp_case(1, 2, 3, 1); }

/* ---------------- average pool ---------------- */
struct ap_ctx { int64_t N, HW, C; double *x, *g, *y; };
static double ap_loss(void *p)
{
    struct ap_ctx *c = p;
    gsg_ref_avgpool_fwd(c->y, c->x, c->N, c->HW, c->C);
    return sum_gy(c->g, c->y, c->N * c->C);
}
static void ap_case(int64_t N, int64_t HW, int64_t C)
{
    struct ap_ctx c = {N, HW, C, rnd(N * HW * C, -1, 1), rnd(N * C, -1, 1), zeros(N * C)};
    double *dx = zeros(N * HW * C);
    gsg_ref_avgpool_bwd(dx, c.g, N, HW, C);
    fd_check("avgpool dx", ap_loss, &c, c.x, dx, N * HW * C, 1e-6, 1e-6, 1e-9);
    free(c.x); free(c.g); free(c.y); free(dx);
}
TEST(grad_avgpool) { ap_case(2, 3 * 5, 3); ap_case(1, 1, 4); ap_case(3, 4, 1); }

/* ---------------- linear ---------------- */
struct lin_ctx { int64_t N, In, Out; double *x, *w, *b, *g, *y; };
static double lin_loss(void *p)
{
    struct lin_ctx *c = p;
    gsg_ref_linear_fwd(c->y, c->x, c->w, c->b, c->N, c->In, c->Out);
    return sum_gy(c->g, c->y, c->N * c->Out);
}
static void lin_case(int64_t N, int64_t In, int64_t Out, int bias)
{
    struct lin_ctx c = {N, In, Out, rnd(N * In, -1, 1), rnd(Out * In, -1, 1), bias ? rnd(Out, -1, 1) : NULL,
                        rnd(N * Out, -1, 1), zeros(N * Out)};
    double *dx = zeros(N * In), *dw = zeros(Out * In), *db = zeros(Out);
    gsg_ref_linear_bwd(dx, dw, bias ? db : NULL, c.g, c.x, c.w, N, In, Out);
    fd_check("linear dx", lin_loss, &c, c.x, dx, N * In, 1e-6, 1e-6, 1e-8);
    fd_check("linear dw", lin_loss, &c, c.w, dw, Out * In, 1e-6, 1e-6, 1e-8);
    if (bias) fd_check("linear db", lin_loss, &c, c.b, db, Out, 1e-6, 1e-6, 1e-8);
    free(c.x); free(c.w); free(c.b); free(c.g); free(c.y); free(dx); free(dw); free(db);
}
TEST(grad_linear) { lin_case(3, 5, 4, 1); lin_case(1, 7, 3, 0); lin_case(4, 1, 1, 1); }

/* ---------------- cosine ---------------- */
struct cos_ctx { int64_t N, D; double *a, *b, *g, *y; };
static double cos_loss(void *p)
{
    struct cos_ctx *c = p;
    gsg_ref_cosine_fwd(c->y, c->a, c->b, c->N, c->D, 1e-8);
    return sum_gy(c->g, c->y, c->N);
}
static void cos_case(int64_t N, int64_t D, double scale)
{
    struct cos_ctx c = {N, D, rnd(N * D, -scale, scale), rnd(N * D, -scale, scale), rnd(N, -1, 1), zeros(N)};
    double *da = zeros(N * D), *db = zeros(N * D);
    gsg_ref_cosine_bwd(da, db, c.g, c.a, c.b, N, D, 1e-8);
    double h = 1e-6 * scale, atol = 1e-8 / scale;
    fd_check("cosine da", cos_loss, &c, c.a, da, N * D, h, 1e-5, atol);
    fd_check("cosine db", cos_loss, &c, c.b, db, N * D, h, 1e-5, atol);
    free(c.a); free(c.b); free(c.g); free(c.y); free(da); free(db);
}
TEST(grad_cosine) { cos_case(3, 5, 1.0); cos_case(1, 8, 10.0); cos_case(2, 1, 1.0); }
/* |a||b| < eps: the denominator is the constant eps */
TEST(grad_cosine_clamped) { cos_case(3, 4, 1e-6); }

/* ---------------- l2 normalisation ---------------- */
struct l2_ctx { int64_t N, D; double *x, *g, *y; };
static double l2_loss(void *p)
{
    struct l2_ctx *c = p;
    gsg_ref_l2norm_fwd(c->y, c->x, c->N, c->D, 1e-12);
    return sum_gy(c->g, c->y, c->N * c->D);
}
static void l2_case(int64_t N, int64_t D, double scale)
{
    struct l2_ctx c = {N, D, rnd(N * D, -scale, scale), rnd(N * D, -1, 1), zeros(N * D)};
    double *dx = zeros(N * D);
    gsg_ref_l2norm_bwd(dx, c.g, c.x, N, D, 1e-12);
    fd_check("l2norm dx", l2_loss, &c, c.x, dx, N * D, 1e-6 * scale, 1e-5, 1e-8 / scale);
    free(c.x); free(c.g); free(c.y); free(dx);
}
TEST(grad_l2norm) { l2_case(3, 5, 1.0); l2_case(1, 9, 0.01); l2_case(2, 1, 2.0); }
TEST(grad_l2norm_clamped) { l2_case(2, 3, 1e-14); }

/* ---------------- NT-Xent ----------------
 * L = sum over every block's anchors of g_a loss_a, so the gradient at one block's rows includes what the
 * other blocks' anchors contribute (the cross-rank part of the distributed loss). With unit = 1 the
 * rows go through the L2 normalisation first (the trainer's composition: cosine similarities). */
struct nx_ctx { int64_t B, R, D; double tau; int unit; double *x, *g, *u, *loss, *lse; };
static double nx_loss(void *p)
{
    struct nx_ctx *c = p;
    const int64_t M = c->B * c->R;
    if (c->unit) gsg_ref_l2norm_fwd(c->u, c->x, M, c->D, 1e-12);
    else for (int64_t i = 0; i < M * c->D; i++) c->u[i] = c->x[i];
    for (int64_t b = 0; b < c->B; b++) gsg_ref_ntxent_fwd(c->loss + b * c->R, c->lse + b * c->R, c->u, M, c->D, c->R, b, c->tau);
    return sum_gy(c->g, c->loss, M);
}
static void nx_case(int64_t B, int64_t n, int64_t D, double tau, int unit, double scale)
{
    const int64_t R = 2 * n, M = B * R;
    struct nx_ctx c = {B, R, D, tau, unit, rnd(M * D, -scale, scale), rnd(M, 0.1, 1.0), zeros(M * D), zeros(M), zeros(M)};
    double *du = zeros(M * D), *dx = zeros(M * D);
    nx_loss(&c);
    for (int64_t b = 0; b < B; b++) gsg_ref_ntxent_bwd(du + b * R * D, c.g, c.u, M, D, R, b, tau);
    if (unit) gsg_ref_l2norm_bwd(dx, du, c.x, M, D, 1e-12);
    else for (int64_t i = 0; i < M * D; i++) dx[i] = du[i];
    fd_check(unit ? "ntxent(l2norm) dx" : "ntxent du", nx_loss, &c, c.x, dx, M * D, 1e-6 * scale, 1e-5, 1e-8 / scale);
    free(c.x); free(c.g); free(c.u); free(c.loss); free(c.lse); free(du); free(dx);
}
/* one block (one rank); odd D; a single image (the positive is the only other row) */
TEST(grad_ntxent) { nx_case(1, 3, 5, 0.5, 0, 1.0); nx_case(1, 1, 4, 0.5, 0, 1.0); nx_case(1, 4, 1, 2.0, 0, 0.5); }
/* several blocks: the gradient at a block's rows from the other blocks' anchors */
TEST(grad_ntxent_blocks) { nx_case(3, 2, 3, 0.2, 0, 1.0); nx_case(2, 1, 6, 0.1, 0, 0.5); }
/* through the L2 normalisation (cosine similarity / tau), rows of any length */
TEST(grad_ntxent_cosine) { nx_case(1, 3, 4, 0.5, 1, 3.0); nx_case(2, 2, 5, 0.1, 1, 0.2); }

int main(void)
{
    RUN(grad_batchnorm_affine);
    RUN(grad_batchnorm_no_affine);
    RUN(grad_batchnorm_channels_16);
    RUN(grad_relu);
    RUN(grad_maxpool);
    RUN(grad_avgpool);
    RUN(grad_linear);
    RUN(grad_cosine);
    RUN(grad_cosine_clamped);
    RUN(grad_l2norm);
    RUN(grad_l2norm_clamped);
    RUN(grad_ntxent);
    RUN(grad_ntxent_blocks);
    RUN(grad_ntxent_cosine);
    return check_summary();
}
