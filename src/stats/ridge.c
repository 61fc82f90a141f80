/* Ridge regression with per-target alphas chosen by efficient leave-one-out CV (METHODS §5, §6).
 *
 * Notation (all row-major): n training stimuli, p features, v targets, m eigen/singular directions,
 * b targets in the current block, na alphas. Xc, Yc: X and Y centred on the training stimuli.
 *
 * Kernel form (p >= n, as scikit-learn's gcv_mode="eigen" chooses it): K = Xc Xcᵀ. A Householder
 * reflection P maps 1/√n onto e₁; since K 1 = 0, P K P has a zero first row and column, and the
 * eigenvectors V of its lower (n−1)×(n−1) block give Q = P [0; V] (n×(n−1)), an orthonormal basis
 * of the complement of the constant vector. The constant direction thus gets weight 0 by
 * construction (scikit-learn finds it by angle among the eigenvectors of K + 11ᵀ; same result
 * without relying on that eigenvalue being distinct). With λ the eigenvalues:
 *     G⁻¹ = Q diag(1/(λ+α)) Qᵀ,  c = G⁻¹ yc = Q (Qᵀyc / (λ+α)),  d_i = (G⁻¹)_ii,  e = c / d.
 * SVD form (p < n): Xc = U S Vᵀ, r = yc − U Uᵀ yc. The complement of span(U, 1) gets weight 1/α:
 *     c = r/α + U (Uᵀyc / (s²+α)),  d_i = (1 − 1/n − Σ_k U_ik²)/α + Σ_k U_ik²/(s_k²+α).
 * Both give the exact LOO residuals of a ridge fit that re-estimates its intercept, as
 * scikit-learn's _RidgeGCV does, without subtracting 11ᵀ/(nα) anywhere (METHODS §5 numerics).
 *
 * The sweep: for each alpha one GEMM Q·(w∘Z) over the block (Z = Qᵀ Yc), in float32 by default
 * (for the MSE criterion in the kernel form, with many targets, one triangular product instead:
 * eval_tri); targets whose best alphas are within a margin are re-scored in float64 on just those alphas
 * (targets gathered per alpha into one GEMM). The chosen alpha's dual coefficients, coef, LOO and
 * test predictions are computed in float64. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>
#include <omp.h>

#include "ventral/ridge.h"

#include "core/clones.h"

void vt_ridge_default_alphas(double *out)
{
    /* As numpy.logspace(-1, 7, 20): exponents k·step + start, the last one exactly 7. */
    const double step = 8.0 / 19.0;
    for (int k = 0; k < VT_RIDGE_DEFAULT_N_ALPHAS; k++)
        out[k] = pow(10.0, k == VT_RIDGE_DEFAULT_N_ALPHAS - 1 ? 7.0 : (double)k * step + -1.0);
}

void vt_ridge_options_init(vt_ridge_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->criterion = VT_RIDGE_MSE;
    opt->sweep = VT_RIDGE_SWEEP_MIXED;
    opt->margin = 1e-3;
}

/* ---------------------------------------------------------------------------------------------
 * BLAS wrappers that accept empty dimensions (a rank-0 model, an empty gather) and count flops.
 *
 * Reproducibility: OpenBLAS's threaded GEMM gives different last bits for different thread counts.
 * So vt_ridge_fit runs OpenBLAS single-threaded and the GEMMs are parallelised here: the output is
 * cut into fixed tiles (a function of the shape only) of GEMM_TILE_M rows × GEMM_TILE_N columns, each
 * computed by one single-threaded BLAS call. Every output element then comes from the same
 * computation at any thread count, and so do LAPACK's results (single-threaded inside). The tiles are
 * wide enough that OpenBLAS's kernel runs near its peak (measured here, sgemm 500×4096×499 on 2
 * threads: 144 GFLOP/s with 256-column tiles, 175–184 with 1024) and numerous enough for several
 * threads. */

enum { GEMM_TILE = 256, GEMM_TILE_M = 256, GEMM_TILE_N = 1024 };
static void dgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                  const double *b, int64_t ldb, double beta, double *c, int64_t ldc, double *flops)
{
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
    int64_t rt = (m + GEMM_TILE_M - 1) / GEMM_TILE_M, ct = (n + GEMM_TILE_N - 1) / GEMM_TILE_N;
#pragma omp parallel for schedule(dynamic, 1) num_threads(vt_threads_get()) if (rt * ct > 1)
    for (int64_t t = 0; t < rt * ct; t++) {
        int64_t r0 = t / ct * GEMM_TILE_M, c0 = t % ct * GEMM_TILE_N;
        int64_t h = m - r0 < GEMM_TILE_M ? m - r0 : GEMM_TILE_M, w = n - c0 < GEMM_TILE_N ? n - c0 : GEMM_TILE_N;
        /* Rows r0.. of op(A) (A row-major: row r0, or column r0 when transposed), columns c0.. of op(B). */
        const double *at = ta ? a + r0 : a + r0 * lda, *bt = tb ? b + c0 * ldb : b + c0;
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)h, (int)w,
                    (int)k, alpha, at, (int)lda, bt, (int)ldb, beta, c + r0 * ldc + c0, (int)ldc);
    }
    *flops += 2.0 * (double)m * (double)n * (double)k;
}

static void sgemm(int ta, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                  float *c, int64_t ldc, double *flops)
{
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, sizeof *c * (size_t)n);
        return;
    }
    int64_t rt = (m + GEMM_TILE_M - 1) / GEMM_TILE_M, ct = (n + GEMM_TILE_N - 1) / GEMM_TILE_N;
#pragma omp parallel for schedule(dynamic, 1) num_threads(vt_threads_get()) if (rt * ct > 1)
    for (int64_t t = 0; t < rt * ct; t++) {
        int64_t r0 = t / ct * GEMM_TILE_M, c0 = t % ct * GEMM_TILE_N;
        int64_t h = m - r0 < GEMM_TILE_M ? m - r0 : GEMM_TILE_M, w = n - c0 < GEMM_TILE_N ? n - c0 : GEMM_TILE_N;
        const float *at = ta ? a + r0 : a + r0 * lda;
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, (int)h, (int)w, (int)k, 1.0f, at,
                    (int)lda, b + c0, (int)ldb, 0.0f, c + r0 * ldc + c0, (int)ldc);
    }
    *flops += 2.0 * (double)m * (double)n * (double)k;
}

/* The upper triangle (and diagonal blocks) of A Aᵀ for A n×p, by column tiles: tile [j0, j1) gets
 * rows 0..j1 of its columns. */
static void gram_upper(const double *a, int64_t n, int64_t p, double *g, double *flops)
{
    int64_t tiles = (n + GEMM_TILE - 1) / GEMM_TILE;
#pragma omp parallel for schedule(dynamic, 1) num_threads(vt_threads_get()) if (tiles > 1)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t j0 = t * GEMM_TILE, w = n - j0 < GEMM_TILE ? n - j0 : GEMM_TILE;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(j0 + w), (int)w, (int)p, 1.0, a, (int)p, a + j0 * p,
                    (int)p, 0.0, g + j0, (int)n);
    }
    *flops += (double)n * (double)n * (double)p;
}

/* ---------------------------------------------------------------------------------------------
 * The model: everything that depends on X and the alphas, shared by all target blocks. */

typedef struct model {
    int64_t n, p, m, na, nt; /* nt: test stimuli (0 without x_test) */
    int kernel;
    double *xmean;             /* p */
    double *xc;                /* n×p centred X (kernel form: needed for coef = Xcᵀ c) */
    double *q;                 /* n×m basis (kernel: Q; svd: U) */
    float *q32;                /* n×m, for the float32 sweep */
    double *lam;               /* m: eigenvalues of K, or s² */
    double *sv;                /* svd: m singular values */
    double *v;                 /* svd: p×m right singular vectors */
    float *coef_basis32;       /* float32 coef output: Xc (kernel, n×p) or V (svd, p×m) in float32 */
    double *hres;              /* svd: n, 1 − 1/n − Σ_k U_ik² (weight-1/α part of d) */
    double *xbar_proj;         /* kernel: Xc x̄ (n); svd: Vᵀ x̄ (m): intercept = ȳ − xbar_projᵀ B */
    double *atest;             /* kernel: X̃test Xcᵀ (nt×n); svd: X̃test V (nt×m) */
    double *alphas;            /* na */
    double *dinv;              /* na×n: 1/(α d_i(α)), see eval_* */
    double *gdiag;             /* na×n: 1/n + H_ii(α), the hat-matrix diagonal (Pearson criterion only) */
    unsigned char *fform;      /* na: Pearson sweep in the hat form (large α, see eval) */
    double *rmin, *rmean, *w2; /* na, na, na×m: min and mean over i of 1/(α d_i)², and (α/(λ+α))² */
    float *tri32;              /* na×m×m or NULL: upper-triangular R_α of the MSE sweep (see build_tri) */
} model;

