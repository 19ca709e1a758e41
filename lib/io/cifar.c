#include "cifar.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

gsg_status gsg_cifar_read(const char *path, int classes, uint8_t **images, int64_t **labels, int64_t *n)
{
    if (classes != 10 && classes != 100) return gsg_err_set(GSG_E_USAGE, "cifar: classes must be 10 or 100, not %d", classes);
    size_t lb = classes == 10 ? 1 : 2, rec = lb + GSG_CIFAR_IMAGE_BYTES;
    FILE *f = fopen(path, "rb");
    if (!f) return gsg_err_set(GSG_E_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return gsg_err_set(GSG_E_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size == 0 || size % rec != 0) {
        fclose(f);
        return gsg_err_set(GSG_E_FORMAT, "%s: size %llu is not a whole number of CIFAR-%d records of %zu bytes (%llu records + %llu bytes)",
                           path, (unsigned long long)size, classes, rec, (unsigned long long)(size / rec),
                           (unsigned long long)(size % rec));
    }
    int64_t add = (int64_t)(size / rec), n0 = *n;
    uint8_t *im = realloc(*images, (size_t)(n0 + add) * GSG_CIFAR_IMAGE_BYTES);
    if (im) *images = im;
    int64_t *lab = realloc(*labels, (size_t)(n0 + add) * sizeof(int64_t));
    if (lab) *labels = lab;
    if (!im || !lab) { fclose(f); return gsg_err_set(GSG_E_NOMEM, "%s: out of memory for %lld images", path, (long long)(n0 + add)); }
    uint8_t *buf = malloc(rec * 1024);
    if (!buf) { fclose(f); return gsg_err_set(GSG_E_NOMEM, "%s: out of memory", path); }
    gsg_status st = GSG_OK;
    for (int64_t i = 0; i < add && st == GSG_OK;) {
        int64_t chunk = add - i < 1024 ? add - i : 1024;
        size_t got = fread(buf, rec, (size_t)chunk, f);
        if ((int64_t)got != chunk) {
            st = gsg_err_set(ferror(f) ? GSG_E_IO : GSG_E_TRUNCATED, "%s: record %lld at byte %llu: read failed (%s)", path,
                             (long long)(i + (int64_t)got), (unsigned long long)((uint64_t)(i + (int64_t)got) * rec),
                             ferror(f) ? strerror(errno) : "file shrank");
            break;
        }
        for (int64_t j = 0; j < chunk; j++) {
            const uint8_t *r = buf + (size_t)j * rec;
            int label = r[lb - 1];
            if (label >= classes) {
                st = gsg_err_set(GSG_E_FORMAT, "%s: record %lld at byte %llu: expected a label in 0..%d, found %d", path,
                                 (long long)(i + j), (unsigned long long)((uint64_t)(i + j) * rec + lb - 1), classes - 1, label);
                break;
            }
            if (classes == 100 && r[0] >= 20) {
                st = gsg_err_set(GSG_E_FORMAT, "%s: record %lld at byte %llu: expected a coarse label in 0..19, found %d", path,
                                 (long long)(i + j), (unsigned long long)((uint64_t)(i + j) * rec), r[0]);
                break;
            }
            (*labels)[n0 + i + j] = label;
            memcpy(*images + (size_t)(n0 + i + j) * GSG_CIFAR_IMAGE_BYTES, r + lb, GSG_CIFAR_IMAGE_BYTES);
        }
        i += chunk;
    }
    free(buf);
    fclose(f);
    if (st == GSG_OK) *n = n0 + add;
    return st;
}
