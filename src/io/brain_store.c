/* The brain-data store (docs/brain_store.md): in-memory form, validation, HDF5 read/write. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"
#include "ventral/brain.h"

vt_brain *vt_brain_new(int64_t n_stimuli, int64_t n_reps, int64_t n_units)
{
    if (n_stimuli < 1 || n_reps < 1 || n_units < 1) {
        vt_fail(VT_ERR_ARG, "a brain store needs at least one stimulus, repetition and unit (got %lld x %lld x %lld)",
                (long long)n_stimuli, (long long)n_reps, (long long)n_units);
        return NULL;
    }
    vt_brain *b = vt_calloc(1, sizeof *b);
    if (!b) return NULL;
    int64_t shape[3] = {n_stimuli, n_reps, n_units};
    b->responses = vt_tensor_new_uninit(VT_F32, 3, shape);
    b->stimulus_ids = vt_calloc((size_t)n_stimuli, sizeof *b->stimulus_ids);
    if (!b->responses || !b->stimulus_ids) {
        vt_brain_free(b);
        return NULL;
    }
    b->n_stimuli = n_stimuli, b->n_reps = n_reps, b->n_units = n_units;
    float *r = vt_tensor_f32(b->responses);
    for (int64_t i = 0, n = vt_tensor_numel(b->responses); i < n; i++) r[i] = NAN;
    return b;
}

void vt_brain_free(vt_brain *b)
{
    if (!b) return;
    vt_tensor_free(b->responses);
    vt_tensor_free(b->maps);
    vt_strings_free(b->stimulus_ids, b->n_stimuli);
    vt_strings_free(b->unit_ids, b->n_units);
    vt_strings_free(b->unit_rois, b->n_units);
    for (int m = 0; m < b->n_meta; m++) {
        free(b->meta_names[m]);
        vt_strings_free(b->meta[m], b->n_stimuli);
    }
    free(b->unit_ijk);
    free(b->unit_ncsnr);
    free(b->subject);
    free(b->source);
    free(b->provenance);
    free(b);
}

vt_status vt_brain_add_meta(vt_brain *b, const char *name, char **values)
{
    if (b->n_meta == VT_BRAIN_MAX_META || strchr(name, '/') || !*name) {
        vt_strings_free(values, b->n_stimuli);
        return vt_fail(VT_ERR_ARG, "cannot add stimulus metadata '%s' (bad name or more than %d columns)", name,
                       VT_BRAIN_MAX_META);
    }
    if (!(b->meta_names[b->n_meta] = strdup(name))) {
        vt_strings_free(values, b->n_stimuli);
        return vt_fail(VT_ERR_NOMEM, "out of memory");
    }
    b->meta[b->n_meta++] = values;
    return VT_OK;
}

char **vt_brain_meta(const vt_brain *b, const char *name)
{
    for (int m = 0; m < b->n_meta; m++)
        if (strcmp(b->meta_names[m], name) == 0) return b->meta[m];
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

vt_status vt_brain_validate(const vt_brain *b)
{
    const vt_tensor *r = b->responses;
    if (!r || r->dtype != VT_F32 || r->rank != 3 || r->shape[0] != b->n_stimuli || r->shape[1] != b->n_reps ||
        r->shape[2] != b->n_units)
        return vt_fail(VT_ERR_ARG, "brain store: responses must be float32 %lld x %lld x %lld", (long long)b->n_stimuli,
                       (long long)b->n_reps, (long long)b->n_units);
    const float *x = vt_tensor_f32(r);
    for (int64_t i = 0, n = vt_tensor_numel(r); i < n; i++)
        if (isinf(x[i])) return vt_fail(VT_ERR_ARG, "brain store: response %lld is infinite", (long long)i);
    for (int64_t s = 0; s < b->n_stimuli; s++)
        if (!b->stimulus_ids[s] || !*b->stimulus_ids[s])
            return vt_fail(VT_ERR_ARG, "brain store: stimulus %lld has no id", (long long)s);
    char **sorted = vt_malloc((size_t)b->n_stimuli, sizeof *sorted);
    if (!sorted) return VT_ERR_NOMEM;
    memcpy(sorted, b->stimulus_ids, sizeof *sorted * (size_t)b->n_stimuli);
    qsort(sorted, (size_t)b->n_stimuli, sizeof *sorted, cmp_str);
    vt_status st = VT_OK;
    for (int64_t s = 1; s < b->n_stimuli && st == VT_OK; s++)
        if (strcmp(sorted[s - 1], sorted[s]) == 0)
            st = vt_fail(VT_ERR_ARG, "brain store: stimulus id '%s' appears more than once", sorted[s]);
    free(sorted);
    if (st != VT_OK) return st;
    for (int m = 0; m < b->n_meta; m++)
        for (int64_t s = 0; s < b->n_stimuli; s++)
            if (!b->meta[m][s])
                return vt_fail(VT_ERR_ARG, "brain store: metadata '%s' unset for stimulus %lld", b->meta_names[m],
                               (long long)s);
    if (b->maps) {
        const vt_tensor *m = b->maps;
        if (m->dtype != VT_F32 || m->rank != 5 || m->shape[0] != b->n_stimuli || m->shape[1] != b->n_reps ||
            m->shape[2] != b->n_units)
            return vt_fail(VT_ERR_ARG, "brain store: maps must be float32 %lld x %lld x %lld x H x W",
                           (long long)b->n_stimuli, (long long)b->n_reps, (long long)b->n_units);
    }
    return VT_OK;
}

void vt_brain_trial_counts(const vt_brain *b, int32_t *counts)
{
    const float *x = vt_tensor_f32(b->responses);
    for (int64_t s = 0; s < b->n_stimuli; s++) {
        int32_t c = 0;
        for (int64_t k = 0; k < b->n_reps; k++) {
            const float *row = x + (s * b->n_reps + k) * b->n_units;
            for (int64_t u = 0; u < b->n_units; u++)
                if (!isnan(row[u])) {
                    c++;
                    break;
                }
        }
        counts[s] = c;
    }
}

static char **default_unit_ids(int64_t n)
{
    char **ids = vt_calloc((size_t)n, sizeof *ids);
    if (!ids) return NULL;
    for (int64_t u = 0; u < n; u++) {
        char buf[32];
        snprintf(buf, sizeof buf, "u%lld", (long long)u);
        if (!(ids[u] = strdup(buf))) {
            vt_strings_free(ids, n);
            return NULL;
        }
    }
    return ids;
}

static vt_status write_all(hid_t f, const vt_brain *b, const char *path)
{
    vt_status st;
    /* Chunks of one stimulus keep reading a subset of stimuli cheap without hurting whole reads. */
    int64_t chunk[3] = {1, b->n_reps, b->n_units};
    if ((st = vt_h5_write(f, "responses", VT_F32, 3, b->responses->shape, b->responses->data, chunk, -1, path)))
        return st;
    if ((st = vt_h5_write_strings(f, "stimulus_ids", b->stimulus_ids, b->n_stimuli, path))) return st;
    char **ids = b->unit_ids ? b->unit_ids : default_unit_ids(b->n_units);
    if (!ids) return vt_fail(VT_ERR_NOMEM, "out of memory");
    st = vt_h5_write_strings(f, "units/id", ids, b->n_units, path);
    if (ids != b->unit_ids) vt_strings_free(ids, b->n_units);
    if (st) return st;
    if (b->unit_rois && (st = vt_h5_write_strings(f, "units/roi", b->unit_rois, b->n_units, path))) return st;
    int64_t s3[2] = {b->n_units, 3};
    if (b->unit_ijk && (st = vt_h5_write(f, "units/ijk", VT_I32, 2, s3, b->unit_ijk, NULL, -1, path))) return st;
    if (b->unit_ncsnr && (st = vt_h5_write(f, "units/ncsnr", VT_F32, 1, &b->n_units, b->unit_ncsnr, NULL, -1, path)))
        return st;
    for (int m = 0; m < b->n_meta; m++) {
        char name[300];
        snprintf(name, sizeof name, "stimuli/%s", b->meta_names[m]);
        if ((st = vt_h5_write_strings(f, name, b->meta[m], b->n_stimuli, path))) return st;
    }
    if (b->maps) {
        int64_t mchunk[5] = {1, 1, 1, b->maps->shape[3], b->maps->shape[4]};
        if ((st = vt_h5_write(f, "maps", VT_F32, 5, b->maps->shape, b->maps->data, mchunk, -1, path))) return st;
    }
    if ((st = vt_h5_attr_write_str(f, "format", VT_BRAIN_FORMAT, path))) return st;
    if ((st = vt_h5_attr_write_i64(f, "format_version", VT_BRAIN_FORMAT_VERSION, path))) return st;
    if ((st = vt_h5_attr_write_str(f, "created_by", "ventral " VENTRAL_VERSION, path))) return st;
    if (b->subject && (st = vt_h5_attr_write_str(f, "subject", b->subject, path))) return st;
    if (b->source && (st = vt_h5_attr_write_str(f, "source", b->source, path))) return st;
    if (b->provenance && (st = vt_h5_attr_write_str(f, "provenance", b->provenance, path))) return st;
    return VT_OK;
}

