/* gsg-select: re-derive Guided Stop-Gradient choices from projection streams.
 * Input: records 'gsg.z' f32 [4,N,D] (views A1,A2,B1,B2; gsg-step --dump writes them),
 * optionally 'gsg.perm' / 'gsg.choice' with the same seq. Output per z record (same seq):
 * 'gsg.dist' f32 [N,4], 'gsg.choice' i64 [N], 'gsg.source' i64 [N,2], 'gsg.target' i64 [N,2],
 * 'gsg.counts' i64 [4]. All numerics live in lib/ssl/gsg.c. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "core/tool.h"
#include "io/tstream.h"
#include "ssl/gsg.h"

static const char *PROG = "gsg-select";

static void usage(void)
{
    printf("Usage: %s [OPTIONS] [INPUT]\n"
           "Re-derive Guided Stop-Gradient choices (docs/algorithm.md §4) from projection streams.\n"
           "\n"
           "INPUT (default '-', stdin) holds records 'gsg.z' f32 [4,N,D]: the raw projections of\n"
           "views A1,A2 (image n) and B1,B2 (image r[n]), as gsg-step --dump writes them.\n"
           "For each, the output stream gets (same seq):\n"
           "  gsg.dist    f32 [N,4]  |tA1-tB1|, |tA1-tB2|, |tA2-tB1|, |tA2-tB2|\n"
           "  gsg.choice  i64 [N]    k = argmin (first index on ties)\n"
           "  gsg.source  i64 [N,2]  view (0=A1 1=A2 2=B1 3=B2) that goes through the predictor, per image\n"
           "  gsg.target  i64 [N,2]  view used as its stop-gradient target\n"
           "  gsg.counts  i64 [4]    rows that chose k=0..3\n"
           "\n"
           "Options:\n"
           "  -o, --output FILE     output stream (default '-', stdout)\n"
           "      --distance D      euclidean|normalized|cosine (default: the record's distance=\n"
           "                        meta, else euclidean, the paper's)\n"
           "      --name NAME       read projections from records NAME (default gsg.z)\n"
           "      --check           compare with the input's 'gsg.choice' records instead of writing\n"
           "                        a stream; exit 1 at the first difference\n"
           "      --summary         print counts per k as text on stdout instead of a stream\n"
           "  -l, --level N         zstd level 0..19 (default 1)\n"
           "  -f, --force           write a binary stream to a terminal\n"
           "  -h, --help            this help, on stdout\n"
           "  -V, --version         version\n"
           "\n"
           "Exit status: 0 success, 1 runtime failure (bad input, mismatch in --check), 2 usage error.\n",
           PROG);
}

struct select_opts {
    const char *input, *output, *name;
    int dist_set, check, summary, force;
    enum gsg_dist dist;
    int64_t level;
};

struct select_state {
    float *d;
    int64_t *k, *src, *tgt, cap_n;
    uint64_t seq;           /* seq of the last z record */
    int have;               /* a z record was processed and its choices are in k */
    int64_t n_last;
    int64_t total[4], records, checked;
};

static gsg_status grow(struct select_state *s, int64_t N)
{
    if (N <= s->cap_n) return GSG_OK;
    free(s->d); free(s->k); free(s->src); free(s->tgt);
    s->d = malloc((size_t)N * 4 * sizeof(float));
    s->k = malloc((size_t)N * sizeof(int64_t));
    s->src = malloc((size_t)N * 2 * sizeof(int64_t));
    s->tgt = malloc((size_t)N * 2 * sizeof(int64_t));
    if (!s->d || !s->k || !s->src || !s->tgt) return gsg_err_set(GSG_E_NOMEM, "out of memory for %lld rows", (long long)N);
    s->cap_n = N;
    return GSG_OK;
}

