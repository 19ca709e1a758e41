/* status.h: status codes and the per-thread error record.
 * The library never exits on bad input: it returns a gsg_status and fills the
 * error record with one line naming the data (file, record, byte offset) and
 * what was expected versus found. Tools print it prefixed with their name. */
#ifndef GSG_STATUS_H
#define GSG_STATUS_H
#include <stdio.h>
#include <stdlib.h>
#ifdef __cplusplus
extern "C" {
#endif

enum gsg_status {
    GSG_OK = 0,
    GSG_END = 1,              /* not an error: the stream ended cleanly */
    GSG_E_USAGE = -1,         /* bad or contradictory arguments */
    GSG_E_IO = -2,            /* open/read/write failure */
    GSG_E_FORMAT = -3,        /* malformed input data */
    GSG_E_TRUNCATED = -4,     /* input ends early */
    GSG_E_NOMEM = -5,
    GSG_E_NO_CUDA = -6,       /* built without CUDA, or no device */
    GSG_E_CUDA = -7,          /* a CUDA call failed */
    GSG_E_SHAPE = -8,         /* shape/dtype/device mismatch */
    GSG_E_NUMERIC = -9,       /* non-finite values */
    GSG_E_UNSUPPORTED = -10,  /* valid request this build cannot do */
};
typedef enum gsg_status gsg_status;

/* Record an error (printf-style, one line, no trailing newline) and return st. */
gsg_status gsg_err_set(gsg_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with "prefix: " (adds context as an error travels up). */
gsg_status gsg_err_prefix(gsg_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *gsg_err_msg(void);     /* the last message of this thread ("" if none) */
gsg_status gsg_err_status(void);
void gsg_err_clear(void);
const char *gsg_status_name(gsg_status st);

#ifdef __cplusplus
}
#endif

/* Internal invariants (our bugs, never user data): print file:line and abort. */
#define GSG_ASSERT(x) do { if (!(x)) { \
    fprintf(stderr, "%s:%d: GSG_ASSERT(%s) failed\n", __FILE__, __LINE__, #x); abort(); } } while (0)

/* Propagate a failing status. */
#define GSG_TRY(stmt) do { gsg_status gsg__st = (stmt); if (gsg__st < 0) return gsg__st; } while (0)

#endif
