/* Dense C-contiguous tensors: construction, conversion and validation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/nonfinite.h"
#include "ventral/tensor.h"

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [VT_BOOL] = {"bool", 1},  [VT_I8] = {"int8", 1},     [VT_I16] = {"int16", 2},   [VT_I32] = {"int32", 4},
    [VT_I64] = {"int64", 8},  [VT_U8] = {"uint8", 1},    [VT_U16] = {"uint16", 2},  [VT_U32] = {"uint32", 4},
    [VT_U64] = {"uint64", 8}, [VT_F32] = {"float32", 4}, [VT_F64] = {"float64", 8},
};
_Static_assert(sizeof dtype_info / sizeof dtype_info[0] == VT_DTYPE_COUNT, "one entry per dtype");

size_t vt_dtype_size(vt_dtype dtype)
{
    return dtype_info[dtype].size;
}
const char *vt_dtype_name(vt_dtype dtype)
{
    return dtype_info[dtype].name;
}
bool vt_dtype_is_float(vt_dtype dtype)
{
    return dtype == VT_F32 || dtype == VT_F64;
}

static vt_status check_shape(vt_dtype dtype, int rank, const int64_t *shape, size_t *nbytes)
{
    if ((unsigned)dtype >= VT_DTYPE_COUNT) return vt_fail(VT_ERR_ARG, "unknown dtype %d", dtype);
    if (rank < 0 || rank > VT_MAX_RANK) return vt_fail(VT_ERR_ARG, "rank %d is outside 0..%d", rank, VT_MAX_RANK);
    size_t n = vt_dtype_size(dtype);
    for (int d = 0; d < rank; d++) {
        if (shape[d] < 0) return vt_fail(VT_ERR_ARG, "negative dimension %lld", (long long)shape[d]);
        if (shape[d] > 0 && n > SIZE_MAX / (size_t)shape[d])
            return vt_fail(VT_ERR_NOMEM, "tensor size overflows memory");
        n *= (size_t)shape[d];
    }
    *nbytes = n;
    return VT_OK;
}

static vt_tensor *header(vt_dtype dtype, int rank, const int64_t *shape)
{
    vt_tensor *t = vt_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->dtype = dtype;
    t->rank = rank;
    for (int d = 0; d < rank; d++) t->shape[d] = shape[d];
    return t;
}

static vt_tensor *new_tensor(vt_dtype dtype, int rank, const int64_t *shape, bool zero)
{
    size_t nbytes;
    if (check_shape(dtype, rank, shape, &nbytes) != VT_OK) return NULL;
    vt_tensor *t = header(dtype, rank, shape);
    if (!t) return NULL;
    t->data = zero ? vt_calloc(nbytes, 1) : vt_malloc(nbytes, 1);
    if (!t->data) {
        free(t);
        return NULL;
    }
    t->storage = VT_STORAGE_OWNED;
    return t;
}

vt_tensor *vt_tensor_new(vt_dtype dtype, int rank, const int64_t *shape)
{
    return new_tensor(dtype, rank, shape, true);
}

vt_tensor *vt_tensor_new_uninit(vt_dtype dtype, int rank, const int64_t *shape)
{
    return new_tensor(dtype, rank, shape, false);
}

vt_tensor *vt_tensor_wrap(vt_dtype dtype, int rank, const int64_t *shape, void *data)
{
    size_t nbytes;
    if (check_shape(dtype, rank, shape, &nbytes) != VT_OK) return NULL;
    vt_tensor *t = header(dtype, rank, shape);
    if (!t) return NULL;
    t->data = data;
    t->storage = VT_STORAGE_BORROWED;
    return t;
}

void vt_tensor_free(vt_tensor *t)
{
    if (!t) return;
    if (t->storage == VT_STORAGE_OWNED) free(t->data);
    if (t->storage == VT_STORAGE_MAPPED && t->map_base) munmap(t->map_base, t->map_len);
    free(t);
}

int64_t vt_tensor_numel(const vt_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->shape[d];
    return n;
}

size_t vt_tensor_nbytes(const vt_tensor *t)
{
    return (size_t)vt_tensor_numel(t) * vt_dtype_size(t->dtype);
}

const char *vt_tensor_shape_str(const vt_tensor *t, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    if (t->rank == 0) snprintf(buf, len, "scalar");
    for (int d = 0; d < t->rank && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, d ? "x%lld" : "%lld", (long long)t->shape[d]);
    return buf;
}

double vt_tensor_get(const vt_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case VT_BOOL: return ((const uint8_t *)p)[i] != 0;
    case VT_I8: return ((const int8_t *)p)[i];
    case VT_I16: return ((const int16_t *)p)[i];
    case VT_I32: return ((const int32_t *)p)[i];
    case VT_I64: return (double)((const int64_t *)p)[i];
    case VT_U8: return ((const uint8_t *)p)[i];
    case VT_U16: return ((const uint16_t *)p)[i];
    case VT_U32: return ((const uint32_t *)p)[i];
    case VT_U64: return (double)((const uint64_t *)p)[i];
    case VT_F32: return ((const float *)p)[i];
    case VT_F64: return ((const double *)p)[i];
    case VT_DTYPE_COUNT: break;
    }
    return NAN;
}

vt_status vt_tensor_convert(const vt_tensor *src, vt_dtype dtype, vt_tensor **out)
{
    *out = NULL;
    vt_tensor *t = vt_tensor_new_uninit(dtype, src->rank, src->shape);
    if (!t) return VT_ERR_NOMEM;
    int64_t n = vt_tensor_numel(src);
    if (src->dtype == dtype) {
        memcpy(t->data, src->data, vt_tensor_nbytes(src));
    } else if (dtype == VT_F64) {
        double *d = t->data;
#pragma omp parallel for if (n > 100000)
        for (int64_t i = 0; i < n; i++) d[i] = vt_tensor_get(src, i);
    } else if (dtype == VT_F32) {
        float *d = t->data;
#pragma omp parallel for if (n > 100000)
        for (int64_t i = 0; i < n; i++) d[i] = (float)vt_tensor_get(src, i);
    } else {
        vt_tensor_free(t);
        return vt_fail(VT_ERR_UNSUPPORTED, "conversion from %s to %s is not supported", vt_dtype_name(src->dtype),
                       vt_dtype_name(dtype));
    }
    *out = t;
    return VT_OK;
}

/* Whether any value is Inf or NaN: fixed chunks scanned by vt_span_nonfinite_* over the threads. */
enum { SCAN_CHUNK = 65536 };

