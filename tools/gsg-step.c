/* gsg-step: train SimSiam or BYOL, with or without Guided Stop-Gradient, or SimCLR, from view batches.
 * Options -> struct gsg_train_config -> lib/ssl/train.c; this file holds no numerics. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/afile.h"
#include "core/tool.h"
#include "dist/dist.h"
#include "io/norm.h"
#include "io/tstream.h"
#include "eval/monitor.h"
#include "ssl/train.h"
#include "cuda/gsg_cuda.h"
#include "cpu/conv2d.h"

static const char *PROG = "gsg-step";
static char g_prog[64] = "gsg-step";   /* "gsg-step[R/N]" under several ranks: every message says which */

static void usage(void)
{
    printf("Usage: %s [OPTIONS] [-i INPUT]\n"
           "Train SimSiam or BYOL, with or without Guided Stop-Gradient, or the contrastive baseline SimCLR\n"
           "(docs/algorithm.md), from the view batches of gsg-augment (records 'views' u8 [N,V,C,H,W], 'index',\n"
           "'label'; stdin by default). Inputs are normalised with the mean=/std= meta of 'views'.\n"
           "\n"
           "Method:\n"
           "      --method M          simsiam|byol|simclr (default simsiam). simclr: NT-Xent over the 2N views of\n"
           "                          the batch (each view's positive is its other view, the other 2N-2 views its\n"
           "                          negatives; under several ranks the whole global batch), the recipe's\n"
           "                          projector, no predictor, views 0 and 1 in one encoder call\n"
           "      --temperature T     simclr's tau in cos/tau (default 0.5, SimCLR's CIFAR-10 setting; imagenet\n"
           "                          recipe 0.1, its ImageNet setting)\n"
           "      --gsg               Guided Stop-Gradient (needs 4 views per image; simsiam and byol only)\n"
           "      --gsg-pairing P     4view (the paper, default) | 2view (pair image n with image r[n]'s\n"
           "                          own two views: needs 2 views, half the encoder work)\n"
           "      --gsg-distance D    euclidean (the paper, default) | normalized | cosine\n"
           "      --no-predictor      the ablation: predictor = identity\n"
           "      --fix-pred-lr       the predictor's lr stays at the base lr\n"
           "Recipe and hyper-parameters (defaults from --recipe, else the stream's recipe= meta, else cifar):\n"
           "      --recipe R          cifar|fmnist|imagenet\n"
           "      --arch A            resnet18|resnet34|resnet50\n"
           "      --width W           backbone base width\n"
           "      --proj-dim D        projector output and hidden width\n"
           "      --pred-dim P        predictor hidden width\n"
           "      --lr X              base lr (default: the recipe's 0.03*B/256, BYOL on cifar 0.06*B/128)\n"
           "      --wd X              weight decay\n"
           "      --momentum X        SGD momentum (0.9)\n"
           "      --ema X             BYOL target momentum (0.99)\n"
           "      --ema-cosine        BYOL: raise the target momentum to 1 along a cosine\n"
           "      --epochs E          epochs for the cosine schedule (default: the stream's epochs= meta,\n"
           "                          else the recipe's)\n"
           "      --warmup E          linear warmup epochs (0)\n"
           "      --steps-per-epoch S batches per epoch (default: the stream's batches_per_epoch= meta)\n"
           "      --seed S            initialisation and pairing seed (default: the stream's seed= meta, else 0)\n"
           "      --rank R            the GSG pairing permutation's key (default 0; under mpirun the rank)\n"
           "Run:\n"
           "  -i, --input FILE        view batches (default '-', stdin)\n"
           "      --steps N           stop after global step N (the schedule still spans all epochs)\n"
           "      --ckpt FILE         checkpoint, written atomically every --save-every steps and at the end\n"
           "      --save-every K      (default 0: only at the end)\n"
           "      --resume FILE       continue a checkpoint; the input's batches before its step are skipped\n"
           "      --metrics FILE      a log of JSON lines, one per step, appended and flushed as the run goes\n"
           "                          (tail -f works; kept on errors and signals): loss, lr, GSG choice counts\n"
           "                          k0..k3, collapse monitors (erank_z, erank_h, std_z, cos_views), img_s.\n"
           "                          With --resume, the lines from the checkpoint's step on are dropped first\n"
           "      --monitor-every K   compute the collapse monitors every K steps (default 1)\n"
           "      --dump DIR          write DIR/dump.gsgt: gsg.z f32 [4,N,D], gsg.perm, gsg.choice, gsg.loss\n"
           "      --dump-every K      steps between dumps (default 1)\n"
           "k-NN monitor (the curve of the run itself; the training is unchanged by it):\n"
           "      --knn-every K       every K epochs and at the end of the schedule: encode --knn-bank and\n"
           "                          --knn-test with the current backbone (eval-mode BN), weighted k-NN;\n"
           "                          knn_top1/knn_top5 join that step's --metrics line\n"
           "      --knn-bank FILE     labelled bank images, a plain stream (gsg-augment --plain)\n"
           "      --knn-test FILE     labelled query images, likewise\n"
           "      --knn-k K           neighbours (default 200)\n"
           "      --knn-t T           temperature (default 0.1)\n"
           "      --threads T         OpenMP threads\n"
           "      --device D          cpu|cuda (default cpu)\n"
           "      --precision P       fp32 (default) | bf16: cuda: tensor-core convolutions and linear layers;\n"
           "                          cpu: oneDNN bf16 convolutions (needs AVX512_BF16 or AMX-BF16), linear\n"
           "                          layers f32; both: f32 master weights, storage, BN statistics and loss\n"
           "                          (overrides GSG_PRECISION)\n"
           "Data-parallel (mpirun/srun, docs/distributed.md): every rank reads its shard of each global batch\n"
           "(gsg-augment --shard auto); the batch and the lr rule are global; rank 0 alone writes --ckpt,\n"
           "--metrics, --dump and the k-NN lines (a path with %%r is written by every rank, %%r its rank).\n"
           "      --local-bn          batch norm with each rank's own statistics (default: synchronised BN)\n"
           "      --dist-timeout S    a collective waiting S seconds for another rank ends the run (600)\n"
           "      --progress          progress line with ETA on stderr even when it is not a terminal\n"
           "      --print-config      print the resolved recipe and hyper-parameters (key=value lines, from the\n"
           "                          options and the first batch's meta) on stdout and exit; every run also\n"
           "                          states them on its first stderr line\n"
           "  -h, --help              this help, on stdout\n"
           "  -V, --version           version\n"
           "\n"
           "A stream that ends before the schedule (or --steps) is complete is an error: the checkpoint of\n"
           "the steps done is written, and the message names both step counts.\n"
           "\n"
           "Exit status: 0 success, 1 runtime failure (bad input, a stream shorter than the schedule,\n"
           "non-finite loss: the last good checkpoint stays as it was), 2 usage error; on SIGINT/SIGTERM one\n"
           "line names the step and the last checkpoint, and the run ends by that signal (status 130/143\n"
           "in the shell) with the checkpoint and the metrics as they were.\n",
           PROG);
}

