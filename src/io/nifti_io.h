/* Internal: NIfTI-1/2 volumes through nifticlib (.nii and .nii.gz), with a streaming reader
 * for 4-D files so that reading a few voxels of every volume never holds the whole series. */
#ifndef VT_NIFTI_IO_H
#define VT_NIFTI_IO_H

#include "ventral/tensor.h"

/* Reads a 3-D volume (a 4-D file with one volume is accepted) as float64 in NIfTI order
 * (x fastest: value at (i,j,k) is data[i + nx*(j + ny*k)]), applying scl_slope/scl_inter
 * when the slope is non-zero. dims[0..2] = nx, ny, nz. *data is malloc'd. */
vt_status vt_nifti_read_volume(const char *path, int64_t dims[3], double **data);

/* A 4-D series read one 3-D volume at a time, raw stored values (no scaling). */
typedef struct vt_nifti_stream vt_nifti_stream;
vt_status vt_nifti_stream_open(const char *path, int64_t dims[4], vt_nifti_stream **out);
/* Next volume (nx*ny*nz values) converted to double; fails on a truncated file. */
vt_status vt_nifti_stream_next(vt_nifti_stream *s, double *vol);
void vt_nifti_stream_close(vt_nifti_stream *s);

/* Writes a volume (rank 3 or 4, dims in NIfTI order, data x fastest) of int16, int32, uint8 or
 * float32 as NIfTI-1; ".nii.gz" paths are gzip-compressed. Atomic (temp name + rename).
 * voxel_mm sets pixdim and a diagonal sform. */
vt_status vt_nifti_write(const char *path, int rank, const int64_t *dims, vt_dtype dtype, const void *data,
                         double voxel_mm);

#endif
