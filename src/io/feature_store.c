/* HDF5 feature store (layout in features.h and docs/feature_store.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"
#include "ventral/features.h"

typedef struct layer_out {
    hid_t dset;
    int64_t width, rows_written;
    char dataset[16];
} layer_out;

struct vt_features_writer {
    vt_h5_out out;
    hid_t layers_group, rsm_group; /* rsm_group: created with the first RSM */
    int64_t n_stimuli;
    layer_out *layers;
    int n_layers, cap;
};

static vt_status attr_str(hid_t obj, const char *name, const char *value, const char *file)
{
    return vt_h5_attr_write_str(obj, name, value ? value : "", file);
}

static vt_status attr_f64(hid_t obj, const char *name, double value, const char *file)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, &value) : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return rc < 0 ? vt_fail(VT_ERR_IO, "%s: cannot write attribute '%s'", file, name) : VT_OK;
}

static bool attr_read_f64(hid_t obj, const char *name, double *out)
{
    if (H5Aexists(obj, name) <= 0) return false;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t rc = a >= 0 ? H5Aread(a, H5T_NATIVE_DOUBLE, out) : -1;
    if (a >= 0) H5Aclose(a);
    return rc >= 0;
}

vt_status vt_features_create(const char *path, int64_t n_stimuli, char *const *stimulus_ids,
                             const vt_features_provenance *prov, vt_features_writer **out)
{
    *out = NULL;
    if (n_stimuli < 1) return vt_fail(VT_ERR_ARG, "%s: a feature store needs at least one stimulus", path);
    vt_features_writer *w = vt_calloc(1, sizeof *w);
    if (!w) return VT_ERR_NOMEM;
    w->n_stimuli = n_stimuli;
    w->layers_group = w->rsm_group = H5I_INVALID_HID;
    vt_status st = vt_h5_create(&w->out, path);
    if (st != VT_OK) {
        free(w);
        return st;
    }
    hid_t f = w->out.file;
    st = vt_h5_write_strings(f, "stimulus_ids", stimulus_ids, n_stimuli, path);
    if (st == VT_OK) st = attr_str(f, "format", VT_FEATURES_FORMAT, path);
    if (st == VT_OK) st = vt_h5_attr_write_i64(f, "format_version", VT_FEATURES_FORMAT_VERSION, path);
    if (st == VT_OK) st = attr_str(f, "ventral_version", vt_version(), path);
    if (st == VT_OK && prov) {
        st = attr_str(f, "model", prov->model, path);
        if (st == VT_OK) st = attr_str(f, "model_sha256", prov->model_sha256, path);
        if (st == VT_OK) st = attr_str(f, "transform", prov->transform, path);
        if (st == VT_OK) st = attr_str(f, "stimuli", prov->stimuli, path);
        if (st == VT_OK) st = attr_str(f, "capture", prov->capture, path);
        if (st == VT_OK && prov->precision) st = attr_str(f, "precision", prov->precision, path);
        if (st == VT_OK) st = vt_h5_attr_write_i64(f, "seed", (int64_t)prov->seed, path);
        if (st == VT_OK) st = vt_h5_attr_write_i64(f, "k", prov->k, path);
        if (st == VT_OK) st = attr_f64(f, "eps", prov->eps, path);
    }
    if (st == VT_OK) {
        hid_t gcpl = vt_h5_group_plist();
        w->layers_group = H5Gcreate2(f, "layers", H5P_DEFAULT, gcpl, H5P_DEFAULT);
        H5Pclose(gcpl);
        if (w->layers_group < 0) st = vt_fail(VT_ERR_IO, "%s: cannot create group 'layers'", path);
    }
    if (st != VT_OK) {
        vt_features_abandon(w);
        return st;
    }
    *out = w;
    return VT_OK;
}

