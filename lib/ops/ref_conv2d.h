/* ref_conv2d.h: naive conv2d in double precision, for tests and --check modes only.
 * Same contract as gsg_conv2d_fwd/bwd (ops.h): channels-last activations, PyTorch weights.
 *   x: (N, H, W, Ci)   w: (Co, Ci, K, K)   y: (N, Ho, Wo, Co), all contiguous. */
#ifndef GSG_REF_CONV2D_H
#define GSG_REF_CONV2D_H
#include "ops.h"

/* y written. */
void gsg_ref_conv2d_fwd(const struct gsg_conv2d_desc *d, double *y, const double *x, const double *w);
/* dx written (may be NULL), dw ACCUMULATED (may be NULL). */
void gsg_ref_conv2d_bwd(const struct gsg_conv2d_desc *d, double *dx, double *dw, const double *dy,
                        const double *x, const double *w);

#endif
