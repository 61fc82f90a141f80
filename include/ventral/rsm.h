/* Representational similarity matrices (METHODS §4).
 *
 * R[i][j] = the similarity of rows i and j of X (n stimuli × p features):
 *   pearson   rows centred and scaled to unit norm, then R = Z Zᵀ (numpy.corrcoef(X))
 *   spearman  each row replaced by its average ranks (ties share the mean rank), then pearson
 *   cosine    rows scaled to unit norm, not centred
 * Z Zᵀ is one symmetric rank-k update (BLAS syrk, half the flops of a GEMM) per panel of
 * columns: X is read twice (row statistics, then panels) and never copied in full, so a
 * memory-mapped X larger than memory works. Statistics are taken in float64; each row is
 * scaled by a power of two (exact) so that no square under- or overflows at any scale of X.
 * float64 X is computed in float64; float32 X in float32 GEMMs over panels of at most 4096
 * features whose products are summed in float64 (max error ~3e-8 against float64 at
 * 400 × 6000).
 * The diagonal is exactly 1 and every value lies in [−1, 1]. The RDM is 1 − R.
 *
 * A constant row (pearson, spearman: all p values equal) or an all-zero row (cosine) has no
 * defined similarity: that is an error naming the first such row (numpy gives NaN rows).
 *
 *   vt_tensor *r;
 *   if (vt_rsm_new(features, VT_RSM_PEARSON, &r) != VT_OK) ...   // n × n, features' dtype
 *   vt_tensor_free(r);
 */
#ifndef VENTRAL_RSM_H
#define VENTRAL_RSM_H

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vt_rsm_metric { VT_RSM_PEARSON, VT_RSM_SPEARMAN, VT_RSM_COSINE, VT_RSM_METRIC_COUNT } vt_rsm_metric;

/* "pearson", "spearman", "cosine". */
const char *vt_rsm_metric_name(vt_rsm_metric metric);
/* VT_ERR_ARG (listing the choices) for an unknown name. */
vt_status vt_rsm_metric_parse(const char *name, vt_rsm_metric *out);

/* X: 2-d float32 or float64, n >= 1 rows, p >= 1 columns, finite (VT_ERR_ARG otherwise, naming
 * the flat index of a NaN/Inf). out: a caller-allocated n × n float32 or float64 tensor (e.g.
 * a mapped output file from vt_npy_create) that receives R. */
vt_status vt_rsm_into(const vt_tensor *x, vt_rsm_metric metric, vt_tensor *out);

/* As vt_rsm_into, into a new owned n × n tensor of X's dtype. */
vt_status vt_rsm_new(const vt_tensor *x, vt_rsm_metric metric, vt_tensor **out);

/* The Pearson RSM of the rows of X = A·B_S + 1·μ_Sᵀ (n × w) without forming X, where B_S and μ_S
 * are the columns S of B and μ: with every row of B_S and μ_S centred across S (so X's rows are
 * centred), X Xᵀ = A (B_S B_Sᵀ) Aᵀ + g1ᵀ + 1gᵀ + ‖μ_S‖² 11ᵀ with g = A B_S μ_S, which costs
 * r²·w flops (one syrk) instead of the 2·n·r·w of forming X plus its n²·w. Ridge test
 * predictions have this form (vt_ridge_outputs.basis and train_mean, the model's test design).
 * a: n × r float64, row-major; b: r × v float64; mu: v values (NULL = zeros); cols: the w column
 * indices S (NULL = all v in order, w = v). out: n × n float32 or float64. Same values as
 * vt_rsm_into(X, VT_RSM_PEARSON) to rounding, and the same errors: NaN/Inf in A, B_S or μ_S, or a
 * constant row of X (found as a zero norm: exactly so when B_S's rows and μ_S are constant). */
vt_status vt_rsm_pearson_factored(const double *a, int64_t n, int64_t r, const vt_tensor *b, const double *mu,
                                  const int64_t *cols, int64_t w, vt_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