vt_status vt_brain_write(const char *path, const vt_brain *b)
{
    vt_status st = vt_brain_validate(b);
    if (st != VT_OK) return vt_fail_context(st, "%s: ", path);
    vt_h5_out o;
    if ((st = vt_h5_create(&o, path))) return st;
    if ((st = write_all(o.file, b, path))) {
        vt_h5_abandon(&o);
        return st;
    }
    return vt_h5_commit(&o);
}

/* Reads an optional 1-d string dataset of length n; absent is fine, a wrong length is not. */
static vt_status read_opt_strings(hid_t f, const char *name, const char *path, int64_t n, char ***out)
{
    *out = NULL;
    if (!vt_h5_exists(f, name)) return VT_OK;
    int64_t got;
    vt_status st = vt_h5_read_strings(f, name, path, out, &got);
    if (st) return st;
    if (got != n) {
        vt_strings_free(*out, got);
        *out = NULL;
        return vt_fail(VT_ERR_FORMAT, "%s: dataset '%s' has %lld entries, expected %lld", path, name, (long long)got,
                       (long long)n);
    }
    return VT_OK;
}

static herr_t collect_names(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g, (void)info;
    char ***list = data;
    int n = 0;
    while ((*list)[n]) n++;
    if (n < VT_BRAIN_MAX_META) (*list)[n] = strdup(name);
    return 0;
}

