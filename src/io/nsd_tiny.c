/* A tiny NSD in the released layout and formats, for tests, the demo and trying
 * ventral without the 8 TB release. Sizes are small; the file names, datasets,
 * variables, dtypes, axis orders, scaling and index bases are those of the
 * release (see docs/brain_store.md). The writers of the layout (vt_nsd_write_*,
 * nsd_internal.h) are shared with `ventral simulate`. */
#include <errno.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/h5util.h"
#include "io/mat_io.h"
#include "io/nifti_io.h"
#include "io/nsd_internal.h"
#include "ventral/nsd.h"
#include "ventral/rng.h"

enum {
    N_BRICK = 120,                /* images in the stimulus brick (73,000 in NSD) */
    IMG = 16,                     /* image height and width (425 in NSD) */
    N_SUBJIM = 60,                /* images per subject (10,000 in NSD) */
    N_SHARED = 20,                /* shared images (1,000 in NSD) */
    N_REPS = 3,                   /* presentations of each image */
    TRIALS = 60,                  /* trials per session (750 in NSD) */
    N_DESIGN = N_SUBJIM * N_REPS, /* masterordering length (30,000 in NSD) */
    N_FEAT = 8,                   /* latent image features behind the signal */
    NY = 8,
    NZ = 6
};
static const int subj_sessions[2] = {3, 2}; /* subject 2 stopped early, like NSD's subjects 3, 4, 6, 8 */
static const int subj_nx[2] = {10, 9};      /* grids differ per subject, as in NSD */

static vt_status write_text(const char *path, const char *text)
{
    vt_atomic_file af;
    vt_status st = vt_atomic_open(&af, path);
    if (st) return st;
    if ((st = vt_atomic_write(&af, text, strlen(text)))) {
        vt_atomic_abandon(&af);
        return st;
    }
    return vt_atomic_commit(&af);
}

/* ---- writers of the layout ------------------------------------------------------------------ */

int16_t vt_nsd_beta_i16(double beta)
{
    double q = beta * 300;
    if (isnan(q)) return 0;
    q = q > 32767 ? 32767 : q < -32768 ? -32768 : q;
    return (int16_t)lround(q);
}

/* Creates the folder that will hold `path`. */
static vt_status mkdir_for(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return VT_OK;
    *slash = '\0';
    return vt_mkdirs(dir);
}

vt_status vt_nsd_write_stimuli(const char *root, const vt_tensor *images)
{
    if (images->dtype != VT_U8 || images->rank != 4 || images->shape[3] != 3)
        return vt_fail(VT_ERR_ARG, "NSD stimuli must be uint8 images x height x width x 3");
    char path[4096];
    snprintf(path, sizeof path, "%s/" VT_NSD_STIMULI, root);
    vt_status st = mkdir_for(path);
    if (st) return st;
    vt_h5_out o;
    if ((st = vt_h5_create(&o, path))) return st;
    int64_t chunk[4] = {1, images->shape[1], images->shape[2], 3};
    if ((st = vt_h5_write(o.file, "imgBrick", VT_U8, 4, images->shape, images->data, chunk, -1, path))) {
        vt_h5_abandon(&o);
        return st;
    }
    return vt_h5_commit(&o);
}

vt_status vt_nsd_write_design(const char *root, const double *masterordering, int64_t n_trials, const double *subjectim,
                              int n_subjects, int64_t n_images, const double *sharedix, int64_t n_shared)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" VT_NSD_EXPDESIGN, root);
    vt_status st = mkdir_for(path);
    if (st) return st;
    int64_t s1[2] = {1, n_trials}, s2[2] = {n_subjects, n_images}, s3[2] = {1, n_shared};
    /* Wrapped read-only: vt_mat_write only reads the tensors. */
    vt_tensor *mo = vt_tensor_wrap(VT_F64, 2, s1, (double *)masterordering),
              *si = vt_tensor_wrap(VT_F64, 2, s2, (double *)subjectim),
              *sh = vt_tensor_wrap(VT_F64, 2, s3, (double *)sharedix);
    const char *names[3] = {"masterordering", "subjectim", "sharedix"};
    const vt_tensor *vars[3] = {mo, si, sh};
    st = mo && si && sh ? vt_mat_write(path, 3, names, vars) : vt_fail(VT_ERR_NOMEM, "out of memory");
    vt_tensor_free(mo);
    vt_tensor_free(si);
    vt_tensor_free(sh);
    return st;
}

