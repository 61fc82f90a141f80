/* Neural recordings (IT neurons, sites) into the brain store (METHODS §10, §11).
 *
 * Two sources: the generic form (an array plus a stimulus id list) and Brain-Score-style
 * NetCDF assemblies laid out like the public Majaj–Hong IT data: a data variable over the
 * dimensions presentation × neuroid (in either order, with an optional time_bin dimension),
 * coordinate variables on presentation (stimulus_id required; repetition optional; any other,
 * e.g. object_name, category_name, become per-stimulus metadata) and on neuroid (neuroid_id,
 * region).
 *
 *   vt_brain *b;
 *   vt_neural_netcdf_options o = {0};
 *   o.time_bin = -1;
 *   if (vt_neural_from_netcdf("majajhong.nc", &o, &b) == VT_OK) vt_brain_write("it.h5", b);
 */
#ifndef VENTRAL_NEURAL_H
#define VENTRAL_NEURAL_H

#include "ventral/brain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A store from responses x (float32/float64): 3-d stimuli x repetitions x units, or 2-d
 * stimuli x units (one repetition), with ids[stimuli] (copied; must be unique). */
vt_status vt_neural_from_array(const vt_tensor *x, char *const *ids, vt_brain **out);

/* A store from presentations: x is 2-d presentations x units (float32/float64), ids[p] the
 * stimulus of presentation p, rep[p] its repetition number or NULL. Stimuli keep the order of
 * their first presentation; each stimulus's presentations fill repetitions 0, 1, ... in order
 * of rep (then of presentation); repetitions = the largest count, NaN below it. */
vt_status vt_neural_from_presentations(const vt_tensor *x, char *const *ids, const double *rep, vt_brain **out);

/* Stimulus ids from a text file (one per line; blank lines ignored) or from "FILE.h5:DATASET"
 * (a string or integer dataset). *ids is a malloc'd array of malloc'd strings. */
vt_status vt_neural_read_ids(const char *spec, char ***ids, int64_t *n);

/* An array from "FILE.npy" or "FILE.h5:DATASET" (numeric), as a new owned float32 tensor. */
vt_status vt_neural_read_array(const char *spec, vt_tensor **out);

typedef struct vt_neural_netcdf_options {
    const char *variable; /* data variable; NULL = the first numeric variable over presentation and neuroid */
    int64_t time_bin;     /* index along time_bin when it has several bins; -1 = require a single bin */
} vt_neural_netcdf_options;

vt_status vt_neural_from_netcdf(const char *path, const vt_neural_netcdf_options *o, vt_brain **out);

#ifdef __cplusplus
}
#endif
#endif
