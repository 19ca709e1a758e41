/* gsg-tensor: inspect, convert and cut tensor streams (formats/tensor-stream.md).
 * Subcommands: info, stats, head, slice, cat, from-npy, to-npy, export, grid. */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/afile.h"
#include "core/limits.h"
#include "core/tool.h"
#include "io/imgwrite.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "io/tstream.h"

#define PROG "gsg-tensor"
#define MAXLIST 128

static const char *usage_text =
    "Usage: gsg-tensor COMMAND [OPTIONS] [FILE...]\n"
    "Inspect, cut and convert GSGT tensor streams. FILE '-' or none reads stdin;\n"
    "-o - or no -o writes stdout.\n"
    "\n"
    "Commands:\n"
    "  info      each record: index, seq, name, dtype, shape, bytes, stored bytes, ratio, meta\n"
    "  stats     per record: min, max, mean, std (of finite values), NaN and Inf counts\n"
    "  head      the first N records (after --name/--seq filtering) as a stream\n"
    "  slice     the selected records cut along dim 0 with --range A:B, as a stream\n"
    "  cat       validate and concatenate streams into one (a single end record)\n"
    "  from-npy  NAME=FILE.npy... -> one stream (one record per file)\n"
    "  to-npy    the selected records -> one .npy (byte-identical to numpy's np.save); records\n"
    "            of one name (a tensor written in batches) are concatenated on dim 0\n"
    "  export    --format safetensors: the selected records -> one safetensors file\n"
    "  grid      u8 [N,C,H,W] or [N,V,C,H,W] -> one PNG/JPEG contact sheet, one row\n"
    "            per image with its views side by side (C = 1 or 3)\n"
    "\n"
    "Selection (every command that reads a stream):\n"
    "  --name PAT[,PAT]   records whose name matches a glob pattern (repeatable)\n"
    "  --seq A:B          records with A <= seq < B (either end may be empty; N = N:N+1)\n"
    "Options:\n"
    "  -o, --output PATH  output file (written atomically) or '-' for stdout\n"
    "  --level N          zstd level of stream outputs, 0 (uncompressed) .. 19 (default 1)\n"
    "  --force            write binary output to a terminal / read a stream from one\n"
    "  --json             info, stats: one JSON object per record per line\n"
    "  -n, --records N    head: number of records (default 10)\n"
    "  --range A:B        slice: rows A <= i < B along dim 0 (negative counts from the end)\n"
    "  --meta KEY=VALUE   from-npy: meta text added to every record (repeatable)\n"
    "  --set-seq N        from-npy: seq of the records (default 0)\n"
    "  --format F         export: safetensors; grid: png or jpeg (default from -o, else png)\n"
    "  --prefix P         export: only records whose name starts with P (repeatable)\n"
    "  --strip-prefix     export: remove the matched --prefix from the names\n"
    "  --exclude P        export: drop records whose name starts with P (repeatable)\n"
    "  --backbone         export: only the backbone (drops projector. predictor. target. opt. gsg.)\n"
    "  --rows R           grid: at most R rows of cells\n"
    "  --cols K           grid: cells per row (default 1 when images have views, else 8)\n"
    "  --max M            grid: at most M images (default 64)\n"
    "  --quality Q        grid: JPEG quality 1..100 (default 90)\n"
    "  -h, --help         this text;  --version  the version\n"
    "\n"
    "Exit status: 0 success, 1 bad or truncated input or I/O error, 2 usage error\n"
    "(including binary output to / stream input from a terminal without --force).\n"
    "Examples:\n"
    "  gsg-tensor info views.gsgt\n"
    "  gsg-augment ... | gsg-tensor slice --name views --range 0:8 | gsg-tensor grid -o views.png\n"
    "  gsg-tensor export --format safetensors --backbone -o backbone.safetensors ckpt.gsgt\n";

enum cmd { C_INFO, C_STATS, C_HEAD, C_SLICE, C_CAT, C_FROMNPY, C_TONPY, C_EXPORT, C_GRID, C_NCMD };
static const char *cmd_names[C_NCMD] = {"info", "stats", "head", "slice", "cat", "from-npy", "to-npy", "export", "grid"};

struct opts {
    enum cmd cmd;
    const char *out;
    int level, force, json, strip_prefix, backbone, quality;
    const char *names[MAXLIST];
    int nnames;
    const char *prefixes[MAXLIST], *excludes[MAXLIST], *metas[MAXLIST];
    int nprefix, nexclude, nmeta;
    int has_seq;
    uint64_t seq_lo, seq_hi;
    int has_range;
    int64_t r_lo, r_hi;
    int r_lo_open, r_hi_open;
    int64_t nrec, set_seq, rows, cols, max;
    const char *format;
    const char **inputs;
    int ninputs;
};

/* ---------------- selection ---------------- */
static int selected(const struct opts *o, const struct gsg_record *rec)
{
    if (o->has_seq && (rec->seq < o->seq_lo || rec->seq >= o->seq_hi)) return 0;
    if (o->nnames == 0) return 1;
    for (int i = 0; i < o->nnames; i++)
        if (fnmatch(o->names[i], rec->name, 0) == 0) return 1;
    return 0;
}