static void model_free(model *md)
{
    free(md->xmean);
    free(md->xc);
    free(md->q);
    free(md->q32);
    free(md->lam);
    free(md->sv);
    free(md->v);
    free(md->coef_basis32);
    free(md->hres);
    free(md->xbar_proj);
    free(md->atest);
    free(md->alphas);
    free(md->dinv);
    free(md->gdiag);
    free(md->fform);
    free(md->rmin);
    free(md->rmean);
    free(md->w2);
    free(md->tri32);
    memset(md, 0, sizeof *md);
}

/* Converts a 2-d tensor to a new double array, subtracting `mean` (p) when given. */
static double *to_double_centred(const vt_tensor *t, const double *mean)
{
    int64_t n = t->shape[0], p = t->shape[1];
    double *d = vt_malloc((size_t)(n * p), sizeof *d);
    if (!d) return NULL;
#pragma omp parallel for if (n * p > 100000)
    for (int64_t i = 0; i < n; i++) {
        double *row = d + i * p;
        if (t->dtype == VT_F64)
            memcpy(row, (const double *)t->data + i * p, sizeof *row * (size_t)p);
        else if (t->dtype == VT_F32)
            for (int64_t j = 0; j < p; j++) row[j] = ((const float *)t->data)[i * p + j];
        else
            for (int64_t j = 0; j < p; j++) row[j] = vt_tensor_get(t, i * p + j);
        if (mean)
            for (int64_t j = 0; j < p; j++) row[j] -= mean[j];
    }
    return d;
}

/* Column means of a 2-d tensor, accumulated in double row by row (cache-friendly). */
static void column_means(const vt_tensor *t, double *mean)
{
    int64_t n = t->shape[0], p = t->shape[1];
#pragma omp parallel if (n * p > 100000)
    {
        int nth = omp_get_num_threads();
        int64_t chunk = (p + nth - 1) / nth;
        int64_t j0 = chunk * omp_get_thread_num(), j1 = j0 + chunk < p ? j0 + chunk : p;
        for (int64_t j = j0; j < j1; j++) mean[j] = 0;
        for (int64_t i = 0; i < n; i++) {
            if (t->dtype == VT_F64) {
                const double *row = (const double *)t->data + i * p;
                for (int64_t j = j0; j < j1; j++) mean[j] += row[j];
            } else if (t->dtype == VT_F32) {
                const float *row = (const float *)t->data + i * p;
                for (int64_t j = j0; j < j1; j++) mean[j] += row[j];
            } else {
                for (int64_t j = j0; j < j1; j++) mean[j] += vt_tensor_get(t, i * p + j);
            }
        }
        for (int64_t j = j0; j < j1; j++) mean[j] /= (double)n;
    }
}

/* Kernel form: Q (n×(n−1)) and λ from K = Xc Xcᵀ restricted to the complement of 1. */
static vt_status decompose_kernel(model *md, double *flops)
{
    int64_t n = md->n, p = md->p, m = n - 1;
    double *k = vt_malloc((size_t)(n * n), sizeof *k);
    double *g = vt_malloc((size_t)n, sizeof *g), *h = vt_malloc((size_t)n, sizeof *h);
    double *b = vt_malloc((size_t)(m * m), sizeof *b), *w = vt_malloc((size_t)(m > 0 ? m : 1), sizeof *w);
    md->q = vt_malloc((size_t)(n * m), sizeof *md->q);
    md->lam = vt_malloc((size_t)(m > 0 ? m : 1), sizeof *md->lam);
    vt_status st = VT_OK;
    if (!k || !g || !h || !b || !w || !md->q || !md->lam) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    if (p > 0)
        gram_upper(md->xc, n, p, k, flops);
    else
        memset(k, 0, sizeof *k * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) k[i * n + j] = k[j * n + i];
    /* P = I − τ h hᵀ with h = e₁ + 1/√n maps 1/√n to −e₁. */
    double rs = 1.0 / sqrt((double)n);
    for (int64_t i = 0; i < n; i++) h[i] = rs;
    h[0] += 1.0;
    double tau = 2.0 / (2.0 + 2.0 * rs);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)n, 1.0, k, (int)n, h, 1, 0.0, g, 1);
    double beta = cblas_ddot((int)n, h, 1, g, 1);
    /* Lower-right block of P K P = K − τ h gᵀ − τ g hᵀ + τ² β h hᵀ. */
#pragma omp parallel for if (n > 256)
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = 1; j < n; j++)
            b[(i - 1) * m + (j - 1)] =
                k[i * n + j] - tau * h[i] * g[j] - tau * g[i] * h[j] + tau * tau * beta * h[i] * h[j];
    if (m > 0) {
        int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (int)m, b, (int)m, w);
        if (info != 0) {
            st =
                vt_fail(VT_ERR_NUMERIC, "ridge: the eigensolver (dsyevd) failed on the %lldx%lld Gram matrix (info %d)",
                        (long long)m, (long long)m, info);
            goto done;
        }
        *flops += 4.0 * (double)m * (double)m * (double)m;
    }
    /* Q = P [0; V]: column sums s_k = hᵀ[0; V] = Σ_r V_rk / √n. */
    double *s = g; /* reuse: m <= n */
    for (int64_t kk = 0; kk < m; kk++) s[kk] = 0;
    for (int64_t r = 0; r < m; r++)
        for (int64_t kk = 0; kk < m; kk++) s[kk] += b[r * m + kk];
    for (int64_t kk = 0; kk < m; kk++) s[kk] *= rs;
#pragma omp parallel for if (n > 256)
    for (int64_t i = 0; i < n; i++)
        for (int64_t kk = 0; kk < m; kk++) md->q[i * m + kk] = (i > 0 ? b[(i - 1) * m + kk] : 0.0) - tau * h[i] * s[kk];
    /* K is positive semi-definite: rounding below zero is noise. */
    for (int64_t kk = 0; kk < m; kk++) md->lam[kk] = w[kk] > 0 ? w[kk] : 0;
    md->m = m;
done:
    free(k);
    free(g);
    free(h);
    free(b);
    free(w);
    return st;
}

/* SVD form (p < n): U (n×m), s, V (p×m) of Xc, keeping singular values above rounding level. */
static vt_status decompose_svd(model *md, double *flops)
{
    int64_t n = md->n, p = md->p;
    double *u = vt_malloc((size_t)(n * p), sizeof *u), *vt = vt_malloc((size_t)(p * p), sizeof *vt);
    double *s = vt_malloc((size_t)p, sizeof *s);
    vt_status st = VT_OK;
    if (!u || !vt || !s) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    /* dgesdd overwrites its input: xc is not needed afterwards in this form. */
    int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', (int)n, (int)p, md->xc, (int)p, s, u, (int)p, vt, (int)p);
    free(md->xc);
    md->xc = NULL;
    if (info != 0) {
        st = vt_fail(VT_ERR_NUMERIC, "ridge: the SVD (dgesdd) of the %lldx%lld training features failed (info %d)",
                     (long long)n, (long long)p, info);
        goto done;
    }
    *flops += 4.0 * (double)n * (double)p * (double)p + 8.0 * (double)p * (double)p * (double)p;
    double tol = s[0] * (double)(n > p ? n : p) * DBL_EPSILON;
    int64_t m = 0;
    while (m < p && s[m] > tol) m++;
    md->m = m;
    md->q = vt_malloc((size_t)(n * m > 0 ? n * m : 1), sizeof *md->q);
    md->v = vt_malloc((size_t)(p * m > 0 ? p * m : 1), sizeof *md->v);
    md->lam = vt_malloc((size_t)(m > 0 ? m : 1), sizeof *md->lam);
    md->sv = vt_malloc((size_t)(m > 0 ? m : 1), sizeof *md->sv);
    md->hres = vt_malloc((size_t)n, sizeof *md->hres);
    if (!md->q || !md->v || !md->lam || !md->sv || !md->hres) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    for (int64_t k = 0; k < m; k++) md->sv[k] = s[k], md->lam[k] = s[k] * s[k];
    for (int64_t i = 0; i < n; i++) {
        double lev = 0;
        for (int64_t k = 0; k < m; k++) {
            md->q[i * m + k] = u[i * p + k];
            lev += u[i * p + k] * u[i * p + k];
        }
        double rest = 1.0 - 1.0 / (double)n - lev;
        md->hres[i] = rest > 0 ? rest : 0; /* an orthogonal projector's diagonal: >= 0 */
    }
    for (int64_t j = 0; j < p; j++)
        for (int64_t k = 0; k < m; k++) md->v[j * m + k] = vt[k * p + j];
done:
    free(u);
    free(vt);
    free(s);
    return st;
}

