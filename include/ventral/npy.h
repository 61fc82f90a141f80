/* NumPy .npy files: format versions 1.0, 2.0 and 3.0.
 *
 * Reading accepts bool, (u)int8..64, float32 and float64 in little-endian or
 * byte-order-free form, C or Fortran order (Fortran is converted to C order).
 * Writing always produces C-order little-endian version 1.0 (2.0 if the header needs it),
 * to a temporary name renamed into place on success: a reader never sees a partial file.
 *
 *   vt_tensor *x;
 *   if (vt_npy_map("big.npy", &x) != VT_OK) ...   // zero-copy when the file allows it
 *   vt_npy_write("out.npy", x);
 *   vt_tensor_free(x);
 */
#ifndef VENTRAL_NPY_H
#define VENTRAL_NPY_H

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the whole file into a new owned tensor. */
vt_status vt_npy_read(const char *path, vt_tensor **out);

/* Maps the file read-only when it is C-order little-endian (the data are then paged in
 * on demand, for files larger than memory); otherwise falls back to vt_npy_read. */
vt_status vt_npy_map(const char *path, vt_tensor **out);

/* Writes atomically (temporary file + rename). */
vt_status vt_npy_write(const char *path, const vt_tensor *t);

/* An output .npy too large to build in memory: vt_npy_create makes "<path>.tmp-<pid>"
 * with a header for (dtype, shape), maps its data section writable and returns a tensor
 * over it. Fill it, then vt_npy_commit flushes it, renames it to `path` and frees the
 * tensor; vt_npy_abandon removes the temporary file and frees the tensor. */
typedef struct vt_npy_out vt_npy_out;
vt_status vt_npy_create(const char *path, vt_dtype dtype, int rank, const int64_t *shape, vt_npy_out **out);
vt_tensor *vt_npy_out_tensor(vt_npy_out *o);
vt_status vt_npy_commit(vt_npy_out *o);
void vt_npy_abandon(vt_npy_out *o);

#ifdef __cplusplus
}
#endif
#endif
