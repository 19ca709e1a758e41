/* gsg-encode: images (gsg-augment --plain) -> features with a frozen encoder.
 * Per input batch: 'features' f32 [N,F] (+ 'projections' f32 [N,D]), then the
 * input's 'index' and 'label' records, with the input's seq. Numerics: lib/eval/encode.c. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "aug/recipe.h"
#include "core/afile.h"
#include "core/tool.h"
#include "eval/encode.h"
#include "io/norm.h"
#include "io/tstream.h"
#include "nn/net.h"
#include "cuda/gsg_cuda.h"
#include "cpu/conv2d.h"

static const char *PROG = "gsg-encode";

static void usage(void)
{
    printf("Usage: %s (--ckpt FILE | --init RECIPE | --like FILE | --pixels) [OPTIONS] [INPUT]\n"
           "Encode images with a frozen network: backbone features after global average pooling,\n"
           "BatchNorm in eval mode (running statistics).\n"
           "\n"
           "INPUT (default '-', stdin): per batch 'images' u8 [N,C,H,W], 'index' i64 [N], 'label'\n"
           "i64 [N], as gsg-augment --plain writes them (meta mean=, std= give the normalisation).\n"
           "Output, per batch with the input's seq: 'features' f32 [N,F] (+ 'projections' f32\n"
           "[N,D] with --projections), then 'index' and 'label' carried through.\n"
           "\n"
           "Encoder (exactly one):\n"
           "      --ckpt FILE        a gsg-step checkpoint (its gsg.config gives the model)\n"
           "      --init RECIPE      a freshly initialised network of a recipe (cifar|fmnist|imagenet):\n"
           "                         the random-encoder baseline; --seed picks the weights; the\n"
           "                         model options below change its architecture\n"
           "      --like FILE        a freshly initialised network with the architecture of the\n"
           "                         checkpoint FILE (its gsg.config): the random-encoder baseline of\n"
           "                         that run; --seed picks the weights\n"
           "      --pixels           no network: features = pixels/255 flattened (C*H*W)\n"
           "Model options (with --init; the same names as gsg-step's):\n"
           "      --arch A           resnet18|resnet34|resnet50\n"
           "      --width W          backbone base width (features F = 8W, or 32W for resnet50)\n"
           "      --proj-dim D       projector output and hidden width\n"
           "      --pred-dim P       predictor hidden width\n"
           "      --no-predictor     no predictor (as gsg-step --no-predictor)\n"
           "Options:\n"
           "  -o, --output FILE      output stream (default '-', stdout; files are written atomically)\n"
           "      --projections      also write the projector's output\n"
           "      --target           encode with the checkpoint's BYOL target network\n"
           "      --seed N           --init, --like: initialisation seed (default 0)\n"
           "  -b, --batch N          images per forward pass (default 256); memory is fixed by it\n"
           "      --device D         cpu|cuda (default cpu)\n"
           "      --precision P      fp32 (default) | bf16: cuda: tensor-core convolutions and linear layers;\n"
           "                         cpu: oneDNN bf16 convolutions (needs AVX512_BF16 or AMX-BF16), linear layers\n"
           "                         f32; f32 storage (overrides the GSG_PRECISION environment variable)\n"
           "      --mean A,B,C       normalisation mean (default: the input's meta, else the recipe's)\n"
           "      --std A,B,C        normalisation std (likewise)\n"
           "  -l, --level N          zstd level 0..19 (default 1)\n"
           "  -f, --force            write a binary stream to a terminal\n"
           "      --progress         progress on stderr (default: when stderr is a terminal)\n"
           "  -h, --help             this help, on stdout\n"
           "  -V, --version          version\n"
           "\n"
           "Exit status: 0 success, 1 runtime failure (bad or truncated input, checkpoint that does\n"
           "not match, no CUDA device), 2 usage error.\n"
           "Example:\n"
           "  gsg-augment --plain --recipe fmnist DATA | %s --ckpt run/ckpt.gsgt -o feats.gsgt\n"
           "  gsg-augment --plain --recipe fmnist DATA | %s --like run/ckpt.gsgt --seed 0 -o random.gsgt\n",
           PROG, PROG, PROG);
}

struct encode_opts {
    const char *input, *output, *ckpt, *init, *like, *arch;
    int pixels, projections, target, force, progress, mean_set, std_set, no_pred;
    int fresh;                   /* --init or --like: cfg is the model, recipe its recipe */
    struct gsg_net_config cfg;
    const char *recipe;
    char like_recipe[32];
    int64_t seed, batch, level, width, proj, pred;
    enum gsg_dev dev;
    enum gsg_precision precision;
    int precision_set;
    float mean[3], std[3];
};

