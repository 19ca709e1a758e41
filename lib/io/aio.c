/* aio.c: background output and prefetched input for byte streams (aio.h).
 *
 * Both helper threads run with cancellation disabled except around their one blocking system call
 * (write(2) or read(2)), where no lock is held and nothing needs cleaning up. Stopping a thread sets
 * a flag under the mutex (which ends any condition wait) and then, where the call may block forever
 * on a pipe, pthread_cancel()s it: read and write are cancellation points. The threads block the
 * asynchronous signals (SIGINT, SIGTERM, ...), so those still reach the main thread as before;
 * SIGPIPE stays deliverable to the writer thread, so a closed pipe ends the process quietly, as a
 * synchronous write would. */
#define _GNU_SOURCE
#include "aio.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../core/status.h"

/* Create a thread that does not take the process's asynchronous signals. Returns 0 or errno. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    static const int sync_sigs[] = {SIGPIPE, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof sync_sigs / sizeof sync_sigs[0]; i++) sigdelset(&all, sync_sigs[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return errno ? errno : EIO;
        }
        if (k == 0) return EIO;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ================= output ================= */
#define OUT_N 3

struct gsg_aio_out {
    int fd;
    uint8_t *buf[OUT_N];      /* chunks of GSG_AIO_OUT_CAP bytes, allocated on first use */
    size_t len[OUT_N];
    int cur;                  /* the chunk the caller fills: (head + queued) % OUT_N */
    int started;              /* the writer thread runs */
    int sync_only;            /* the thread could not be started: the caller writes */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;      /* caller -> thread: a chunk was queued, or stop */
    pthread_cond_t freed;     /* thread -> caller: a chunk was written */
    /* shared, under mu */
    int head, queued;         /* oldest chunk handed over, and how many are not yet written */
    int err;                  /* first write error (sticky) */
    int stop, discard;
};

static void *out_main(void *arg)
{
    struct gsg_aio_out *o = arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->queued && !o->stop) pthread_cond_wait(&o->work, &o->mu);
        if (!o->queued || o->discard) break;
        int i = o->head, skip = o->err != 0;   /* after an error the rest is discarded */
        pthread_mutex_unlock(&o->mu);
        int e = 0;
        if (!skip) {
            pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
            e = write_all(o->fd, o->buf[i], o->len[i]);
            pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        }
        pthread_mutex_lock(&o->mu);
        if (e && !o->err) o->err = e;
        o->len[i] = 0;
        o->head = (o->head + 1) % OUT_N;
        o->queued--;
        pthread_cond_broadcast(&o->freed);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

int gsg_aio_out_open(struct gsg_aio_out **out, int fd)
{
    *out = NULL;
    struct gsg_aio_out *o = calloc(1, sizeof *o);
    if (!o) return ENOMEM;
    o->fd = fd;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->work, NULL);
    pthread_cond_init(&o->freed, NULL);
    *out = o;
    return 0;
}

static int out_err(struct gsg_aio_out *o)
{
    pthread_mutex_lock(&o->mu);
    int e = o->err;
    pthread_mutex_unlock(&o->mu);
    return e;
}

static int out_set_err(struct gsg_aio_out *o, int e)
{
    pthread_mutex_lock(&o->mu);
    if (!o->err) o->err = e;
    e = o->err;
    pthread_mutex_unlock(&o->mu);
    return e;
}

/* The chunk the caller fills, allocated. */
static int out_cur(struct gsg_aio_out *o)
{
    if (o->buf[o->cur]) return 0;
    o->buf[o->cur] = malloc(GSG_AIO_OUT_CAP);
    return o->buf[o->cur] ? 0 : out_set_err(o, ENOMEM);
}

/* Hand the current chunk (not empty) over; with drain, also wait until everything is written. */
static int out_handoff(struct gsg_aio_out *o, int drain)
{
    if (!o->started && !o->sync_only && !drain) {
        if (start_thread(&o->thread, out_main, o) == 0) o->started = 1;
        else o->sync_only = 1;
    }
    if (!o->started) {   /* small output, or no thread: write it here */
        int e = out_err(o);
        if (!e) {
            e = write_all(o->fd, o->buf[o->cur], o->len[o->cur]);
            if (e) e = out_set_err(o, e);
        }
        o->len[o->cur] = 0;
        return e;
    }
    pthread_mutex_lock(&o->mu);
    o->queued++;
    pthread_cond_signal(&o->work);
    while (o->queued == OUT_N || (drain && o->queued)) pthread_cond_wait(&o->freed, &o->mu);
    o->cur = (o->head + o->queued) % OUT_N;
    int e = o->err;
    pthread_mutex_unlock(&o->mu);
    return e ? e : out_cur(o);
}