vt_status vt_features_add_layer(vt_features_writer *w, const vt_layer_info *layer, int64_t features, int64_t width,
                                bool projected, int *handle)
{
    const char *file = w->out.path;
    if (w->n_layers == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        layer_out *grown = realloc(w->layers, sizeof *grown * (size_t)cap);
        if (!grown) return vt_fail(VT_ERR_NOMEM, "%s: out of memory", file);
        w->layers = grown;
        w->cap = cap;
    }
    layer_out *L = &w->layers[w->n_layers];
    memset(L, 0, sizeof *L);
    L->width = width;
    snprintf(L->dataset, sizeof L->dataset, "L%04d", w->n_layers);
    /* Chunks of about 1 MB whole rows: batches of rows are written and whole layers read. */
    hsize_t dims[2] = {(hsize_t)w->n_stimuli, (hsize_t)width};
    hsize_t rows = (hsize_t)(262144 / (width > 0 ? width : 1));
    if (rows < 1) rows = 1;
    if (rows > dims[0]) rows = dims[0];
    hsize_t chunk[2] = {rows, dims[1] > 0 ? dims[1] : 1};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t dcpl = vt_h5_dataset_plist();
    if (width > 0) H5Pset_chunk(dcpl, 2, chunk);
    L->dset = H5Dcreate2(w->layers_group, L->dataset, H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (L->dset < 0) return vt_fail(VT_ERR_IO, "%s: cannot create dataset for layer '%s'", file, layer->name);
    char shape[256];
    size_t used = 0;
    shape[0] = '\0';
    for (int d = 0; d < layer->rank && used < sizeof shape; d++)
        used += (size_t)snprintf(shape + used, sizeof shape - used, d ? "x%lld" : "%lld", (long long)layer->shape[d]);
    vt_status st = attr_str(L->dset, "name", layer->name, file);
    if (st == VT_OK) st = attr_str(L->dset, "op", layer->op, file);
    if (st == VT_OK) st = attr_str(L->dset, "shape", shape, file);
    if (st == VT_OK) st = attr_str(L->dset, "model_dtype", layer->model_type ? layer->model_type : "float32", file);
    if (st == VT_OK) st = vt_h5_attr_write_i64(L->dset, "index", layer->index, file);
    if (st == VT_OK) st = vt_h5_attr_write_i64(L->dset, "features", features, file);
    if (st == VT_OK) st = vt_h5_attr_write_i64(L->dset, "projected", projected, file);
    if (st != VT_OK) {
        H5Dclose(L->dset);
        return st;
    }
    *handle = w->n_layers++;
    return VT_OK;
}

vt_status vt_features_write_rows(vt_features_writer *w, int handle, int64_t row0, const vt_tensor *rows)
{
    const char *file = w->out.path;
    if (handle < 0 || handle >= w->n_layers) return vt_fail(VT_ERR_ARG, "%s: no layer handle %d", file, handle);
    layer_out *L = &w->layers[handle];
    if (rows->dtype != VT_F32 || rows->rank != 2 || rows->shape[1] != L->width || row0 < 0 ||
        row0 + rows->shape[0] > w->n_stimuli)
        return vt_fail(VT_ERR_ARG, "%s: rows for %s do not fit (need float32 b x %lld within %lld stimuli)", file,
                       L->dataset, (long long)L->width, (long long)w->n_stimuli);
    if (rows->shape[0] == 0 || L->width == 0) return VT_OK;
    hsize_t start[2] = {(hsize_t)row0, 0}, count[2] = {(hsize_t)rows->shape[0], (hsize_t)L->width};
    hid_t fspace = H5Dget_space(L->dset);
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mspace = H5Screate_simple(2, count, NULL);
    herr_t rc = H5Dwrite(L->dset, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, rows->data);
    H5Sclose(mspace);
    H5Sclose(fspace);
    if (rc < 0) return vt_fail(VT_ERR_IO, "%s: writing rows of %s failed (disk full?)", file, L->dataset);
    L->rows_written += rows->shape[0];
    return VT_OK;
}

vt_status vt_features_write_rsm(vt_features_writer *w, int handle, const vt_tensor *rsm)
{
    const char *file = w->out.path;
    if (handle < 0 || handle >= w->n_layers) return vt_fail(VT_ERR_ARG, "%s: no layer handle %d", file, handle);
    const char *dataset = w->layers[handle].dataset;
    int64_t n = w->n_stimuli;
    if ((rsm->dtype != VT_F32 && rsm->dtype != VT_F64) || rsm->rank != 2 || rsm->shape[0] != n || rsm->shape[1] != n)
        return vt_fail(VT_ERR_ARG, "%s: the RSM of %s must be a float %lld x %lld matrix", file, dataset, (long long)n,
                       (long long)n);
    if (w->rsm_group < 0) {
        hid_t gcpl = vt_h5_group_plist();
        w->rsm_group = H5Gcreate2(w->out.file, "rsm", H5P_DEFAULT, gcpl, H5P_DEFAULT);
        H5Pclose(gcpl);
        if (w->rsm_group < 0) return vt_fail(VT_ERR_IO, "%s: cannot create group 'rsm'", file);
        vt_status st = vt_h5_attr_write_i64(w->out.file, "unprojected_rsm", 1, file);
        if (st != VT_OK) return st;
    }
    if (H5Lexists(w->rsm_group, dataset, H5P_DEFAULT) > 0)
        return vt_fail(VT_ERR_ARG, "%s: the RSM of %s was already written", file, dataset);
    /* Stored as float64: cRSA correlates RSM triangles, and in a layer whose correlations all lie
     * close together float32 rounding (3e-8) is not small against their spread. */
    const vt_tensor *r64 = rsm;
    vt_tensor *converted = NULL;
    if (rsm->dtype != VT_F64) {
        if (vt_tensor_convert(rsm, VT_F64, &converted) != VT_OK) return VT_ERR_NOMEM;
        r64 = converted;
    }
    int64_t shape[2] = {n, n};
    vt_status st = vt_h5_write(w->rsm_group, dataset, VT_F64, 2, shape, r64->data, NULL, -1, file);
    vt_tensor_free(converted);
    if (st != VT_OK) return vt_fail_context(st, "RSM of %s: ", dataset);
    hid_t d = H5Dopen2(w->rsm_group, dataset, H5P_DEFAULT);
    if (d < 0) return vt_fail(VT_ERR_IO, "%s: cannot reopen rsm/%s", file, dataset);
    st = attr_str(d, "metric", "pearson", file);
    if (st == VT_OK) st = attr_str(d, "features", "unprojected", file);
    if (st == VT_OK) st = attr_str(d, "layer", w->layers[handle].dataset, file);
    H5Dclose(d);
    return st;
}

int vt_features_layer_count(const vt_features_writer *w)
{
    return w->n_layers;
}

static void close_layers(vt_features_writer *w)
{
    for (int i = 0; i < w->n_layers; i++)
        if (w->layers[i].dset >= 0) H5Dclose(w->layers[i].dset);
    free(w->layers);
    w->layers = NULL;
    w->n_layers = 0;
    if (w->layers_group >= 0) H5Gclose(w->layers_group);
    if (w->rsm_group >= 0) H5Gclose(w->rsm_group);
    w->layers_group = w->rsm_group = H5I_INVALID_HID;
}

vt_status vt_features_commit(vt_features_writer *w)
{
    vt_status st = VT_OK;
    for (int i = 0; i < w->n_layers && st == VT_OK; i++)
        if (w->layers[i].rows_written != w->n_stimuli)
            st = vt_fail(VT_ERR_INTERNAL, "%s: layer %s got %lld of %lld rows", w->out.path, w->layers[i].dataset,
                         (long long)w->layers[i].rows_written, (long long)w->n_stimuli);
    if (st == VT_OK && w->n_layers == 0) st = vt_fail(VT_ERR_ARG, "%s: no layer was captured", w->out.path);
    close_layers(w);
    if (st == VT_OK)
        st = vt_h5_commit(&w->out);
    else
        vt_h5_abandon(&w->out);
    free(w);
    return st;
}

void vt_features_abandon(vt_features_writer *w)
{
    if (!w) return;
    close_layers(w);
    vt_h5_abandon(&w->out);
    free(w);
}

/* ---- reading ---- */

void vt_features_free(vt_features *f)
{
    if (!f) return;
    for (int i = 0; i < f->n_layers; i++) {
        free(f->layers[i].name);
        free(f->layers[i].op);
        free(f->layers[i].shape);
    }
    free(f->layers);
    vt_strings_free(f->stimulus_ids, f->n_stimuli);
    free(f->path);
    free(f->model);
    free(f->model_sha256);
    free(f->transform);
    free(f->stimuli);
    free(f->capture);
    free(f->ventral_version);
    free(f);
}

static vt_status read_layer_meta(hid_t group, const char *dataset, const char *path, int64_t n, vt_feature_layer *L)
{
    snprintf(L->dataset, sizeof L->dataset, "%s", dataset);
    hid_t d = H5Dopen2(group, dataset, H5P_DEFAULT);
    if (d < 0) return vt_fail(VT_ERR_FORMAT, "%s: cannot open layers/%s", path, dataset);
    hid_t space = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank == 2) H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    int64_t index = -1, projected = 0;
    vt_status st = VT_OK;
    if (rank != 2 || (int64_t)dims[0] != n)
        st = vt_fail(VT_ERR_FORMAT, "%s: layers/%s is not a %lld-row matrix", path, dataset, (long long)n);
    if (st == VT_OK) st = vt_h5_attr_read_str(d, "name", path, &L->name);
    if (st == VT_OK) st = vt_h5_attr_read_str(d, "op", path, &L->op);
    if (st == VT_OK) st = vt_h5_attr_read_str(d, "shape", path, &L->shape);
    if (st == VT_OK && (!L->name || !L->op || !vt_h5_attr_read_i64(d, "index", &index) ||
                        !vt_h5_attr_read_i64(d, "features", &L->features)))
        st = vt_fail(VT_ERR_FORMAT, "%s: layers/%s lacks its name/op/index/features attributes", path, dataset);
    vt_h5_attr_read_i64(d, "projected", &projected);
    L->index = (int)index;
    L->width = (int64_t)dims[1];
    L->projected = projected != 0;
    H5Dclose(d);
    return st;
}

