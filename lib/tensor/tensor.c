#include "tensor.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../cuda/gsg_cuda.h"

size_t gsg_dtype_size(enum gsg_dtype dt)
{
    switch (dt) {
    case GSG_DTYPE_F32: return 4;
    case GSG_DTYPE_F16: return 2;
    case GSG_DTYPE_BF16: return 2;
    case GSG_DTYPE_F64: return 8;
    case GSG_DTYPE_U8: return 1;
    case GSG_DTYPE_I32: return 4;
    case GSG_DTYPE_I64: return 8;
    case GSG_DTYPE_INVALID: return 0;
    }
    return 0;
}

static const char *dt_names[GSG_DTYPE_COUNT] = {"invalid", "f32", "f16", "bf16", "f64", "u8", "i32", "i64"};

const char *gsg_dtype_name(enum gsg_dtype dt)
{
    if ((int)dt < 0 || (int)dt >= GSG_DTYPE_COUNT) return "invalid";
    return dt_names[dt];
}

enum gsg_dtype gsg_dtype_from_name(const char *s)
{
    for (int i = 1; i < GSG_DTYPE_COUNT; i++)
        if (strcmp(s, dt_names[i]) == 0) return (enum gsg_dtype)i;
    return GSG_DTYPE_INVALID;
}

const char *gsg_dev_name(enum gsg_dev dev)
{
    switch (dev) {
    case GSG_DEV_CPU: return "cpu";
    case GSG_DEV_CUDA: return "cuda";
    }
    return "?";
}

int64_t gsg_tensor_numel(const struct gsg_tensor *t)
{
    /* unsigned and zero-first: a record of shape [2^40, 2^40, 0] has 0 elements, not a signed overflow */
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] == 0) return 0;
    for (int i = 0; i < t->ndim; i++) n *= (uint64_t)t->dims[i];
    return (int64_t)n;
}

size_t gsg_tensor_nbytes(const struct gsg_tensor *t)
{
    return (size_t)gsg_tensor_numel(t) * gsg_dtype_size(t->dtype);
}

int gsg_shape_bytes(int ndim, const int64_t *dims, size_t elem, uint64_t *bytes)
{
    uint64_t n = elem;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0) return -1;
        if (dims[i] == 0) n = 0;          /* any zero dim: 0 bytes, whatever the others */
    }
    if (n == 0) { *bytes = 0; return 0; }
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)dims[i];
        if (d != 0 && n > UINT64_MAX / d) return -1;
        n *= d;
    }
    *bytes = n;
    return 0;
}

void *gsg_aligned_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, (bytes + 63) & ~(size_t)63) != 0) return NULL;
    return p;
}

void gsg_aligned_free(void *p) { free(p); }

gsg_status gsg_tensor_alloc(struct gsg_tensor *t, enum gsg_dtype dt, enum gsg_dev dev,
                            int ndim, const int64_t *dims)
{
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > GSG_MAX_DIMS)
        return gsg_err_set(GSG_E_SHAPE, "tensor rank %d out of range 0..%d", ndim, GSG_MAX_DIMS);
    uint64_t bytes;
    if (gsg_dtype_size(dt) == 0) return gsg_err_set(GSG_E_SHAPE, "invalid dtype %d", (int)dt);
    if (gsg_shape_bytes(ndim, dims, gsg_dtype_size(dt), &bytes) != 0 || bytes > (uint64_t)SIZE_MAX / 2)
        return gsg_err_set(GSG_E_SHAPE, "tensor shape too large");
    t->dtype = dt;
    t->dev = dev;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    switch (dev) {
    case GSG_DEV_CPU:
        t->data = gsg_aligned_alloc((size_t)bytes);
        if (!t->data) return gsg_err_set(GSG_E_NOMEM, "out of memory allocating %llu bytes", (unsigned long long)bytes);
        memset(t->data, 0, (size_t)bytes);
        break;
    case GSG_DEV_CUDA: {
        gsg_status st = gsg_cuda_malloc(&t->data, (size_t)bytes);
        if (st < 0) return st;
        st = gsg_cuda_memset0(t->data, (size_t)bytes);
        if (st < 0) return st;
        break;
    }
    }
    t->owned = 1;
    return GSG_OK;
}

void gsg_tensor_free(struct gsg_tensor *t)
{
    if (t->owned && t->data) {
        switch (t->dev) {
        case GSG_DEV_CPU: gsg_aligned_free(t->data); break;
        case GSG_DEV_CUDA: gsg_cuda_free(t->data); break;
        }
    }
    t->data = NULL;
    t->owned = 0;
}

struct gsg_tensor gsg_tensor_view(void *data, enum gsg_dtype dt, enum gsg_dev dev,
                                  int ndim, const int64_t *dims)
{
    struct gsg_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dt;
    t.dev = dev;
    t.ndim = ndim;
    for (int i = 0; i < ndim && i < GSG_MAX_DIMS; i++) t.dims[i] = dims[i];
    return t;
}