static vt_status write_ctab(const char *root, int subj, const char *atlas)
{
    for (int a = 0; a < vt_nsd_n_atlases; a++) {
        if (strcmp(vt_nsd_atlases[a].atlas, atlas) != 0) continue;
        char path[4096], text[2048] = "  0 Unknown\n";
        for (int l = 0; l < vt_nsd_atlases[a].n; l++)
            snprintf(text + strlen(text), sizeof text - strlen(text), "  %d %s\n", vt_nsd_atlases[a].labels[l].value,
                     vt_nsd_atlases[a].labels[l].name);
        vt_nsd_path_ctab(path, sizeof path, root, subj, atlas);
        vt_status st = mkdir_for(path);
        return st ? st : write_text(path, text);
    }
    return VT_OK;
}

vt_status vt_nsd_write_volumes(const char *root, int subj, const int64_t dims[3], int n_volumes,
                               const char *const *names, const int16_t *const *volumes, const float *ncsnr)
{
    char path[4096];
    vt_status st = VT_OK;
    for (int a = 0; a < n_volumes && !st; a++) {
        if (strcmp(names[a], "brainmask") == 0)
            snprintf(path, sizeof path, "%s/nsddata/ppdata/subj%02d/" VT_NSD_SPACE "/brainmask.nii.gz", root, subj);
        else
            vt_nsd_path_roi(path, sizeof path, root, subj, VT_NSD_SPACE, names[a]);
        if (!(st = mkdir_for(path)) && !(st = vt_nifti_write(path, 3, dims, VT_I16, volumes[a], 1.8)) &&
            strcmp(names[a], "brainmask") != 0)
            st = write_ctab(root, subj, names[a]);
    }
    if (!st && ncsnr) {
        vt_nsd_path_betas_dir(path, sizeof path - 16, root, subj, VT_NSD_SPACE, VT_NSD_BETAS);
        if (!(st = vt_mkdirs(path))) {
            strcat(path, "/ncsnr.nii.gz");
            st = vt_nifti_write(path, 3, dims, VT_F32, ncsnr, 1.8);
        }
    }
    return st;
}

vt_status vt_nsd_write_session(const char *root, int subj, int session, const int64_t dims[3], int64_t trials,
                               const int16_t *betas, bool nifti)
{
    char dir[4000], path[4096];
    vt_nsd_path_betas_dir(dir, sizeof dir, root, subj, VT_NSD_SPACE, VT_NSD_BETAS);
    vt_status st = vt_mkdirs(dir);
    if (st) return st;
    /* HDF5 (h5py order) trials × Z × Y × X in C order and NIfTI X × Y × Z × trials with x fastest
     * are the same bytes. */
    snprintf(path, sizeof path, "%s/betas_session%02d.hdf5", dir, session);
    vt_h5_out o;
    if ((st = vt_h5_create(&o, path))) return st;
    int64_t shape[4] = {trials, dims[2], dims[1], dims[0]}, chunk[4] = {trials, 1, 1, 1};
    if ((st = vt_h5_write(o.file, "betas", VT_I16, 4, shape, betas, chunk, -1, path))) {
        vt_h5_abandon(&o);
        return st;
    }
    if ((st = vt_h5_commit(&o)) || !nifti) return st;
    snprintf(path, sizeof path, "%s/betas_session%02d.nii.gz", dir, session);
    int64_t dims4[4] = {dims[0], dims[1], dims[2], trials};
    return vt_nifti_write(path, 4, dims4, VT_I16, betas, 1.8);
}

vt_status vt_nsd_trim_sessions(const char *root, int subj, int n_sessions)
{
    char dir[4000], path[4096];
    vt_nsd_path_betas_dir(dir, sizeof dir, root, subj, VT_NSD_SPACE, VT_NSD_BETAS);
    for (int s = n_sessions + 1; s < 100; s++) {
        bool any = false;
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "%s/betas_session%02d.%s", dir, s, k ? "nii.gz" : "hdf5");
            if (unlink(path) == 0)
                any = true;
            else if (errno != ENOENT)
                return vt_fail(VT_ERR_IO, "%s: cannot remove a stale session file: %s", path, strerror(errno));
        }
        if (!any) break;
    }
    return VT_OK;
}

/* ---- the tiny dataset ------------------------------------------------------------------------ */

/* Image features: the latent variables that drive both the pixels and the voxel
 * signal. */
