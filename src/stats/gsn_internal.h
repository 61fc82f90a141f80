/* Internal helpers shared by gsn.c (covariance estimation) and gsn_rsa.c (RSA ceiling). */
#ifndef VT_GSN_INTERNAL_H
#define VT_GSN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ventral/core.h"

/* MATLAB-compatible randperm(n) as the package draws it: n uniforms from MT19937 seeded with
 * 42 (genrand_res53), then the indices that sort them. perm has n entries. */
vt_status vt_gsn_randperm(int64_t n, int64_t *perm);

/* Symmetrises the n×n matrix m in place and, if it is not Cholesky-factorable, replaces it
 * by its nearest PSD matrix (eigenvalues clipped at 0), adding 1e-10 I if that still does not
 * factor. scalar_rule: for n = 1 use max(0, m) (the package's construct_nearest_psd_covariance)
 * rather than the eigen path (its biconvex helper). */
vt_status vt_gsn_nearest_psd(double *m, int64_t n, bool scalar_rule);

/* True when the symmetric n×n matrix m has a Cholesky factor (m is not modified). */
bool vt_gsn_is_pd(const double *m, int64_t n, vt_status *st);

/* A factor F (n×n row-major) with F Fᵀ = m for symmetric PSD m: eigenvectors scaled by
 * sqrt(max(eigenvalue, 0)). */
vt_status vt_gsn_psd_factor(const double *m, int64_t n, double *f);

/* numpy-compatible median and interquartile range (linear interpolation); v is sorted in place. */
double vt_gsn_median(double *v, int64_t n);
double vt_gsn_iqr(double *v, int64_t n);

#endif