static herr_t collect_name(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    (void)group;
    (void)info;
    vt_features *f = data;
    vt_feature_layer *grown = realloc(f->layers, sizeof *grown * (size_t)(f->n_layers + 1));
    if (!grown) return -1;
    f->layers = grown;
    memset(&f->layers[f->n_layers], 0, sizeof *grown);
    snprintf(f->layers[f->n_layers].dataset, sizeof grown->dataset, "%s", name);
    f->n_layers++;
    return 0;
}

vt_status vt_features_open(const char *path, vt_features **out)
{
    *out = NULL;
    hid_t file;
    vt_status st = vt_h5_open(path, &file);
    if (st != VT_OK) return st;
    vt_features *f = vt_calloc(1, sizeof *f);
    if (!f) {
        H5Fclose(file);
        return VT_ERR_NOMEM;
    }
    f->path = strdup(path);
    char *format = NULL;
    int64_t version = 0, seed = 0;
    st = vt_h5_attr_read_str(file, "format", path, &format);
    if (st == VT_OK && (!format || strcmp(format, VT_FEATURES_FORMAT) != 0))
        st = vt_fail(VT_ERR_FORMAT, "%s: not a ventral feature store (format attribute '%s')", path,
                     format ? format : "missing");
    free(format);
    if (st == VT_OK && (!vt_h5_attr_read_i64(file, "format_version", &version) || version > VT_FEATURES_FORMAT_VERSION))
        st = vt_fail(VT_ERR_UNSUPPORTED, "%s: feature store version %lld is newer than this ventral reads", path,
                     (long long)version);
    if (st == VT_OK) st = vt_h5_read_strings(file, "stimulus_ids", path, &f->stimulus_ids, &f->n_stimuli);
    if (st == VT_OK) {
        vt_h5_attr_read_str(file, "model", path, &f->model);
        vt_h5_attr_read_str(file, "model_sha256", path, &f->model_sha256);
        vt_h5_attr_read_str(file, "transform", path, &f->transform);
        vt_h5_attr_read_str(file, "stimuli", path, &f->stimuli);
        vt_h5_attr_read_str(file, "capture", path, &f->capture);
        vt_h5_attr_read_str(file, "ventral_version", path, &f->ventral_version);
        vt_h5_attr_read_i64(file, "seed", &seed);
        vt_h5_attr_read_i64(file, "k", &f->k);
        attr_read_f64(file, "eps", &f->eps);
        f->seed = (uint64_t)seed;
    }
    hid_t group = H5I_INVALID_HID;
    if (st == VT_OK) {
        group = H5Gopen2(file, "layers", H5P_DEFAULT);
        if (group < 0) st = vt_fail(VT_ERR_FORMAT, "%s: missing group 'layers'", path);
    }
    /* Dataset names are zero-padded, so name order is capture order. */
    if (st == VT_OK && H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, f) < 0)
        st = vt_fail(VT_ERR_FORMAT, "%s: cannot list layers", path);
    for (int i = 0; st == VT_OK && i < f->n_layers; i++) {
        char name[16];
        memcpy(name, f->layers[i].dataset, sizeof name);
        st = read_layer_meta(group, name, path, f->n_stimuli, &f->layers[i]);
    }
    if (group >= 0) H5Gclose(group);
    /* Optional: RSMs of the unprojected features (extract --unprojected-rsm). */
    if (st == VT_OK && H5Lexists(file, "rsm", H5P_DEFAULT) > 0) {
        hid_t rsm = H5Gopen2(file, "rsm", H5P_DEFAULT);
        if (rsm < 0) st = vt_fail(VT_ERR_FORMAT, "%s: cannot open group 'rsm'", path);
        for (int i = 0; st == VT_OK && i < f->n_layers; i++)
            f->layers[i].has_rsm = H5Lexists(rsm, f->layers[i].dataset, H5P_DEFAULT) > 0;
        if (rsm >= 0) H5Gclose(rsm);
    }
    H5Fclose(file);
    if (st != VT_OK) {
        vt_features_free(f);
        return st;
    }
    *out = f;
    return VT_OK;
}

