/* fuzz_options.c: the option and key=value parsers every tool shares, against independent
 * reference parsers. The first input byte picks the parser, the rest is its text:
 *   0  gsg_parse_i64 (lib/core/tool.c: --batch, --epochs, --seed, ...) with bounds from two bytes:
 *      accepted exactly when the text is a decimal integer (strtoll's optional leading space and
 *      sign) in range, with the right value
 *   1  gsg_parse_f64 (--lr, --wd, ...): accepted only for a whole finite number in range
 *   2  gsg_net_config_parse (gsg.config model keys): an accepted text passes gsg_net_config_check,
 *      each integer key's whole value is a decimal integer, and format -> parse gives it back
 *   3  gsg_train_config_parse (gsg-step --resume's gsg.config): format -> parse -> format is stable
 *   4  gsg_meta_get (stream meta, checkpoint state) against a reference line scan
 *   5  gsg_data_format_parse (--format) */
#include "fuzz.h"
#include <ctype.h>
#include <math.h>
#include "core/tool.h"
#include "io/dataset.h"
#include "io/tstream.h"
#include "nn/net.h"
#include "ssl/train.h"

static const int64_t ibounds[] = {INT64_MIN, -1000, -1, 0, 1, 16, 1 << 20, INT64_MAX / 2, INT64_MAX};
static const double fbounds[] = {-1e300, -1e6, 0, 1e-12, 0.5, 1, 1e6, 1e300};

/* Reference: a decimal integer with strtoll's leading white space and sign; 0 on overflow or junk. */
static int ref_i64(const char *s, int64_t *v)
{
    while (isspace((unsigned char)*s)) s++;
    int neg = 0;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    if (!isdigit((unsigned char)*s)) return 0;
    uint64_t m = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (m > (lim - d) / 10) return 0;
        m = m * 10 + d;
    }
    if (*s) return 0;
    *v = neg ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
    return 1;
}

/* Reference line scan: the first line "key=value" (value may be empty); copies value (truncated). */
static int ref_meta(const char *text, const char *key, char *buf, size_t cap, size_t *full)
{
    size_t kl = strlen(key);
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            size_t vl = ll - kl - 1;
            *full = vl;
            size_t c = vl < cap - 1 ? vl : cap - 1;
            memcpy(buf, p + kl + 1, c);
            buf[c] = 0;
            return 1;
        }
        if (!eol) break;
        p = eol + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    int mode = data[0] % 6;
    int b1 = data[1], b2 = data[2];
    char *s = malloc(size - 2);
    FUZZ_CHECK(s);
    memcpy(s, data + 3, size - 3);
    s[size - 3] = 0;   /* text up to the first NUL: what argv or a C string carries */
    switch (mode) {
    case 0: {
        int64_t lo = ibounds[b1 % 9], hi = ibounds[b2 % 9], v = 12345, r;
        int rc = gsg_parse_i64("--opt", s, lo, hi, &v);
        int ok = ref_i64(s, &r) && r >= lo && r <= hi;
        FUZZ_CHECK(rc == (ok ? 0 : 2));
        FUZZ_CHECK(!ok || v == r);
        FUZZ_CHECK(ok || v == 12345);
        break;
    }
    case 1: {
        double lo = fbounds[b1 % 8], hi = fbounds[b2 % 8], v = 12345;
        int rc = gsg_parse_f64("--opt", s, lo, hi, &v);
        FUZZ_CHECK(rc == 0 || rc == 2);
        if (rc == 0) {
            char *end;
            double r = strtod(s, &end);
            FUZZ_CHECK(end != s && *end == 0 && isfinite(v) && v >= lo && v <= hi && (v == r || (isnan(v) && isnan(r))));
        } else {
            FUZZ_CHECK(v == 12345);
        }
        break;
    }
    case 2: {
        struct gsg_net_config c, d;
        if (gsg_net_config_parse(&c, s) == GSG_OK) {
            FUZZ_CHECK(gsg_net_config_check(&c) == GSG_OK);
            static const char *ik[] = {"in_channels", "width", "zero_init_residual", "proj_layers", "proj_hidden",
                                       "proj_dim", "pred_hidden"};
            for (size_t k = 0; k < sizeof ik / sizeof *ik; k++) {
                char v[4096];
                size_t full = 0;
                int64_t x;
                FUZZ_CHECK(ref_meta(s, ik[k], v, sizeof v, &full));
                FUZZ_CHECK(full < sizeof v && ref_i64(v, &x));   /* the whole value, not a prefix of it */
            }
            char buf[1024] = "";
            FUZZ_CHECK(gsg_net_config_format(&c, buf, sizeof buf) == 0);
            FUZZ_CHECK(gsg_net_config_parse(&d, buf) == GSG_OK);
            FUZZ_CHECK(memcmp(&c, &d, sizeof c) == 0);
        } else {
            FUZZ_CHECK(gsg_err_msg()[0]);
        }
        break;
    }
    case 3: {
        struct gsg_train_config c, d;
        memset(&c, 0, sizeof c);
        if (gsg_train_config_parse(&c, s) == GSG_OK) {
            char a[8192] = "", b[8192] = "";
            FUZZ_CHECK(gsg_train_config_format(&c, a, sizeof a) == 0);
            memset(&d, 0, sizeof d);
            FUZZ_CHECK(gsg_train_config_parse(&d, a) == GSG_OK);
            FUZZ_CHECK(gsg_train_config_format(&d, b, sizeof b) == 0);
            FUZZ_CHECK(strcmp(a, b) == 0);
        }
        break;
    }
    case 4: {
        /* key: the text up to the first '\n' (or '='), the rest is the meta text */
        char *nl = strpbrk(s, "\n=");
        const char *key = s, *text = "";
        if (nl) { *nl = 0; text = nl + 1; }
        size_t cap = (size_t)b1 % 80;
        char v1[80], v2[80];
        size_t full;
        int got = gsg_meta_get(text, key, v1, cap);
        int want = *key && ref_meta(text, key, v2, cap ? cap : 1, &full);
        if (*key) FUZZ_CHECK(got == want);
        if (got && want && cap) FUZZ_CHECK(strcmp(v1, v2) == 0);
        break;
    }
    default: {
        enum gsg_data_format f;
        if (gsg_data_format_parse(s, &f) == 0) FUZZ_CHECK(!strcmp(gsg_data_format_name(f), s));
        break;
    }
    }
    free(s);
    return 0;
}
