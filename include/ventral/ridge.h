/* Ridge regression for many targets with the penalty chosen per target by efficient
 * leave-one-out cross-validation (generalised cross-validation, METHODS §5 and §6).
 *
 * For every column y_j of Y (n stimuli × v targets) the model y = X w + b is fitted with
 * an unpenalised intercept, and α_j is the grid value whose exact leave-one-out (LOO)
 * residuals are best: smallest Σ_i e_ij² (VT_RIDGE_MSE, scikit-learn's
 * RidgeCV(alpha_per_target=True) criterion) or largest Pearson r between the LOO
 * predictions y − e and y (VT_RIDGE_LOO_PEARSON, the DeepNSD criterion). Ties keep the
 * earlier alpha of the list, as scikit-learn does ("strictly better wins").
 *
 *   vt_ridge_options opt;
 *   vt_ridge_options_init(&opt);                 // 20 alphas 1e-1..1e7, MSE
 *   vt_ridge_outputs out = {alpha, coef, intercept, loo, NULL, NULL};  // caller's tensors
 *   if (vt_ridge_fit(x, y, NULL, NULL, &opt, &out, NULL) != VT_OK) ... vt_last_error() ...
 *
 * Method. X and Y are centred on the training stimuli. When p >= n the kernel form is used:
 * K = Xc Xcᵀ = Q diag(λ) Qᵀ, computed on the complement of the constant vector (so the
 * constant direction gets weight 0 exactly instead of subtracting 11ᵀ/(nα)). When p < n
 * the thin SVD Xc = U S Vᵀ is used. Either way G_α⁻¹ = Σ_k q_k q_kᵀ/(λ_k + α) (+ the
 * projector on the rest of the complement of 1, times 1/α), c = G_α⁻¹ y, e_i = c_i/(G_α⁻¹)_ii.
 * The alpha sweep runs in float32 GEMMs (MSE criterion, kernel form, at least 4 targets per
 * stimulus: as the quadratic form ‖R_α Qᵀy‖² with a triangular R_α, half the flops), skipping
 * (MSE criterion) the alphas whose lower
 * bound min_i (G_α⁻¹)_ii⁻² · ‖c‖² on the LOO error already exceeds the best error found; every
 * target whose best alphas are within a safety margin is then re-evaluated in float64 for
 * those alphas, so the choice equals a pure float64 sweep's (VT_RIDGE_SWEEP_DOUBLE runs that
 * pure float64 sweep; the tests check they agree). Dual coefficients, LOO and test
 * predictions are computed in float64 at the chosen alpha; coef too, except that a float32
 * coef output is formed by one sgemm (float32 accuracy is all it can hold).
 * Targets are processed in blocks: memory is O(n² + n·p + (n + p)·block), no p×p matrix is
 * ever formed, and outputs may be memory-mapped files (vt_npy_create) larger than RAM.
 */
#ifndef VENTRAL_RIDGE_H
#define VENTRAL_RIDGE_H

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_RIDGE_DEFAULT_N_ALPHAS 20

typedef enum vt_ridge_criterion {
    VT_RIDGE_MSE = 0,         /* minimise the sum of squared LOO residuals (scikit-learn) */
    VT_RIDGE_LOO_PEARSON = 1, /* maximise Pearson r(y − e, y) (METHODS §6, DeepNSD) */
} vt_ridge_criterion;

typedef enum vt_ridge_sweep {
    VT_RIDGE_SWEEP_MIXED = 0,  /* float32 sweep + float64 re-evaluation of near ties (default) */
    VT_RIDGE_SWEEP_DOUBLE = 1, /* every alpha of every target in float64 (reference, slower) */
} vt_ridge_sweep;

typedef struct vt_ridge_options {
    const double *alphas; /* borrowed; NULL = the default grid (20 log-spaced, 1e-1..1e7) */
    int n_alphas;         /* length of `alphas` (ignored when alphas is NULL) */
    vt_ridge_criterion criterion;
    vt_ridge_sweep sweep;
    int64_t block; /* targets per block; 0 = chosen from n, p (default) */
    double margin; /* MIXED: relative score margin that sends a target to float64 */
} vt_ridge_options;

/* Defaults: default alphas, VT_RIDGE_MSE, VT_RIDGE_SWEEP_MIXED, automatic block, margin 1e-3. */
void vt_ridge_options_init(vt_ridge_options *opt);

