/* Internal: small HDF5 helpers shared by the brain store, the NSD reader/writer and the
 * neural importers. Every function reports failures through vt_fail with the file and
 * dataset named; the HDF5 library's own error printing is switched off (no printing in
 * the library). */
#ifndef VT_H5UTIL_H
#define VT_H5UTIL_H

#include <hdf5.h>
#include <stdbool.h>

#include "ventral/tensor.h"

/* Turns off HDF5's automatic error stack printing (idempotent). */
void vt_h5_quiet(void);

/* An HDF5 file created under "<path>.tmp-<pid>" and renamed into place on commit. */
typedef struct vt_h5_out {
    hid_t file;
    char *path, *tmp_path;
} vt_h5_out;
vt_status vt_h5_create(vt_h5_out *o, const char *path);
vt_status vt_h5_commit(vt_h5_out *o);
void vt_h5_abandon(vt_h5_out *o);

/* Opens an existing file read-only; a clear message when missing or not HDF5. */
vt_status vt_h5_open(const char *path, hid_t *file);

/* True when the link `name` (may contain one '/' level, e.g. "units/roi") exists. */
bool vt_h5_exists(hid_t loc, const char *name);

hid_t vt_h5_type_of(vt_dtype dtype); /* native HDF5 memory type; H5I_INVALID_HID if none */
/* Creation property lists for datasets and groups that record no creation or modification times, so
 * that the same content gives the same bytes (feature caches key stimuli files by their SHA-256).
 * The caller closes them with H5Pclose. */
hid_t vt_h5_dataset_plist(void);
hid_t vt_h5_group_plist(void);

/* Writes a numeric dataset. chunk (may be NULL: contiguous) gives chunk dims; gzip >= 0
 * adds deflate at that level (only with chunks). */
vt_status vt_h5_write(hid_t loc, const char *name, vt_dtype dtype, int rank, const int64_t *shape, const void *data,
                      const int64_t *chunk, int gzip, const char *file);

/* Reads a numeric dataset whole, converted to `dtype`. Refuses non-numeric datasets. */
vt_status vt_h5_read(hid_t loc, const char *name, vt_dtype dtype, const char *file, vt_tensor **out);

/* Rank and shape of a dataset; refuses missing datasets. */
vt_status vt_h5_shape(hid_t loc, const char *name, const char *file, int *rank, int64_t *shape);

/* Variable-length UTF-8 string dataset of n strings. */
vt_status vt_h5_write_strings(hid_t loc, const char *name, char *const *s, int64_t n, const char *file);
/* Reads a 1-d string dataset (variable or fixed length, as h5py and MATLAB write them) into
 * n malloc'd strings; *out is a malloc'd array. */
vt_status vt_h5_read_strings(hid_t loc, const char *name, const char *file, char ***out, int64_t *n);

/* String and integer attributes on an object (a file or dataset handle). */
vt_status vt_h5_attr_write_str(hid_t obj, const char *name, const char *value, const char *file);
vt_status vt_h5_attr_write_i64(hid_t obj, const char *name, int64_t value, const char *file);
/* *out = malloc'd string, or NULL when the attribute is absent (not an error). */
vt_status vt_h5_attr_read_str(hid_t obj, const char *name, const char *file, char **out);
/* Returns false when absent or not an integer. */
bool vt_h5_attr_read_i64(hid_t obj, const char *name, int64_t *out);

/* Frees n malloc'd strings and the array (NULL-safe). */
void vt_strings_free(char **s, int64_t n);

#endif
