/* copy.c: CPU tensor copy (memmove: dst and src may overlap). */
#include "cpu/cpu_engine.h"
#include <string.h>

void gsg_cpu_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes && dst != src) memmove(dst, src, bytes);
}
