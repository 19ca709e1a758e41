/* conv_desc.h: the shape of one 2-d convolution layer. A plain shape record, kept below lib/ops so
 * that the op front end (lib/ops/conv2d.c) and the kernels behind it (lib/cpu, lib/cuda) share it
 * without the kernel layers including lib/ops. */
#ifndef GSG_CONV_DESC_H
#define GSG_CONV_DESC_H
#include <stdint.h>

/* x [N,H,W,Ci] (channels-last), w [Co,Ci,K,K] (PyTorch layout), stride, zero padding pad. */
struct gsg_conv2d_desc {
    int64_t N, H, W, Ci, Co, K, stride, pad;
};

/* Ho = (H + 2 pad - K) / stride + 1, the same for Wo (0 for a zero stride). */
static inline void gsg_conv2d_out_hw(const struct gsg_conv2d_desc *d, int64_t *Ho, int64_t *Wo)
{
    *Ho = d->stride > 0 ? (d->H + 2 * d->pad - d->K) / d->stride + 1 : 0;
    *Wo = d->stride > 0 ? (d->W + 2 * d->pad - d->K) / d->stride + 1 : 0;
}

#endif
