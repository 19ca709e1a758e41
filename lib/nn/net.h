/* net.h: ResNet encoders with SimSiam/BYOL heads, their parameters, the SGD
 * optimiser and cosine schedule, the EMA target update, and checkpoints.
 * This is the API gsg-step, gsg-encode and the BYOL target network use.
 *
 * Layout and conventions
 *  - Input: f32 channels-last x [N,H,W,C] (gsg_image_to_f32 in ops.h converts a
 *    u8 [N,C,H,W] batch), N <= the max batch given at creation, H,W as created.
 *  - Outputs of one forward: backbone features h [N,F] (after global average
 *    pool; F = 8*width for resnet18/34, 32*width for resnet50), projection
 *    z [N,D] and prediction p [N,D]; p aliases z when there is no predictor.
 *  - Parameters, gradients and buffers each live in ONE arena, carved into named
 *    views (llm.c). Names are torchvision's resnet state_dict names without `fc`
 *    (`conv1.weight`, `bn1.running_mean`, `layer1.0.downsample.1.weight`,
 *    `layer1.0.bn1.num_batches_tracked` as an i64 scalar), heads as nn.Sequential
 *    indices as in the SimSiam reference code:
 *      projector (2 layers): 0 Linear(F,hid,no bias) 1 BN(hid) 2 ReLU 3 Linear(hid,D,no bias)
 *                            4 BN(D, affine=False)
 *      projector (3 layers): 0 Linear 1 BN 2 ReLU 3 Linear(hid,hid) 4 BN 5 ReLU 6 Linear(hid,D)
 *                            7 BN(D, affine=False)
 *      predictor:            0 Linear(D,ph,no bias) 1 BN(ph) 2 ReLU 3 Linear(ph,D,bias)
 *    e.g. `projector.0.weight`, `projector.4.running_var`, `predictor.3.bias`.
 *    Order in the arenas: backbone, projector, predictor (a target network made
 *    without a predictor has the same prefix layout).
 *  - Initialisation (torchvision): conv kaiming_normal(fan_out, relu), BN gamma=1
 *    beta=0 (last BN of each residual branch gamma=0 with zero_init_residual),
 *    Linear weight and bias uniform(-1/sqrt(in), 1/sqrt(in)) (PyTorch default).
 *    Draws come from the counter-based RNG: stream gsg_rng_stream(GSG_RNG_INIT,
 *    parameter index, 0, 0) with the given seed, so the weights are the same
 *    whatever the thread count or device.
 *  - BN: momentum 0.1, eps 1e-5 (PyTorch). A training-mode forward uses batch
 *    statistics and updates the running averages (and num_batches_tracked).
 *  - Several forward contexts may be open on one network (GSG: four encoder
 *    calls per step). Each context keeps its own activations and BN batch
 *    statistics until its backward. All activation memory is allocated once at
 *    context creation; backward scratch is allocated once per network and shared
 *    (backward calls run one at a time).
 *  - Gradients are ACCUMULATED by gsg_net_backward (four backwards add up);
 *    call gsg_net_zero_grad once per step.
 *  - Functions return gsg_status with the error record set (status.h).
 */
#ifndef GSG_NN_NET_H
#define GSG_NN_NET_H
#include <stdint.h>
#include "../tensor/tensor.h"

enum gsg_arch { GSG_ARCH_RESNET18 = 0, GSG_ARCH_RESNET34 = 1, GSG_ARCH_RESNET50 = 2 };
enum gsg_stem {
    GSG_STEM_CIFAR = 0,      /* conv 3x3 stride 1 pad 1, no max-pool */
    GSG_STEM_IMAGENET = 1,   /* conv 7x7 stride 2 pad 3, max-pool 3x3/2 */
};

struct gsg_net_config {
    enum gsg_arch arch;
    enum gsg_stem stem;
    int in_channels;         /* 3 (RGB) or 1 (Fashion-MNIST) */
    int width;               /* base width: 64 is torchvision's; layers use w, 2w, 4w, 8w */
    int zero_init_residual;  /* 1: gamma=0 on the last BN of each residual branch */
    int proj_layers;         /* 2 (SimSiam CIFAR) or 3 (ImageNet) */
    int proj_hidden;         /* projector hidden width */
    int proj_dim;            /* D: projector output */
    int pred_hidden;         /* predictor hidden width; 0 = no predictor (p = z) */
};

