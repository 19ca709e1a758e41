/* test_tstream_aio.c: the stream writer's background output thread and the reader's prefetch thread
 * (lib/io/aio.c): byte-identical output through a slowly drained pipe, flush reaching the other end,
 * write errors reported by close, a reader that stops early on a silent or busy pipe closing promptly,
 * and exact offsets when records straddle the reader's chunk boundaries. Every case moves more than
 * the first chunk (1 MiB), so the threads really run. */
#define _GNU_SOURCE
#include "check.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>
#include "io/aio.h"
#include "io/tstream.h"

static char dir[256];
static char path[300];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Incompressible bytes (so compressed records are as large as raw ones). */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static uint8_t *read_file(const char *p, size_t *n)
{
    *n = 0;
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

/* The test stream: NREC records, record i of 200000 + 37 i bytes (about 6.3 MB in all). */
#define NREC 30
static uint8_t *src_data;
static size_t rec_bytes(int i) { return 200000 + 37 * (size_t)i; }

static gsg_status write_first(struct gsg_tstream_writer *w, int nrec)
{
    size_t at = 0;
    for (int i = 0; i < nrec; i++) {
        struct gsg_tensor t = gsg_tview(src_data + at, GSG_DTYPE_U8, 1, (int64_t)rec_bytes(i));
        gsg_status st = gsg_tstream_write(w, "rec", (uint64_t)i, "k=v\n", &t);
        if (st < 0) return st;
        at += rec_bytes(i);
    }
    return GSG_OK;
}

static gsg_status write_records(struct gsg_tstream_writer *w) { return write_first(w, NREC); }

/* The number of threads of this process, once it settles (a joined thread may linger a moment). */
static int tasks_settle(int want)
{
    int n = count_tasks();
    for (int i = 0; i < 200 && n != want; i++) {
        usleep(1000);
        n = count_tasks();
    }
    return n;
}

/* Where the stream at path ends without its end record; *n12 after the first 12 records. */
static size_t data_end(size_t *n12)
{
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    size_t end = 0;
    if (gsg_tstream_open_read(&r, path) < 0) return 0;
    while (gsg_tstream_read(r, &rec) == GSG_OK) {
        end = (size_t)(rec.offset + rec.stored_bytes);
        if (rec.index == 11 && n12) *n12 = end;
    }
    gsg_tstream_close_read(r);
    return end;
}

/* ---- a pipe drained slowly by a thread ---- */
struct drain {
    int fd;
    uint8_t *buf;
    size_t len, cap;
};

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    for (;;) {
        if (d->len + 4096 > d->cap) {
            d->cap = d->cap ? 2 * d->cap : (1u << 20);
            d->buf = realloc(d->buf, d->cap);
        }
        ssize_t k = read(d->fd, d->buf + d->len, 4096);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        d->len += (size_t)k;
        usleep(100);   /* a slow consumer: the writer must keep compressing meanwhile */
    }
    return NULL;
}

TEST(writer_slow_pipe_byte_identical)
{
    for (int level = 0; level <= 1; level++) {
        struct gsg_tstream_writer *w;
        CHECK_OK(gsg_tstream_open_write(&w, path, level));
        CHECK_OK(write_records(w));
        CHECK_OK(gsg_tstream_close(w));
        size_t ref_n;
        uint8_t *ref = read_file(path, &ref_n);
        CHECK(ref && ref_n > (3u << 20));

        int p[2];
        CHECK(pipe(p) == 0);
        struct drain d = {p[0], NULL, 0, 0};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, drain_main, &d) == 0);
        FILE *f = fdopen(p[1], "wb");
        CHECK_OK(gsg_tstream_open_write_file(&w, f, "pipe", level));
        CHECK_OK(write_records(w));
        CHECK_OK(gsg_tstream_close(w));
        fclose(f);
        pthread_join(th, NULL);
        close(p[0]);
        CHECK_EQ_I64(d.len, ref_n);
        CHECK(d.len == ref_n && memcmp(d.buf, ref, ref_n) == 0);
        /* and independent of our reader: zstd decodes the frames back to the raw records */
        if (level == 1) {
            size_t raw = 64 * (NREC + 1) + 8;
            for (int i = 0; i < NREC; i++) raw += rec_bytes(i);
            uint8_t *dec = malloc(raw);
            size_t got = ZSTD_decompress(dec, raw, d.buf, d.len);
            CHECK(!ZSTD_isError(got) && got == raw);
            size_t at = 0, sat = 0;
            for (int i = 0; i < NREC && !ZSTD_isError(got); i++) {
                uint64_t hb = 0;
                memcpy(&hb, dec + at + 8, 4);
                CHECK(memcmp(dec + at, "GSGT", 4) == 0 && memcmp(dec + at + hb, src_data + sat, rec_bytes(i)) == 0);
                at += hb + rec_bytes(i);
                sat += rec_bytes(i);
            }
            free(dec);
        }
        free(d.buf);
        free(ref);
    }
    unlink(path);
}

