/* tstream.h: the GSGT tensor stream (formats/tensor-stream.md).
 * A stream is a sequence of records, each one zstd frame (or stored raw),
 * ending with the end record 'gsg.end'. Readers validate every header field
 * before trusting it and report errors as
 *   "<path>: record N 'name' at byte B: expected ..., found ...". */
#ifndef GSG_TSTREAM_H
#define GSG_TSTREAM_H
#include <stdint.h>
#include <stdio.h>
#include "../tensor/tensor.h"

#define GSG_TSTREAM_VERSION 1
#define GSG_TSTREAM_FIXED 32            /* fixed header bytes before dims */
#define GSG_TSTREAM_MAX_HEADER 65536
#define GSG_TSTREAM_MAX_META 32768
#define GSG_TSTREAM_END_NAME "gsg.end"
#define GSG_TSTREAM_DEFAULT_LEVEL 1

struct gsg_tstream_writer;
struct gsg_tstream_reader;

/* One record as read. t.data and meta point into reader-owned memory that stays
 * valid until the next read call (use gsg_tstream_record_take to keep it). */
struct gsg_record {
    uint64_t seq;
    char name[256];
    const char *meta;        /* NUL-terminated key=value\n text ("" when none) */
    uint32_t meta_len;
    struct gsg_tensor t;     /* host tensor */
    uint64_t index;          /* 0-based record number within the whole input */
    uint64_t offset;         /* byte offset of the record in the (compressed) input */
    uint64_t stored_bytes;   /* bytes the record occupies in the input */
    int compressed;          /* 1 zstd frame, 0 stored raw */
};

/* ---- writer ---- */
/* path "-" writes stdout; any other path is written atomically (temp + rename on close).
 * level: zstd level 1..19, or 0 to store records uncompressed. */
gsg_status gsg_tstream_open_write(struct gsg_tstream_writer **w, const char *path, int level);
/* Wrap an already-open FILE (not closed by the writer). */
gsg_status gsg_tstream_open_write_file(struct gsg_tstream_writer **w, FILE *f, const char *label, int level);
/* meta may be NULL. The tensor must be on the host. */
gsg_status gsg_tstream_write(struct gsg_tstream_writer *w, const char *name, uint64_t seq,
                             const char *meta, const struct gsg_tensor *t);
gsg_status gsg_tstream_write_raw(struct gsg_tstream_writer *w, const char *name, uint64_t seq,
                                 const char *meta, enum gsg_dtype dt, int ndim, const int64_t *dims,
                                 const void *data);
gsg_status gsg_tstream_flush(struct gsg_tstream_writer *w);
/* Number of records written so far (excluding the end record). */
uint64_t gsg_tstream_count(const struct gsg_tstream_writer *w);
/* Write the end record, flush, commit the file. Frees w. */
gsg_status gsg_tstream_close(struct gsg_tstream_writer *w);
/* Give up: no end record; a file output is removed. Frees w. */
void gsg_tstream_abort(struct gsg_tstream_writer *w);
/* Set compression worker threads (0 = single-threaded, default). */
void gsg_tstream_set_workers(struct gsg_tstream_writer *w, int nworkers);

/* ---- reader ---- */
/* path "-" reads stdin. */
gsg_status gsg_tstream_open_read(struct gsg_tstream_reader **r, const char *path);
/* f must have no stdio-buffered input: the reader calls read(2) on fileno(f). */
gsg_status gsg_tstream_open_read_file(struct gsg_tstream_reader **r, FILE *f, const char *label);
/* GSG_OK with *rec filled; GSG_END at a clean end of input (after an end record);
 * an error status otherwise. End records are validated and skipped, so
 * concatenated streams read as one. */
gsg_status gsg_tstream_read(struct gsg_tstream_reader *r, struct gsg_record *rec);
/* Detach the record's data: returns a malloc'd copy of the tensor data (caller frees
 * with gsg_aligned_free) and updates rec->t.data to it. */
gsg_status gsg_tstream_record_take(struct gsg_tstream_reader *r, struct gsg_record *rec);
const char *gsg_tstream_path(const struct gsg_tstream_reader *r);
/* The largest record data a reader accepts: GSG_MAX_RECORD_BYTES (core/limits.h, default 1 GiB,
 * environment variable of that name) unless set here. A larger declared size is an error before
 * anything is allocated or decompressed. */
void gsg_tstream_set_max_record(struct gsg_tstream_reader *r, uint64_t bytes);
uint64_t gsg_tstream_bytes_in(const struct gsg_tstream_reader *r);
void gsg_tstream_close_read(struct gsg_tstream_reader *r);

/* Report an error about a record the caller rejected (wrong name or shape):
 * "<path>: record N 'name' at byte B: <message>". Returns st. */
gsg_status gsg_tstream_record_error(const struct gsg_tstream_reader *r, const struct gsg_record *rec,
                                    gsg_status st, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Check a record's name, dtype and shape (a dim of -1 matches anything). */
gsg_status gsg_tstream_expect(const struct gsg_tstream_reader *r, const struct gsg_record *rec,
                              const char *name, enum gsg_dtype dt, int ndim, const int64_t *dims);

/* ---- meta helpers ---- */
/* Copy the value of key from key=value\n text into buf; returns 1 if found. */
int gsg_meta_get(const char *meta, const char *key, char *buf, size_t cap);
/* Append "key=value\n" to buf (cap bytes); returns 0, or -1 if it does not fit. */
int gsg_meta_add(char *buf, size_t cap, const char *key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Names: 1..255 bytes of [a-z0-9_.] */
int gsg_tstream_name_valid(const char *name);

#endif