static gsg_status process_z(struct select_state *s, const struct select_opts *o, struct gsg_tstream_reader *r,
                            const struct gsg_record *rec, struct gsg_tstream_writer *w)
{
    int64_t want[3] = {4, -1, -1};
    GSG_TRY(gsg_tstream_expect(r, rec, o->name, GSG_DTYPE_F32, 3, want));
    int64_t N = rec->t.dims[1], D = rec->t.dims[2];
    if (N < 1 || D < 1) return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "expected N >= 1 and D >= 1");
    enum gsg_dist dist = o->dist;
    char mv[64];
    if (!o->dist_set && gsg_meta_get(rec->meta, "distance", mv, sizeof mv) && gsg_dist_parse(mv, &dist) != 0)
        return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "meta distance=%s, expected euclidean|normalized|cosine", mv);
    GSG_TRY(grow(s, N));
    const float *zb = rec->t.data;
    const float *z[4] = {zb, zb + N * D, zb + 2 * N * D, zb + 3 * N * D};
    gsg_distances(s->d, z, N, D, dist);
    gsg_choose(s->k, s->d, N);
    int64_t counts[4];
    gsg_count_choices(counts, s->k, N);
    for (int j = 0; j < 4; j++) s->total[j] += counts[j];
    s->records++;
    s->seq = rec->seq;
    s->have = 1;
    s->n_last = N;
    if (!w) return GSG_OK;
    for (int64_t n = 0; n < N; n++) {
        const struct gsg_case *c = &gsg_case_table[s->k[n]];
        s->src[2 * n] = c->src_a; s->src[2 * n + 1] = c->src_b;
        s->tgt[2 * n] = c->tgt_a; s->tgt[2 * n + 1] = c->tgt_b;
    }
    char meta[128] = "";
    gsg_meta_add(meta, sizeof meta, "distance", "%s", gsg_dist_name(dist));
    int64_t d2[2] = {N, 4}, d1[1] = {N}, dn2[2] = {N, 2}, d4[1] = {4};
    GSG_TRY(gsg_tstream_write_raw(w, "gsg.dist", rec->seq, meta, GSG_DTYPE_F32, 2, d2, s->d));
    GSG_TRY(gsg_tstream_write_raw(w, "gsg.choice", rec->seq, NULL, GSG_DTYPE_I64, 1, d1, s->k));
    GSG_TRY(gsg_tstream_write_raw(w, "gsg.source", rec->seq, NULL, GSG_DTYPE_I64, 2, dn2, s->src));
    GSG_TRY(gsg_tstream_write_raw(w, "gsg.target", rec->seq, NULL, GSG_DTYPE_I64, 2, dn2, s->tgt));
    GSG_TRY(gsg_tstream_write_raw(w, "gsg.counts", rec->seq, NULL, GSG_DTYPE_I64, 1, d4, counts));
    return GSG_OK;
}

/* --check: the input's own gsg.choice must follow its z record and agree row by row. */
static gsg_status check_choice(struct select_state *s, struct gsg_tstream_reader *r, const struct gsg_record *rec)
{
    if (!s->have || s->seq != rec->seq)
        return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "expected a projection record with seq %llu before it",
                                        (unsigned long long)rec->seq);
    int64_t want[1] = {s->n_last};
    GSG_TRY(gsg_tstream_expect(r, rec, "gsg.choice", GSG_DTYPE_I64, 1, want));
    const int64_t *k = rec->t.data;
    for (int64_t n = 0; n < s->n_last; n++)
        if (k[n] != s->k[n])
            return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "row %lld: expected choice %lld (re-derived), found %lld",
                                            (long long)n, (long long)s->k[n], (long long)k[n]);
    s->checked++;
    s->have = 0;
    return GSG_OK;
}

