/* NSD: assembling a subject's responses (stimuli x repetitions x voxels) from the released
 * design, betas, ROI and NCSNR files, streaming session by session over the selected voxels. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5util.h"
#include "io/mat_io.h"
#include "io/nifti_io.h"
#include "io/nsd_internal.h"
#include "ventral/neural.h"
#include "ventral/nsd.h"

static const vt_nsd_label streams[] = {{1, "early"},   {2, "midventral"}, {3, "midlateral"}, {4, "midparietal"},
                                       {5, "ventral"}, {6, "lateral"},    {7, "parietal"}};
static const vt_nsd_label faces[] = {{1, "OFA"}, {2, "FFA-1"}, {3, "FFA-2"}, {4, "mTL-faces"}, {5, "aTL-faces"}};
static const vt_nsd_label bodies[] = {{1, "EBA"}, {2, "FBA-1"}, {3, "FBA-2"}, {4, "mTL-bodies"}};
static const vt_nsd_label places[] = {{1, "OPA"}, {2, "PPA"}, {3, "RSC"}};
static const vt_nsd_label words[] = {{1, "OWFA"}, {2, "VWFA-1"}, {3, "VWFA-2"}, {4, "mfs-words"}, {5, "mTL-words"}};
static const vt_nsd_label general[] = {{1, "nsdgeneral"}};
static const vt_nsd_label prf[] = {{1, "V1v"}, {2, "V1d"}, {3, "V2v"}, {4, "V2d"}, {5, "V3v"}, {6, "V3d"}, {7, "hV4"}};
#define ATLAS(name, tab)                                                                                               \
    {                                                                                                                  \
        name, tab, (int)(sizeof tab / sizeof tab[0])                                                                   \
    }
const vt_nsd_atlas vt_nsd_atlases[] = {ATLAS("streams", streams),    ATLAS("floc-faces", faces),
                                       ATLAS("floc-bodies", bodies), ATLAS("floc-places", places),
                                       ATLAS("floc-words", words),   ATLAS("nsdgeneral", general),
                                       ATLAS("prf-visualrois", prf)};
const int vt_nsd_n_atlases = (int)(sizeof vt_nsd_atlases / sizeof vt_nsd_atlases[0]);

void vt_nsd_path_betas_dir(char *buf, size_t n, const char *root, int subj, const char *space, const char *betas)
{
    snprintf(buf, n, "%s/nsddata_betas/ppdata/subj%02d/%s/%s", root, subj, space, betas);
}
void vt_nsd_path_roi(char *buf, size_t n, const char *root, int subj, const char *space, const char *atlas)
{
    snprintf(buf, n, "%s/nsddata/ppdata/subj%02d/%s/roi/%s.nii.gz", root, subj, space, atlas);
}
void vt_nsd_path_ctab(char *buf, size_t n, const char *root, int subj, const char *atlas)
{
    snprintf(buf, n, "%s/nsddata/freesurfer/subj%02d/label/%s.mgz.ctab", root, subj, atlas);
}

void vt_nsd_assemble_defaults(vt_nsd_assemble_options *o)
{
    memset(o, 0, sizeof *o);
    o->subject = 1;
    o->space = "func1pt8mm";
    o->betas = "betas_fithrf_GLMdenoise_RR";
    o->format = "hdf5";
    o->rois = VT_NSD_DEFAULT_ROIS;
    o->within = "nsdgeneral";
    o->ncsnr = 0.2;
    o->images = "shared";
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ---- ROI selection ---------------------------------------------------------------------- */

enum { MAX_ATLASES = 16, MAX_ITEMS = 64 };

typedef struct roi_item {
    int atlas; /* index into the loaded volumes */
    int value; /* label value; 0 = any label > 0 */
    char name[256];
} roi_item;

typedef struct selection {
    const vt_nsd_assemble_options *o;
    int64_t dims[3], nvox;
    char *atlas_names[MAX_ATLASES];
    double *atlas_vol[MAX_ATLASES];
    int n_atlases;
    roi_item items[MAX_ITEMS];
    int n_items;
    bool all;
} selection;

