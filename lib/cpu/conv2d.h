/* conv2d.h: the CPU conv2d plan and kernels behind lib/ops/conv2d.c. Two implementations share one
 * shape of interface: a kernel object made once per layer shape and batch size that owns
 * every buffer it needs, then fwd / bwd calls that never allocate.
 *   x: (N, H, W, Ci) f32   w: (Co, Ci, K, K) f32   y: (N, Ho, Wo, Co) f32, all contiguous.
 * bwd: dx WRITTEN (NULL: skip), dw ACCUMULATED (NULL: skip). Kernels trust their inputs:
 * the front end has checked shapes. An im2col object serves one caller at a time; oneDNN
 * objects serialise their calls on one lock (they share one arena). */
#ifndef GSG_CPU_CONV2D_H
#define GSG_CPU_CONV2D_H
#include <stddef.h>
#include <stdlib.h>
#include "core/status.h"
#include "tensor/conv_desc.h"
#include "tensor/tensor.h"

/* ---- the CPU plan (lib/cpu/conv2d.c): chooses and owns one of the two kernels below ----
 * Policy (deterministic, never from timing): GSG_CONV=onednn|im2col forces one; otherwise oneDNN
 * with AVX-512, and without AVX-512 oneDNN for Co <= 32 and im2col + OpenBLAS for wider layers;
 * im2col when oneDNN refuses the shape. Strided 1x1 layers under oneDNN take dW from im2col
 * (a oneDNN 2.6 multi-thread bug; see conv2d.c). */
struct gsg_cpu_conv2d;
gsg_status gsg_cpu_conv2d_create(struct gsg_cpu_conv2d **k, const struct gsg_conv2d_desc *d);
void gsg_cpu_conv2d_destroy(struct gsg_cpu_conv2d *k);
gsg_status gsg_cpu_conv2d_fwd(struct gsg_cpu_conv2d *k, float *y, const float *x, const float *w);
/* dx written (NULL: skip), dw accumulated (NULL: skip); x needed for dw, w for dx. */
gsg_status gsg_cpu_conv2d_bwd(struct gsg_cpu_conv2d *k, float *dx, float *dw, const float *dy, const float *x,
                              const float *w);
const char *gsg_cpu_conv2d_impl(const struct gsg_cpu_conv2d *k);   /* "onednn" | "im2col-openblas" */
size_t gsg_cpu_conv2d_workspace_bytes(const struct gsg_cpu_conv2d *k);

/* ---- im2col + OpenBLAS sgemm (portable; always built) ---- */
struct gsg_cpu_conv2d_im2col;
gsg_status gsg_cpu_conv2d_im2col_create(struct gsg_cpu_conv2d_im2col **k, const struct gsg_conv2d_desc *d);
void gsg_cpu_conv2d_im2col_destroy(struct gsg_cpu_conv2d_im2col *k);
void gsg_cpu_conv2d_im2col_fwd(struct gsg_cpu_conv2d_im2col *k, float *y, const float *x, const float *w);
void gsg_cpu_conv2d_im2col_bwd(struct gsg_cpu_conv2d_im2col *k, float *dx, float *dw, const float *dy,
                               const float *x, const float *w);
size_t gsg_cpu_conv2d_im2col_workspace_bytes(const struct gsg_cpu_conv2d_im2col *k);

/* ---- oneDNN primitives (only when built with GSG_HAVE_DNNL) ---- */
struct gsg_cpu_conv2d_dnnl;
/* Returns GSG_E_UNSUPPORTED when this build has no oneDNN or oneDNN refuses the shape. */
gsg_status gsg_cpu_conv2d_dnnl_create(struct gsg_cpu_conv2d_dnnl **k, const struct gsg_conv2d_desc *d);
void gsg_cpu_conv2d_dnnl_destroy(struct gsg_cpu_conv2d_dnnl *k);
gsg_status gsg_cpu_conv2d_dnnl_fwd(struct gsg_cpu_conv2d_dnnl *k, float *y, const float *x, const float *w);
gsg_status gsg_cpu_conv2d_dnnl_bwd(struct gsg_cpu_conv2d_dnnl *k, float *dx, float *dw, const float *dy,
                                   const float *x, const float *w);
/* Bytes of the process-wide arena this plan needs (all oneDNN plans share one arena,
 * sized to the largest need: a network costs the max over its plans, not the sum). */
size_t gsg_cpu_conv2d_dnnl_workspace_bytes(const struct gsg_cpu_conv2d_dnnl *k);
size_t gsg_cpu_conv2d_dnnl_arena_bytes(void);     /* current arena size; 0 when no plan exists */
/* oneDNN's implementation name for which = 0 forward, 1 backward-data, 2 backward-weights
 * (e.g. "jit:avx512_core"), for benches and logs; "" when unknown. */
const char *gsg_cpu_conv2d_dnnl_kernel(const struct gsg_cpu_conv2d_dnnl *k, int which);

#endif
