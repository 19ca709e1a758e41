/* ref.h: naive references in DOUBLE precision for every op of ops.h except conv2d (ref_conv2d.h).
 * Same semantics as the front ends (channels-last, PyTorch weight layouts, input gradients written,
 * parameter gradients accumulated). For tests only: plain loops, no threads, no speed. */
#ifndef GSG_REF_H
#define GSG_REF_H
#include <stdint.h>

/* batch norm over [M,C]; gamma/beta/running/save may be NULL as in ops.h. */
void gsg_ref_batchnorm_fwd(double *y,             /* (M, C) */
                           double *save_mean,     /* (C) or NULL */
                           double *save_invstd,   /* (C) or NULL */
                           const double *x,       /* (M, C) */
                           const double *gamma,   /* (C) or NULL */
                           const double *beta,    /* (C) or NULL */
                           double *running_mean,  /* (C) or NULL */
                           double *running_var,   /* (C) or NULL */
                           int64_t M, int64_t C, int training, double momentum, double eps);
void gsg_ref_batchnorm_bwd(double *dx,                /* (M, C) written */
                           double *dgamma,            /* (C) accumulated or NULL */
                           double *dbeta,             /* (C) accumulated or NULL */
                           const double *dy,          /* (M, C) */
                           const double *x,           /* (M, C) */
                           const double *gamma,       /* (C) or NULL */
                           const double *save_mean,   /* (C) */
                           const double *save_invstd, /* (C) */
                           int64_t M, int64_t C);

void gsg_ref_relu_fwd(double *y, const double *x, int64_t n);
void gsg_ref_relu_bwd(double *dx, const double *dy, const double *y, int64_t n);

/* max pool 3x3/2 pad 1; argmax as flat index into x; ties: first in (kh,kw) order */
void gsg_ref_maxpool_fwd(double *y,        /* (N, Ho, Wo, C) */
                         int64_t *argmax,  /* (N, Ho, Wo, C) */
                         const double *x,  /* (N, H, W, C) */
                         int64_t N, int64_t H, int64_t W, int64_t C);
void gsg_ref_maxpool_bwd(double *dx,             /* (N, H, W, C) written */
                         const double *dy,       /* (N, Ho, Wo, C) */
                         const int64_t *argmax,  /* (N, Ho, Wo, C) */
                         int64_t N, int64_t H, int64_t W, int64_t C);
void gsg_ref_avgpool_fwd(double *y, const double *x, int64_t N, int64_t HW, int64_t C);   /* y (N,C), x (N,HW,C) */
void gsg_ref_avgpool_bwd(double *dx, const double *dy, int64_t N, int64_t HW, int64_t C);

void gsg_ref_linear_fwd(double *y,        /* (N, Out) */
                        const double *x,  /* (N, In) */
                        const double *w,  /* (Out, In) */
                        const double *b,  /* (Out) or NULL */
                        int64_t N, int64_t In, int64_t Out);
void gsg_ref_linear_bwd(double *dx,       /* (N, In) written or NULL */
                        double *dw,       /* (Out, In) accumulated or NULL */
                        double *db,       /* (Out) accumulated or NULL */
                        const double *dy, /* (N, Out) */
                        const double *x, const double *w, int64_t N, int64_t In, int64_t Out);

/* out[n] = <a,b> / max(|a||b|, eps) */
void gsg_ref_cosine_fwd(double *out, const double *a, const double *b, int64_t N, int64_t D, double eps);
void gsg_ref_cosine_bwd(double *da, double *db, const double *dout, const double *a, const double *b, int64_t N,
                        int64_t D, double eps);
/* y = x / max(|x|, eps) */
void gsg_ref_l2norm_fwd(double *y, const double *x, int64_t N, int64_t D, double eps);
void gsg_ref_l2norm_bwd(double *dx, const double *dy, const double *x, int64_t N, int64_t D, double eps);

/* NT-Xent (ops.h): u (M, D) in blocks of R rows (views 0 | views 1), the anchors of block `block`;
 * s_aj = <u_a,u_j>/tau, every dot product and exponential in double, straight from the definition. */
void gsg_ref_ntxent_fwd(double *loss,    /* (R) */
                        double *lse,     /* (R) */
                        const double *u, /* (M, D) */
                        int64_t M, int64_t D, int64_t R, int64_t block, double tau);
/* du (R, D) written: the gradient of sum_a dloss[a] loss_a (a over all M anchors) at block `block`'s rows,
 * anchor by anchor (each anchor's softmax recomputed, its gradient added to every row it touches): the
 * scatter form, where the kernels gather by row with the anchors' lse. */
void gsg_ref_ntxent_bwd(double *du, const double *dloss, const double *u, int64_t M, int64_t D, int64_t R,
                        int64_t block, double tau);

/* y (N,H,W,C) = (x/255 - mean[c]) / std[c], x (N,C,H,W) */
void gsg_ref_image_to_f32(double *y, const uint8_t *x, const float *mean, const float *std, int64_t N, int64_t C,
                          int64_t H, int64_t W);

#endif