static void selection_free(selection *s)
{
    for (int a = 0; a < s->n_atlases; a++) free(s->atlas_names[a]), free(s->atlas_vol[a]);
}

/* Loads (once) the label volume of `atlas`, checking its grid against the betas'. */
static vt_status load_atlas(selection *s, const char *atlas, int *index)
{
    for (int a = 0; a < s->n_atlases; a++)
        if (strcmp(s->atlas_names[a], atlas) == 0) return *index = a, VT_OK;
    if (s->n_atlases == MAX_ATLASES) return vt_fail(VT_ERR_ARG, "more than %d ROI atlases", MAX_ATLASES);
    char path[4096];
    vt_nsd_path_roi(path, sizeof path, s->o->root, s->o->subject, s->o->space, atlas);
    int64_t d[3];
    double *vol;
    vt_status st = vt_nifti_read_volume(path, d, &vol);
    if (st) return st;
    if (d[0] != s->dims[0] || d[1] != s->dims[1] || d[2] != s->dims[2]) {
        free(vol);
        return vt_fail(VT_ERR_FORMAT, "%s: volume is %lldx%lldx%lld but the betas are %lldx%lldx%lld", path,
                       (long long)d[0], (long long)d[1], (long long)d[2], (long long)s->dims[0], (long long)s->dims[1],
                       (long long)s->dims[2]);
    }
    s->atlas_names[s->n_atlases] = strdup(atlas);
    s->atlas_vol[s->n_atlases] = vol;
    *index = s->n_atlases++;
    return VT_OK;
}

/* Label value of `name` in `atlas`: the subject's .ctab file when present, else NSD's table. */
static vt_status label_value(const selection *s, const char *atlas, const char *name, int *value)
{
    char *end;
    long v = strtol(name, &end, 10);
    if (end != name && !*end && v > 0) return *value = (int)v, VT_OK;
    char path[4096], line[512];
    vt_nsd_path_ctab(path, sizeof path, s->o->root, s->o->subject, atlas);
    FILE *f = fopen(path, "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            int val;
            char lab[256];
            if (sscanf(line, "%d %255s", &val, lab) == 2 && strcmp(lab, name) == 0) {
                fclose(f);
                return *value = val, VT_OK;
            }
        }
        fclose(f);
        return vt_fail(VT_ERR_ARG, "%s: no label named '%s'", path, name);
    }
    for (int a = 0; a < vt_nsd_n_atlases; a++) {
        if (strcmp(vt_nsd_atlases[a].atlas, atlas) != 0) continue;
        for (int l = 0; l < vt_nsd_atlases[a].n; l++)
            if (strcmp(vt_nsd_atlases[a].labels[l].name, name) == 0)
                return *value = vt_nsd_atlases[a].labels[l].value, VT_OK;
        return vt_fail(VT_ERR_ARG, "ROI atlas '%s' has no label named '%s'", atlas, name);
    }
    return vt_fail(VT_ERR_ARG, "ROI '%s:%s': unknown atlas and no %s (give the label as a number)", atlas, name, path);
}

static vt_status parse_rois(selection *s, const char *spec)
{
    if (strcmp(spec, "all") == 0) return s->all = true, VT_OK;
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[256];
        if (len == 0 || len >= sizeof item) return vt_fail(VT_ERR_ARG, "--rois: bad item in '%s'", spec);
        if (s->n_items == MAX_ITEMS) return vt_fail(VT_ERR_ARG, "--rois: more than %d items", MAX_ITEMS);
        memcpy(item, p, len);
        item[len] = '\0';
        roi_item *it = &s->items[s->n_items];
        snprintf(it->name, sizeof it->name, "%s", item);
        char *colon = strchr(item, ':');
        if (colon) *colon = '\0';
        vt_status st = load_atlas(s, item, &it->atlas);
        if (st) return st;
        it->value = 0;
        if (colon && (st = label_value(s, item, colon + 1, &it->value))) return st;
        s->n_items++;
        p += len;
        if (*p == ',') p++;
    }
    if (s->n_items == 0) return vt_fail(VT_ERR_ARG, "--rois is empty");
    return VT_OK;
}

/* ---- betas ------------------------------------------------------------------------------ */

