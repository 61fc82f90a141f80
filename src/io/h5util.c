/* HDF5 helpers: quiet error handling, atomic files, numeric and string datasets, attributes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"

void vt_h5_quiet(void)
{
    /* HDF5 prints its error stack to stderr by default; the library must not print. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* The innermost HDF5 error description, for messages ("" when none). */
static herr_t walk_first(unsigned n, const H5E_error2_t *err, void *data)
{
    char *buf = data;
    if (n == 0 && err->desc) snprintf(buf, 160, "%s", err->desc);
    return 0;
}
static const char *h5_reason(char buf[160])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_first, buf);
    return buf;
}

vt_status vt_h5_create(vt_h5_out *o, const char *path)
{
    vt_h5_quiet();
    memset(o, 0, sizeof *o);
    o->file = H5I_INVALID_HID;
    if (vt_check_output_path(path) != VT_OK) return VT_ERR_IO;
    size_t n = strlen(path) + 32;
    o->path = strdup(path);
    o->tmp_path = vt_malloc(n, 1);
    if (!o->path || !o->tmp_path) {
        vt_h5_abandon(o);
        return vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(o->tmp_path, n, "%s.tmp-%ld", path, (long)getpid());
    o->file = H5Fcreate(o->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (o->file < 0) {
        vt_status st = vt_fail(VT_ERR_IO, "%s: cannot create HDF5 file: %s", path, strerror(errno));
        vt_h5_abandon(o);
        return st;
    }
    return VT_OK;
}

vt_status vt_h5_commit(vt_h5_out *o)
{
    vt_status st = VT_OK;
    if (H5Fclose(o->file) < 0) st = vt_fail(VT_ERR_IO, "%s: HDF5 close failed", o->path);
    o->file = H5I_INVALID_HID;
    if (st == VT_OK && rename(o->tmp_path, o->path) != 0)
        st = vt_fail(VT_ERR_IO, "%s: cannot rename into place: %s", o->path, strerror(errno));
    if (st != VT_OK) {
        vt_h5_abandon(o);
        return st;
    }
    free(o->path);
    free(o->tmp_path);
    o->path = o->tmp_path = NULL;
    return VT_OK;
}

void vt_h5_abandon(vt_h5_out *o)
{
    if (o->file >= 0) H5Fclose(o->file);
    if (o->tmp_path) unlink(o->tmp_path);
    free(o->path);
    free(o->tmp_path);
    memset(o, 0, sizeof *o);
    o->file = H5I_INVALID_HID;
}

vt_status vt_h5_open(const char *path, hid_t *file)
{
    vt_h5_quiet();
    struct stat sb;
    if (stat(path, &sb) != 0) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0) {
        char why[160];
        h5_reason(why);
        return vt_fail(VT_ERR_FORMAT, "%s: not a readable HDF5 file (truncated or corrupt?)%s%s", path,
                       why[0] ? ": " : "", why);
    }
    return VT_OK;
}

bool vt_h5_exists(hid_t loc, const char *name)
{
    const char *slash = strchr(name, '/');
    if (slash) {
        char group[256];
        size_t n = (size_t)(slash - name);
        if (n >= sizeof group) return false;
        memcpy(group, name, n);
        group[n] = '\0';
        if (H5Lexists(loc, group, H5P_DEFAULT) <= 0) return false;
    }
    return H5Lexists(loc, name, H5P_DEFAULT) > 0;
}

hid_t vt_h5_type_of(vt_dtype dtype)
{
    switch (dtype) {
    case VT_BOOL:
    case VT_U8: return H5T_NATIVE_UINT8;
    case VT_I8: return H5T_NATIVE_INT8;
    case VT_I16: return H5T_NATIVE_INT16;
    case VT_I32: return H5T_NATIVE_INT32;
    case VT_I64: return H5T_NATIVE_INT64;
    case VT_U16: return H5T_NATIVE_UINT16;
    case VT_U32: return H5T_NATIVE_UINT32;
    case VT_U64: return H5T_NATIVE_UINT64;
    case VT_F32: return H5T_NATIVE_FLOAT;
    case VT_F64: return H5T_NATIVE_DOUBLE;
    default: return H5I_INVALID_HID;
    }
}

hid_t vt_h5_dataset_plist(void)
{
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (p >= 0) H5Pset_obj_track_times(p, 0);
    return p;
}

hid_t vt_h5_group_plist(void)
{
    hid_t p = H5Pcreate(H5P_GROUP_CREATE);
    if (p >= 0) H5Pset_obj_track_times(p, 0);
    return p;
}

vt_status vt_h5_write(hid_t loc, const char *name, vt_dtype dtype, int rank, const int64_t *shape, const void *data,
                      const int64_t *chunk, int gzip, const char *file)
{
    hsize_t dims[VT_MAX_RANK] = {0}, cdims[VT_MAX_RANK] = {0};
    for (int d = 0; d < rank; d++) dims[d] = (hsize_t)shape[d];
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = vt_h5_dataset_plist();
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (chunk) {
        for (int d = 0; d < rank; d++) cdims[d] = (hsize_t)(chunk[d] > 0 ? chunk[d] : 1);
        H5Pset_chunk(dcpl, rank, cdims);
        if (gzip >= 0) H5Pset_deflate(dcpl, (unsigned)gzip);
    }
    hid_t type = vt_h5_type_of(dtype);
    hid_t ds = H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(space);
    if (rc < 0) return vt_fail(VT_ERR_IO, "%s: cannot write dataset '%s'", file, name);
    return VT_OK;
}

static vt_status open_dataset(hid_t loc, const char *name, const char *file, hid_t *ds)
{
    if (!vt_h5_exists(loc, name)) return vt_fail(VT_ERR_FORMAT, "%s: missing dataset '%s'", file, name);
    *ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (*ds < 0) return vt_fail(VT_ERR_FORMAT, "%s: '%s' is not a readable dataset", file, name);
    return VT_OK;
}

vt_status vt_h5_shape(hid_t loc, const char *name, const char *file, int *rank, int64_t *shape)
{
    hid_t ds;
    vt_status st = open_dataset(loc, name, file, &ds);
    if (st != VT_OK) return st;
    hid_t space = H5Dget_space(ds);
    int r = H5Sget_simple_extent_ndims(space);
    hsize_t dims[32] = {0};
    if (r < 0 || r > VT_MAX_RANK)
        st = vt_fail(VT_ERR_FORMAT, "%s: dataset '%s' has unsupported rank %d", file, name, r);
    else {
        H5Sget_simple_extent_dims(space, dims, NULL);
        *rank = r;
        for (int d = 0; d < r; d++) shape[d] = (int64_t)dims[d];
    }
    H5Sclose(space);
    H5Dclose(ds);
    return st;
}

vt_status vt_h5_read(hid_t loc, const char *name, vt_dtype dtype, const char *file, vt_tensor **out)
{
    *out = NULL;
    hid_t ds;
    vt_status st = open_dataset(loc, name, file, &ds);
    if (st != VT_OK) return st;
    hid_t ftype = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(ftype);
    H5Tclose(ftype);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        H5Dclose(ds);
        return vt_fail(VT_ERR_FORMAT, "%s: dataset '%s' is not numeric", file, name);
    }
    hid_t space = H5Dget_space(ds);
    int r = H5Sget_simple_extent_ndims(space);
    hsize_t dims[32] = {0};
    int64_t shape[VT_MAX_RANK];
    if (r < 0 || r > VT_MAX_RANK)
        st = vt_fail(VT_ERR_FORMAT, "%s: dataset '%s' has unsupported rank %d", file, name, r);
    else {
        H5Sget_simple_extent_dims(space, dims, NULL);
        for (int d = 0; d < r; d++) shape[d] = (int64_t)dims[d];
        vt_tensor *t = vt_tensor_new_uninit(dtype, r, shape);
        if (!t)
            st = vt_fail_context(VT_ERR_NOMEM, "%s: dataset '%s': ", file, name);
        else if (vt_tensor_numel(t) > 0 &&
                 H5Dread(ds, vt_h5_type_of(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0) {
            char why[160];
            h5_reason(why);
            st = vt_fail(VT_ERR_FORMAT, "%s: cannot read dataset '%s' (truncated file?)%s%s", file, name,
                         why[0] ? ": " : "", why);
            vt_tensor_free(t);
        } else
            *out = t;
    }
    H5Sclose(space);
    H5Dclose(ds);
    return st;
}

vt_status vt_h5_write_strings(hid_t loc, const char *name, char *const *s, int64_t n, const char *file)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = vt_h5_dataset_plist();
    hid_t ds = H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : (n > 0 ? H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) : 0);
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(space);
    H5Tclose(type);
    if (rc < 0) return vt_fail(VT_ERR_IO, "%s: cannot write string dataset '%s'", file, name);
    return VT_OK;
}

