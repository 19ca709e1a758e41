/* test_ckpt.c: checkpoints (formats/checkpoint.md): a round trip of parameters,
 * buffers, the BYOL target, optimiser momentum and the text records; refusal of
 * bad files (wrong shape, missing name, wrong dtype, unexpected record, not a
 * checkpoint) with a message naming the record; no file left on failure. */
#define _GNU_SOURCE
#include "check.h"
#include "nn/net.h"
#include "io/tstream.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

static char dir[256];

static struct gsg_net_config cfg(int width)
{
    struct gsg_net_config c = {GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, width, 0, 2, 8, 6, 4};
    return c;
}

static struct gsg_net *mk(int width, int pred, uint64_t seed, int flags)
{
    struct gsg_net_config c = cfg(width);
    c.pred_hidden = pred;
    struct gsg_net *n = NULL;
    if (gsg_net_create(&n, &c, 2, 4, 4, GSG_DEV_CPU, seed, flags) < 0) printf("  create: %s\n", gsg_err_msg());
    return n;
}

static char *path_of(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* Every parameter byte-identical (padding between tensors excluded); with m1/m2, the
 * momentum arenas laid out like a's and b's parameters. */
static int same_params(struct gsg_net *a, struct gsg_net *b, const float *m1, const float *m2)
{
    if (gsg_net_param_count(a) != gsg_net_param_count(b)) return 0;
    for (int i = 0; i < gsg_net_param_count(a); i++) {
        const struct gsg_param *p = gsg_net_param(a, i), *q = gsg_net_param(b, i);
        const void *x = m1 ? (const void *)(m1 + p->offset) : p->value.data;
        const void *y = m2 ? (const void *)(m2 + q->offset) : q->value.data;
        if (strcmp(p->name, q->name) || memcmp(x, y, gsg_tensor_nbytes(&p->value))) return 0;
    }
    return 1;
}

static void fill_grads(struct gsg_net *net)
{
    for (int i = 0; i < gsg_net_param_count(net); i++) {
        const struct gsg_param *p = gsg_net_param(net, i);
        for (int64_t k = 0; k < gsg_tensor_numel(&p->grad); k++) ((float *)p->grad.data)[k] = (float)((k + i) % 7 - 3) * 0.01f;
    }
}

/* Make a full checkpoint: net with a target and momentum, all non-trivial. */
static void make_full(const char *path)
{
    struct gsg_net *net = mk(2, 4, 1, 0), *tg = mk(2, 0, 2, GSG_NET_INFERENCE);
    struct gsg_sgd *opt = NULL;
    gsg_sgd_create(&opt, net, 0.9, 5e-4);
    fill_grads(net);
    gsg_sgd_step(opt, 0.1, 0.1);
    *(int64_t *)gsg_net_buffer_find(net, "bn1.num_batches_tracked")->value.data = 42;
    struct gsg_ckpt c = {net, tg, opt, "method=byol\nlr=0.1\n", "step=7\nepoch=1\n"};
    CHECK_OK(gsg_ckpt_save(path, &c));
    gsg_sgd_destroy(opt);
    gsg_net_destroy(net);
    gsg_net_destroy(tg);
}

TEST(round_trip)
{
    const char *p = path_of("full.gsgt");
    struct gsg_net *net = mk(2, 4, 1, 0), *tg = mk(2, 0, 2, GSG_NET_INFERENCE);
    struct gsg_sgd *opt = NULL;
    CHECK_OK(gsg_sgd_create(&opt, net, 0.9, 5e-4));
    fill_grads(net);
    CHECK_OK(gsg_sgd_step(opt, 0.1, 0.05));
    float *bv = gsg_net_buffer_find(net, "layer2.1.bn2.running_var")->value.data;
    bv[1] = 3.5f;
    *(int64_t *)gsg_net_buffer_find(net, "bn1.num_batches_tracked")->value.data = 42;
    struct gsg_ckpt c = {net, tg, opt, "method=byol\nlr=0.1\n", "step=7\nepoch=1\n"};
    CHECK_OK(gsg_ckpt_save(p, &c));
    CHECK(access(p, F_OK) == 0);
    /* the text records first, without touching a network */
    char *config = NULL, *state = NULL;
    CHECK_OK(gsg_ckpt_read_text(p, &config, &state));
    CHECK(config && strstr(config, "method=byol\n") && strstr(config, "arch=resnet18\n") && strstr(config, "pred_hidden=4\n"));
    CHECK(state && !strcmp(state, "step=7\nepoch=1\n"));
    struct gsg_net_config rc;
    if (config) CHECK_OK(gsg_net_config_parse(&rc, config));
    free(config); free(state);
    /* load into fresh objects with other seeds */
    struct gsg_net *net2 = NULL, *tg2 = mk(2, 0, 9, GSG_NET_INFERENCE);
    CHECK_OK(gsg_net_create(&net2, &rc, 2, 4, 4, GSG_DEV_CPU, 8, 0));
    if (!net2) return;
    struct gsg_sgd *opt2 = NULL;
    CHECK_OK(gsg_sgd_create(&opt2, net2, 0.9, 5e-4));
    struct gsg_ckpt c2 = {net2, tg2, opt2, NULL, NULL};
    CHECK_OK(gsg_ckpt_load(p, &c2, &config, &state));
    CHECK(same_params(net, net2, NULL, NULL));
    CHECK(same_params(tg, tg2, NULL, NULL));
    CHECK(same_params(net, net2, gsg_sgd_momentum(opt, NULL), gsg_sgd_momentum(opt2, NULL)));
    CHECK(((float *)gsg_net_buffer_find(net2, "layer2.1.bn2.running_var")->value.data)[1] == 3.5f);
    CHECK_EQ_I64(*(int64_t *)gsg_net_buffer_find(net2, "bn1.num_batches_tracked")->value.data, 42);
    CHECK(state && !strcmp(state, "step=7\nepoch=1\n"));
    free(config); free(state);
    /* encoder-style load: network only, target and momentum records skipped */
    struct gsg_net *enc = NULL;
    CHECK_OK(gsg_net_create(&enc, &rc, 3, 4, 4, GSG_DEV_CPU, 5, GSG_NET_INFERENCE));
    struct gsg_ckpt c3 = {enc, NULL, NULL, NULL, NULL};
    CHECK_OK(gsg_ckpt_load(p, &c3, NULL, NULL));
    CHECK(same_params(net, enc, NULL, NULL));
    /* saving again gives the same bytes (deterministic writer) */
    const char *p2 = path_of("again.gsgt");
    struct gsg_ckpt c4 = {net2, tg2, opt2, "method=byol\nlr=0.1\n", "step=7\nepoch=1\n"};
    CHECK_OK(gsg_ckpt_save(p2, &c4));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", p, p2);
    CHECK(system(cmd) == 0);
    gsg_net_destroy(enc);
    gsg_sgd_destroy(opt); gsg_sgd_destroy(opt2);
    gsg_net_destroy(net); gsg_net_destroy(net2); gsg_net_destroy(tg); gsg_net_destroy(tg2);
}

/* Copy src to dst record by record, letting edit() drop (return 0) or change a record. */
typedef int (*edit_fn)(struct gsg_record *rec, struct gsg_tensor *t, void *scratch);
static void rewrite(const char *src, const char *dst, edit_fn edit)
{
    struct gsg_tstream_reader *r = NULL;
    struct gsg_tstream_writer *w = NULL;
    CHECK_OK(gsg_tstream_open_read(&r, src));
    CHECK_OK(gsg_tstream_open_write(&w, dst, 1));
    if (!r || !w) return;
    struct gsg_record rec;
    static double scratch[1 << 16];
    while (gsg_tstream_read(r, &rec) == GSG_OK) {
        struct gsg_tensor t = rec.t;
        if (edit && !edit(&rec, &t, scratch)) continue;
        CHECK_OK(gsg_tstream_write(w, rec.name, rec.seq, rec.meta, &t));
    }
    gsg_tstream_close_read(r);
    CHECK_OK(gsg_tstream_close(w));
}

static int drop_conv(struct gsg_record *rec, struct gsg_tensor *t, void *s)
{
    return strcmp(rec->name, "layer3.0.conv2.weight") != 0;
}
static int to_f64(struct gsg_record *rec, struct gsg_tensor *t, void *s)
{
    if (strcmp(rec->name, "layer1.1.bn1.bias")) return 1;
    double *d = s;
    for (int64_t i = 0; i < gsg_tensor_numel(t); i++) d[i] = ((float *)t->data)[i];
    *t = gsg_tensor_view(d, GSG_DTYPE_F64, GSG_DEV_CPU, t->ndim, t->dims);
    return 1;
}
static int reshape(struct gsg_record *rec, struct gsg_tensor *t, void *s)
{
    if (strcmp(rec->name, "projector.0.weight")) return 1;
    int64_t d[2] = {t->dims[1], t->dims[0]};
    *t = gsg_tensor_view(t->data, t->dtype, GSG_DEV_CPU, 2, d);
    return 1;
}
static int drop_config(struct gsg_record *rec, struct gsg_tensor *t, void *s)
{
    return strcmp(rec->name, "gsg.config") != 0;
}
static int rename_one(struct gsg_record *rec, struct gsg_tensor *t, void *s)
{
    if (!strcmp(rec->name, "bn1.bias")) strcpy(rec->name, "bn9.bias");
    return 1;
}

static void expect_refusal(const char *file, const char *want1, const char *want2)
{
    struct gsg_net *net = mk(2, 4, 3, 0);
    struct gsg_ckpt c = {net, NULL, NULL, NULL, NULL};
    gsg_status st = gsg_ckpt_load(file, &c, NULL, NULL);
    CHECK_MSG(st == GSG_E_FORMAT, "status %d for %s", (int)st, file);
    const char *m = gsg_err_msg();
    CHECK_MSG(strstr(m, want1) && strstr(m, want2), "message '%s' lacks '%s' / '%s'", m, want1, want2);
    CHECK(strchr(m, '\n') == NULL);
    gsg_net_destroy(net);
}

TEST(refuses_missing_record)
{
    const char *full = path_of("full.gsgt"), *bad = path_of("missing.gsgt");
    make_full(full);
    rewrite(full, bad, drop_conv);
    expect_refusal(bad, "missing record 'layer3.0.conv2.weight'", "f32 [8,8,3,3]");
}

TEST(refuses_wrong_dtype)
{
    const char *full = path_of("full.gsgt"), *bad = path_of("dtype.gsgt");
    make_full(full);
    rewrite(full, bad, to_f64);
    expect_refusal(bad, "'layer1.1.bn1.bias'", "f64");
}

TEST(refuses_wrong_shape)
{
    const char *full = path_of("full.gsgt"), *bad = path_of("shape.gsgt");
    make_full(full);
    rewrite(full, bad, reshape);
    expect_refusal(bad, "'projector.0.weight'", "[16,8]");
    /* a checkpoint of a wider network */
    struct gsg_net *wide = mk(4, 4, 1, 0);
    struct gsg_ckpt c = {wide, NULL, NULL, NULL, NULL};
    const char *wp = path_of("wide.gsgt");
    CHECK_OK(gsg_ckpt_save(wp, &c));
    gsg_net_destroy(wide);
    expect_refusal(wp, "'conv1.weight'", "[4,1,3,3]");
}

TEST(refuses_unexpected_and_non_checkpoints)
{
    const char *full = path_of("full.gsgt"), *bad = path_of("renamed.gsgt"), *nc = path_of("nocfg.gsgt");
    make_full(full);
    rewrite(full, bad, rename_one);
    expect_refusal(bad, "'bn9.bias'", "unexpected record");
    rewrite(full, nc, drop_config);
    expect_refusal(nc, "missing record 'gsg.config'", nc);
    /* a checkpoint without a predictor loaded into a network with one */
    struct gsg_net *np = mk(2, 0, 1, 0);
    struct gsg_ckpt c = {np, NULL, NULL, NULL, NULL};
    const char *pp = path_of("nopred.gsgt");
    CHECK_OK(gsg_ckpt_save(pp, &c));
    gsg_net_destroy(np);
    expect_refusal(pp, "missing record 'predictor.0.weight'", "");
    /* a file that does not exist */
    struct gsg_net *net = mk(2, 4, 3, 0);
    struct gsg_ckpt c2 = {net, NULL, NULL, NULL, NULL};
    CHECK(gsg_ckpt_load(path_of("nonexistent.gsgt"), &c2, NULL, NULL) == GSG_E_IO);
    gsg_net_destroy(net);
}

TEST(failed_save_leaves_no_file)
{
    struct gsg_net *net = mk(2, 4, 1, 0);
    struct gsg_ckpt c = {net, NULL, NULL, NULL, NULL};
    CHECK(gsg_ckpt_save("/nonexistent-dir/x.gsgt", &c) < 0);
    /* no temporary files in our directory */
    DIR *d = opendir(dir);
    struct dirent *e;
    int tmp = 0;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) tmp++;
    if (d) closedir(d);
    CHECK_EQ_I64(tmp, 0);
    gsg_net_destroy(net);
}