/* Shape of one session's betas: trials and the X, Y, Z grid. */
static vt_status betas_shape(const char *path, bool hdf5, int64_t *trials, int64_t dims[3])
{
    if (!hdf5) {
        vt_nifti_stream *s;
        int64_t d[4];
        vt_status st = vt_nifti_stream_open(path, d, &s);
        if (st) return st;
        vt_nifti_stream_close(s);
        dims[0] = d[0], dims[1] = d[1], dims[2] = d[2], *trials = d[3];
        return VT_OK;
    }
    hid_t f;
    vt_status st = vt_h5_open(path, &f);
    if (st) return st;
    int rank;
    int64_t shape[VT_MAX_RANK];
    if (!(st = vt_h5_shape(f, "betas", path, &rank, shape))) {
        hid_t ds = H5Dopen2(f, "betas", H5P_DEFAULT);
        hid_t type = H5Dget_type(ds);
        if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) != 2)
            st = vt_fail(VT_ERR_FORMAT, "%s: dataset 'betas' is not int16 (NSD stores betas x 300 as int16)", path);
        H5Tclose(type);
        H5Dclose(ds);
    }
    if (!st && rank != 4)
        st = vt_fail(VT_ERR_FORMAT, "%s: dataset 'betas' has rank %d, expected 4 (trials x Z x Y x X)", path, rank);
    H5Fclose(f);
    if (st) return st;
    *trials = shape[0], dims[0] = shape[3], dims[1] = shape[2], dims[2] = shape[1];
    return VT_OK;
}

/* Reads the selected voxels vox[nsel] (flat x-fastest indices) of every trial into
 * buf[t * nsel + j], in percent signal change (stored int16 / 300). */
static vt_status read_session_h5(const char *path, const int64_t dims[3], int64_t trials, const int64_t *vox,
                                 int64_t nsel, float *buf)
{
    hid_t f;
    vt_status st = vt_h5_open(path, &f);
    if (st) return st;
    hid_t ds = H5Dopen2(f, "betas", H5P_DEFAULT);
    hid_t fspace = H5Dget_space(ds);
    hid_t dcpl = H5Dget_create_plist(ds);
    hsize_t cd[4] = {0};
    /* NSD's files are chunked one voxel's trials at a time ([1 1 1 750] in MATLAB order), so
     * reading runs of selected voxels along x touches only the voxels asked for; other layouts
     * are read a z-plane at a time. */
    bool per_voxel =
        H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 4, cd) == 4 && cd[1] == 1 && cd[2] == 1 && cd[3] == 1;
    H5Pclose(dcpl);
    int64_t nx = dims[0], ny = dims[1], plane = nx * ny, width = per_voxel ? nx : plane;
    int16_t *tmp = vt_malloc((size_t)(trials * width), sizeof *tmp);
    if (!tmp) st = vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
    hsize_t mdims[1] = {(hsize_t)(trials * width)};
    hid_t mspace = H5Screate_simple(1, mdims, NULL);
    for (int64_t j = 0; j < nsel && !st;) {
        int64_t z = vox[j] / plane, run = 1;
        hsize_t start[4] = {0, (hsize_t)z, 0, 0}, count[4] = {(hsize_t)trials, 1, (hsize_t)ny, (hsize_t)nx};
        if (per_voxel) {
            int64_t x = vox[j] % nx;
            while (j + run < nsel && vox[j + run] == vox[j] + run && x + run < nx) run++;
            start[2] = (hsize_t)((vox[j] % plane) / nx), start[3] = (hsize_t)x;
            count[2] = 1, count[3] = (hsize_t)run;
        }
        hsize_t mstart[1] = {0}, mcount[1] = {(hsize_t)(trials * (per_voxel ? run : plane))};
        H5Sselect_hyperslab(mspace, H5S_SELECT_SET, mstart, NULL, mcount, NULL);
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
        if (H5Dread(ds, H5T_NATIVE_INT16, mspace, fspace, H5P_DEFAULT, tmp) < 0) {
            st = vt_fail(VT_ERR_FORMAT, "%s: cannot read dataset 'betas' (truncated file?)", path);
            break;
        }
        if (per_voxel) {
            for (int64_t k = 0; k < run; k++, j++)
                for (int64_t t = 0; t < trials; t++) buf[t * nsel + j] = (float)(tmp[t * run + k] / 300.0);
        } else {
            for (; j < nsel && vox[j] / plane == z; j++) {
                int64_t off = vox[j] % plane;
                for (int64_t t = 0; t < trials; t++) buf[t * nsel + j] = (float)(tmp[t * plane + off] / 300.0);
            }
        }
    }
    free(tmp);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(ds);
    H5Fclose(f);
    return st;
}

