/* features.c: read feature / image streams into one matrix (see features.h). */
#include "eval/features.h"
#include <string.h>
#include <stdlib.h>
#include "io/tstream.h"
#include "tensor/tensor.h"

static int grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

void gsg_features_free(struct gsg_features *f)
{
    if (!f) return;
    free(f->x);
    free(f->index);
    free(f->label);
    free(f->meta);
    memset(f, 0, sizeof *f);
}

gsg_status gsg_features_load(struct gsg_features *f, const char *path, const char *want, int64_t max_rows)
{
    memset(f, 0, sizeof *f);
    int autodetect = !want || !strcmp(want, "auto");
    if (!autodetect && strcmp(want, "features") && strcmp(want, "projections") && strcmp(want, "images"))
        return gsg_err_set(GSG_E_USAGE, "unknown record kind '%s', expected features, projections, images or auto", want);
    struct gsg_tstream_reader *r = NULL;
    GSG_TRY(gsg_tstream_open_read(&r, path));
    struct gsg_record rec;
    gsg_status st;
    int64_t cap_x = 0, cap_i = 0, cap_l = 0;
    int64_t n_idx = 0, n_lab = 0;
    int64_t last_n = -1;      /* rows of the last data record */
    uint64_t last_seq = 0;
    int done = 0;
    while (!done && (st = gsg_tstream_read(r, &rec)) == GSG_OK) {
        const char *nm = rec.name;
        int is_data = autodetect ? (!strcmp(nm, "features") || !strcmp(nm, "images")) : !strcmp(nm, want);
        if (autodetect && f->source[0] && strcmp(nm, f->source) && (!strcmp(nm, "features") || !strcmp(nm, "images"))) is_data = 0;
        if (is_data) {
            int img = !strcmp(nm, "images");
            if (last_n >= 0 && (n_idx != f->n || n_lab != f->n)) {
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected 'index' and 'label' after each '%s' batch, found '%s'",
                                              f->source, nm);
                break;
            }
            if (img ? (rec.t.dtype != GSG_DTYPE_U8 || rec.t.ndim != 4) : (rec.t.dtype != GSG_DTYPE_F32 || rec.t.ndim != 2)) {
                char sh[96];
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected %s, found %s %s", img ? "u8 [N,C,H,W]" : "f32 [N,F]",
                                              gsg_dtype_name(rec.t.dtype), gsg_shape_str(sh, sizeof sh, rec.t.ndim, rec.t.dims));
                break;
            }
            int64_t N = rec.t.dims[0], dim = gsg_tensor_numel(&rec.t) / (N ? N : 1);
            if (N == 0) dim = img ? rec.t.dims[1] * rec.t.dims[2] * rec.t.dims[3] : rec.t.dims[1];
            if (!f->source[0]) {
                memcpy(f->source, nm, strlen(nm) < sizeof f->source ? strlen(nm) + 1 : sizeof f->source - 1);
                f->dim = dim;
                f->meta = strdup(rec.meta ? rec.meta : "");
                if (!f->meta) { st = gsg_err_set(GSG_E_NOMEM, "out of memory"); break; }
            } else if (dim != f->dim) {
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected %lld values per row as in the first batch, found %lld",
                                              (long long)f->dim, (long long)dim);
                break;
            }
            if (dim < 1) { st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected at least one value per row, found 0"); break; }
            if (grow((void **)&f->x, &cap_x, (f->n + N) * dim, sizeof(float))) { st = gsg_err_set(GSG_E_NOMEM, "%s: out of memory", path); break; }
            float *dst = f->x + f->n * dim;
            if (img) {
                const uint8_t *src = rec.t.data;
                for (int64_t i = 0; i < N * dim; i++) dst[i] = (float)src[i] / 255.0f;
            } else {
                memcpy(dst, rec.t.data, sizeof(float) * (size_t)(N * dim));
            }
            f->n += N;
            last_n = N;
            last_seq = rec.seq;
        } else if (!strcmp(nm, "index") || !strcmp(nm, "label")) {
            if (last_n < 0) continue;   /* before any data record: not ours (e.g. another kind) */
            int lab = nm[0] == 'l';
            int64_t have = lab ? n_lab : n_idx;
            if (rec.t.dtype != GSG_DTYPE_I64 || rec.t.ndim != 1 || rec.t.dims[0] != last_n || rec.seq != last_seq || have != f->n - last_n) {
                char sh[96];
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected i64 [%lld] seq %llu after '%s', found %s %s seq %llu",
                                              (long long)last_n, (unsigned long long)last_seq, f->source, gsg_dtype_name(rec.t.dtype),
                                              gsg_shape_str(sh, sizeof sh, rec.t.ndim, rec.t.dims), (unsigned long long)rec.seq);
                break;
            }
            int64_t **arr = lab ? &f->label : &f->index;
            int64_t *capp = lab ? &cap_l : &cap_i;
            if (grow((void **)arr, capp, f->n, sizeof(int64_t))) { st = gsg_err_set(GSG_E_NOMEM, "%s: out of memory", path); break; }
            memcpy(*arr + have, rec.t.data, sizeof(int64_t) * (size_t)last_n);
            if (lab) n_lab += last_n; else n_idx += last_n;
            if (max_rows > 0 && f->n >= max_rows && n_lab == f->n && n_idx == f->n) done = 1;
        } else if (!strcmp(nm, "views")) {
            st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT,
                                          "expected features or images, found training views (use gsg-augment --plain, then gsg-encode)");
            break;
        }
        /* anything else: skipped */
    }
    if (st == GSG_END || done) st = GSG_OK;
    if (st == GSG_OK && !f->source[0])
        st = gsg_err_set(GSG_E_FORMAT, "%s: expected records '%s', found none", path,
                         autodetect ? "features' (gsg-encode) or 'images' (gsg-augment --plain" : want);
    if (st == GSG_OK && (n_idx != f->n || n_lab != f->n))
        st = gsg_err_set(GSG_E_TRUNCATED, "%s: expected 'index' and 'label' for all %lld rows, found %lld and %lld", path,
                         (long long)f->n, (long long)n_idx, (long long)n_lab);
    if (st == GSG_OK && max_rows > 0 && f->n > max_rows) f->n = max_rows;
    gsg_tstream_close_read(r);
    if (st < 0) gsg_features_free(f);
    return st;
}
