/* train.h: the SimSiam / BYOL training step, with or without Guided Stop-Gradient, and the SimCLR
 * baseline (docs/algorithm.md), on top of lib/nn/net.h. gsg-step is a thin loop around this.
 *
 * One step on a batch of N images with V views (u8 [N,V,C,H,W]):
 *   BYOL: target <- ema * target + (1 - ema) * online          (parameters only, first)
 *   baseline (gsg=0): views 0,1 -> two encoder calls; L = SimSiam's symmetric loss
 *   GSG, 4-view pairing (the paper): r = permutation(seed, step, rank);
 *        A1,A2,B1,B2 = V0, V1, V2[r], V3[r]: four encoder calls (BN statistics per call)
 *   GSG, 2-view pairing (option): A1,A2 = V0,V1; B1,B2 = A1[r], A2[r] (rows of the same
 *        two encoder calls: half the encoder work, the same BN statistics)
 *   targets t = sg(z) of the online network (SimSiam) or the target network (BYOL,
 *   BN in train mode); distances, choices and loss from lib/ssl/gsg.h; backward
 *   through every encoder call; SGD momentum with the cosine schedule per epoch.
 *   SimCLR: views 0,1 -> ONE encoder call on the 2N rows [V0; V1] (BN statistics over both views, as
 *   SimCLR's code), no predictor, no stop-gradient; z -> gsg_l2norm -> NT-Xent (gsg_ntxent_fwd/bwd,
 *   temperature c->temperature) over the 2N rows, or under several ranks over the global batch: the
 *   normalised rows and each anchor's log-sum-exp are all-gathered (an all-reduce of zero-padded
 *   buffers, exact), and each rank's rows get the exact gradient of the global loss (from every
 *   rank's anchors), as the all-gather of SimCLR's reference code differentiates.
 * A non-finite loss, or a non-finite loss gradient of any encoder call (all four views under
 * GSG), returns GSG_E_NUMERIC before the backward pass and the update: the
 * online parameters and optimiser state are untouched (BN running statistics and, for
 * BYOL, the target's EMA step have already happened). The environment variable
 * GSG_TEST_NAN_STEP=S makes step S's loss NaN (with GSG_TEST_NAN_GRAD=V: view V's gradient
 * instead; SimCLR: the projections' gradient), for tests of that path. GSG_TEST_SIMCLR=local (each rank's
 * negatives are its own rows only) or =nograd (gathered negatives, but no gradient from the other
 * ranks' anchors) make the distributed SimCLR loss wrong on purpose, for the tests that must see it.
 */
#ifndef GSG_SSL_TRAIN_H
#define GSG_SSL_TRAIN_H
#include <stddef.h>
#include <stdint.h>
#include "../nn/net.h"
#include "gsg.h"

enum gsg_method { GSG_METHOD_SIMSIAM = 0, GSG_METHOD_BYOL = 1, GSG_METHOD_SIMCLR = 2 };
enum gsg_pairing { GSG_PAIR_4VIEW = 0, GSG_PAIR_2VIEW = 1 };

struct gsg_train_config {
    char recipe[32];           /* cifar | fmnist | imagenet */
    enum gsg_method method;
    int gsg;                   /* 1: Guided Stop-Gradient (not with SimCLR) */
    enum gsg_pairing pairing;
    enum gsg_dist dist;
    int fix_pred_lr;           /* predictor lr stays at the base lr */
    double lr;                 /* base lr; 0 = the recipe's rule (lr_per256 * batch / 256) */
    double lr_per256;          /* the recipe's lr per 256 images */
    double wd, momentum;
    double ema;                /* BYOL target momentum */
    int ema_cosine;            /* 1: BYOL's cosine schedule of the EMA momentum to 1.0 */
    double temperature;        /* SimCLR's tau: 0.5 (cifar, fmnist: SimCLR's CIFAR-10 setting), 0.1 (imagenet) */
    int64_t epochs, warmup;    /* warmup in epochs (linear), then cosine to 0 */
    int64_t steps_per_epoch;   /* batches per epoch */
    int64_t batch;             /* images per global batch: the stream's N times the ranks (the lr rule's B) */
    int64_t image_h, image_w;  /* input size */
    uint64_t seed;
    int64_t rank;              /* data-parallel rank (the permutation key); placement: not in gsg.config */
    int64_t world;             /* ranks sharing each batch (0 or 1: one); placement: not in gsg.config */
    struct gsg_net_config net; /* net.pred_hidden == 0: the no-predictor ablation (SimCLR: always 0) */
};

/* Fill every field with a recipe's defaults (docs/algorithm.md §7). GSG_E_USAGE for an unknown name. */
gsg_status gsg_train_config_recipe(struct gsg_train_config *c, const char *recipe);
/* The base lr actually used (c->lr, or the recipe's rule at c->batch). */
double gsg_train_base_lr(const struct gsg_train_config *c);
/* key=value lines, the model keys included (gsg.config of a checkpoint; temperature= only for SimCLR, so
 * SimSiam/BYOL checkpoints read as before). 0, or -1 if it does not fit. */
