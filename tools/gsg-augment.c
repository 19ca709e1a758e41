/* gsg-augment: data set in, shuffled and augmented view batches out (docs/dataflow.md).
 * Output per batch (seq = global batch number): 'views' u8 [N,V,C,H,W], 'index' i64 [N],
 * 'label' i64 [N]; with --plain: 'images' u8 [N,C,H,W] in data set order. All the
 * work lives in lib/io/dataset.c (readers) and lib/aug (recipes, ops, batches). */
#define _GNU_SOURCE
#include <getopt.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "aug/batch.h"
#include "core/tool.h"
#include "dist/dist.h"
#include "io/tstream.h"

static const char *PROG = "gsg-augment";

static void usage(void)
{
    printf("Usage: %s [OPTIONS]\n"
           "Read an image data set and write a tensor stream of shuffled, augmented view batches:\n"
           "  views  u8  [N,V,C,H,W]   V random views of each image (meta: epoch, seed, recipe, dataset,\n"
           "                           size, mean, std: the recipe's normalisation for gsg-step)\n"
           "  index  i64 [N]           position of each image in the data set\n"
           "  label  i64 [N]           its class (-1 when unknown)\n"
           "with seq = global batch number. Each epoch is shuffled from the seed; the last partial\n"
           "batch is dropped. Views of image i are drawn from (seed, epoch, i, view) alone: the stream\n"
           "is byte-identical for any --threads.\n"
           "\n"
           "Options:\n"
           "  -d, --data PATH      data set (default fashion-mnist: %s):\n"
           "                       IDX file or folder (plain or .gz), CIFAR-10/100 .bin file or folder,\n"
           "                       folder of images with one sub-folder per class (only *.jpg, *.jpeg,\n"
           "                       *.png, any case, are read: torchvision's ImageFolder), or a u8 image stream\n"
           "                       ('images' [N,C,H,W] + optional 'label'; '-' reads stdin)\n"
           "      --split S        train|test (default train; test = t10k, test_batch, test.bin, val/)\n"
           "      --format F       auto|idx|cifar10|cifar100|jpeg|stream (default auto)\n"
           "  -r, --recipe R       %s (default from the data: idx fmnist, CIFAR cifar, JPEG imagenet)\n"
           "  -v, --views V        views per image, 1..16 (default 4: GSG; 2 for the baselines)\n"
           "  -b, --batch N        images per batch (default 256)\n"
           "  -e, --epochs E       epochs, 0 = forever (default 1)\n"
           "  -s, --seed S         random seed (default 0)\n"
           "      --size PX        output side in pixels (default the recipe's: 32, 28 or 224)\n"
           "      --plain          un-augmented eval images ('images' [N,C,H,W]) in data set order,\n"
           "                       resized / centre-cropped per recipe; the last partial batch is kept\n"
           "      --shard I/N      rank I of N: each global batch of N*batch images is split in N\n"
           "                       (auto: the rank and size of the mpirun/srun launch, docs/distributed.md)\n"
           "                       (with --plain: batches I, I+N, ...)\n"
           "  -t, --threads T      worker threads (default all cores)\n"
           "      --limit N        use the first N images of the data set\n"
           "      --range A:B      use images A <= i < B only (e.g. a validation split: train on 0:50000,\n"
           "                       hold out 50000:60000); 'index' still counts from the data set's start\n"
           "      --crop-scale L:H the random crop's area fraction range (default the recipe's, e.g. 0.2:1)\n"
           "      --skip-bad       image folders: skip unreadable files, each named on stderr (and counted at the end)\n"
           "                       instead of failing; one that fails later gives zero views, label -1\n"
           "  -o, --output FILE    output stream (default '-', stdout)\n"
           "  -l, --level N        zstd level 0..19 (default 1)\n"
           "  -f, --force          write a binary stream to a terminal\n"
           "      --progress       progress on stderr even when it is not a terminal\n"
           "  -h, --help           this help, on stdout\n"
           "  -V, --version        version\n"
           "\n"
           "Example: %s --views 4 --limit 16 --batch 16 | gsg-tensor grid -o views.png\n"
           "\n"
           "A reader that closes the pipe early (gsg-step --steps N, head) is a normal end: exit 0, no message.\n"
           "\n"
           "Exit status: 0 success, 1 runtime failure (bad or truncated data, I/O), 2 usage error.\n",
           PROG, GSG_FASHION_MNIST_DIR, gsg_aug_recipe_names(), PROG);
}

