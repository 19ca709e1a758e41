/* monitor.c: the k-NN monitor of a training run (see monitor.h). */
#include "eval/monitor.h"
#include <stdlib.h>
#include <string.h>
#include "io/norm.h"
#include "io/tstream.h"
#include "ops/ops.h"

void gsg_image_set_free(struct gsg_image_set *s)
{
    if (!s) return;
    free(s->images);
    free(s->label);
    memset(s, 0, sizeof *s);
}

static gsg_status parse_norm(const struct gsg_tstream_reader *r, const struct gsg_record *rec, struct gsg_image_set *s)
{
    int found;
    GSG_TRY(gsg_record_norm(r, rec, s->C, s->mean, s->std, &found));
    if (!found) return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "expected meta mean= and std= (the normalisation, as gsg-augment --plain writes it)");
    return GSG_OK;
}

static gsg_status grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return GSG_OK;
    int64_t nc = *cap ? *cap : 1024;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return gsg_err_set(GSG_E_NOMEM, "out of memory reading images");
    *p = q;
    *cap = nc;
    return GSG_OK;
}

gsg_status gsg_image_set_load(struct gsg_image_set *s, const char *path, int64_t max_images)
{
    memset(s, 0, sizeof *s);
    struct gsg_tstream_reader *r = NULL;
    gsg_status st = gsg_tstream_open_read(&r, path);
    if (st < 0) return st;
    int64_t cap_i = 0, cap_l = 0, per = 0;
    struct gsg_record rec;
    while (!max_images || s->n < max_images) {
        st = gsg_tstream_read(r, &rec);
        if (st == GSG_END) break;
        if (st < 0) goto fail;
        if (strcmp(rec.name, "images")) {
            if (!strcmp(rec.name, "views"))
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "training views: the k-NN monitor needs plain images (gsg-augment --plain)");
            else if (!strncmp(rec.name, "gsg.", 4)) continue;
            else st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected 'images' u8 [N,C,H,W], found '%s'", rec.name);
            goto fail;
        }
        int64_t want[4] = { -1, s->n ? s->C : -1, s->n ? s->H : -1, s->n ? s->W : -1 };
        if ((st = gsg_tstream_expect(r, &rec, "images", GSG_DTYPE_U8, 4, want)) < 0) goto fail;
        int64_t N = rec.t.dims[0];
        uint64_t seq = rec.seq;
        if (!s->n) {
            s->C = rec.t.dims[1]; s->H = rec.t.dims[2]; s->W = rec.t.dims[3];
            if (s->C < 1 || s->C > 3) { st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "%lld channels, expected 1 to 3", (long long)s->C); goto fail; }
            if ((st = parse_norm(r, &rec, s)) < 0) goto fail;
            per = s->C * s->H * s->W;
        }
        int64_t take = max_images && s->n + N > max_images ? max_images - s->n : N;
        if ((st = grow((void **)&s->images, &cap_i, (s->n + take) * per, 1)) < 0) goto fail;
        memcpy(s->images + s->n * per, rec.t.data, (size_t)(take * per));
        const char *names[2] = { "index", "label" };
        for (int i = 0; i < 2; i++) {
            st = gsg_tstream_read(r, &rec);
            if (st == GSG_END) { st = gsg_err_set(GSG_E_TRUNCATED, "%s: expected record '%s' after 'images' seq %llu, found the end", path, names[i], (unsigned long long)seq); goto fail; }
            if (st < 0) goto fail;
            int64_t wn[1] = { N };
            if ((st = gsg_tstream_expect(r, &rec, names[i], GSG_DTYPE_I64, 1, wn)) < 0) goto fail;
            if (rec.seq != seq) { st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "seq %llu, expected %llu (that of its 'images')", (unsigned long long)rec.seq, (unsigned long long)seq); goto fail; }
            if (i == 1) {
                if ((st = grow((void **)&s->label, &cap_l, s->n + take, sizeof(int64_t))) < 0) goto fail;
                memcpy(s->label + s->n, rec.t.data, (size_t)take * sizeof(int64_t));
            }
        }
        s->n += take;
    }
    if (!s->n) { st = gsg_err_set(GSG_E_FORMAT, "%s: no 'images' records (write it with gsg-augment --plain)", path); goto fail; }
    gsg_tstream_close_read(r);
    return GSG_OK;
fail:
    gsg_tstream_close_read(r);
    gsg_image_set_free(s);
    return st;
}

struct gsg_knn_monitor {
    struct gsg_image_set bank, test;
    struct gsg_net *net;
    struct gsg_net_ctx *ctx;
    struct gsg_tensor x;          /* f32 [B,H,W,C] */
    struct gsg_tensor img;        /* u8 [B,C,H,W] on the device (CUDA only) */
    float *fbank, *ftest;         /* host features */
    int64_t B, F;
    struct gsg_knn_opts opts;
    enum gsg_dev dev;
};

void gsg_knn_monitor_destroy(struct gsg_knn_monitor *m)
{
    if (!m) return;
    gsg_net_ctx_destroy(m->ctx);
    gsg_net_destroy(m->net);
    gsg_tensor_free(&m->x);
    gsg_tensor_free(&m->img);
    free(m->fbank);
    free(m->ftest);
    gsg_image_set_free(&m->bank);
    gsg_image_set_free(&m->test);
    free(m);
}

int64_t gsg_knn_monitor_bank_size(const struct gsg_knn_monitor *m) { return m->bank.n; }
int64_t gsg_knn_monitor_test_size(const struct gsg_knn_monitor *m) { return m->test.n; }

