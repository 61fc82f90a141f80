/* Comparing representations (METHODS §4, §9): the correlation of the strict upper triangles of
 * two similarity matrices, Pearson, Spearman (average ranks for ties) or Kendall tau-b, with
 * bootstrap confidence intervals over stimuli.
 *
 *   double r;
 *   vt_compare(model_rsm, brain_rsm, VT_CORR_PEARSON, &r);            // one number
 *
 *   vt_compare_pair *pair;                                            // many resamples
 *   vt_compare_pair_new(model_rsm, "model", brain_rsm, "brain", VT_CORR_SPEARMAN, &pair);
 *   vt_bootstrap_opts opts = {.resamples = 1000, .seed = 0, .level = 0.95};
 *   vt_bootstrap_ci ci;
 *   vt_compare_bootstrap(pair, &opts, &ci, NULL);                     // ci.low, ci.high
 *   vt_compare_pair_free(pair);
 *
 * Degenerate inputs are errors, never NaN: fewer than 2 values to correlate (a 2×2 matrix has a
 * one-value triangle), NaN or ±Inf inside the triangles, or a constant triangle (zero variance:
 * every correlation is undefined; scipy returns NaN there).
 *
 * The triangle order is numpy's triu_indices(n, 1): (0,1), (0,2), …, (0,n−1), (1,2), …
 * Neither matrix needs to be symmetric; only the strict upper triangle is read.
 */
#ifndef VENTRAL_COMPARE_H
#define VENTRAL_COMPARE_H

#include <stdint.h>

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vt_corr_method {
    VT_CORR_PEARSON,
    VT_CORR_SPEARMAN, /* Pearson of average ranks (scipy.stats.spearmanr) */
    VT_CORR_KENDALL,  /* tau-b, Knight's O(m log m) algorithm (scipy.stats.kendalltau) */
    VT_CORR_METHOD_COUNT
} vt_corr_method;

/* "pearson", "spearman", "kendall". */
const char *vt_corr_method_name(vt_corr_method method);
/* VT_ERR_ARG (listing the choices) for an unknown name. */
vt_status vt_corr_method_parse(const char *name, vt_corr_method *out);

/* n(n−1)/2: the number of values in the strict upper triangle of an n×n matrix. */
int64_t vt_compare_triangle_len(int64_t n);

/* Copies the strict upper triangle of the square 2-d matrix m (any real dtype) into
 * out[0..n(n−1)/2). VT_ERR_ARG, naming `what` and the (row, column), if a value there is NaN
 * or ±Inf, or if m is not square. */
vt_status vt_compare_triangle(const vt_tensor *m, const char *what, double *out);

/* The correlation of a[0..m) and b[0..m) (finite values, m >= 2). VT_ERR_ARG if either is
 * constant or contains NaN/Inf; the message says "A" / "B". */
vt_status vt_compare_vectors(const double *a, const double *b, int64_t m, vt_corr_method method, double *out);

/* The correlation of the strict upper triangles of two square matrices of one size, or of two
 * 1-d vectors of one length (any real dtypes). Errors name the inputs "A" and "B". */
vt_status vt_compare(const vt_tensor *a, const vt_tensor *b, vt_corr_method method, double *out);

/* A pair of inputs prepared once for many recomputations on resampled stimuli: the triangles
 * are extracted, checked and sorted (dense ranks) once. */
typedef struct vt_compare_pair vt_compare_pair;

/* a, b: as for vt_compare; name_a / name_b (NULL: "A" / "B") name them in error messages.
 * For 1-d inputs the pair gives an estimate but no resamples (there are no stimuli). */
vt_status vt_compare_pair_new(const vt_tensor *a, const char *name_a, const vt_tensor *b, const char *name_b,
                              vt_corr_method method, vt_compare_pair **out);
