/* The brain-data store: one HDF5 file per subject (or recording set) holding the responses
 * every later command reads, whatever the source (NSD betas, IT recordings, generic arrays).
 * The on-disk layout is documented in docs/brain_store.md.
 *
 *   vt_brain *b = vt_brain_new(n_stimuli, n_reps, n_units);  // responses all NaN
 *   float *r = vt_tensor_f32(b->responses);                   // r[(s * n_reps + k) * n_units + u]
 *   b->stimulus_ids[s] = strdup("img-0001");  ...             // every id set before writing
 *   vt_brain_write("B.h5", b);                                // atomic: temp name + rename
 *   vt_brain_free(b);
 *
 *   vt_brain *in;
 *   if (vt_brain_read("B.h5", &in) != VT_OK) fprintf(stderr, "%s\n", vt_last_error());
 *
 * Responses are float32 stimuli × repetitions × units; NaN marks a missing trial (a stimulus
 * shown fewer times than the most-repeated one, or a unit not recorded for it).
 */
#ifndef VENTRAL_BRAIN_H
#define VENTRAL_BRAIN_H

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_BRAIN_FORMAT         "ventral-brain"
#define VT_BRAIN_FORMAT_VERSION 1
#define VT_BRAIN_MAX_META       16

typedef struct vt_brain {
    vt_tensor *responses; /* float32 [n_stimuli, n_reps, n_units], NaN = missing; owned */
    int64_t n_stimuli, n_reps, n_units;
    char **stimulus_ids; /* [n_stimuli], each a malloc'd string; unique */
    char **unit_ids;     /* [n_units] malloc'd strings, or NULL (then written as "u0", "u1", ...) */
    char **unit_rois;    /* [n_units] ROI / region labels, or NULL */
    int32_t *unit_ijk;   /* [n_units * 3] voxel coordinates (0-based i, j, k) in the source volume, or NULL */
    float *unit_ncsnr;   /* [n_units] NCSNR supplied by the source (e.g. NSD's ncsnr.nii.gz), or NULL */
    /* Per-stimulus string metadata (category, object, image index ...): meta_names[m] names
     * column m, meta[m][s] its value for stimulus s. */
    int n_meta;
    char *meta_names[VT_BRAIN_MAX_META];
    char **meta[VT_BRAIN_MAX_META];
    /* Optional spatial activity maps (METHODS §11): float32 [n_stimuli, n_reps, n_units, H, W],
     * NaN = missing; NULL when absent. The units are the recording sites. */
    vt_tensor *maps;
    char *subject;    /* free text, e.g. "subj01"; may be NULL */
    char *source;     /* "nsd", "npy", "hdf5", "netcdf", ... ; may be NULL */
    char *provenance; /* free text (JSON by convention): inputs, options, ventral version; may be NULL */
} vt_brain;

/* A new store with responses all NaN and every other field NULL/0 (string arrays for
 * stimulus ids allocated and zeroed). NULL (last error set) on bad sizes or no memory. */
vt_brain *vt_brain_new(int64_t n_stimuli, int64_t n_reps, int64_t n_units);
/* Frees everything the store owns. NULL is a no-op. */
void vt_brain_free(vt_brain *b);

/* Adds a per-stimulus metadata column; takes ownership of `values` ([n_stimuli] malloc'd
 * strings, in a malloc'd array) even on failure. */
vt_status vt_brain_add_meta(vt_brain *b, const char *name, char **values);
/* The column named `name`, or NULL. Borrowed. */
char **vt_brain_meta(const vt_brain *b, const char *name);

/* Checks internal consistency (sizes, ids set and unique, dtypes); names what is wrong. */
vt_status vt_brain_validate(const vt_brain *b);

/* Writes the store atomically: to "<path>.tmp-<pid>", renamed into place on success. */
vt_status vt_brain_write(const char *path, const vt_brain *b);
/* Reads a whole store. Fails with a sentence naming the file and dataset on a missing
 * dataset, wrong dtype or shape, a truncated file or a foreign format. */
vt_status vt_brain_read(const char *path, vt_brain **out);

/* Keeps only the units whose ROI label (unit_rois, '+'-separated components) has a component
 * equal to `roi` or starting with "roi:" (an atlas name selects all its labels), in place:
 * responses, maps and unit metadata. VT_ERR_ARG when the store has no ROI labels or no unit
 * matches. */
vt_status vt_brain_select_roi(vt_brain *b, const char *roi);

/* A new float64 tensor units x stimuli x repetitions (the layout GSN takes), NaN kept. */
vt_status vt_brain_units_first(const vt_brain *b, vt_tensor **out);

/* A new float64 tensor stimuli x units: the mean over each stimulus's present trials (NaN
 * where a unit has none) — the trial-averaged responses that encoding and RSA scores use. */
vt_status vt_brain_trial_mean(const vt_brain *b, vt_tensor **out);

/* Trials present per stimulus into counts[n_stimuli]: a trial counts when any unit has a
 * value (not NaN). */
void vt_brain_trial_counts(const vt_brain *b, int32_t *counts);

#ifdef __cplusplus
}
#endif
#endif