struct augment_opts {
    struct gsg_dataset_opts data;
    const char *recipe, *output;
    int64_t views, batch, epochs, seed, size, threads, level, shard_i, shard_n;
    int plain, force, progress, views_set;
    float crop_lo, crop_hi;      /* --crop-scale (0: the recipe's) */
    int64_t range_a, range_b;    /* --range (range_b 0: none) */
};

static int parse(int argc, char **argv, struct augment_opts *o)
{
    enum { O_SPLIT = 256, O_FORMAT, O_SIZE, O_PLAIN, O_SHARD, O_LIMIT, O_SKIP, O_PROGRESS, O_RANGE, O_CROP };
    static const struct option lo[] = {
        {"data", required_argument, 0, 'd'}, {"split", required_argument, 0, O_SPLIT}, {"format", required_argument, 0, O_FORMAT},
        {"recipe", required_argument, 0, 'r'}, {"views", required_argument, 0, 'v'}, {"batch", required_argument, 0, 'b'},
        {"epochs", required_argument, 0, 'e'}, {"seed", required_argument, 0, 's'}, {"size", required_argument, 0, O_SIZE},
        {"plain", no_argument, 0, O_PLAIN}, {"shard", required_argument, 0, O_SHARD}, {"threads", required_argument, 0, 't'},
        {"limit", required_argument, 0, O_LIMIT}, {"skip-bad", no_argument, 0, O_SKIP}, {"output", required_argument, 0, 'o'},
        {"level", required_argument, 0, 'l'}, {"force", no_argument, 0, 'f'}, {"progress", no_argument, 0, O_PROGRESS},
        {"range", required_argument, 0, O_RANGE}, {"crop-scale", required_argument, 0, O_CROP},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->data.path = "fashion-mnist";
    o->output = "-";
    o->views = 4; o->batch = 256; o->epochs = 1; o->level = 1; o->shard_n = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":d:r:v:b:e:s:t:o:l:fhV", lo, NULL)) != -1) {
        switch (c) {
        case 'd': o->data.path = optarg; break;
        case O_SPLIT:
            if (strcmp(optarg, "train") == 0) o->data.test = 0;
            else if (strcmp(optarg, "test") == 0) o->data.test = 1;
            else return gsg_tool_usage_error("--split: '%s' is not train or test", optarg);
            break;
        case O_FORMAT:
            if (gsg_data_format_parse(optarg, &o->data.format))
                return gsg_tool_usage_error("--format: '%s' is not auto, idx, cifar10, cifar100, jpeg or stream", optarg);
            break;
        case 'r':
            if (!gsg_aug_recipe_find(optarg)) return gsg_tool_usage_error("--recipe: unknown recipe '%s' (expected %s)", optarg, gsg_aug_recipe_names());
            o->recipe = optarg;
            break;
        case 'v': if (gsg_parse_i64("--views", optarg, 1, 16, &o->views)) return 2; o->views_set = 1; break;
        case 'b': if (gsg_parse_i64("--batch", optarg, 1, 1 << 20, &o->batch)) return 2; break;
        case 'e': if (gsg_parse_i64("--epochs", optarg, 0, INT64_MAX / 2, &o->epochs)) return 2; break;
        case 's': if (gsg_parse_i64("--seed", optarg, 0, INT64_MAX, &o->seed)) return 2; break;
        case O_SIZE: if (gsg_parse_i64("--size", optarg, 1, 4096, &o->size)) return 2; break;
        case O_PLAIN: o->plain = 1; break;
        case O_SHARD: {
            long long i, n;
            char tail;
            if (!strcmp(optarg, "auto")) {   /* the launcher's placement (mpirun, srun); rank 0 of 1 without one */
                int r, w;
                gsg_launch_env(&r, &w, NULL, NULL);
                o->shard_i = r; o->shard_n = w;
                break;
            }
            if (sscanf(optarg, "%lld/%lld%c", &i, &n, &tail) != 2 || n < 1 || n > 65536 || i < 0 || i >= n)
                return gsg_tool_usage_error("--shard: '%s' is not I/N with 0 <= I < N <= 65536, or auto", optarg);
            o->shard_i = i; o->shard_n = n;
            break;
        }
        case 't': if (gsg_parse_i64("--threads", optarg, 1, 1024, &o->threads)) return 2; break;
        case O_LIMIT: if (gsg_parse_i64("--limit", optarg, 1, INT64_MAX, &o->data.limit)) return 2; break;
        case O_SKIP: o->data.skip_bad = 1; break;
        case O_RANGE: {
            long long a, bb;
            char tail;
            if (sscanf(optarg, "%lld:%lld%c", &a, &bb, &tail) != 2 || a < 0 || bb <= a)
                return gsg_tool_usage_error("--range: '%s' is not A:B with 0 <= A < B", optarg);
            o->range_a = a; o->range_b = bb;
            break;
        }
        case O_CROP: {
            float clo, chi;
            char tail;
            if (sscanf(optarg, "%f:%f%c", &clo, &chi, &tail) != 2 || !(clo > 0.0f) || !(chi <= 1.0f) || !(clo <= chi))
                return gsg_tool_usage_error("--crop-scale: '%s' is not L:H with 0 < L <= H <= 1", optarg);
            o->crop_lo = clo; o->crop_hi = chi;
            break;
        }
        case 'o': o->output = optarg; break;
        case 'l': if (gsg_parse_i64("--level", optarg, 0, 19, &o->level)) return 2; break;
        case 'f': o->force = 1; break;
        case O_PROGRESS: o->progress = 1; break;
        case 'h': usage(); return -1;
        case 'V': printf("%s %s\n", PROG, GSG_VERSION); return -1;
        case ':': return gsg_tool_usage_error("option '%s' needs an argument", argv[optind - 1]);
        default: return gsg_tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return gsg_tool_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->plain && o->views_set) return gsg_tool_usage_error("--views makes no sense with --plain");
    if (o->plain && o->crop_lo > 0) return gsg_tool_usage_error("--crop-scale makes no sense with --plain");
    if (o->range_b > 0) {
        if (o->data.limit > 0) return gsg_tool_usage_error("--range and --limit exclude each other");
        o->data.offset = o->range_a;
        o->data.limit = o->range_b - o->range_a;
    }
    return 0;
}

