/* gsg-eval: evaluate frozen features: weighted k-NN, linear probe, collapse metrics.
 * Inputs are feature streams from gsg-encode (or image streams from gsg-augment --plain,
 * read as raw pixels). All numerics live in lib/eval. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "core/tool.h"
#include "eval/collapse.h"
#include "eval/features.h"
#include "eval/knn.h"
#include "eval/linear.h"

static const char *PROG = "gsg-eval";

static void usage(void)
{
    printf("Usage: %s knn     --train FILE --test FILE [OPTIONS]\n"
           "       %s linear  --train FILE --test FILE [OPTIONS]\n"
           "       %s collapse [OPTIONS] [FILE]\n"
           "Evaluate frozen representations.\n"
           "\n"
           "  knn       weighted k-NN (InstDisc vote, as the SimSiam/BYOL monitors): cosine on\n"
           "            L2-normalised features, the k most similar training rows vote with weight\n"
           "            exp(s/T); top-1 and top-5 on the test rows. Ties: the lower bank index, then\n"
           "            the lower class.\n"
           "  linear    linear probe on standardised features: softmax + SGD (momentum, cosine lr)\n"
           "            or the exact ridge least-squares classifier; top-1/top-5 on the test rows.\n"
           "  collapse  per-dimension std of L2-normalised rows, effective rank, and a verdict\n"
           "            (ok | dimensional-collapse | collapsed) for one stream (FILE or --test).\n"
           "\n"
           "Inputs: streams with per batch 'features' f32 [N,F] (gsg-encode), 'index' i64 [N] and\n"
           "'label' i64 [N]; or 'images' u8 [N,C,H,W] (gsg-augment --plain), read as raw pixels\n"
           "(value/255, flattened): k-NN on raw pixels. FILE '-' is stdin.\n"
           "\n"
           "Options:\n"
           "      --train FILE       training features (the k-NN bank; the probe's training set)\n"
           "      --test FILE        test features (queries)\n"
           "      --use KIND         features|projections|images|auto (default auto: features,\n"
           "                         else images)\n"
           "      --max-train N      use the first N training rows only (default all)\n"
           "      --max-test N       use the first N test rows only (default all)\n"
           "      --classes N        number of classes (default: max label + 1)\n"
           "      --json             one JSON object on stdout instead of the table\n"
           "  k-NN:\n"
           "  -k, --k N              neighbours (default 200; capped at the bank size)\n"
           "  -t, --temperature T    vote temperature (default 0.1)\n"
           "  linear:\n"
           "      --solver S         sgd|ridge (default sgd)\n"
           "      --epochs N         SGD epochs (default 100)\n"
           "      --batch N          SGD batch (default 256)\n"
           "      --lr X             SGD base lr, cosine to 0 (default 0.1)\n"
           "      --momentum X       (default 0.9)\n"
           "      --wd X             weight decay (default 0)\n"
           "      --ridge X          ridge lambda, relative to N (default 1e-3)\n"
           "      --seed N           SGD shuffling seed (default 0)\n"
           "  -h, --help             this help, on stdout\n"
           "  -V, --version          version\n"
           "\n"
           "Exit status: 0 success (also for a 'collapsed' verdict), 1 runtime failure (bad or\n"
           "truncated input, labels missing, non-finite values), 2 usage error.\n",
           PROG, PROG, PROG);
}

enum eval_mode { MODE_KNN, MODE_LINEAR, MODE_COLLAPSE };

struct eval_opts {
    enum eval_mode mode;
    const char *train, *test, *use;
    int64_t max_train, max_test;
    int json;
    struct gsg_knn_opts knn;
    struct gsg_probe_opts probe;
};

static int parse(int argc, char **argv, struct eval_opts *o)
{
    enum { O_TRAIN = 256, O_TEST, O_USE, O_MAXTR, O_MAXTE, O_CLASSES, O_JSON, O_SOLVER, O_EPOCHS, O_BATCH, O_LR,
           O_MOM, O_WD, O_RIDGE, O_SEED };
    static const struct option lo[] = {
        {"train", required_argument, 0, O_TRAIN}, {"test", required_argument, 0, O_TEST},
        {"use", required_argument, 0, O_USE}, {"max-train", required_argument, 0, O_MAXTR},
        {"max-test", required_argument, 0, O_MAXTE}, {"classes", required_argument, 0, O_CLASSES},
        {"json", no_argument, 0, O_JSON}, {"k", required_argument, 0, 'k'},
        {"temperature", required_argument, 0, 't'}, {"solver", required_argument, 0, O_SOLVER},
        {"epochs", required_argument, 0, O_EPOCHS}, {"batch", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR}, {"momentum", required_argument, 0, O_MOM},
        {"wd", required_argument, 0, O_WD}, {"ridge", required_argument, 0, O_RIDGE},
        {"seed", required_argument, 0, O_SEED}, {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->use = "auto";
    o->knn = gsg_knn_opts_default();
    o->probe = gsg_probe_opts_default();
    /* --help / --version anywhere, even before the mode */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(); return -1; }
        if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) { printf("%s %s\n", PROG, GSG_VERSION); return -1; }
    }
    if (argc < 2) return gsg_tool_usage_error("missing mode: knn, linear or collapse");
    const char *m = argv[1];
    if (!strcmp(m, "knn")) o->mode = MODE_KNN;
    else if (!strcmp(m, "linear")) o->mode = MODE_LINEAR;
    else if (!strcmp(m, "collapse")) o->mode = MODE_COLLAPSE;
    else if (m[0] == '-') return gsg_tool_usage_error("missing mode before '%s': knn, linear or collapse", m);
    else return gsg_tool_usage_error("unknown mode '%s', expected knn, linear or collapse", m);
    opterr = 0;
    optind = 2;
    int c;
    int64_t v;
    while ((c = getopt_long(argc, argv, ":k:t:hV", lo, NULL)) != -1) {
        switch (c) {
        case O_TRAIN: o->train = optarg; break;
        case O_TEST: o->test = optarg; break;
        case O_USE:
            if (strcmp(optarg, "auto") && strcmp(optarg, "features") && strcmp(optarg, "projections") && strcmp(optarg, "images"))
                return gsg_tool_usage_error("--use: '%s' is not features, projections, images or auto", optarg);
            o->use = optarg;
            break;
        case O_MAXTR: if (gsg_parse_i64("--max-train", optarg, 1, INT64_MAX / 2, &o->max_train)) return 2; break;
        case O_MAXTE: if (gsg_parse_i64("--max-test", optarg, 1, INT64_MAX / 2, &o->max_test)) return 2; break;
        case O_CLASSES:
            if (gsg_parse_i64("--classes", optarg, 1, 100000, &v)) return 2;
            o->knn.classes = o->probe.classes = v;
            break;
        case O_JSON: o->json = 1; break;
        case 'k': if (gsg_parse_i64("--k", optarg, 1, 100000, &o->knn.k)) return 2; break;
        case 't':
            if (gsg_parse_f64("--temperature", optarg, 1e-6, 1e6, &o->knn.T)) return 2;
            break;
        case O_SOLVER:
            if (!strcmp(optarg, "sgd")) o->probe.solver = GSG_PROBE_SGD;
            else if (!strcmp(optarg, "ridge")) o->probe.solver = GSG_PROBE_RIDGE;
            else return gsg_tool_usage_error("--solver: '%s' is not sgd or ridge", optarg);
            break;
        case O_EPOCHS: if (gsg_parse_i64("--epochs", optarg, 1, 100000, &o->probe.epochs)) return 2; break;
        case O_BATCH: if (gsg_parse_i64("--batch", optarg, 1, 1 << 20, &o->probe.batch)) return 2; break;
        case O_LR: if (gsg_parse_f64("--lr", optarg, 1e-9, 1e6, &o->probe.lr)) return 2; break;
        case O_MOM: if (gsg_parse_f64("--momentum", optarg, 0, 0.999999, &o->probe.momentum)) return 2; break;
        case O_WD: if (gsg_parse_f64("--wd", optarg, 0, 10, &o->probe.weight_decay)) return 2; break;
        case O_RIDGE: if (gsg_parse_f64("--ridge", optarg, 1e-12, 1e6, &o->probe.ridge)) return 2; break;
        case O_SEED: if (gsg_parse_i64("--seed", optarg, 0, INT64_MAX, &v)) return 2; o->probe.seed = (uint64_t)v; break;
        case ':': return gsg_tool_usage_error("option '%s' needs an argument", argv[optind - 1]);
        default: return gsg_tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (o->mode == MODE_COLLAPSE) {
        if (optind < argc) {
            if (o->test) return gsg_tool_usage_error("give the collapse input once (FILE or --test)");
            o->test = argv[optind++];
        }
        if (!o->test) o->test = o->train;
        if (o->train && o->test != o->train) return gsg_tool_usage_error("collapse reads one stream: give FILE or --test");
        if (!o->test) o->test = "-";
    } else {
        if (!o->train) return gsg_tool_usage_error("%s needs --train FILE", m);
        if (!o->test) return gsg_tool_usage_error("%s needs --test FILE", m);
        if (!strcmp(o->train, "-") && !strcmp(o->test, "-")) return gsg_tool_usage_error("--train and --test cannot both be stdin");
    }
    if (optind < argc) return gsg_tool_usage_error("unexpected argument '%s'", argv[optind]);
    return 0;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static gsg_status load(struct gsg_features *f, const char *path, const char *use, int64_t max_rows)
{
    if (gsg_tool_stdin_is_tty(path)) return gsg_err_set(GSG_E_USAGE, "refusing to read a binary stream from a terminal");
    return gsg_features_load(f, path, use, max_rows);
}

static int run_pair(const struct eval_opts *o)
{
    struct gsg_features tr, te;
    memset(&tr, 0, sizeof tr);
    memset(&te, 0, sizeof te);
    double t0 = gsg_now();
    gsg_status st = load(&tr, o->train, o->use, o->max_train);
    if (st < 0) goto out;
    st = load(&te, o->test, o->use, o->max_test);
    if (st < 0) goto out;
    if (strcmp(tr.source, te.source) || tr.dim != te.dim) {
        st = gsg_err_set(GSG_E_SHAPE, "%s: %s with %lld values per row, but %s has %s with %lld", o->test, te.source,
                         (long long)te.dim, o->train, tr.source, (long long)tr.dim);
        goto out;
    }
    double t1 = gsg_now();
    struct gsg_knn_result kr;
    struct gsg_probe_result pr;
    if (o->mode == MODE_KNN) st = gsg_knn_eval(&kr, NULL, tr.x, tr.label, tr.n, te.x, te.label, te.n, tr.dim, &o->knn);
    else st = gsg_probe_fit_eval(&pr, NULL, tr.x, tr.label, tr.n, te.x, te.label, te.n, tr.dim, &o->probe);
    if (st < 0) {
        gsg_err_prefix(st, "%s vs %s", o->train, o->test);
        goto out;
    }
    double t2 = gsg_now();
    double top1 = o->mode == MODE_KNN ? kr.top1 : pr.top1, top5 = o->mode == MODE_KNN ? kr.top5 : pr.top5;
    int64_t scored = o->mode == MODE_KNN ? kr.scored : pr.scored, classes = o->mode == MODE_KNN ? kr.classes : pr.classes;
    if (o->json) {
        printf("{\"mode\":\"%s\",\"train\":", o->mode == MODE_KNN ? "knn" : "linear");
        json_str(o->train);
        printf(",\"test\":");
        json_str(o->test);
        printf(",\"source\":\"%s\",\"dim\":%lld,\"train_rows\":%lld,\"test_rows\":%lld,\"scored\":%lld,\"classes\":%lld",
               tr.source, (long long)tr.dim, (long long)tr.n, (long long)te.n, (long long)scored, (long long)classes);
        if (o->mode == MODE_KNN) printf(",\"k\":%lld,\"t\":%g", (long long)kr.k_used, o->knn.T);
        else
            printf(",\"solver\":\"%s\",\"epochs\":%lld,\"train_top1\":%.6f,\"train_loss\":%.6g", gsg_probe_solver_name(o->probe.solver),
                   (long long)(o->probe.solver == GSG_PROBE_SGD ? o->probe.epochs : 0), pr.train_top1, pr.train_loss);
        printf(",\"top1\":%.6f,\"top5\":%.6f,\"load_seconds\":%.3f,\"seconds\":%.3f}\n", top1, top5, t1 - t0, t2 - t1);
    } else {
        printf("%s %s: train %s (%lld x %lld %s), test %s (%lld rows, %lld labelled), %lld classes\n", PROG,
               o->mode == MODE_KNN ? "knn" : "linear", o->train, (long long)tr.n, (long long)tr.dim, tr.source, o->test,
               (long long)te.n, (long long)scored, (long long)classes);
        if (o->mode == MODE_KNN)
            printf("  %-12s k=%lld T=%g\n", "setting", (long long)kr.k_used, o->knn.T);
        else if (o->probe.solver == GSG_PROBE_SGD)
            printf("  %-12s sgd epochs=%lld batch=%lld lr=%g momentum=%g wd=%g seed=%llu\n", "setting", (long long)o->probe.epochs,
                   (long long)o->probe.batch, o->probe.lr, o->probe.momentum, o->probe.weight_decay, (unsigned long long)o->probe.seed);
        else
            printf("  %-12s ridge lambda=%g\n", "setting", o->probe.ridge);
        printf("  %-12s %7.2f %%\n", "top-1", 100 * top1);
        printf("  %-12s %7.2f %%\n", "top-5", 100 * top5);
        if (o->mode == MODE_LINEAR) printf("  %-12s %7.2f %%   (loss %.4g)\n", "train top-1", 100 * pr.train_top1, pr.train_loss);
        printf("  %-12s %7.2f s   (loading %.2f s)\n", "time", t2 - t1, t1 - t0);
    }
out:
    gsg_features_free(&tr);
    gsg_features_free(&te);
    return st < 0 ? gsg_tool_report(st) : 0;
}

static int run_collapse(const struct eval_opts *o)
{
    struct gsg_features f;
    memset(&f, 0, sizeof f);
    gsg_status st = load(&f, o->test, o->use, o->max_test);
    if (st < 0) goto out;
    struct gsg_collapse_report rep;
    st = gsg_collapse_measure(&rep, f.x, f.n, f.dim, NULL);
    if (st < 0) { gsg_err_prefix(st, "%s", o->test); goto out; }
    char line[256];
    gsg_collapse_verdict_line(line, sizeof line, &rep);
    if (o->json) {
        printf("{\"mode\":\"collapse\",\"input\":");
        json_str(o->test);
        printf(",\"source\":\"%s\",\"rows\":%lld,\"dim\":%lld,\"erank\":%.6g,\"erank_max\":%.0f,\"std_mean\":%.6g,"
               "\"std_ratio\":%.6g,\"std_min\":%.6g,\"std_max\":%.6g,\"verdict\":\"%s\"}\n",
               f.source, (long long)f.n, (long long)f.dim, rep.erank, rep.erank_max, rep.std_mean, rep.std_ratio, rep.std_min,
               rep.std_max, gsg_collapse_verdict_name(rep.verdict));
    } else {
        printf("%s collapse: %s (%lld x %lld %s)\n", PROG, o->test, (long long)f.n, (long long)f.dim, f.source);
        printf("  %-22s %.2f of %.0f\n", "effective rank", rep.erank, rep.erank_max);
        printf("  %-22s %.5f   (1/sqrt(D) = %.5f)\n", "std of normalised dims", rep.std_mean, 1.0 / sqrt((double)f.dim));
        printf("  %-22s %.3f   (min %.5f, max %.5f)\n", "std * sqrt(D)", rep.std_ratio, rep.std_min, rep.std_max);
        printf("verdict: %s\n", line);
    }
out:
    gsg_features_free(&f);
    return st < 0 ? gsg_tool_report(st) : 0;
}

int main(int argc, char **argv)
{
    gsg_tool_init(argc, argv, PROG);
    struct eval_opts o;
    int prc = parse(argc, argv, &o);
    if (prc == -1) return gsg_tool_finish(0);
    if (prc) return prc;
    int rc = o.mode == MODE_COLLAPSE ? run_collapse(&o) : run_pair(&o);
    return gsg_tool_finish(rc);
}
