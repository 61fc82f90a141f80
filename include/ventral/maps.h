/* Spatial activity maps (METHODS §11, Arcaro-style): per image and recording site, a 2-D map of
 * where the site responds. Maps live in the brain store as float32 [stimuli, repetitions, sites,
 * H, W]; a repetition is missing when its map's first pixel is NaN (a present map must be
 * entirely finite).
 *
 *   vt_tensor *c = vt_tensor_new(VT_F64, 1, &sites);
 *   vt_maps_split_half(b->maps, 100, seed, c);           // per-site split-half ceiling
 *   vt_maps_score(model_maps, b->maps, score);           // per-site model-vs-neural agreement
 */
#ifndef VENTRAL_MAPS_H
#define VENTRAL_MAPS_H

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Spearman correlation (average ranks for ties) of two maps of n pixels; NaN when either is
 * constant. scratch: 2n doubles. */
double vt_maps_spearman(const double *a, const double *b, int64_t n, double *scratch);

/* Split-half ceiling per site with the given repetition orders (int32 splits x stimuli x reps,
 * as from vt_reliability_split_orders): for each split and image, the first floor(t/2) of the
 * image's t present repetitions (in the split's order) form half A, the rest half B; the
 * Spearman correlation of the two half-mean maps is averaged over images with t >= 2; the mean r
 * is Spearman-Brown corrected (2r / (1 + r)); out[site] = the mean over splits (NaN if no split
 * gives a value). maps: float32/float64 rank 5; out: float64 [sites]. */
vt_status vt_maps_split_half_orders(const vt_tensor *maps, const vt_tensor *orders, vt_tensor *out);
vt_status vt_maps_split_half(const vt_tensor *maps, int64_t splits, uint64_t seed, vt_tensor *out);

/* Agreement of model maps [stimuli, sites, H', W'] (e.g. input gradients of a fitted read-out,
 * already resized to the neural grid: H' = H, W' = W) with the trial-averaged neural maps:
 * out[site] = mean over images of the Spearman correlation. float32/float64; out float64 [sites]. */
vt_status vt_maps_score(const vt_tensor *model, const vt_tensor *maps, vt_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