/* "A:B" with optional ends; "N" means N:N+1. Returns 0 or the usage exit code. */
static int parse_range(const char *opt, const char *s, int64_t *lo, int64_t *hi, int *lo_open, int *hi_open, int allow_neg)
{
    const char *colon = strchr(s, ':');
    char a[64] = "", b[64] = "";
    if (strlen(s) >= sizeof a) return gsg_tool_usage_error("%s: '%s' is not a range A:B", opt, s);
    if (colon) {
        memcpy(a, s, (size_t)(colon - s));
        a[colon - s] = 0;
        snprintf(b, sizeof b, "%s", colon + 1);
    } else snprintf(a, sizeof a, "%s", s);
    int64_t minv = allow_neg ? INT64_MIN / 2 : 0, maxv = INT64_MAX / 2;
    *lo_open = a[0] == 0;
    *hi_open = colon ? b[0] == 0 : 0;
    if (!*lo_open && gsg_parse_i64(opt, a, minv, maxv, lo)) return GSG_EXIT_USAGE;
    if (!colon) {
        if (*lo_open) return gsg_tool_usage_error("%s: '%s' is not a range A:B", opt, s);
        *hi = *lo + 1;
        if (*lo == -1) *hi_open = 1;
        return 0;
    }
    if (!*hi_open && gsg_parse_i64(opt, b, minv, maxv, hi)) return GSG_EXIT_USAGE;
    return 0;
}

/* ---------------- option parsing ---------------- */
enum {
    O_LEVEL = 256, O_FORCE, O_JSON, O_NAME, O_SEQ, O_RANGE, O_META, O_SETSEQ, O_FORMAT, O_PREFIX, O_STRIP,
    O_EXCLUDE, O_BACKBONE, O_ROWS, O_COLS, O_MAX, O_QUALITY, O_VERSION
};

/* Which commands accept which option (bit per enum cmd). */
#define B(c) (1u << (c))
#define READERS (B(C_INFO) | B(C_STATS) | B(C_HEAD) | B(C_SLICE) | B(C_CAT) | B(C_TONPY) | B(C_EXPORT) | B(C_GRID))
#define WRITERS (B(C_HEAD) | B(C_SLICE) | B(C_CAT) | B(C_FROMNPY) | B(C_TONPY) | B(C_EXPORT) | B(C_GRID))
#define STREAMOUT (B(C_HEAD) | B(C_SLICE) | B(C_CAT) | B(C_FROMNPY))
static const struct { int id; unsigned mask; } opt_scope[] = {
    {'o', WRITERS}, {O_LEVEL, STREAMOUT}, {O_FORCE, READERS | WRITERS}, {O_JSON, B(C_INFO) | B(C_STATS)},
    {O_NAME, READERS}, {O_SEQ, READERS}, {'n', B(C_HEAD)}, {O_RANGE, B(C_SLICE)}, {O_META, B(C_FROMNPY)},
    {O_SETSEQ, B(C_FROMNPY)}, {O_FORMAT, B(C_EXPORT) | B(C_GRID)}, {O_PREFIX, B(C_EXPORT)},
    {O_STRIP, B(C_EXPORT)}, {O_EXCLUDE, B(C_EXPORT)}, {O_BACKBONE, B(C_EXPORT)}, {O_ROWS, B(C_GRID)},
    {O_COLS, B(C_GRID)}, {O_MAX, B(C_GRID)}, {O_QUALITY, B(C_GRID)},
};