static double feature(uint64_t seed, int img, int k)
{
    vt_rng r = vt_rng_make(seed, 1000 + (uint64_t)img * N_FEAT + (uint64_t)k);
    return vt_rng_normal(&r);
}

static vt_status write_stimuli(const char *root, uint64_t seed)
{
    int64_t shape[4] = {N_BRICK, IMG, IMG, 3};
    vt_tensor *t = vt_tensor_new_uninit(VT_U8, 4, shape);
    if (!t) return vt_fail(VT_ERR_NOMEM, "out of memory");
    uint8_t *px = t->data;
    /* Smooth coloured patterns whose parameters are the image's features. */
    for (int i = 0; i < N_BRICK; i++) {
        double f[N_FEAT];
        for (int k = 0; k < N_FEAT; k++) f[k] = feature(seed, i, k);
        for (int y = 0; y < IMG; y++)
            for (int x = 0; x < IMG; x++)
                for (int c = 0; c < 3; c++) {
                    double u = (x + 0.5) / IMG - 0.5, v = (y + 0.5) / IMG - 0.5;
                    double val = 128 + 40 * f[c] + 30 * f[3 + c] * sin(6.28 * (u * (1 + fabs(f[6])) + v * f[7]));
                    val = val < 0 ? 0 : val > 255 ? 255 : val;
                    px[(((size_t)i * IMG + y) * IMG + x) * 3 + c] = (uint8_t)lround(val);
                }
    }
    vt_status st = vt_nsd_write_stimuli(root, t);
    vt_tensor_free(t);
    return st;
}

/* The design: 8 subjects' image lists (the first N_SHARED are the shared
 * images, as in NSD) and one trial order for all subjects. Every 1-based. */
