/* vt_tensor: a dense, C-contiguous n-d array of one dtype.
 *
 *   int64_t shape[2] = {n, p};
 *   vt_tensor *x = vt_tensor_new(VT_F64, 2, shape);   // zero-filled, owned
 *   double *d = vt_tensor_f64(x);                      // d[i * p + j]
 *   vt_tensor_free(x);
 *
 * A tensor owns its data (freed by vt_tensor_free), borrows it (vt_tensor_wrap: the
 * caller keeps it alive) or maps it from a file (vt_npy_map: unmapped by vt_tensor_free).
 */
#ifndef VENTRAL_TENSOR_H
#define VENTRAL_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "ventral/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_MAX_RANK 8

typedef enum vt_dtype {
    VT_BOOL,
    VT_I8,
    VT_I16,
    VT_I32,
    VT_I64,
    VT_U8,
    VT_U16,
    VT_U32,
    VT_U64,
    VT_F32,
    VT_F64,
    VT_DTYPE_COUNT
} vt_dtype;

typedef enum vt_storage {
    VT_STORAGE_OWNED,    /* data from malloc, freed with the tensor */
    VT_STORAGE_BORROWED, /* data belongs to the caller */
    VT_STORAGE_MAPPED    /* data inside a file mapping, unmapped with the tensor */
} vt_storage;

typedef struct vt_tensor {
    vt_dtype dtype;
    int rank;
    int64_t shape[VT_MAX_RANK];
    void *data;
    vt_storage storage;
    void *map_base; /* VT_STORAGE_MAPPED: start and length of the mapping */
    size_t map_len;
} vt_tensor;

size_t vt_dtype_size(vt_dtype dtype);
const char *vt_dtype_name(vt_dtype dtype); /* numpy-style: "float32", "int16", "bool" */
bool vt_dtype_is_float(vt_dtype dtype);

/* New zero-filled owned tensor; NULL (last error set) on bad shape or no memory. */
vt_tensor *vt_tensor_new(vt_dtype dtype, int rank, const int64_t *shape);
/* New owned tensor, contents uninitialised (for outputs about to be overwritten). */
vt_tensor *vt_tensor_new_uninit(vt_dtype dtype, int rank, const int64_t *shape);
/* A tensor header over caller-owned data (borrowed; never freed by ventral). */
vt_tensor *vt_tensor_wrap(vt_dtype dtype, int rank, const int64_t *shape, void *data);
/* Frees the header and, if owned or mapped, the data. NULL is a no-op. */
void vt_tensor_free(vt_tensor *t);

int64_t vt_tensor_numel(const vt_tensor *t);
size_t vt_tensor_nbytes(const vt_tensor *t);
/* "3x4x5" into buf (always NUL-terminated). Returns buf. */
const char *vt_tensor_shape_str(const vt_tensor *t, char *buf, size_t len);

static inline double *vt_tensor_f64(const vt_tensor *t)
{
    return (double *)t->data;
}
static inline float *vt_tensor_f32(const vt_tensor *t)
{
    return (float *)t->data;
}

/* Element i (flat index) converted to double, for any dtype. */
double vt_tensor_get(const vt_tensor *t, int64_t i);

/* A new owned copy converted to `dtype` (float and int conversions as C casts). */
vt_status vt_tensor_convert(const vt_tensor *src, vt_dtype dtype, vt_tensor **out);

/* VT_ERR_ARG naming `what` (e.g. the file name) and the first offending index if any
 * element is NaN or ±Inf. Integer tensors always pass. */
vt_status vt_tensor_check_finite(const vt_tensor *t, const char *what);

/* VT_ERR_ARG unless t has rank `rank` and, for each dim with expect[d] >= 0, that size. */
vt_status vt_tensor_check_shape(const vt_tensor *t, const char *what, int rank, const int64_t *expect);

#ifdef __cplusplus
}
#endif
#endif