void vt_strings_free(char **s, int64_t n)
{
    if (!s) return;
    for (int64_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

vt_status vt_h5_read_strings(hid_t loc, const char *name, const char *file, char ***out, int64_t *n)
{
    *out = NULL;
    *n = 0;
    hid_t ds;
    vt_status st = open_dataset(loc, name, file, &ds);
    if (st != VT_OK) return st;
    hid_t ftype = H5Dget_type(ds), space = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[32] = {0};
    if (rank >= 0) H5Sget_simple_extent_dims(space, dims, NULL);
    if (H5Tget_class(ftype) != H5T_STRING)
        st = vt_fail(VT_ERR_FORMAT, "%s: dataset '%s' is not a string dataset", file, name);
    else if (rank != 1)
        st = vt_fail(VT_ERR_FORMAT, "%s: string dataset '%s' has rank %d, expected 1", file, name, rank);
    char **res = NULL;
    int64_t count = (int64_t)dims[0];
    if (st == VT_OK) {
        res = vt_calloc((size_t)(count ? count : 1), sizeof *res);
        if (!res) st = VT_ERR_NOMEM;
    }
    if (st == VT_OK && count > 0) {
        if (H5Tis_variable_str(ftype) > 0) {
            hid_t mtype = H5Tcopy(H5T_C_S1);
            H5Tset_size(mtype, H5T_VARIABLE);
            H5Tset_cset(mtype, H5Tget_cset(ftype));
            char **raw = vt_calloc((size_t)count, sizeof *raw);
            if (!raw)
                st = VT_ERR_NOMEM;
            else if (H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0)
                st = vt_fail(VT_ERR_FORMAT, "%s: cannot read string dataset '%s' (truncated file?)", file, name);
            else {
                for (int64_t i = 0; i < count && st == VT_OK; i++)
                    if (!(res[i] = strdup(raw[i] ? raw[i] : ""))) st = vt_fail(VT_ERR_NOMEM, "out of memory");
                H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, raw);
            }
            free(raw);
            H5Tclose(mtype);
        } else {
            size_t width = H5Tget_size(ftype);
            hid_t mtype = H5Tcopy(H5T_C_S1);
            H5Tset_size(mtype, width + 1); /* room for the terminator HDF5 adds */
            H5Tset_strpad(mtype, H5T_STR_NULLTERM);
            char *buf = vt_calloc((size_t)count, width + 1);
            if (!buf)
                st = VT_ERR_NOMEM;
            else if (H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
                st = vt_fail(VT_ERR_FORMAT, "%s: cannot read string dataset '%s' (truncated file?)", file, name);
            else
                for (int64_t i = 0; i < count && st == VT_OK; i++) {
                    char *s = buf + (size_t)i * (width + 1);
                    size_t len = strnlen(s, width);
                    while (len > 0 && s[len - 1] == ' ') len--; /* space-padded (MATLAB/Fortran style) */
                    if (!(res[i] = strndup(s, len))) st = vt_fail(VT_ERR_NOMEM, "out of memory");
                }
            free(buf);
            H5Tclose(mtype);
        }
    }
    H5Tclose(ftype);
    H5Sclose(space);
    H5Dclose(ds);
    if (st == VT_ERR_NOMEM) vt_fail(VT_ERR_NOMEM, "%s: out of memory reading '%s'", file, name);
    if (st != VT_OK) {
        vt_strings_free(res, count);
        return st;
    }
    *out = res;
    *n = count;
    return VT_OK;
}

vt_status vt_h5_attr_write_str(hid_t obj, const char *name, const char *value, const char *file)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, type, &value);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    if (rc < 0) return vt_fail(VT_ERR_IO, "%s: cannot write attribute '%s'", file, name);
    return VT_OK;
}