static int parse(int argc, char **argv, struct select_opts *o)
{
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'}, {"distance", required_argument, 0, 'd'},
        {"name", required_argument, 0, 'n'}, {"check", no_argument, 0, 'c'}, {"summary", no_argument, 0, 's'},
        {"level", required_argument, 0, 'l'}, {"force", no_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->input = "-"; o->output = "-"; o->name = "gsg.z"; o->level = 1; o->dist = GSG_DIST_EUCLIDEAN;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:l:fhV", lo, NULL)) != -1) {
        switch (c) {
        case 'o': o->output = optarg; break;
        case 'd':
            if (gsg_dist_parse(optarg, &o->dist)) return gsg_tool_usage_error("--distance: '%s' is not euclidean, normalized or cosine", optarg);
            o->dist_set = 1;
            break;
        case 'n':
            if (!gsg_tstream_name_valid(optarg)) return gsg_tool_usage_error("--name: '%s' is not a record name ([a-z0-9_.])", optarg);
            o->name = optarg;
            break;
        case 'c': o->check = 1; break;
        case 's': o->summary = 1; break;
        case 'l': if (gsg_parse_i64("--level", optarg, 0, 19, &o->level)) return 2; break;
        case 'f': o->force = 1; break;
        case 'h': usage(); return -1;
        case 'V': printf("%s %s\n", PROG, GSG_VERSION); return -1;
        case ':': return gsg_tool_usage_error("option '%s' needs an argument", argv[optind - 1]);
        default: return gsg_tool_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) o->input = argv[optind++];
    if (optind < argc) return gsg_tool_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->check && o->summary) return gsg_tool_usage_error("--check and --summary exclude each other");
    if ((o->check || o->summary) && strcmp(o->output, "-") != 0)
        return gsg_tool_usage_error("--output makes no sense with --check or --summary");
    return 0;
}

int main(int argc, char **argv)
{
    gsg_tool_init(argc, argv, PROG);
    struct select_opts o;
    int prc = parse(argc, argv, &o);
    if (prc == -1) return gsg_tool_finish(0);
    if (prc) return prc;
    int stream_out = !o.check && !o.summary;
    /* --check/--summary print text: only a stream output is refused on a terminal */
    if ((prc = gsg_tool_refuse_tty(stream_out ? o.output : NULL, o.input, o.force, "give INPUT"))) return prc;

    struct gsg_tstream_reader *r = NULL;
    struct gsg_tstream_writer *w = NULL;
    struct select_state s;
    memset(&s, 0, sizeof s);
    gsg_status st = gsg_tstream_open_read(&r, o.input);
    if (st < 0) goto out;
    if (stream_out && (st = gsg_tstream_open_write(&w, o.output, (int)o.level)) < 0) goto out;
    struct gsg_record rec;
    while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) {
        if (strcmp(rec.name, o.name) == 0) {
            if (o.check && s.have) {
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected 'gsg.choice' for seq %llu before the next projections",
                                              (unsigned long long)s.seq);
                goto out;
            }
            if ((st = process_z(&s, &o, r, &rec, w)) < 0) goto out;
        } else if (o.check && strcmp(rec.name, "gsg.choice") == 0) {
            if ((st = check_choice(&s, r, &rec)) < 0) goto out;
        }
    }
    if (st < 0) goto out;
    if (s.records == 0) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: expected records '%s' f32 [4,N,D], found none", gsg_tstream_path(r), o.name);
        goto out;
    }
    if (o.check && (s.have || s.checked != s.records)) {
        st = gsg_err_set(GSG_E_FORMAT, "%s: expected a 'gsg.choice' record after each '%s', found %lld for %lld",
                         gsg_tstream_path(r), o.name, (long long)s.checked, (long long)s.records);
        goto out;
    }
    if (w) { st = gsg_tstream_close(w); w = NULL; if (st < 0) goto out; }
    int64_t all = s.total[0] + s.total[1] + s.total[2] + s.total[3];
    if (o.summary) {
        printf("records %lld rows %lld\n", (long long)s.records, (long long)all);
        for (int j = 0; j < 4; j++) {
            const struct gsg_case *c = &gsg_case_table[j];
            printf("k=%d p%s->t%s p%s->t%s %lld %.4f\n", j, gsg_view_name(c->src_a), gsg_view_name(c->tgt_a),
                   gsg_view_name(c->src_b), gsg_view_name(c->tgt_b), (long long)s.total[j],
                   all ? (double)s.total[j] / (double)all : 0.0);
        }
    } else if (o.check) {
        fprintf(stderr, "%s: %lld records, %lld rows: choices agree\n", PROG, (long long)s.checked, (long long)all);
    }
    st = GSG_OK;
out:
    if (w) gsg_tstream_abort(w);
    if (r) gsg_tstream_close_read(r);
    free(s.d); free(s.k); free(s.src); free(s.tgt);
    return gsg_tool_finish(gsg_tool_report(st));
}
