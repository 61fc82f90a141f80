/* MATLAB .mat variables via matio: numeric reads into C order, v5 writes. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <matio.h>

#include "io/mat_io.h"

static void silent_log(int level, char *message)
{
    (void)level, (void)message; /* matio logs to stderr by default; failures are reported by status */
}

static void quiet(void)
{
    static int done;
    if (!done) Mat_LogInitFunc("ventral", silent_log), done = 1;
}

static vt_status convert(const char *path, const char *var, const matvar_t *mv, double *dst, size_t n)
{
    switch (mv->class_type) {
#define CASE(cls, ctype)                                                                                               \
    case cls:                                                                                                          \
        for (size_t i = 0; i < n; i++) dst[i] = (double)((const ctype *)mv->data)[i];                                  \
        return VT_OK;
        CASE(MAT_C_DOUBLE, double)
        CASE(MAT_C_SINGLE, float)
        CASE(MAT_C_INT8, int8_t)
        CASE(MAT_C_UINT8, uint8_t)
        CASE(MAT_C_INT16, int16_t)
        CASE(MAT_C_UINT16, uint16_t)
        CASE(MAT_C_INT32, int32_t)
        CASE(MAT_C_UINT32, uint32_t)
        CASE(MAT_C_INT64, int64_t)
        CASE(MAT_C_UINT64, uint64_t)
#undef CASE
    default: return vt_fail(VT_ERR_FORMAT, "%s: variable '%s' is not a numeric array", path, var);
    }
}

/* A MATLAB v5 file is a 128-byte header then tagged elements; walking the tags tells a
 * truncated file (an element running past the end) from a variable that is absent. */
static bool v5_truncated(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    unsigned char hdr[128];
    bool truncated = false;
    if (fread(hdr, 1, sizeof hdr, f) == sizeof hdr && hdr[126] == 'I' && hdr[127] == 'M') {
        fseek(f, 0, SEEK_END);
        long size = ftell(f), pos = 128;
        while (pos + 8 <= size) {
            unsigned char tag[8];
            fseek(f, pos, SEEK_SET);
            if (fread(tag, 1, 8, f) != 8) break;
            uint32_t type = (uint32_t)tag[0] | (uint32_t)tag[1] << 8 | (uint32_t)tag[2] << 16 | (uint32_t)tag[3] << 24;
            uint32_t nbytes =
                (uint32_t)tag[4] | (uint32_t)tag[5] << 8 | (uint32_t)tag[6] << 16 | (uint32_t)tag[7] << 24;
            if (type >> 16)
                pos += 8; /* small data element: payload inside the tag */
            else
                pos += 8 + (long)nbytes + (type == 15 ? 0 : (long)((8 - nbytes % 8) % 8)); /* 15: miCOMPRESSED */
        }
        truncated = pos > size;
    }
    fclose(f);
    return truncated;
}

vt_status vt_mat_read(const char *path, const char *var, vt_tensor **out)
{
    *out = NULL;
    quiet();
    struct stat sb;
    if (stat(path, &sb) != 0) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat) return vt_fail(VT_ERR_FORMAT, "%s: not a readable MATLAB .mat file (truncated or corrupt?)", path);
    vt_status st = VT_OK;
    matvar_t *info = Mat_VarReadInfo(mat, var);
    matvar_t *mv = NULL;
    if (!info && v5_truncated(path))
        st = vt_fail(VT_ERR_FORMAT, "%s: truncated MATLAB file (variable '%s' not readable)", path, var);
    else if (!info)
        st = vt_fail(VT_ERR_FORMAT, "%s: missing variable '%s'", path, var);
    else if (info->class_type == MAT_C_CELL || info->class_type == MAT_C_STRUCT || info->class_type == MAT_C_CHAR ||
             info->class_type == MAT_C_SPARSE || info->class_type == MAT_C_OBJECT || info->class_type == MAT_C_EMPTY ||
             info->class_type == MAT_C_FUNCTION)
        st = vt_fail(VT_ERR_FORMAT, "%s: variable '%s' is not a numeric array", path, var);
    else if (info->isComplex)
        st = vt_fail(VT_ERR_FORMAT, "%s: variable '%s' is complex", path, var);
    else if (info->rank != 2)
        st = vt_fail(VT_ERR_FORMAT, "%s: variable '%s' has %d dimensions, expected a matrix", path, var, info->rank);
    if (info) Mat_VarFree(info);
    if (st == VT_OK) {
        Mat_Rewind(mat);
        mv = Mat_VarRead(mat, var);
        if (!mv || !mv->data) st = vt_fail(VT_ERR_FORMAT, "%s: cannot read variable '%s' (truncated file?)", path, var);
    }
    if (st == VT_OK) {
        size_t rows = mv->dims[0], cols = mv->dims[1], n = rows * cols;
        int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
        double *col = vt_malloc(n ? n : 1, sizeof *col);
        vt_tensor *t = vt_tensor_new_uninit(VT_F64, 2, shape);
        if (!col || !t)
            st = vt_fail(VT_ERR_NOMEM, "%s: out of memory reading '%s'", path, var);
        else
            st = convert(path, var, mv, col, n);
        if (st == VT_OK) {
            double *c = vt_tensor_f64(t);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < cols; j++) c[i * cols + j] = col[i + rows * j];
            *out = t;
        } else
            vt_tensor_free(t);
        free(col);
    }
    if (mv) Mat_VarFree(mv);
    Mat_Close(mat);
    return st;
}

vt_status vt_mat_write(const char *path, int n_vars, const char *const *names, const vt_tensor *const *vars)
{
    quiet();
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    unlink(tmp);
    mat_t *mat = Mat_CreateVer(tmp, NULL, MAT_FT_MAT5);
    if (!mat) return vt_fail(VT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    vt_status st = VT_OK;
    for (int v = 0; v < n_vars && st == VT_OK; v++) {
        const vt_tensor *t = vars[v];
        if (t->dtype != VT_F64 || t->rank != 2) {
            st = vt_fail(VT_ERR_ARG, "%s: variable '%s' must be a float64 matrix", path, names[v]);
            break;
        }
        size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
        size_t count = rows * cols;
        double *col = vt_malloc(count ? count : 1, sizeof *col);
        if (!col) {
            st = VT_ERR_NOMEM;
            break;
        }
        const double *c = vt_tensor_f64(t);
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < cols; j++) col[i + rows * j] = c[i * cols + j];
        size_t dims[2] = {rows, cols};
        matvar_t *mv = Mat_VarCreate(names[v], MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, col, 0);
        if (!mv || Mat_VarWrite(mat, mv, MAT_COMPRESSION_NONE) != 0)
            st = vt_fail(VT_ERR_IO, "%s: cannot write variable '%s'", path, names[v]);
        if (mv) Mat_VarFree(mv);
        free(col);
    }
    Mat_Close(mat);
    if (st == VT_OK && rename(tmp, path) != 0)
        st = vt_fail(VT_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st) unlink(tmp);
    return st;
}