/* --write-cifar FILE: a checkpoint of the cifar recipe's network (ResNet-18, width 64) with
 * optimiser momentum, for tests/pipelines/torch-parity.bats (safetensors export -> torchvision). */
static int write_cifar(const char *path)
{
    struct gsg_net_config c;
    gsg_net_config_recipe(&c, "cifar");
    c.proj_hidden = 64; c.proj_dim = 32; c.pred_hidden = 16;
    struct gsg_net *net = NULL;
    struct gsg_sgd *opt = NULL;
    gsg_status st = gsg_net_create(&net, &c, 2, 8, 8, GSG_DEV_CPU, 3, 0);
    if (st >= 0) st = gsg_sgd_create(&opt, net, 0.9, 5e-4);
    if (st >= 0) {
        *(int64_t *)gsg_net_buffer_find(net, "layer1.0.bn1.num_batches_tracked")->value.data = 5;
        ((float *)gsg_net_buffer_find(net, "bn1.running_mean")->value.data)[2] = 0.25f;
        struct gsg_ckpt k = {net, NULL, opt, "recipe=cifar\n", "step=0\n"};
        st = gsg_ckpt_save(path, &k);
    }
    gsg_sgd_destroy(opt);
    gsg_net_destroy(net);
    if (st < 0) { fprintf(stderr, "test_ckpt: %s\n", gsg_err_msg()); return 1; }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-cifar")) return write_cifar(argv[2]);
    snprintf(dir, sizeof dir, "/tmp/gsg-test-ckpt-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    RUN(round_trip);
    RUN(refuses_missing_record);
    RUN(refuses_wrong_dtype);
    RUN(refuses_wrong_shape);
    RUN(refuses_unexpected_and_non_checkpoints);
    RUN(failed_save_leaves_no_file);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("  could not remove %s\n", dir);
    return check_summary();
}