/* NULL is a no-op. */
void vt_compare_pair_free(vt_compare_pair *pair);
/* n for n×n matrices, 0 for 1-d vectors. */
int64_t vt_compare_pair_stimuli(const vt_compare_pair *pair);
/* The number of values correlated (n(n−1)/2, or the vectors' length). */
int64_t vt_compare_pair_values(const vt_compare_pair *pair);
/* The correlation of the pair (the same value vt_compare gives). */
vt_status vt_compare_pair_estimate(const vt_compare_pair *pair, double *out);

/* The correlation on a multiset of stimuli: counts[i] (n entries) = how many times stimulus i
 * was drawn. It equals the correlation over the strict upper triangles of A[s][:, s] and
 * B[s][:, s] for s = the drawn indices in ascending order, with the pairs of a stimulus with a
 * copy of itself dropped; i.e. each original pair (i < j) counts counts[i]·counts[j] times.
 * Sets *out = NaN (and returns VT_OK) when that is undefined (a constant resampled triangle,
 * fewer than 2 stimuli drawn). VT_ERR_ARG for 1-d pairs or n > 65535. */
vt_status vt_compare_pair_resampled(const vt_compare_pair *pair, const uint32_t *counts, double *out);

typedef struct vt_bootstrap_opts {
    int64_t resamples; /* >= 1; METHODS §9 default 1000 */
    uint64_t seed;     /* resample r draws from RNG stream (seed, r): see vt_bootstrap_draw */
    double level;      /* confidence level of the percentile interval, e.g. 0.95 */
} vt_bootstrap_opts;

typedef struct vt_bootstrap_ci {
    double estimate;   /* the correlation on all stimuli */
    double low, high;  /* percentile interval over the defined resamples */
    double se;         /* standard deviation (ddof 1) of the defined resamples */
    int64_t resamples; /* drawn */
    int64_t valid;     /* defined (see vt_compare_pair_resampled) */
} vt_bootstrap_ci;

/* Bootstrap over stimuli (METHODS §9): resample r draws n stimuli with replacement
 * (vt_bootstrap_draw(seed, r, n, ...)) and recomputes the correlation with
 * vt_compare_pair_resampled. Resamples run in parallel; each is computed by one thread in a
 * fixed order, so the result is bit-identical for any thread count. samples (optional,
 * opts->resamples entries) receives every resample's statistic, NaN where undefined. */
vt_status vt_compare_bootstrap(const vt_compare_pair *pair, const vt_bootstrap_opts *opts, vt_bootstrap_ci *out,
                               double *samples);

/* Bootstrap of a voxel-wise encoding score (METHODS §5, §9). pred and obs: n×m matrices of
 * one shape (stimuli × units, any real dtype, finite): predicted and observed responses. The
 * statistic: per unit j the Pearson r of pred[:, j] and obs[:, j] over the stimuli, then the
 * mean (mean = true) or the median (middle pair averaged) over the units whose r is defined (a
 * unit constant on either side is left out; NaN when none is defined). out->estimate is it on
 * all stimuli. Resample r draws the stimuli vt_bootstrap_draw(opts->seed, r, n, idx), the same
 * draws vt_compare_bootstrap makes for an n×n pair with these options, and recomputes every
 * unit's r on the drawn rows with their repeats (numpy: corrcoef(pred[idx, j], obs[idx, j])).
 * Work O(resamples · n · m), in tiles of units over chunks of resamples; every value is computed
 * by one thread in a fixed order, so the result is bit-identical for any thread count. samples
 * (optional, opts->resamples entries) receives every resample's statistic, NaN where undefined.
 * VT_ERR_ARG for mismatched shapes, n < 2, non-finite values, or when no resample is defined. */
vt_status vt_compare_columns_bootstrap(const vt_tensor *pred, const vt_tensor *obs, bool mean,
                                       const vt_bootstrap_opts *opts, vt_bootstrap_ci *out, double *samples);

#ifdef __cplusplus
}
#endif
#endif