int gsg_aio_out_write(struct gsg_aio_out *o, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n) {
        int e = out_cur(o);
        if (e) return e;
        size_t k = GSG_AIO_OUT_CAP - o->len[o->cur];
        if (k > n) k = n;
        memcpy(o->buf[o->cur] + o->len[o->cur], s, k);
        o->len[o->cur] += k;
        s += k;
        n -= k;
        if (o->len[o->cur] >= GSG_AIO_OUT_HIGH && (e = out_handoff(o, 0)) != 0) return e;
    }
    return out_err(o);
}

int gsg_aio_out_reserve(struct gsg_aio_out *o, size_t n, uint8_t **p)
{
    *p = NULL;
    if (n > GSG_AIO_OUT_CAP) return out_err(o);
    int e = out_cur(o);
    if (e) return e;
    if (GSG_AIO_OUT_CAP - o->len[o->cur] < n && (e = out_handoff(o, 0)) != 0) return e;
    *p = o->buf[o->cur] + o->len[o->cur];
    return out_err(o);
}

int gsg_aio_out_commit(struct gsg_aio_out *o, size_t n)
{
    o->len[o->cur] += n;
    if (o->len[o->cur] >= GSG_AIO_OUT_HIGH) return out_handoff(o, 0);
    return out_err(o);
}

int gsg_aio_out_flush(struct gsg_aio_out *o)
{
    if (o->len[o->cur]) return out_handoff(o, 1);
    if (o->started) {
        pthread_mutex_lock(&o->mu);
        while (o->queued) pthread_cond_wait(&o->freed, &o->mu);
        pthread_mutex_unlock(&o->mu);
    }
    return out_err(o);
}

static void out_free(struct gsg_aio_out *o, int discard)
{
    if (o->started) {
        pthread_mutex_lock(&o->mu);
        o->stop = 1;
        o->discard = discard;
        pthread_cond_signal(&o->work);
        pthread_mutex_unlock(&o->mu);
        if (discard) pthread_cancel(o->thread);   /* callers discard only temporary files, so this is a safety net */
        pthread_join(o->thread, NULL);
    }
    for (int i = 0; i < OUT_N; i++) free(o->buf[i]);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->work);
    pthread_cond_destroy(&o->freed);
    free(o);
}

int gsg_aio_out_close(struct gsg_aio_out *o)
{
    int e = gsg_aio_out_flush(o);
    out_free(o, 0);
    return e;
}

void gsg_aio_out_abort(struct gsg_aio_out *o)
{
    if (o) out_free(o, 1);
}

/* ================= input ================= */
struct gsg_aio_ring {
    int fd;
    uint8_t *mem[GSG_AIO_IN_N];   /* GSG_AIO_IN_KEEP bytes of room for carried bytes, then the chunk */
    int ri;                       /* the caller's chunk */
    size_t seen;                  /* bytes of chunk ri already in the caller's window */
    int started, sync_only;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t data;          /* thread -> caller: bytes arrived, or the chunk ended */
    pthread_cond_t space;         /* caller -> thread: a chunk was released, or stop */
    /* shared, under mu (the thread alone writes a chunk until done; the caller alone releases it) */
    size_t fill[GSG_AIO_IN_N];    /* bytes read into the chunk */
    int done[GSG_AIO_IN_N];       /* the chunk is full, or ends the input (eof or err) */
    int eof[GSG_AIO_IN_N], err[GSG_AIO_IN_N];
    int wi;                       /* the chunk the thread fills */
    int stop, waiting;
};

static uint8_t *chunk(struct gsg_aio_ring *g, int i) { return g->mem[i] + GSG_AIO_IN_KEEP; }

static void *in_main(void *arg)
{
    struct gsg_aio_ring *g = arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (!g->stop && g->done[g->wi]) pthread_cond_wait(&g->space, &g->mu);
        if (g->stop) break;
        int i = g->wi;
        size_t at = g->fill[i];
        pthread_mutex_unlock(&g->mu);
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        ssize_t k = read(g->fd, chunk(g, i) + at, GSG_AIO_IN_CHUNK - at);
        int e = errno;
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        pthread_mutex_lock(&g->mu);
        if (k < 0 && e == EINTR) continue;
        if (k < 0) g->err[i] = e ? e : EIO;
        else if (k == 0) g->eof[i] = 1;
        else g->fill[i] += (size_t)k;
        if (k <= 0 || g->fill[i] == GSG_AIO_IN_CHUNK) {
            g->done[i] = 1;
            g->wi = (i + 1) % GSG_AIO_IN_N;
        }
        if (g->waiting) pthread_cond_signal(&g->data);
        if (k <= 0) break;
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int gsg_aio_in_open(struct gsg_aio_in **out, int fd)
{
    *out = NULL;
    struct gsg_aio_in *a = calloc(1, sizeof *a);
    struct gsg_aio_ring *g = calloc(1, sizeof *g);
    uint8_t *m = malloc(GSG_AIO_IN_KEEP + GSG_AIO_IN_CHUNK);
    if (!a || !g || !m) { free(a); free(g); free(m); return ENOMEM; }
    g->fd = fd;
    g->mem[0] = m;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->data, NULL);
    pthread_cond_init(&g->space, NULL);
    a->ring = g;
    a->p = chunk(g, 0);
    *out = a;
    return 0;
}