static int add_list(const char *opt, const char **list, int *n, const char *v)
{
    if (*n >= MAXLIST) return gsg_tool_usage_error("%s: more than %d values", opt, MAXLIST);
    list[(*n)++] = v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'}, {"level", required_argument, 0, O_LEVEL},
        {"force", no_argument, 0, O_FORCE}, {"json", no_argument, 0, O_JSON}, {"name", required_argument, 0, O_NAME},
        {"seq", required_argument, 0, O_SEQ}, {"records", required_argument, 0, 'n'},
        {"range", required_argument, 0, O_RANGE}, {"meta", required_argument, 0, O_META},
        {"set-seq", required_argument, 0, O_SETSEQ}, {"format", required_argument, 0, O_FORMAT},
        {"prefix", required_argument, 0, O_PREFIX}, {"strip-prefix", no_argument, 0, O_STRIP},
        {"exclude", required_argument, 0, O_EXCLUDE}, {"backbone", no_argument, 0, O_BACKBONE},
        {"rows", required_argument, 0, O_ROWS}, {"cols", required_argument, 0, O_COLS},
        {"max", required_argument, 0, O_MAX}, {"quality", required_argument, 0, O_QUALITY},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0},
    };
    int64_t v;
    opterr = 0;
    int c, li = -1;
    char optname[64];
    while ((c = getopt_long(argc, argv, ":o:n:h", lo, &li)) != -1) {
        if (li >= 0) snprintf(optname, sizeof optname, "--%s", lo[li].name);
        else snprintf(optname, sizeof optname, "-%c", c);
        li = -1;
        if (c == 'h') { fputs(usage_text, stdout); return -1; }
        if (c == O_VERSION) { printf("%s %s\n", PROG, GSG_VERSION); return -1; }
        if (c == '?') {
            if (optopt) return gsg_tool_usage_error("unknown option '-%c'", optopt);
            return gsg_tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
        if (c == ':') return gsg_tool_usage_error("option '%s' needs a value", argv[optind - 1]);
        for (size_t i = 0; i < sizeof opt_scope / sizeof opt_scope[0]; i++)
            if (opt_scope[i].id == c && !(opt_scope[i].mask & B(o->cmd)))
                return gsg_tool_usage_error("option '%s' does not apply to '%s'", optname, cmd_names[o->cmd]);
        switch (c) {
        case 'o': o->out = optarg; break;
        case O_LEVEL: if (gsg_parse_i64("--level", optarg, 0, 19, &v)) return 2; o->level = (int)v; break;
        case O_FORCE: o->force = 1; break;
        case O_JSON: o->json = 1; break;
        case O_NAME: {
            char *s = optarg, *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (add_list("--name", o->names, &o->nnames, t)) return 2;
            break;
        }
        case O_SEQ: {
            int64_t a = 0, b = 0;
            int ao, bo;
            if (parse_range("--seq", optarg, &a, &b, &ao, &bo, 0)) return 2;
            o->has_seq = 1;
            o->seq_lo = ao ? 0 : (uint64_t)a;
            o->seq_hi = bo ? UINT64_MAX : (uint64_t)b;
            break;
        }
        case 'n': if (gsg_parse_i64("--records", optarg, 0, INT64_MAX, &o->nrec)) return 2; break;
        case O_RANGE:
            if (parse_range("--range", optarg, &o->r_lo, &o->r_hi, &o->r_lo_open, &o->r_hi_open, 1)) return 2;
            o->has_range = 1;
            break;
        case O_META:
            if (!strchr(optarg, '=') || strchr(optarg, '\n') || optarg[0] == '=')
                return gsg_tool_usage_error("--meta: '%s' is not KEY=VALUE on one line", optarg);
            if (add_list("--meta", o->metas, &o->nmeta, optarg)) return 2;
            break;
        case O_SETSEQ: if (gsg_parse_i64("--set-seq", optarg, 0, INT64_MAX, &o->set_seq)) return 2; break;
        case O_FORMAT: o->format = optarg; break;
        case O_PREFIX: if (add_list("--prefix", o->prefixes, &o->nprefix, optarg)) return 2; break;
        case O_STRIP: o->strip_prefix = 1; break;
        case O_EXCLUDE: if (add_list("--exclude", o->excludes, &o->nexclude, optarg)) return 2; break;
        case O_BACKBONE: o->backbone = 1; break;
        case O_ROWS: if (gsg_parse_i64("--rows", optarg, 1, 4096, &o->rows)) return 2; break;
        case O_COLS: if (gsg_parse_i64("--cols", optarg, 1, 4096, &o->cols)) return 2; break;
        case O_MAX: if (gsg_parse_i64("--max", optarg, 1, 1 << 20, &o->max)) return 2; break;
        case O_QUALITY: if (gsg_parse_i64("--quality", optarg, 1, 100, &v)) return 2; o->quality = (int)v; break;
        default: return gsg_tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    o->inputs = (const char **)argv + optind;
    o->ninputs = argc - optind;
    return 0;
}

/* ---------------- shared helpers ---------------- */
static int refuse_tty_out(const struct opts *o, const char *what)
{
    if (!o->force && gsg_tool_stdout_is_tty(o->out))
        return gsg_tool_usage_error("refusing to write %s to a terminal (use -o FILE, a pipe, or --force)", what);
    return 0;
}

static int refuse_tty_in(const struct opts *o)
{
    if (o->ninputs == 0 && !o->force && gsg_tool_stdin_is_tty("-"))
        return gsg_tool_usage_error("refusing to read a binary stream from a terminal (give a FILE, a pipe, or --force)");
    for (int i = 0; i < o->ninputs; i++)
        if (!o->force && gsg_tool_stdin_is_tty(o->inputs[i]))
            return gsg_tool_usage_error("refusing to read a binary stream from a terminal (give a FILE, a pipe, or --force)");
    return 0;
}

/* An output path that exists and is not a regular file (a device such as /dev/null, a FIFO) is
 * written in place: an atomic rename would replace the device node itself. */
static int is_special(const char *path)
{
    struct stat sb;
    return path && strcmp(path, "-") != 0 && stat(path, &sb) == 0 && !S_ISREG(sb.st_mode);
}

static FILE *open_special(const char *path, gsg_status *st)
{
    FILE *f = fopen(path, "wb");
    if (!f) *st = gsg_err_set(GSG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    return f;
}

static gsg_status close_special(FILE *f, const char *path, gsg_status st)
{
    if (!f) return st;
    int bad = fflush(f) != 0 || ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad && st >= 0) st = gsg_err_set(GSG_E_IO, "%s: write error: %s", path, strerror(errno ? errno : EIO));
    return st;
}

static gsg_status open_stream_out(const struct opts *o, struct gsg_tstream_writer **w, FILE **special)
{
    *special = NULL;
    if (!is_special(o->out)) return gsg_tstream_open_write(w, o->out, o->level);
    gsg_status st = GSG_OK;
    FILE *f = open_special(o->out, &st);
    if (!f) return st;
    st = gsg_tstream_open_write_file(w, f, o->out, o->level);
    if (st < 0) { fclose(f); return st; }
    *special = f;
    return GSG_OK;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void json_meta(FILE *f, const char *meta)
{
    fputc('{', f);
    int first = 1;
    for (const char *p = meta; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        char line[GSG_TSTREAM_MAX_META + 1];
        memcpy(line, p, ll);
        line[ll] = 0;
        char *eq = strchr(line, '=');
        if (ll) {
            if (!first) fputc(',', f);
            first = 0;
            if (eq) { *eq = 0; json_str(f, line); fputc(':', f); json_str(f, eq + 1); }
            else { json_str(f, line); fputs(":\"\"", f); }
        }
        if (!eol) break;
        p = eol + 1;
    }
    fputc('}', f);
}

static void json_shape(FILE *f, const struct gsg_tensor *t)
{
    fputc('[', f);
    for (int i = 0; i < t->ndim; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)t->dims[i]);
    fputc(']', f);
}

/* Iterate over the selected records of every input. fn returns <0 to fail, 1 to stop early. */
typedef gsg_status (*rec_fn)(void *ctx, struct gsg_tstream_reader *r, struct gsg_record *rec, const char *file);

static gsg_status for_each_record(const struct opts *o, rec_fn fn, void *ctx)
{
    static const char *stdin_only[1] = {"-"};
    const char **in = o->ninputs ? o->inputs : stdin_only;
    int nin = o->ninputs ? o->ninputs : 1;
    for (int i = 0; i < nin; i++) {
        struct gsg_tstream_reader *r;
        GSG_TRY(gsg_tstream_open_read(&r, in[i]));
        struct gsg_record rec;
        gsg_status st;
        while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) {
            if (!selected(o, &rec)) continue;
            st = fn(ctx, r, &rec, in[i]);
            if (st != GSG_OK) break;
        }
        gsg_tstream_close_read(r);
        if (st < 0) return st;
        if (st == GSG_END) continue;
        return GSG_OK;   /* stopped early */
    }
    return GSG_OK;
}

/* ---------------- info ---------------- */
struct info_ctx { const struct opts *o; int nfiles; const char *last_file; uint64_t n, bytes, stored; };

static gsg_status info_rec(void *vctx, struct gsg_tstream_reader *r, struct gsg_record *rec, const char *file)
{
    (void)r;
    struct info_ctx *c = vctx;
    uint64_t nb = gsg_tensor_nbytes(&rec->t);
    double ratio = rec->stored_bytes ? (double)nb / (double)rec->stored_bytes : 0;
    c->n++; c->bytes += nb; c->stored += rec->stored_bytes;
    char shape[200];
    gsg_shape_str(shape, sizeof shape, rec->t.ndim, rec->t.dims);
    if (c->o->json) {
        printf("{\"file\":");
        json_str(stdout, file);
        printf(",\"index\":%llu,\"seq\":%llu,\"name\":\"%s\",\"dtype\":\"%s\",\"shape\":", (unsigned long long)rec->index,
               (unsigned long long)rec->seq, rec->name, gsg_dtype_name(rec->t.dtype));
        json_shape(stdout, &rec->t);
        printf(",\"bytes\":%llu,\"stored_bytes\":%llu,\"ratio\":%.4f,\"compressed\":%s,\"offset\":%llu,\"meta\":",
               (unsigned long long)nb, (unsigned long long)rec->stored_bytes, ratio, rec->compressed ? "true" : "false",
               (unsigned long long)rec->offset);
        json_meta(stdout, rec->meta);
        printf("}\n");
        return GSG_OK;
    }
    if (c->nfiles > 1 && c->last_file != file) { printf("# %s\n", file); c->last_file = file; }
    if (c->n == 1)
        printf("%-6s %-6s %-24s %-5s %-18s %12s %12s %7s  %s\n", "record", "seq", "name", "dtype", "shape", "bytes", "stored",
               "ratio", "meta");
    char meta[512];
    size_t m = 0;
    for (const char *p = rec->meta; p && *p && m + 4 < sizeof meta; p++) meta[m++] = *p == '\n' ? ' ' : *p;
    while (m && meta[m - 1] == ' ') m--;
    meta[m] = 0;
    printf("%-6llu %-6llu %-24s %-5s %-18s %12llu %12llu %6.2fx  %s\n", (unsigned long long)rec->index,
           (unsigned long long)rec->seq, rec->name, gsg_dtype_name(rec->t.dtype), shape, (unsigned long long)nb,
           (unsigned long long)rec->stored_bytes, ratio, meta);
    return GSG_OK;
}

static int cmd_info(const struct opts *o)
{
    int rc = refuse_tty_in(o);
    if (rc) return rc;
    struct info_ctx c = {o, o->ninputs, NULL, 0, 0, 0};
    gsg_status st = for_each_record(o, info_rec, &c);
    if (st < 0) return gsg_tool_report(st);
    if (!o->json)
        printf("total: %llu records, %llu bytes, %llu stored, ratio %.2fx\n", (unsigned long long)c.n,
               (unsigned long long)c.bytes, (unsigned long long)c.stored, c.stored ? (double)c.bytes / (double)c.stored : 0.0);
    return 0;
}

/* ---------------- stats ---------------- */
struct stats { int64_t count, nan, inf, finite; double min, max, mean, std; };

#define STATS_LOOP(T, CONV) do { \
    const T *x = (const T *)t->data; \
    double sum = 0; \
    for (int64_t i = 0; i < n; i++) { \
        double v = CONV(x[i]); \
        if (isnan(v)) { s->nan++; continue; } \
        if (isinf(v)) { s->inf++; continue; } \
        if (v < s->min) s->min = v; \
        if (v > s->max) s->max = v; \
        sum += v; s->finite++; \
    } \
    if (s->finite) s->mean = sum / (double)s->finite; \
    double ss = 0; \
    for (int64_t i = 0; i < n; i++) { \
        double v = CONV(x[i]); \
        if (isfinite(v)) ss += (v - s->mean) * (v - s->mean); \
    } \
    if (s->finite) s->std = sqrt(ss / (double)s->finite); \
} while (0)
#define ID(v) ((double)(v))