static int parse_floats3(const char *opt, const char *s, float *v)
{
    char *end;
    int n = 0;
    const char *p = s;
    while (n < 3) {
        v[n] = strtof(p, &end);
        if (end == p) break;
        n++;
        if (*end != ',') break;
        p = end + 1;
    }
    if (n < 1 || *end) return gsg_tool_usage_error("%s: '%s' is not 1 to 3 comma-separated numbers", opt, s);
    for (int i = n; i < 3; i++) v[i] = v[n - 1];
    return 0;
}

static int parse(int argc, char **argv, struct encode_opts *o)
{
    enum { O_CKPT = 256, O_INIT, O_PIXELS, O_PROJ, O_TARGET, O_SEED, O_DEVICE, O_PRECISION, O_MEAN, O_STD, O_PROGRESS,
           O_LIKE, O_ARCH, O_WIDTH, O_PROJDIM, O_PREDDIM, O_NOPRED };
    static const struct option lo[] = {
        {"ckpt", required_argument, 0, O_CKPT}, {"init", required_argument, 0, O_INIT},
        {"pixels", no_argument, 0, O_PIXELS}, {"output", required_argument, 0, 'o'},
        {"projections", no_argument, 0, O_PROJ}, {"target", no_argument, 0, O_TARGET},
        {"seed", required_argument, 0, O_SEED}, {"batch", required_argument, 0, 'b'},
        {"device", required_argument, 0, O_DEVICE}, {"mean", required_argument, 0, O_MEAN},
        {"precision", required_argument, 0, O_PRECISION},
        {"std", required_argument, 0, O_STD}, {"level", required_argument, 0, 'l'}, {"force", no_argument, 0, 'f'},
        {"progress", no_argument, 0, O_PROGRESS}, {"like", required_argument, 0, O_LIKE},
        {"arch", required_argument, 0, O_ARCH}, {"width", required_argument, 0, O_WIDTH},
        {"proj-dim", required_argument, 0, O_PROJDIM}, {"pred-dim", required_argument, 0, O_PREDDIM},
        {"no-predictor", no_argument, 0, O_NOPRED}, {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->input = "-"; o->output = "-"; o->batch = 256; o->level = 1; o->dev = GSG_DEV_CPU;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:b:l:fhV", lo, NULL)) != -1) {
        switch (c) {
        case O_CKPT: o->ckpt = optarg; break;
        case O_INIT:
            if (!gsg_aug_recipe_find(optarg)) return gsg_tool_usage_error("--init: unknown recipe '%s' (expected %s)", optarg, gsg_aug_recipe_names());
            o->init = optarg;
            break;
        case O_PIXELS: o->pixels = 1; break;
        case O_LIKE: o->like = optarg; break;
        case O_ARCH:
            if (gsg_arch_parse(optarg, &(enum gsg_arch){0}) < 0)
                return gsg_tool_usage_error("--arch: '%s' is not resnet18, resnet34 or resnet50", optarg);
            o->arch = optarg;
            break;
        case O_WIDTH: if (gsg_parse_i64("--width", optarg, 1, 1024, &o->width)) return 2; break;
        case O_PROJDIM: if (gsg_parse_i64("--proj-dim", optarg, 1, 65536, &o->proj)) return 2; break;
        case O_PREDDIM: if (gsg_parse_i64("--pred-dim", optarg, 1, 65536, &o->pred)) return 2; break;
        case O_NOPRED: o->no_pred = 1; break;
        case 'o': o->output = optarg; break;
        case O_PROJ: o->projections = 1; break;
        case O_TARGET: o->target = 1; break;
        case O_SEED: if (gsg_parse_i64("--seed", optarg, 0, INT64_MAX, &o->seed)) return 2; break;
        case 'b': if (gsg_parse_i64("--batch", optarg, 1, 65536, &o->batch)) return 2; break;
        case O_DEVICE:
            if (!strcmp(optarg, "cpu")) o->dev = GSG_DEV_CPU;
            else if (!strcmp(optarg, "cuda")) o->dev = GSG_DEV_CUDA;
            else return gsg_tool_usage_error("--device: '%s' is not cpu or cuda", optarg);
            break;
        case O_MEAN: if (parse_floats3("--mean", optarg, o->mean)) return 2; o->mean_set = 1; break;
        case O_STD: if (parse_floats3("--std", optarg, o->std)) return 2; o->std_set = 1; break;
        case 'l': if (gsg_parse_i64("--level", optarg, 0, 19, &o->level)) return 2; break;
        case 'f': o->force = 1; break;
        case O_PROGRESS: o->progress = 1; break;
        case O_PRECISION:
            if (gsg_precision_parse(optarg, &o->precision)) return gsg_tool_usage_error("--precision: '%s' is not fp32 or bf16", optarg);
            o->precision_set = 1;
            break;
        case 'h': usage(); return -1;
        case 'V': printf("%s %s\n", PROG, GSG_VERSION); return -1;
        case ':': return gsg_tool_usage_error("option '%s' needs an argument", argv[optind - 1]);
        default: return gsg_tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) o->input = argv[optind++];
    if (optind < argc) return gsg_tool_usage_error("unexpected argument '%s'", argv[optind]);
    if (!!o->ckpt + !!o->init + !!o->like + o->pixels != 1)
        return gsg_tool_usage_error("give exactly one of --ckpt FILE, --init RECIPE, --like FILE, --pixels");
    const char *mopt = o->arch ? "--arch" : o->width ? "--width" : o->proj ? "--proj-dim" : o->pred ? "--pred-dim"
                     : o->no_pred ? "--no-predictor" : NULL;
    if (mopt && !o->init)
        return gsg_tool_usage_error("%s needs --init (%s)", mopt, o->like ? "--like takes the whole model from its checkpoint"
                                                                          : "a checkpoint's model is its own");
    if (o->no_pred && o->pred) return gsg_tool_usage_error("--no-predictor and --pred-dim exclude each other");
    if (o->target && !o->ckpt) return gsg_tool_usage_error("--target needs --ckpt");
    if (o->pixels && o->projections) return gsg_tool_usage_error("--pixels has no projections");
    if (o->mean_set != o->std_set) return gsg_tool_usage_error("give --mean and --std together");
    if (o->precision_set) gsg_precision_set(o->precision);
    if (o->dev == GSG_DEV_CPU && gsg_precision_get() == GSG_PREC_BF16) {   /* --precision, else GSG_PRECISION */
        char why[200];
        if (!gsg_cpu_bf16_supported(why, sizeof why))
            return gsg_tool_usage_error("%sbf16: %s", o->precision_set ? "--precision " : "GSG_PRECISION=", why);
    }
    return 0;
}

/* The model of a fresh network: the recipe's with the model options (--init), or the checkpoint's
 * (--like, whose recipe= names the normalisation). */
static gsg_status resolve_model(struct encode_opts *o)
{
    o->recipe = o->init;
    if (o->pixels || o->ckpt) return GSG_OK;
    o->fresh = 1;
    if (o->like) {
        char *config = NULL, *state = NULL;
        GSG_TRY(gsg_ckpt_read_text(o->like, &config, &state));
        gsg_status st = gsg_net_config_parse(&o->cfg, config ? config : "");
        if (st < 0) gsg_err_prefix(st, "%s: gsg.config", o->like);
        else if (!gsg_meta_get(config ? config : "", "recipe", o->like_recipe, sizeof o->like_recipe)) o->like_recipe[0] = 0;
        free(config);
        free(state);
        o->recipe = o->like_recipe;
        return st;
    }
    GSG_TRY(gsg_net_config_recipe(&o->cfg, o->init));
    gsg_net_config_override(&o->cfg, &(struct gsg_net_overrides){o->arch, o->width, o->proj, o->pred, o->no_pred});
    return gsg_net_config_check(&o->cfg);
}

/* Normalisation for a batch: options, else the record's meta, else the recipe's constants. */
static gsg_status pick_norm(const struct encode_opts *o, struct gsg_tstream_reader *r, const struct gsg_record *rec,
                            const char *recipe, float *mean, float *std)
{
    if (o->mean_set) { memcpy(mean, o->mean, sizeof o->mean); memcpy(std, o->std, sizeof o->std); return GSG_OK; }
    int found;
    GSG_TRY(gsg_record_norm(r, rec, rec->t.ndim == 4 ? rec->t.dims[1] : 1, mean, std, &found));
    if (found) return GSG_OK;
    const struct gsg_aug_recipe *rc = recipe && recipe[0] ? gsg_aug_recipe_find(recipe) : NULL;
    if (!rc) return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "expected meta mean= and std= (or give --mean and --std)");
    memcpy(mean, rc->mean, sizeof rc->mean);
    memcpy(std, rc->std, sizeof rc->std);
    return GSG_OK;
}

struct encode_state {
    struct gsg_encoder *enc;
    float *h, *z;
    int64_t cap, C, H, W, F, D, rows;
    int have;                 /* an images record was seen */
    uint64_t seq;
    int64_t n_last;
};

static gsg_status encode_batch(struct encode_state *s, const struct encode_opts *o, struct gsg_tstream_reader *r,
                               const struct gsg_record *rec, struct gsg_tstream_writer *w)
{
    int64_t want[4] = { -1, -1, -1, -1 };
    GSG_TRY(gsg_tstream_expect(r, rec, "images", GSG_DTYPE_U8, 4, want));
    int64_t N = rec->t.dims[0], C = rec->t.dims[1], H = rec->t.dims[2], W = rec->t.dims[3];
    if (s->have && (C != s->C || H != s->H || W != s->W))
        return gsg_tstream_record_error(r, rec, GSG_E_SHAPE, "expected images of %lldx%lldx%lld as in the first batch, found %lldx%lldx%lld",
                                        (long long)s->C, (long long)s->H, (long long)s->W, (long long)C, (long long)H, (long long)W);
    if (!s->have) {
        s->C = C; s->H = H; s->W = W;
        if (o->pixels) {
            s->F = C * H * W;
        } else {
            struct gsg_encoder_spec sp = { .ckpt = o->ckpt, .recipe = o->recipe, .config = o->fresh ? &o->cfg : NULL,
                                           .seed = (uint64_t)o->seed, .use_target = o->target,
                                           .projections = o->projections, .max_batch = o->batch, .C = C, .H = H, .W = W, .dev = o->dev };
            GSG_TRY(gsg_encoder_create(&s->enc, &sp));
            s->F = gsg_encoder_feature_dim(s->enc);
            s->D = gsg_encoder_proj_dim(s->enc);
        }
    }
    s->have = 1;
    if (N > s->cap) {
        free(s->h); free(s->z);
        s->h = malloc(sizeof(float) * (size_t)(N * s->F));
        s->z = o->projections ? malloc(sizeof(float) * (size_t)(N * s->D)) : NULL;
        if (!s->h || (o->projections && !s->z)) return gsg_err_set(GSG_E_NOMEM, "out of memory for a batch of %lld", (long long)N);
        s->cap = N;
    }
    if (o->pixels) {
        const uint8_t *p = rec->t.data;
        for (int64_t i = 0; i < N * s->F; i++) s->h[i] = (float)p[i] / 255.0f;
    } else if (N > 0) {
        float mean[3], std[3];
        GSG_TRY(pick_norm(o, r, rec, gsg_encoder_recipe(s->enc), mean, std));
        gsg_status st = gsg_encoder_run(s->enc, s->h, s->z, rec->t.data, N, mean, std);
        if (st < 0) return gsg_err_prefix(st, "%s: record %llu 'images'", gsg_tstream_path(r), (unsigned long long)rec->index);
    }
    char meta[GSG_TSTREAM_MAX_META];
    snprintf(meta, sizeof meta, "%s", rec->meta ? rec->meta : "");
    if (o->ckpt) gsg_meta_add(meta, sizeof meta, "encoder", "%s%s", o->ckpt, o->target ? " (target)" : "");
    else if (o->fresh)
        gsg_meta_add(meta, sizeof meta, "encoder", "init:%s:%s%s:%s:width=%d:seed=%lld", o->recipe, o->like ? "like=" : "",
                     o->like ? o->like : "", gsg_arch_name(o->cfg.arch), o->cfg.width, (long long)o->seed);
    else gsg_meta_add(meta, sizeof meta, "encoder", "pixels");
    if (!o->pixels && gsg_precision_get() == GSG_PREC_BF16) gsg_meta_add(meta, sizeof meta, "precision", "bf16");
    int64_t hd[2] = { N, s->F }, zd[2] = { N, s->D };
    GSG_TRY(gsg_tstream_write_raw(w, "features", rec->seq, meta, GSG_DTYPE_F32, 2, hd, s->h));
    if (o->projections) GSG_TRY(gsg_tstream_write_raw(w, "projections", rec->seq, NULL, GSG_DTYPE_F32, 2, zd, s->z));
    s->seq = rec->seq;
    s->n_last = N;
    s->rows += N;
    return GSG_OK;
}

int main(int argc, char **argv)
{
    gsg_tool_init(argc, argv, PROG);
    struct encode_opts o;
    int prc = parse(argc, argv, &o);
    if (prc == -1) return gsg_tool_finish(0);
    if (prc) return prc;
    if ((prc = gsg_tool_refuse_tty(o.output, o.input, o.force, "give INPUT"))) return prc;
    struct gsg_tstream_reader *r = NULL;
    struct gsg_tstream_writer *w = NULL;
    struct encode_state s;
    memset(&s, 0, sizeof s);
    struct gsg_progress pg;
    gsg_progress_init(&pg, o.progress, "encode", 0);
    gsg_status st = resolve_model(&o);
    /* fp32 runs say nothing (their output is as before); a bf16 run says so in one line */
    if (st >= 0 && !o.pixels && gsg_precision_get() == GSG_PREC_BF16)
        fprintf(stderr, "%s: config: device=%s precision=bf16%s\n", PROG, o.dev == GSG_DEV_CUDA ? "cuda" : "cpu",
                o.dev == GSG_DEV_CPU ? " bf16_ops=conv:onednn" : "");
    if (st >= 0) st = gsg_tstream_open_read(&r, o.input);
    if (st >= 0) st = gsg_tstream_open_write(&w, o.output, (int)o.level);
    struct gsg_record rec;
    while (st >= 0 && (st = gsg_tstream_read(r, &rec)) == GSG_OK) {
        if (!strcmp(rec.name, "images")) {
            st = encode_batch(&s, &o, r, &rec, w);
        } else if (!strcmp(rec.name, "index") || !strcmp(rec.name, "label")) {
            int64_t want[1] = { s.n_last };
            if (!s.have || rec.seq != s.seq)
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected an 'images' record with seq %llu before it",
                                              (unsigned long long)rec.seq);
            else if ((st = gsg_tstream_expect(r, &rec, rec.name, GSG_DTYPE_I64, 1, want)) >= 0)
                st = gsg_tstream_write(w, rec.name, rec.seq, rec.meta, &rec.t);
        } else if (!strcmp(rec.name, "views")) {
            st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected 'images', found training views (use gsg-augment --plain)");
        }   /* other records (gsg.* bookkeeping) are not carried */
        if (st >= 0) gsg_progress_update(&pg, s.rows, NULL);
    }
    if (st == GSG_END && !s.have) st = gsg_err_set(GSG_E_FORMAT, "%s: expected 'images' records, found none", o.input);
    if (st == GSG_END) {
        st = gsg_tstream_close(w);
        w = NULL;
        gsg_progress_finish(&pg, s.rows, NULL);
    }
    if (w) gsg_tstream_abort(w);
    if (r) gsg_tstream_close_read(r);
    gsg_encoder_destroy(s.enc);
    free(s.h);
    free(s.z);
    return gsg_tool_finish(st < 0 ? gsg_tool_report(st) : 0);
}
