/* limits.h: the documented caps on what a hostile input may make a reader allocate.
 * Each limit has a default and is overridden by an environment variable of the same
 * name (a decimal count, optionally with a K, M or G suffix meaning 2^10, 2^20, 2^30):
 *   GSG_MAX_RECORD_BYTES  tensor-stream record data (decompressed), default 1 GiB
 *   GSG_MAX_PIXELS        width x height of one JPEG/PNG image to decode, and of a
 *                         gsg-tensor grid sheet to write, default 2^27 (134217728)
 * Readers check the declared sizes against these before allocating anything; data
 * sets and checkpoints are further bounded by the bytes their files hold (README,
 * formats/tensor-stream.md, formats/checkpoint.md). */
#ifndef GSG_LIMITS_H
#define GSG_LIMITS_H
#include <stdint.h>
#include "status.h"

#define GSG_MAX_RECORD_BYTES_DEFAULT ((uint64_t)1 << 30)
#define GSG_MAX_PIXELS_DEFAULT ((uint64_t)1 << 27)

/* The value of limit `name` (its environment variable, else def). A malformed value is
 * GSG_E_USAGE naming the variable; *v gets def then. */
gsg_status gsg_limit_get(const char *name, uint64_t def, uint64_t *v);
/* Parse "123", "64K", "512M", "2G" (case-insensitive suffix); 0 on success, -1 otherwise. */
int gsg_limit_parse(const char *s, uint64_t *v);

#endif
