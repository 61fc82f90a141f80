/* Internal: NSD release layout (paths), the label tables of its ROI atlases, and writers of the
 * layout (used by `ventral data make-tiny` and `ventral simulate`). */
#ifndef VT_NSD_INTERNAL_H
#define VT_NSD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ventral/tensor.h"

#define VT_NSD_EXPDESIGN "nsddata/experiments/nsd/nsd_expdesign.mat"
#define VT_NSD_STIMULI   "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
#define VT_NSD_SPACE     "func1pt8mm"                 /* the space the writers use */
#define VT_NSD_BETAS     "betas_fithrf_GLMdenoise_RR" /* the betas version the writers use */

/* Label names of NSD's volume atlases (value -> name), as in their .mgz.ctab files. */
typedef struct vt_nsd_label {
    int value;
    const char *name;
} vt_nsd_label;
typedef struct vt_nsd_atlas {
    const char *atlas;
    const vt_nsd_label *labels;
    int n;
} vt_nsd_atlas;
extern const vt_nsd_atlas vt_nsd_atlases[];
extern const int vt_nsd_n_atlases;

/* snprintf-style path builders under root for subject `subj` (1-based). */
void vt_nsd_path_betas_dir(char *buf, size_t n, const char *root, int subj, const char *space, const char *betas);
void vt_nsd_path_roi(char *buf, size_t n, const char *root, int subj, const char *space, const char *atlas);
void vt_nsd_path_ctab(char *buf, size_t n, const char *root, int subj, const char *atlas);

/* ---- Writing the layout (src/io/nsd_tiny.c) ------------------------------------------------
 * Every file is written atomically; folders are created as needed; space VT_NSD_SPACE, betas
 * VT_NSD_BETAS. What `vt_nsd_assemble` reads back is documented in docs/brain_store.md. */

/* A beta in percent signal change as the release stores it: × 300, rounded, clamped to int16
 * (NaN -> 0). */
int16_t vt_nsd_beta_i16(double beta);

/* nsd_stimuli.hdf5: `imgBrick` = images (uint8 N × H × W × 3), chunked one image at a time; the
 * image in row i has the 1-based id i + 1. */
vt_status vt_nsd_write_stimuli(const char *root, const vt_tensor *images);

/* nsd_expdesign.mat (MATLAB v5, double like the release): `masterordering` 1 × n_trials (trial ->
 * 1-based column of a subject's subjectim row), `subjectim` n_subjects × n_images (row-major
 * here; 1-based 73k ids), `sharedix` 1 × n_shared (1-based 73k ids). */
vt_status vt_nsd_write_design(const char *root, const double *masterordering, int64_t n_trials, const double *subjectim,
                              int n_subjects, int64_t n_images, const double *sharedix, int64_t n_shared);

/* A subject's volumes on its grid dims = X, Y, Z (data x fastest): for each name, an int16
 * label volume — "brainmask" goes to nsddata/ppdata/subjAA/SPACE/brainmask.nii.gz, any other
 * name is an atlas written to .../roi/NAME.nii.gz with NAME.mgz.ctab when ventral knows NSD's
 * label table for it — and, when ncsnr is not NULL, the float32 ncsnr.nii.gz beside the betas. */
vt_status vt_nsd_write_volumes(const char *root, int subj, const int64_t dims[3], int n_volumes,
                               const char *const *names, const int16_t *const *volumes, const float *ncsnr);

/* One session of a subject's single-trial betas, betas[t * nvox + v] (vt_nsd_beta_i16 values,
 * v the x-fastest flat voxel index): betas_sessionNN.hdf5, dataset `betas` trials × Z × Y × X
 * chunked one voxel's trials at a time as the release is, and with `nifti` also
 * betas_sessionNN.nii.gz (X × Y × Z × trials, the same bytes). session is 1-based. */
vt_status vt_nsd_write_session(const char *root, int subj, int session, const int64_t dims[3], int64_t trials,
                               const int16_t *betas, bool nifti);

/* Removes betas_sessionNN files numbered above n_sessions (left by an earlier, longer write),
 * since the assembler reads sessions until the first missing file. */
vt_status vt_nsd_trim_sessions(const char *root, int subj, int n_sessions);

#endif