/* Fill cfg with a recipe's model ("cifar", "fmnist", "imagenet"; docs/algorithm.md §7).
 * GSG_E_USAGE for an unknown name. */
gsg_status gsg_net_config_recipe(struct gsg_net_config *cfg, const char *recipe);
/* Check ranges and combinations (GSG_E_USAGE with a message naming the field). */
gsg_status gsg_net_config_check(const struct gsg_net_config *cfg);
/* Append the model keys as key=value lines (arch=resnet18, stem=cifar, in_channels=,
 * width=, zero_init_residual=, proj_layers=, proj_hidden=, proj_dim=, pred_hidden=)
 * to buf (NUL-terminated, cap bytes). Returns 0, or -1 if it does not fit. */
int gsg_net_config_format(const struct gsg_net_config *cfg, char *buf, size_t cap);
/* Parse those keys from key=value text (other keys ignored); every model key must
 * be present. GSG_E_FORMAT naming the key otherwise. */
gsg_status gsg_net_config_parse(struct gsg_net_config *cfg, const char *text);
const char *gsg_arch_name(enum gsg_arch a);   /* "resnet18" ... */
int gsg_arch_parse(const char *s, enum gsg_arch *out);   /* 0, or -1 for an unknown name */
/* The model options of gsg-step and gsg-encode --init: arch (NULL: keep), width, proj (the projector's
 * output and hidden width), pred (predictor hidden width), 0 for "keep"; no_pred: no predictor. An
 * unknown arch name is left to the caller's option parsing (it keeps the recipe's). */
struct gsg_net_overrides {
    const char *arch;
    int64_t width, proj, pred;
    int no_pred;
};
void gsg_net_config_override(struct gsg_net_config *cfg, const struct gsg_net_overrides *o);
const char *gsg_stem_name(enum gsg_stem s);   /* "cifar" / "imagenet" */
int gsg_net_feature_dim(const struct gsg_net_config *cfg);   /* F */
/* Trainable scalars of the network cfg describes (gsg_net_param_numel without the arena's padding). */
int64_t gsg_net_config_param_numel(const struct gsg_net_config *cfg);

/* ---------------- the network ---------------- */
struct gsg_net;
struct gsg_net_ctx;

enum {
    GSG_NET_INFERENCE = 1,   /* no gradient arena, no backward (BYOL target, gsg-encode) */
};

/* Create and initialise. max_batch: the largest N any forward will see; H, W: input size.
 * dev: where every arena, context and scratch buffer lives (docs/execution.md). GSG_DEV_CUDA
 * fails with the backend's one-line reason on a build without CUDA or a machine without a GPU
 * (GSG_E_NO_CUDA), and with GSG_E_UNSUPPORTED naming the first op that has no CUDA kernel yet. */
gsg_status gsg_net_create(struct gsg_net **net, const struct gsg_net_config *cfg, int64_t max_batch,
                          int64_t H, int64_t W, enum gsg_dev dev, uint64_t seed, int flags);
void gsg_net_destroy(struct gsg_net *net);
const struct gsg_net_config *gsg_net_config(const struct gsg_net *net);
int64_t gsg_net_max_batch(const struct gsg_net *net);

/* Parameter groups (for the optimiser's per-group lr). */
enum gsg_group { GSG_GROUP_BACKBONE = 0, GSG_GROUP_PROJECTOR = 1, GSG_GROUP_PREDICTOR = 2 };

/* One named parameter: views into the parameter and gradient arenas (same offset). */
struct gsg_param {
    const char *name;        /* "layer1.0.conv1.weight" */
    struct gsg_tensor value; /* f32 view into the parameter arena */
    struct gsg_tensor grad;  /* f32 view into the gradient arena (data NULL with GSG_NET_INFERENCE) */
    enum gsg_group group;
    int64_t offset;          /* element offset in the arenas */
};
/* One named buffer: BN running_mean / running_var (f32) or num_batches_tracked (i64 scalar). */
struct gsg_buffer {
    const char *name;
    struct gsg_tensor value;
};

