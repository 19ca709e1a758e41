/* fuzz_ckpt.c: checkpoint loading on arbitrary bytes, the two ways the tools load one:
 *  - gsg-step --resume: a trainer made from a fixed tiny configuration (fmnist, ResNet-18 of width
 *    1, 8x8 images) loads the file; when that succeeds the state's step must be the decimal
 *    number the file gives (a step that is not a number must be refused, not read as 0);
 *  - gsg-encode --ckpt: gsg.config of the file decides the network (lib/eval/encode.c), which is
 *    created, loaded and run on one zero image.
 * The seeds (tests/fuzz/mkseeds.c) are checkpoints of that tiny configuration. */
#include "fuzz.h"
#include "eval/encode.h"
#include "io/tstream.h"
#include "nn/net.h"
#include "ssl/train.h"

#include "fuzz_ckpt_config.h"

static struct gsg_trainer *tr;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tr) {
        struct gsg_train_config c;
        fuzz_ckpt_config(&c);
        FUZZ_CHECK(gsg_trainer_create(&tr, &c, GSG_DEV_CPU) == GSG_OK);
    }
    char path[64];
    int fd = fuzz_memfd(data, size, path);
    char *config = NULL, *state = NULL;
    gsg_status st = gsg_ckpt_read_text(path, &config, &state);
    if (st < 0) {
        FUZZ_CHECK(config == NULL && state == NULL && gsg_err_msg()[0]);
        close(fd);
        return 0;
    }
    FUZZ_CHECK(config && state);
    if (gsg_trainer_load(tr, path) == GSG_OK) {
        char sv[64], *end;
        FUZZ_CHECK(gsg_meta_get(state, "step", sv, sizeof sv));
        errno = 0;
        long long step = strtoll(sv, &end, 10);
        FUZZ_CHECK(end != sv && *end == 0 && errno == 0 && step >= 0);
        FUZZ_CHECK(gsg_trainer_step_index(tr) == step);
    }
    struct gsg_net_config nc;
    if (gsg_net_config_parse(&nc, config) == GSG_OK) {
        struct gsg_encoder *e = NULL;
        struct gsg_encoder_spec s = {.ckpt = path, .max_batch = 1, .C = nc.in_channels, .H = 8, .W = 8, .dev = GSG_DEV_CPU};
        if (gsg_encoder_create(&e, &s) == GSG_OK) {
            int64_t F = gsg_encoder_feature_dim(e);
            uint8_t *img = calloc((size_t)nc.in_channels * 64, 1);
            float *h = calloc((size_t)F, sizeof *h);
            float mean[64], sd[64];
            for (int k = 0; k < 64; k++) { mean[k] = 0.5f; sd[k] = 0.25f; }
            FUZZ_CHECK(img && h);
            FUZZ_CHECK(gsg_encoder_run(e, h, NULL, img, 1, mean, sd) == GSG_OK);
            fuzz_touch(h, (size_t)F * sizeof *h);
            free(img);
            free(h);
            gsg_encoder_destroy(e);
        } else {
            FUZZ_CHECK(gsg_err_msg()[0]);
        }
    }
    free(config);
    free(state);
    close(fd);
    return 0;
}
