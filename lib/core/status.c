#include "status.h"
#include <stdarg.h>
#include <string.h>

static _Thread_local char err_msg[2048];
static _Thread_local gsg_status err_st;

gsg_status gsg_err_set(gsg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    err_st = st;
    return st;
}

gsg_status gsg_err_prefix(gsg_status st, const char *fmt, ...)
{
    char pre[1024], old[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof old);
    size_t pl = strlen(pre);
    if (pl > sizeof err_msg - 3) pl = sizeof err_msg - 3;
    memcpy(err_msg, pre, pl);
    err_msg[pl] = ':';
    err_msg[pl + 1] = ' ';
    size_t ol = strlen(old);
    if (ol > sizeof err_msg - pl - 3) ol = sizeof err_msg - pl - 3;
    memcpy(err_msg + pl + 2, old, ol);
    err_msg[pl + 2 + ol] = 0;
    err_st = st;
    return st;
}

const char *gsg_err_msg(void) { return err_msg; }
gsg_status gsg_err_status(void) { return err_st; }
void gsg_err_clear(void) { err_msg[0] = 0; err_st = GSG_OK; }

const char *gsg_status_name(gsg_status st)
{
    switch (st) {
    case GSG_OK: return "ok";
    case GSG_END: return "end";
    case GSG_E_USAGE: return "usage";
    case GSG_E_IO: return "io";
    case GSG_E_FORMAT: return "format";
    case GSG_E_TRUNCATED: return "truncated";
    case GSG_E_NOMEM: return "out of memory";
    case GSG_E_NO_CUDA: return "no cuda";
    case GSG_E_CUDA: return "cuda";
    case GSG_E_SHAPE: return "shape";
    case GSG_E_NUMERIC: return "numeric";
    case GSG_E_UNSUPPORTED: return "unsupported";
    }
    return "unknown";
}