static void compute_stats(const struct gsg_tensor *t, struct stats *s)
{
    int64_t n = gsg_tensor_numel(t);
    memset(s, 0, sizeof *s);
    s->count = n;
    s->min = INFINITY;
    s->max = -INFINITY;
    switch (t->dtype) {
    case GSG_DTYPE_F32: STATS_LOOP(float, ID); break;
    case GSG_DTYPE_F64: STATS_LOOP(double, ID); break;
    case GSG_DTYPE_F16: STATS_LOOP(uint16_t, gsg_f16_to_f32); break;
    case GSG_DTYPE_BF16: STATS_LOOP(uint16_t, gsg_bf16_to_f32); break;
    case GSG_DTYPE_U8: STATS_LOOP(uint8_t, ID); break;
    case GSG_DTYPE_I32: STATS_LOOP(int32_t, ID); break;
    case GSG_DTYPE_I64: STATS_LOOP(int64_t, ID); break;
    case GSG_DTYPE_INVALID: break;
    }
    if (!s->finite) s->min = s->max = NAN;
}

static void json_num(double v)
{
    if (isfinite(v)) printf("%.9g", v);
    else printf("null");
}

static gsg_status stats_rec(void *vctx, struct gsg_tstream_reader *r, struct gsg_record *rec, const char *file)
{
    (void)r;
    const struct opts *o = vctx;
    struct stats s;
    compute_stats(&rec->t, &s);
    char shape[200];
    gsg_shape_str(shape, sizeof shape, rec->t.ndim, rec->t.dims);
    if (o->json) {
        printf("{\"file\":");
        json_str(stdout, file);
        printf(",\"index\":%llu,\"seq\":%llu,\"name\":\"%s\",\"dtype\":\"%s\",\"shape\":", (unsigned long long)rec->index,
               (unsigned long long)rec->seq, rec->name, gsg_dtype_name(rec->t.dtype));
        json_shape(stdout, &rec->t);
        printf(",\"count\":%lld,\"min\":", (long long)s.count);
        json_num(s.min); printf(",\"max\":"); json_num(s.max);
        printf(",\"mean\":"); json_num(s.finite ? s.mean : NAN);
        printf(",\"std\":"); json_num(s.finite ? s.std : NAN);
        printf(",\"nan\":%lld,\"inf\":%lld}\n", (long long)s.nan, (long long)s.inf);
        return GSG_OK;
    }
    static int header;
    if (!header++)
        printf("%-6s %-6s %-24s %-5s %-18s %13s %13s %13s %13s %8s %8s\n", "record", "seq", "name", "dtype", "shape", "min",
               "max", "mean", "std", "nan", "inf");
    printf("%-6llu %-6llu %-24s %-5s %-18s %13.6g %13.6g %13.6g %13.6g %8lld %8lld\n", (unsigned long long)rec->index,
           (unsigned long long)rec->seq, rec->name, gsg_dtype_name(rec->t.dtype), shape, s.min, s.max,
           s.finite ? s.mean : NAN, s.finite ? s.std : NAN, (long long)s.nan, (long long)s.inf);
    return GSG_OK;
}

