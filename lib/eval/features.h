/* features.h: load a whole feature stream into memory for gsg-eval.
 *
 * Accepted inputs (docs/dataflow.md §3, stream contracts), per batch with one seq:
 *   gsg-encode:            `features` f32 [N,F] (+ `projections` f32 [N,D]), `index` i64 [N], `label` i64 [N]
 *   gsg-augment --plain:   `images` u8 [N,C,H,W], `index`, `label`  -> pixel features
 *                          x = value / 255, flattened to C*H*W (k-NN on raw pixels)
 * `index` and `label` must follow their data record with the same seq and N.
 * Records with other names (gsg.* bookkeeping, projections when features are used)
 * are skipped; training views (`views`) are rejected with a hint. */
#ifndef GSG_EVAL_FEATURES_H
#define GSG_EVAL_FEATURES_H
#include <stdint.h>
#include "core/status.h"

struct gsg_features {
    float *x;            /* (n, dim) f32 */
    int64_t *index;      /* (n) */
    int64_t *label;      /* (n), -1 unknown */
    int64_t n, dim;
    char source[16];     /* "features", "projections" or "images" */
    char *meta;          /* meta text of the first data record (malloc'd, "" when none) */
};

/* want: "features", "projections", "images", or NULL/"auto" (features, else images).
 * max_rows: stop after this many rows (0 = all). Errors name the path and record. */
gsg_status gsg_features_load(struct gsg_features *f, const char *path, const char *want, int64_t max_rows);
void gsg_features_free(struct gsg_features *f);

#endif
