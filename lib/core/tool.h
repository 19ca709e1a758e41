/* tool.h: what every tool's main() shares: program name, error printing,
 * exit codes, stdout checks, progress lines on stderr.
 * Exit codes: 0 success, 1 runtime failure, 2 usage error. */
#ifndef GSG_TOOL_H
#define GSG_TOOL_H
#include <stdio.h>
#include <stdint.h>
#include "status.h"

enum { GSG_EXIT_OK = 0, GSG_EXIT_FAIL = 1, GSG_EXIT_USAGE = 2 };

#define GSG_VERSION "0.1.0"

void gsg_tool_init(int argc, char **argv, const char *prog);
const char *gsg_tool_prog(void);
/* "prog: <library error message>" to stderr; returns the exit code for st. */
int gsg_tool_report(gsg_status st);
/* "prog: <message>" to stderr; returns 1. */
int gsg_tool_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: <message>\nTry 'prog --help'." to stderr; returns 2. */
int gsg_tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int gsg_tool_exit_code(gsg_status st);
/* 1 if path is "-"/NULL and stdout is a terminal (binary streams refuse unless --force). */
int gsg_tool_stdout_is_tty(const char *path);
int gsg_tool_stdin_is_tty(const char *path);
/* Refuse a binary stream to a terminal on stdout (out_path "-"; NULL = no stream output) or
 * from one on stdin (in_path "-"; NULL = no stream input) unless force: prints the usage error and returns 2,
 * else returns 0. in_hint names how to give the input (e.g. "give INPUT"). */
int gsg_tool_refuse_tty(const char *out_path, const char *in_path, int force, const char *in_hint);
/* Check stdout for write errors and close it; returns rc, or 1 after printing "write error". */
int gsg_tool_finish(int rc);

/* Parse helpers: return 0 on success, print a usage error and return 2 otherwise. */
int gsg_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int gsg_parse_f64(const char *opt, const char *s, double lo, double hi, double *out);

/* Progress on stderr, at most ~5 updates a second, only when enabled. */
struct gsg_progress {
    int enabled;
    double t_start, t_last;
    int64_t total;           /* 0 when unknown */
    int64_t start;           /* the count already done at init (a resumed run): the ETA's rate counts from it */
    char label[64];
    int printed;
};
void gsg_progress_init(struct gsg_progress *p, int force, const char *label, int64_t total);
void gsg_progress_update(struct gsg_progress *p, int64_t done, const char *extra);
void gsg_progress_finish(struct gsg_progress *p, int64_t done, const char *extra);
/* Seconds left after `el` seconds in which the count went from `start` to `done` of `total`;
 * -1 when there is no rate yet (nothing done since start) or the total is unknown. */
double gsg_progress_eta(double el, int64_t start, int64_t done, int64_t total);
double gsg_now(void);          /* monotonic seconds */

#endif
