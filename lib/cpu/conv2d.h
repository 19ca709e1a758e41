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
/* bf16 != 0 (--precision bf16): the oneDNN bf16 kernels (gsg_cpu_conv2d_dnnl_create_bf16); refused
 * with one line when the CPU or the build cannot (gsg_cpu_bf16_supported) or GSG_CONV=im2col; a layer
 * oneDNN serves only with its reference bf16 kernel runs in f32 (gsg_cpu_conv2d_impl says which). */
gsg_status gsg_cpu_conv2d_create(struct gsg_cpu_conv2d **k, const struct gsg_conv2d_desc *d, int bf16);
void gsg_cpu_conv2d_destroy(struct gsg_cpu_conv2d *k);
gsg_status gsg_cpu_conv2d_fwd(struct gsg_cpu_conv2d *k, float *y, const float *x, const float *w);
/* dx written (NULL: skip), dw accumulated (NULL: skip); x needed for dw, w for dx. */
gsg_status gsg_cpu_conv2d_bwd(struct gsg_cpu_conv2d *k, float *dx, float *dw, const float *dy, const float *x,
                              const float *w);
/* "onednn" | "onednn-bf16" | "im2col-openblas" */
const char *gsg_cpu_conv2d_impl(const struct gsg_cpu_conv2d *k);
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
/* The same with bf16 operands, f32 results and f32 caller buffers (conv2d_dnnl.c); GSG_E_UNSUPPORTED
 * with the reason when gsg_cpu_bf16_supported says no or oneDNN has only a reference kernel. */
gsg_status gsg_cpu_conv2d_dnnl_create_bf16(struct gsg_cpu_conv2d_dnnl **k, const struct gsg_conv2d_desc *d);
int gsg_cpu_conv2d_dnnl_is_bf16(const struct gsg_cpu_conv2d_dnnl *k);
/* 1 when this build and CPU run bf16 convolutions natively: oneDNN built in, the CPU has AVX512_BF16
 * or AMX-BF16, and oneDNN's effective ISA includes avx512_core_bf16. Else 0 and a one-line reason
 * (naming the missing feature) in why. */
int gsg_cpu_bf16_supported(char *why, size_t cap);
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