/* Per-alpha diagonals: 1/d_i(α) and, for the Pearson criterion, 1/n + H_ii(α). */
static vt_status alpha_tables(model *md, int pearson, double *flops)
{
    int64_t n = md->n, m = md->m, na = md->na, m1 = m > 0 ? m : 1;
    md->dinv = vt_malloc((size_t)(na * n), sizeof *md->dinv);
    md->rmin = vt_malloc((size_t)na, sizeof *md->rmin);
    md->rmean = vt_malloc((size_t)na, sizeof *md->rmean);
    md->w2 = vt_malloc((size_t)(na * m1), sizeof *md->w2);
    if (!md->dinv || !md->rmin || !md->rmean || !md->w2) return VT_ERR_NOMEM;
    if (pearson) {
        md->gdiag = vt_malloc((size_t)(na * n), sizeof *md->gdiag);
        md->fform = vt_calloc((size_t)na, 1);
        if (!md->gdiag || !md->fform) return VT_ERR_NOMEM;
    }
    /* One GEMM for every diagonal: (Q∘Q) · [α/(λ+α) | λ/(λ+α)] gives α d_i − hres_i and H_ii. */
    double *q2 = vt_malloc((size_t)(n * m1), sizeof *q2), *wt = vt_malloc((size_t)(m1 * 2 * na), sizeof *wt);
    double *diag = vt_malloc((size_t)(n * 2 * na), sizeof *diag);
    if (!q2 || !wt || !diag) {
        free(q2), free(wt), free(diag);
        return VT_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n * m; i++) q2[i] = md->q[i] * md->q[i];
    for (int64_t k = 0; k < m; k++)
        for (int64_t a = 0; a < na; a++) {
            double al = md->alphas[a], lk = md->lam[k];
            wt[k * 2 * na + a] = al / (lk + al);
            wt[k * 2 * na + na + a] = lk / (lk + al);
            md->w2[a * m + k] = wt[k * 2 * na + a] * wt[k * 2 * na + a];
        }
    dgemm(0, 0, n, 2 * na, m, 1.0, q2, m, wt, 2 * na, 0.0, diag, 2 * na, flops);
    for (int64_t a = 0; a < na; a++) {
        double gsum = 0, rmin = INFINITY, rsum = 0;
        for (int64_t i = 0; i < n; i++) {
            double d = (md->hres ? md->hres[i] : 0) + diag[i * 2 * na + a], hii = diag[i * 2 * na + na + a];
            double di = 1.0 / d; /* 1/(α d_i) */
            md->dinv[a * n + i] = di;
            if (pearson) md->gdiag[a * n + i] = 1.0 / (double)n + hii;
            gsum += hii;
            rmin = di * di < rmin ? di * di : rmin;
            rsum += di * di;
        }
        /* LOO predictions y − c/d cancel when the fit is weak (α d ≈ 1); there the float32
         * sweep uses the hat form (f − g∘y)/(α d) with f = H y instead (see eval_*). */
        if (pearson) md->fform[a] = gsum / (double)n < 0.5;
        md->rmin[a] = rmin, md->rmean[a] = rsum / (double)n;
    }
    free(q2);
    free(wt);
    free(diag);
    return VT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * One block of targets. */

typedef struct block {
    int64_t b;     /* targets in the block */
    double *yc;    /* n×b centred targets */
    double *ymean; /* b */
    double *yy;    /* b: Σ yc² */
    double *z;     /* m×b: Qᵀ yc */
    double *r;     /* svd: n×b, yc − U z */
    float *z32, *r32;
    double *s32, *s64; /* na×b scores (NaN in s64: not evaluated) */
    double *cnorm;     /* na×b: ‖c‖² (pruned sweep) */
    int *a0;           /* b: alpha predicted best (pruned sweep) */
    int *best;         /* b: chosen alpha index */
    /* workspace */
    double *t64, *c64; /* m×b, n×b */
    float *t32, *c32;
    int *idx;            /* b */
    double *acc;         /* 3×b reduction accumulators */
    unsigned char *cand; /* na×b */
} block;

static void block_free(block *bk)
{
    free(bk->yc);
    free(bk->ymean);
    free(bk->yy);
    free(bk->z);
    free(bk->r);
    free(bk->z32);
    free(bk->r32);
    free(bk->s32);
    free(bk->s64);
    free(bk->best);
    free(bk->t64);
    free(bk->c64);
    free(bk->t32);
    free(bk->c32);
    free(bk->idx);
    free(bk->acc);
    free(bk->cand);
    free(bk->cnorm);
    free(bk->a0);
}

static vt_status block_alloc(block *bk, const model *md, int64_t b, int mixed)
{
    int64_t n = md->n, m = md->m > 0 ? md->m : 1, na = md->na;
    memset(bk, 0, sizeof *bk);
    bk->yc = vt_malloc((size_t)(n * b), sizeof(double));
    bk->ymean = vt_malloc((size_t)b, sizeof(double));
    bk->yy = vt_malloc((size_t)b, sizeof(double));
    bk->z = vt_malloc((size_t)(m * b), sizeof(double));
    bk->s64 = vt_malloc((size_t)(na * b), sizeof(double));
    bk->best = vt_malloc((size_t)b, sizeof(int));
    bk->t64 = vt_malloc((size_t)(m * b), sizeof(double));
    bk->c64 = vt_malloc((size_t)(n * b), sizeof(double));
    bk->idx = vt_malloc((size_t)b, sizeof(int));
    bk->acc = vt_malloc((size_t)(3 * b), sizeof(double));
    bk->cand = vt_malloc((size_t)(na * b), 1);
    int ok = bk->yc && bk->ymean && bk->yy && bk->z && bk->s64 && bk->best && bk->t64 && bk->c64 && bk->idx &&
             bk->acc && bk->cand;
    if (!md->kernel) {
        bk->r = vt_malloc((size_t)(n * b), sizeof(double));
        ok = ok && bk->r;
    }
    if (mixed) {
        bk->z32 = vt_malloc((size_t)(m * b), sizeof(float));
        bk->s32 = vt_malloc((size_t)(na * b), sizeof(double));
        bk->t32 = vt_malloc((size_t)(m * b), sizeof(float));
        bk->c32 = vt_malloc((size_t)(n * b), sizeof(float));
        bk->cnorm = vt_malloc((size_t)(na * b), sizeof(double));
        bk->a0 = vt_malloc((size_t)b, sizeof(int));
        ok = ok && bk->z32 && bk->s32 && bk->t32 && bk->c32 && bk->cnorm && bk->a0;
        if (!md->kernel) {
            bk->r32 = vt_malloc((size_t)(n * b), sizeof(float));
            ok = ok && bk->r32;
        }
    }
    if (!ok) {
        block_free(bk);
        return VT_ERR_NOMEM;
    }
    return VT_OK;
}

/* Loads targets j0..j0+b of y (n×v) centred into the block, then Z = Qᵀ Yc (and r for svd). */
static void block_load(block *bk, const model *md, const vt_tensor *y, int64_t j0, int64_t b, int mixed, double *flops)
{
    int64_t n = md->n, m = md->m, v = y->shape[1];
    bk->b = b;
    /* Chunks of 64 targets per thread: gather, mean, centre, sum of squares. */
#pragma omp parallel for if (n * b > 100000)
    for (int64_t c0 = 0; c0 < b; c0 += 64) {
        int64_t c1 = c0 + 64 < b ? c0 + 64 : b;
        for (int64_t j = c0; j < c1; j++) bk->ymean[j] = 0, bk->yy[j] = 0;
        for (int64_t i = 0; i < n; i++) {
            double *row = bk->yc + i * b;
            if (y->dtype == VT_F64)
                memcpy(row + c0, (const double *)y->data + i * v + j0 + c0, sizeof *row * (size_t)(c1 - c0));
            else
                for (int64_t j = c0; j < c1; j++) row[j] = ((const float *)y->data)[i * v + j0 + j];
            for (int64_t j = c0; j < c1; j++) bk->ymean[j] += row[j];
        }
        for (int64_t j = c0; j < c1; j++) bk->ymean[j] /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double *row = bk->yc + i * b;
            for (int64_t j = c0; j < c1; j++) {
                row[j] -= bk->ymean[j];
                bk->yy[j] += row[j] * row[j];
            }
        }
    }
    dgemm(1, 0, m, b, n, 1.0, md->q, m, bk->yc, b, 0.0, bk->z, b, flops);
    if (!md->kernel) {
        memcpy(bk->r, bk->yc, sizeof(double) * (size_t)(n * b));
        dgemm(0, 0, n, b, m, -1.0, md->q, m, bk->z, b, 1.0, bk->r, b, flops);
    }
    if (mixed) {
#pragma omp parallel for if (m * b > 100000)
        for (int64_t i = 0; i < m * b; i++) bk->z32[i] = (float)bk->z[i];
        if (!md->kernel)
#pragma omp parallel for if (n * b > 100000)
            for (int64_t i = 0; i < n * b; i++) bk->r32[i] = (float)bk->r[i];
    }
}