static int cmd_stats(const struct opts *o)
{
    int rc = refuse_tty_in(o);
    if (rc) return rc;
    return gsg_tool_report(for_each_record(o, stats_rec, (void *)o));
}

/* ---------------- head, slice, cat ---------------- */
struct copy_ctx { const struct opts *o; struct gsg_tstream_writer *w; int64_t left; };

static gsg_status copy_rec(void *vctx, struct gsg_tstream_reader *r, struct gsg_record *rec, const char *file)
{
    (void)r; (void)file;
    struct copy_ctx *c = vctx;
    const struct opts *o = c->o;
    if (o->cmd == C_HEAD && c->left-- <= 0) return GSG_END + 1;
    struct gsg_tensor t = rec->t;
    if (o->cmd == C_SLICE && o->has_range && t.ndim >= 1) {
        int64_t n = t.dims[0];
        int64_t lo = o->r_lo_open ? 0 : o->r_lo, hi = o->r_hi_open ? n : o->r_hi;
        if (lo < 0) lo += n;
        if (hi < 0) hi += n;
        lo = lo < 0 ? 0 : lo > n ? n : lo;
        hi = hi < lo ? lo : hi > n ? n : hi;
        size_t row = n ? gsg_tensor_nbytes(&t) / (size_t)n : 0;
        t.data = (uint8_t *)t.data + (size_t)lo * row;
        t.dims[0] = hi - lo;
    }
    GSG_TRY(gsg_tstream_write(c->w, rec->name, rec->seq, rec->meta, &t));
    return GSG_OK;
}

static int cmd_copy(const struct opts *o)
{
    int rc;
    if ((rc = refuse_tty_out(o, "a binary stream")) || (rc = refuse_tty_in(o))) return rc;
    struct copy_ctx c = {o, NULL, o->nrec};
    FILE *special;
    gsg_status st = open_stream_out(o, &c.w, &special);
    if (st < 0) return gsg_tool_report(st);
    st = for_each_record(o, copy_rec, &c);
    if (st < 0) {
        gsg_tstream_abort(c.w);
        close_special(special, o->out, st);
        return gsg_tool_report(st);
    }
    st = gsg_tstream_close(c.w);
    return gsg_tool_report(close_special(special, o->out, st));
}

/* ---------------- from-npy ---------------- */
static int cmd_fromnpy(const struct opts *o)
{
    int rc;
    if ((rc = refuse_tty_out(o, "a binary stream"))) return rc;
    if (o->ninputs == 0) return gsg_tool_usage_error("from-npy needs NAME=FILE.npy arguments");
    char meta[GSG_TSTREAM_MAX_META + 1] = "";
    size_t ml = 0;
    for (int i = 0; i < o->nmeta; i++) {
        size_t l = strlen(o->metas[i]);
        if (ml + l + 1 > GSG_TSTREAM_MAX_META) return gsg_tool_usage_error("--meta: more than %d bytes in all", GSG_TSTREAM_MAX_META);
        memcpy(meta + ml, o->metas[i], l);
        ml += l;
        meta[ml++] = '\n';
        meta[ml] = 0;
    }
    for (int i = 0; i < o->ninputs; i++) {
        const char *eq = strchr(o->inputs[i], '=');
        char name[256];
        if (!eq || eq == o->inputs[i] || (size_t)(eq - o->inputs[i]) >= sizeof name)
            return gsg_tool_usage_error("'%s': expected NAME=FILE.npy", o->inputs[i]);
        memcpy(name, o->inputs[i], (size_t)(eq - o->inputs[i]));
        name[eq - o->inputs[i]] = 0;
        if (!gsg_tstream_name_valid(name) || strcmp(name, GSG_TSTREAM_END_NAME) == 0)
            return gsg_tool_usage_error("'%s': record names are 1-255 chars of [a-z0-9_.] (not gsg.end)", name);
    }
    struct gsg_tstream_writer *w;
    FILE *special;
    gsg_status st = open_stream_out(o, &w, &special);
    if (st < 0) return gsg_tool_report(st);
    for (int i = 0; i < o->ninputs && st >= 0; i++) {
        const char *eq = strchr(o->inputs[i], '=');
        char name[256];
        memcpy(name, o->inputs[i], (size_t)(eq - o->inputs[i]));
        name[eq - o->inputs[i]] = 0;
        struct gsg_tensor t;
        st = gsg_npy_load(eq + 1, &t);
        if (st < 0) break;
        st = gsg_tstream_write(w, name, (uint64_t)o->set_seq, meta, &t);
        gsg_tensor_free(&t);
    }
    if (st < 0) {
        gsg_tstream_abort(w);
        close_special(special, o->out, st);
        return gsg_tool_report(st);
    }
    st = gsg_tstream_close(w);
    return gsg_tool_report(close_special(special, o->out, st));
}