/* ---- flush: the reader on the other end gets the flushed record before anything more is written ---- */
struct pipe_reader {
    int fd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int got_marker, nrec;
    gsg_status st;
};

static void *reader_main(void *arg)
{
    struct pipe_reader *pr = arg;
    FILE *f = fdopen(pr->fd, "rb");
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    gsg_status st = gsg_tstream_open_read_file(&r, f, "pipe");
    while (st >= 0 && (st = gsg_tstream_read(r, &rec)) == GSG_OK) {
        pthread_mutex_lock(&pr->mu);
        pr->nrec++;
        if (strcmp(rec.name, "marker") == 0) pr->got_marker = 1;
        pthread_cond_broadcast(&pr->cv);
        pthread_mutex_unlock(&pr->mu);
    }
    if (r) gsg_tstream_close_read(r);
    fclose(f);
    pthread_mutex_lock(&pr->mu);
    pr->st = st;
    pthread_cond_broadcast(&pr->cv);
    pthread_mutex_unlock(&pr->mu);
    return NULL;
}

TEST(flush_reaches_the_other_end)
{
    int p[2];
    CHECK(pipe(p) == 0);
    struct pipe_reader pr = {.fd = p[0], .st = 1};
    pthread_mutex_init(&pr.mu, NULL);
    pthread_cond_init(&pr.cv, NULL);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, reader_main, &pr) == 0);
    FILE *f = fdopen(p[1], "wb");
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write_file(&w, f, "pipe", 1));
    for (int round = 0; round < 3; round++) {
        CHECK_OK(write_records(w));   /* > 1 MiB: the output thread runs */
        int64_t v = round;
        struct gsg_tensor t = gsg_tview(&v, GSG_DTYPE_I64, 0);
        CHECK_OK(gsg_tstream_write(w, "marker", 0, NULL, &t));
        CHECK_OK(gsg_tstream_flush(w));
        /* nothing more is written until the reader has the marker: without the flush it would wait forever */
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 20;
        pthread_mutex_lock(&pr.mu);
        int rc = 0;
        while (!pr.got_marker && pr.st == 1 && rc == 0) rc = pthread_cond_timedwait(&pr.cv, &pr.mu, &dl);
        CHECK_MSG(pr.got_marker, "round %d: the flushed marker did not arrive (%d records)", round, pr.nrec);
        CHECK_EQ_I64(pr.nrec, (round + 1) * (NREC + 1));
        pr.got_marker = 0;
        pthread_mutex_unlock(&pr.mu);
    }
    CHECK_OK(gsg_tstream_close(w));
    fclose(f);
    pthread_join(th, NULL);
    CHECK(pr.st == GSG_END);
    CHECK_EQ_I64(pr.nrec, 3 * (NREC + 1));
}

TEST(write_error_reported_by_write_or_close)
{
    /* big: the error happens in the output thread; tiny: at close, written by the caller */
    for (int big = 1; big >= 0; big--) {
        for (int via_path = 0; via_path <= 1; via_path++) {
            struct gsg_tstream_writer *w;
            FILE *f = NULL;
            if (via_path) CHECK_OK(gsg_tstream_open_write(&w, "/dev/full", 1));
            else {
                f = fopen("/dev/full", "wb");
                if (!f) { printf("  /dev/full missing\n"); return; }
                CHECK_OK(gsg_tstream_open_write_file(&w, f, "/dev/full", 1));
            }
            gsg_status st = GSG_OK;
            int nwrite = 0;
            if (big) {
                for (int i = 0; i < 8 && st == GSG_OK; i++, nwrite++) st = write_records(w);
                CHECK_MSG(st == GSG_E_IO, "an output thread's error must reach a later write (%d x %d records written)", nwrite, NREC);
            } else {
                int64_t v = 1;
                struct gsg_tensor t = gsg_tview(&v, GSG_DTYPE_I64, 0);
                st = gsg_tstream_write(w, "x", 0, NULL, &t);
                CHECK_OK(st);
            }
            if (st == GSG_OK) st = gsg_tstream_close(w);
            else {
                CHECK(gsg_tstream_flush(w) == GSG_E_IO);   /* sticky */
                CHECK(gsg_tstream_close(w) == GSG_E_IO);
            }
            CHECK(st == GSG_E_IO);
            CHECK_MSG(strstr(gsg_err_msg(), "/dev/full: write error: No space left on device") != NULL, "%s", gsg_err_msg());
            CHECK(strchr(gsg_err_msg(), '\n') == NULL);
            if (f) fclose(f);
        }
    }
}

