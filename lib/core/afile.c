#define _GNU_SOURCE
#include "afile.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

void gsg_afile_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
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
    size_t n = strlen(path) + 16;
    af->tmp = malloc(n);
    snprintf(af->tmp, n, "%s.tmp.XXXXXX", path);
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
