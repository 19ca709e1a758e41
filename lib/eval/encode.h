/* encode.h: a frozen encoder for feature extraction (gsg-encode).
 *
 * Built from a checkpoint (its gsg.config gives the model; the online network's
 * parameters and BN buffers are loaded, or the BYOL target network's with
 * use_target) or freshly initialised from a recipe and seed (a random-encoder
 * baseline). Forward passes run in eval mode (BN running statistics) in chunks of
 * at most max_batch images, so memory is fixed at creation whatever the input.
 * Output: backbone features h [N,F] (global average pool) and, optionally,
 * projections z [N,D]. */
#ifndef GSG_EVAL_ENCODE_H
#define GSG_EVAL_ENCODE_H
#include <stdint.h>
#include "core/status.h"
#include "tensor/tensor.h"

struct gsg_net_config;

struct gsg_encoder;

struct gsg_encoder_spec {
    const char *ckpt;        /* checkpoint path, or NULL for a fresh network */
    const char *recipe;      /* fresh network: cifar | fmnist | imagenet */
    const struct gsg_net_config *config;   /* fresh network: this model instead of the recipe's
                                              (recipe still names the normalisation); or NULL */
    uint64_t seed;           /* fresh network: initialisation seed */
    int use_target;          /* checkpoint: encode with the BYOL target network */
    int projections;         /* also compute projections (needs the projector) */
    int64_t max_batch;       /* images per forward */
    int64_t C, H, W;         /* input images */
    enum gsg_dev dev;
};

gsg_status gsg_encoder_create(struct gsg_encoder **e, const struct gsg_encoder_spec *spec);
void gsg_encoder_destroy(struct gsg_encoder *e);
int64_t gsg_encoder_feature_dim(const struct gsg_encoder *e);   /* F */
int64_t gsg_encoder_proj_dim(const struct gsg_encoder *e);      /* D */
/* The recipe named by the checkpoint's gsg.config (or the spec's): "" when unknown. */
const char *gsg_encoder_recipe(const struct gsg_encoder *e);
/* The checkpoint's gsg.state text ("" when none or fresh). */
const char *gsg_encoder_state(const struct gsg_encoder *e);

/* images: u8 (N, C, H, W) host, normalised as (x/255 - mean[c]) / std[c];
 * h: (N, F) f32 host; z: (N, D) f32 host or NULL. Any N >= 1. */
gsg_status gsg_encoder_run(struct gsg_encoder *e, float *h, float *z, const uint8_t *images, int64_t N,
                           const float *mean, const float *std);

#endif