enum {
    O_METHOD = 256, O_GSG, O_PAIRING, O_DISTANCE, O_NOPRED, O_FIXPRED, O_RECIPE, O_ARCH, O_WIDTH, O_PROJ, O_PRED,
    O_LR, O_WD, O_MOM, O_EMA, O_EMACOS, O_EPOCHS, O_WARMUP, O_SPE, O_SEED, O_RANK, O_STEPS, O_CKPT, O_SAVE, O_RESUME,
    O_METRICS, O_MONITOR, O_DUMP, O_DUMPEVERY, O_THREADS, O_DEVICE, O_PROGRESS,
    O_KNN_EVERY, O_KNN_BANK, O_KNN_TEST, O_KNN_K, O_KNN_T, O_PRINTCFG, O_LOCALBN, O_DISTTIMEOUT, O_PRECISION,
    O_TEMP,
};

struct step_opts {
    const char *input, *recipe, *arch, *ckpt, *resume, *metrics, *dump, *knn_bank, *knn_test;
    int64_t knn_every, knn_k;
    double knn_t;
    enum gsg_method method;
    int gsg, no_pred, fix_pred, ema_cos, progress, pairing_set, dist_set, print_config, local_bn, rank_set;
    double dist_timeout;
    enum gsg_precision precision;
    int precision_set;
    enum gsg_pairing pairing;
    enum gsg_dist dist;
    int64_t width, proj, pred, epochs, warmup, spe, seed, rank, steps, save_every, monitor_every, dump_every, threads;
    double lr, wd, mom, ema, temperature;
    int set_lr, set_wd, set_mom, set_ema, set_seed, set_temp;
    enum gsg_dev dev;
};

