/* ops.h: the op front ends of libgsg. One signature for every backend.
 *
 * Conventions (every op):
 *  - f32 tensors; outputs first, then inputs (llm.c order); all on one device.
 *  - Activations are channels-last: images are [N,H,W,C]; 2-d activations [N,D].
 *    Batch norm therefore treats any activation as [M,C] with C innermost.
 *  - Conv weights use PyTorch's layout [Cout,Cin,KH,KW]; linear weights [Out,In],
 *    so checkpoints move to and from PyTorch by name without transposes.
 *  - Backward: input gradients are WRITTEN (dx = ...); parameter gradients are
 *    ACCUMULATED (dw += ...), so several forward/backward calls through the same
 *    weights (GSG's four views) add up. Branches that meet are summed with gsg_add.
 *  - A front end checks shapes, dtypes and devices (GSG_E_SHAPE with a one-line
 *    message naming the op and both shapes), then dispatches on the device to
 *    gsg_cpu_<op>_<dir> (lib/cpu/<op>.c) or the CUDA twin. A naive reference in
 *    double precision lives in lib/ops/ref_<op>.c for tests (ref.h).
 *  - Ops never allocate per call; anything big is held by a plan object (conv2d)
 *    or passed in by the caller.
 */
#ifndef GSG_OPS_H
#define GSG_OPS_H
#include "../tensor/tensor.h"

/* ---------------- conv2d (no bias) ----------------
 * y[N,Ho,Wo,Co] = conv(x[N,H,W,Ci], w[Co,Ci,K,K]), stride s, zero padding p,
 * Ho = (H + 2p - K)/s + 1. A plan is created once per layer shape and batch size
 * and holds kernels and workspace (oneDNN primitives or im2col buffers). */
#include "../tensor/conv_desc.h"   /* struct gsg_conv2d_desc {N, H, W, Ci, Co, K, stride, pad} */
struct gsg_conv2d;
gsg_status gsg_conv2d_create(struct gsg_conv2d **plan, enum gsg_dev dev, const struct gsg_conv2d_desc *d);
void gsg_conv2d_destroy(struct gsg_conv2d *plan);
/* gsg_conv2d_out_hw(d, &Ho, &Wo): the output size (tensor/conv_desc.h). */
gsg_status gsg_conv2d_fwd(struct gsg_conv2d *plan, struct gsg_tensor *y, const struct gsg_tensor *x,
                          const struct gsg_tensor *w);
/* dx (written; may be NULL when the input needs no gradient), dw (accumulated). */
gsg_status gsg_conv2d_bwd(struct gsg_conv2d *plan, struct gsg_tensor *dx, struct gsg_tensor *dw,
                          const struct gsg_tensor *dy, const struct gsg_tensor *x, const struct gsg_tensor *w);
/* Which implementation a plan uses ("onednn", "im2col-openblas", "cuda") for logs and benches. */
const char *gsg_conv2d_impl(const struct gsg_conv2d *plan);
/* Bytes a plan holds for workspace (weights in kernel layout, column buffers, scratchpads). */
size_t gsg_conv2d_workspace_bytes(const struct gsg_conv2d *plan);

/* ---------------- batch norm over [M,C] ----------------
 * x, y: any f32 tensor whose last dim is C (M = numel / C): BN2d on NHWC and BN1d alike.
 * gamma/beta [C] or NULL (affine=false). training=1: batch statistics (biased variance for
 * normalising), and when running_mean/var are non-NULL they are updated as PyTorch does:
 * r = (1-momentum) r + momentum * stat, with the UNBIASED variance. save_mean/save_invstd [C]
 * receive the batch mean and 1/sqrt(var+eps) for backward. training=0: running stats. */
gsg_status gsg_batchnorm_fwd(struct gsg_tensor *y, struct gsg_tensor *save_mean, struct gsg_tensor *save_invstd,
                             const struct gsg_tensor *x, const struct gsg_tensor *gamma, const struct gsg_tensor *beta,
                             struct gsg_tensor *running_mean, struct gsg_tensor *running_var,
                             int training, float momentum, float eps);
/* Training-mode backward. dx written; dgamma/dbeta accumulated (NULL when affine=false). */
gsg_status gsg_batchnorm_bwd(struct gsg_tensor *dx, struct gsg_tensor *dgamma, struct gsg_tensor *dbeta,
                             const struct gsg_tensor *dy, const struct gsg_tensor *x, const struct gsg_tensor *gamma,
                             const struct gsg_tensor *save_mean, const struct gsg_tensor *save_invstd);

/* ---------------- relu ----------------  y may alias x. bwd: dx = dy * (y > 0); dx may alias dy. */
gsg_status gsg_relu_fwd(struct gsg_tensor *y, const struct gsg_tensor *x);
gsg_status gsg_relu_bwd(struct gsg_tensor *dx, const struct gsg_tensor *dy, const struct gsg_tensor *y);