static vt_status read_session_nifti(const char *path, int64_t trials, int64_t nvox, const int64_t *vox, int64_t nsel,
                                    float *buf)
{
    vt_nifti_stream *s;
    int64_t d[4];
    vt_status st = vt_nifti_stream_open(path, d, &s);
    if (st) return st;
    double *vol = vt_malloc((size_t)nvox, sizeof *vol);
    if (!vol) st = vt_fail(VT_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t t = 0; t < trials && !st; t++) {
        if ((st = vt_nifti_stream_next(s, vol))) break;
        for (int64_t j = 0; j < nsel; j++) buf[t * nsel + j] = (float)(vol[vox[j]] / 300.0);
    }
    free(vol);
    vt_nifti_stream_close(s);
    return st;
}

/* z-scores each column over the session's trials (population sd); constant columns (e.g.
 * voxels outside the brain mask, stored as zeros) become NaN. */
static void zscore_columns(float *buf, int64_t trials, int64_t nsel)
{
    for (int64_t j = 0; j < nsel; j++) {
        double mean = 0, ss = 0;
        for (int64_t t = 0; t < trials; t++) mean += buf[t * nsel + j];
        mean /= (double)trials;
        for (int64_t t = 0; t < trials; t++) {
            double d = buf[t * nsel + j] - mean;
            ss += d * d;
        }
        double sd = sqrt(ss / (double)trials);
        for (int64_t t = 0; t < trials; t++)
            buf[t * nsel + j] = sd > 0 ? (float)((buf[t * nsel + j] - mean) / sd) : NAN;
    }
}

/* ---- design ----------------------------------------------------------------------------- */

