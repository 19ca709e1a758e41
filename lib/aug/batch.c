#include "batch.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "core/tool.h"

gsg_status gsg_aug_batcher_init(struct gsg_aug_batcher *b, const struct gsg_dataset *ds, const struct gsg_aug_recipe *r,
                                int views, uint64_t seed, int plain, int skip_bad, int nthreads)
{
    memset(b, 0, sizeof *b);
    if (nthreads < 1) nthreads = omp_get_max_threads();
    if (views < 1 && !plain) return gsg_err_set(GSG_E_USAGE, "views must be >= 1");
    b->ds = ds; b->r = *r; b->views = plain ? 1 : views; b->seed = seed; b->plain = plain; b->skip_bad = skip_bad;
    b->nthreads = nthreads;
    /* JPEG DCT scaling keeps at least 2x the resolution the antialiased resize needs (plain), or
     * the resolution of the smallest crop (training): the filter, not the IDCT, does the shrinking */
    if (plain) b->min_side = 2 * (r->eval_resize > 0 ? r->eval_resize : r->size);
    else b->min_side = (int)ceil(r->size / sqrt(r->scale_lo > 0.01f ? r->scale_lo : 0.01f));
    b->loaders = calloc((size_t)nthreads, sizeof *b->loaders);
    b->scratch = calloc((size_t)nthreads, sizeof *b->scratch);
    if (!b->loaders || !b->scratch) { gsg_aug_batcher_free(b); return gsg_err_set(GSG_E_NOMEM, "out of memory"); }
    return GSG_OK;
}

void gsg_aug_batcher_free(struct gsg_aug_batcher *b)
{
    for (int t = 0; t < b->nthreads; t++) {
        if (b->loaders) gsg_dataset_loader_free(&b->loaders[t]);
        if (b->scratch) gsg_aug_scratch_free(&b->scratch[t]);
    }
    free(b->loaders); free(b->scratch);
    if (b->errs) for (int64_t i = 0; i < b->errs_cap; i++) free(b->errs[i]);
    free(b->errs);
    memset(b, 0, sizeof *b);
}

size_t gsg_aug_batcher_item_bytes(const struct gsg_aug_batcher *b)
{
    return (size_t)b->views * b->r.channels * b->r.size * b->r.size;
}

gsg_status gsg_aug_batch(struct gsg_aug_batcher *b, uint8_t *out, int64_t *labels, const int64_t *idx, int64_t n,
                         uint64_t epoch)
{
    if (n > b->errs_cap) {
        char **ne = realloc(b->errs, (size_t)n * sizeof(char *));
        if (!ne) return gsg_err_set(GSG_E_NOMEM, "out of memory");
        for (int64_t i = b->errs_cap; i < n; i++) ne[i] = NULL;
        b->errs = ne;
        b->errs_cap = n;
    }
    size_t item = gsg_aug_batcher_item_bytes(b);
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->nthreads)
    for (int64_t i = 0; i < n; i++) {
        int t = omp_get_thread_num();
        struct gsg_image img;
        uint8_t *dst = out + (size_t)i * item;
        gsg_status st = gsg_dataset_image(&b->loaders[t], b->ds, idx[i], b->r.channels, b->min_side, &img);
        if (st == GSG_OK)
            st = b->plain ? gsg_aug_plain(dst, &img, &b->r, &b->scratch[t])
                          : gsg_aug_views(dst, &img, &b->r, b->views, b->seed, epoch, idx[i], &b->scratch[t]);
        if (st < 0) {
            b->errs[i] = strdup(gsg_err_msg());
            memset(dst, 0, item);
        }
        if (labels) labels[i] = b->ds->labels[idx[i]];
    }
    gsg_status st = GSG_OK;
    for (int64_t i = 0; i < n; i++) {
        if (!b->errs[i]) continue;
        if (st == GSG_OK) {
            if (!b->skip_bad || b->ds->format != GSG_DATA_JPEG) {
                st = gsg_err_set(GSG_E_FORMAT, "%s%s", b->errs[i],
                                 b->ds->format == GSG_DATA_JPEG ? " (use --skip-bad to skip such files)" : "");
            } else {
                if (b->bad == 0) snprintf(b->first_bad, sizeof b->first_bad, "%s", b->errs[i]);
                b->bad++;
                /* --skip-bad names every file it skips */
                fprintf(stderr, "%s: skipped: %s\n", gsg_tool_prog(), b->errs[i]);
                if (labels) labels[i] = -1;
            }
        }
        free(b->errs[i]);
        b->errs[i] = NULL;
    }
    return st;
}

void gsg_aug_shuffle(int64_t *perm, int64_t n, uint64_t seed, uint64_t epoch)
{
    struct gsg_rng rng;
    gsg_rng_init(&rng, seed, gsg_rng_stream(GSG_RNG_SHUFFLE, epoch, 0, 0));
    gsg_rng_permutation(&rng, perm, n);
}
