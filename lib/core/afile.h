/* afile.h: atomic output files. Data goes to "<path>.tmp.<host>-<pid>.XXXXXX" in the
 * same directory (host: this machine's name reduced to [A-Za-z0-9_], pid: the writer's
 * process id, XXXXXX: mkstemp's); commit flushes, fsyncs, closes and renames; abort (or
 * SIGINT, SIGTERM, SIGHUP via gsg_afile_install_signals) unlinks the temporary file.
 * A SIGKILL leaves the temporary behind: the next open of the same path removes it.
 * The rule (gsg_afile_clean_stale): a file is removed only when its name is exactly that
 * pattern for this output path, its host is this machine, its pid is not this process
 * and no process has that pid any more (kill(pid, 0) fails with ESRCH), and it is a
 * regular file owned by the current user. Anything else is left alone: another live
 * writer's file, another machine's (on a shared file system), files of other names.
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
/* A tool's own handler for SIGINT, SIGTERM and SIGHUP instead (it should end by calling
 * gsg_afile_install_signals() and raising the signal again, so the files are removed). */
void gsg_afile_install_handler(void (*handler)(int));
/* Remove the stale temporaries of path by the rule above; returns how many were removed. */
int gsg_afile_clean_stale(const char *path);
/* 0 when name is "<base>.tmp.<host>-<pid>.XXXXXX" (host and pid returned), -1 otherwise. */
int gsg_afile_parse_tmp_name(const char *name, const char *base, char *host, size_t host_cap, long *pid);
/* Write a whole buffer atomically to path (convenience). */
gsg_status gsg_afile_write_all(const char *path, const void *data, size_t n);

#endif