gsg_status gsg_knn_monitor_create(struct gsg_knn_monitor **out, const struct gsg_net_config *cfg,
                                  const char *bank, const char *test, int64_t max_batch,
                                  const struct gsg_knn_opts *opts, enum gsg_dev dev)
{
    *out = NULL;
    struct gsg_knn_monitor *m = calloc(1, sizeof *m);
    if (!m) return gsg_err_set(GSG_E_NOMEM, "k-NN monitor: out of memory");
    gsg_status st;
    m->dev = dev;
    m->opts = opts ? *opts : gsg_knn_opts_default();
    m->B = max_batch > 0 ? max_batch : 256;
    if ((st = gsg_image_set_load(&m->bank, bank, 0)) < 0) goto fail;
    if ((st = gsg_image_set_load(&m->test, test, 0)) < 0) goto fail;
    const struct gsg_image_set *sets[2] = { &m->bank, &m->test };
    const char *paths[2] = { bank, test };
    for (int i = 0; i < 2; i++)
        if (sets[i]->C != cfg->in_channels || sets[i]->H != m->bank.H || sets[i]->W != m->bank.W) {
            st = gsg_err_set(GSG_E_SHAPE, "%s: images %lldx%lldx%lld, but the network takes %d channels%s", paths[i],
                             (long long)sets[i]->C, (long long)sets[i]->H, (long long)sets[i]->W, cfg->in_channels,
                             i ? " and the bank's size" : "");
            goto fail;
        }
    for (int64_t i = 0; i < m->bank.n; i++)
        if (m->bank.label[i] < 0) { st = gsg_err_set(GSG_E_FORMAT, "%s: image %lld has no label (a k-NN bank needs labels)", bank, (long long)i); goto fail; }
    struct gsg_net_config c = *cfg;
    c.pred_hidden = 0;            /* the backbone is all the monitor runs */
    if ((st = gsg_net_create(&m->net, &c, m->B, m->bank.H, m->bank.W, dev, 0, GSG_NET_INFERENCE)) < 0) goto fail;
    if ((st = gsg_net_ctx_create(m->net, &m->ctx)) < 0) goto fail;
    int64_t xd[4] = { m->B, m->bank.H, m->bank.W, m->bank.C };
    if ((st = gsg_tensor_alloc(&m->x, GSG_DTYPE_F32, dev, 4, xd)) < 0) goto fail;
    if (dev != GSG_DEV_CPU) {
        int64_t id[4] = { m->B, m->bank.C, m->bank.H, m->bank.W };
        if ((st = gsg_tensor_alloc(&m->img, GSG_DTYPE_U8, dev, 4, id)) < 0) goto fail;
    }
    m->F = gsg_net_feature_dim(&c);
    m->fbank = malloc((size_t)(m->bank.n * m->F) * sizeof(float));
    m->ftest = malloc((size_t)(m->test.n * m->F) * sizeof(float));
    if (!m->fbank || !m->ftest) { st = gsg_err_set(GSG_E_NOMEM, "k-NN monitor: out of memory for features"); goto fail; }
    *out = m;
    return GSG_OK;
fail:
    gsg_knn_monitor_destroy(m);
    return st;
}

/* Backbone features of a whole set, eval-mode BN, normalised with the bank's constants. */
static gsg_status encode_set(struct gsg_knn_monitor *m, const struct gsg_image_set *s, float *feat)
{
    const int64_t per = s->C * s->H * s->W;
    for (int64_t n0 = 0; n0 < s->n; n0 += m->B) {
        int64_t nb = s->n - n0 < m->B ? s->n - n0 : m->B;
        struct gsg_tensor src = gsg_tview(s->images + n0 * per, GSG_DTYPE_U8, 4, nb, s->C, s->H, s->W);
        struct gsg_tensor x = gsg_tensor_view(m->x.data, GSG_DTYPE_F32, m->dev, 4, (int64_t[]){ nb, s->H, s->W, s->C });
        if (m->dev != GSG_DEV_CPU) {
            struct gsg_tensor dimg = gsg_tensor_view(m->img.data, GSG_DTYPE_U8, m->dev, 4, src.dims);
            GSG_TRY(gsg_tensor_copy(&dimg, &src));
            GSG_TRY(gsg_image_to_f32(&x, &dimg, m->bank.mean, m->bank.std));
        } else {
            GSG_TRY(gsg_image_to_f32(&x, &src, m->bank.mean, m->bank.std));
        }
        struct gsg_net_out o;
        GSG_TRY(gsg_net_forward(m->net, m->ctx, &o, &x, GSG_FWD_EVAL_BACKBONE));
        struct gsg_tensor hv = gsg_tview(feat + n0 * m->F, GSG_DTYPE_F32, 2, nb, m->F);
        GSG_TRY(gsg_tensor_copy(&hv, &o.h));
    }
    return GSG_OK;
}

gsg_status gsg_knn_monitor_run(struct gsg_knn_monitor *m, const struct gsg_net *net, struct gsg_knn_result *res)
{
    GSG_TRY(gsg_net_copy(m->net, net));
    GSG_TRY(encode_set(m, &m->bank, m->fbank));
    GSG_TRY(encode_set(m, &m->test, m->ftest));
    return gsg_knn_eval(res, NULL, m->fbank, m->bank.label, m->bank.n, m->ftest, m->test.label, m->test.n, m->F, &m->opts);
}
