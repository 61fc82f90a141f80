/* Ranking with ties: the sort behind Spearman correlations and Kendall's tau.
 *
 * The sort is an LSD radix sort on the IEEE-754 bit patterns: three 11-bit passes over the high
 * 32 bits (passes whose digit is the same for every value skipped), then the runs that tie on
 * those bits are ordered by the low 32 bits. Ranking costs O(n) for all but adversarial inputs
 * (O(n log n) at worst), a few milliseconds for a 499,500-long RSM triangle. -0.0 and +0.0 are
 * one value.
 *
 *   double r[5];
 *   vt_rank_average((double[]){3, 1, 4, 1, 5}, 5, r);   // r = {3, 1.5, 4, 1.5, 5}
 */
#ifndef VENTRAL_RANK_H
#define VENTRAL_RANK_H

#include <stdint.h>

#include "ventral/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* order[0..n) = the indices of x in ascending order of value; equal values keep their index
 * order (a stable argsort, numpy's argsort(kind='stable')). x must be free of NaN (not
 * checked). 0 <= n <= UINT32_MAX, else VT_ERR_ARG. Allocates O(n) scratch. */
vt_status vt_rank_argsort(const double *x, int64_t n, uint32_t *order);

/* ranks[i] = the 1-based rank of x[i], tied values sharing the mean of their ranks
 * (scipy.stats.rankdata(method='average')). Same requirements as vt_rank_argsort. */
vt_status vt_rank_average(const double *x, int64_t n, double *ranks);

/* dense[i] = the 0-based index of x[i]'s value among the distinct values of x (ties share
 * one index); *n_distinct = how many distinct values there are. Same requirements. */
vt_status vt_rank_dense(const double *x, int64_t n, uint32_t *dense, int64_t *n_distinct);

/* Average and dense ranks from one sort: either output may be NULL. */
vt_status vt_rank_both(const double *x, int64_t n, double *average, uint32_t *dense, int64_t *n_distinct);

#ifdef __cplusplus
}
#endif
#endif