/* Score from the reduction sums of one target: −Σe² (MSE) or Pearson r(loo, y). */
static double finish_score(int pearson, double n, double yy, const double *acc3)
{
    if (!pearson) return -acc3[0];
    /* acc3: Σ l, Σ l², Σ l·yc over the centred LOO predictions l. */
    double var = acc3[1] - acc3[0] * acc3[0] / n;
    if (!(var > 0) || !(yy > 0)) return NAN;
    return acc3[2] / sqrt(var * yy);
}

/* Scores alpha `a` for the targets idx[0..nj) of the block (idx NULL: all b), in float32 or
 * float64, into s[a*b + target]. One GEMM: ĉ = α c = Q · (α/(λ+α) ∘ Z[:, idx]) (+ r in the SVD form), and
 * e = ĉ / (α d). Scaling by α keeps every weight in (0, 1], and when λ = 0 (no signal in X) the
 * errors are bitwise the same for every alpha, so such exact ties keep the first alpha.
 * TILED (the float32 sweep): the GEMM runs per column tile of ĉ (fixed by nj: the same bits at any
 * thread count) into a contiguous n × w tile, reduced while it is still in cache; otherwise (the
 * float64 re-checks, few targets per alpha) one GEMM over row tiles (the BLAS wrappers), then the
 * reduction. EVAL_ROWS reduces rows 0..n of columns [J0, J0 + W) of ĉ, row i at CROW. */
#define EVAL_ROWS(T, CROW, W, J0)                                                                                      \
    for (int64_t j = 0; j < (W); j++) acc[3 * ((J0) + j)] = acc[3 * ((J0) + j) + 1] = acc[3 * ((J0) + j) + 2] = 0;     \
    for (int64_t i = 0; i < n; i++) {                                                                                  \
        const T *ci = (CROW);                                                                                          \
        const double *yi = bk->yc + i * b;                                                                             \
        double di = dinv[i];                                                                                           \
        for (int64_t j = 0; j < (W); j++) {                                                                            \
            int64_t jj = (J0) + j, t = idx ? idx[jj] : jj;                                                             \
            double c = ci[j];                                                                                          \
            if (!md->kernel && !fform) c += (double)rs[i * b + t];                                                     \
            if (!pearson) {                                                                                            \
                double e = c * di;                                                                                     \
                acc[3 * jj] += e * e;                                                                                  \
            } else {                                                                                                   \
                double l = fform ? (c - gd[i] * yi[t]) * di : yi[t] - c * di;                                          \
                acc[3 * jj] += l;                                                                                      \
                acc[3 * jj + 1] += l * l;                                                                              \
                acc[3 * jj + 2] += l * yi[t];                                                                          \
            }                                                                                                          \
        }                                                                                                              \
    }

enum { EVAL_TILE_MAX = 512 };

/* Column tiles of the float32 sweeps: about 8 of them, even for a few hundred targets, in multiples
 * of 64 up to `max`. A function of nj only, so the bits do not depend on the thread count. */
static int64_t sweep_tile(int64_t nj, int64_t max)
{
    int64_t w = ((nj + 7) / 8 + 63) / 64 * 64;
    return w < max ? w : max;
}
#define DEFINE_EVAL(NAME, T, ZF, RF, TF, CF, TILED, GEMM_ALL, GEMM_TILE)                                               \
    static void NAME(const model *md, block *bk, int64_t a, const int *idx, int64_t nj, int pearson, double *s,        \
                     double *flops)                                                                                    \
    {                                                                                                                  \
        int64_t n = md->n, m = md->m, b = bk->b;                                                                       \
        double al = md->alphas[a];                                                                                     \
        int fform = pearson && md->fform[a];                                                                           \
        T *tw = bk->TF, *cw = bk->CF;                                                                                  \
        const T *zs = bk->ZF, *rs = bk->RF;                                                                            \
        _Pragma("omp parallel for if (m * nj > 100000)") for (int64_t k = 0; k < m; k++)                               \
        {                                                                                                              \
            double lk = md->lam[k];                                                                                    \
            T wk = (T)(fform ? lk / (lk + al) : al / (lk + al));                                                       \
            for (int64_t j = 0; j < nj; j++) tw[k * nj + j] = wk * zs[k * b + (idx ? idx[j] : j)];                     \
        }                                                                                                              \
        double *acc = bk->acc;                                                                                         \
        const double *dinv = md->dinv + a * n, *gd = pearson ? md->gdiag + a * n : NULL;                               \
        if (TILED) {                                                                                                   \
            int64_t tw_n = sweep_tile(nj, EVAL_TILE_MAX);                                                              \
            int64_t tiles = (nj + tw_n - 1) / tw_n;                                                                    \
            _Pragma(                                                                                                   \
                "omp parallel for schedule(dynamic, 1) num_threads(vt_threads_get()) if (tiles > 1)") for (int64_t     \
                                                                                                               tl = 0; \
                                                                                                           tl < tiles; \
                                                                                                           tl++)       \
            {                                                                                                          \
                int64_t c0 = tl * tw_n, w = nj - c0 < tw_n ? nj - c0 : tw_n;                                           \
                T *ct = cw + c0 * n;                                                                                   \
                if (m > 0)                                                                                             \
                    GEMM_TILE;                                                                                         \
                else                                                                                                   \
                    memset(ct, 0, sizeof *ct *(size_t)(n * w));                                                        \
                EVAL_ROWS(T, ct + i * w, w, c0)                                                                        \
            }                                                                                                          \
            *flops += 2.0 * (double)n * (double)m * (double)nj;                                                        \
        } else {                                                                                                       \
            GEMM_ALL;                                                                                                  \
            _Pragma("omp parallel for if (n * nj > 65536)") for (int64_t j0 = 0; j0 < nj; j0 += 64)                    \
            {                                                                                                          \
                int64_t w = nj - j0 < 64 ? nj - j0 : 64;                                                               \
                EVAL_ROWS(T, cw + i * nj + j0, w, j0)                                                                  \
            }                                                                                                          \
        }                                                                                                              \
        for (int64_t j = 0; j < nj; j++)                                                                               \
            s[a * b + (idx ? idx[j] : j)] = finish_score(pearson, (double)n, bk->yy[idx ? idx[j] : j], acc + 3 * j);   \
    }

DEFINE_EVAL(eval_f32, float, z32, r32, t32, c32, 1, (void)0,
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)w, (int)m, 1.0f, md->q32, (int)m,
                        tw + c0, (int)nj, 0.0f, ct, (int)w))
DEFINE_EVAL(eval_f64, double, z, r, t64, c64, 0, dgemm(0, 0, n, nj, m, 1.0, md->q, m, tw, nj, 0.0, cw, nj, flops),
            (void)0)

/* The MSE sweep as a quadratic form. In the kernel form Yc lies in span(Q), and with w = α/(λ+α),
 * u_i = 1/(α d_i)², the α-scaled LOO error of a target is
 *     Σ_i u_i (Q (w∘z))_i² = (w∘z)ᵀ Qᵀ diag(u) Q (w∘z) = ‖R_α z‖²,
 * where Qᵀ diag(u) Q = Uᵀ U (Cholesky, U upper triangular) and R_α = U diag(w). Applying the
 * triangular R_α costs m²·b flops instead of the 2·n·m·b of Q·(w∘Z): half the sweep. The Gram
 * matrix is well conditioned (Q has orthonormal columns, so its eigenvalues lie in [min u, max u]),
 * which keeps the float32 scores as accurate as eval_f32's; near ties still go to eval_f64.
 * Worth it when the targets outnumber the basis (the factors cost na·(n·m² + m³/3) flops). */
enum { TRI_MIN_TARGETS_PER_DIM = 4 };
static const size_t TRI_MAX_BYTES = (size_t)512 << 20;

static vt_status build_tri(model *md, double *flops)
{
    int64_t n = md->n, m = md->m, na = md->na;
    md->tri32 = vt_malloc((size_t)(na * m * m), sizeof *md->tri32);
    if (!md->tri32) return VT_ERR_NOMEM;
    int failed = 0;
    /* One alpha per thread, each computed serially: the factors do not depend on the thread count.
     * float32 suffices: they only feed float32 scores, whose near ties are re-checked in float64. */
#pragma omp parallel num_threads(vt_threads_get()) reduction(| : failed)
    {
        float *qu = vt_malloc((size_t)(n * m), sizeof *qu);
        if (!qu) failed = 1;
#pragma omp for schedule(dynamic, 1)
        for (int64_t a = 0; a < na; a++) {
            if (!qu) continue;
            const double *dinv = md->dinv + a * n;
            float *r = md->tri32 + a * m * m;
            for (int64_t i = 0; i < n; i++) {
                float di = (float)dinv[i];
                for (int64_t k = 0; k < m; k++) qu[i * m + k] = di * md->q32[i * m + k];
            }
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)m, (int)n, 1.0f, qu, (int)m, 0.0f, r, (int)m);
            if (LAPACKE_spotrf(LAPACK_ROW_MAJOR, 'U', (int)m, r, (int)m) != 0) {
                failed = 1;
                continue;
            }
            const double *w2 = md->w2 + a * m; /* (α/(λ+α))² */
            for (int64_t k = 0; k < m; k++)
                for (int64_t l = 0; l < m; l++) r[k * m + l] = l < k ? 0.0f : r[k * m + l] * (float)sqrt(w2[l]);
        }
        free(qu);
    }
    *flops += (double)na * ((double)n * (double)m * (double)m + (double)m * (double)m * (double)m / 3.0);
    if (failed) {
        /* Not expected (the Gram matrix is positive definite); the GEMM sweep needs no factors. */
        free(md->tri32);
        md->tri32 = NULL;
    }
    return VT_OK;
}

