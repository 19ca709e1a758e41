/* aio.h: background I/O for byte streams, so that (de)compression overlaps read(2)/write(2)
 * (what the zstd CLI does with its I/O threads).
 *
 * gsg_aio_out: the caller appends bytes to a chunk; a full chunk (GSG_AIO_OUT_HIGH bytes or more)
 *   goes to a writer thread that write(2)s it while the caller fills the next one (three chunks of
 *   GSG_AIO_OUT_CAP bytes). The thread starts with the first full chunk, so a small stream that is
 *   only flushed or closed is written by the caller and never starts one.
 * gsg_aio_in: a prefetch thread read(2)s ahead into a ring of GSG_AIO_IN_N chunks of GSG_AIO_IN_CHUNK
 *   bytes while the caller consumes a window of contiguous bytes. The thread starts when the input
 *   outgrows the first chunk; closing cancels it even while it is blocked in read(2).
 *
 * Functions return 0 or an errno value; an I/O error is sticky and is returned by every later call.
 * Both helpers use a file descriptor they do not own (never closed here). */
#ifndef GSG_AIO_H
#define GSG_AIO_H
#include <stddef.h>
#include <stdint.h>

#define GSG_AIO_OUT_CAP ((size_t)4 << 20)    /* bytes per output chunk */
#define GSG_AIO_OUT_HIGH ((size_t)1 << 20)   /* a chunk this full is handed to the writer thread */
#define GSG_AIO_IN_CHUNK ((size_t)1 << 20)   /* bytes per input chunk */
#define GSG_AIO_IN_N 4                       /* input chunks in the ring */
#define GSG_AIO_IN_KEEP 64                   /* most bytes gsg_aio_in_fill can make contiguous */

struct gsg_aio_out;

int gsg_aio_out_open(struct gsg_aio_out **o, int fd);
/* Append n bytes (any size; copied). */
int gsg_aio_out_write(struct gsg_aio_out *o, const void *p, size_t n);
/* Contiguous room for n bytes at the end of the output: *p is NULL when n > GSG_AIO_OUT_CAP.
 * Fill some prefix of it, then gsg_aio_out_commit the bytes written there. */
int gsg_aio_out_reserve(struct gsg_aio_out *o, size_t n, uint8_t **p);
int gsg_aio_out_commit(struct gsg_aio_out *o, size_t n);
/* Return once every byte appended so far is written to the fd. */
int gsg_aio_out_flush(struct gsg_aio_out *o);
/* Flush, stop the thread, free o. Returns the first error seen (0 when all bytes were written). */
int gsg_aio_out_close(struct gsg_aio_out *o);
/* Stop the thread now (cancelling a blocked write(2)), discard what is pending, free o. */
void gsg_aio_out_abort(struct gsg_aio_out *o);

/* The caller's window on the input: p[pos..len) are unread bytes; the caller advances pos.
 * p, len and off change only in gsg_aio_in_fill. */
struct gsg_aio_in {
    const uint8_t *p;
    size_t len, pos;
    uint64_t off;          /* input byte offset of p[0] */
    int eof;               /* set when no byte follows p[len) */
    int err;               /* errno of the read(2) that failed at input offset off + len; 0 if none */
    struct gsg_aio_ring *ring;   /* private */
};

int gsg_aio_in_open(struct gsg_aio_in **a, int fd);
/* Make at least n (<= GSG_AIO_IN_KEEP) unread bytes available at p + pos, or fewer at the end of
 * input (eof) or after a read error (err, also returned). Returns as soon as the bytes are there:
 * on a pipe, without waiting for a full chunk. Bytes before p + pos may be dropped. */
int gsg_aio_in_fill(struct gsg_aio_in *a, size_t n);
/* Stop the prefetch thread (also when it is blocked in read(2) on a silent pipe) and free a. */
void gsg_aio_in_close(struct gsg_aio_in *a);

#endif
