/* The Natural Scenes Dataset (Allen et al. 2022) in its released layout and formats
 * (METHODS §7; facts confirmed and assumed are listed in docs/brain_store.md).
 *
 *   vt_nsd_assemble_options o;
 *   vt_nsd_assemble_defaults(&o);
 *   o.root = "/data/nsd";
 *   o.subject = 1;
 *   vt_brain *b;
 *   if (vt_nsd_assemble(&o, &b) == VT_OK) { vt_brain_write("subj01.h5", b); vt_brain_free(b); }
 *
 * Files read under the root (AA = subject, NN = session, SPACE = func1pt8mm by default,
 * BETAS = betas_fithrf_GLMdenoise_RR by default):
 *   nsddata/experiments/nsd/nsd_expdesign.mat            masterordering, subjectim, sharedix (MATLAB v5)
 *   nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5          imgBrick (N x H x W x 3 uint8), for id checks
 *   nsddata_betas/ppdata/subjAA/SPACE/BETAS/betas_sessionNN.hdf5   'betas' int16 (trials x Z x Y x X) = beta*300
 *   nsddata_betas/ppdata/subjAA/SPACE/BETAS/betas_sessionNN.nii.gz int16 X x Y x Z x trials (same values)
 *   nsddata_betas/ppdata/subjAA/SPACE/BETAS/ncsnr.nii.gz           float X x Y x Z
 *   nsddata/ppdata/subjAA/SPACE/roi/ATLAS.nii.gz                   integer label volumes
 *   nsddata/freesurfer/subjAA/label/ATLAS.mgz.ctab                 label names (optional)
 */
#ifndef VENTRAL_NSD_H
#define VENTRAL_NSD_H

#include <stdint.h>

#include "ventral/brain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The occipitotemporal set of METHODS §7 (union), applied inside the 'within' mask. */
#define VT_NSD_DEFAULT_ROIS                                                                                            \
    "streams:midventral,streams:midlateral,streams:ventral,streams:lateral,"                                           \
    "floc-faces:OFA,floc-faces:FFA-1,floc-faces:FFA-2,floc-bodies:EBA,floc-bodies:FBA-1,floc-bodies:FBA-2,"            \
    "floc-places:OPA,floc-places:PPA,floc-words:OWFA,floc-words:VWFA-1,floc-words:VWFA-2"

typedef struct vt_nsd_assemble_options {
    const char *root;   /* NSD root directory (holds nsddata/, nsddata_betas/, ...) */
    int subject;        /* 1..8 */
    const char *space;  /* "func1pt8mm" (default) or "func1mm" */
    const char *betas;  /* betas version folder, default "betas_fithrf_GLMdenoise_RR" */
    const char *format; /* "hdf5" (default; random access) or "nifti" (streams .nii.gz volumes) */
    const char *rois;   /* comma list of ATLAS:LABEL (name or number) or ATLAS (any label > 0); "all" = every voxel */
    const char *within; /* mask atlas every unit must lie in (label > 0), default "nsdgeneral"; "" = none */
    double ncsnr;       /* keep voxels with ncsnr > this (from ncsnr.nii.gz); NaN = no NCSNR selection */
    const char *images; /* "shared" (sharedix, default), "all" (every image the subject saw), or a file of
                           1-based NSD ids (one per line, or FILE.h5:DATASET), kept in its order */
    int max_sessions;   /* 0 = every session file present */
    /* Called before each session is read (done = sessions read so far); may be NULL. */
    void (*progress)(void *ctx, int done, int total);
    void *progress_ctx;
} vt_nsd_assemble_options;

void vt_nsd_assemble_defaults(vt_nsd_assemble_options *o);

/* Builds a store: responses[image, repetition, voxel] = betas z-scored per session and voxel
 * (population sd over the session's trials), repetitions in presentation order, NaN where an
 * image was shown fewer times; images never shown in the sessions read are dropped. Stimulus
 * ids are the 1-based NSD 73k ids (decimal strings, as in the design file); metadata column
 * "nsd_index" holds the 0-based imgBrick row. Reads session by session, only the selected
 * voxels: memory is the output plus one session of those voxels. */
vt_status vt_nsd_assemble(const vt_nsd_assemble_options *o, vt_brain **out);

/* Writes a tiny NSD in the released layout and formats under `dir` (2 subjects, subject 1
 * with 3 sessions and subject 2 with 2, 60 trials per session, 60 images per subject of which
 * 20 are shared, 3 repetitions, 10 x 8 x 6 and 9 x 8 x 6 voxel volumes, signal + noise), deterministic
 * for a seed. Its ncsnr.nii.gz holds each voxel's true generative signal sd / noise sd. Also writes
 * "ventral_tiny.json" describing the sizes, and brainio/assy_tiny_MajajHong2015_like.nc, a tiny IT
 * recording in the Brain-Score NetCDF layout showing 40 of the same images. */
vt_status vt_nsd_make_tiny(const char *dir, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