/* Rows 0..m of columns cols[0..w) (NULL: c0..c0+w) of the m × b matrix z into a contiguous m × w
 * tile: the gather of eval_tri, its stores vectorised in the AVX-512/AVX2 clones. */
VT_CLONES static void gather_tile(const float *restrict z, int64_t m, int64_t b, const int *restrict cols, int64_t c0,
                                  int64_t w, float *restrict tile)
{
    for (int64_t k = 0; k < m; k++) {
        const float *zk = z + k * b;
        float *tk = tile + k * w;
        if (cols) {
#pragma omp simd
            for (int64_t j = 0; j < w; j++) tk[j] = zk[cols[c0 + j]];
        } else {
            memcpy(tk, zk + c0, sizeof *tk * (size_t)w);
        }
    }
}

/* acc[j] = Σ_k tile[k][j]² in float64, k in order in every lane: the same bits in every clone
 * (no FMA contraction under -std=c11), vectorised across the columns. */
VT_CLONES static void column_sumsq(const float *restrict tile, int64_t m, int64_t w, double *restrict acc)
{
    for (int64_t j = 0; j < w; j++) acc[j] = 0;
    for (int64_t k = 0; k < m; k++) {
        const float *tk = tile + k * w;
#pragma omp simd
        for (int64_t j = 0; j < w; j++) {
            double e = tk[j];
            acc[j] += e * e;
        }
    }
}

/* eval_f32 for the MSE criterion through R_α: scores alpha `a` for targets idx[0..nj) (NULL: all).
 * Fixed column tiles (a function of nj only: the same bits at any thread count), each gathered,
 * multiplied in place by one single-threaded strmm and reduced while it is still in cache. */
static void eval_tri(const model *md, block *bk, int64_t a, const int *idx, int64_t nj, double *s, double *flops)
{
    int64_t m = md->m, b = bk->b;
    float *tw = bk->t32;
    const float *r = md->tri32 + a * m * m;
    double *acc = bk->acc;
    int64_t tw_n = sweep_tile(nj, GEMM_TILE_N);
    int64_t tiles = (nj + tw_n - 1) / tw_n;
#pragma omp parallel for schedule(dynamic, 1) num_threads(vt_threads_get()) if (tiles > 1)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t c0 = t * tw_n, w = nj - c0 < tw_n ? nj - c0 : tw_n;
        float *tile = tw + c0 * m; /* the tile's m × w values, contiguous */
        gather_tile(bk->z32, m, b, idx, c0, w, tile);
        cblas_strmm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, (int)m, (int)w, 1.0f, r, (int)m,
                    tile, (int)w);
        column_sumsq(tile, m, w, acc + c0);
    }
    *flops += (double)m * (double)m * (double)nj;
    for (int64_t j = 0; j < nj; j++) s[a * b + (idx ? idx[j] : j)] = -acc[j];
}

/* Index of the best score in list order, strictly better wins (IEEE: a NaN never wins). */
static int pick(const double *s, int64_t na, int64_t b, int64_t t, const unsigned char *only)
{
    int best = -1;
    for (int64_t a = 0; a < na; a++) {
        if (only && !only[a * b + t]) continue;
        if (best < 0 || s[a * b + t] > s[best * b + t]) best = (int)a;
    }
    return best;
}

/* The float32 MSE sweep with rigorous pruning. Since e_i = c_i/d_i, the LOO error obeys
 *     Σ_i e_i² >= min_i(1/d_i²) · ‖c‖²,
 * and with the α-scaled ĉ = α c of eval_*, ‖ĉ‖² = Σ_k z_k² (α/(λ_k+α))² (+ ‖r‖² in the SVD form)
 * costs one small GEMM for all alphas (the bound then uses min_i 1/(α d_i)²).
 * Each target is first scored at the alpha that minimises the GCV-like estimate mean_i(1/d_i²)·‖c‖²
 * (usually the best one), then only at the alphas whose lower bound is within the margin of that
 * score; the others cannot win. Unscored alphas keep −∞. */
static void sweep_pruned(const model *md, block *bk, const vt_ridge_options *opt, vt_ridge_info *info)
{
    int64_t n = md->n, m = md->m, b = bk->b, na = md->na;
    double *z2 = bk->t64, *cn = bk->cnorm;
    for (int64_t i = 0; i < m * b; i++) z2[i] = bk->z[i] * bk->z[i];
    dgemm(0, 0, na, b, m, 1.0, md->w2, m, z2, b, 0.0, cn, b, &info->flops_f64);
    if (!md->kernel) {
        double *rr = bk->acc;
        for (int64_t t = 0; t < b; t++) rr[t] = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t t = 0; t < b; t++) rr[t] += bk->r[i * b + t] * bk->r[i * b + t];
        for (int64_t a = 0; a < na; a++)
            for (int64_t t = 0; t < b; t++) cn[a * b + t] += rr[t];
    }
    for (int64_t i = 0; i < na * b; i++) bk->s32[i] = -INFINITY;
    for (int64_t t = 0; t < b; t++) {
        int best = 0;
        for (int64_t a = 1; a < na; a++)
            if (md->rmean[a] * cn[a * b + t] < md->rmean[best] * cn[best * b + t]) best = (int)a;
        bk->a0[t] = best;
    }
    for (int round = 0; round < 2; round++) {
        for (int64_t a = 0; a < na; a++) {
            int64_t nj = 0;
            for (int64_t t = 0; t < b; t++) {
                int want = round == 0 ? bk->a0[t] == a
                                      : bk->a0[t] != a && md->rmin[a] * cn[a * b + t] <=
                                                              -bk->s32[bk->a0[t] * b + t] * (1.0 + opt->margin);
                if (want) bk->idx[nj++] = (int)t;
            }
            if (nj == 0) continue;
            if (md->tri32)
                eval_tri(md, bk, a, bk->idx, nj, bk->s32, &info->flops_f32);
            else
                eval_f32(md, bk, a, bk->idx, nj, 0, bk->s32, &info->flops_f32);
        }
    }
}

/* Chooses the alpha of every target of the block. */
static void block_sweep(const model *md, block *bk, const vt_ridge_options *opt, vt_ridge_info *info)
{
    int64_t b = bk->b, na = md->na;
    int pearson = opt->criterion == VT_RIDGE_LOO_PEARSON;
    double t0 = omp_get_wtime();
    if (opt->sweep == VT_RIDGE_SWEEP_DOUBLE) {
        for (int64_t a = 0; a < na; a++) eval_f64(md, bk, a, NULL, b, pearson, bk->s64, &info->flops_f64);
        for (int64_t t = 0; t < b; t++) bk->best[t] = pick(bk->s64, na, b, t, NULL);
        info->seconds_sweep += omp_get_wtime() - t0;
        return;
    }
    if (pearson)
        for (int64_t a = 0; a < na; a++) eval_f32(md, bk, a, NULL, b, pearson, bk->s32, &info->flops_f32);
    else
        sweep_pruned(md, bk, opt, info);
    double t1 = omp_get_wtime();
    info->seconds_sweep += t1 - t0;
    /* Candidates: every alpha whose float32 score is within the margin of the float32 best. A
     * target with one candidate keeps it; the others are re-scored in float64 on their candidates. */
    int64_t refined = 0;
    for (int64_t t = 0; t < b; t++) {
        int best = pick(bk->s32, na, b, t, NULL);
        double sb = bk->s32[best * b + t];
        double tol = pearson ? opt->margin : opt->margin * fabs(sb);
        int64_t count = 0, nan = 0;
        for (int64_t a = 0; a < na; a++) nan += isnan(bk->s32[a * b + t]);
        for (int64_t a = 0; a < na; a++) {
            double s = bk->s32[a * b + t];
            bk->cand[a * b + t] = nan > 0 || s >= sb - tol;
            count += bk->cand[a * b + t];
        }
        bk->best[t] = best;
        if (count < 2)
            bk->cand[best * b + t] = 0; /* settled */
        else
            refined++;
    }
    info->refined += refined;
    for (int64_t a = 0; a < na; a++) {
        int64_t nj = 0;
        for (int64_t t = 0; t < b; t++)
            if (bk->cand[a * b + t]) bk->idx[nj++] = (int)t;
        if (nj == 0) continue;
        info->refined_pairs += nj;
        eval_f64(md, bk, a, bk->idx, nj, pearson, bk->s64, &info->flops_f64);
    }
    for (int64_t t = 0; t < b; t++) {
        int any = 0;
        for (int64_t a = 0; a < na && !any; a++) any = bk->cand[a * b + t];
        if (any) bk->best[t] = pick(bk->s64, na, b, t, bk->cand);
    }
    info->seconds_refine += omp_get_wtime() - t1;
}