static vt_status read_all(hid_t f, const char *path, vt_brain **out)
{
    vt_status st;
    char *format = NULL;
    if ((st = vt_h5_attr_read_str(f, "format", path, &format))) return st;
    bool ok = format && strcmp(format, VT_BRAIN_FORMAT) == 0;
    free(format);
    if (!ok)
        return vt_fail(VT_ERR_FORMAT, "%s: not a ventral brain store (attribute 'format' is not '%s')", path,
                       VT_BRAIN_FORMAT);
    int64_t version = 0;
    if (!vt_h5_attr_read_i64(f, "format_version", &version) || version < 1 || version > VT_BRAIN_FORMAT_VERSION)
        return vt_fail(VT_ERR_UNSUPPORTED,
                       "%s: brain store format version %lld is not supported (this ventral reads 1..%d)", path,
                       (long long)version, VT_BRAIN_FORMAT_VERSION);
    int rank;
    int64_t shape[VT_MAX_RANK];
    if ((st = vt_h5_shape(f, "responses", path, &rank, shape))) return st;
    if (rank != 3)
        return vt_fail(VT_ERR_FORMAT, "%s: dataset 'responses' has rank %d, expected 3 (stimuli x repetitions x units)",
                       path, rank);
    vt_brain *b = vt_brain_new(shape[0], shape[1], shape[2]);
    if (!b) return vt_fail_context(VT_ERR_FORMAT, "%s: ", path);
    vt_tensor *r = NULL;
    if ((st = vt_h5_read(f, "responses", VT_F32, path, &r))) goto fail;
    vt_tensor_free(b->responses);
    b->responses = r;
    char **ids;
    int64_t n;
    if ((st = vt_h5_read_strings(f, "stimulus_ids", path, &ids, &n))) goto fail;
    vt_strings_free(b->stimulus_ids, b->n_stimuli);
    b->stimulus_ids = ids;
    if (n != b->n_stimuli) {
        b->stimulus_ids = NULL;
        vt_strings_free(ids, n);
        st = vt_fail(VT_ERR_FORMAT, "%s: 'stimulus_ids' has %lld entries but 'responses' has %lld stimuli", path,
                     (long long)n, (long long)b->n_stimuli);
        goto fail;
    }
    if ((st = read_opt_strings(f, "units/id", path, b->n_units, &b->unit_ids))) goto fail;
    if ((st = read_opt_strings(f, "units/roi", path, b->n_units, &b->unit_rois))) goto fail;
    if (vt_h5_exists(f, "units/ijk")) {
        vt_tensor *t = NULL;
        if ((st = vt_h5_read(f, "units/ijk", VT_I32, path, &t))) goto fail;
        if (t->rank != 2 || t->shape[0] != b->n_units || t->shape[1] != 3) {
            vt_tensor_free(t);
            st = vt_fail(VT_ERR_FORMAT, "%s: 'units/ijk' must be %lld x 3", path, (long long)b->n_units);
            goto fail;
        }
        b->unit_ijk = t->data;
        t->storage = VT_STORAGE_BORROWED; /* keep the buffer, drop the header */
        vt_tensor_free(t);
    }
    if (vt_h5_exists(f, "units/ncsnr")) {
        vt_tensor *t = NULL;
        if ((st = vt_h5_read(f, "units/ncsnr", VT_F32, path, &t))) goto fail;
        if (t->rank != 1 || t->shape[0] != b->n_units) {
            vt_tensor_free(t);
            st = vt_fail(VT_ERR_FORMAT, "%s: 'units/ncsnr' must have %lld entries", path, (long long)b->n_units);
            goto fail;
        }
        b->unit_ncsnr = t->data;
        t->storage = VT_STORAGE_BORROWED;
        vt_tensor_free(t);
    }
    if (vt_h5_exists(f, "stimuli")) {
        char *names[VT_BRAIN_MAX_META + 1] = {0};
        char **list = names;
        hid_t g = H5Gopen2(f, "stimuli", H5P_DEFAULT);
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_names, &list);
        H5Gclose(g);
        for (int m = 0; names[m] && st == VT_OK; m++) {
            char full[300], **vals = NULL;
            snprintf(full, sizeof full, "stimuli/%s", names[m]);
            if (!(st = read_opt_strings(f, full, path, b->n_stimuli, &vals)) && vals)
                st = vt_brain_add_meta(b, names[m], vals);
        }
        for (int m = 0; names[m]; m++) free(names[m]);
        if (st) goto fail;
    }
    if (vt_h5_exists(f, "maps")) {
        if ((st = vt_h5_read(f, "maps", VT_F32, path, &b->maps))) goto fail;
        if (b->maps->rank != 5 || b->maps->shape[0] != b->n_stimuli || b->maps->shape[1] != b->n_reps ||
            b->maps->shape[2] != b->n_units) {
            st = vt_fail(VT_ERR_FORMAT, "%s: 'maps' must be %lld x %lld x %lld x H x W", path, (long long)b->n_stimuli,
                         (long long)b->n_reps, (long long)b->n_units);
            goto fail;
        }
    }
    if ((st = vt_h5_attr_read_str(f, "subject", path, &b->subject))) goto fail;
    if ((st = vt_h5_attr_read_str(f, "source", path, &b->source))) goto fail;
    if ((st = vt_h5_attr_read_str(f, "provenance", path, &b->provenance))) goto fail;
    if ((st = vt_brain_validate(b))) {
        vt_fail_context(st, "%s: ", path);
        goto fail;
    }
    *out = b;
    return VT_OK;
