/* ops_engine.h: the ops the engine (lib/nn, lib/ssl) needs besides the layer ops of ops.h, so that
 * nothing above lib/ops touches tensor memory from the host: copies and zeroing, the optimiser
 * update, the EMA of a target network, the u8 -> f32 input conversion, and batch norm split into
 * statistics / all-reduce / apply (synchronised BN across ranks). Conventions as ops.h: outputs
 * first, f32 unless stated, every tensor on one device, one front end per op dispatching to
 * gsg_cpu_<op> (lib/cpu/cpu_engine.h) or gsg_cuda_<op> (lib/cuda/gsg_cuda.h, "engine ops"). On CUDA
 * every op is enqueued on the process stream and returns without waiting (docs/execution.md). */
#ifndef GSG_OPS_ENGINE_H
#define GSG_OPS_ENGINE_H
#include "ops.h"

/* dst := src. Same dtype, same number of elements (the shapes may differ: a reshape), same device.
 * Any dtype. dst and src may overlap. Across devices use gsg_tensor_copy / gsg_tensor_to_host. */
gsg_status gsg_op_copy(struct gsg_tensor *dst, const struct gsg_tensor *src);
/* t := 0, any dtype. */
gsg_status gsg_op_zero(struct gsg_tensor *t);

/* SGD with momentum and weight decay, PyTorch semantics (dampening 0, no Nesterov), elementwise
 * over three f32 tensors of equal numel (usually whole arenas):
 *   d = g + wd * w;  m = momentum * m + d;  w = w - lr * m      (in f32, factors rounded to f32) */
gsg_status gsg_op_sgd(struct gsg_tensor *w, struct gsg_tensor *m, const struct gsg_tensor *g, double lr,
                      double momentum, double weight_decay);
/* Exponential moving average (BYOL's target update): x = x * a + src * b with a = (float)tau and
 * b = (float)(1 - tau). x and src f32 of equal numel. */
gsg_status gsg_op_ema(struct gsg_tensor *x, const struct gsg_tensor *src, double tau);

/* The network input: view v of a u8 batch of views [N,V,C,H,W] (V = 1: plain images [N,1,C,H,W]
 * or [N,C,H,W]) -> f32 channels-last y [Ny,H,W,C], y[n] = (views[rows[n], v] / 255 - mean[c]) / std[c],
 * computed as u8 * (1/(255 std)) + (-mean/std) with both constants formed in double and rounded to
 * f32 once. rows: i64 [Ny] on the same device with values in 0..N-1 (a GSG permutation), or NULL
 * for rows[n] = n (then Ny <= N). mean, std: host arrays of C floats (C <= 64, std != 0).
 * gsg_image_to_f32 (ops.h) is this op with V = 1, v = 0, rows NULL. */
gsg_status gsg_op_views_to_f32(struct gsg_tensor *y, const struct gsg_tensor *views, int64_t v,
                               const struct gsg_tensor *rows, const float *mean, const float *std);

/* ---------------- batch norm in steps (training mode) ----------------
 * x, y: [..., C] f32 (M = numel / C rows). The forward of training-mode BN is
 *   gsg_bn_stats     sums = { S1[C] = sum(x - shift), S2[C] = sum((x - shift)^2), M }  f64 [2C+1]
 *   (all-reduce)     sums summed elementwise over ranks (a plain MPI/NCCL sum; nothing on one rank)
 *   gsg_bn_finalize  mean = shift + S1/M, var = S2/M - (S1/M)^2 (biased, clamped at 0),
 *                    invstd = 1/sqrt(var + eps), running stats updated with the unbiased variance
 *   gsg_bn_apply     y = (x - mean) * (gamma * invstd) + beta, optionally ReLU in the same pass
 * and the backward
 *   gsg_bn_bwd_stats sums = { sum(g), sum(g * (x - mean)), M } with g = dy, masked by relu_y > 0 when
 *                    relu_y != NULL; dgamma += invstd * sum(g (x - mean)), dbeta += sum(g) from THIS
 *                    rank's sums (the gradient all-reduce adds the ranks' shares)
 *   (all-reduce)
 *   gsg_bn_bwd_apply dx = P g + Q (x - mean) + R, P = gamma invstd, Q = -gamma invstd^3 S2 / M,
 *                    R = -gamma invstd S1 / M from the reduced sums (M = the global count).
 * shift [C] must be equal on every rank (the engine passes running_mean, which DDP keeps equal); it
 * only conditions the sums. Reductions run over fixed row chunks in a fixed order, so results do
 * not depend on the thread count. gamma/beta/dgamma/dbeta/running stats may be NULL. */
gsg_status gsg_bn_stats(struct gsg_tensor *sums, const struct gsg_tensor *x, const struct gsg_tensor *shift);
gsg_status gsg_bn_finalize(struct gsg_tensor *mean, struct gsg_tensor *invstd, struct gsg_tensor *running_mean,
                           struct gsg_tensor *running_var, const struct gsg_tensor *sums,
                           const struct gsg_tensor *shift, float momentum, float eps);
gsg_status gsg_bn_apply(struct gsg_tensor *y, const struct gsg_tensor *x, const struct gsg_tensor *mean,
                        const struct gsg_tensor *invstd, const struct gsg_tensor *gamma,
                        const struct gsg_tensor *beta, int relu);
gsg_status gsg_bn_bwd_stats(struct gsg_tensor *sums, struct gsg_tensor *dgamma, struct gsg_tensor *dbeta,
                            const struct gsg_tensor *dy, const struct gsg_tensor *relu_y, const struct gsg_tensor *x,
                            const struct gsg_tensor *mean, const struct gsg_tensor *invstd);
gsg_status gsg_bn_bwd_apply(struct gsg_tensor *dx, const struct gsg_tensor *dy, const struct gsg_tensor *relu_y,
                            const struct gsg_tensor *x, const struct gsg_tensor *gamma, const struct gsg_tensor *mean,
                            const struct gsg_tensor *invstd, const struct gsg_tensor *sums);

#endif