struct gsg_tensor gsg_tview(void *data, enum gsg_dtype dt, int ndim, ...)
{
    int64_t dims[GSG_MAX_DIMS] = {0};
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim && i < GSG_MAX_DIMS; i++) dims[i] = va_arg(ap, int64_t);
    va_end(ap);
    return gsg_tensor_view(data, dt, GSG_DEV_CPU, ndim, dims);
}

struct gsg_tensor gsg_tview_dev(enum gsg_dev dev, void *data, enum gsg_dtype dt, int ndim, ...)
{
    int64_t dims[GSG_MAX_DIMS] = {0};
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim && i < GSG_MAX_DIMS; i++) dims[i] = va_arg(ap, int64_t);
    va_end(ap);
    return gsg_tensor_view(data, dt, dev, ndim, dims);
}

struct gsg_tensor gsg_tensor_sub(const struct gsg_tensor *base, int64_t off, int ndim, const int64_t *dims)
{
    struct gsg_tensor t = gsg_tensor_view(NULL, base->dtype, base->dev, ndim, dims);
    GSG_ASSERT(off >= 0 && off + gsg_tensor_numel(&t) <= gsg_tensor_numel(base));
    t.data = base->data ? (char *)base->data + (size_t)off * gsg_dtype_size(base->dtype) : NULL;
    return t;
}

int gsg_tensor_same_shape(const struct gsg_tensor *a, const struct gsg_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

char *gsg_shape_str(char *buf, size_t cap, int ndim, const int64_t *dims)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

gsg_status gsg_tensor_copy(struct gsg_tensor *dst, const struct gsg_tensor *src)
{
    if (dst->dtype != src->dtype || gsg_tensor_numel(dst) != gsg_tensor_numel(src))
        return gsg_err_set(GSG_E_SHAPE, "tensor copy: dtype or size mismatch");
    size_t n = gsg_tensor_nbytes(src);
    if (dst->dev == GSG_DEV_CPU && src->dev == GSG_DEV_CPU) {
        memmove(dst->data, src->data, n);
        return GSG_OK;
    }
    return gsg_cuda_memcpy(dst->data, dst->dev == GSG_DEV_CUDA, src->data, src->dev == GSG_DEV_CUDA, n);
}

gsg_status gsg_tensor_to_host(void *host, const struct gsg_tensor *src)
{
    size_t n = gsg_tensor_nbytes(src);
    if (n == 0) return GSG_OK;
    switch (src->dev) {
    case GSG_DEV_CPU: memcpy(host, src->data, n); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_memcpy(host, 0, src->data, 1, n);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "tensor: unknown device %d", (int)src->dev);
}

gsg_status gsg_tensor_from_host(struct gsg_tensor *dst, const void *host)
{
    size_t n = gsg_tensor_nbytes(dst);
    if (n == 0) return GSG_OK;
    switch (dst->dev) {
    case GSG_DEV_CPU: memcpy(dst->data, host, n); return GSG_OK;
    case GSG_DEV_CUDA: return gsg_cuda_memcpy(dst->data, 1, host, 0, n);
    }
    return gsg_err_set(GSG_E_UNSUPPORTED, "tensor: unknown device %d", (int)dst->dev);
}

float gsg_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0) {
        if (m == 0) u = sign;
        else {
            e = 113;
            while (!(m & 0x400)) { m <<= 1; e--; }
            m &= 0x3ff;
            u = sign | (e << 23) | (m << 13);
        }
    } else if (e == 31) u = sign | 0x7f800000u | (m << 13);
    else u = sign | ((e + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t gsg_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    int32_t e = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t m = u & 0x7fffff;
    if (((u >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (m ? 0x200 : 0));
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        m |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1))) hm++;
        return (uint16_t)(sign | hm);
    }
    uint32_t hm = m >> 13, rem = m & 0x1fff;
    uint32_t r = sign | ((uint32_t)e << 10) | hm;
    if (rem > 0x1000 || (rem == 0x1000 && (hm & 1))) r++;
    return (uint16_t)r;
}

float gsg_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t gsg_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

double gsg_tensor_get(const struct gsg_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case GSG_DTYPE_F32: return ((const float *)p)[i];
    case GSG_DTYPE_F16: return gsg_f16_to_f32(((const uint16_t *)p)[i]);
    case GSG_DTYPE_BF16: return gsg_bf16_to_f32(((const uint16_t *)p)[i]);
    case GSG_DTYPE_F64: return ((const double *)p)[i];
    case GSG_DTYPE_U8: return ((const uint8_t *)p)[i];
    case GSG_DTYPE_I32: return ((const int32_t *)p)[i];
    case GSG_DTYPE_I64: return (double)((const int64_t *)p)[i];
    case GSG_DTYPE_INVALID: return 0;
    }
    return 0;
}