/* Move the window to the next chunk, carrying the unread bytes (fewer than GSG_AIO_IN_KEEP) into
 * the room before it, and release the chunk left behind. The prefetch thread starts here, once
 * the input has outgrown the first chunk. */
static int in_advance(struct gsg_aio_in *a)
{
    struct gsg_aio_ring *g = a->ring;
    int old = g->ri, next = (old + 1) % GSG_AIO_IN_N;
    if (!g->started && !g->sync_only) {
        for (int i = 0; i < GSG_AIO_IN_N; i++)
            if (!g->mem[i] && !(g->mem[i] = malloc(GSG_AIO_IN_KEEP + GSG_AIO_IN_CHUNK))) break;
    }
    if (!g->mem[next] && !(g->mem[next] = malloc(GSG_AIO_IN_KEEP + GSG_AIO_IN_CHUNK))) return ENOMEM;
    size_t k = a->len - a->pos;
    GSG_ASSERT(k < GSG_AIO_IN_KEEP);   /* gsg_aio_in_fill asks for at most GSG_AIO_IN_KEEP */
    uint8_t *d = chunk(g, next);
    memcpy(d - k, a->p + a->pos, k);
    a->off += a->pos;
    a->p = d - k;
    a->len = k;
    a->pos = 0;
    g->ri = next;
    g->seen = 0;
    if (g->started) {
        pthread_mutex_lock(&g->mu);
        g->fill[old] = 0;
        g->done[old] = 0;
        pthread_cond_signal(&g->space);
        pthread_mutex_unlock(&g->mu);
        return 0;
    }
    g->fill[old] = 0;
    if (!g->sync_only) {
        int all = 1;
        for (int i = 0; i < GSG_AIO_IN_N; i++) all = all && g->mem[i];
        g->wi = next;
        if (all && start_thread(&g->thread, in_main, g) == 0) g->started = 1;
        else g->sync_only = 1;
    }
    return 0;
}

int gsg_aio_in_fill(struct gsg_aio_in *a, size_t n)
{
    struct gsg_aio_ring *g = a->ring;
    if (n > GSG_AIO_IN_KEEP) n = GSG_AIO_IN_KEEP;
    while (a->len - a->pos < n && !a->eof && !a->err) {
        int i = g->ri;
        if (!g->started) {
            if (g->fill[i] < GSG_AIO_IN_CHUNK) {
                ssize_t k = read(g->fd, chunk(g, i) + g->fill[i], GSG_AIO_IN_CHUNK - g->fill[i]);
                if (k < 0 && errno == EINTR) continue;
                if (k < 0) a->err = errno ? errno : EIO;
                else if (k == 0) a->eof = 1;
                else {
                    g->fill[i] += (size_t)k;
                    g->seen = g->fill[i];
                    a->len += (size_t)k;
                }
                continue;
            }
        } else {
            pthread_mutex_lock(&g->mu);
            while (g->fill[i] == g->seen && !g->done[i]) {
                g->waiting = 1;
                pthread_cond_wait(&g->data, &g->mu);
            }
            g->waiting = 0;
            size_t have = g->fill[i];
            int eof = g->eof[i], err = g->err[i];
            pthread_mutex_unlock(&g->mu);
            if (have > g->seen) {
                a->len += have - g->seen;
                g->seen = have;
                continue;
            }
            if (err || eof) {
                a->err = err;
                a->eof = eof;
                continue;
            }
        }
        int e = in_advance(a);   /* chunk i is full and in the window */
        if (e) a->err = e;
    }
    return a->err;
}

void gsg_aio_in_close(struct gsg_aio_in *a)
{
    if (!a) return;
    struct gsg_aio_ring *g = a->ring;
    if (g->started) {
        pthread_mutex_lock(&g->mu);
        g->stop = 1;
        pthread_cond_signal(&g->space);
        pthread_mutex_unlock(&g->mu);
        pthread_cancel(g->thread);   /* it may be blocked in read(2) on a silent pipe */
        pthread_join(g->thread, NULL);
    }
    for (int i = 0; i < GSG_AIO_IN_N; i++) free(g->mem[i]);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->data);
    pthread_cond_destroy(&g->space);
    free(g);
    free(a);
}
