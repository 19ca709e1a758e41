/* stubs.c: the CUDA backend's symbols for builds without nvcc: every entry point fails with one line.
 * (The host-side logic, lib/cuda/host.c, is built in every configuration.) */
#include "gsg_cuda.h"

static gsg_status no_cuda(void)
{
    return gsg_err_set(GSG_E_NO_CUDA, "this build has no CUDA backend (nvcc was not found at build time; rebuild with CUDA=1 on a machine with the CUDA Toolkit)");
}

int gsg_cuda_built(void) { return 0; }
gsg_status gsg_cuda_init(int device) { (void)device; return no_cuda(); }
gsg_status gsg_cuda_malloc(void **p, size_t bytes) { (void)bytes; *p = NULL; return no_cuda(); }
void gsg_cuda_free(void *p) { (void)p; }
gsg_status gsg_cuda_memset0(void *p, size_t bytes) { (void)p; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_memcpy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes)
{ (void)dst; (void)dst_dev; (void)src; (void)src_dev; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_sync(void) { return no_cuda(); }
gsg_status gsg_cuda_check(const char *where) { (void)where; return no_cuda(); }
const char *gsg_cuda_describe(void) { return ""; }
void gsg_cuda_shutdown(void) {}
void *gsg_cuda_stream(void) { return NULL; }
int gsg_cuda_stream_idle(void) { no_cuda(); return -1; }
gsg_status gsg_cuda_libs_probe(size_t *cudnn_version) { if (cudnn_version) *cudnn_version = 0; return no_cuda(); }
const char *gsg_cuda_libs_describe(void) { return ""; }

gsg_status gsg_cuda_batchnorm_fwd(float *y, float *save_mean, float *save_invstd, const float *x, const float *gamma,
                                  const float *beta, float *running_mean, float *running_var, int64_t M, int64_t C,
                                  int training, float momentum, float eps, int relu) { return no_cuda(); }
gsg_status gsg_cuda_batchnorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy, const float *relu_y,
                                  const float *x, const float *gamma, const float *save_mean,
                                  const float *save_invstd, int64_t M, int64_t C) { return no_cuda(); }
gsg_status gsg_cuda_batchnorm_stats(float *mean, float *invstd, float *running_mean, float *running_var,
                                    const float *x, int64_t M, int64_t C, float momentum, float eps) { return no_cuda(); }
gsg_status gsg_cuda_batchnorm_apply(float *y, const float *x, const float *mean, const float *invstd,
                                    const float *gamma, const float *beta, int64_t M, int64_t C, int relu) { return no_cuda(); }
gsg_status gsg_cuda_relu_fwd(float *y, const float *x, int64_t n) { return no_cuda(); }
gsg_status gsg_cuda_relu_bwd(float *dx, const float *dy, const float *y, int64_t n) { return no_cuda(); }
gsg_status gsg_cuda_add(float *y, const float *a, const float *b, int64_t n) { return no_cuda(); }
gsg_status gsg_cuda_add_inplace(float *y, const float *a, int64_t n) { return no_cuda(); }
gsg_status gsg_cuda_add_relu(float *y, const float *a, const float *b, int64_t n) { return no_cuda(); }
gsg_status gsg_cuda_scale(float *y, float alpha, int64_t n) { return no_cuda(); }
gsg_status gsg_cuda_maxpool_fwd(float *y, int32_t *argmax, const float *x, int64_t N, int64_t H, int64_t W,
                                int64_t C) { return no_cuda(); }
gsg_status gsg_cuda_maxpool_bwd(float *dx, const float *dy, const int32_t *argmax, int64_t N, int64_t H,
                                int64_t W, int64_t C) { return no_cuda(); }
gsg_status gsg_cuda_avgpool_fwd(float *y, const float *x, int64_t N, int64_t HW, int64_t C) { return no_cuda(); }
gsg_status gsg_cuda_avgpool_bwd(float *dx, const float *dy, int64_t N, int64_t HW, int64_t C) { return no_cuda(); }
gsg_status gsg_cuda_linear_fwd(float *y, const float *x, const float *w, const float *b, int64_t N, int64_t In,
                               int64_t Out) { return no_cuda(); }
gsg_status gsg_cuda_linear_bwd(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                               int64_t N, int64_t In, int64_t Out) { return no_cuda(); }
gsg_status gsg_cuda_cosine_fwd(float *out, const float *a, const float *b, int64_t N, int64_t D, float eps) { return no_cuda(); }
gsg_status gsg_cuda_cosine_bwd(float *da, float *db, const float *dout, const float *a, const float *b, int64_t N,
                               int64_t D, float eps) { return no_cuda(); }
gsg_status gsg_cuda_l2norm_fwd(float *y, const float *x, int64_t N, int64_t D, float eps) { return no_cuda(); }
gsg_status gsg_cuda_l2norm_bwd(float *dx, const float *dy, const float *x, int64_t N, int64_t D, float eps) { return no_cuda(); }
gsg_status gsg_cuda_ntxent_fwd(float *loss, float *lse, float *work, const float *u, int64_t M, int64_t D, int64_t R,
                               int64_t block, double tau) { return no_cuda(); }
gsg_status gsg_cuda_ntxent_bwd(float *du, float *work, const float *dloss, const float *u, const float *lse, int64_t M,
                               int64_t D, int64_t R, int64_t block, double tau) { return no_cuda(); }
gsg_status gsg_cuda_image_to_f32(float *y, const uint8_t *x, const float *mean, const float *stddev, int64_t N,
                                 int64_t C, int64_t H, int64_t W) { return no_cuda(); }