int gsg_train_config_format(const struct gsg_train_config *c, char *buf, size_t cap);
/* Parse gsg_train_config_format's text (GSG_E_FORMAT naming a missing or bad key). */
gsg_status gsg_train_config_parse(struct gsg_train_config *c, const char *text);
/* First line that differs between two config texts: key, both values. Returns 0 when equal. */
int gsg_train_config_diff(const char *a, const char *b, char *key, size_t kcap, char *va, char *vb, size_t vcap);
const char *gsg_method_name(enum gsg_method m);
const char *gsg_pairing_name(enum gsg_pairing p);

/* One batch as it comes from gsg-augment. */
struct gsg_train_batch {
    const uint8_t *views;      /* u8 [N,V,C,H,W] */
    int64_t N, V, C, H, W;
    float mean[3], std[3];     /* normalisation: x = (u8/255 - mean[c]) / std[c] */
};

/* What a step measured (pointers stay valid until the next step). */
struct gsg_train_stats {
    int64_t step, epoch, N, D;
    double loss, lr, lr_pred, ema;
    int64_t counts[4];          /* GSG choices (zeros for the baselines) */
    double erank_z, erank_h;    /* effective rank of view A1's projections / backbone features */
    double erank_z_max, erank_h_max;
    double std_z;               /* mean per-dimension std of L2-normalised z (about 1/sqrt(D)) */
    double cos_views;           /* mean cos(zA1, zA2) (SimCLR: of the two views) */
    double seconds, select_seconds;   /* whole step; GSG selection + loss */
    double comm_seconds;        /* in collectives (BN statistics, reductions, gradients): 0 on one rank */
    double grad_seconds;        /* of which the gradient all-reduce */
    int64_t comm_calls;
    const float *z[4];          /* the targets' raw projections A1,A2,B1,B2 [N,D] (gsg only) */
    const int64_t *perm, *choice;     /* [N] (gsg only) */
    const float *loss_rows;     /* [N] (SimCLR: the mean of the image's two anchors) */
};

struct gsg_trainer;
/* Create the online network (and BYOL's target network as its copy), optimiser,
 * contexts and buffers for batches of up to c->batch images of C x image_h x image_w. */
gsg_status gsg_trainer_create(struct gsg_trainer **tr, const struct gsg_train_config *c, enum gsg_dev dev);
void gsg_trainer_destroy(struct gsg_trainer *tr);
const struct gsg_train_config *gsg_trainer_config(const struct gsg_trainer *tr);
int64_t gsg_trainer_step_index(const struct gsg_trainer *tr);   /* steps done */
int64_t gsg_trainer_total_steps(const struct gsg_trainer *tr);  /* epochs * steps_per_epoch */
struct gsg_net *gsg_trainer_net(struct gsg_trainer *tr);
struct gsg_net *gsg_trainer_target(struct gsg_trainer *tr);     /* NULL unless BYOL */
/* Collapse monitors cost a few ms on large heads: compute them every k steps (1 = every step, 0 = never). */
void gsg_trainer_set_monitor_every(struct gsg_trainer *tr, int64_t k);

/* One training step. GSG_E_NUMERIC (message names step and loss) leaves parameters,
 * optimiser state and step count as they were. */
gsg_status gsg_trainer_step(struct gsg_trainer *tr, const struct gsg_train_batch *b, struct gsg_train_stats *st);

/* Data-parallel training over the ranks of d (lib/dist/dist.h), which outlives the trainer: each
 * rank steps on its batch.N = batch / world images; the loss gradients are scaled by 1/world, the
 * parameter gradients summed over the ranks (one all-reduce of the flat gradient arena after the
 * backward pass), so every rank applies the global batch's mean gradient; with sync_bn every
 * training-mode BN (online and BYOL target) normalises with the statistics of the global batch
 * (SyncBN), else with its rank's. The loss, choice counts and the non-finite verdict are reduced
 * before the backward pass, so the ranks agree on them; the monitors are the rank's own. The GSG
 * permutation is keyed by the rank. SimCLR's negatives are the whole global batch: the normalised
 * projections and the anchors' log-sum-exp are gathered (two more all-reduces per step, every rank
 * with the same N), and each rank's rows get the exact gradient of the global loss. A one-rank d
 * changes nothing. */
struct gsg_comm;
gsg_status gsg_trainer_set_dist(struct gsg_trainer *tr, struct gsg_comm *d, int sync_bn);

/* A hash of what data-parallel ranks keep equal: parameters, momentum and a BYOL target's parameters
 * (not the BN running statistics, which --local-bn leaves per rank). */
gsg_status gsg_trainer_state_hash(struct gsg_trainer *tr, uint64_t *h);

/* Checkpoint: parameters, buffers, target, momentum, gsg.config and gsg.state (step=, epoch=). */
gsg_status gsg_trainer_save(struct gsg_trainer *tr, const char *path);
/* Load a checkpoint written by gsg_trainer_save with the same configuration. */
gsg_status gsg_trainer_load(struct gsg_trainer *tr, const char *path);

/* The input conversion (u8 views -> normalised f32 NHWC) is gsg_op_views_to_f32 (ops_engine.h). */

#endif