/* ---------------- to-npy ---------------- */
/* Every selected record: one .npy. Records of one name, dtype and trailing shape (a tensor
 * written in batches, one record per seq) are concatenated along dim 0 in stream order;
 * records that cannot be stacked are refused, naming how many matched. */
struct tonpy_ctx {
    struct gsg_tensor t;      /* the result; data is buf */
    unsigned char *buf;
    size_t len, cap;
    char name[256], first[300], bad[400];
    uint64_t n;               /* selected records */
};

static gsg_status tonpy_rec(void *vctx, struct gsg_tstream_reader *r, struct gsg_record *rec, const char *file)
{
    (void)r;
    struct tonpy_ctx *c = vctx;
    const struct gsg_tensor *t = &rec->t;
    char shape[200];
    c->n++;
    if (c->bad[0]) return GSG_OK;   /* already refused: keep counting */
    if (c->n == 1) {
        c->t = *t;
        c->t.data = NULL;
        c->t.owned = 0;
        snprintf(c->name, sizeof c->name, "%s", rec->name);
        snprintf(c->first, sizeof c->first, "record %llu '%s' %s %s", (unsigned long long)rec->index, rec->name,
                 gsg_dtype_name(t->dtype), gsg_shape_str(shape, sizeof shape, t->ndim, t->dims));
    } else {
        int same = strcmp(rec->name, c->name) == 0 && t->dtype == c->t.dtype && t->ndim == c->t.ndim && t->ndim >= 1;
        for (int d = 1; same && d < t->ndim; d++) same = t->dims[d] == c->t.dims[d];
        if (!same) {
            snprintf(c->bad, sizeof c->bad, "%s: record %llu '%s' %s %s", file, (unsigned long long)rec->index, rec->name,
                     gsg_dtype_name(t->dtype), gsg_shape_str(shape, sizeof shape, t->ndim, t->dims));
            return GSG_OK;
        }
        c->t.dims[0] += t->dims[0];
    }
    size_t nb = gsg_tensor_nbytes(t);
    if (c->len + nb > c->cap) {
        size_t cap = c->cap ? c->cap : 1 << 16;
        while (cap < c->len + nb) cap *= 2;
        unsigned char *p = realloc(c->buf, cap);
        if (!p) return gsg_err_set(GSG_E_NOMEM, "to-npy: out of memory for %zu bytes", cap);
        c->buf = p;
        c->cap = cap;
    }
    if (nb) memcpy(c->buf + c->len, t->data, nb);
    c->len += nb;
    return GSG_OK;
}

static int cmd_tonpy(const struct opts *o)
{
    int rc;
    if ((rc = refuse_tty_out(o, "a .npy file")) || (rc = refuse_tty_in(o))) return rc;
    struct tonpy_ctx c;
    memset(&c, 0, sizeof c);
    gsg_status st = for_each_record(o, tonpy_rec, &c);
    if (st < 0) { free(c.buf); return gsg_tool_report(st); }
    if (!c.n) return gsg_tool_fail("no record matches the selection (see 'gsg-tensor info')");
    if (c.bad[0]) {
        free(c.buf);
        return gsg_tool_fail("%llu records match the selection and do not stack on dim 0 (%s; %s): select one with --name and --seq",
                             (unsigned long long)c.n, c.first, c.bad);
    }
    static unsigned char empty[1];
    c.t.data = c.buf ? c.buf : empty;
    if (c.t.dtype == GSG_DTYPE_BF16) {   /* numpy has no bf16: widen to f32 */
        struct gsg_tensor f;
        st = gsg_tensor_alloc(&f, GSG_DTYPE_F32, GSG_DEV_CPU, c.t.ndim, c.t.dims);
        if (st < 0) { free(c.buf); return gsg_tool_report(st); }
        int64_t n = gsg_tensor_numel(&c.t);
        for (int64_t i = 0; i < n; i++) ((float *)f.data)[i] = gsg_bf16_to_f32(((uint16_t *)c.t.data)[i]);
        free(c.buf);
        c.buf = NULL;
        c.t = f;
    }
    if (is_special(o->out)) {
        FILE *f = open_special(o->out, &st);
        if (f) st = close_special(f, o->out, gsg_npy_write(f, o->out, &c.t));
    } else st = gsg_npy_save(o->out, &c.t);
    if (c.t.owned) gsg_tensor_free(&c.t);
    free(c.buf);
    return gsg_tool_report(st);
}

/* ---------------- export ---------------- */
static const char *backbone_drop[] = {"projector.", "predictor.", "target.", "opt.", "gsg."};

