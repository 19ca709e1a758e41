#define _GNU_SOURCE
#include "afile.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <libgen.h>
#include <sys/stat.h>

#define AFILE_SLOTS 64
/* Temporary paths still open, read by the signal handler (only async-signal-safe unlink there). */
static char *volatile tmp_slots[AFILE_SLOTS];

static int slot_take(char *tmp)
{
    for (int i = 0; i < AFILE_SLOTS; i++)
        if (!tmp_slots[i]) { tmp_slots[i] = tmp; return i; }
    return -1;
}

static void on_signal(int sig)
{
    for (int i = 0; i < AFILE_SLOTS; i++)
        if (tmp_slots[i]) unlink(tmp_slots[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void gsg_afile_install_signals(void) { gsg_afile_install_handler(on_signal); }

void gsg_afile_install_handler(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* This host's name as it appears in our temporary names: [A-Za-z0-9_] only, at most 32 chars. */
static void host_tag(char *buf, size_t cap)
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0 || !h[0]) snprintf(h, sizeof h, "host");
    size_t o = 0;
    for (size_t i = 0; h[i] && o + 1 < cap && o < 32; i++) {
        char c = h[i];
        buf[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
    }
    buf[o] = 0;
}

int gsg_afile_parse_tmp_name(const char *name, const char *base, char *host, size_t host_cap, long *pid)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) != 0 || strncmp(name + bl, ".tmp.", 5) != 0) return -1;
    const char *p = name + bl + 5, *dash = strchr(p, '-');
    if (!dash || (size_t)(dash - p) < 1 || (size_t)(dash - p) >= host_cap) return -1;
    for (const char *q = p; q < dash; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_')) return -1;
    memcpy(host, p, (size_t)(dash - p));
    host[dash - p] = 0;
    const char *d = dash + 1;
    long v = 0;
    int nd = 0;
    while (*d >= '0' && *d <= '9' && nd < 10) { v = v * 10 + (*d - '0'); d++; nd++; }
    if (nd == 0 || *d != '.' || v <= 0) return -1;
    d++;
    if (strlen(d) != 6) return -1;   /* mkstemp's six characters */
    for (int i = 0; i < 6; i++)
        if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= 'A' && d[i] <= 'Z') || (d[i] >= '0' && d[i] <= '9'))) return -1;
    *pid = v;
    return 0;
}

int gsg_afile_clean_stale(const char *path)
{
    char *c1 = strdup(path), *c2 = strdup(path);
    if (!c1 || !c2) { free(c1); free(c2); return 0; }
    const char *dir = dirname(c1), *base = basename(c2);
    char me[64], host[64];
    host_tag(me, sizeof me);
    int removed = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            long pid;
            if (gsg_afile_parse_tmp_name(e->d_name, base, host, sizeof host, &pid) != 0) continue;
            if (strcmp(host, me) != 0) continue;              /* written on another machine: its pid means nothing here */
            if (pid == (long)getpid()) continue;              /* this process's own, maybe still being written */
            if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;   /* its writer is alive (or not ours to judge) */
            size_t n = strlen(dir) + strlen(e->d_name) + 2;
            char *full = malloc(n);
            if (!full) break;
            snprintf(full, n, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (lstat(full, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_uid == geteuid() && unlink(full) == 0) removed++;
            free(full);
        }
        closedir(d);
    }
    free(c1); free(c2);
    return removed;
}

gsg_status gsg_afile_open(struct gsg_afile **out, const char *path)
{
    *out = NULL;
    struct gsg_afile *af = calloc(1, sizeof *af);
    if (!af) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    af->slot = -1;
    af->path = strdup(path);
    if (strcmp(path, "-") == 0) {
        af->f = stdout;
        *out = af;
        return GSG_OK;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        /* a device or FIFO (/dev/null, /dev/full, a named pipe): write to it directly, never rename over it */
        af->f = fopen(path, "wb");
        if (!af->f) {
            gsg_status st = gsg_err_set(GSG_E_IO, "%s: cannot open: %s", path, strerror(errno));
            free(af->path); free(af);
            return st;
        }
        af->direct = 1;
        *out = af;
        return GSG_OK;
    }
    gsg_afile_clean_stale(path);
    char host[64];
    host_tag(host, sizeof host);
    size_t n = strlen(path) + strlen(host) + 40;
    af->tmp = malloc(n);
    if (!af->tmp) { free(af->path); free(af); return gsg_err_set(GSG_E_NOMEM, "out of memory"); }
    snprintf(af->tmp, n, "%s.tmp.%s-%ld.XXXXXX", path, host, (long)getpid());
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        gsg_status st = gsg_err_set(GSG_E_IO, "%s: cannot create: %s", path, strerror(errno));
        free(af->tmp); free(af->path); free(af);
        return st;
    }
    { mode_t um = umask(0); umask(um); fchmod(fd, 0666 & ~um); }
    af->slot = slot_take(af->tmp);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        gsg_status st = gsg_err_set(GSG_E_IO, "%s: %s", path, strerror(errno));
        close(fd);
        gsg_afile_abort(af);
        return st;
    }
    *out = af;
    return GSG_OK;
}

static void afile_release(struct gsg_afile *af)
{
    if (af->slot >= 0) tmp_slots[af->slot] = NULL;
    free(af->tmp);
    free(af->path);
    free(af);
}

gsg_status gsg_afile_commit(struct gsg_afile *af)
{
    gsg_status st = GSG_OK;
    if (!af->tmp) {               /* stdout, or a device/FIFO written directly */
        if (fflush(af->f) != 0 || ferror(af->f))
            st = gsg_err_set(GSG_E_IO, "%s: write error: %s", af->direct ? af->path : "<stdout>", strerror(errno ? errno : EIO));
        if (af->direct && fclose(af->f) != 0 && st == GSG_OK)
            st = gsg_err_set(GSG_E_IO, "%s: close: %s", af->path, strerror(errno));
        afile_release(af);
        return st;
    }
    if (fflush(af->f) != 0 || ferror(af->f)) {
        st = gsg_err_set(GSG_E_IO, "%s: write error: %s", af->path, strerror(errno ? errno : EIO));
    } else if (fsync(fileno(af->f)) != 0 && errno != EINVAL && errno != EROFS) {
        st = gsg_err_set(GSG_E_IO, "%s: fsync: %s", af->path, strerror(errno));
    }
    if (fclose(af->f) != 0 && st == GSG_OK)
        st = gsg_err_set(GSG_E_IO, "%s: close: %s", af->path, strerror(errno));
    af->f = NULL;
    if (st == GSG_OK && rename(af->tmp, af->path) != 0)
        st = gsg_err_set(GSG_E_IO, "%s: rename: %s", af->path, strerror(errno));
    if (st != GSG_OK) unlink(af->tmp);
    afile_release(af);
    return st;
}

void gsg_afile_abort(struct gsg_afile *af)
{
    if (!af) return;
    if (af->tmp) {
        if (af->f) fclose(af->f);
        unlink(af->tmp);
    } else if (af->direct) {
        fclose(af->f);
    } else if (af->f) {
        fflush(af->f);
    }
    afile_release(af);
}

gsg_status gsg_afile_write_all(const char *path, const void *data, size_t n)
{
    struct gsg_afile *af;
    GSG_TRY(gsg_afile_open(&af, path));
    if (n && fwrite(data, 1, n, af->f) != n) {
        gsg_status st = gsg_err_set(GSG_E_IO, "%s: write error: %s", path, strerror(errno));
        gsg_afile_abort(af);
        return st;
    }
    return gsg_afile_commit(af);
}
