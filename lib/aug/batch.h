/* batch.h: whole batches of views (or --plain eval images) from a data set,
 * OpenMP over images. Image i's views depend only on (seed, epoch, i, view),
 * so a batch is byte-identical for any thread count and any batch composition. */
#ifndef GSG_AUG_BATCH_H
#define GSG_AUG_BATCH_H
#include <stdint.h>
#include "aug/aug.h"
#include "io/dataset.h"

struct gsg_aug_batcher {
    const struct gsg_dataset *ds;
    struct gsg_aug_recipe r;      /* already resized to the output side */
    int views;                    /* V (ignored when plain) */
    uint64_t seed;
    int plain;                    /* deterministic eval images instead of views */
    int skip_bad;                 /* an image that fails to decode gives zero views and label -1 */
    int min_side;                 /* JPEG DCT-scaling target for the shorter side */
    int nthreads;
    struct gsg_dataset_loader *loaders;   /* [nthreads] */
    struct gsg_aug_scratch *scratch;      /* [nthreads] */
    char **errs; int64_t errs_cap;        /* per image of the current batch */
    int64_t bad;                  /* images replaced under skip_bad */
    char first_bad[512];          /* message of the first one */
};

gsg_status gsg_aug_batcher_init(struct gsg_aug_batcher *b, const struct gsg_dataset *ds, const struct gsg_aug_recipe *r,
                                int views, uint64_t seed, int plain, int skip_bad, int nthreads);
void gsg_aug_batcher_free(struct gsg_aug_batcher *b);
/* Bytes of one image's output: V*C*S*S (C*S*S when plain). */
size_t gsg_aug_batcher_item_bytes(const struct gsg_aug_batcher *b);
/* out: u8 [n, V, C, S, S] (plain: [n, C, S, S]); labels: i64 [n] (may be NULL);
 * idx: i64 [n] data set positions. */
gsg_status gsg_aug_batch(struct gsg_aug_batcher *b, uint8_t *out, int64_t *labels, const int64_t *idx, int64_t n,
                         uint64_t epoch);
/* The epoch's shuffle: a permutation of 0..n-1 from (seed, GSG_RNG_SHUFFLE, epoch). */
void gsg_aug_shuffle(int64_t *perm, int64_t n, uint64_t seed, uint64_t epoch);

#endif