vt_status vt_h5_attr_write_i64(hid_t obj, const char *name, int64_t value, const char *file)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT64, &value);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    if (rc < 0) return vt_fail(VT_ERR_IO, "%s: cannot write attribute '%s'", file, name);
    return VT_OK;
}

vt_status vt_h5_attr_read_str(hid_t obj, const char *name, const char *file, char **out)
{
    *out = NULL;
    if (H5Aexists(obj, name) <= 0) return VT_OK;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ftype = H5Aget_type(a);
    vt_status st = VT_OK;
    if (H5Tget_class(ftype) != H5T_STRING)
        st = vt_fail(VT_ERR_FORMAT, "%s: attribute '%s' is not a string", file, name);
    else if (H5Tis_variable_str(ftype) > 0) {
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        char *v = NULL;
        if (H5Aread(a, mtype, &v) < 0)
            st = vt_fail(VT_ERR_FORMAT, "%s: cannot read attribute '%s'", file, name);
        else {
            *out = strdup(v ? v : "");
            hid_t space = H5Screate(H5S_SCALAR);
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, &v);
            H5Sclose(space);
        }
        H5Tclose(mtype);
    } else {
        size_t width = H5Tget_size(ftype);
        char *buf = vt_calloc(width + 1, 1);
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, width + 1);
        if (!buf || H5Aread(a, mtype, buf) < 0)
            st = vt_fail(VT_ERR_FORMAT, "%s: cannot read attribute '%s'", file, name);
        else
            *out = strdup(buf);
        free(buf);
        H5Tclose(mtype);
    }
    H5Tclose(ftype);
    H5Aclose(a);
    if (st == VT_OK && !*out) st = vt_fail(VT_ERR_NOMEM, "out of memory");
    return st;
}

bool vt_h5_attr_read_i64(hid_t obj, const char *name, int64_t *out)
{
    if (H5Aexists(obj, name) <= 0) return false;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ftype = H5Aget_type(a);
    bool ok = H5Tget_class(ftype) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_INT64, out) >= 0;
    H5Tclose(ftype);
    H5Aclose(a);
    return ok;
}