static const char *default_recipe(const struct gsg_dataset *ds)
{
    switch (ds->format) {
    case GSG_DATA_CIFAR10: case GSG_DATA_CIFAR100: return "cifar";
    case GSG_DATA_JPEG: return "imagenet";
    case GSG_DATA_IDX: return "fmnist";
    case GSG_DATA_STREAM: case GSG_DATA_AUTO: default: return ds->c == 3 ? "cifar" : "fmnist";
    }
}

/* One batch: images idx[0..n) -> records views|images, index, label with seq. */
static gsg_status emit(struct gsg_aug_batcher *b, struct gsg_tstream_writer *w, const struct augment_opts *o,
                       const char *meta, uint8_t *out, int64_t *lab, const int64_t *idx, int64_t n, uint64_t epoch, uint64_t seq)
{
    GSG_TRY(gsg_aug_batch(b, out, lab, idx, n, epoch));
    int64_t C = b->r.channels, S = b->r.size;
    if (o->plain) {
        int64_t d[4] = {n, C, S, S};
        GSG_TRY(gsg_tstream_write_raw(w, "images", seq, meta, GSG_DTYPE_U8, 4, d, out));
    } else {
        int64_t d[5] = {n, o->views, C, S, S};
        GSG_TRY(gsg_tstream_write_raw(w, "views", seq, meta, GSG_DTYPE_U8, 5, d, out));
    }
    int64_t d1[1] = {n};
    if (o->range_a > 0) {   /* positions in the whole data set: shift the range's own, then back */
        int64_t *ix = (int64_t *)idx;
        for (int64_t i = 0; i < n; i++) ix[i] += o->range_a;
        gsg_status st = gsg_tstream_write_raw(w, "index", seq, NULL, GSG_DTYPE_I64, 1, d1, ix);
        for (int64_t i = 0; i < n; i++) ix[i] -= o->range_a;
        GSG_TRY(st);
    } else {
        GSG_TRY(gsg_tstream_write_raw(w, "index", seq, NULL, GSG_DTYPE_I64, 1, d1, idx));
    }
    return gsg_tstream_write_raw(w, "label", seq, NULL, GSG_DTYPE_I64, 1, d1, lab);
}