vt_status vt_features_read_layer(const vt_features *f, int i, vt_tensor **out)
{
    *out = NULL;
    if (i < 0 || i >= f->n_layers) return vt_fail(VT_ERR_ARG, "%s: no layer %d", f->path, i);
    hid_t file;
    vt_status st = vt_h5_open(f->path, &file);
    if (st != VT_OK) return st;
    char name[32];
    snprintf(name, sizeof name, "layers/%s", f->layers[i].dataset);
    st = vt_h5_read(file, name, VT_F32, f->path, out);
    H5Fclose(file);
    return st;
}

vt_status vt_features_read_rsm(const vt_features *f, int i, vt_tensor **out)
{
    *out = NULL;
    if (i < 0 || i >= f->n_layers) return vt_fail(VT_ERR_ARG, "%s: no layer %d", f->path, i);
    if (!f->layers[i].has_rsm)
        return vt_fail(VT_ERR_ARG,
                       "%s: layer '%s' has no RSM of its unprojected features (extract with --unprojected-rsm)",
                       f->path, f->layers[i].name);
    hid_t file;
    vt_status st = vt_h5_open(f->path, &file);
    if (st != VT_OK) return st;
    char name[32];
    snprintf(name, sizeof name, "rsm/%s", f->layers[i].dataset);
    st = vt_h5_read(file, name, VT_F64, f->path, out);
    H5Fclose(file);
    if (st == VT_OK && ((*out)->rank != 2 || (*out)->shape[0] != f->n_stimuli || (*out)->shape[1] != f->n_stimuli)) {
        vt_tensor_free(*out);
        *out = NULL;
        st = vt_fail(VT_ERR_FORMAT, "%s: %s is not a %lld x %lld matrix", f->path, name, (long long)f->n_stimuli,
                     (long long)f->n_stimuli);
    }
    return st;
}
