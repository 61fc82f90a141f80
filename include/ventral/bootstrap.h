/* Bootstrap resampling over stimuli (METHODS §9): seeded draws and percentile intervals.
 *
 * Resample r of a bootstrap draws its n stimulus indices from the counter-based stream
 * (seed, r), so every resample is a pure function of (seed, r, n): the same whatever the
 * thread count or the order in which resamples are computed.
 *
 *   int64_t idx[n];
 *   for (r = 0; r < 1000; r++) {
 *       vt_bootstrap_draw(seed, r, n, idx);       // n indices in [0, n), with replacement
 *       stat[r] = statistic over stimuli idx;
 *   }
 *   vt_bootstrap_percentile(stat, 1000, 0.95, &lo, &hi);
 */
#ifndef VENTRAL_BOOTSTRAP_H
#define VENTRAL_BOOTSTRAP_H

#include <stdint.h>

#include "ventral/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* idx[k] for k < n: uniform draws from [0, n) with replacement, the k-th draw of stream
 * (seed, resample) (vt_rng_below). n >= 1. */
void vt_bootstrap_draw(uint64_t seed, int64_t resample, int64_t n, int64_t *idx);

/* counts[i] = how many times stimulus i occurs in idx[0..n). counts has n entries. */
void vt_bootstrap_counts(const int64_t *idx, int64_t n, uint32_t *counts);

/* The central `level` percentile interval of samples[0..k): the (1 − level)/2 and
 * (1 + level)/2 quantiles with numpy's default linear interpolation
 * (np.percentile(s, [2.5, 97.5]) for level 0.95). NaN samples (undefined resamples) are
 * left out. VT_ERR_ARG when 0 < level < 1 fails or no sample is a number. */
vt_status vt_bootstrap_percentile(const double *samples, int64_t k, double level, double *low, double *high);

#ifdef __cplusplus
}
#endif
#endif
