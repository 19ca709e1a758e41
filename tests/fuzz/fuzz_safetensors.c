/* fuzz_safetensors.c: the safetensors export (lib/io/safetensors.c, gsg-tensor safetensors) as a
 * round trip. The input describes up to four tensors (dtype, shape, a name of any bytes) and up
 * to two metadata pairs; the writer's output is parsed back here with an independent strict
 * reader: the 8-byte length, a header of valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF, as Rust's safetensors requires) holding one JSON object,
 * space padding to a multiple of 8, each tensor's dtype, shape and data_offsets, the bytes, and
 * the names and metadata as given (invalid UTF-8 bytes replaced by U+FFFD). Names the format
 * cannot hold (empty, over 255 bytes, duplicate, __metadata__) must be refused with a message. */
#include "fuzz.h"
#include "io/safetensors.h"

/* ---- input ---- */
struct in { const uint8_t *p; size_t n, i; };
static int next(struct in *in) { return in->i < in->n ? in->p[in->i++] : 0; }
static char *next_str(struct in *in, int maxlen)
{
    int len = next(in) % (maxlen + 1);
    char *s = malloc((size_t)len + 1);
    FUZZ_CHECK(s);
    for (int i = 0; i < len; i++) { s[i] = (char)next(in); if (!s[i]) s[i] = '0'; }
    s[len] = 0;
    return s;
}

/* ---- strict UTF-8 ---- */
/* Length of a well-formed UTF-8 sequence at s[0..n) (1..4), or 0. */
static int utf8_ok(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || (size_t)len > n) return 0;
    for (int i = 1; i < len; i++) if ((s[i] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[1] < 0xa0) return 0;   /* overlong */
    if (c == 0xed && s[1] > 0x9f) return 0;   /* surrogate */
    if (c == 0xf0 && s[1] < 0x90) return 0;   /* overlong */
    if (c == 0xf4 && s[1] > 0x8f) return 0;   /* above U+10FFFF */
    return len;
}
/* What a string should read as after the round trip. */
static char *expect_str(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *e = malloc(3 * n + 1);
    FUZZ_CHECK(e);
    for (size_t i = 0; i < n;) {
        int l = utf8_ok((const unsigned char *)s + i, n - i);
        if (l) { memcpy(e + o, s + i, (size_t)l); o += (size_t)l; i += (size_t)l; }
        else { memcpy(e + o, "\xef\xbf\xbd", 3); o += 3; i++; }
    }
    e[o] = 0;
    return e;
}