fail:
    vt_brain_free(b);
    return st;
}

vt_status vt_brain_read(const char *path, vt_brain **out)
{
    *out = NULL;
    hid_t f;
    vt_status st = vt_h5_open(path, &f);
    if (st) return st;
    st = read_all(f, path, out);
    H5Fclose(f);
    return st;
}

/* True when a '+'-joined ROI label has a component equal to roi or starting with "roi:". */
static bool roi_matches(const char *label, const char *roi)
{
    size_t n = strlen(roi);
    for (const char *p = label; p && *p;) {
        const char *end = strchr(p, '+');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if ((len == n || (len > n && p[n] == ':')) && strncmp(p, roi, n) == 0) return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

vt_status vt_brain_select_roi(vt_brain *b, const char *roi)
{
    if (!b->unit_rois) return vt_fail(VT_ERR_ARG, "the store has no unit ROI labels ('units/roi')");
    int64_t U = b->n_units, k = 0, *keep = vt_malloc((size_t)U, sizeof *keep);
    if (!keep) return VT_ERR_NOMEM;
    for (int64_t u = 0; u < U; u++)
        if (roi_matches(b->unit_rois[u], roi)) keep[k++] = u;
    if (k == 0) {
        free(keep);
        return vt_fail(VT_ERR_ARG, "no unit has ROI '%s'", roi);
    }
    int64_t rows = b->n_stimuli * b->n_reps, px = b->maps ? b->maps->shape[3] * b->maps->shape[4] : 0;
    float *r = vt_tensor_f32(b->responses), *m = b->maps ? vt_tensor_f32(b->maps) : NULL;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < k; j++) { /* keep[j] >= j and rows go forward: compaction in place is safe */
            r[i * k + j] = r[i * U + keep[j]];
            if (m) memmove(m + (i * k + j) * px, m + (i * U + keep[j]) * px, sizeof *m * (size_t)px);
        }
    b->responses->shape[2] = k;
    if (b->maps) b->maps->shape[2] = k;
    for (int64_t j = 0; j < k; j++) {
        char *t;
        if (b->unit_ids) t = b->unit_ids[j], b->unit_ids[j] = b->unit_ids[keep[j]], b->unit_ids[keep[j]] = t;
        t = b->unit_rois[j], b->unit_rois[j] = b->unit_rois[keep[j]], b->unit_rois[keep[j]] = t;
        if (b->unit_ncsnr) b->unit_ncsnr[j] = b->unit_ncsnr[keep[j]];
        if (b->unit_ijk) memmove(b->unit_ijk + 3 * j, b->unit_ijk + 3 * keep[j], sizeof *b->unit_ijk * 3);
    }
    /* The dropped units' strings now sit at k.. U-1; free them before n_units shrinks. */
    for (int64_t u = k; u < U; u++) {
        if (b->unit_ids) free(b->unit_ids[u]), b->unit_ids[u] = NULL;
        free(b->unit_rois[u]), b->unit_rois[u] = NULL;
    }
    b->n_units = k;
    free(keep);
    return VT_OK;
}

vt_status vt_brain_units_first(const vt_brain *b, vt_tensor **out)
{
    int64_t shape[3] = {b->n_units, b->n_stimuli, b->n_reps};
    vt_tensor *t = vt_tensor_new_uninit(VT_F64, 3, shape);
    if (!t) return VT_ERR_NOMEM;
    const float *r = vt_tensor_f32(b->responses);
    double *d = vt_tensor_f64(t);
    for (int64_t s = 0; s < b->n_stimuli; s++)
        for (int64_t k = 0; k < b->n_reps; k++)
            for (int64_t u = 0; u < b->n_units; u++)
                d[(u * b->n_stimuli + s) * b->n_reps + k] = r[(s * b->n_reps + k) * b->n_units + u];
    *out = t;
    return VT_OK;
}

vt_status vt_brain_trial_mean(const vt_brain *b, vt_tensor **out)
{
    int64_t shape[2] = {b->n_stimuli, b->n_units};
    vt_tensor *t = vt_tensor_new_uninit(VT_F64, 2, shape);
    if (!t) return VT_ERR_NOMEM;
    const float *r = vt_tensor_f32(b->responses);
    double *m = vt_tensor_f64(t);
    for (int64_t s = 0; s < b->n_stimuli; s++)
        for (int64_t u = 0; u < b->n_units; u++) {
            double sum = 0;
            int64_t n = 0;
            for (int64_t k = 0; k < b->n_reps; k++) {
                float v = r[(s * b->n_reps + k) * b->n_units + u];
                if (!isnan(v)) sum += v, n++;
            }
            m[s * b->n_units + u] = n ? sum / (double)n : NAN;
        }
    *out = t;
    return VT_OK;
}