/* Writes the default grid: VT_RIDGE_DEFAULT_N_ALPHAS values 10^(-1 + 8k/19), k = 0..19. */
void vt_ridge_default_alphas(double *out);

/* Caller-provided outputs, each a C-contiguous float32 or float64 tensor of exactly the
 * shape given (it may be a writable file mapping from vt_npy_create). NULL = not wanted,
 * except alpha. The library only writes into them; the caller owns them. */
typedef struct vt_ridge_outputs {
    vt_tensor *alpha;      /* v (required) */
    vt_tensor *coef;       /* p×v */
    vt_tensor *intercept;  /* v */
    vt_tensor *loo;        /* n×v LOO predictions at the chosen alpha */
    vt_tensor *pred;       /* n_test×v, needs x_test */
    vt_tensor *score;      /* v Pearson r of pred vs y_test, needs x_test and y_test */
    vt_tensor *basis;      /* r×v float64, needs x_test: pred = 1·train_meanᵀ + A_test·basis, A_test from
                            * vt_ridge_model_test_design (r = its columns); lets a caller use the test
                            * predictions in factored form (e.g. their RSM) without forming them */
    vt_tensor *train_mean; /* v: the targets' means ȳ over the training stimuli */
} vt_ridge_outputs;

/* What a fit did, for benchmarks and logs (all optional reading). */
typedef struct vt_ridge_info {
    int kernel_form;       /* 1: eigen of the n×n Gram (p >= n); 0: thin SVD of X (p < n) */
    int64_t rank;          /* number of eigen/singular directions kept */
    int64_t block;         /* targets per block used */
    int64_t refined;       /* targets re-evaluated in float64 (MIXED) */
    int64_t refined_pairs; /* (target, alpha) pairs evaluated in float64 */
    int triangular_sweep;  /* 1: the float32 MSE sweep applied triangular factors (many targets, kernel form) */
    double seconds_decompose, seconds_sweep, seconds_refine, seconds_solve;
    double flops_f32, flops_f64; /* GEMM flops issued */
} vt_ridge_info;

/* Fits ridge for every column of y_train (n×v) on x_train (n×p), both float32/float64 (or
 * integer) and finite, n >= 2. x_test (n_test×p) and y_test (n_test×v) are optional
 * (y_test needs x_test). `opt` NULL = defaults; alphas must be finite and > 0. `info` may
 * be NULL. On error nothing useful is in the outputs (they may be partly written). */
vt_status vt_ridge_fit(const vt_tensor *x_train, const vt_tensor *y_train, const vt_tensor *x_test,
                       const vt_tensor *y_test, const vt_ridge_options *opt, const vt_ridge_outputs *out,
                       vt_ridge_info *info);

/* The same fit in two steps, for many target sets on the same features (e.g. several subjects who
 * saw the same stimuli): vt_ridge_prepare does everything that depends on X only (centring, the
 * eigen or SVD decomposition, the per-alpha tables, x_test's kernel), once; each
 * vt_ridge_fit_prepared then costs what depends on its targets. The results are the same bits as
 * vt_ridge_fit's. `x_test` may be NULL (then no fit can ask for pred/score). The model keeps a copy
 * of what it needs (not x_train/x_test themselves) and may be fitted any number of times, one at a
 * time; info->seconds_decompose includes the preparation. */
typedef struct vt_ridge_model vt_ridge_model;
vt_status vt_ridge_prepare(const vt_tensor *x_train, const vt_tensor *x_test, const vt_ridge_options *opt,
                           vt_ridge_model **model);
vt_status vt_ridge_fit_prepared(vt_ridge_model *model, const vt_tensor *y_train, const vt_tensor *y_test,
                                const vt_ridge_outputs *out, vt_ridge_info *info);
void vt_ridge_model_free(vt_ridge_model *model);

/* The prepared model's test design A_test (row-major, *rows = n_test × *cols = r; kernel form: the
 * test stimuli's centred kernel with the training stimuli, r = n; SVD form: the centred test
 * features in the right singular basis, r = rank), or NULL when it was prepared without x_test.
 * Owned by the model. */
const double *vt_ridge_model_test_design(const vt_ridge_model *model, int64_t *rows, int64_t *cols);

#ifdef __cplusplus
}
#endif
#endif
