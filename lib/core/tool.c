#define _GNU_SOURCE
#include "tool.h"
#include "afile.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *prog_name = "gsg";

void gsg_tool_init(int argc, char **argv, const char *prog)
{
    (void)argc; (void)argv;
    prog_name = prog;
    gsg_afile_install_signals();
}

const char *gsg_tool_prog(void) { return prog_name; }

int gsg_tool_exit_code(gsg_status st)
{
    if (st >= 0) return GSG_EXIT_OK;
    return st == GSG_E_USAGE ? GSG_EXIT_USAGE : GSG_EXIT_FAIL;
}

int gsg_tool_report(gsg_status st)
{
    if (st >= 0) return 0;
    const char *m = gsg_err_msg();
    fprintf(stderr, "%s: %s\n", prog_name, m[0] ? m : gsg_status_name(st));
    if (st == GSG_E_USAGE) fprintf(stderr, "Try '%s --help'.\n", prog_name);
    return gsg_tool_exit_code(st);
}

int gsg_tool_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return GSG_EXIT_FAIL;
}

int gsg_tool_usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", prog_name);
    return GSG_EXIT_USAGE;
}

int gsg_tool_stdout_is_tty(const char *path)
{
    return (!path || strcmp(path, "-") == 0) && isatty(STDOUT_FILENO);
}

int gsg_tool_stdin_is_tty(const char *path)
{
    return (!path || strcmp(path, "-") == 0) && isatty(STDIN_FILENO);
}

int gsg_tool_refuse_tty(const char *out_path, const char *in_path, int force, const char *in_hint)
{
    if (force) return 0;
    if (out_path && gsg_tool_stdout_is_tty(out_path))
        return gsg_tool_usage_error("refusing to write a binary stream to a terminal (use -o FILE, a pipe, or --force)");
    if (in_path && gsg_tool_stdin_is_tty(in_path))
        return gsg_tool_usage_error("refusing to read a binary stream from a terminal (%s or use --force)", in_hint);
    return 0;
}

int gsg_tool_finish(int rc)
{
    int err = ferror(stdout);
    if (fclose(stdout) != 0 || err) {
        if (rc == 0 || err) {
            fprintf(stderr, "%s: write error: %s\n", prog_name, strerror(errno ? errno : EIO));
            return GSG_EXIT_FAIL;
        }
    }
    return rc;
}

int gsg_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return gsg_tool_usage_error("%s: '%s' is not an integer in %lld..%lld", opt, s, (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

int gsg_parse_f64(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return gsg_tool_usage_error("%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
    *out = v;
    return 0;
}

double gsg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void gsg_progress_init(struct gsg_progress *p, int force, const char *label, int64_t total)
{
    memset(p, 0, sizeof *p);
    p->enabled = force || isatty(STDERR_FILENO);
    p->t_start = p->t_last = gsg_now();
    p->total = total;
    snprintf(p->label, sizeof p->label, "%s", label);
}

double gsg_progress_eta(double el, int64_t start, int64_t done, int64_t total)
{
    if (total <= 0 || done <= start || el <= 0) return -1;
    if (done >= total) return 0;
    return el * (double)(total - done) / (double)(done - start);
}

static void progress_line(struct gsg_progress *p, int64_t done, const char *extra, int final)
{
    double el = gsg_now() - p->t_start;
    char eta[32] = "";
    double rem = final ? -1 : gsg_progress_eta(el, p->start, done, p->total);
    if (rem >= 0) snprintf(eta, sizeof eta, " ETA %dm%02ds", (int)(rem / 60), (int)fmod(rem, 60));
    if (p->total > 0)
        fprintf(stderr, "\r%s: %s %lld/%lld %.0f%% %.1fs%s%s%s\033[K", prog_name, p->label, (long long)done,
                (long long)p->total, 100.0 * (double)done / (double)p->total, el, eta, extra ? " " : "", extra ? extra : "");
    else
        fprintf(stderr, "\r%s: %s %lld %.1fs%s%s\033[K", prog_name, p->label, (long long)done, el,
                extra ? " " : "", extra ? extra : "");
    if (final) fputc('\n', stderr);
    fflush(stderr);
    p->printed = 1;
}

void gsg_progress_update(struct gsg_progress *p, int64_t done, const char *extra)
{
    if (!p->enabled) return;
    double t = gsg_now();
    if (t - p->t_last < 0.2) return;
    p->t_last = t;
    progress_line(p, done, extra, 0);
}

void gsg_progress_finish(struct gsg_progress *p, int64_t done, const char *extra)
{
    if (!p->enabled) return;
    progress_line(p, done, extra, 1);
}
