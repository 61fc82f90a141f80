/* Internal: NSD release layout (paths) and the label tables of its ROI atlases. */
#ifndef VT_NSD_INTERNAL_H
#define VT_NSD_INTERNAL_H

#include <stddef.h>

#define VT_NSD_EXPDESIGN "nsddata/experiments/nsd/nsd_expdesign.mat"
#define VT_NSD_STIMULI   "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"

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

#endif