static int parse(int argc, char **argv, struct step_opts *o)
{
    static const struct option lo[] = {
        {"method", 1, 0, O_METHOD}, {"gsg", 0, 0, O_GSG}, {"gsg-pairing", 1, 0, O_PAIRING},
        {"gsg-distance", 1, 0, O_DISTANCE}, {"no-predictor", 0, 0, O_NOPRED}, {"fix-pred-lr", 0, 0, O_FIXPRED},
        {"recipe", 1, 0, O_RECIPE}, {"arch", 1, 0, O_ARCH}, {"width", 1, 0, O_WIDTH}, {"proj-dim", 1, 0, O_PROJ},
        {"pred-dim", 1, 0, O_PRED}, {"lr", 1, 0, O_LR}, {"wd", 1, 0, O_WD}, {"momentum", 1, 0, O_MOM},
        {"ema", 1, 0, O_EMA}, {"ema-cosine", 0, 0, O_EMACOS}, {"epochs", 1, 0, O_EPOCHS}, {"warmup", 1, 0, O_WARMUP},
        {"steps-per-epoch", 1, 0, O_SPE}, {"seed", 1, 0, O_SEED}, {"rank", 1, 0, O_RANK}, {"steps", 1, 0, O_STEPS},
        {"ckpt", 1, 0, O_CKPT}, {"save-every", 1, 0, O_SAVE}, {"resume", 1, 0, O_RESUME}, {"metrics", 1, 0, O_METRICS},
        {"monitor-every", 1, 0, O_MONITOR}, {"dump", 1, 0, O_DUMP}, {"dump-every", 1, 0, O_DUMPEVERY},
        {"threads", 1, 0, O_THREADS}, {"device", 1, 0, O_DEVICE}, {"progress", 0, 0, O_PROGRESS},
        {"local-bn", 0, 0, O_LOCALBN}, {"dist-timeout", 1, 0, O_DISTTIMEOUT}, {"precision", 1, 0, O_PRECISION},
        {"knn-every", 1, 0, O_KNN_EVERY}, {"knn-bank", 1, 0, O_KNN_BANK}, {"knn-test", 1, 0, O_KNN_TEST},
        {"knn-k", 1, 0, O_KNN_K}, {"knn-t", 1, 0, O_KNN_T}, {"print-config", 0, 0, O_PRINTCFG},
        {"temperature", 1, 0, O_TEMP},
        {"input", 1, 0, 'i'}, {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->input = "-";
    o->monitor_every = 1;
    o->dump_every = 1;
    o->dev = GSG_DEV_CPU;
    o->knn_k = 200;
    o->knn_t = 0.1;
    opterr = 0;
    int c;
    const int64_t BIG = (int64_t)1 << 40;
    while ((c = getopt_long(argc, argv, ":i:hV", lo, NULL)) != -1) {
        switch (c) {
        case O_METHOD:
            if (!strcmp(optarg, "simsiam")) o->method = GSG_METHOD_SIMSIAM;
            else if (!strcmp(optarg, "byol")) o->method = GSG_METHOD_BYOL;
            else if (!strcmp(optarg, "simclr")) o->method = GSG_METHOD_SIMCLR;
            else return gsg_tool_usage_error("--method: '%s' is not simsiam, byol or simclr", optarg);
            break;
        case O_TEMP: if (gsg_parse_f64("--temperature", optarg, 1e-3, 1e3, &o->temperature)) return 2; o->set_temp = 1; break;
        case O_GSG: o->gsg = 1; break;
        case O_PAIRING:
            if (!strcmp(optarg, "4view")) o->pairing = GSG_PAIR_4VIEW;
            else if (!strcmp(optarg, "2view")) o->pairing = GSG_PAIR_2VIEW;
            else return gsg_tool_usage_error("--gsg-pairing: '%s' is not 4view or 2view", optarg);
            o->pairing_set = 1;
            break;
        case O_DISTANCE:
            if (gsg_dist_parse(optarg, &o->dist)) return gsg_tool_usage_error("--gsg-distance: '%s' is not euclidean, normalized or cosine", optarg);
            o->dist_set = 1;
            break;
        case O_NOPRED: o->no_pred = 1; break;
        case O_FIXPRED: o->fix_pred = 1; break;
        case O_RECIPE:
            if (strcmp(optarg, "cifar") && strcmp(optarg, "fmnist") && strcmp(optarg, "imagenet"))
                return gsg_tool_usage_error("--recipe: '%s' is not cifar, fmnist or imagenet", optarg);
            o->recipe = optarg;
            break;
        case O_ARCH:
            if (gsg_arch_parse(optarg, &(enum gsg_arch){0}) < 0)
                return gsg_tool_usage_error("--arch: '%s' is not resnet18, resnet34 or resnet50", optarg);
            o->arch = optarg;
            break;
        case O_WIDTH: if (gsg_parse_i64("--width", optarg, 1, 1024, &o->width)) return 2; break;
        case O_PROJ: if (gsg_parse_i64("--proj-dim", optarg, 1, 65536, &o->proj)) return 2; break;
        case O_PRED: if (gsg_parse_i64("--pred-dim", optarg, 1, 65536, &o->pred)) return 2; break;
        case O_LR: if (gsg_parse_f64("--lr", optarg, 1e-12, 1e6, &o->lr)) return 2; o->set_lr = 1; break;
        case O_WD: if (gsg_parse_f64("--wd", optarg, 0, 1, &o->wd)) return 2; o->set_wd = 1; break;
        case O_MOM: if (gsg_parse_f64("--momentum", optarg, 0, 0.999999, &o->mom)) return 2; o->set_mom = 1; break;
        case O_EMA: if (gsg_parse_f64("--ema", optarg, 0, 1, &o->ema)) return 2; o->set_ema = 1; break;
        case O_EMACOS: o->ema_cos = 1; break;
        case O_EPOCHS: if (gsg_parse_i64("--epochs", optarg, 1, 1000000, &o->epochs)) return 2; break;
        case O_WARMUP: if (gsg_parse_i64("--warmup", optarg, 0, 1000000, &o->warmup)) return 2; break;
        case O_SPE: if (gsg_parse_i64("--steps-per-epoch", optarg, 1, BIG, &o->spe)) return 2; break;
        case O_SEED: if (gsg_parse_i64("--seed", optarg, 0, INT64_MAX, &o->seed)) return 2; o->set_seed = 1; break;
        case O_RANK: if (gsg_parse_i64("--rank", optarg, 0, 1 << 20, &o->rank)) return 2; o->rank_set = 1; break;
        case O_STEPS: if (gsg_parse_i64("--steps", optarg, 1, BIG, &o->steps)) return 2; break;
        case O_CKPT: o->ckpt = optarg; break;
        case O_SAVE: if (gsg_parse_i64("--save-every", optarg, 0, BIG, &o->save_every)) return 2; break;
        case O_RESUME: o->resume = optarg; break;
        case O_METRICS: o->metrics = optarg; break;
        case O_MONITOR: if (gsg_parse_i64("--monitor-every", optarg, 0, BIG, &o->monitor_every)) return 2; break;
        case O_DUMP: o->dump = optarg; break;
        case O_DUMPEVERY: if (gsg_parse_i64("--dump-every", optarg, 1, BIG, &o->dump_every)) return 2; break;
        case O_THREADS: if (gsg_parse_i64("--threads", optarg, 1, 1024, &o->threads)) return 2; break;
        case O_DEVICE:
            if (!strcmp(optarg, "cpu")) o->dev = GSG_DEV_CPU;
            else if (!strcmp(optarg, "cuda")) o->dev = GSG_DEV_CUDA;
            else return gsg_tool_usage_error("--device: '%s' is not cpu or cuda", optarg);
            break;
        case O_PROGRESS: o->progress = 1; break;
        case O_LOCALBN: o->local_bn = 1; break;
        case O_PRECISION:
            if (gsg_precision_parse(optarg, &o->precision)) return gsg_tool_usage_error("--precision: '%s' is not fp32 or bf16", optarg);
            o->precision_set = 1;
            break;
        case O_DISTTIMEOUT: if (gsg_parse_f64("--dist-timeout", optarg, 0.01, 1e7, &o->dist_timeout)) return 2; break;
        case O_PRINTCFG: o->print_config = 1; break;
        case O_KNN_EVERY: if (gsg_parse_i64("--knn-every", optarg, 1, 1000000, &o->knn_every)) return 2; break;
        case O_KNN_BANK: o->knn_bank = optarg; break;
        case O_KNN_TEST: o->knn_test = optarg; break;
        case O_KNN_K: if (gsg_parse_i64("--knn-k", optarg, 1, 1 << 30, &o->knn_k)) return 2; break;
        case O_KNN_T: if (gsg_parse_f64("--knn-t", optarg, 1e-6, 1e6, &o->knn_t)) return 2; break;
        case 'i': o->input = optarg; break;
        case 'h': usage(); return -1;
        case 'V': printf("%s %s\n", PROG, GSG_VERSION); return -1;
        case ':': return gsg_tool_usage_error("option '%s' needs an argument", argv[optind - 1]);
        default: return gsg_tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return gsg_tool_usage_error("unexpected argument '%s' (the input is -i FILE)", argv[optind]);
    if (o->method != GSG_METHOD_BYOL && (o->set_ema || o->ema_cos)) return gsg_tool_usage_error("--ema and --ema-cosine need --method byol");
    if (o->method == GSG_METHOD_SIMCLR) {
        if (o->gsg) return gsg_tool_usage_error("--gsg: Guided Stop-Gradient does not apply to --method simclr (it chooses stop-gradient targets; SimCLR has none)");
        if (o->pred) return gsg_tool_usage_error("--pred-dim: --method simclr has no predictor");
        if (o->fix_pred) return gsg_tool_usage_error("--fix-pred-lr: --method simclr has no predictor");
    } else if (o->set_temp) {
        return gsg_tool_usage_error("--temperature needs --method simclr");
    }
    if (!o->gsg && (o->pairing_set || o->dist_set)) return gsg_tool_usage_error("--gsg-pairing and --gsg-distance need --gsg");
    if (o->dump && !o->gsg) return gsg_tool_usage_error("--dump needs --gsg (it writes the GSG projections and choices)");
    if (o->no_pred && o->pred) return gsg_tool_usage_error("--no-predictor and --pred-dim exclude each other");
    if (o->save_every && !o->ckpt) return gsg_tool_usage_error("--save-every needs --ckpt");
    if (o->precision_set) gsg_precision_set(o->precision);
    if (o->dev == GSG_DEV_CPU && gsg_precision_get() == GSG_PREC_BF16) {   /* --precision, else GSG_PRECISION */
        char why[200];
        if (!gsg_cpu_bf16_supported(why, sizeof why))
            return gsg_tool_usage_error("%sbf16: %s", o->precision_set ? "--precision " : "GSG_PRECISION=", why);
    }
    if (o->knn_every && (!o->knn_bank || !o->knn_test)) return gsg_tool_usage_error("--knn-every needs --knn-bank FILE and --knn-test FILE");
    if (!o->knn_every && (o->knn_bank || o->knn_test)) return gsg_tool_usage_error("--knn-bank and --knn-test need --knn-every K");
    return 0;
}

/* Build the configuration from the first batch's meta and the options. */
static gsg_status make_config(struct gsg_train_config *c, const struct step_opts *o, const struct gsg_record *rec,
                              const char *path)
{
    char v[128];
    const char *recipe = o->recipe;
    if (!recipe && gsg_meta_get(rec->meta, "recipe", v, sizeof v) &&
        (!strcmp(v, "cifar") || !strcmp(v, "fmnist") || !strcmp(v, "imagenet")))
        recipe = v;
    if (!recipe) recipe = "cifar";
    GSG_TRY(gsg_train_config_recipe(c, recipe));
    c->method = o->method;
    c->gsg = o->gsg;
    c->pairing = o->pairing;
    c->dist = o->dist;
    c->fix_pred_lr |= o->fix_pred;
    gsg_net_config_override(&c->net, &(struct gsg_net_overrides){o->arch, o->width, o->proj, o->pred, o->no_pred});
    if (c->method == GSG_METHOD_SIMCLR) {   /* the recipe's projector, no predictor (docs/algorithm.md) */
        c->net.pred_hidden = 0;
        c->fix_pred_lr = 0;
        if (o->set_temp) c->temperature = o->temperature;
    }
    if (o->set_lr) c->lr = o->lr;
    if (o->set_wd) c->wd = o->wd;
    if (o->set_mom) c->momentum = o->mom;
    if (o->set_ema) c->ema = o->ema;
    c->ema_cosine = o->ema_cos;
    if (o->epochs) c->epochs = o->epochs;
    else if (gsg_meta_get(rec->meta, "epochs", v, sizeof v) && atoll(v) > 0) c->epochs = atoll(v);   /* 0: endless */
    c->warmup = o->warmup;
    c->rank = o->rank;
    c->batch = rec->t.dims[0];
    c->net.in_channels = (int)rec->t.dims[2];
    c->image_h = rec->t.dims[3];
    c->image_w = rec->t.dims[4];
    if (o->set_seed) c->seed = (uint64_t)o->seed;
    else if (gsg_meta_get(rec->meta, "seed", v, sizeof v)) c->seed = strtoull(v, NULL, 10);
    if (o->spe) c->steps_per_epoch = o->spe;
    else if (gsg_meta_get(rec->meta, "batches_per_epoch", v, sizeof v) && atoll(v) > 0) c->steps_per_epoch = atoll(v);
    else return gsg_err_set(GSG_E_USAGE, "%s: the stream has no batches_per_epoch= meta: give --steps-per-epoch", path);
    if (c->warmup >= c->epochs && c->warmup > 0) return gsg_err_set(GSG_E_USAGE, "--warmup %lld must be below --epochs %lld", (long long)c->warmup, (long long)c->epochs);
    return GSG_OK;
}

/* mean= / std= from the views meta. */
static gsg_status norm_consts(struct gsg_train_batch *b, const struct gsg_tstream_reader *r, const struct gsg_record *rec)
{
    int found;
    GSG_TRY(gsg_record_norm(r, rec, b->C, b->mean, b->std, &found));
    if (!found) return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "expected meta mean= and std= (the normalisation), found none");
    return GSG_OK;
}

static void json_num(FILE *f, const char *key, double x)
{
    if (isfinite(x)) fprintf(f, ",\"%s\":%.9g", key, x);
    else fprintf(f, ",\"%s\":null", key);
}

static gsg_status write_metrics(FILE *f, const struct gsg_train_stats *s, const struct gsg_knn_result *knn)
{
    fprintf(f, "{\"step\":%lld,\"epoch\":%lld", (long long)s->step, (long long)s->epoch);
    json_num(f, "loss", s->loss);
    json_num(f, "lr", s->lr);
    json_num(f, "lr_pred", s->lr_pred);
    json_num(f, "ema", s->ema);
    fprintf(f, ",\"k\":[%lld,%lld,%lld,%lld]", (long long)s->counts[0], (long long)s->counts[1], (long long)s->counts[2],
            (long long)s->counts[3]);
    json_num(f, "erank_z", s->erank_z);
    json_num(f, "erank_h", s->erank_h);
    json_num(f, "std_z", s->std_z);
    json_num(f, "cos_views", s->cos_views);
    json_num(f, "img_s", (double)s->N / s->seconds);
    json_num(f, "select_ms", 1e3 * s->select_seconds);
    json_num(f, "step_ms", 1e3 * s->seconds);
    if (s->comm_calls) json_num(f, "comm_ms", 1e3 * s->comm_seconds);
    if (knn) {
        json_num(f, "knn_top1", knn->top1);
        json_num(f, "knn_top5", knn->top5);
        fprintf(f, ",\"knn_k\":%lld,\"knn_queries\":%lld", (long long)knn->k_used, (long long)knn->scored);
    }
    fputs("}\n", f);
    fflush(f);   /* one line per step: the log can be followed (tail -f) while the run goes on */
    return ferror(f) ? gsg_err_set(GSG_E_IO, "metrics: write error: %s", strerror(errno)) : GSG_OK;
}

/* Open the --metrics log under its own name. A fresh run starts it empty; a resumed run keeps the
 * complete lines of the steps before the checkpoint's (before_step) and drops the rest, rewriting
 * the file atomically before appending to it. Devices and FIFOs are written as they are. */
static gsg_status metrics_open(FILE **out, const char *path, int resume, int64_t before_step)
{
    *out = NULL;
    if (!strcmp(path, "-")) { *out = stdout; return GSG_OK; }
    struct stat sb;
    int regular = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    if (resume && regular) {
        FILE *f = fopen(path, "rb");
        if (!f) return gsg_err_set(GSG_E_IO, "%s: cannot open: %s", path, strerror(errno));
        char *keep = malloc((size_t)sb.st_size + 1), *line = NULL;
        size_t kn = 0, cap = 0;
        ssize_t n;
        if (!keep) { fclose(f); return gsg_err_set(GSG_E_NOMEM, "%s: out of memory", path); }
        while ((n = getline(&line, &cap, f)) > 0) {
            long long step;
            if (line[n - 1] == '\n' && sscanf(line, "{\"step\":%lld", &step) == 1 && step < before_step) {
                memcpy(keep + kn, line, (size_t)n);
                kn += (size_t)n;
            }
        }
        int bad = ferror(f);
        free(line);
        fclose(f);
        gsg_status st = bad ? gsg_err_set(GSG_E_IO, "%s: read error: %s", path, strerror(errno))
                            : gsg_afile_write_all(path, keep, kn);
        free(keep);
        GSG_TRY(st);
    }
    FILE *f = fopen(path, resume || !regular ? "ab" : "wb");
    if (!f) return gsg_err_set(GSG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    *out = f;
    return GSG_OK;
}

/* SIGINT/SIGTERM/SIGHUP: one line naming the step and the last checkpoint, then the temporary files'
 * cleanup (core/afile) and death by the same signal. Async-signal-safe: write(2), sigaction. */
static volatile int64_t g_sig_step = -1, g_sig_saved = -1;
static volatile int g_sig_progress, g_sig_ranks;
static volatile sig_atomic_t g_saving, g_pending;   /* a signal during a checkpoint write waits for its end */

static size_t put_str(char *b, size_t n, const char *x)
{
    while (*x) b[n++] = *x++;
    return n;
}

static size_t put_i64(char *b, size_t n, int64_t v)
{
    char d[24];
    int k = 0;
    if (v < 0) { b[n++] = '-'; v = -v; }
    do { d[k++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (k) b[n++] = d[--k];
    return n;
}

static void on_interrupt(int sig)
{
    if (g_saving) {   /* the checkpoint being written lands first, so the message can name it */
        g_pending = sig;
        return;
    }
    char b[512];
    size_t n = 0;
    int64_t step = g_sig_step, saved = g_sig_saved;
    if (g_sig_progress) n = put_str(b, n, "\r\033[K");
    n = put_str(b, n, g_prog);
    if (step < 0) n = put_str(b, n, ": interrupted before the first step");
    else { n = put_str(b, n, ": interrupted at step "); n = put_i64(b, n, step); }
    if (saved < 0) n = put_str(b, n, ", no checkpoint written");
    else { n = put_str(b, n, ", last checkpoint at step "); n = put_i64(b, n, saved); }
    if (g_sig_ranks && sig == SIGTERM) n = put_str(b, n, " (under mpirun/srun: the launcher ends the job when another rank fails)");
    b[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, b, n);
    (void)w;
    gsg_afile_install_signals();   /* its handler removes the temporary files, then dies by sig */
    raise(sig);                    /* pending until this handler returns */
}

/* Write the checkpoint of step `step`; SIGINT/SIGTERM/SIGHUP arriving meanwhile are handled after
 * it (in whichever thread they land), when the last-checkpoint step they report is the file's. */
static gsg_status save_ckpt(struct gsg_trainer *tr, const char *path, int64_t step)
{
    g_saving = 1;
    gsg_status st = gsg_trainer_save(tr, path);
    if (st >= 0) g_sig_saved = step;
    g_saving = 0;
    if (g_pending) raise(g_pending);
    return st;
}

/* The resolved configuration as key=value text (the checkpoint's gsg.config and the run's extras). */
static void config_text(char *buf, size_t cap, const struct gsg_train_config *c, const struct step_opts *o,
                        int64_t total, int64_t stop)
{
    if (gsg_train_config_format(c, buf, cap)) { snprintf(buf, cap, "recipe=%s\n", c->recipe); }
    gsg_meta_add(buf, cap, "lr_pred", "%.9g", gsg_train_base_lr(c));
    gsg_meta_add(buf, cap, "total_steps", "%lld", (long long)total);
    gsg_meta_add(buf, cap, "stop_step", "%lld", (long long)stop);
    gsg_meta_add(buf, cap, "threads", "%d", o->threads ? (int)o->threads : omp_get_max_threads());
    gsg_meta_add(buf, cap, "device", "%s", o->dev == GSG_DEV_CUDA ? "cuda" : "cpu");
    gsg_meta_add(buf, cap, "precision", "%s", gsg_precision_name(gsg_precision_get()));
    if (o->dev == GSG_DEV_CPU && gsg_precision_get() == GSG_PREC_BF16)   /* what runs in bf16 on the CPU */
        gsg_meta_add(buf, cap, "bf16_ops", "%s", "conv:onednn");
    if (c->world > 1) {
        gsg_meta_add(buf, cap, "ranks", "%lld", (long long)c->world);
        gsg_meta_add(buf, cap, "rank_batch", "%lld", (long long)(c->batch / c->world));
        gsg_meta_add(buf, cap, "bn", "%s", o->local_bn ? "local" : "sync");
    }
}

/* path with every "%r" replaced by the rank; *has: whether it had one (then every rank writes it) */
static const char *rank_path(char *out, size_t cap, const char *path, int rank, int *has)
{
    if (has) *has = 0;
    if (!path) return NULL;
    size_t n = 0;
    for (const char *p = path; *p && n + 12 < cap; p++) {
        if (p[0] == '%' && p[1] == 'r') {
            n += (size_t)snprintf(out + n, cap - n, "%d", rank);
            p++;
            if (has) *has = 1;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = 0;
    return out;
}

/* Under several ranks: the stream must be this rank's shard (gsg-augment --shard). */
static gsg_status check_shard(const struct gsg_tstream_reader *r, const struct gsg_record *rec, int rank, int world)
{
    char v[64];
    long long i = -1, n = -1;
    if (!gsg_meta_get(rec->meta, "shard", v, sizeof v))
        return gsg_tstream_record_error(r, rec, GSG_E_USAGE, "rank %d of %d reads a stream without shard= meta, so every rank "
                                        "would train on the same images: give each rank gsg-augment --shard auto", rank, world);
    if (sscanf(v, "%lld/%lld", &i, &n) != 2 || i != rank || n != world)
        return gsg_tstream_record_error(r, rec, GSG_E_USAGE, "the stream is shard %s, but this process is rank %d of %d "
                                        "(gsg-augment --shard auto takes the launcher's placement)", v, rank, world);
    return GSG_OK;
}

/* Under several ranks: every rank holds the same parameters, buffers and optimiser state (checked
 * after start or resume and at every checkpoint: a divergence is an error, not a silent drift). */
static gsg_status check_same_state(struct gsg_comm *d, struct gsg_trainer *tr, const char *when)
{
    if (gsg_comm_size(d) == 1) return GSG_OK;
    uint64_t h = 0, h0;
    GSG_TRY(gsg_trainer_state_hash(tr, &h));
    h0 = h;
    GSG_TRY(gsg_comm_bcast(d, &h0, sizeof h0, 0, "state check"));
    double differ = h0 != h;
    GSG_TRY(gsg_comm_max_f64(d, &differ, 1, "state check"));
    if (differ != 0)
        return gsg_err_set(GSG_E_NUMERIC, "%s: the ranks' parameters or optimiser states differ (this rank %s rank 0's)%s", when,
                           h0 == h ? "agrees with" : "differs from",
                           strstr(when, "resume") ? ": is the checkpoint the same file on every node?" : "");
    return GSG_OK;
}

static gsg_status write_dump(struct gsg_tstream_writer *w, float *zbuf, const struct gsg_train_stats *s, enum gsg_dist dist)
{
    const int64_t N = s->N, D = s->D;
    for (int v = 0; v < 4; v++) memcpy(zbuf + v * N * D, s->z[v], (size_t)(N * D) * sizeof(float));
    char meta[128] = "";
    gsg_meta_add(meta, sizeof meta, "distance", "%s", gsg_dist_name(dist));
    gsg_meta_add(meta, sizeof meta, "step", "%lld", (long long)s->step);
    int64_t dz[3] = {4, N, D}, dn[1] = {N};
    GSG_TRY(gsg_tstream_write_raw(w, "gsg.z", (uint64_t)s->step, meta, GSG_DTYPE_F32, 3, dz, zbuf));
    GSG_TRY(gsg_tstream_write_raw(w, "gsg.perm", (uint64_t)s->step, NULL, GSG_DTYPE_I64, 1, dn, s->perm));
    GSG_TRY(gsg_tstream_write_raw(w, "gsg.choice", (uint64_t)s->step, NULL, GSG_DTYPE_I64, 1, dn, s->choice));
    GSG_TRY(gsg_tstream_write_raw(w, "gsg.loss", (uint64_t)s->step, NULL, GSG_DTYPE_F32, 1, dn, s->loss_rows));
    return GSG_OK;
}

/* Read the index and label records that follow a views record. */
static gsg_status read_rest(struct gsg_tstream_reader *r, int64_t N, uint64_t seq)
{
    const char *names[2] = {"index", "label"};
    for (int i = 0; i < 2; i++) {
        struct gsg_record rec;
        gsg_status st = gsg_tstream_read(r, &rec);
        if (st == GSG_END) return gsg_err_set(GSG_E_TRUNCATED, "%s: expected record '%s' after 'views' seq %llu, found the end",
                                              gsg_tstream_path(r), names[i], (unsigned long long)seq);
        GSG_TRY(st);
        int64_t want[1] = {N};
        GSG_TRY(gsg_tstream_expect(r, &rec, names[i], GSG_DTYPE_I64, 1, want));
        if (rec.seq != seq) return gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "seq %llu, expected %llu (that of its 'views')",
                                                            (unsigned long long)rec.seq, (unsigned long long)seq);
    }
    return GSG_OK;
}

int main(int argc, char **argv)
{
    gsg_tool_init(argc, argv, PROG);
    struct step_opts o;
    int prc = parse(argc, argv, &o);
    if (prc == -1) return gsg_tool_finish(0);
    if (prc) return prc;
    if (gsg_tool_stdin_is_tty(o.input)) return gsg_tool_usage_error("refusing to read a binary stream from a terminal (use -i FILE or a pipe)");
    struct gsg_comm *dist = NULL;
    gsg_status dst = gsg_comm_init(&dist, &argc, &argv);
    if (dst < 0) return gsg_tool_finish(gsg_tool_report(dst));
    const int world = gsg_comm_size(dist), rank = gsg_comm_rank(dist);
    char in_path[4096], metrics_path[4096], dump_path[4096];
    int metrics_all = 0, dump_all = 0;
    o.input = rank_path(in_path, sizeof in_path, o.input, rank, NULL);
    o.metrics = rank_path(metrics_path, sizeof metrics_path, o.metrics, rank, &metrics_all);
    o.dump = rank_path(dump_path, sizeof dump_path, o.dump, rank, &dump_all);
    if (world > 1) {
        snprintf(g_prog, sizeof g_prog, "%s[%d/%d]", PROG, rank, world);
        gsg_tool_init(argc, argv, g_prog);
        gsg_comm_set_timeout(dist, o.dist_timeout > 0 ? o.dist_timeout : 600);
        if (o.rank_set) {
            int rc = gsg_tool_usage_error("--rank: under %d ranks each process's rank is the launcher's", world);
            gsg_comm_end(dist, rc);
            return rc;
        }
        if (!o.threads && !getenv("OMP_NUM_THREADS")) {   /* the node's cores shared by its ranks */
            long cpus = sysconf(_SC_NPROCESSORS_ONLN);
            int per = (int)(cpus / gsg_comm_local_size(dist));
            o.threads = per < 1 ? 1 : per;
        }
        if (rank != 0) o.progress = 0;
        if (rank != 0 && !metrics_all) o.metrics = NULL;
        if (rank != 0 && !dump_all) o.dump = NULL;
    }
    const int writer = rank == 0;   /* checkpoints and the k-NN monitor */
    g_sig_ranks = world > 1;
    if (o.threads) omp_set_num_threads((int)o.threads);
    gsg_afile_install_handler(on_interrupt);

    struct gsg_tstream_reader *r = NULL;
    struct gsg_tstream_writer *dw = NULL;
    FILE *mf = NULL;
    struct gsg_trainer *tr = NULL;
    struct gsg_knn_monitor *mon = NULL;
    float *zbuf = NULL;
    char *rconf = NULL, *rstate = NULL;
    int64_t last_saved = -1;
    struct gsg_progress prog;
    memset(&prog, 0, sizeof prog);
    struct gsg_record rec;
    struct gsg_train_config cfg;
    gsg_status st = gsg_tstream_open_read(&r, o.input);
    if (st < 0) goto out;
    /* the first batch fixes the shapes, the normalisation and the schedule */
    st = gsg_tstream_read(r, &rec);
    if (st == GSG_END) st = gsg_err_set(GSG_E_FORMAT, "%s: expected records 'views' u8 [N,V,C,H,W], found none", gsg_tstream_path(r));
    if (st < 0 && world > 1 && rank > 0 && !strcmp(o.input, "-")) {
        char m[1024];
        snprintf(m, sizeof m, "%s", gsg_err_msg());
        st = gsg_err_set(st, "%s (under mpirun only rank 0 has the launcher's stdin: give each rank its own pipe, "
                         "sh -c 'gsg-augment ... --shard auto | gsg-step ...', or -i FILE with %%r)", m);
    }
    if (st < 0) goto out;
    int64_t vd[5] = {-1, -1, -1, -1, -1};
    if ((st = gsg_tstream_expect(r, &rec, "views", GSG_DTYPE_U8, 5, vd)) < 0) goto out;
    int64_t V = rec.t.dims[1];
    if (o.gsg && o.pairing == GSG_PAIR_4VIEW && V < 4) {
        st = gsg_err_set(GSG_E_USAGE, "%s: --gsg needs 4 views per image and the stream has %lld (run gsg-augment --views 4, "
                         "or use --gsg-pairing 2view)", gsg_tstream_path(r), (long long)V);
        goto out;
    }
    if (V < 2) { st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "%lld view per image, expected at least 2", (long long)V); goto out; }
    if (rec.t.dims[2] > 3) { st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "%lld channels, expected 1 or 3", (long long)rec.t.dims[2]); goto out; }
    struct gsg_train_batch b = {0};
    b.C = rec.t.dims[2];
    if ((st = norm_consts(&b, r, &rec)) < 0) goto out;
    if ((st = make_config(&cfg, &o, &rec, gsg_tstream_path(r))) < 0) goto out;
    if (world > 1) {
        if ((st = check_shard(r, &rec, rank, world)) < 0) goto out;
        cfg.batch *= world;   /* the global batch: the lr rule's B, gsg.config's batch= */
        cfg.world = world;
        cfg.rank = rank;
        /* the ranks run one configuration: rank 0's, compared key by key */
        char mine[4096], theirs[4096], key[128], va[256], vb2[256];
        memset(mine, 0, sizeof mine);
        gsg_train_config_format(&cfg, mine, sizeof mine);
        memcpy(theirs, mine, sizeof mine);
        if ((st = gsg_comm_bcast(dist, theirs, sizeof theirs, 0, "configuration")) < 0) goto out;
        if (gsg_train_config_diff(theirs, mine, key, sizeof key, va, vb2, sizeof va)) {
            st = gsg_err_set(GSG_E_USAGE, "%s: rank 0 trains with %s=%s, this rank with %s=%s (every rank must run the same "
                             "command on its shard)", gsg_tstream_path(r), key, va, key, vb2);
            goto out;
        }
    }
    if (o.resume) {
        char mine[4096], key[128], va[256], vb2[256];
        if ((st = gsg_ckpt_read_text(o.resume, &rconf, &rstate)) < 0) goto out;
        gsg_train_config_format(&cfg, mine, sizeof mine);
        if (rconf && gsg_train_config_diff(rconf, mine, key, sizeof key, va, vb2, sizeof va)) {
            st = gsg_err_set(GSG_E_USAGE, "--resume %s: the checkpoint was trained with %s=%s, this command gives %s=%s",
                             o.resume, key, va, key, vb2);
            goto out;
        }
    }
    char cfg_text[4096];
    {
        int64_t total0 = cfg.epochs * cfg.steps_per_epoch, stop0 = o.steps && o.steps < total0 ? o.steps : total0;
        config_text(cfg_text, sizeof cfg_text, &cfg, &o, total0, stop0);
        if (o.print_config) {
            if (writer) fputs(cfg_text, stdout);
            st = GSG_OK;
            goto out;
        }
        for (char *q = cfg_text; *q; q++) if (*q == '\n') *q = q[1] ? ' ' : 0;
    }
    if ((st = gsg_trainer_create(&tr, &cfg, o.dev)) < 0) goto out;
    if ((st = gsg_trainer_set_dist(tr, dist, !o.local_bn)) < 0) goto out;
    /* said once the device and the net exist, so a run refused there says one line only */
    if (writer) fprintf(stderr, "%s: config: %s%s%s\n", g_prog, cfg_text, world > 1 ? " backend=" : "",
                        world > 1 ? gsg_comm_backend(dist) : "");
    gsg_trainer_set_monitor_every(tr, o.metrics ? o.monitor_every : 0);
    if (o.resume && (st = gsg_trainer_load(tr, o.resume)) < 0) goto out;
    if ((st = check_same_state(dist, tr, o.resume ? "after --resume" : "at the start")) < 0) goto out;
    gsg_comm_take_seconds(dist, NULL);
    if (o.knn_every && writer) {
        struct gsg_knn_opts ko = gsg_knn_opts_default();
        ko.k = o.knn_k;
        ko.T = o.knn_t;
        if ((st = gsg_knn_monitor_create(&mon, &cfg.net, o.knn_bank, o.knn_test, 256, &ko, o.dev)) < 0) goto out;
    }
    int64_t total = gsg_trainer_total_steps(tr);
    int64_t stop = o.steps && o.steps < total ? o.steps : total;
    if (o.metrics && (st = metrics_open(&mf, o.metrics, o.resume != NULL, gsg_trainer_step_index(tr))) < 0) goto out;
    if (o.dump) {
        if (mkdir(o.dump, 0777) != 0 && errno != EEXIST) { st = gsg_err_set(GSG_E_IO, "%s: cannot create directory: %s", o.dump, strerror(errno)); goto out; }
        char dp[4096];
        snprintf(dp, sizeof dp, "%s/dump.gsgt", o.dump);
        if ((st = gsg_tstream_open_write(&dw, dp, 1)) < 0) goto out;
        zbuf = gsg_aligned_alloc((size_t)(4 * cfg.batch * cfg.net.proj_dim) * sizeof(float));
        if (!zbuf) { st = gsg_err_set(GSG_E_NOMEM, "out of memory"); goto out; }
    }
    last_saved = o.resume ? gsg_trainer_step_index(tr) : -1;
    g_sig_saved = last_saved;
    g_sig_step = gsg_trainer_step_index(tr);
    gsg_progress_init(&prog, o.progress, "step", stop);
    prog.start = gsg_trainer_step_index(tr);   /* a resumed run's rate counts from its first new step */
    g_sig_progress = prog.enabled;
    double img = 0, t_run = gsg_now();
    int have = 1;   /* rec holds a views record */
    while (gsg_trainer_step_index(tr) < stop) {
        if (!have) {
            st = gsg_tstream_read(r, &rec);
            if (st == GSG_END) break;
            if (st < 0) goto out;
            int64_t want[5] = {-1, V, b.C, cfg.image_h, cfg.image_w};
            if ((st = gsg_tstream_expect(r, &rec, "views", GSG_DTYPE_U8, 5, want)) < 0) goto out;
        }
        have = 0;
        uint64_t seq = rec.seq;
        int64_t N = rec.t.dims[0];
        if (N > cfg.batch) { st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "%lld images, more than the first batch's %lld", (long long)N, (long long)cfg.batch); goto out; }
        if ((int64_t)seq >= gsg_trainer_step_index(tr)) {   /* batches before a resumed step are skipped */
            if ((int64_t)seq != gsg_trainer_step_index(tr)) {
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "batch seq %llu, expected %lld (the next step)",
                                              (unsigned long long)seq, (long long)gsg_trainer_step_index(tr));
                goto out;
            }
            struct gsg_train_stats s;
            b.views = rec.t.data; b.N = N; b.V = V; b.H = cfg.image_h; b.W = cfg.image_w;
            st = gsg_trainer_step(tr, &b, &s);
            if (st < 0 && st != GSG_E_NUMERIC && world > 1) st = gsg_err_prefix(st, "step %lld", (long long)gsg_trainer_step_index(tr));
            if (st == GSG_E_NUMERIC) {
                char m[512];
                snprintf(m, sizeof m, "%s", gsg_err_msg());
                if (!o.ckpt) gsg_err_set(st, "%s: stopped (no --ckpt was given)", m);
                else if (last_saved >= 0)
                    gsg_err_set(st, "%s: stopped; the last good checkpoint %s (step %lld) is unchanged", m, o.ckpt, (long long)last_saved);
                else gsg_err_set(st, "%s: stopped; no checkpoint had been saved yet", m);
                goto out;   /* the metrics log keeps the lines up to here */
            }
            if (st < 0) goto out;
            img += (double)N;
            int64_t done = gsg_trainer_step_index(tr);
            g_sig_step = done;
            struct gsg_knn_result kr, *krp = NULL;
            if (mon && ((done % cfg.steps_per_epoch == 0 && (done / cfg.steps_per_epoch) % o.knn_every == 0) || done == total)) {
                double t0 = gsg_now();
                if ((st = gsg_knn_monitor_run(mon, gsg_trainer_net(tr), &kr)) < 0) goto out;
                krp = &kr;
                if (prog.enabled)
                    fprintf(stderr, "\r\033[K%s: step %lld (epoch %.2f) k-NN top-1 %.2f%% top-5 %.2f%% (bank %lld, %lld queries, %.1fs)\n",
                            g_prog, (long long)done, (double)done / (double)cfg.steps_per_epoch, 100 * kr.top1, 100 * kr.top5,
                            (long long)gsg_knn_monitor_bank_size(mon), (long long)kr.scored, gsg_now() - t0);
            }
            if (mf && (st = write_metrics(mf, &s, krp)) < 0) goto out;
            if (dw && s.step % o.dump_every == 0 && (st = write_dump(dw, zbuf, &s, cfg.dist)) < 0) goto out;
            if (o.ckpt && o.save_every && done % o.save_every == 0 && done < stop) {
                if ((st = check_same_state(dist, tr, "at a checkpoint")) < 0) goto out;
                if (writer && (st = save_ckpt(tr, o.ckpt, done)) < 0) goto out;
                last_saved = done;
                g_sig_saved = done;
            }
            char extra[160];
            snprintf(extra, sizeof extra, "epoch %lld loss %.4f k %lld/%lld/%lld/%lld %.1f img/s", (long long)s.epoch, s.loss,
                     (long long)s.counts[0], (long long)s.counts[1], (long long)s.counts[2], (long long)s.counts[3],
                     img / (gsg_now() - t_run));
            gsg_progress_update(&prog, done, extra);
        }
        if ((st = read_rest(r, N, seq)) < 0) goto out;
    }
    gsg_progress_finish(&prog, gsg_trainer_step_index(tr), NULL);
    const int64_t got = gsg_trainer_step_index(tr);
    if (o.ckpt && (st = check_same_state(dist, tr, "at the last checkpoint")) < 0) goto out;
    if (o.ckpt && writer && (st = save_ckpt(tr, o.ckpt, got)) < 0) goto out;
    g_sig_saved = o.ckpt ? got : g_sig_saved;
    if (dw) { st = gsg_tstream_close(dw); dw = NULL; if (st < 0) goto out; }
    if (got < stop) {
        /* the stream ended before the schedule: the steps done are saved, but this is no success */
        const int64_t spe = cfg.steps_per_epoch;
        char saved[4200] = "no --ckpt was given";
        if (o.ckpt) snprintf(saved, sizeof saved, "the checkpoint %s is at step %lld", o.ckpt, (long long)got);
        char want[96];
        if (stop < total) snprintf(want, sizeof want, "%lld steps (--steps)", (long long)stop);
        else snprintf(want, sizeof want, "%lld steps (%lld epochs of %lld batches)", (long long)stop, (long long)cfg.epochs, (long long)spe);
        st = gsg_err_set(GSG_E_TRUNCATED, "%s: the stream ended at step %lld (%.4g epochs), expected %s; %s; give gsg-augment "
                         "--epochs %lld, or gsg-step --epochs/--steps", gsg_tstream_path(r), (long long)got,
                         (double)got / (double)spe, want, saved, (long long)((stop + spe - 1) / spe));
        goto out;
    }
    st = GSG_OK;
out:
    if (dw) gsg_tstream_abort(dw);
    if (mf && mf != stdout && fclose(mf) != 0 && st >= 0) st = gsg_err_set(GSG_E_IO, "%s: write error: %s", o.metrics, strerror(errno));
    if (r) gsg_tstream_close_read(r);
    gsg_trainer_destroy(tr);
    gsg_knn_monitor_destroy(mon);
    gsg_aligned_free(zbuf);
    free(rconf);
    free(rstate);
    int rc = gsg_tool_finish(gsg_tool_report(st));
    gsg_comm_end(dist, rc);   /* a failure on any rank ends every rank (MPI_Abort with its status) */
    return rc;
}
