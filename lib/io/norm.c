/* norm.c: mean=/std= meta of image records (see norm.h). */
#include "norm.h"
#include <math.h>
#include <stdlib.h>

gsg_status gsg_record_norm(const struct gsg_tstream_reader *r, const struct gsg_record *rec, int64_t C,
                           float mean[3], float std[3], int *found)
{
    const char *keys[2] = { "mean", "std" };
    char v[2][256];
    *found = gsg_meta_get(rec->meta, keys[0], v[0], sizeof v[0]) && gsg_meta_get(rec->meta, keys[1], v[1], sizeof v[1]);
    if (!*found) return GSG_OK;
    for (int k = 0; k < 2; k++) {
        float *dst = k ? std : mean;
        const char *p = v[k];
        int n = 0;
        for (;;) {
            char *end;
            double x = strtod(p, &end);
            if (n == 3 || end == p || !isfinite(x) || (k && x <= 0)) { n = -1; break; }
            dst[n++] = (float)x;
            if (*end == 0) break;
            if (*end != ',') { n = -1; break; }
            p = end + 1;
        }
        if (n < 1 || (n != 1 && n < C))
            return gsg_tstream_record_error(r, rec, GSG_E_FORMAT, "meta %s=%s: expected %lld comma-separated %snumbers",
                                            keys[k], v[k], (long long)C, k ? "positive " : "");
        for (int i = n; i < 3; i++) dst[i] = dst[n - 1];
    }
    return GSG_OK;
}