static bool any_nonfinite_f32(const float *d, int64_t n)
{
    bool bad = false;
#pragma omp parallel for reduction(|| : bad) if (n > 100000)
    for (int64_t c = 0; c < n; c += SCAN_CHUNK)
        bad = bad || vt_span_nonfinite_f32(d + c, n - c < SCAN_CHUNK ? n - c : SCAN_CHUNK);
    return bad;
}

static bool any_nonfinite_f64(const double *d, int64_t n)
{
    bool bad = false;
#pragma omp parallel for reduction(|| : bad) if (n > 100000)
    for (int64_t c = 0; c < n; c += SCAN_CHUNK)
        bad = bad || vt_span_nonfinite_f64(d + c, n - c < SCAN_CHUNK ? n - c : SCAN_CHUNK);
    return bad;
}

vt_status vt_tensor_check_finite(const vt_tensor *t, const char *what)
{
    if (!vt_dtype_is_float(t->dtype)) return VT_OK;
    int64_t n = vt_tensor_numel(t), bad = n;
    /* The fast scan first; the first offending index is looked for only when there is one. */
    if (t->dtype == VT_F32 ? !any_nonfinite_f32(t->data, n) : !any_nonfinite_f64(t->data, n)) return VT_OK;
    for (int64_t i = 0; i < n && bad == n; i++)
        if (!isfinite(vt_tensor_get(t, i))) bad = i;
    return vt_fail(VT_ERR_ARG, "%s: contains %s at flat index %lld", what, isnan(vt_tensor_get(t, bad)) ? "NaN" : "Inf",
                   (long long)bad);
}

vt_status vt_tensor_check_shape(const vt_tensor *t, const char *what, int rank, const int64_t *expect)
{
    char buf[128];
    if (t->rank != rank)
        return vt_fail(VT_ERR_ARG, "%s: expected a %d-d array, got shape %s", what, rank,
                       vt_tensor_shape_str(t, buf, sizeof buf));
    for (int d = 0; expect && d < rank; d++)
        if (expect[d] >= 0 && t->shape[d] != expect[d])
            return vt_fail(VT_ERR_ARG, "%s: dimension %d is %lld, expected %lld (shape %s)", what, d,
                           (long long)t->shape[d], (long long)expect[d], vt_tensor_shape_str(t, buf, sizeof buf));
    return VT_OK;
}