struct export_ctx {
    const struct opts *o;
    int n, cap;
    char **names;
    struct gsg_tensor *ts;
    char *config;
};

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static gsg_status export_rec(void *vctx, struct gsg_tstream_reader *r, struct gsg_record *rec, const char *file)
{
    (void)file;
    struct export_ctx *c = vctx;
    const struct opts *o = c->o;
    if (strcmp(rec->name, "gsg.config") == 0 && rec->t.dtype == GSG_DTYPE_U8 && !c->config) {
        size_t nb = gsg_tensor_nbytes(&rec->t);
        c->config = malloc(nb + 1);
        if (!c->config) return gsg_err_set(GSG_E_NOMEM, "out of memory");
        if (nb) memcpy(c->config, rec->t.data, nb);
        c->config[nb] = 0;
    }
    const char *name = rec->name;
    if (o->nprefix) {
        int hit = -1;
        for (int i = 0; i < o->nprefix && hit < 0; i++)
            if (starts(rec->name, o->prefixes[i])) hit = i;
        if (hit < 0) return GSG_OK;
        if (o->strip_prefix) name += strlen(o->prefixes[hit]);
        if (!*name) return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "name is empty after --strip-prefix");
    }
    for (int i = 0; i < o->nexclude; i++)
        if (starts(rec->name, o->excludes[i])) return GSG_OK;
    if (o->backbone)
        for (size_t i = 0; i < sizeof backbone_drop / sizeof backbone_drop[0]; i++)
            if (starts(name, backbone_drop[i])) return GSG_OK;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0)
            return gsg_tstream_record_error(r, rec, GSG_E_FORMAT,
                                            "expected unique tensor names, found '%s' again (select one with --seq or --name)", name);
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        char **nn = realloc(c->names, sizeof *nn * (size_t)cap);
        if (nn) c->names = nn;
        struct gsg_tensor *nt = realloc(c->ts, sizeof *nt * (size_t)cap);
        if (nt) c->ts = nt;
        if (!nn || !nt) return gsg_err_set(GSG_E_NOMEM, "out of memory");
        c->cap = cap;
    }
    GSG_TRY(gsg_tstream_record_take(r, rec));
    c->ts[c->n] = rec->t;
    c->names[c->n] = strdup(name);
    if (!c->names[c->n]) { gsg_tensor_free(&c->ts[c->n]); return gsg_err_set(GSG_E_NOMEM, "out of memory"); }
    c->n++;
    return GSG_OK;
}

static int cmd_export(const struct opts *o)
{
    int rc;
    if (o->format && strcmp(o->format, "safetensors") != 0)
        return gsg_tool_usage_error("--format: '%s': export writes only 'safetensors'", o->format);
    if (o->strip_prefix && !o->nprefix) return gsg_tool_usage_error("--strip-prefix needs --prefix");
    if ((rc = refuse_tty_out(o, "a safetensors file")) || (rc = refuse_tty_in(o))) return rc;
    struct export_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    gsg_status st = for_each_record(o, export_rec, &c);
    if (st >= 0 && c.n == 0) st = gsg_err_set(GSG_E_FORMAT, "no record matches the selection: nothing to export");
    if (st >= 0) {
        const char *meta[] = {"format", "pt", "producer", "gsg-tensor " GSG_VERSION, c.config ? "gsg.config" : NULL, c.config, NULL};
        if (is_special(o->out)) {
            FILE *f = open_special(o->out, &st);
            if (f) st = close_special(f, o->out, gsg_safetensors_write(f, o->out, c.n, (const char *const *)c.names, c.ts, meta));
        } else st = gsg_safetensors_save(o->out, c.n, (const char *const *)c.names, c.ts, meta);
    }
    for (int i = 0; i < c.n; i++) { free(c.names[i]); gsg_tensor_free(&c.ts[i]); }
    free(c.names);
    free(c.ts);
    free(c.config);
    return gsg_tool_report(st);
}

/* ---------------- grid ---------------- */
struct grid_ctx { const struct opts *o; struct gsg_sheet sheet; int init, cells, filled; int64_t max; };

