/* Internal: MATLAB .mat (v5, and v7.3 where matio was built with HDF5) numeric variables via matio. */
#ifndef VT_MAT_IO_H
#define VT_MAT_IO_H

#include "ventral/tensor.h"

/* Reads numeric variable `var` as a float64 [rows, cols] tensor in C order (MATLAB arrays are
 * column-major; a 1 x n or n x 1 vector keeps its MATLAB shape). Refuses missing variables,
 * non-numeric classes (cell, struct, char), complex data and rank > 2. */
vt_status vt_mat_read(const char *path, const char *var, vt_tensor **out);

/* Writes float64 2-D C-order tensors as MATLAB v5 double variables, atomically. */
vt_status vt_mat_write(const char *path, int n_vars, const char *const *names, const vt_tensor *const *vars);

#endif