/* Writes a rows×b double block (leading dimension ld) into columns j0.. of a rows×v tensor. */
static void put_cols(vt_tensor *dst, int64_t j0, const double *src, int64_t rows, int64_t b, int64_t ld)
{
    int64_t v = dst->rank == 2 ? dst->shape[1] : 1;
#pragma omp parallel for if (rows * b > 100000)
    for (int64_t i = 0; i < rows; i++) {
        if (dst->dtype == VT_F64) {
            double *d = (double *)dst->data + i * v + j0;
            if (d != src + i * ld) memcpy(d, src + i * ld, sizeof *d * (size_t)b);
        } else {
            float *d = (float *)dst->data + i * v + j0;
            for (int64_t j = 0; j < b; j++) d[j] = (float)src[i * ld + j];
        }
    }
}

/* Element i of a float64 or float32 target matrix (inline: read once per element in the scores). */
static inline double target_at(const vt_tensor *y, int64_t i)
{
    return y->dtype == VT_F64 ? ((const double *)y->data)[i] : (double)((const float *)y->data)[i];
}

/* Coefficients, intercepts, LOO and test predictions and scores at the chosen alphas. */
static vt_status block_solve(const model *md, block *bk, const vt_ridge_outputs *out, const vt_tensor *y_test,
                             int64_t j0, float *bbuf, double *pbuf, vt_ridge_info *info)
{
    int64_t n = md->n, m = md->m, b = bk->b, p = md->p, nt = md->nt, v = out->alpha->shape[0];
    double *tw = bk->t64, *c = bk->c64, *flops = &info->flops_f64;
    double t0 = omp_get_wtime();
#pragma omp parallel for if (m * b > 100000)
    for (int64_t k = 0; k < m; k++)
        for (int64_t t = 0; t < b; t++) tw[k * b + t] = bk->z[k * b + t] / (md->lam[k] + md->alphas[bk->best[t]]);
    dgemm(0, 0, n, b, m, 1.0, md->q, m, tw, b, 0.0, c, b, flops);
    if (!md->kernel)
#pragma omp parallel for if (n * b > 100000)
        for (int64_t i = 0; i < n; i++)
            for (int64_t t = 0; t < b; t++) c[i * b + t] += bk->r[i * b + t] / md->alphas[bk->best[t]];
    for (int64_t t = 0; t < b; t++) {
        double al = md->alphas[bk->best[t]];
        if (out->alpha->dtype == VT_F64)
            vt_tensor_f64(out->alpha)[j0 + t] = al;
        else
            vt_tensor_f32(out->alpha)[j0 + t] = (float)al;
    }
    /* B: the coefficients in the model's basis. Kernel: c (coef = Xcᵀ c); svd: s∘tw (coef = V B). */
    const double *bb = c;
    int64_t r = md->kernel ? n : m;
    if (!md->kernel) {
        for (int64_t k = 0; k < m; k++)
            for (int64_t t = 0; t < b; t++) tw[k * b + t] *= md->sv[k];
        bb = tw;
    }
    if (out->intercept) {
        double *ic = bk->acc;
        for (int64_t t = 0; t < b; t++) ic[t] = bk->ymean[t];
        if (r > 0)
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)r, (int)b, -1.0, bb, (int)b, md->xbar_proj, 1, 1.0, ic, 1);
        put_cols(out->intercept, j0, ic, 1, b, b);
    }
    if (out->coef && out->coef->dtype == VT_F64) {
        /* The GEMM writes straight into the (possibly mapped) output. */
        double *w = vt_tensor_f64(out->coef) + j0;
        if (md->kernel)
            dgemm(1, 0, p, b, n, 1.0, md->xc, p, c, b, 0.0, w, v, flops);
        else
            dgemm(0, 0, p, b, m, 1.0, md->v, m, tw, b, 0.0, w, v, flops);
    } else if (out->coef) {
        float *w = vt_tensor_f32(out->coef) + j0;
#pragma omp parallel for if (r * b > 100000)
        for (int64_t i = 0; i < r * b; i++) bbuf[i] = (float)bb[i];
        if (md->kernel)
            sgemm(1, p, b, n, md->coef_basis32, p, bbuf, b, w, v, &info->flops_f32);
        else
            sgemm(0, p, b, m, md->coef_basis32, m, bbuf, b, w, v, &info->flops_f32);
    }
    if (out->loo) {
        /* LOO prediction = y − e = ȳ + yc − c/d at the chosen alpha. */
        double *l = bk->yc; /* yc is not needed any more: overwrite it */
#pragma omp parallel for if (n * b > 100000)
        for (int64_t i = 0; i < n; i++)
            for (int64_t t = 0; t < b; t++) {
                int64_t a = bk->best[t];
                l[i * b + t] += bk->ymean[t] - c[i * b + t] * md->alphas[a] * md->dinv[a * n + i];
            }
        put_cols(out->loo, j0, l, n, b, b);
    }
    if (out->basis) put_cols(out->basis, j0, bb, r, b, b);
    if (out->train_mean) put_cols(out->train_mean, j0, bk->ymean, 1, b, b);
    if (out->pred && nt > 0) {
        for (int64_t i = 0; i < nt; i++)
            for (int64_t t = 0; t < b; t++) pbuf[i * b + t] = bk->ymean[t];
        dgemm(0, 0, nt, b, r, 1.0, md->atest, r, bb, b, 1.0, pbuf, b, flops);
        put_cols(out->pred, j0, pbuf, nt, b, b);
    }
    if (out->score && y_test) {
        if (!out->pred) {
            for (int64_t i = 0; i < nt; i++)
                for (int64_t t = 0; t < b; t++) pbuf[i * b + t] = bk->ymean[t];
            dgemm(0, 0, nt, b, r, 1.0, md->atest, r, bb, b, 1.0, pbuf, b, flops);
        }
        /* Pearson r per target, two passes (means, then centred sums), 64 targets per chunk so
         * that every pass reads rows of y_test and of the predictions, not strided columns. */
        int64_t vv = y_test->shape[1];
#pragma omp parallel for if (nt * b > 100000)
        for (int64_t c0 = 0; c0 < b; c0 += 64) {
            int64_t w = b - c0 < 64 ? b - c0 : 64;
            double mp[64] = {0}, my[64] = {0}, sxy[64] = {0}, sxx[64] = {0}, syy[64] = {0};
            for (int64_t i = 0; i < nt; i++)
                for (int64_t t = 0; t < w; t++) {
                    mp[t] += pbuf[i * b + c0 + t];
                    my[t] += target_at(y_test, i * vv + j0 + c0 + t);
                }
            for (int64_t t = 0; t < w; t++) mp[t] /= (double)nt, my[t] /= (double)nt;
            for (int64_t i = 0; i < nt; i++)
                for (int64_t t = 0; t < w; t++) {
                    double dp = pbuf[i * b + c0 + t] - mp[t];
                    double dy = target_at(y_test, i * vv + j0 + c0 + t) - my[t];
                    sxy[t] += dp * dy, sxx[t] += dp * dp, syy[t] += dy * dy;
                }
            for (int64_t t = 0; t < w; t++) {
                double rr = sxx[t] > 0 && syy[t] > 0 ? sxy[t] / sqrt(sxx[t] * syy[t]) : NAN;
                if (out->score->dtype == VT_F64)
                    vt_tensor_f64(out->score)[j0 + c0 + t] = rr;
                else
                    vt_tensor_f32(out->score)[j0 + c0 + t] = (float)rr;
            }
        }
    }
    info->seconds_solve += omp_get_wtime() - t0;
    return VT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Validation and the driver. */

static vt_status check_out(const vt_tensor *t, const char *name, int rank, int64_t d0, int64_t d1)
{
    if (!t) return VT_OK;
    if (t->dtype != VT_F32 && t->dtype != VT_F64)
        return vt_fail(VT_ERR_ARG, "ridge: output %s must be float32 or float64, got %s", name,
                       vt_dtype_name(t->dtype));
    int64_t expect[2] = {d0, d1};
    return vt_tensor_check_shape(t, name, rank, expect);
}

