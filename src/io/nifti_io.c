/* NIfTI volumes via nifticlib: whole 3-D reads, a streaming 4-D reader over znzlib, atomic writes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nifti2_io.h>

#include "io/nifti_io.h"

static void quiet(void)
{
    /* nifticlib prints its diagnostics to stderr at debug level >= 1; the library must not print. */
    nifti_set_debug_level(0);
}

static vt_status open_header(const char *path, nifti_image **out)
{
    quiet();
    struct stat sb;
    if (stat(path, &sb) != 0) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim) return vt_fail(VT_ERR_FORMAT, "%s: not a readable NIfTI file (bad header, truncated or corrupt?)", path);
    *out = nim;
    return VT_OK;
}

/* Converts n stored values of a NIfTI datatype to double. */
static vt_status to_double(const char *path, int datatype, const void *src, int64_t n, double *dst)
{
    switch (datatype) {
#define CASE(code, ctype)                                                                                              \
    case code:                                                                                                         \
        for (int64_t i = 0; i < n; i++) dst[i] = (double)((const ctype *)src)[i];                                      \
        return VT_OK;
        CASE(DT_UINT8, uint8_t)
        CASE(DT_INT8, int8_t)
        CASE(DT_INT16, int16_t)
        CASE(DT_UINT16, uint16_t)
        CASE(DT_INT32, int32_t)
        CASE(DT_UINT32, uint32_t)
        CASE(DT_INT64, int64_t)
        CASE(DT_UINT64, uint64_t)
        CASE(DT_FLOAT32, float)
        CASE(DT_FLOAT64, double)
#undef CASE
    default:
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: NIfTI datatype %s is not supported", path,
                       nifti_datatype_string(datatype));
    }
}

vt_status vt_nifti_read_volume(const char *path, int64_t dims[3], double **data)
{
    *data = NULL;
    nifti_image *nim;
    vt_status st = open_header(path, &nim);
    if (st) return st;
    if (nim->ndim < 3 || nim->ndim > 4 || (nim->ndim == 4 && nim->nt != 1)) {
        st = vt_fail(VT_ERR_FORMAT, "%s: expected a 3-D NIfTI volume, got %d dimensions", path, (int)nim->ndim);
        nifti_image_free(nim);
        return st;
    }
    if (nifti_image_load(nim) < 0 || !nim->data) {
        nifti_image_free(nim);
        return vt_fail(VT_ERR_FORMAT, "%s: cannot read the NIfTI data (truncated file?)", path);
    }
    int64_t n = nim->nx * nim->ny * nim->nz;
    double *d = vt_malloc((size_t)n, sizeof *d);
    if (!d)
        st = vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
    else
        st = to_double(path, nim->datatype, nim->data, n, d);
    if (st == VT_OK && nim->scl_slope != 0 && isfinite(nim->scl_slope) && (nim->scl_slope != 1 || nim->scl_inter != 0))
        for (int64_t i = 0; i < n; i++) d[i] = d[i] * nim->scl_slope + nim->scl_inter;
    dims[0] = nim->nx, dims[1] = nim->ny, dims[2] = nim->nz;
    nifti_image_free(nim);
    if (st) {
        free(d);
        return st;
    }
    *data = d;
    return VT_OK;
}

struct vt_nifti_stream {
    nifti_image *nim;
    znzFile fp;
    char *path;
    int64_t vox, next;
    void *raw;
    bool swap;
};