/* The reader closed the pipe: it has all it wanted (gsg-step --steps N), so this is a normal end.
 * Exit 0 at once, quietly, so that `set -o pipefail` pipelines succeed (the default action would
 * end the run by the signal: status 141). The handler also replaces an inherited SIG_IGN, under
 * which writes would fail with EPIPE instead. */
static void on_sigpipe(int sig)
{
    (void)sig;
    _exit(0);
}

int main(int argc, char **argv)
{
    gsg_tool_init(argc, argv, PROG);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    struct augment_opts o;
    int prc = parse(argc, argv, &o);
    if (prc == -1) return gsg_tool_finish(0);
    if (prc) return prc;
    if ((prc = gsg_tool_refuse_tty(o.output, strcmp(o.data.path, "-") == 0 ? "-" : NULL, o.force, "give --data PATH"))) return prc;

    struct gsg_dataset ds;
    struct gsg_aug_batcher b;
    struct gsg_tstream_writer *w = NULL;
    uint8_t *out = NULL;
    int64_t *idx = NULL, *lab = NULL, *perm = NULL;
    memset(&b, 0, sizeof b);
    gsg_status st = gsg_dataset_open(&ds, &o.data);
    if (st < 0) return gsg_tool_finish(gsg_tool_report(st));
    for (int64_t i = 0; i < ds.nskipped_msgs; i++) fprintf(stderr, "%s: skipped: %s\n", PROG, ds.skipped_msgs[i]);
    const struct gsg_aug_recipe *r0 = gsg_aug_recipe_find(o.recipe ? o.recipe : default_recipe(&ds));
    struct gsg_aug_recipe r = gsg_aug_recipe_resized(r0, (int)o.size);
    if (o.crop_lo > 0) { r.scale_lo = o.crop_lo; r.scale_hi = o.crop_hi; }
    if (o.range_b > 0 && ds.n < o.range_b - o.range_a) {
        st = gsg_err_set(GSG_E_USAGE, "--range %lld:%lld: %s has %lld images", (long long)o.range_a, (long long)o.range_b,
                         ds.source, (long long)(ds.n + o.range_a));
        goto out;
    }
    int64_t per_step = o.batch * o.shard_n;
    int64_t steps = ds.n / per_step;
    if (!o.plain && steps == 0) {
        st = gsg_err_set(GSG_E_USAGE, "%s: %lld images give no full batch of %lld%s", ds.source, (long long)ds.n,
                         (long long)per_step, o.shard_n > 1 ? " (batch x shards)" : "");
        goto out;
    }
    if ((st = gsg_aug_batcher_init(&b, &ds, &r, (int)o.views, (uint64_t)o.seed, o.plain, o.data.skip_bad, (int)o.threads)) < 0) goto out;
    size_t item = gsg_aug_batcher_item_bytes(&b);
    out = malloc(item * (size_t)o.batch);
    idx = malloc(sizeof(int64_t) * (size_t)o.batch);
    lab = malloc(sizeof(int64_t) * (size_t)o.batch);
    perm = malloc(sizeof(int64_t) * (size_t)ds.n);
    if (!out || !idx || !lab || !perm) { st = gsg_err_set(GSG_E_NOMEM, "out of memory for a batch of %lld", (long long)o.batch); goto out; }
    if ((st = gsg_tstream_open_write(&w, o.output, (int)o.level)) < 0) goto out;

    char meta[1024] = "";
    if (!o.plain) gsg_meta_add(meta, sizeof meta, "views", "%lld", (long long)o.views);
    gsg_meta_add(meta, sizeof meta, "seed", "%lld", (long long)o.seed);
    gsg_meta_add(meta, sizeof meta, "recipe", "%s", r.name);
    gsg_meta_add(meta, sizeof meta, "dataset", "%s", ds.source);
    gsg_meta_add(meta, sizeof meta, "format", "%s", gsg_data_format_name(ds.format));
    gsg_meta_add(meta, sizeof meta, "size", "%d", r.size);
    gsg_meta_add(meta, sizeof meta, "mean", "%g,%g,%g", r.mean[0], r.mean[1], r.mean[2]);
    gsg_meta_add(meta, sizeof meta, "std", "%g,%g,%g", r.std[0], r.std[1], r.std[2]);
    gsg_meta_add(meta, sizeof meta, "classes", "%lld", (long long)ds.nclasses);
    if (o.range_b > 0) gsg_meta_add(meta, sizeof meta, "range", "%lld:%lld", (long long)o.range_a, (long long)o.range_b);
    if (!o.plain) gsg_meta_add(meta, sizeof meta, "crop_scale", "%g:%g", r.scale_lo, r.scale_hi);
    if (o.shard_n > 1) gsg_meta_add(meta, sizeof meta, "shard", "%lld/%lld", (long long)o.shard_i, (long long)o.shard_n);
    if (!o.plain) {
        gsg_meta_add(meta, sizeof meta, "batches_per_epoch", "%lld", (long long)steps);
        gsg_meta_add(meta, sizeof meta, "epochs", "%lld", (long long)o.epochs);
    }
    size_t base_len = strlen(meta);

    struct gsg_progress prog;
    int64_t done = 0;
    if (o.plain) {
        int64_t nb = (ds.n + o.batch - 1) / o.batch;
        gsg_progress_init(&prog, o.progress, "images", ds.n);
        for (int64_t bi = o.shard_i; bi < nb && st >= 0; bi += o.shard_n) {
            int64_t n0 = bi * o.batch, n = ds.n - n0 < o.batch ? ds.n - n0 : o.batch;
            for (int64_t i = 0; i < n; i++) idx[i] = n0 + i;
            st = emit(&b, w, &o, meta, out, lab, idx, n, 0, (uint64_t)bi);
            done += n;
            gsg_progress_update(&prog, done, NULL);
        }
    } else {
        int64_t total = 0;   /* 0 = unknown: forever, or too many to count in 64 bits */
        if (o.epochs && (__builtin_mul_overflow(o.epochs, steps, &total) || __builtin_mul_overflow(total, o.batch * o.views, &total))) total = 0;
        gsg_progress_init(&prog, o.progress, "views", total);
        for (int64_t e = 0; (o.epochs == 0 || e < o.epochs) && st >= 0; e++) {
            gsg_aug_shuffle(perm, ds.n, (uint64_t)o.seed, (uint64_t)e);
            meta[base_len] = 0;
            gsg_meta_add(meta, sizeof meta, "epoch", "%lld", (long long)e);
            for (int64_t s = 0; s < steps && st >= 0; s++) {
                memcpy(idx, perm + (s * o.shard_n + o.shard_i) * o.batch, sizeof(int64_t) * (size_t)o.batch);
                st = emit(&b, w, &o, meta, out, lab, idx, o.batch, (uint64_t)e, (uint64_t)(e * steps + s));
                done += o.batch * o.views;
                gsg_progress_update(&prog, done, NULL);
            }
        }
    }
    if (st >= 0) gsg_progress_finish(&prog, done, NULL);
out:
    if (st >= 0 && w) {
        st = gsg_tstream_close(w);
        w = NULL;
    }
    if (w) gsg_tstream_abort(w);
    int rc = gsg_tool_report(st);
    if (st >= 0 && (ds.skipped || b.bad)) {
        fprintf(stderr, "%s: ", PROG);
        if (ds.skipped) fprintf(stderr, "skipped %lld unreadable file%s at open%s", (long long)ds.skipped, ds.skipped == 1 ? "" : "s", b.bad ? "; " : "");
        if (b.bad) fprintf(stderr, "%lld view batch entr%s zeroed for images that failed to decode (first: %s)", (long long)b.bad,
                           b.bad == 1 ? "y" : "ies", b.first_bad);
        fprintf(stderr, "\n");
    }
    gsg_aug_batcher_free(&b);
    gsg_dataset_free(&ds);
    free(out); free(idx); free(lab); free(perm);
    return gsg_tool_finish(rc);
}