/* ---- a small strict JSON reader for what the header may hold ---- */
struct js { const char *p, *end; };
static void ws(struct js *j) { while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')) j->p++; }
static int lit(struct js *j, char c) { ws(j); if (j->p < j->end && *j->p == c) { j->p++; return 1; } return 0; }
static int hexv(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }
/* A string literal, decoded (malloc'd). */
static char *jstr(struct js *j)
{
    FUZZ_CHECK(lit(j, '"'));
    char *o = malloc((size_t)(j->end - j->p) + 1);
    FUZZ_CHECK(o);
    size_t n = 0;
    for (;;) {
        FUZZ_CHECK(j->p < j->end);
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"') break;
        FUZZ_CHECK(c >= 0x20);   /* control characters must be escaped */
        if (c != '\\') { o[n++] = (char)c; continue; }
        FUZZ_CHECK(j->p < j->end);
        char e = *j->p++;
        switch (e) {
        case '"': case '\\': case '/': o[n++] = e; break;
        case 'n': o[n++] = '\n'; break;
        case 't': o[n++] = '\t'; break;
        case 'r': o[n++] = '\r'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'u': {
            FUZZ_CHECK(j->end - j->p >= 4);
            int v = 0;
            for (int k = 0; k < 4; k++) { int h = hexv(*j->p++); FUZZ_CHECK(h >= 0); v = v * 16 + h; }
            FUZZ_CHECK(v > 0 && v < 0x80);   /* the writer escapes only control characters */
            o[n++] = (char)v;
            break;
        }
        default: FUZZ_CHECK(!"bad escape");
        }
    }
    o[n] = 0;
    return o;
}
static uint64_t jnum(struct js *j)
{
    ws(j);
    FUZZ_CHECK(j->p < j->end && *j->p >= '0' && *j->p <= '9');
    FUZZ_CHECK(!(*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9'));   /* no leading zeros */
    uint64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        FUZZ_CHECK(v <= (UINT64_MAX - 9) / 10);
        v = v * 10 + (uint64_t)(*j->p++ - '0');
    }
    return v;
}

#define MAXT 4
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size, 0};
    static const enum gsg_dtype dts[] = {GSG_DTYPE_F32, GSG_DTYPE_F16, GSG_DTYPE_BF16, GSG_DTYPE_F64,
                                         GSG_DTYPE_U8, GSG_DTYPE_I32, GSG_DTYPE_I64};
    int n = next(&in) % MAXT + 1, nmeta = next(&in) % 3;
    struct gsg_tensor ts[MAXT];
    char *names[MAXT];
    char *meta[2 * 2 + 1] = {0};
    int bad_names = 0;
    for (int i = 0; i < n; i++) {
        enum gsg_dtype dt = dts[next(&in) % 7];
        int nd = next(&in) % 5;
        int64_t dims[GSG_MAX_DIMS];
        int zero = 0;
        for (int d = 0; d < nd; d++) {
            int b = next(&in);
            dims[d] = b == 0xff ? ((int64_t)1 << 40) : b % 4;
            if (dims[d] == 0) zero = 1;
        }
        uint64_t bytes;
        if (gsg_shape_bytes(nd, dims, gsg_dtype_size(dt), &bytes) != 0 || bytes > (1u << 16)) {
            /* keep the huge dims only for an empty tensor; shrink the rest */
            for (int d = 0; d < nd; d++) if (dims[d] > 3 && !zero) dims[d] = 3;
            if (zero) bytes = 0;
            else FUZZ_CHECK(gsg_shape_bytes(nd, dims, gsg_dtype_size(dt), &bytes) == 0);
        }
        ts[i] = gsg_tensor_view(NULL, dt, GSG_DEV_CPU, nd, dims);
        ts[i].data = malloc(bytes ? bytes : 1);
        FUZZ_CHECK(ts[i].data);
        for (uint64_t k = 0; k < bytes; k++) ((uint8_t *)ts[i].data)[k] = (uint8_t)(next(&in) ^ k);
        names[i] = next_str(&in, 255);
        if (next(&in) & 1) {   /* sometimes a long or reserved name */
            free(names[i]);
            names[i] = strdup(next(&in) & 1 ? "__metadata__" : "x");
        }
        size_t l = strlen(names[i]);
        if (l < 1 || l > 255 || !strcmp(names[i], "__metadata__")) bad_names = 1;
        for (int k = 0; k < i; k++) if (!strcmp(names[k], names[i])) bad_names = 1;
    }
    for (int k = 0; k < 2 * nmeta; k++) meta[k] = next_str(&in, 40);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FUZZ_CHECK(f);
    gsg_status st = gsg_safetensors_write(f, "fuzz.safetensors", n, (const char *const *)names, ts,
                                          nmeta ? (const char *const *)meta : NULL);
    FUZZ_CHECK(fclose(f) == 0);
    if (bad_names) {
        FUZZ_CHECK(st == GSG_E_USAGE && gsg_err_msg()[0]);
    } else {
        FUZZ_CHECK(st == GSG_OK);
        FUZZ_CHECK(len >= 8);
        uint64_t hl = 0;
        for (int i = 0; i < 8; i++) hl |= (uint64_t)(uint8_t)buf[i] << (8 * i);
        FUZZ_CHECK(hl % 8 == 0 && hl <= len - 8);
        const unsigned char *h = (const unsigned char *)buf + 8;
        for (size_t i = 0; i < hl;) { int l = utf8_ok(h + i, hl - i); FUZZ_CHECK(l > 0); i += (size_t)l; }
        struct js j = {buf + 8, buf + 8 + hl};
        FUZZ_CHECK(lit(&j, '{'));
        int seen = 0, seen_meta = 0;
        uint64_t off = 0;
        if (!lit(&j, '}')) {
            do {
                char *key = jstr(&j);
                FUZZ_CHECK(lit(&j, ':'));
                FUZZ_CHECK(lit(&j, '{'));
                if (!strcmp(key, "__metadata__")) {
                    FUZZ_CHECK(!seen_meta && nmeta);
                    seen_meta = 1;
                    int k = 0;
                    do {
                        char *mk = jstr(&j);
                        FUZZ_CHECK(lit(&j, ':'));
                        char *mv = jstr(&j);
                        FUZZ_CHECK(k < 2 * nmeta);
                        char *ek = expect_str(meta[k]), *ev = expect_str(meta[k + 1]);
                        FUZZ_CHECK(!strcmp(mk, ek) && !strcmp(mv, ev));
                        free(ek); free(ev); free(mk); free(mv);
                        k += 2;
                    } while (lit(&j, ','));
                    FUZZ_CHECK(k == 2 * nmeta);
                    FUZZ_CHECK(lit(&j, '}'));
                } else {
                    FUZZ_CHECK(seen < n);
                    const struct gsg_tensor *t = &ts[seen];
                    char *en = expect_str(names[seen]);
                    FUZZ_CHECK(!strcmp(key, en));
                    free(en);
                    char *k1 = jstr(&j);
                    FUZZ_CHECK(!strcmp(k1, "dtype") && lit(&j, ':'));
                    char *dv = jstr(&j);
                    FUZZ_CHECK(!strcmp(dv, gsg_safetensors_dtype(t->dtype)));
                    FUZZ_CHECK(lit(&j, ','));
                    char *k2 = jstr(&j);
                    FUZZ_CHECK(!strcmp(k2, "shape") && lit(&j, ':') && lit(&j, '['));
                    int nd = 0;
                    if (!lit(&j, ']')) {
                        do { FUZZ_CHECK(nd < t->ndim && jnum(&j) == (uint64_t)t->dims[nd]); nd++; } while (lit(&j, ','));
                        FUZZ_CHECK(lit(&j, ']'));
                    }
                    FUZZ_CHECK(nd == t->ndim && lit(&j, ','));
                    char *k3 = jstr(&j);
                    FUZZ_CHECK(!strcmp(k3, "data_offsets") && lit(&j, ':') && lit(&j, '['));
                    uint64_t b = jnum(&j);
                    FUZZ_CHECK(lit(&j, ','));
                    uint64_t e = jnum(&j);
                    FUZZ_CHECK(lit(&j, ']') && lit(&j, '}'));
                    size_t nb = gsg_tensor_nbytes(t);
                    FUZZ_CHECK(b == off && e == off + nb && 8 + hl + e <= len);
                    FUZZ_CHECK(nb == 0 || memcmp(buf + 8 + hl + b, t->data, nb) == 0);
                    off = e;
                    seen++;
                    free(k1); free(dv); free(k2); free(k3);
                }
                free(key);
            } while (lit(&j, ','));
            FUZZ_CHECK(lit(&j, '}'));
        }
        FUZZ_CHECK(seen == n && seen_meta == (nmeta > 0));
        for (; j.p < j.end; j.p++) FUZZ_CHECK(*j.p == ' ');   /* padding */
        FUZZ_CHECK(8 + hl + off == len);
    }
    free(buf);
    for (int i = 0; i < n; i++) { free(ts[i].data); free(names[i]); }
    for (int k = 0; k < 2 * nmeta; k++) free(meta[k]);
    return 0;
}