/* abort: a pipe gets the records written so far (no end record), as stdio's fflush gave it;
 * a file output is discarded at once and its temporary removed. Either way the thread is gone. */
TEST(abort_writes_out_to_pipe_and_discards_file)
{
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write(&w, path, 1));
    CHECK_OK(write_first(w, 10));
    CHECK_OK(gsg_tstream_close(w));
    size_t ref_n, ref_data = data_end(NULL);
    uint8_t *ref = read_file(path, &ref_n);
    unlink(path);

    int n0 = count_tasks();
    int p[2];
    CHECK(pipe(p) == 0);
    struct drain d = {p[0], NULL, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, drain_main, &d) == 0);
    FILE *f = fdopen(p[1], "wb");
    CHECK_OK(gsg_tstream_open_write_file(&w, f, "pipe", 1));
    CHECK_OK(write_first(w, 10));
    gsg_tstream_abort(w);
    fclose(f);
    pthread_join(th, NULL);
    close(p[0]);
    CHECK_EQ_I64(tasks_settle(n0), n0);
    CHECK_EQ_I64(d.len, ref_data);
    CHECK(ref && ref_data > (1u << 20) && ref_data < ref_n && d.len == ref_data && memcmp(d.buf, ref, d.len) == 0);
    free(d.buf);
    free(ref);

    CHECK_OK(gsg_tstream_open_write(&w, path, 1));
    CHECK_OK(write_first(w, 20));   /* 4 MB: the output thread runs */
    gsg_tstream_abort(w);
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ_I64(tasks_settle(n0), n0);
    DIR *dd = opendir(dir);
    int ntmp = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd))) if (strstr(e->d_name, ".tmp.")) ntmp++;
    if (dd) closedir(dd);
    CHECK_EQ_I64(ntmp, 0);
}

/* ---- a reader that stops early ---- */
struct feeder {
    int fd;
    const uint8_t *p;
    size_t n;
    int release[2];   /* the feeder waits on release[0] before closing its end */
};

