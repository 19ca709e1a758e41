/* afile.h: atomic output files. Data goes to "<path>.tmp.XXXXXX" in the same
 * directory; commit flushes, fsyncs, closes and renames; abort (or SIGINT,
 * SIGTERM, SIGHUP via gsg_afile_install_signals) unlinks the temporary file.
 * The path "-" means stdout, and an existing non-regular file (a device such as
 * /dev/null or /dev/full, a FIFO) is written in place: never renamed over or removed. */
#ifndef GSG_AFILE_H
#define GSG_AFILE_H
#include <stdio.h>
#include "status.h"

struct gsg_afile {
    FILE *f;
    char *path;       /* final path, or "-" */
    char *tmp;        /* temporary path, NULL for stdout */
    int slot;         /* index in the signal-cleanup table, -1 if none */
    int direct;       /* 1: the path is an existing device/FIFO, written in place */
};

gsg_status gsg_afile_open(struct gsg_afile **af, const char *path);
gsg_status gsg_afile_commit(struct gsg_afile *af);   /* frees af */
void gsg_afile_abort(struct gsg_afile *af);          /* frees af; removes the temp file */
/* Remove every open temporary file, then take the signal's default action. */
void gsg_afile_install_signals(void);
/* Write a whole buffer atomically to path (convenience). */
gsg_status gsg_afile_write_all(const char *path, const void *data, size_t n);

#endif