/* ---------------- elementwise ---------------- */
gsg_status gsg_add(struct gsg_tensor *y, const struct gsg_tensor *a, const struct gsg_tensor *b);  /* y = a + b; may alias */
gsg_status gsg_add_inplace(struct gsg_tensor *y, const struct gsg_tensor *a);                      /* y += a */
gsg_status gsg_scale(struct gsg_tensor *y, float alpha);                                           /* y *= alpha */
gsg_status gsg_zero(struct gsg_tensor *y);                                                         /* y = 0 (any dtype) */

/* ---------------- pooling ---------------- */
/* max pool K=3, stride 2, pad 1 (the ImageNet stem): y[N,Ho,Wo,C], argmax[N,Ho,Wo,C] i32 (flat index into x). */
gsg_status gsg_maxpool_fwd(struct gsg_tensor *y, struct gsg_tensor *argmax, const struct gsg_tensor *x);
gsg_status gsg_maxpool_bwd(struct gsg_tensor *dx, const struct gsg_tensor *dy, const struct gsg_tensor *argmax);
/* global average pool: y[N,C] = mean over H,W of x[N,H,W,C]. */
gsg_status gsg_avgpool_fwd(struct gsg_tensor *y, const struct gsg_tensor *x);
gsg_status gsg_avgpool_bwd(struct gsg_tensor *dx, const struct gsg_tensor *dy);

/* ---------------- linear ----------------
 * y[N,Out] = x[N,In] w[Out,In]^T (+ b[Out] when b != NULL). OpenBLAS sgemm on CPU.
 * bwd: dx written (may be NULL), dw and db accumulated (db may be NULL). */
gsg_status gsg_linear_fwd(struct gsg_tensor *y, const struct gsg_tensor *x, const struct gsg_tensor *w,
                          const struct gsg_tensor *b);
gsg_status gsg_linear_bwd(struct gsg_tensor *dx, struct gsg_tensor *dw, struct gsg_tensor *db,
                          const struct gsg_tensor *dy, const struct gsg_tensor *x, const struct gsg_tensor *w);

/* ---------------- cosine similarity, row-wise ----------------
 * out[N] = <a_n, b_n> / max(|a_n| |b_n|, eps), eps = 1e-8 (torch.nn.CosineSimilarity).
 * bwd: da, db written (either may be NULL) from dout[N]. */
gsg_status gsg_cosine_fwd(struct gsg_tensor *out, const struct gsg_tensor *a, const struct gsg_tensor *b);
gsg_status gsg_cosine_bwd(struct gsg_tensor *da, struct gsg_tensor *db, const struct gsg_tensor *dout,
                          const struct gsg_tensor *a, const struct gsg_tensor *b);
/* Row-wise L2 normalisation y = x / max(|x|, eps), eps 1e-12 (F.normalize); bwd dx written. */
gsg_status gsg_l2norm_fwd(struct gsg_tensor *y, const struct gsg_tensor *x);
gsg_status gsg_l2norm_bwd(struct gsg_tensor *dx, const struct gsg_tensor *dy, const struct gsg_tensor *x);

/* ---------------- NT-Xent (SimCLR's contrastive loss) ----------------
 * u [M,D]: the rows of a whole (global) batch in B = M/R blocks of R = 2n rows, one block per rank:
 * row b*R + i is view 0 of the block's image i (i < n), row b*R + n + i its view 1. Row a's positive
 * pos(a) is its other view (a +- n inside its block), its negatives the other M - 2 rows; with unit
 * rows (gsg_l2norm first) s_aj = <u_a,u_j> / tau is the cosine similarity over the temperature and
 *   loss_a = -s_a,pos(a) + lse_a,   lse_a = log sum_{j != a} exp(s_aj)    (the positive is in the sum,
 *                                                                          the anchor itself is not)
 * fwd: the R anchors of block `block`: loss [R], lse [R] written. work [R,M] f32 scratch (written).
 * bwd: du [R,D] (written) = d/du of sum_{a < M} dloss[a] loss_a for the rows of block `block`, from
 *      every anchor's dloss [M] and lse [M] (all blocks': under several ranks, the gathered lse): a row
 *      gets gradient as an anchor, as a positive and as a negative of every other anchor, so the ranks'
 *      du together are the exact gradient of the global loss. work [R,M] as in fwd.
 * Similarities come from one f32 GEMM (cuBLAS in fp32 whatever --precision says); the log-sum-exp and
 * the gradient coefficients are formed in double, rows in a fixed order. tau > 0. */
gsg_status gsg_ntxent_fwd(struct gsg_tensor *loss, struct gsg_tensor *lse, struct gsg_tensor *work,
                          const struct gsg_tensor *u, int64_t block, double tau);
gsg_status gsg_ntxent_bwd(struct gsg_tensor *du, struct gsg_tensor *work, const struct gsg_tensor *dloss,
                          const struct gsg_tensor *u, const struct gsg_tensor *lse, int64_t block, double tau);

/* ---------------- input ----------------
 * u8 images [N,C,H,W] (the stream layout) -> f32 channels-last [N,H,W,C],
 * y = (x/255 - mean[c]) / std[c]. mean/std are host arrays of C floats. */
gsg_status gsg_image_to_f32(struct gsg_tensor *y, const struct gsg_tensor *x, const float *mean, const float *std);

#endif