int gsg_net_param_count(const struct gsg_net *net);
const struct gsg_param *gsg_net_param(const struct gsg_net *net, int i);
const struct gsg_param *gsg_net_param_find(const struct gsg_net *net, const char *name);  /* NULL if none */
int gsg_net_buffer_count(const struct gsg_net *net);
const struct gsg_buffer *gsg_net_buffer(const struct gsg_net *net, int i);
const struct gsg_buffer *gsg_net_buffer_find(const struct gsg_net *net, const char *name);
/* The arenas as flat f32 arrays of *n elements (for all-reduce, EMA, norms). Pointers into the
 * network's device memory: host-readable only on GSG_DEV_CPU (else use gsg_tensor_to_host). */
float *gsg_net_param_data(struct gsg_net *net, int64_t *n);
float *gsg_net_grad_data(struct gsg_net *net, int64_t *n);    /* NULL with GSG_NET_INFERENCE */
/* The same arenas as f32 [numel] tensors on the network's device (grad: NULL with GSG_NET_INFERENCE).
 * Padding between parameters is zero in all arenas and stays zero. */
const struct gsg_tensor *gsg_net_param_arena(const struct gsg_net *net);
const struct gsg_tensor *gsg_net_grad_arena(const struct gsg_net *net);
enum gsg_dev gsg_net_device(const struct gsg_net *net);
/* Buffers: running_mean/var live on the network's device; num_batches_tracked counters are host
 * integers (dev CPU) on every device, since only the host counts. */

/* Synchronised batch norm (SyncBN, docs/execution.md): with fn set, every training-mode BN forward
 * and backward runs as statistics -> fn(arg, sums) -> apply (ops_engine.h's gsg_bn_* steps), where
 * sums is f64 [2C+1] on the network's device and fn must replace it by its elementwise sum over the
 * ranks (an MPI/NCCL all-reduce; the identity on one rank). fn NULL (the default): the fused
 * single-pass kernels. Results of the two plans agree to rounding (tests/unit/test_nn.c). */
typedef gsg_status (*gsg_net_allreduce_fn)(void *arg, struct gsg_tensor *sums);
void gsg_net_set_bn_allreduce(struct gsg_net *net, gsg_net_allreduce_fn fn, void *arg);
int64_t gsg_net_param_numel(const struct gsg_net *net);        /* total trainable scalars */

/* The standard FLOP count (docs/performance.md §1) of the network at its input size H x W, per image:
 * multiply-accumulates of one forward through every convolution (Ho*Wo*Co*Ci*K*K, padding taps
 * included) and every Linear layer (in*out); BN, ReLU, pooling, bias adds and the loss are not counted. */
struct gsg_net_macs {
    int64_t backbone;        /* all convolutions, the stem's included */
    int64_t projector;
    int64_t predictor;       /* 0 without a predictor */
    int64_t stem;            /* the first convolution alone: its input gradient is never computed */
};
void gsg_net_macs(const struct gsg_net *net, struct gsg_net_macs *m);
/* FLOPs per image of one view's training pass: forward, then weight gradients of every layer and input
 * gradients of every layer but the stem: 2 * (3 * (backbone + projector + predictor) - stem). A SimSiam
 * step costs twice this per image (two views), a GSG step four times. */
int64_t gsg_net_view_train_flops(const struct gsg_net *net);

/* Gradients := 0 (a zero op on the device). */
gsg_status gsg_net_zero_grad(struct gsg_net *net);
/* dst := src for every parameter and buffer dst has (matched by name; src must have them).
 * Used to start a BYOL target as a copy of the online network. */
gsg_status gsg_net_copy(struct gsg_net *dst, const struct gsg_net *src);
/* EMA of a target network: xi <- tau * xi + (1 - tau) * theta for every parameter of
 * target (matched by name in online), parameters only, BN buffers untouched. */
gsg_status gsg_net_ema_update(struct gsg_net *target, const struct gsg_net *online, double tau);

/* ---------------- forward / backward ---------------- */
enum gsg_fwd_mode {
    GSG_FWD_TRAIN = 0,          /* batch statistics, running averages updated, kept for backward */
    GSG_FWD_EVAL = 1,           /* running statistics; backbone, projector and predictor */
    GSG_FWD_EVAL_BACKBONE = 2,  /* running statistics; backbone only (gsg-encode features) */
};

/* Views into the context's memory, valid until the next forward on that context. */
struct gsg_net_out {
    struct gsg_tensor h;     /* [N,F] backbone features */
    struct gsg_tensor z;     /* [N,D] projection (ndim 0, data NULL in GSG_FWD_EVAL_BACKBONE) */
    struct gsg_tensor p;     /* [N,D] prediction; p.data == z.data without predictor */
};

