/* norm.h: the normalisation constants that image records carry in their meta. */
#ifndef GSG_IO_NORM_H
#define GSG_IO_NORM_H
#include <stdint.h>
#include "tstream.h"

/* The normalisation of an image record (gsg-augment writes it): meta mean=a[,b,c] and
 * std=a[,b,c], one number per channel for C channels (1 <= C <= 3; a single number applies
 * to every channel; std positive). Fills mean[0..2] and std[0..2], padded with the last
 * value. *found = 0 when either key is absent (GSG_OK: the caller decides what that means);
 * malformed values are GSG_E_FORMAT naming the record. */
gsg_status gsg_record_norm(const struct gsg_tstream_reader *r, const struct gsg_record *rec, int64_t C,
                           float mean[3], float std[3], int *found);

#endif
