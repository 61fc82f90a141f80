/* Very sparse random projection (METHODS §3; Li, Hastie & Church 2006).
 *
 * Z = X R projects n stimuli × p features to n × k. R (p × k) has density s = 1/√p: each entry
 * is +√(1/s)/√k or −√(1/s)/√k with probability s/2 each, else 0 (scikit-learn's
 * SparseRandomProjection with density='auto'). R is a pure function of (seed, p, k): row j of R
 * (feature j) is drawn from the counter-based RNG stream (seed, j), so the plan is the same
 * whatever the thread count, and any block of rows of X projects to exactly the same bits as
 * it would inside a larger block. Built for streaming layer activations:
 *
 *   int64_t k;
 *   vt_srp_jl_min_dim(n_stimuli, 0.1, &k);              // 5920 for n = 1000
 *   vt_srp_plan *plan;
 *   vt_srp_plan_new(p, k, seed, &plan);                 // ~√p·k stored entries, never p·k
 *   for each batch X_b (b × p, float32 or float64):
 *       vt_srp_apply(plan, X_b, Z_b);                   // Z_b: b × vt_srp_plan_out_dim(plan)
 *   vt_srp_plan_free(plan);
 *
 * Only project when p > k (METHODS §3): a plan built with p <= k is the identity — its output
 * dimension is p and vt_srp_apply copies X — and vt_srp_plan_projects() says so.
 */
#ifndef VENTRAL_SRP_H
#define VENTRAL_SRP_H

#include <stdbool.h>

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Johnson–Lindenstrauss target dimension k = floor(4 ln n / (ε²/2 − ε³/3)), computed exactly
 * as scikit-learn's johnson_lindenstrauss_min_dim (which truncates). n >= 2 (n = 1 gives k = 0),
 * 0 < eps < 1; VT_ERR_ARG otherwise or if k would not fit in 31 bits. */
vt_status vt_srp_jl_min_dim(int64_t n_samples, double eps, int64_t *k);

typedef struct vt_srp_plan vt_srp_plan;

/* Builds the sparse R for p features and k components: p >= 1, 1 <= k < 2^31. When p <= k the
 * plan is the identity (nothing is drawn). Costs O(√p·k) memory and time (both threads'
 * worth of work, spread over vt_threads_get() threads). *out is NULL on failure. */
vt_status vt_srp_plan_new(int64_t p, int64_t k, uint64_t seed, vt_srp_plan **out);

/* Frees the plan; NULL is a no-op. */
void vt_srp_plan_free(vt_srp_plan *plan);

/* p, requested k, and the width of the output (k when projecting, p when not). */
int64_t vt_srp_plan_in_dim(const vt_srp_plan *plan);
int64_t vt_srp_plan_k(const vt_srp_plan *plan);
int64_t vt_srp_plan_out_dim(const vt_srp_plan *plan);
/* Whether the plan projects (p > k) or copies features (p <= k). */
bool vt_srp_plan_projects(const vt_srp_plan *plan);
/* Number of nonzero entries of R (0 for an identity plan). */
int64_t vt_srp_plan_nnz(const vt_srp_plan *plan);
/* The magnitude √(1/s)/√k of every nonzero entry, s = 1/√p (0 for an identity plan). */
double vt_srp_plan_scale(const vt_srp_plan *plan);
/* Features per summation chunk (8192, or p when smaller: a function of p only). The projection's
 * additions are fixed: with S_q the sum of chunk q's terms over its features in ascending order
 * (starting from 0), z[c] = scale · (E + O), E = S_0 + S_2 + S_4 + … and O = S_1 + S_3 + … each
 * added in order starting from 0 — so any block size and thread count give the same bits. */
int64_t vt_srp_plan_chunk(const vt_srp_plan *plan);

/* Row j of R as sparse entries: writes the column indices of feature j's nonzeros (ascending)
 * and their signs (+1/−1) to cols/signs (each with room for `cap` entries) and their count to
 * *count. VT_ERR_ARG if j is out of range or cap is too small (then *count is the size needed). */
vt_status vt_srp_plan_row(const vt_srp_plan *plan, int64_t j, int32_t *cols, int8_t *signs, int64_t cap,
                          int64_t *count);

/* Z = X R for one block of rows. x: 2-d b × p, float32 or float64, finite (NaN/Inf are rejected
 * with VT_ERR_ARG, naming the first one's flat index in the block). z: 2-d b × out_dim, contiguous,
 * of x's dtype (float32 output for float32 input), allocated by the caller (a view into a larger
 * output is fine); overwritten, and undefined after a failure. Each output element accumulates its terms in feature
 * order and is then scaled once, so results are bit-identical for any split of the rows into blocks and any thread
 * count. b = 0 is allowed. */
vt_status vt_srp_apply(const vt_srp_plan *plan, const vt_tensor *x, vt_tensor *z);

#ifdef __cplusplus
}
#endif
#endif
