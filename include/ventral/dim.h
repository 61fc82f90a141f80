/* Effective dimensionality of a representation (METHODS §9).
 *
 * The participation ratio (Σλ)² / Σλ² of the eigenvalues λ of the feature covariance of X
 * (n stimuli × p features, columns centred over stimuli). Σλ = trace(G) and Σλ² = ‖G‖²_F
 * for G = Xcᵀ Xc or, with the same nonzero spectrum, Xc Xcᵀ — so no eigensolver is needed,
 * and the smaller Gram (n×n when p > n) is formed.
 */
#ifndef VENTRAL_DIM_H
#define VENTRAL_DIM_H

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X: 2-d float32 or float64, n >= 2, finite. Writes the participation ratio to *out
 * (0 when every column is constant). */
vt_status vt_dim_participation_ratio(const vt_tensor *x, double *out);

#ifdef __cplusplus
}
#endif
#endif