gsg_status gsg_cuda_conv2d_create(struct gsg_cuda_conv2d **plan, const struct gsg_conv2d_desc *d)
{ *plan = NULL; return no_cuda(); }
void gsg_cuda_conv2d_destroy(struct gsg_cuda_conv2d *plan) { (void)plan; }
gsg_status gsg_cuda_conv2d_fwd(struct gsg_cuda_conv2d *plan, float *y, const float *x, const float *w) { return no_cuda(); }
gsg_status gsg_cuda_conv2d_bwd(struct gsg_cuda_conv2d *plan, float *dx, float *dw, const float *dy, const float *x,
                               const float *w) { return no_cuda(); }
size_t gsg_cuda_conv2d_workspace_bytes(const struct gsg_cuda_conv2d *plan) { (void)plan; return 0; }
const char *gsg_cuda_conv2d_algos(const struct gsg_cuda_conv2d *plan) { (void)plan; return ""; }
gsg_status gsg_cuda_gsg_distances(float *d, const float *const z[4], int64_t N, int64_t D, int dist) { return no_cuda(); }
gsg_status gsg_cuda_gsg_choose(int64_t *k, const float *d, int64_t N) { return no_cuda(); }
gsg_status gsg_cuda_gsg_loss(float *loss_rows, float *loss, float *const dp[4], const float *const p[4],
                             const float *const t[4], const int64_t *k, int64_t N, int64_t D) { return no_cuda(); }
gsg_status gsg_cuda_simsiam_loss(float *loss_rows, float *loss, float *dp1, float *dp2, const float *p1,
                                 const float *p2, const float *t1, const float *t2, int64_t N, int64_t D) { return no_cuda(); }
gsg_status gsg_cuda_gather_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D) { return no_cuda(); }
gsg_status gsg_cuda_scatter_add_rows(float *dst, const float *src, const int64_t *perm, int64_t N, int64_t D) { return no_cuda(); }
gsg_status gsg_cuda_knn_topk(int32_t *idx, float *sim, const float *query, int64_t Nq, const float *bank,
                             int64_t Nb, int64_t D, int64_t k) { return no_cuda(); }
gsg_status gsg_cuda_f32_to_bf16(uint16_t *y, const float *x, int64_t n) { return no_cuda(); }
gsg_status gsg_cuda_bf16_to_f32(float *y, const uint16_t *x, int64_t n) { return no_cuda(); }
gsg_status gsg_cuda_graph_create(struct gsg_cuda_graph **g, int warmup) { (void)warmup; *g = NULL; return no_cuda(); }
void gsg_cuda_graph_destroy(struct gsg_cuda_graph *g) { (void)g; }
gsg_status gsg_cuda_graph_run(struct gsg_cuda_graph *g, uint64_t key, gsg_status (*fn)(void *arg), void *arg)
{ (void)g; (void)key; (void)fn; (void)arg; return no_cuda(); }
int gsg_cuda_graph_last_action(const struct gsg_cuda_graph *g) { (void)g; return -1; }


/* engine ops */
gsg_status gsg_cuda_copy(void *dst, const void *src, size_t bytes) { (void)dst; (void)src; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_zero(void *dst, size_t bytes) { (void)dst; (void)bytes; return no_cuda(); }
gsg_status gsg_cuda_sgd(float *w, float *m, const float *g, int64_t n, float lr, float momentum, float wd)
{ (void)w; (void)m; (void)g; (void)n; (void)lr; (void)momentum; (void)wd; return no_cuda(); }
gsg_status gsg_cuda_ema(float *x, const float *src, int64_t n, float a, float b)
{ (void)x; (void)src; (void)n; (void)a; (void)b; return no_cuda(); }
gsg_status gsg_cuda_views_to_f32(float *y, const uint8_t *views, const int64_t *rows, const float *mean,
                                 const float *stddev, int64_t Ny, int64_t V, int64_t C, int64_t H, int64_t W,
                                 int64_t v)
{ (void)y; (void)views; (void)rows; (void)mean; (void)stddev; (void)Ny; (void)V; (void)C; (void)H; (void)W; (void)v; return no_cuda(); }
gsg_status gsg_cuda_bn_stats(double *sums, const float *x, const float *shift, int64_t M, int64_t C)
{ (void)sums; (void)x; (void)shift; (void)M; (void)C; return no_cuda(); }
gsg_status gsg_cuda_bn_finalize(float *mean, float *invstd, float *running_mean, float *running_var,
                                const double *sums, const float *shift, int64_t C, float momentum, float eps)
{ (void)mean; (void)invstd; (void)running_mean; (void)running_var; (void)sums; (void)shift; (void)C; (void)momentum; (void)eps; return no_cuda(); }
gsg_status gsg_cuda_bn_apply(float *y, const float *x, const float *mean, const float *invstd, const float *gamma,
                             const float *beta, int64_t M, int64_t C, int relu)
{ (void)y; (void)x; (void)mean; (void)invstd; (void)gamma; (void)beta; (void)M; (void)C; (void)relu; return no_cuda(); }
gsg_status gsg_cuda_bn_bwd_stats(double *sums, float *dgamma, float *dbeta, const float *dy, const float *relu_y,
                                 const float *x, const float *mean, const float *invstd, int64_t M, int64_t C)
{ (void)sums; (void)dgamma; (void)dbeta; (void)dy; (void)relu_y; (void)x; (void)mean; (void)invstd; (void)M; (void)C; return no_cuda(); }
gsg_status gsg_cuda_bn_bwd_apply(float *dx, const float *dy, const float *relu_y, const float *x,
                                 const float *gamma, const float *mean, const float *invstd, const double *sums,
                                 int64_t M, int64_t C)
{ (void)dx; (void)dy; (void)relu_y; (void)x; (void)gamma; (void)mean; (void)invstd; (void)sums; (void)M; (void)C; return no_cuda(); }
