/* safetensors.c: safetensors writer. */
#define _GNU_SOURCE
#include "safetensors.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../core/afile.h"

const char *gsg_safetensors_dtype(enum gsg_dtype dt)
{
    switch (dt) {
    case GSG_DTYPE_F32: return "F32";
    case GSG_DTYPE_F16: return "F16";
    case GSG_DTYPE_BF16: return "BF16";
    case GSG_DTYPE_F64: return "F64";
    case GSG_DTYPE_U8: return "U8";
    case GSG_DTYPE_I32: return "I32";
    case GSG_DTYPE_I64: return "I64";
    case GSG_DTYPE_INVALID: return NULL;
    }
    return NULL;
}

/* A growable text buffer. */
struct sbuf { char *p; size_t len, cap; int oom; };

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(struct sbuf *b, const char *fmt, unsigned long long v)
{
    char t[32];
    int n = snprintf(t, sizeof t, fmt, v);
    sb_put(b, t, (size_t)n);
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    int n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return n;
}

/* A JSON string literal; invalid UTF-8 bytes become U+FFFD. */
static void sb_json_str(struct sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        if (*p == '"' || *p == '\\') { char e[2] = {'\\', (char)*p}; sb_put(b, e, 2); p++; }
        else if (*p == '\n') { sb_put(b, "\\n", 2); p++; }
        else if (*p == '\t') { sb_put(b, "\\t", 2); p++; }
        else if (*p < 0x20) { sb_fmt(b, "\\u%04llx", *p); p++; }
        else if (*p < 0x80) { sb_put(b, (const char *)p, 1); p++; }
        else {
            int n = utf8_len(p);
            if (n) { sb_put(b, (const char *)p, (size_t)n); p += n; }
            else { sb_str(b, "\xef\xbf\xbd"); p++; }
        }
    }
    sb_put(b, "\"", 1);
}

gsg_status gsg_safetensors_write(FILE *f, const char *label, int n, const char *const *names,
                                 const struct gsg_tensor *ts, const char *const *meta)
{
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l < 1 || l > 255) return gsg_err_set(GSG_E_USAGE, "%s: tensor name of %zu bytes: expected 1..255", label, l);
        if (strcmp(names[i], "__metadata__") == 0) return gsg_err_set(GSG_E_USAGE, "%s: the name __metadata__ is reserved", label);
        if (!gsg_safetensors_dtype(ts[i].dtype)) return gsg_err_set(GSG_E_USAGE, "%s: tensor '%s': invalid dtype", label, names[i]);
        if (ts[i].dev != GSG_DEV_CPU) return gsg_err_set(GSG_E_USAGE, "%s: tensor '%s' is not on the host", label, names[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return gsg_err_set(GSG_E_USAGE, "%s: tensor name '%s' appears twice: safetensors names must be unique", label, names[i]);
    }
    struct sbuf b = {0};
    sb_str(&b, "{");
    int first = 1;
    if (meta && meta[0]) {
        sb_str(&b, "\"__metadata__\":{");
        for (int k = 0; meta[k] && meta[k + 1]; k += 2) {
            if (k) sb_str(&b, ",");
            sb_json_str(&b, meta[k]);
            sb_str(&b, ":");
            sb_json_str(&b, meta[k + 1]);
        }
        sb_str(&b, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (!first) sb_str(&b, ",");
        first = 0;
        sb_json_str(&b, names[i]);
        sb_str(&b, ":{\"dtype\":\"");
        sb_str(&b, gsg_safetensors_dtype(ts[i].dtype));
        sb_str(&b, "\",\"shape\":[");
        for (int d = 0; d < ts[i].ndim; d++) sb_fmt(&b, d ? ",%llu" : "%llu", (unsigned long long)ts[i].dims[d]);
        uint64_t nb = gsg_tensor_nbytes(&ts[i]);
        sb_fmt(&b, "],\"data_offsets\":[%llu", (unsigned long long)off);
        sb_fmt(&b, ",%llu]}", (unsigned long long)(off + nb));
        off += nb;
    }
    sb_str(&b, "}");
    while (!b.oom && b.len % 8 != 0) sb_str(&b, " ");
    if (b.oom) { free(b.p); return gsg_err_set(GSG_E_NOMEM, "%s: out of memory", label); }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)b.len >> (8 * i));
    gsg_status st = GSG_OK;
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(b.p, 1, b.len, f) != b.len) goto werr;
    for (int i = 0; i < n; i++) {
        size_t nb = gsg_tensor_nbytes(&ts[i]);
        if (nb && fwrite(ts[i].data, 1, nb, f) != nb) goto werr;
    }
    free(b.p);
    return st;
werr:
    free(b.p);
    return gsg_err_set(GSG_E_IO, "%s: write error: %s", label, strerror(errno ? errno : EIO));
}

gsg_status gsg_safetensors_save(const char *path, int n, const char *const *names,
                                const struct gsg_tensor *ts, const char *const *meta)
{
    struct gsg_afile *af;
    GSG_TRY(gsg_afile_open(&af, path));
    gsg_status st = gsg_safetensors_write(af->f, strcmp(path, "-") == 0 ? "<stdout>" : path, n, names, ts, meta);
    if (st < 0) { gsg_afile_abort(af); return st; }
    return gsg_afile_commit(af);
}