static gsg_status grid_rec(void *vctx, struct gsg_tstream_reader *r, struct gsg_record *rec, const char *file)
{
    (void)file;
    struct grid_ctx *c = vctx;
    const struct opts *o = c->o;
    const struct gsg_tensor *t = &rec->t;
    int ok = t->dtype == GSG_DTYPE_U8 && (t->ndim == 4 || t->ndim == 5);
    if (!ok) {
        if (o->nnames == 0) return GSG_OK;   /* no --name: use the u8 image records only */
        char s[200];
        return gsg_tstream_record_error(r, rec, GSG_E_SHAPE, "expected u8 [N,C,H,W] or [N,V,C,H,W], found %s %s",
                                        gsg_dtype_name(t->dtype), gsg_shape_str(s, sizeof s, t->ndim, t->dims));
    }
    int64_t V = t->ndim == 5 ? t->dims[1] : 1, C = t->dims[t->ndim - 3], H = t->dims[t->ndim - 2], W = t->dims[t->ndim - 1];
    if (t->dims[0] == 0) return GSG_OK;   /* a record of no images: nothing to lay out (and no sheet sized by it) */
    if (!c->init) {
        if (C != 1 && C != 3) return gsg_tstream_record_error(r, rec, GSG_E_SHAPE, "%lld channels: expected 1 or 3", (long long)C);
        if (V < 1 || H < 1 || W < 1 || V > 4096 || H > 65500 || W > 65500)
            return gsg_tstream_record_error(r, rec, GSG_E_SHAPE, "image geometry out of range");
        int64_t cols = o->cols ? o->cols : (V > 1 ? 1 : 8);
        int64_t rows = (c->max + cols - 1) / cols;
        if (o->rows && o->rows < rows) rows = o->rows;
        if (rows * cols < c->max) c->max = rows * cols;
        /* the sheet's pixels, checked before it is allocated (gaps of 2 included) */
        uint64_t maxpx, sw = (uint64_t)cols * ((uint64_t)V * (uint64_t)(W + 2)) + 2, sh = (uint64_t)rows * (uint64_t)(H + 2) + 2;
        GSG_TRY(gsg_limit_get("GSG_MAX_PIXELS", GSG_MAX_PIXELS_DEFAULT, &maxpx));
        if (sw > (1u << 30) || sh > (1u << 30) || sw * sh > maxpx)
            return gsg_tstream_record_error(r, rec, GSG_E_SHAPE,
                                            "a sheet of %lld x %lld cells of %lldx%lld (%lld views) is %llux%llu pixels: expected at most %llu "
                                            "(GSG_MAX_PIXELS; use --max, --rows or --cols for fewer cells)",
                                            (long long)rows, (long long)cols, (long long)W, (long long)H, (long long)V,
                                            (unsigned long long)sw, (unsigned long long)sh, (unsigned long long)maxpx);
        GSG_TRY(gsg_sheet_init(&c->sheet, (int)rows, (int)cols, (int)V, (int)C, (int)H, (int)W, 2, 128));
        c->init = 1;
    } else if (C != c->sheet.img.channels || H != c->sheet.cell_h || W != c->sheet.cell_w || V != c->sheet.views) {
        char s[200];
        return gsg_tstream_record_error(r, rec, GSG_E_SHAPE, "shape %s differs from the first image record's",
                                        gsg_shape_str(s, sizeof s, t->ndim, t->dims));
    }
    for (int64_t n = 0; n < t->dims[0] && c->filled < c->max; n++) GSG_TRY(gsg_sheet_put(&c->sheet, c->filled++, t, n));
    return c->filled >= c->max ? GSG_END + 1 : GSG_OK;
}

static int cmd_grid(const struct opts *o)
{
    int rc;
    enum gsg_img_format fmt = GSG_IMG_PNG;
    if (o->format) {
        fmt = gsg_img_format_from_name(o->format);
        if (!fmt) return gsg_tool_usage_error("--format: '%s': expected png or jpeg", o->format);
    } else if (o->out && strcmp(o->out, "-") != 0) {
        fmt = gsg_img_format_from_path(o->out);
        if (!fmt) return gsg_tool_usage_error("-o %s: cannot tell the image format from the name: use .png, .jpg or --format", o->out);
    }
    if ((rc = refuse_tty_out(o, "an image")) || (rc = refuse_tty_in(o))) return rc;
    struct grid_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.max = o->max ? o->max : 64;
    gsg_status st = for_each_record(o, grid_rec, &c);
    if (st >= 0 && !c.init) st = gsg_err_set(GSG_E_FORMAT, "no images in the input (no u8 record [N,C,H,W] or [N,V,C,H,W] with N > 0)");
    if (st >= 0) {
        /* drop the rows left empty */
        int used_rows = (c.filled + c.sheet.cols - 1) / c.sheet.cols;
        c.sheet.img.h = used_rows * (c.sheet.cell_h + c.sheet.gap) + c.sheet.gap;
        int q = o->quality ? o->quality : 90;
        if (is_special(o->out)) {
            FILE *f = open_special(o->out, &st);
            if (f) st = close_special(f, o->out, gsg_img_write(f, o->out, &c.sheet.img, fmt, q));
        } else st = gsg_img_save(o->out, &c.sheet.img, fmt, q);
    }
    if (c.init) gsg_sheet_free(&c.sheet);
    return gsg_tool_report(st);
}

/* ---------------- main ---------------- */
int main(int argc, char **argv)
{
    gsg_tool_init(argc, argv, PROG);
    if (argc < 2) return gsg_tool_usage_error("missing command (info, stats, head, slice, cat, from-npy, to-npy, export, grid)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) { fputs(usage_text, stdout); return gsg_tool_finish(0); }
    if (strcmp(argv[1], "--version") == 0) { printf("%s %s\n", PROG, GSG_VERSION); return gsg_tool_finish(0); }
    struct opts o;
    memset(&o, 0, sizeof o);
    o.cmd = C_NCMD;
    for (int i = 0; i < C_NCMD; i++)
        if (strcmp(argv[1], cmd_names[i]) == 0) o.cmd = (enum cmd)i;
    if (o.cmd == C_NCMD) {
        if (argv[1][0] == '-') return gsg_tool_usage_error("unknown option '%s' (the command comes first)", argv[1]);
        return gsg_tool_usage_error("unknown command '%s'", argv[1]);
    }
    o.out = "-";
    o.level = GSG_TSTREAM_DEFAULT_LEVEL;
    o.nrec = 10;
    int rc = parse_opts(argc - 1, argv + 1, &o);
    if (rc < 0) return gsg_tool_finish(0);
    if (rc) return rc;
    if (o.cmd == C_SLICE && !o.has_range && !o.nnames && !o.has_seq)
        return gsg_tool_usage_error("slice needs --range, --name or --seq");
    switch (o.cmd) {
    case C_INFO: rc = cmd_info(&o); break;
    case C_STATS: rc = cmd_stats(&o); break;
    case C_HEAD: case C_SLICE: case C_CAT: rc = cmd_copy(&o); break;
    case C_FROMNPY: rc = cmd_fromnpy(&o); break;
    case C_TONPY: rc = cmd_tonpy(&o); break;
    case C_EXPORT: rc = cmd_export(&o); break;
    case C_GRID: rc = cmd_grid(&o); break;
    case C_NCMD: rc = 2; break;
    }
    return gsg_tool_finish(rc);
}