/* A forward context: activations for max_batch images. */
gsg_status gsg_net_ctx_create(struct gsg_net *net, struct gsg_net_ctx **ctx);
void gsg_net_ctx_destroy(struct gsg_net_ctx *ctx);
/* x: f32 [N,H,W,C] on the network's device, 1 <= N <= max_batch. */
gsg_status gsg_net_forward(struct gsg_net *net, struct gsg_net_ctx *ctx, struct gsg_net_out *out,
                           const struct gsg_tensor *x, enum gsg_fwd_mode mode);
/* After a GSG_FWD_TRAIN forward on ctx: back-propagate dz [N,D] (gradient at z from
 * anything but the predictor; NULL = 0) and dp [N,D] (gradient at p; NULL = 0; without
 * a predictor it is simply added to dz). Parameter gradients are accumulated.
 * The input gradient is not computed. */
gsg_status gsg_net_backward(struct gsg_net *net, struct gsg_net_ctx *ctx, const struct gsg_tensor *dz,
                            const struct gsg_tensor *dp);

/* ---------------- optimiser ---------------- */
/* SGD with momentum and weight decay, PyTorch semantics (dampening 0, no Nesterov):
 *   g = grad + wd * w;  m = momentum * m + g;  w -= lr * m
 * lr per group: the predictor group uses lr_pred, every other parameter lr. */
struct gsg_sgd;
gsg_status gsg_sgd_create(struct gsg_sgd **opt, struct gsg_net *net, double momentum, double weight_decay);
void gsg_sgd_destroy(struct gsg_sgd *opt);
gsg_status gsg_sgd_step(struct gsg_sgd *opt, double lr, double lr_pred);
/* Momentum arena (same layout as the parameter arena), for checkpoints and tests: a pointer into
 * the network's device memory, and the same as an f32 [n] tensor on that device. */
float *gsg_sgd_momentum(struct gsg_sgd *opt, int64_t *n);
const struct gsg_tensor *gsg_sgd_momentum_arena(const struct gsg_sgd *opt);

/* Cosine schedule with linear warmup, in any unit (epochs or steps):
 *   t < warmup:  base * (t + 1) / warmup
 *   else:        final + (base - final) * 0.5 * (1 + cos(pi * (t - warmup) / (total - warmup)))
 * With warmup 0 and final 0 this is SimSiam's base * 0.5 * (1 + cos(pi * epoch / epochs)). */
double gsg_lr_cosine(double base, double final, double t, double total, double warmup);

/* ---------------- checkpoints (formats/checkpoint.md) ----------------
 * One tensor stream file, written atomically: every parameter and buffer of net by
 * name, the target's under `target.`, optimiser momentum under `opt.m.<name>`,
 * `gsg.config` (u8 text: the whole configuration, model keys included) and
 * `gsg.state` (u8 text: step=, epoch=, ... whatever the caller keeps). */
struct gsg_ckpt {
    struct gsg_net *net;       /* required */
    struct gsg_net *target;    /* BYOL target network, or NULL */
    struct gsg_sgd *opt;       /* or NULL */
    const char *config;        /* save: gsg.config text (NULL = model keys only) */
    const char *state;         /* save: gsg.state text (NULL = empty) */
};
gsg_status gsg_ckpt_save(const char *path, const struct gsg_ckpt *c);
/* Load into the objects in c (which must already be created with the right config).
 * Every name net (and target, opt when non-NULL) expects must be present with the
 * right dtype and shape, or the error names it; records for objects passed as NULL
 * are skipped; any other unexpected record is an error. *config and *state (when
 * non-NULL) receive malloc'd NUL-terminated copies of gsg.config / gsg.state. */
gsg_status gsg_ckpt_load(const char *path, const struct gsg_ckpt *c, char **config, char **state);
/* Read only gsg.config and gsg.state (to create the network before loading). Both loaders check
 * that gsg.config parses (gsg_net_config_parse) and asks for no more parameter bytes than the
 * file's tensor records hold, and that gsg.state is key=value lines with integer step= and epoch=;
 * GSG_E_FORMAT otherwise, before any network is allocated. */
gsg_status gsg_ckpt_read_text(const char *path, char **config, char **state);

#endif