static vt_status write_design(const char *root, uint64_t seed, double *subjectim, double *masterordering)
{
    vt_rng r = vt_rng_make(seed, 1);
    int perm[N_BRICK];
    for (int i = 0; i < N_BRICK; i++) perm[i] = i + 1;
    for (int i = N_BRICK - 1; i > 0; i--) {
        int j = (int)vt_rng_below(&r, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    double sharedix[N_SHARED];
    for (int i = 0; i < N_SHARED; i++) sharedix[i] = perm[i];
    int per = (N_BRICK - N_SHARED) / 2; /* subjects 1 and 2 see disjoint non-shared images */
    for (int s = 0; s < 8; s++)
        for (int c = 0; c < N_SUBJIM; c++)
            subjectim[s * N_SUBJIM + c] =
                c < N_SHARED ? sharedix[c] : perm[N_SHARED + (s % 2) * per + (c - N_SHARED) % per];
    for (int k = 0; k < N_DESIGN; k++) masterordering[k] = k % N_SUBJIM + 1;
    for (int k = N_DESIGN - 1; k > 0; k--) {
        int j = (int)vt_rng_below(&r, (uint64_t)k + 1);
        double t = masterordering[k];
        masterordering[k] = masterordering[j], masterordering[j] = t;
    }
    return vt_nsd_write_design(root, masterordering, N_DESIGN, subjectim, 8, N_SUBJIM, sharedix, N_SHARED);
}

/* Anatomy of the toy grid: a brain ellipsoid whose posterior half (y < 4) is
 * visual cortex
 * ('nsdgeneral'), split into streams and holding a few category-selective
 * patches. */
static void anatomy(int nx, int x, int y, int z, int16_t lab[8])
{
    double ex = (x - (nx - 1) / 2.0) / (nx / 2.0), ey = (y - 3.5) / 4.0, ez = (z - 2.5) / 3.0;
    bool brain = ex * ex + ey * ey + ez * ez <= 1.05;
    int16_t general = brain ? (y < 4 ? 1 : 0) : -1, stream = 0;
    if (general == 1) {
        if (y == 0)
            stream = 1; /* early */
        else if (y <= 2)
            stream = z < 2 ? 2 : z < 4 ? 3 : 4; /* midventral, midlateral, midparietal */
        else
            stream = z < 2 ? 5 : z < 4 ? 6 : 7; /* ventral, lateral, parietal */
    }
    bool v = general == 1;
    lab[0] = brain;
    lab[1] = general;
    lab[2] = stream;
    lab[3] = v && z < 2 && y >= 2 ? (x < 3 ? 1 : x < 5 ? 2 : x < 7 ? 3 : 0) : 0;      /* OFA, FFA-1, FFA-2 */
    lab[4] = v && z >= 2 && z < 4 && y >= 2 ? (x < 2 ? 1 : x >= nx - 2 ? 2 : 0) : 0;  /* EBA, FBA-1 */
    lab[5] = v && z < 3 && y == 3 && x >= nx - 3 ? 2 : v && z >= 4 && y == 2 ? 1 : 0; /* PPA, OPA */
    lab[6] = v && z < 2 && y == 1 && x >= 4 && x < 6 ? 2 : 0;                         /* VWFA-1 */
    lab[7] = 0;
}
static const char *const atlas_files[] = {"brainmask",   "nsdgeneral",  "streams",   "floc-faces",
                                          "floc-bodies", "floc-places", "floc-words"};
enum { N_VOLUMES = sizeof atlas_files / sizeof atlas_files[0] };

static vt_status write_subject(const char *root, uint64_t seed, int subj, const double *subjectim,
                               const double *masterordering)
{
    int nx = subj_nx[subj - 1], nvox = nx * NY * NZ, n_sess = subj_sessions[subj - 1];
    vt_status st = VT_OK;
    int16_t *labels = vt_malloc((size_t)nvox * N_VOLUMES, sizeof *labels);
    float *snr = vt_malloc((size_t)nvox, sizeof *snr);
    double *w = vt_malloc((size_t)nvox * N_FEAT, sizeof *w);
    int16_t *betas = vt_malloc((size_t)nvox * TRIALS, sizeof *betas);
    if (!labels || !snr || !w || !betas) {
        st = vt_fail(VT_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Voxels: labels, a true signal/noise sd ratio, and unit-norm tuning over the
     * features. */
    vt_rng r = vt_rng_make(seed, 100 + (uint64_t)subj);
    for (int v = 0; v < nvox; v++) {
        int x = v % nx, y = (v / nx) % NY, z = v / (nx * NY);
        int16_t lab[8];
        anatomy(nx, x, y, z, lab);
        for (int a = 0; a < N_VOLUMES; a++) labels[(size_t)a * nvox + v] = lab[a];
        double u = vt_rng_uniform(&r);
        snr[v] = lab[1] == 1 ? (float)(0.1 + 1.3 * u) : lab[0] ? (float)(0.08 * u) : 0.0f;
        double norm = 0;
        for (int k = 0; k < N_FEAT; k++) {
            double e = vt_rng_normal(&r);
            w[v * N_FEAT + k] = e;
            norm += e * e;
        }
        for (int k = 0; k < N_FEAT; k++) w[v * N_FEAT + k] /= sqrt(norm);
    }
    int64_t dims[3] = {nx, NY, NZ};
    const int16_t *vols[N_VOLUMES];
    for (int a = 0; a < N_VOLUMES; a++) vols[a] = labels + (size_t)a * nvox;
    if ((st = vt_nsd_write_volumes(root, subj, dims, N_VOLUMES, atlas_files, vols, snr))) goto done;

    /* Betas in percent signal change: a per-session offset and gain (which
     * z-scoring removes) times (signal + noise), noise sd 1, signal sd = snr;
     * stored x 300 as int16; zero outside the brain mask, as NSD's files are. */
    for (int s = 0; s < n_sess; s++) {
        vt_rng rs = vt_rng_make(seed, 10000 + (uint64_t)subj * 100 + (uint64_t)s);
        for (int v = 0; v < nvox; v++) {
            double off = 0.5 * vt_rng_normal(&rs), gain = 1 + 0.3 * vt_rng_uniform(&rs);
            for (int t = 0; t < TRIALS; t++) {
                int trial = s * TRIALS + t;
                int img = (int)subjectim[(subj - 1) * N_SUBJIM + (int)masterordering[trial] - 1] - 1;
                double g = 0;
                for (int k = 0; k < N_FEAT; k++) g += w[v * N_FEAT + k] * feature(seed, img, k);
                double beta = labels[v] ? off + gain * (snr[v] * g + vt_rng_normal(&rs)) : 0;
                betas[(size_t)t * nvox + v] = vt_nsd_beta_i16(beta);
            }
        }
        if ((st = vt_nsd_write_session(root, subj, s + 1, dims, TRIALS, betas, true))) goto done;
    }
    st = vt_nsd_trim_sessions(root, subj, n_sess);
done:
    free(labels);
    free(snr);
    free(w);
    free(betas);
    return st;
}

/* A tiny IT recording in the Brain-Score NetCDF layout of the public Majaj-Hong
 * assembly (data over neuroid x presentation x time_bin; image_id, repetition,
 * object_name, category_name on presentation; neuroid_id, region on neuroid),
 * driven by the same latent features as the tiny NSD images it shows (the first
 * IT_STIM of the brick). */
enum { IT_STIM = 40, IT_UNITS = 24, IT_V4 = 6 };

static vt_status write_it(const char *root, uint64_t seed)
{
    char dir[4096], path[4200], tmp[4300];
    snprintf(dir, sizeof dir, "%s/brainio", root);
    vt_status st = vt_mkdirs(dir);
    if (st) return st;
    snprintf(path, sizeof path, "%s/assy_tiny_MajajHong2015_like.nc", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    /* Presentations: 3 repetitions of every image, a 4th for every 5th image;
     * shuffled. */
    int np = 0, stim[IT_STIM * 4], rep[IT_STIM * 4];
    for (int s = 0; s < IT_STIM; s++)
        for (int k = 0; k < (s % 5 == 0 ? 4 : 3); k++) stim[np] = s, rep[np] = k, np++;
    vt_rng r = vt_rng_make(seed, 2);
    for (int i = np - 1; i > 0; i--) {
        int j = (int)vt_rng_below(&r, (uint64_t)i + 1), a = stim[i], b = rep[i];
        stim[i] = stim[j], rep[i] = rep[j], stim[j] = a, rep[j] = b;
    }
    float *data = vt_malloc((size_t)IT_UNITS * (size_t)np, sizeof *data);
    double w[IT_UNITS][N_FEAT];
    char *ids[IT_STIM * 4], *objs[IT_STIM * 4], *cats[IT_STIM * 4], *nids[IT_UNITS], *regions[IT_UNITS];
    char idbuf[IT_STIM * 4][16], objbuf[IT_STIM * 4][16], catbuf[IT_STIM * 4][16], nidbuf[IT_UNITS][32];
    long long reps[IT_STIM * 4], nsd_index[IT_STIM * 4];
    if (!data) return vt_fail(VT_ERR_NOMEM, "out of memory");
    for (int u = 0; u < IT_UNITS; u++)
        for (int k = 0; k < N_FEAT; k++) w[u][k] = vt_rng_normal(&r) / sqrt((double)N_FEAT);
    static const char *const category[4] = {"animals", "cars", "faces", "fruits"};
    for (int p = 0; p < np; p++) {
        int s = stim[p];
        double f[N_FEAT];
        for (int k = 0; k < N_FEAT; k++) f[k] = feature(seed, s, k);
        for (int u = 0; u < IT_UNITS; u++) {
            double g = 0;
            for (int k = 0; k < N_FEAT; k++) g += w[u][k] * f[k];
            data[(size_t)u * np + p] = (float)(10 + 4 * g + 2 * vt_rng_normal(&r)); /* rate-like, noisy */
        }
        snprintf(idbuf[p], sizeof idbuf[p], "tiny%04d", s + 1);
        snprintf(objbuf[p], sizeof objbuf[p], "%s%d", category[(f[0] > 0) * 2 + (f[1] > 0)], s % 2);
        snprintf(catbuf[p], sizeof catbuf[p], "%s", category[(f[0] > 0) * 2 + (f[1] > 0)]);
        ids[p] = idbuf[p], objs[p] = objbuf[p], cats[p] = catbuf[p];
        reps[p] = rep[p], nsd_index[p] = s;
    }
    for (int u = 0; u < IT_UNITS; u++) {
        snprintf(nidbuf[u], sizeof nidbuf[u], "Tiny_%c_%02d", u < IT_UNITS - IT_V4 ? 'L' : 'R', u);
        nids[u] = nidbuf[u];
        regions[u] = u < IT_UNITS - IT_V4 ? "IT" : "V4";
    }
    int nc, dn, dp, dt, v[9], rc;
    long long tb_start = 70, tb_end = 170;
    const char *stage = "create";
    unlink(tmp);
    if ((rc = nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &nc)) == NC_NOERR) {
        int dims3[3];
        stage = "define";
        if ((rc = nc_def_dim(nc, "neuroid", IT_UNITS, &dn)) || (rc = nc_def_dim(nc, "presentation", (size_t)np, &dp)) ||
            (rc = nc_def_dim(nc, "time_bin", 1, &dt)))
            goto nc_done;
        dims3[0] = dn, dims3[1] = dp, dims3[2] = dt;
        if ((rc = nc_def_var(nc, "dicarlo.MajajHong2015.tiny", NC_FLOAT, 3, dims3, &v[0])) ||
            (rc = nc_def_var(nc, "image_id", NC_STRING, 1, &dp, &v[1])) ||
            (rc = nc_def_var(nc, "repetition", NC_INT64, 1, &dp, &v[2])) ||
            (rc = nc_def_var(nc, "object_name", NC_STRING, 1, &dp, &v[3])) ||
            (rc = nc_def_var(nc, "category_name", NC_STRING, 1, &dp, &v[4])) ||
            (rc = nc_def_var(nc, "nsd_index", NC_INT64, 1, &dp, &v[5])) ||
            (rc = nc_def_var(nc, "neuroid_id", NC_STRING, 1, &dn, &v[6])) ||
            (rc = nc_def_var(nc, "region", NC_STRING, 1, &dn, &v[7])) ||
            (rc = nc_def_var(nc, "time_bin_start", NC_INT64, 1, &dt, &v[8])))
            goto nc_done;
        int vend;
        if ((rc = nc_def_var(nc, "time_bin_end", NC_INT64, 1, &dt, &vend))) goto nc_done;
        stage = "write";
        if ((rc = nc_enddef(nc)) || (rc = nc_put_var_float(nc, v[0], data)) ||
            (rc = nc_put_var_string(nc, v[1], (const char **)ids)) || (rc = nc_put_var_longlong(nc, v[2], reps)) ||
            (rc = nc_put_var_string(nc, v[3], (const char **)objs)) ||
            (rc = nc_put_var_string(nc, v[4], (const char **)cats)) ||
            (rc = nc_put_var_longlong(nc, v[5], nsd_index)) ||
            (rc = nc_put_var_string(nc, v[6], (const char **)nids)) ||
            (rc = nc_put_var_string(nc, v[7], (const char **)regions)) ||
            (rc = nc_put_var_longlong(nc, v[8], &tb_start)) || (rc = nc_put_var_longlong(nc, vend, &tb_end)))
            goto nc_done;
    nc_done:;
        int rc2 = nc_close(nc);
        if (rc == NC_NOERR) rc = rc2;
    }
    free(data);
    if (rc != NC_NOERR)
        st = vt_fail(VT_ERR_IO, "%s: NetCDF %s failed: %s", path, stage, nc_strerror(rc));
    else if (rename(tmp, path) != 0)
        st = vt_fail(VT_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st) unlink(tmp);
    return st;
}

vt_status vt_nsd_make_tiny(const char *dir, uint64_t seed)
{
    vt_h5_quiet();
    vt_status st = vt_mkdirs(dir);
    if (st) return st;
    double *subjectim = vt_malloc(8 * N_SUBJIM, sizeof *subjectim);
    double *mo = vt_malloc(N_DESIGN, sizeof *mo);
    if (!subjectim || !mo) st = vt_fail(VT_ERR_NOMEM, "out of memory");
    if (!st) st = write_stimuli(dir, seed);
    if (!st) st = write_design(dir, seed, subjectim, mo);
    for (int s = 1; s <= 2 && !st; s++) st = write_subject(dir, seed, s, subjectim, mo);
    if (!st) st = write_it(dir, seed);
    free(subjectim);
    free(mo);
    if (st) return st;
    char path[4096], text[1024];
    snprintf(path, sizeof path, "%s/ventral_tiny.json", dir);
    snprintf(text, sizeof text,
             "{\"dataset\": \"nsd-tiny\", \"seed\": %llu, \"subjects\": [1, 2], "
             "\"sessions\": [%d, %d], "
             "\"trials_per_session\": %d, \"images\": %d, "
             "\"images_per_subject\": %d, \"shared\": %d, "
             "\"repetitions\": %d, \"image_size\": %d, \"grids\": [[%d, %d, %d], "
             "[%d, %d, %d]], "
             "\"it_assembly\": \"brainio/assy_tiny_MajajHong2015_like.nc\", "
             "\"ventral\": \"%s\"}\n",
             (unsigned long long)seed, subj_sessions[0], subj_sessions[1], TRIALS, N_BRICK, N_SUBJIM, N_SHARED, N_REPS,
             IMG, subj_nx[0], NY, NZ, subj_nx[1], NY, NZ, vt_version());
    return write_text(path, text);
}
