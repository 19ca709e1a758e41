/* fuzz_ckpt_config.h: the tiny training configuration of fuzz_ckpt.c and its seeds (mkseeds.c). */
#ifndef GSG_FUZZ_CKPT_CONFIG_H
#define GSG_FUZZ_CKPT_CONFIG_H
#include "ssl/train.h"

static inline void fuzz_ckpt_config(struct gsg_train_config *c)
{
    FUZZ_CHECK(gsg_train_config_recipe(c, "fmnist") == GSG_OK);
    c->net.width = 1;
    c->net.proj_hidden = 4;
    c->net.proj_dim = 4;
    c->net.pred_hidden = 2;
    c->batch = 2;
    c->image_h = c->image_w = 8;
    c->steps_per_epoch = 1;
    c->epochs = 1;
}
#endif
