/* ops_extra.h: additions to ops.h by the ops owner. Nothing here changes an ops.h contract.
 *  - fused ops the engine may use instead of two calls (same results as the unfused pair);
 *  - the shape/dtype/device check the front ends share. */
#ifndef GSG_OPS_EXTRA_H
#define GSG_OPS_EXTRA_H
#include "ops.h"

/* y = relu(batchnorm(x)): arguments and running-stat semantics exactly as gsg_batchnorm_fwd.
 * y may alias x. Saves one pass over memory compared with gsg_batchnorm_fwd + gsg_relu_fwd. */
gsg_status gsg_batchnorm_relu_fwd(struct gsg_tensor *y, struct gsg_tensor *save_mean, struct gsg_tensor *save_invstd,
                                  const struct gsg_tensor *x, const struct gsg_tensor *gamma,
                                  const struct gsg_tensor *beta, struct gsg_tensor *running_mean,
                                  struct gsg_tensor *running_var, int training, float momentum, float eps);
/* Backward of the fused op: y is its output (the ReLU mask). dx written (may alias dy); dgamma/dbeta
 * accumulated. Equals gsg_relu_bwd(dy, y) followed by gsg_batchnorm_bwd, in two passes instead of three. */
gsg_status gsg_batchnorm_relu_bwd(struct gsg_tensor *dx, struct gsg_tensor *dgamma, struct gsg_tensor *dbeta,
                                  const struct gsg_tensor *dy, const struct gsg_tensor *y, const struct gsg_tensor *x,
                                  const struct gsg_tensor *gamma, const struct gsg_tensor *save_mean,
                                  const struct gsg_tensor *save_invstd);
/* y = relu(a + b) (the residual join of a ResNet block); any aliasing allowed. Backward is gsg_relu_bwd. */
gsg_status gsg_add_relu(struct gsg_tensor *y, const struct gsg_tensor *a, const struct gsg_tensor *b);

/* The front ends' check. t must be non-NULL, of dtype dt, on device dev, with ndim dims equal to
 * dims[] (-1 = any size; ndim = -1: any shape). On failure sets GSG_E_SHAPE with one line:
 *   "<op>: <name> [shape] dtype on dev does not match <ref_name> [shape]: expected [...] f32 on cpu"
 * (the ref part only when ref != NULL). */
gsg_status gsg_ops_check(const char *op, const char *name, const struct gsg_tensor *t, enum gsg_dtype dt,
                         enum gsg_dev dev, const char *ref_name, const struct gsg_tensor *ref, int ndim,
                         const int64_t *dims);
/* Shorthand: t has exactly ref's shape, dtype f32, ref's device. */
gsg_status gsg_ops_check_like(const char *op, const char *name, const struct gsg_tensor *t, const char *ref_name,
                              const struct gsg_tensor *ref);

#endif