/* What the preparation needs: the features and the options. */
static vt_status check_features(const vt_tensor *x, const vt_tensor *xt, const vt_ridge_options *opt)
{
    if (vt_tensor_check_shape(x, "ridge: x_train", 2, NULL) != VT_OK) return VT_ERR_ARG;
    int64_t n = x->shape[0], p = x->shape[1];
    if (n < 2) return vt_fail(VT_ERR_ARG, "ridge: need at least 2 training stimuli (rows), got %lld", (long long)n);
    if (p < 1) return vt_fail(VT_ERR_ARG, "ridge: x_train has no features (columns)");
    if (n >= INT_MAX || p >= INT_MAX)
        return vt_fail(VT_ERR_UNSUPPORTED, "ridge: dimensions beyond 2^31 are not supported");
    if (xt) {
        if (vt_tensor_check_shape(xt, "ridge: x_test", 2, NULL) != VT_OK) return VT_ERR_ARG;
        if (xt->shape[1] != p)
            return vt_fail(VT_ERR_ARG, "ridge: x_test has %lld features (columns) but x_train has %lld",
                           (long long)xt->shape[1], (long long)p);
    }
    if (opt->alphas && opt->n_alphas < 1) return vt_fail(VT_ERR_ARG, "ridge: the list of alphas is empty");
    for (int a = 0; opt->alphas && a < opt->n_alphas; a++)
        if (!(opt->alphas[a] > 0) || !isfinite(opt->alphas[a]))
            return vt_fail(VT_ERR_ARG, "ridge: alphas must be finite and positive, got %g (alpha #%d)", opt->alphas[a],
                           a + 1);
    if (opt->criterion != VT_RIDGE_MSE && opt->criterion != VT_RIDGE_LOO_PEARSON)
        return vt_fail(VT_ERR_ARG, "ridge: unknown criterion %d", (int)opt->criterion);
    if (opt->sweep != VT_RIDGE_SWEEP_MIXED && opt->sweep != VT_RIDGE_SWEEP_DOUBLE)
        return vt_fail(VT_ERR_ARG, "ridge: unknown sweep precision %d", (int)opt->sweep);
    if (opt->block < 0) return vt_fail(VT_ERR_ARG, "ridge: block size must be >= 0, got %lld", (long long)opt->block);
    if (!(opt->margin >= 0) || !isfinite(opt->margin))
        return vt_fail(VT_ERR_ARG, "ridge: margin must be finite and >= 0, got %g", opt->margin);
    if (vt_tensor_check_finite(x, "ridge: x_train") != VT_OK) return VT_ERR_ARG;
    if (xt && vt_tensor_check_finite(xt, "ridge: x_test") != VT_OK) return VT_ERR_ARG;
    return VT_OK;
}

/* y_train is a matrix with one row per training stimulus; y_test comes with x_test. */
static vt_status check_target_rows(int64_t n, bool xt, const vt_tensor *y, const vt_tensor *yt)
{
    if (vt_tensor_check_shape(y, "ridge: y_train", 2, NULL) != VT_OK) return VT_ERR_ARG;
    if (y->shape[0] != n)
        return vt_fail(VT_ERR_ARG, "ridge: x_train has %lld rows (stimuli) but y_train has %lld", (long long)n,
                       (long long)y->shape[0]);
    if (yt && !xt) return vt_fail(VT_ERR_ARG, "ridge: y_test needs x_test");
    return VT_OK;
}

/* What one fit needs: targets that match the prepared features, and the outputs. */
static vt_status check_targets(const model *md, const vt_tensor *y, const vt_tensor *yt, const vt_ridge_outputs *out)
{
    bool xt = md->atest != NULL; /* allocated exactly when x_test was given */
    if (check_target_rows(md->n, xt, y, yt) != VT_OK) return VT_ERR_ARG;
    int64_t n = md->n, p = md->p, v = y->shape[1];
    if (v < 1) return vt_fail(VT_ERR_ARG, "ridge: y_train has no targets (columns)");
    if (v >= INT_MAX) return vt_fail(VT_ERR_UNSUPPORTED, "ridge: dimensions beyond 2^31 are not supported");
    if (yt) {
        if (vt_tensor_check_shape(yt, "ridge: y_test", 2, NULL) != VT_OK) return VT_ERR_ARG;
        if (yt->shape[0] != md->nt)
            return vt_fail(VT_ERR_ARG, "ridge: x_test has %lld rows (stimuli) but y_test has %lld", (long long)md->nt,
                           (long long)yt->shape[0]);
        if (yt->shape[1] != v)
            return vt_fail(VT_ERR_ARG, "ridge: y_test has %lld targets (columns) but y_train has %lld",
                           (long long)yt->shape[1], (long long)v);
    }
    if (!out || !out->alpha) return vt_fail(VT_ERR_ARG, "ridge: the alpha output is required");
    vt_status st = check_out(out->alpha, "ridge: output alpha", 1, v, -1);
    if (st == VT_OK) st = check_out(out->coef, "ridge: output coef", 2, p, v);
    if (st == VT_OK) st = check_out(out->intercept, "ridge: output intercept", 1, v, -1);
    if (st == VT_OK) st = check_out(out->loo, "ridge: output loo", 2, n, v);
    if (st == VT_OK && (out->pred || out->score || out->basis) && !xt)
        return vt_fail(VT_ERR_ARG, "ridge: test predictions and scores need x_test");
    if (st == VT_OK && out->score && !yt) return vt_fail(VT_ERR_ARG, "ridge: test scores need y_test");
    if (st == VT_OK && xt) st = check_out(out->pred, "ridge: output pred", 2, md->nt, v);
    if (st == VT_OK) st = check_out(out->score, "ridge: output score", 1, v, -1);
    if (st == VT_OK && xt) st = check_out(out->basis, "ridge: output basis", 2, md->kernel ? n : md->m, v);
    if (st == VT_OK && out->basis && out->basis->dtype != VT_F64)
        return vt_fail(VT_ERR_ARG, "ridge: output basis must be float64");
    if (st == VT_OK) st = check_out(out->train_mean, "ridge: output train_mean", 1, v, -1);
    if (st != VT_OK) return st;
    if (vt_tensor_check_finite(y, "ridge: y_train") != VT_OK) return VT_ERR_ARG;
    if (yt && vt_tensor_check_finite(yt, "ridge: y_test") != VT_OK) return VT_ERR_ARG;
    return VT_OK;
}

/* Everything that depends on X and the alphas only. */
static vt_status build_model(model *md, const vt_tensor *x, const vt_tensor *xt, const vt_ridge_options *opt,
                             vt_ridge_info *info)
{
    int64_t n = md->n, p = md->p;
    md->xmean = vt_malloc((size_t)p, sizeof *md->xmean);
    md->alphas = vt_malloc((size_t)md->na, sizeof *md->alphas);
    if (!md->xmean || !md->alphas) return VT_ERR_NOMEM;
    if (opt->alphas)
        memcpy(md->alphas, opt->alphas, sizeof(double) * (size_t)md->na);
    else
        vt_ridge_default_alphas(md->alphas);
    column_means(x, md->xmean);
    md->xc = to_double_centred(x, md->xmean);
    if (!md->xc) return VT_ERR_NOMEM;
    double *xtc = NULL;
    if (xt) {
        xtc = to_double_centred(xt, md->xmean);
        if (!xtc) return VT_ERR_NOMEM;
    }
    vt_status st = md->kernel ? decompose_kernel(md, &info->flops_f64) : decompose_svd(md, &info->flops_f64);
    int64_t m = md->m, r = md->kernel ? n : m;
    if (st == VT_OK) {
        /* x̄ projected on the coefficient basis, for the intercepts; test features likewise. */
        md->xbar_proj = vt_calloc((size_t)(r > 0 ? r : 1), sizeof *md->xbar_proj);
        if (!md->xbar_proj)
            st = VT_ERR_NOMEM;
        else if (r > 0 && md->kernel)
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)p, 1.0, md->xc, (int)p, md->xmean, 1, 0.0,
                        md->xbar_proj, 1);
        else if (r > 0)
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)p, (int)m, 1.0, md->v, (int)m, md->xmean, 1, 0.0, md->xbar_proj,
                        1);
    }
    if (st == VT_OK && xt) {
        md->atest = vt_malloc((size_t)(md->nt * r > 0 ? md->nt * r : 1), sizeof *md->atest);
        if (!md->atest)
            st = VT_ERR_NOMEM;
        else if (md->kernel)
            dgemm(0, 1, md->nt, n, p, 1.0, xtc, p, md->xc, p, 0.0, md->atest, n, &info->flops_f64);
        else
            dgemm(0, 0, md->nt, m, p, 1.0, xtc, p, md->v, m, 0.0, md->atest, m, &info->flops_f64);
    }
    free(xtc);
    if (st == VT_OK && opt->sweep == VT_RIDGE_SWEEP_MIXED) {
        md->q32 = vt_malloc((size_t)(n * m > 0 ? n * m : 1), sizeof *md->q32);
        if (!md->q32)
            st = VT_ERR_NOMEM;
        else
            for (int64_t i = 0; i < n * m; i++) md->q32[i] = (float)md->q[i];
    }
    if (st == VT_OK) st = alpha_tables(md, opt->criterion == VT_RIDGE_LOO_PEARSON, &info->flops_f64);
    return st;
}

