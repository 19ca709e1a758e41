/* encode.c: frozen encoder over lib/nn (see encode.h). */
#include "eval/encode.h"
#include <stdlib.h>
#include <string.h>
#include "io/tstream.h"
#include "nn/net.h"
#include "ops/ops.h"

struct gsg_encoder {
    struct gsg_net *net;       /* online network (always: the checkpoint's records need it) */
    struct gsg_net *target;    /* BYOL target, with use_target */
    struct gsg_net *enc;       /* the one that encodes */
    struct gsg_net_ctx *ctx;
    struct gsg_tensor img;     /* u8 [B,C,H,W] on the device (CUDA only) */
    struct gsg_tensor x;       /* f32 [B,H,W,C] on the device */
    int64_t B, C, H, W, F, D;
    int projections;
    enum gsg_dev dev;
    char recipe[32];
    char *state;
};

void gsg_encoder_destroy(struct gsg_encoder *e)
{
    if (!e) return;
    gsg_net_ctx_destroy(e->ctx);
    gsg_net_destroy(e->target);
    gsg_net_destroy(e->net);
    gsg_tensor_free(&e->img);
    gsg_tensor_free(&e->x);
    free(e->state);
    free(e);
}

int64_t gsg_encoder_feature_dim(const struct gsg_encoder *e) { return e->F; }
int64_t gsg_encoder_proj_dim(const struct gsg_encoder *e) { return e->D; }
const char *gsg_encoder_recipe(const struct gsg_encoder *e) { return e->recipe; }
const char *gsg_encoder_state(const struct gsg_encoder *e) { return e->state ? e->state : ""; }

gsg_status gsg_encoder_create(struct gsg_encoder **out, const struct gsg_encoder_spec *s)
{
    *out = NULL;
    if (s->max_batch < 1 || s->C < 1 || s->H < 1 || s->W < 1)
        return gsg_err_set(GSG_E_USAGE, "encoder: batch %lld, images %lldx%lldx%lld: expected positive sizes",
                           (long long)s->max_batch, (long long)s->C, (long long)s->H, (long long)s->W);
    struct gsg_encoder *e = calloc(1, sizeof *e);
    if (!e) return gsg_err_set(GSG_E_NOMEM, "encoder: out of memory");
    struct gsg_net_config cfg;
    char *config = NULL;
    gsg_status st;
    if (s->ckpt) {
        st = gsg_ckpt_read_text(s->ckpt, &config, &e->state);
        if (st < 0) goto fail;
        st = gsg_net_config_parse(&cfg, config ? config : "");
        if (st < 0) { gsg_err_prefix(st, "%s: gsg.config", s->ckpt); goto fail; }
        if (!gsg_meta_get(config ? config : "", "recipe", e->recipe, sizeof e->recipe)) e->recipe[0] = 0;
    } else if (s->config) {
        cfg = *s->config;
        st = gsg_net_config_check(&cfg);
        if (st < 0) goto fail;
        snprintf(e->recipe, sizeof e->recipe, "%s", s->recipe ? s->recipe : "");
    } else {
        st = gsg_net_config_recipe(&cfg, s->recipe ? s->recipe : "");
        if (st < 0) goto fail;
        snprintf(e->recipe, sizeof e->recipe, "%s", s->recipe);
    }
    if (cfg.in_channels != s->C) {
        st = gsg_err_set(GSG_E_SHAPE, "%s: the network takes %d channels, the images have %lld",
                         s->ckpt ? s->ckpt : s->recipe ? s->recipe : "encoder", cfg.in_channels, (long long)s->C);
        goto fail;
    }
    e->B = s->max_batch; e->C = s->C; e->H = s->H; e->W = s->W; e->dev = s->dev;
    e->projections = s->projections;
    st = gsg_net_create(&e->net, &cfg, e->B, e->H, e->W, s->dev, s->seed, GSG_NET_INFERENCE);
    if (st < 0) goto fail;
    e->enc = e->net;
    if (s->ckpt) {
        struct gsg_ckpt c = { .net = e->net };
        if (s->use_target) {
            struct gsg_net_config tcfg = cfg;
            tcfg.pred_hidden = 0;
            st = gsg_net_create(&e->target, &tcfg, e->B, e->H, e->W, s->dev, s->seed, GSG_NET_INFERENCE);
            if (st < 0) goto fail;
            c.target = e->target;
            e->enc = e->target;
        }
        st = gsg_ckpt_load(s->ckpt, &c, NULL, NULL);
        if (st < 0) goto fail;
    } else if (s->use_target) {
        st = gsg_err_set(GSG_E_USAGE, "encoder: a target network needs a checkpoint");
        goto fail;
    }
    e->F = gsg_net_feature_dim(&cfg);
    e->D = cfg.proj_dim;
    st = gsg_net_ctx_create(e->enc, &e->ctx);
    if (st < 0) goto fail;
    int64_t xd[4] = { e->B, e->H, e->W, e->C };
    st = gsg_tensor_alloc(&e->x, GSG_DTYPE_F32, s->dev, 4, xd);
    if (st < 0) goto fail;
    if (s->dev != GSG_DEV_CPU) {
        int64_t id[4] = { e->B, e->C, e->H, e->W };
        st = gsg_tensor_alloc(&e->img, GSG_DTYPE_U8, s->dev, 4, id);
        if (st < 0) goto fail;
    }
    free(config);
    *out = e;
    return GSG_OK;
fail:
    free(config);
    gsg_encoder_destroy(e);
    return st;
}

gsg_status gsg_encoder_run(struct gsg_encoder *e, float *h, float *z, const uint8_t *images, int64_t N,
                           const float *mean, const float *std)
{
    if (z && !e->projections) return gsg_err_set(GSG_E_USAGE, "encoder: created without projections");
    int64_t per = e->C * e->H * e->W;
    for (int64_t n0 = 0; n0 < N; n0 += e->B) {
        int64_t nb = N - n0 < e->B ? N - n0 : e->B;
        struct gsg_tensor src = gsg_tview((void *)(images + n0 * per), GSG_DTYPE_U8, 4, nb, e->C, e->H, e->W);
        struct gsg_tensor x = gsg_tensor_view(e->x.data, GSG_DTYPE_F32, e->dev, 4, (int64_t[]){ nb, e->H, e->W, e->C });
        if (e->dev != GSG_DEV_CPU) {
            struct gsg_tensor dimg = gsg_tensor_view(e->img.data, GSG_DTYPE_U8, e->dev, 4, src.dims);
            GSG_TRY(gsg_tensor_copy(&dimg, &src));
            GSG_TRY(gsg_image_to_f32(&x, &dimg, mean, std));
        } else {
            GSG_TRY(gsg_image_to_f32(&x, &src, mean, std));
        }
        struct gsg_net_out o;
        GSG_TRY(gsg_net_forward(e->enc, e->ctx, &o, &x, z ? GSG_FWD_EVAL : GSG_FWD_EVAL_BACKBONE));
        struct gsg_tensor hv = gsg_tview(h + n0 * e->F, GSG_DTYPE_F32, 2, nb, e->F);
        GSG_TRY(gsg_tensor_copy(&hv, &o.h));
        if (z) {
            struct gsg_tensor zv = gsg_tview(z + n0 * e->D, GSG_DTYPE_F32, 2, nb, e->D);
            GSG_TRY(gsg_tensor_copy(&zv, &o.z));
        }
    }
    return GSG_OK;
}
