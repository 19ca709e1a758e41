/* monitor.h: the k-NN monitor of a training run (gsg-step --knn-every).
 *
 * Holds two labelled image sets in memory (the bank, usually training images, and the
 * queries, usually test images), each read from a plain image stream as
 * `gsg-augment --plain` writes it: per batch 'images' u8 [N,C,H,W] (meta mean=, std=),
 * then 'index' and 'label' i64 [N]. At each evaluation the current parameters and BN
 * buffers of a network are copied into a private inference network (the training
 * network is only read: its state, RNG and BN statistics are untouched, so a run with
 * the monitor trains exactly as one without), both sets are encoded in eval mode in
 * chunks of max_batch images, and the backbone features go through gsg_knn_eval.
 * Memory: the two image sets, their features and one inference network. */
#ifndef GSG_EVAL_MONITOR_H
#define GSG_EVAL_MONITOR_H
#include <stdint.h>
#include "core/status.h"
#include "eval/knn.h"
#include "nn/net.h"

/* A labelled u8 image set read whole from a plain image stream. */
struct gsg_image_set {
    uint8_t *images;          /* (n, C, H, W) */
    int64_t *label;           /* (n), -1 unknown */
    int64_t n, C, H, W;
    float mean[3], std[3];    /* from the first batch's meta */
};
/* max_images: stop after this many (0 = all). Errors name the path and record. */
gsg_status gsg_image_set_load(struct gsg_image_set *s, const char *path, int64_t max_images);
void gsg_image_set_free(struct gsg_image_set *s);

struct gsg_knn_monitor;
/* cfg: the training network's configuration; bank and test: paths of plain image
 * streams (their sizes must match the network's input channels; both share one
 * normalisation: the bank's). */
gsg_status gsg_knn_monitor_create(struct gsg_knn_monitor **m, const struct gsg_net_config *cfg,
                                  const char *bank, const char *test, int64_t max_batch,
                                  const struct gsg_knn_opts *opts, enum gsg_dev dev);
void gsg_knn_monitor_destroy(struct gsg_knn_monitor *m);
int64_t gsg_knn_monitor_bank_size(const struct gsg_knn_monitor *m);
int64_t gsg_knn_monitor_test_size(const struct gsg_knn_monitor *m);
/* Evaluate net's current backbone (read only). */
gsg_status gsg_knn_monitor_run(struct gsg_knn_monitor *m, const struct gsg_net *net, struct gsg_knn_result *res);

#endif