/* What a fit with v targets adds to the model, once: the float32 coefficient basis for a float32 coef
 * output (that GEMM, the largest at 2·n·p·v flops, then runs in sgemm: float32 accuracy is all the
 * output holds), and the triangular factors of the MSE sweep when there are enough targets. */
static vt_status extend_model(model *md, const vt_ridge_options *opt, int coef32, int64_t v, vt_ridge_info *info)
{
    int64_t n = md->n, p = md->p, m = md->m;
    if (coef32 && !md->coef_basis32) {
        const double *src = md->kernel ? md->xc : md->v;
        int64_t len = md->kernel ? n * p : p * m;
        md->coef_basis32 = vt_malloc((size_t)(len > 0 ? len : 1), sizeof *md->coef_basis32);
        if (!md->coef_basis32) return VT_ERR_NOMEM;
#pragma omp parallel for if (len > 100000)
        for (int64_t i = 0; i < len; i++) md->coef_basis32[i] = (float)src[i];
    }
    if (!md->tri32 && md->kernel && m > 0 && opt->criterion == VT_RIDGE_MSE && opt->sweep == VT_RIDGE_SWEEP_MIXED &&
        v >= TRI_MIN_TARGETS_PER_DIM * m && (size_t)(md->na * m * m) * sizeof(float) <= TRI_MAX_BYTES)
        return build_tri(md, &info->flops_f32);
    return VT_OK;
}

struct vt_ridge_model {
    model md;
    vt_ridge_options opt; /* as given, alphas aside (md.alphas holds them) */
    vt_ridge_info prep;   /* what the preparation did */
};

void vt_ridge_model_free(vt_ridge_model *rm)
{
    if (!rm) return;
    model_free(&rm->md);
    free(rm);
}

const double *vt_ridge_model_test_design(const vt_ridge_model *rm, int64_t *rows, int64_t *cols)
{
    if (!rm || !rm->md.atest) return NULL;
    *rows = rm->md.nt;
    *cols = rm->md.kernel ? rm->md.n : rm->md.m;
    return rm->md.atest;
}

static vt_status prepare(const vt_tensor *x_train, const vt_tensor *x_test, const vt_ridge_options *opt_in,
                         vt_ridge_model **out)
{
    *out = NULL;
    vt_ridge_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        vt_ridge_options_init(&opt);
    vt_status st = check_features(x_train, x_test, &opt);
    if (st != VT_OK) return st;
    vt_ridge_model *rm = vt_calloc(1, sizeof *rm);
    if (!rm) return VT_ERR_NOMEM;
    model *md = &rm->md;
    md->n = x_train->shape[0], md->p = x_train->shape[1], md->nt = x_test ? x_test->shape[0] : 0;
    md->na = opt.alphas ? opt.n_alphas : VT_RIDGE_DEFAULT_N_ALPHAS;
    md->kernel = md->p >= md->n; /* as scikit-learn: "eigen" unless n > p */
    double t0 = omp_get_wtime();
    st = build_model(md, x_train, x_test, &opt, &rm->prep);
    rm->prep.seconds_decompose = omp_get_wtime() - t0;
    rm->prep.kernel_form = md->kernel;
    rm->prep.rank = md->m;
    opt.alphas = NULL;
    rm->opt = opt;
    if (st != VT_OK) {
        vt_ridge_model_free(rm);
        return st;
    }
    *out = rm;
    return VT_OK;
}

static vt_status fit_prepared(vt_ridge_model *rm, const vt_tensor *y_train, const vt_tensor *y_test,
                              const vt_ridge_outputs *out, vt_ridge_info *info_out)
{
    model *md = &rm->md;
    const vt_ridge_options *opt = &rm->opt;
    vt_ridge_info info = rm->prep;
    vt_status st = check_targets(md, y_train, y_test, out);
    if (st != VT_OK) return st;
    int64_t n = md->n, v = y_train->shape[1];

    /* Targets of another dtype are converted once; float32/float64 are read in place. */
    vt_tensor *yconv = NULL, *ytconv = NULL;
    const vt_tensor *y = y_train, *yt = y_test;
    if (y_train->dtype != VT_F32 && y_train->dtype != VT_F64 &&
        (st = vt_tensor_convert(y_train, VT_F64, &yconv)) == VT_OK)
        y = yconv;
    if (st == VT_OK && y_test && y_test->dtype != VT_F32 && y_test->dtype != VT_F64 &&
        (st = vt_tensor_convert(y_test, VT_F64, &ytconv)) == VT_OK)
        yt = ytconv;

    double t0 = omp_get_wtime();
    if (st == VT_OK) st = extend_model(md, opt, out->coef && out->coef->dtype == VT_F32, v, &info);
    info.seconds_decompose += omp_get_wtime() - t0;
    info.triangular_sweep = md->tri32 != NULL;

    /* Block size: keep the per-block buffers near 256 MiB, GEMM-friendly (>= 256 targets). */
    int64_t b = opt->block;
    if (b == 0) {
        int64_t per = 8 * (7 * n + 3 * md->m + md->nt) + 8 * md->na;
        b = ((int64_t)256 << 20) / per;
        if (b < 256) b = 256;
        if (b > 4096) b = 4096;
    }
    if (b > v) b = v;
    info.block = b;
    int mixed = opt->sweep == VT_RIDGE_SWEEP_MIXED;
    block bk;
    memset(&bk, 0, sizeof bk);
    float *bbuf = NULL;
    double *pbuf = NULL;
    if (st == VT_OK) st = block_alloc(&bk, md, b, mixed);
    if (st == VT_OK && out->coef && out->coef->dtype != VT_F64) {
        bbuf = vt_malloc((size_t)((md->kernel ? n : md->m) * b + 1), sizeof *bbuf);
        if (!bbuf) st = VT_ERR_NOMEM;
    }
    if (st == VT_OK && md->nt > 0) {
        pbuf = vt_malloc((size_t)(md->nt * b), sizeof *pbuf);
        if (!pbuf) st = VT_ERR_NOMEM;
    }
    for (int64_t j0 = 0; st == VT_OK && j0 < v; j0 += b) {
        int64_t bj = v - j0 < b ? v - j0 : b;
        double t1 = omp_get_wtime();
        block_load(&bk, md, y, j0, bj, mixed, &info.flops_f64);
        info.seconds_sweep += omp_get_wtime() - t1;
        block_sweep(md, &bk, opt, &info);
        st = block_solve(md, &bk, out, yt, j0, bbuf, pbuf, &info);
    }
    free(bbuf);
    free(pbuf);
    block_free(&bk);
    vt_tensor_free(yconv);
    vt_tensor_free(ytconv);
    if (info_out) *info_out = info;
    return st;
}

/* Single-threaded OpenBLAS for every step (see the BLAS wrappers); restored afterwards. */
static int blas_serial_begin(void)
{
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return saved;
}

vt_status vt_ridge_prepare(const vt_tensor *x_train, const vt_tensor *x_test, const vt_ridge_options *opt,
                           vt_ridge_model **out)
{
    if (!out) return vt_fail(VT_ERR_ARG, "ridge: no place for the prepared model");
    int saved = blas_serial_begin();
    vt_status st = prepare(x_train, x_test, opt, out);
    openblas_set_num_threads(saved);
    return st;
}

vt_status vt_ridge_fit_prepared(vt_ridge_model *model, const vt_tensor *y_train, const vt_tensor *y_test,
                                const vt_ridge_outputs *out, vt_ridge_info *info)
{
    if (!model) return vt_fail(VT_ERR_ARG, "ridge: the prepared model is NULL");
    int saved = blas_serial_begin();
    vt_status st = fit_prepared(model, y_train, y_test, out, info);
    openblas_set_num_threads(saved);
    return st;
}

vt_status vt_ridge_fit(const vt_tensor *x_train, const vt_tensor *y_train, const vt_tensor *x_test,
                       const vt_tensor *y_test, const vt_ridge_options *opt, const vt_ridge_outputs *out,
                       vt_ridge_info *info)
{
    /* The targets' shapes are checked before the (costly) preparation, as one call would. */
    if (vt_tensor_check_shape(x_train, "ridge: x_train", 2, NULL) != VT_OK) return VT_ERR_ARG;
    if (check_target_rows(x_train->shape[0], x_test != NULL, y_train, y_test) != VT_OK) return VT_ERR_ARG;
    vt_ridge_model *rm = NULL;
    vt_status st = vt_ridge_prepare(x_train, x_test, opt, &rm);
    if (st == VT_OK) st = vt_ridge_fit_prepared(rm, y_train, y_test, out, info);
    vt_ridge_model_free(rm);
    return st;
}
