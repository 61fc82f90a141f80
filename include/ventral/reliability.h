/* Reliability of repeated measurements (METHODS §7): NCSNR, noise ceiling, split-half.
 *
 * Input R: a 3-d tensor stimuli × repetitions × units (float32 or float64; other dtypes are
 * rejected), NaN marking a missing repetition. Each unit uses its own available trials, so NaN
 * patterns may differ between units. ±Inf is rejected. Outputs are float64 vectors of length
 * `units` allocated by the caller; the loops run over units in the innermost (contiguous)
 * dimension and make one pass over R, so a memory-mapped NSD-sized array (10⁴ stimuli × 3 ×
 * 10⁵ voxels) streams from disk once. Results do not depend on the thread count.
 *
 *   vt_tensor *ncsnr = vt_tensor_new(VT_F64, 1, &units), *nc = vt_tensor_new(VT_F64, 1, &units);
 *   vt_reliability_ncsnr(betas, ncsnr, nc, NULL, NULL);
 *
 * NCSNR (Allen et al. 2022), per unit, over its t_i available trials of stimulus i:
 *   σ²_n = mean over stimuli with t_i >= 2 of the across-trial variance (ddof 1);
 *   σ²_total = variance (ddof 1) of all available trials of all stimuli;
 *   σ²_s = max(0, σ²_total − σ²_n);  ncsnr = σ_s / σ_n.
 * Noise ceiling (% explainable variance of trial-averaged responses):
 *   NC = 100 · ncsnr² / (ncsnr² + f),  f = mean over stimuli with t_i >= 1 of 1/t_i
 * — NSD's (A/3 + B/2 + C/1)/(A + B + C) for A, B, C stimuli with 3, 2, 1 trials.
 * Undefined cases are NaN, never an error: no stimulus with >= 2 trials or fewer than 2 trials
 * in all (σ²_n or σ²_total undefined), or σ²_n = 0 with σ²_s = 0 (a constant unit). σ²_n = 0
 * with σ²_s > 0 (noiseless) gives ncsnr = +Inf and NC = 100.
 */
#ifndef VENTRAL_RELIABILITY_H
#define VENTRAL_RELIABILITY_H

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-unit NCSNR and noise ceiling of R (see above). Each output is a float64 tensor of shape
 * [units] or NULL to skip it: ncsnr, noise_ceiling (percent), noise_var (σ²_n), signal_var (σ²_s).
 * VT_ERR_ARG if R is not 3-d with >= 2 stimuli and >= 2 repetitions, holds ±Inf, or an output
 * has the wrong shape or dtype. */
vt_status vt_reliability_ncsnr(const vt_tensor *r, vt_tensor *ncsnr, vt_tensor *noise_ceiling, vt_tensor *noise_var,
                               vt_tensor *signal_var);

/* The NSD noise ceiling (percent) for a given ncsnr and f = mean of 1/t over stimuli
 * (1/r for r trials each). NaN for NaN ncsnr; 100 for ncsnr = +Inf. */
double vt_reliability_noise_ceiling(double ncsnr, double mean_inv_trials);

/* The repetition orders that define split-half splits: a new int32 tensor splits × stimuli ×
 * repetitions where [s, i, :] is a permutation of 0..reps−1 drawn from the counter RNG stream
 * (seed, s · stimuli + i) — a pure function of its arguments. splits >= 1. */
vt_status vt_reliability_split_orders(int64_t splits, int64_t stimuli, int64_t reps, uint64_t seed, vt_tensor **out);

/* Split-half reliability with Spearman–Brown correction, per unit, for the given orders
 * (int32 splits × stimuli × reps from vt_reliability_split_orders, or any permutations).
 * For split s and a unit, stimulus i's available trials are taken in the order orders[s, i, :]
 * (skipping missing ones); with t_i of them, the first ⌊t_i/2⌋ form half A and the remaining
 * ⌈t_i/2⌉ half B — an odd trial goes to half B, so every trial is used (Brain-Score's split
 * of the repetitions into n//2 and the rest). Stimuli with t_i < 2 are left out of that unit's
 * correlation. r_s = Pearson correlation across the included stimuli of the half-A and half-B
 * means; r'_s = 2 r_s / (1 + r_s) (−Inf for r_s = −1); out[unit] = mean of r'_s over the splits
 * where r_s is defined (>= 2 included stimuli and neither half-mean vector constant); NaN if
 * none is. out: float64 [units]. VT_ERR_ARG for a bad R (as vt_reliability_ncsnr), orders of
 * the wrong shape or dtype, or a row of orders that is not a permutation. */
vt_status vt_reliability_split_half_orders(const vt_tensor *r, const vt_tensor *orders, vt_tensor *out);

/* vt_reliability_split_half_orders with orders from vt_reliability_split_orders(splits, ..., seed). */
vt_status vt_reliability_split_half(const vt_tensor *r, int64_t splits, uint64_t seed, vt_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