static void *feeder_main(void *arg)
{
    struct feeder *fd = arg;
    size_t done = 0;
    while (done < fd->n) {
        ssize_t k = write(fd->fd, fd->p + done, fd->n - done > 7001 ? 7001 : fd->n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;   /* EPIPE once the reader is gone */
        done += (size_t)k;
    }
    char c;
    while (read(fd->release[0], &c, 1) < 0 && errno == EINTR) {}   /* silent, the pipe still open */
    close(fd->fd);
    return NULL;
}

TEST(reader_closes_promptly_on_open_silent_pipe)
{
    signal(SIGPIPE, SIG_IGN);
    /* a stream without its end (the producer is still running): 3 MB, then 30 MB of it */
    size_t nsmall = 0, nbig = 0, nrecs = 0, n12 = 0;
    {
        struct gsg_tstream_writer *w;
        CHECK_OK(gsg_tstream_open_write(&w, path, 0));
        CHECK_OK(write_records(w));
        CHECK_OK(gsg_tstream_close(w));
        nrecs = data_end(&n12);
    }
    uint8_t *s = read_file(path, &nsmall);
    CHECK(nrecs > 0 && nrecs < nsmall);
    for (int busy = 0; busy <= 1; busy++) {
        const uint8_t *feed = s;
        size_t n = n12;   /* 12 records (2.4 MB, less than the ring holds), then silence */
        uint8_t *many = NULL;
        if (busy) {   /* more than the ring and the pipe hold: the prefetch thread waits for room */
            nbig = 5 * nrecs;   /* the records without the end record, 5 times */
            many = malloc(nbig);
            for (int i = 0; i < 5; i++) memcpy(many + (size_t)i * nrecs, s, nrecs);
            feed = many;
            n = nbig;
        }
        int p[2];
        CHECK(pipe(p) == 0);
        struct feeder fd = {p[1], feed, n, {-1, -1}};
        CHECK(pipe(fd.release) == 0);
        pthread_t th;
        CHECK(pthread_create(&th, NULL, feeder_main, &fd) == 0);
        int n0 = count_tasks();
        alarm(30);   /* a close that waits for the silent producer would hang the test */
        FILE *f = fdopen(p[0], "rb");
        struct gsg_tstream_reader *r;
        struct gsg_record rec;
        CHECK_OK(gsg_tstream_open_read_file(&r, f, "pipe"));
        /* past the first 1 MiB chunk, so that the prefetch thread runs */
        for (int i = 0; i < 8; i++) {
            CHECK_OK(gsg_tstream_read(r, &rec));
            CHECK(rec.index == (uint64_t)i && rec.t.dims[0] == (int64_t)rec_bytes(i));
        }
        CHECK(gsg_tstream_bytes_in(r) > (1u << 20));
        if (!busy) usleep(100000);   /* let it block in read(2) on the silent pipe */
        double t0 = now_s();
        gsg_tstream_close_read(r);
        double dt = now_s() - t0;
        CHECK_MSG(dt < 2, "close_read took %.2f s", dt);
        CHECK_EQ_I64(tasks_settle(n0), n0);   /* the prefetch thread is gone */
        alarm(0);
        fclose(f);   /* the feeder's write now fails with EPIPE */
        CHECK(write(fd.release[1], "x", 1) == 1);
        pthread_join(th, NULL);
        close(fd.release[0]);
        close(fd.release[1]);
        free(many);
    }
    free(s);
    unlink(path);
    signal(SIGPIPE, SIG_DFL);
}

/* ---- exact positions across the reader's chunk boundaries ---- */
TEST(offsets_exact_across_chunk_boundaries)
{
    const size_t chunk = GSG_AIO_IN_CHUNK;
    uint8_t *buf = malloc(chunk + 4096);
    fill_random(buf, chunk + 4096, 3);
    for (int level = 0; level <= 1; level++) {
        /* the stored size of one record of D data bytes is D + overhead */
        size_t base = chunk - 4096, over;
        {
            struct gsg_tstream_writer *w;
            CHECK_OK(gsg_tstream_open_write(&w, path, level));
            struct gsg_tensor t = gsg_tview(buf, GSG_DTYPE_U8, 1, (int64_t)base);
            CHECK_OK(gsg_tstream_write(w, "r", 0, NULL, &t));
            CHECK_OK(gsg_tstream_close(w));
            struct gsg_tstream_reader *r;
            struct gsg_record rec;
            CHECK_OK(gsg_tstream_open_read(&r, path));
            CHECK_OK(gsg_tstream_read(r, &rec));
            over = (size_t)rec.stored_bytes - base;
            gsg_tstream_close_read(r);
        }
        /* three records of stored size chunk + delta: record boundaries at k (chunk + delta), so the
         * 4-byte magic and the 18-byte frame header straddle the chunk edges in every way */
        for (int delta = -24; delta <= 3; delta++) {
            size_t d = chunk + (size_t)(ptrdiff_t)delta - over;
            struct gsg_tstream_writer *w;
            CHECK_OK(gsg_tstream_open_write(&w, path, level));
            for (int i = 0; i < 3; i++) {
                struct gsg_tensor t = gsg_tview(buf + i, GSG_DTYPE_U8, 1, (int64_t)d);
                CHECK_OK(gsg_tstream_write(w, "r", (uint64_t)i, NULL, &t));
            }
            CHECK_OK(gsg_tstream_close(w));
            size_t fsize;
            uint8_t *file = read_file(path, &fsize);
            struct gsg_tstream_reader *r;
            struct gsg_record rec;
            CHECK_OK(gsg_tstream_open_read(&r, path));
            for (int i = 0; i < 3; i++) {
                CHECK_OK(gsg_tstream_read(r, &rec));
                CHECK_MSG(rec.offset == (uint64_t)i * (chunk + (size_t)(ptrdiff_t)delta) && rec.stored_bytes == chunk + (size_t)(ptrdiff_t)delta,
                          "level %d delta %d record %d: offset %llu stored %llu", level, delta, i,
                          (unsigned long long)rec.offset, (unsigned long long)rec.stored_bytes);
                CHECK(gsg_tensor_nbytes(&rec.t) == d && memcmp(rec.t.data, buf + i, d) == 0);
            }
            CHECK(gsg_tstream_read(r, &rec) == GSG_END);
            CHECK_EQ_I64(gsg_tstream_bytes_in(r), fsize);
            gsg_tstream_close_read(r);
            /* cut inside the third record's header: the error names it at its exact offset */
            uint64_t off2 = 2 * (uint64_t)(chunk + (size_t)(ptrdiff_t)delta);
            FILE *f = fopen(path, "wb");
            fwrite(file, 1, (size_t)off2 + 10, f);
            fclose(f);
            gsg_status st = gsg_tstream_open_read(&r, path);
            CHECK_OK(st);
            CHECK_OK(gsg_tstream_read(r, &rec));
            CHECK_OK(gsg_tstream_read(r, &rec));
            st = gsg_tstream_read(r, &rec);
            CHECK(st == GSG_E_TRUNCATED);
            char want[128];
            snprintf(want, sizeof want, "record 2 at byte %llu: ", (unsigned long long)off2);
            CHECK_MSG(strstr(gsg_err_msg(), want) != NULL, "%s (want '%s')", gsg_err_msg(), want);
            gsg_tstream_close_read(r);
            free(file);
        }
    }
    free(buf);
    unlink(path);
}

/* Through a pipe fed in odd-sized writes: a cut mid-stream names the record and byte a file read names. */
TEST(truncation_through_pipe_matches_file)
{
    struct gsg_tstream_writer *w;
    CHECK_OK(gsg_tstream_open_write(&w, path, 1));
    CHECK_OK(write_records(w));
    CHECK_OK(gsg_tstream_close(w));
    size_t n;
    uint8_t *s = read_file(path, &n);
    size_t cut = n * 2 / 3;
    FILE *f = fopen(path, "wb");
    fwrite(s, 1, cut, f);
    fclose(f);
    struct gsg_tstream_reader *r;
    struct gsg_record rec;
    gsg_status st;
    int nf = 0;
    CHECK_OK(gsg_tstream_open_read(&r, path));
    while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) nf++;
    gsg_tstream_close_read(r);
    char msg_file[2048];
    snprintf(msg_file, sizeof msg_file, "%s", gsg_err_msg());
    CHECK(st == GSG_E_TRUNCATED && nf > 5);

    int p[2];
    CHECK(pipe(p) == 0);
    struct feeder fd = {p[1], s, cut, {-1, -1}};
    CHECK(pipe(fd.release) == 0);
    CHECK(write(fd.release[1], "x", 1) == 1);   /* the feeder closes its end after the bytes */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, feeder_main, &fd) == 0);
    alarm(30);
    FILE *pf = fdopen(p[0], "rb");
    CHECK_OK(gsg_tstream_open_read_file(&r, pf, path));
    int np = 0;
    while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) np++;
    CHECK(st == GSG_E_TRUNCATED);
    CHECK_EQ_I64(np, nf);
    CHECK_MSG(strcmp(gsg_err_msg(), msg_file) == 0, "pipe: %s\n  file: %s", gsg_err_msg(), msg_file);
    gsg_tstream_close_read(r);
    alarm(0);
    fclose(pf);
    pthread_join(th, NULL);
    close(fd.release[0]);
    close(fd.release[1]);
    free(s);
    unlink(path);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/gsg_test_aio.XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(path, sizeof path, "%s/s.gsgt", dir);
    size_t total = 0;
    for (int i = 0; i < NREC; i++) total += rec_bytes(i);
    src_data = malloc(total);
    fill_random(src_data, total, 1);
    RUN(writer_slow_pipe_byte_identical);
    RUN(flush_reaches_the_other_end);
    RUN(write_error_reported_by_write_or_close);
    RUN(abort_writes_out_to_pipe_and_discards_file);
    RUN(reader_closes_promptly_on_open_silent_pipe);
    RUN(offsets_exact_across_chunk_boundaries);
    RUN(truncation_through_pipe_matches_file);
    free(src_data);
    rmdir(dir);
    return check_summary();
}