static vt_status read_vector(const char *path, const char *var, vt_tensor **out)
{
    vt_status st = vt_mat_read(path, var, out);
    if (st) return st;
    if ((*out)->shape[0] != 1 && (*out)->shape[1] != 1) {
        st = vt_fail(VT_ERR_FORMAT, "%s: variable '%s' is %lldx%lld, expected a vector", path, var,
                     (long long)(*out)->shape[0], (long long)(*out)->shape[1]);
        vt_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

/* 1-based NSD ids, one per line (or FILE.h5:DATASET), as a float64 vector like sharedix. */
static vt_status read_id_list(const char *spec, vt_tensor **out)
{
    char **ids = NULL;
    int64_t n = 0;
    vt_status st = vt_neural_read_ids(spec, &ids, &n);
    if (st) return st;
    vt_tensor *t = vt_tensor_new_uninit(VT_F64, 1, &n);
    for (int64_t i = 0; t && i < n && !st; i++) {
        char *end;
        double v = strtod(ids[i], &end);
        if (end == ids[i] || *end)
            st = vt_fail(VT_ERR_FORMAT, "%s: line %lld ('%s') is not an NSD image id", spec, (long long)i + 1, ids[i]);
        vt_tensor_f64(t)[i] = v;
    }
    for (int64_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    if (!t) return VT_ERR_NOMEM;
    if (st) vt_tensor_free(t), t = NULL;
    *out = t;
    return st;
}

static bool is_index(double v, double max)
{
    return v >= 1 && v <= max && v == floor(v);
}

static vt_status append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static vt_status append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return vt_fail(VT_ERR_INTERNAL, "formatting failed");
        if (*buf && *len + (size_t)n < *cap) {
            *len += (size_t)n;
            return VT_OK;
        }
        size_t ncap = (*cap + (size_t)n + 1) * 2;
        char *nb = realloc(*buf, ncap);
        if (!nb) return vt_fail(VT_ERR_NOMEM, "out of memory");
        *buf = nb, *cap = ncap;
    }
}

vt_status vt_nsd_assemble(const vt_nsd_assemble_options *o, vt_brain **out)
{
    *out = NULL;
    vt_h5_quiet();
    if (!o->root) return vt_fail(VT_ERR_ARG, "no NSD root directory given");
    if (o->subject < 1 || o->subject > 8) return vt_fail(VT_ERR_ARG, "NSD subject must be 1..8, got %d", o->subject);
    bool hdf5 = strcmp(o->format, "hdf5") == 0;
    if (!hdf5 && strcmp(o->format, "nifti") != 0)
        return vt_fail(VT_ERR_ARG, "betas format must be 'hdf5' or 'nifti', got '%s'", o->format);
    /* "shared" and a list file both give an ordered id list (the list takes sharedix's place). */
    bool shared = strcmp(o->images, "all") != 0, listed = shared && strcmp(o->images, "shared") != 0;

    vt_status st = VT_OK;
    vt_tensor *mo = NULL, *subjectim = NULL, *sharedix = NULL;
    selection sel = {.o = o};
    double *ncsnr_vol = NULL;
    float *buf = NULL;
    int64_t *vox = NULL, *image_of_id = NULL, *trial_image = NULL, *set = NULL, *seen = NULL;
    char **session_paths = NULL, *prov = NULL;
    int n_sessions = 0;
    vt_brain *b = NULL;

    /* The design: trial -> 10k index -> 73k id. */
    char path[4096], dir[3072];
    snprintf(path, sizeof path, "%s/" VT_NSD_EXPDESIGN, o->root);
    if ((st = read_vector(path, "masterordering", &mo))) goto done;
    if ((st = vt_mat_read(path, "subjectim", &subjectim))) goto done;
    if (listed && (st = read_id_list(o->images, &sharedix))) goto done;
    if (shared && !listed && (st = read_vector(path, "sharedix", &sharedix))) goto done;
    if (subjectim->shape[0] < o->subject) {
        st = vt_fail(VT_ERR_FORMAT, "%s: 'subjectim' has %lld rows, no subject %d", path,
                     (long long)subjectim->shape[0], o->subject);
        goto done;
    }
    char design_path[4096];
    snprintf(design_path, sizeof design_path, "%s", path);
    int64_t n_design = vt_tensor_numel(mo), n_cols = subjectim->shape[1];

    /* Largest valid 73k id: the stimulus brick's image count when it is present. */
    double max_id = 1e9;
    snprintf(path, sizeof path, "%s/" VT_NSD_STIMULI, o->root);
    if (file_exists(path)) {
        hid_t f;
        int rank;
        int64_t shape[VT_MAX_RANK];
        if ((st = vt_h5_open(path, &f))) goto done;
        st = vt_h5_shape(f, "imgBrick", path, &rank, shape);
        H5Fclose(f);
        if (st) goto done;
        if (rank != 4 || shape[3] != 3) {
            st = vt_fail(VT_ERR_FORMAT, "%s: 'imgBrick' must be images x height x width x 3", path);
            goto done;
        }
        max_id = (double)shape[0];
    }

    /* Sessions present, all with the same trial count and grid. */
    vt_nsd_path_betas_dir(dir, sizeof dir, o->root, o->subject, o->space, o->betas);
    session_paths = vt_calloc(100, sizeof *session_paths);
    if (!session_paths) goto nomem;
    int64_t trials = 0;
    for (int s = 1; s < 100 && (o->max_sessions <= 0 || s <= o->max_sessions); s++) {
        snprintf(path, sizeof path, "%s/betas_session%02d.%s", dir, s, hdf5 ? "hdf5" : "nii.gz");
        if (!file_exists(path)) break;
        int64_t t, d[3];
        if ((st = betas_shape(path, hdf5, &t, d))) goto done;
        if (s == 1)
            trials = t, memcpy(sel.dims, d, sizeof d);
        else if (t != trials || memcmp(d, sel.dims, sizeof d) != 0) {
            st = vt_fail(VT_ERR_FORMAT,
                         "%s: %lld trials on a %lldx%lldx%lld grid, but session 1 has %lld on %lldx%lldx%lld", path,
                         (long long)t, (long long)d[0], (long long)d[1], (long long)d[2], (long long)trials,
                         (long long)sel.dims[0], (long long)sel.dims[1], (long long)sel.dims[2]);
            goto done;
        }
        if (!(session_paths[n_sessions++] = strdup(path))) goto nomem;
    }
    if (n_sessions == 0) {
        st = vt_fail(VT_ERR_IO, "%s/betas_session01.%s: not found (no betas for subject %d)", dir,
                     hdf5 ? "hdf5" : "nii.gz", o->subject);
        goto done;
    }
    int64_t n_trials = trials * n_sessions;
    if (n_trials > n_design) {
        st = vt_fail(VT_ERR_FORMAT,
                     "%s: %d sessions of %lld trials need %lld entries in 'masterordering' but %s has %lld", dir,
                     n_sessions, (long long)trials, (long long)n_trials, design_path, (long long)n_design);
        goto done;
    }
    sel.nvox = sel.dims[0] * sel.dims[1] * sel.dims[2];

    /* Trial -> 73k id, checked against the design's and the brick's ranges. */
    const double *mov = vt_tensor_f64(mo), *sim = vt_tensor_f64(subjectim) + (o->subject - 1) * n_cols;
    int64_t id_cap = 0;
    trial_image = vt_malloc((size_t)n_trials, sizeof *trial_image);
    if (!trial_image) goto nomem;
    for (int64_t t = 0; t < n_trials; t++) {
        if (!is_index(mov[t], (double)n_cols)) {
            st = vt_fail(VT_ERR_FORMAT,
                         "%s: masterordering[%lld] = %g is not a 1-based index into subjectim's %lld columns",
                         design_path, (long long)t, mov[t], (long long)n_cols);
            goto done;
        }
        double id = sim[(int64_t)mov[t] - 1];
        if (!is_index(id, max_id)) {
            st = vt_fail(VT_ERR_FORMAT, "%s: subject %d's stimulus id %g (trial %lld) is not in 1..%.0f (images in %s)",
                         design_path, o->subject, id, (long long)t, max_id, VT_NSD_STIMULI);
            goto done;
        }
        trial_image[t] = (int64_t)id;
        if ((int64_t)id > id_cap) id_cap = (int64_t)id;
    }

    /* The image set, in sharedix order (shared) or ascending id order (all). */
    int64_t n_set_max = shared ? vt_tensor_numel(sharedix) : id_cap;
    if (shared)
        for (int64_t i = 0; i < n_set_max; i++) {
            double id = vt_tensor_f64(sharedix)[i];
            if (!is_index(id, max_id)) {
                st = vt_fail(VT_ERR_FORMAT, "%s: %s[%lld] = %g is not a valid 1-based stimulus id",
                             listed ? o->images : design_path, listed ? "entry" : "sharedix", (long long)i, id);
                goto done;
            }
            if ((int64_t)id > id_cap) id_cap = (int64_t)id;
        }
    image_of_id = vt_malloc((size_t)id_cap + 1, sizeof *image_of_id);
    seen = vt_calloc((size_t)id_cap + 1, sizeof *seen);
    set = vt_malloc((size_t)n_set_max + 1, sizeof *set);
    if (!image_of_id || !seen || !set) goto nomem;
    for (int64_t t = 0; t < n_trials; t++) seen[trial_image[t]]++;
    int64_t n_set = 0, n_dropped = 0, reps = 0;
    for (int64_t i = 0; i <= id_cap; i++) image_of_id[i] = -1;
    for (int64_t i = 0; i < n_set_max; i++) {
        int64_t id = shared ? (int64_t)vt_tensor_f64(sharedix)[i] : i + 1;
        if (!seen[id] || image_of_id[id] >= 0) {
            n_dropped += shared && !seen[id];
            continue;
        }
        image_of_id[id] = n_set;
        set[n_set++] = id;
        if (seen[id] > reps) reps = seen[id];
    }
    if (n_set == 0) {
        st = vt_fail(VT_ERR_FORMAT, "%s: none of the requested images was shown to subject %d in the %d sessions read",
                     design_path, o->subject, n_sessions);
        goto done;
    }

    /* Voxels: inside the 'within' mask, in any ROI item, above the NCSNR threshold. */
    if ((st = parse_rois(&sel, o->rois))) goto done;
    int within = -1;
    if (o->within && *o->within && (st = load_atlas(&sel, o->within, &within))) goto done;
    snprintf(path, sizeof path, "%s/ncsnr.nii.gz", dir);
    if (!isnan(o->ncsnr) || file_exists(path)) {
        int64_t d[3];
        if ((st = vt_nifti_read_volume(path, d, &ncsnr_vol))) goto done;
        if (d[0] != sel.dims[0] || d[1] != sel.dims[1] || d[2] != sel.dims[2]) {
            st = vt_fail(VT_ERR_FORMAT, "%s: volume is %lldx%lldx%lld but the betas are %lldx%lldx%lld", path,
                         (long long)d[0], (long long)d[1], (long long)d[2], (long long)sel.dims[0],
                         (long long)sel.dims[1], (long long)sel.dims[2]);
            goto done;
        }
    }
    vox = vt_malloc((size_t)sel.nvox, sizeof *vox);
    if (!vox) goto nomem;
    int64_t nsel = 0;
    for (int64_t v = 0; v < sel.nvox; v++) {
        if (within >= 0 && !(sel.atlas_vol[within][v] > 0)) continue;
        if (!isnan(o->ncsnr) && !(ncsnr_vol[v] > o->ncsnr)) continue;
        bool in = sel.all;
        for (int i = 0; i < sel.n_items && !in; i++) {
            double lab = sel.atlas_vol[sel.items[i].atlas][v];
            in = sel.items[i].value ? lab == sel.items[i].value : lab > 0;
        }
        if (in) vox[nsel++] = v;
    }
    if (nsel == 0) {
        st = vt_fail(VT_ERR_ARG, "no voxel of subject %d passes the selection (rois '%s', within '%s', ncsnr > %g)",
                     o->subject, o->rois, o->within ? o->within : "", o->ncsnr);
        goto done;
    }

    /* The store and its unit metadata. */
    if (!(b = vt_brain_new(n_set, reps, nsel))) goto fail_ctx;
    b->unit_ids = vt_calloc((size_t)nsel, sizeof *b->unit_ids);
    b->unit_rois = vt_calloc((size_t)nsel, sizeof *b->unit_rois);
    b->unit_ijk = vt_malloc((size_t)nsel * 3, sizeof *b->unit_ijk);
    if (ncsnr_vol) b->unit_ncsnr = vt_malloc((size_t)nsel, sizeof *b->unit_ncsnr);
    char **nsd_index = vt_calloc((size_t)n_set, sizeof *nsd_index);
    if (!b->unit_ids || !b->unit_rois || !b->unit_ijk || (ncsnr_vol && !b->unit_ncsnr) ||
        vt_brain_add_meta(b, "nsd_index", nsd_index) != VT_OK)
        goto nomem;
    for (int64_t j = 0; j < nsel; j++) {
        int64_t v = vox[j], nx = sel.dims[0], ny = sel.dims[1];
        char id[32], rois[1024] = "";
        snprintf(id, sizeof id, "v%lld", (long long)v);
        b->unit_ijk[3 * j] = (int32_t)(v % nx);
        b->unit_ijk[3 * j + 1] = (int32_t)((v / nx) % ny);
        b->unit_ijk[3 * j + 2] = (int32_t)(v / (nx * ny));
        if (ncsnr_vol) b->unit_ncsnr[j] = (float)ncsnr_vol[v];
        for (int i = 0; i < sel.n_items; i++) {
            double lab = sel.atlas_vol[sel.items[i].atlas][v];
            if (sel.items[i].value ? lab == sel.items[i].value : lab > 0)
                snprintf(rois + strlen(rois), sizeof rois - strlen(rois), "%s%s", *rois ? "+" : "", sel.items[i].name);
        }
        if (!(b->unit_ids[j] = strdup(id)) || !(b->unit_rois[j] = strdup(rois))) goto nomem;
    }
    for (int64_t i = 0; i < n_set; i++) {
        char s1[32], s2[32];
        snprintf(s1, sizeof s1, "%lld", (long long)set[i]);
        snprintf(s2, sizeof s2, "%lld", (long long)set[i] - 1);
        if (!(b->stimulus_ids[i] = strdup(s1)) || !(nsd_index[i] = strdup(s2))) goto nomem;
    }

    /* Stream the sessions: read the selected voxels, z-score, place each trial of the set. */
    buf = vt_malloc((size_t)(trials * nsel), sizeof *buf);
    memset(seen, 0, sizeof *seen * ((size_t)id_cap + 1)); /* now: repetitions placed so far */
    if (!buf) goto nomem;
    float *r = vt_tensor_f32(b->responses);
    for (int s = 0; s < n_sessions; s++) {
        if (o->progress) o->progress(o->progress_ctx, s, n_sessions);
        st = hdf5 ? read_session_h5(session_paths[s], sel.dims, trials, vox, nsel, buf)
                  : read_session_nifti(session_paths[s], trials, sel.nvox, vox, nsel, buf);
        if (st) goto done;
        zscore_columns(buf, trials, nsel);
        for (int64_t t = 0; t < trials; t++) {
            int64_t id = trial_image[s * trials + t], img = image_of_id[id];
            if (img < 0) continue;
            float *dst = r + (img * reps + seen[id]++) * nsel;
            for (int64_t j = 0; j < nsel; j++) dst[j] = buf[t * nsel + j];
        }
    }

    /* Provenance: what was read and how it was selected. */
    size_t len = 0, cap = 0;
    char thr[40] = "null";
    if (!isnan(o->ncsnr)) snprintf(thr, sizeof thr, "%.17g", o->ncsnr);
    /* User-supplied text goes in as JSON string literals (a path may hold '"' or '\\'). */
    const char *text[7] = {o->root, o->space, o->betas, o->format, o->images, o->rois, o->within ? o->within : ""};
    char *q[7] = {0};
    bool quoted = true;
    for (int i = 0; i < 7; i++) quoted = (q[i] = vt_json_quote(text[i])) && quoted;
    if (quoted)
        st = append(&prov, &len, &cap,
                    "{\"source\": \"nsd\", \"root\": %s, \"subject\": %d, \"space\": %s, \"betas\": %s, "
                    "\"format\": %s, \"sessions\": %d, \"trials_per_session\": %lld, \"images\": %s, "
                    "\"images_not_shown\": %lld, \"rois\": %s, \"within\": %s, \"ncsnr_threshold\": %s, "
                    "\"zscore\": \"per session and voxel, population sd\", \"voxels\": %lld, \"ventral\": \"%s\"}",
                    q[0], o->subject, q[1], q[2], q[3], n_sessions, (long long)trials, q[4], (long long)n_dropped, q[5],
                    q[6], thr, (long long)nsel, vt_version());
    else
        st = VT_ERR_NOMEM; /* vt_json_quote recorded the message */
    for (int i = 0; i < 7; i++) free(q[i]);
    if (st) goto done;
    b->provenance = prov, prov = NULL;
    char subj[16];
    snprintf(subj, sizeof subj, "subj%02d", o->subject);
    b->subject = strdup(subj);
    b->source = strdup("nsd");
    if (!b->subject || !b->source) goto nomem;
    *out = b, b = NULL;
    goto done;
nomem:
    st = vt_fail(VT_ERR_NOMEM, "out of memory assembling NSD subject %d", o->subject);
    goto done;
fail_ctx:
    st = VT_ERR_NOMEM;
done:
    vt_brain_free(b);
    vt_tensor_free(mo);
    vt_tensor_free(subjectim);
    vt_tensor_free(sharedix);
    selection_free(&sel);
    free(ncsnr_vol);
    free(buf);
    free(vox);
    free(image_of_id);
    free(trial_image);
    free(set);
    free(seen);
    free(prov);
    if (session_paths)
        for (int s = 0; s < 100; s++) free(session_paths[s]);
    free(session_paths);
    return st;
}