vt_status vt_nifti_stream_open(const char *path, int64_t dims[4], vt_nifti_stream **out)
{
    *out = NULL;
    nifti_image *nim;
    vt_status st = open_header(path, &nim);
    if (st) return st;
    if (nim->ndim != 4 && nim->ndim != 3) {
        st = vt_fail(VT_ERR_FORMAT, "%s: expected a 4-D NIfTI series, got %d dimensions", path, (int)nim->ndim);
        nifti_image_free(nim);
        return st;
    }
    vt_nifti_stream *s = vt_calloc(1, sizeof *s);
    if (!s) {
        nifti_image_free(nim);
        return VT_ERR_NOMEM;
    }
    s->nim = nim;
    s->vox = nim->nx * nim->ny * nim->nz;
    s->path = strdup(path);
    s->raw = vt_malloc((size_t)s->vox, (size_t)nim->nbyper);
    s->swap = nim->byteorder != nifti_short_order();
    s->fp = znzopen(nim->iname, "rb", nifti_is_gzfile(nim->iname));
    if (!s->path || !s->raw)
        st = vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
    else if (znz_isnull(s->fp))
        st = vt_fail(VT_ERR_IO, "%s: cannot open the image data", path);
    else if (znzseek(s->fp, (long)nim->iname_offset, SEEK_SET) < 0)
        st = vt_fail(VT_ERR_FORMAT, "%s: cannot seek to the image data (truncated file?)", path);
    if (st) {
        vt_nifti_stream_close(s);
        return st;
    }
    dims[0] = nim->nx, dims[1] = nim->ny, dims[2] = nim->nz, dims[3] = nim->ndim == 4 ? nim->nt : 1;
    *out = s;
    return VT_OK;
}

vt_status vt_nifti_stream_next(vt_nifti_stream *s, double *vol)
{
    nifti_image *nim = s->nim;
    size_t want = (size_t)s->vox * (size_t)nim->nbyper;
    size_t got = znzread(s->raw, 1, want, s->fp);
    if (got != want)
        return vt_fail(VT_ERR_FORMAT, "%s: volume %lld is truncated (%zu of %zu bytes)", s->path, (long long)s->next,
                       got, want);
    if (s->swap && nim->nbyper > 1) nifti_swap_Nbytes(s->vox, nim->nbyper, s->raw);
    s->next++;
    return to_double(s->path, nim->datatype, s->raw, s->vox, vol);
}

void vt_nifti_stream_close(vt_nifti_stream *s)
{
    if (!s) return;
    if (!znz_isnull(s->fp)) znzclose(s->fp);
    if (s->nim) nifti_image_free(s->nim);
    free(s->raw);
    free(s->path);
    free(s);
}

vt_status vt_nifti_write(const char *path, int rank, const int64_t *dims, vt_dtype dtype, const void *data,
                         double voxel_mm)
{
    quiet();
    int code;
    switch (dtype) {
    case VT_I16: code = DT_INT16; break;
    case VT_I32: code = DT_INT32; break;
    case VT_U8: code = DT_UINT8; break;
    case VT_F32: code = DT_FLOAT32; break;
    default: return vt_fail(VT_ERR_UNSUPPORTED, "%s: cannot write %s NIfTI data", path, vt_dtype_name(dtype));
    }
    if (rank < 1 || rank > 7) return vt_fail(VT_ERR_ARG, "%s: NIfTI rank %d is out of range", path, rank);
    int64_t d[8] = {rank, 1, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < rank; i++) d[i + 1] = dims[i];
    nifti_image *nim = nifti_make_new_nim(d, code, 0);
    if (!nim) return vt_fail(VT_ERR_NOMEM, "%s: cannot create a NIfTI header", path);
    /* A temporary name that keeps the extension, which decides the format and compression. */
    const char *base = strrchr(path, '/');
    size_t dirlen = base ? (size_t)(base - path + 1) : 0;
    base = base ? base + 1 : path;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%.*s.tmp-%ld-%s", (int)dirlen, path, (long)getpid(), base);
    vt_status st = VT_OK;
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    for (int i = 1; i <= 3; i++) nim->pixdim[i] = voxel_mm;
    nim->dx = nim->dy = nim->dz = voxel_mm;
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    for (int i = 0; i < 3; i++) nim->sto_xyz.m[i][i] = voxel_mm;
    nim->sto_xyz.m[3][3] = 1;
    if (nifti_set_filenames(nim, tmp, 0, 1) != 0) st = vt_fail(VT_ERR_IO, "%s: cannot set NIfTI file names", path);
    if (st == VT_OK) {
        nim->data = (void *)data; /* borrowed for the write; detached before freeing */
        unlink(tmp);
        nifti_image_write(nim);
        nim->data = NULL;
        struct stat sb;
        if (stat(tmp, &sb) != 0 || sb.st_size == 0)
            st = vt_fail(VT_ERR_IO, "%s: NIfTI write failed", path);
        else if (rename(tmp, path) != 0)
            st = vt_fail(VT_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        if (st) unlink(tmp);
    }
    nifti_image_free(nim);
    return st;
}
