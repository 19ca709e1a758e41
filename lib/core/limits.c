#include "limits.h"
#include <errno.h>
#include <stdlib.h>

int gsg_limit_parse(const char *s, uint64_t *v)
{
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *e;
    unsigned long long x = strtoull(s, &e, 10);
    if (errno || e == s) return -1;
    unsigned shift = 0;
    switch (*e) {
    case 0: break;
    case 'k': case 'K': shift = 10; e++; break;
    case 'm': case 'M': shift = 20; e++; break;
    case 'g': case 'G': shift = 30; e++; break;
    default: return -1;
    }
    if (*e || (shift && x > (UINT64_MAX >> shift))) return -1;
    *v = (uint64_t)x << shift;
    return 0;
}

gsg_status gsg_limit_get(const char *name, uint64_t def, uint64_t *v)
{
    *v = def;
    const char *s = getenv(name);
    if (!s || !*s) return GSG_OK;
    uint64_t x;
    if (gsg_limit_parse(s, &x) != 0)
        return gsg_err_set(GSG_E_USAGE, "environment %s='%s': expected a byte or pixel count such as 268435456, 256M or 1G", name, s);
    *v = x;
    return GSG_OK;
}
