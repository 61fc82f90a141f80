/* GSN covariance estimation (METHODS §8): shrunken noise and data covariances, the signal
 * covariance by subtraction, and the biconvex iteration that makes both PSD and consistent.
 *
 * Layout: data[u, c, t] at u*C*T + c*T + t (units × conditions × trials, row-major); all
 * covariances are N×N row-major with N = units. Every step mirrors the reference package's
 * numpy path, including which conditions are held out, so results agree to rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>
#include <omp.h>

#include "stats/gsn_internal.h"
#include "ventral/gsn.h"

/* ---- MT19937 (Matsumoto & Nishimura), only to reproduce the package's fixed split ---- */

enum { MT_N = 624, MT_M = 397 };

typedef struct mt19937 {
    uint32_t s[MT_N];
    int pos;
} mt19937;

static void mt_seed(mt19937 *mt, uint32_t seed)
{
    mt->s[0] = seed;
    for (int i = 1; i < MT_N; i++) mt->s[i] = 1812433253u * (mt->s[i - 1] ^ (mt->s[i - 1] >> 30)) + (uint32_t)i;
    mt->pos = MT_N;
}

static uint32_t mt_next(mt19937 *mt)
{
    if (mt->pos >= MT_N) {
        for (int i = 0; i < MT_N; i++) {
            uint32_t y = (mt->s[i] & 0x80000000u) | (mt->s[(i + 1) % MT_N] & 0x7fffffffu);
            mt->s[i] = mt->s[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        mt->pos = 0;
    }
    uint32_t y = mt->s[mt->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* 53-bit uniform in [0, 1), as numpy's RandomState.random. */
static double mt_double(mt19937 *mt)
{
    uint32_t a = mt_next(mt) >> 5, b = mt_next(mt) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

typedef struct keyed {
    double key;
    int64_t index;
} keyed;

static int keyed_cmp(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

vt_status vt_gsn_randperm(int64_t n, int64_t *perm)
{
    keyed *k = vt_malloc((size_t)(n > 0 ? n : 1), sizeof *k);
    if (!k) return VT_ERR_NOMEM;
    mt19937 mt;
    mt_seed(&mt, 42);
    for (int64_t i = 0; i < n; i++) k[i] = (keyed){mt_double(&mt), i};
    qsort(k, (size_t)n, sizeof *k, keyed_cmp);
    for (int64_t i = 0; i < n; i++) perm[i] = k[i].index;
    free(k);
    return VT_OK;
}

/* ---- small linear-algebra helpers ---- */

/* OpenBLAS threads the BLAS-2 reductions inside LAPACK's eigensolver and Cholesky, so their
 * rounding depends on the thread count — and a last-bit difference can flip the PSD projection's
 * ridge decision. They run on the calling thread only (the OpenMP build of OpenBLAS follows the
 * caller's OpenMP thread setting), which keeps results identical at any thread count. */
static int serial_begin(void)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    return saved;
}

static void serial_end(int saved)
{
    omp_set_num_threads(saved);
}

static void symmetrise(double *m, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double v = (m[i * n + j] + m[j * n + i]) / 2;
            m[i * n + j] = m[j * n + i] = v;
        }
}

/* Mirrors the upper triangle into the lower (after dsyrk). */
static void fill_lower(double *m, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) m[j * n + i] = m[i * n + j];
}

bool vt_gsn_is_pd(const double *m, int64_t n, vt_status *st)
{
    *st = VT_OK;
    double *l = vt_malloc((size_t)(n * n), sizeof *l);
    if (!l) {
        *st = VT_ERR_NOMEM;
        return false;
    }
    memcpy(l, m, sizeof *l * (size_t)(n * n));
    int saved = serial_begin();
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, l, (lapack_int)n);
    serial_end(saved);
    free(l);
    return info == 0;
}

/* Eigen-decomposition of symmetric m: w ascending, v column-major eigenvectors
 * (v[i + j*n] = component i of vector j). */
static vt_status sym_eig(const double *m, int64_t n, double *w, double *v)
{
    memcpy(v, m, sizeof *v * (size_t)(n * n));
    int saved = serial_begin();
    lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', (lapack_int)n, v, (lapack_int)n, w);
    serial_end(saved);
    if (info != 0)
        return vt_fail(VT_ERR_NUMERIC, "gsn: eigendecomposition of a %lldx%lld covariance failed (info %d)",
                       (long long)n, (long long)n, (int)info);
    return VT_OK;
}

vt_status vt_gsn_nearest_psd(double *m, int64_t n, bool scalar_rule)
{
    if (n == 1 && scalar_rule) {
        if (!(m[0] >= 0)) m[0] = 0;
        return VT_OK;
    }
    symmetrise(m, n);
    vt_status st;
    if (vt_gsn_is_pd(m, n, &st)) return VT_OK;
    if (st != VT_OK) return st;
    double *w = vt_malloc((size_t)n, sizeof *w);
    double *v = vt_malloc((size_t)(n * n), sizeof *v);
    double *vd = vt_malloc((size_t)(n * n), sizeof *vd);
    if (!w || !v || !vd) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    if ((st = sym_eig(m, n, w, v)) != VT_OK) goto done;
    /* m = V diag(max(w, 0)) Vᵀ: scale the columns of V, then one GEMM. */
    for (int64_t j = 0; j < n; j++) {
        double d = w[j] > 0 ? w[j] : 0;
        for (int64_t i = 0; i < n; i++) vd[i + j * n] = v[i + j * n] * d;
    }
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0, vd, (int)n, v, (int)n, 0.0, m,
                (int)n);
    symmetrise(m, n);
    /* Clipped eigenvalues sit at zero, so rounding can leave the result just short of
     * factorable; the package then adds a tiny ridge, and so do we. */
    if (!vt_gsn_is_pd(m, n, &st)) {
        if (st != VT_OK) goto done;
        for (int64_t i = 0; i < n; i++) m[i * n + i] += 1e-10;
    }
done:
    free(w);
    free(v);
    free(vd);
    return st;
}

vt_status vt_gsn_psd_factor(const double *m, int64_t n, double *f)
{
    double *w = vt_malloc((size_t)n, sizeof *w);
    double *v = vt_malloc((size_t)(n * n), sizeof *v);
    vt_status st = (!w || !v) ? VT_ERR_NOMEM : sym_eig(m, n, w, v);
    if (st == VT_OK)
        for (int64_t j = 0; j < n; j++) {
            double s = w[j] > 0 ? sqrt(w[j]) : 0;
            for (int64_t i = 0; i < n; i++) f[i * n + j] = v[i + j * n] * s;
        }
    free(w);
    free(v);
    return st;
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

static double sorted_quantile(const double *v, int64_t n, double q)
{
    double pos = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    int64_t hi = lo + 1 < n ? lo + 1 : lo;
    double frac = pos - (double)lo;
    return v[lo] + (v[hi] - v[lo]) * frac;
}

double vt_gsn_median(double *v, int64_t n)
{
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double vt_gsn_iqr(double *v, int64_t n)
{
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return sorted_quantile(v, n, 0.75) - sorted_quantile(v, n, 0.25);
}

/* ---- shrinkage selection ---- */

/* Mean Gaussian negative log-likelihood of the m held-out points (rows of pts, m×n, already
 * centred) under c shrunk toward its diagonal, for each level; NaN where the shrunken matrix
 * does not factor (the package skips those). */
static vt_status shrink_nll(const double *c, int64_t n, const double *pts, int64_t m, const double *levels, int nlev,
                            double *nll)
{
    double *l = vt_malloc((size_t)(n * n), sizeof *l);
    double *y = vt_malloc((size_t)(n * m), sizeof *y);
    if (!l || !y) {
        free(l);
        free(y);
        return VT_ERR_NOMEM;
    }
    const double log2pi = log(2 * M_PI);
    for (int p = 0; p < nlev; p++) {
        nll[p] = NAN;
        for (int64_t i = 0; i < n * n; i++) l[i] = c[i] * levels[p];
        if (n > 1) /* the package keeps the diagonal only for n > 1; a single variance is scaled */
            for (int64_t i = 0; i < n; i++) l[i * n + i] = c[i * n + i];
        /* Column-major 'L' on the symmetric buffer: in row-major terms l holds U = Lᵀ. */
        int saved = serial_begin();
        lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, l, (lapack_int)n);
        serial_end(saved);
        if (info != 0) continue;
        for (int64_t j = 0; j < m; j++)
            for (int64_t i = 0; i < n; i++) y[i * m + j] = pts[j * n + i];
        /* Solve L Y = ptsᵀ, i.e. Uᵀ Y = ptsᵀ. */
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, (int)n, (int)m, 1.0, l, (int)n, y,
                    (int)m);
        double logdet = 0;
        for (int64_t i = 0; i < n; i++) logdet += log(l[i * n + i]);
        double total = 0;
        for (int64_t j = 0; j < m; j++) {
            double sq = 0;
            for (int64_t i = 0; i < n; i++) sq += y[i * m + j] * y[i * m + j];
            total += -0.5 * sq - logdet - 0.5 * (double)n * log2pi;
        }
        nll[p] = -(total / (double)m);
    }
    free(l);
    free(y);
    return VT_OK;
}

/* First level with the smallest finite NLL (level 0 when all are NaN, as the package). */
static int best_level(const double *nll, int nlev)
{
    int best = -1;
    for (int p = 0; p < nlev; p++)
        if (!isnan(nll[p]) && (best < 0 || nll[p] < nll[best])) best = p;
    return best < 0 ? 0 : best;
}

/* c ← level·c with the diagonal kept (for n = 1 the package scales the variance itself). */
static void apply_shrinkage(double *c, int64_t n, double level)
{
    if (n == 1) c[0] *= level;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            if (i != j) c[i * n + j] *= level;
}

/* ---- the estimation context ---- */

typedef struct gsn_ctx {
    const double *x; /* units × conds × trials */
    int64_t n, nc, nt;
    bool *valid;   /* conds × trials: the trial is complete (no NaN in any unit) */
    int64_t *cnt;  /* conds: complete trials */
    int64_t *perm; /* randperm(nc) */
    int64_t nval;  /* held-out conditions: perm[0 .. nval-1] */
    const double *levels;
    int nlev;
} gsn_ctx;

/* Average over conditions `conds` with >= 2 complete trials of each condition's unbiased
 * covariance across its complete trials (the package's pooled noise covariance). Writes the
 * n×n result to c and the number of contributing conditions to *used. */
static vt_status pooled_noise_cov(const gsn_ctx *g, const int64_t *conds, int64_t k, double *c, int64_t *used)
{
    int64_t rows = 0;
    for (int64_t q = 0; q < k; q++)
        if (g->cnt[conds[q]] >= 2) rows += g->cnt[conds[q]];
    *used = 0;
    memset(c, 0, sizeof *c * (size_t)(g->n * g->n));
    if (rows == 0) return VT_OK;
    double *r = vt_malloc((size_t)(rows * g->n), sizeof *r);
    if (!r) return VT_ERR_NOMEM;
    int64_t row = 0, nused = 0;
    for (int64_t q = 0; q < k; q++) {
        int64_t cond = conds[q], cn = g->cnt[cond];
        if (cn < 2) continue;
        nused++;
        /* Residuals from the condition's mean, weighted by 1/sqrt(cn - 1) so that one SYRK
         * sums the per-condition unbiased covariances. */
        double w = 1.0 / sqrt((double)(cn - 1));
        for (int64_t u = 0; u < g->n; u++) {
            const double *xs = g->x + (u * g->nc + cond) * g->nt;
            double mean = 0;
            for (int64_t t = 0; t < g->nt; t++)
                if (g->valid[cond * g->nt + t]) mean += xs[t];
            mean /= (double)cn;
            int64_t rr = row;
            for (int64_t t = 0; t < g->nt; t++)
                if (g->valid[cond * g->nt + t]) r[(rr++) * g->n + u] = (xs[t] - mean) * w;
        }
        row += cn;
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)g->n, (int)rows, 1.0 / (double)nused, r, (int)g->n, 0.0, c,
                (int)g->n);
    fill_lower(c, g->n);
    free(r);
    *used = nused;
    return VT_OK;
}

/* Noise covariance: shrinkage chosen on held-out conditions, then refit on all of them. */
static vt_status noise_cov(const gsn_ctx *g, double *cn, double *level)
{
    int64_t n = g->n, used, m = 0;
    double *ctrain = vt_malloc((size_t)(n * n), sizeof *ctrain);
    double *nll = vt_malloc((size_t)g->nlev, sizeof *nll);
    double *pts = NULL;
    vt_status st = (!ctrain || !nll) ? VT_ERR_NOMEM : VT_OK;
    if (st == VT_OK) st = pooled_noise_cov(g, g->perm + g->nval, g->nc - g->nval, ctrain, &used);
    if (st == VT_OK && used == 0)
        st = vt_fail(VT_ERR_ARG, "gsn: data: no training condition has at least 2 complete trials");
    for (int64_t q = 0; st == VT_OK && q < g->nval; q++)
        if (g->cnt[g->perm[q]] >= 2) m += g->cnt[g->perm[q]];
    if (st == VT_OK && m == 0)
        st = vt_fail(VT_ERR_ARG, "gsn: data: no held-out condition (every 5th) has at least 2 complete trials");
    if (st == VT_OK && !(pts = vt_malloc((size_t)(m * n), sizeof *pts))) st = VT_ERR_NOMEM;
    if (st == VT_OK) {
        /* Held-out trials, each centred on its own condition's mean. */
        int64_t row = 0;
        for (int64_t q = 0; q < g->nval; q++) {
            int64_t cond = g->perm[q], cnt = g->cnt[cond];
            if (cnt < 2) continue;
            for (int64_t u = 0; u < n; u++) {
                const double *xs = g->x + (u * g->nc + cond) * g->nt;
                double mean = 0;
                for (int64_t t = 0; t < g->nt; t++)
                    if (g->valid[cond * g->nt + t]) mean += xs[t];
                mean /= (double)cnt;
                int64_t rr = row;
                for (int64_t t = 0; t < g->nt; t++)
                    if (g->valid[cond * g->nt + t]) pts[(rr++) * n + u] = xs[t] - mean;
            }
            row += cnt;
        }
        st = shrink_nll(ctrain, n, pts, m, g->levels, g->nlev, nll);
    }
    if (st == VT_OK) {
        *level = g->levels[best_level(nll, g->nlev)];
        int64_t *all = vt_malloc((size_t)g->nc, sizeof *all);
        if (!all)
            st = VT_ERR_NOMEM;
        else {
            for (int64_t i = 0; i < g->nc; i++) all[i] = i;
            st = pooled_noise_cov(g, all, g->nc, cn, &used);
            free(all);
        }
        if (st == VT_OK) apply_shrinkage(cn, n, *level);
    }
    free(ctrain);
    free(nll);
    free(pts);
    return st;
}

/* Data covariance of the condition means xm (conds × units): shrinkage chosen on the held-out
 * conditions (centred on the training mean), then refit on all conditions. */
static vt_status data_cov(const gsn_ctx *g, const double *xm, double *cd, double *mn, double *level)
{
    int64_t n = g->n, nc = g->nc, ntr = nc - g->nval;
    double *xt = vt_malloc((size_t)(nc * n), sizeof *xt);
    double *pts = vt_malloc((size_t)((g->nval > 0 ? g->nval : 1) * n), sizeof *pts);
    double *mtr = vt_malloc((size_t)n, sizeof *mtr);
    double *nll = vt_malloc((size_t)g->nlev, sizeof *nll);
    vt_status st = (!xt || !pts || !mtr || !nll) ? VT_ERR_NOMEM : VT_OK;
    if (st == VT_OK) {
        for (int64_t u = 0; u < n; u++) {
            double s = 0;
            for (int64_t q = 0; q < ntr; q++) s += xm[g->perm[g->nval + q] * n + u];
            mtr[u] = s / (double)ntr;
        }
        for (int64_t q = 0; q < ntr; q++)
            for (int64_t u = 0; u < n; u++) xt[q * n + u] = xm[g->perm[g->nval + q] * n + u] - mtr[u];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)ntr, 1.0 / (double)(ntr - 1), xt, (int)n, 0.0,
                    cd, (int)n);
        fill_lower(cd, n);
        for (int64_t q = 0; q < g->nval; q++)
            for (int64_t u = 0; u < n; u++) pts[q * n + u] = xm[g->perm[q] * n + u] - mtr[u];
        st = shrink_nll(cd, n, pts, g->nval, g->levels, g->nlev, nll);
    }
    if (st == VT_OK) {
        *level = g->levels[best_level(nll, g->nlev)];
        for (int64_t u = 0; u < n; u++) {
            double s = 0;
            for (int64_t q = 0; q < nc; q++) s += xm[q * n + u];
            mn[u] = s / (double)nc;
        }
        for (int64_t q = 0; q < nc; q++)
            for (int64_t u = 0; u < n; u++) xt[q * n + u] = xm[q * n + u] - mn[u];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)nc, 1.0 / (double)(nc - 1), xt, (int)n, 0.0, cd,
                    (int)n);
        fill_lower(cd, n);
        apply_shrinkage(cd, n, *level);
    }
    free(xt);
    free(pts);
    free(mtr);
    free(nll);
    return st;
}

/* Pearson correlation of two flattened matrices (np.corrcoef of the flat arrays). */
static double flat_corr(const double *a, const double *b, int64_t len)
{
    double ma = 0, mb = 0;
    for (int64_t i = 0; i < len; i++) ma += a[i], mb += b[i];
    ma /= (double)len;
    mb /= (double)len;
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < len; i++) {
        double da = a[i] - ma, db = b[i] - mb;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    double r = sab / sqrt(saa) / sqrt(sbb);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

/* The biconvex iteration: cSb = PSD(cD − cNb/ntrial); cNb = PSD(a·cN + b·ntrial_bc·(cD − cSb)),
 * until successive cSb and cNb each correlate > 0.999 (or differ < 1e-5 for one unit). */
static vt_status biconvex(const double *cn, const double *cd, const double *cs, int64_t n, int64_t nc, double ntrial,
                          double nbc, int max_iters, double *csb, double *cnb, int *numiters)
{
    int64_t nn = n * n;
    double *csb_old = vt_malloc((size_t)nn, sizeof *csb_old);
    double *cnb_old = vt_malloc((size_t)nn, sizeof *cnb_old);
    if (!csb_old || !cnb_old) {
        free(csb_old);
        free(cnb_old);
        return VT_ERR_NOMEM;
    }
    memcpy(cnb, cn, sizeof *cn * (size_t)nn);
    memcpy(csb_old, cs, sizeof *cs * (size_t)nn);
    memcpy(cnb_old, cn, sizeof *cn * (size_t)nn);
    double ncd = (double)nc;
    double denom = ncd * nbc * nbc * (nbc - 1) + ncd - 1;
    double coef_n = (ncd * (nbc - 1) * nbc * nbc) / denom;
    double coef_d = (ncd - 1) / denom * nbc;
    vt_status st = VT_OK;
    *numiters = 0;
    for (int it = 0; it < max_iters; it++) {
        for (int64_t i = 0; i < nn; i++) csb[i] = cd[i] - cnb[i] / ntrial;
        if ((st = vt_gsn_nearest_psd(csb, n, false)) != VT_OK) break;
        for (int64_t i = 0; i < nn; i++) cnb[i] = coef_n * cn[i] + coef_d * (cd[i] - csb[i]);
        if ((st = vt_gsn_nearest_psd(cnb, n, false)) != VT_OK) break;
        bool converged;
        if (n == 1)
            converged = fabs(csb_old[0] - csb[0]) < 1e-5 && fabs(cnb_old[0] - cnb[0]) < 1e-5;
        else
            converged = flat_corr(csb_old, csb, nn) > 0.999 && flat_corr(cnb_old, cnb, nn) > 0.999;
        if (converged) break;
        (*numiters)++;
        memcpy(csb_old, csb, sizeof *csb * (size_t)nn);
        memcpy(cnb_old, cnb, sizeof *cnb * (size_t)nn);
    }
    free(csb_old);
    free(cnb_old);
    return st;
}

/* ---- the public entry points ---- */

void vt_gsn_options_default(vt_gsn_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->want_shrinkage = true;
    opt->max_iters = 100;
}

void vt_gsn_result_free(vt_gsn_result *r)
{
    if (!r) return;
    vt_tensor_free(r->mnN);
    vt_tensor_free(r->mnS);
    vt_tensor_free(r->ncsnr);
    vt_tensor_free(r->cN);
    vt_tensor_free(r->cS);
    vt_tensor_free(r->cNb);
    vt_tensor_free(r->cSb);
    free(r);
}

/* Shape, finiteness and missing-trial checks; fills valid/cnt. */
static vt_status check_data(const double *x, gsn_ctx *g)
{
    int64_t n = g->n, nc = g->nc, nt = g->nt;
    for (int64_t i = 0; i < n * nc * nt; i++)
        if (isinf(x[i]))
            return vt_fail(VT_ERR_ARG,
                           "gsn: data contains Inf at [%lld, %lld, %lld]; only NaN (missing trial) is allowed",
                           (long long)(i / (nc * nt)), (long long)(i / nt % nc), (long long)(i % nt));
    int64_t two = 0;
    for (int64_t c = 0; c < nc; c++) {
        g->cnt[c] = 0;
        for (int64_t t = 0; t < nt; t++) {
            bool ok = true;
            for (int64_t u = 0; u < n && ok; u++) ok = !isnan(x[(u * nc + c) * nt + t]);
            g->valid[c * nt + t] = ok;
            g->cnt[c] += ok;
        }
        if (g->cnt[c] == 0)
            return vt_fail(VT_ERR_ARG, "gsn: data: condition %lld has no complete trial (every trial contains NaN)",
                           (long long)c);
        two += g->cnt[c] >= 2;
    }
    if (two == 0) return vt_fail(VT_ERR_ARG, "gsn: data: no condition has at least 2 complete trials");
    return VT_OK;
}

vt_status vt_gsn_perform(const vt_tensor *data, const vt_gsn_options *opt, vt_gsn_result **out)
{
    *out = NULL;
    vt_gsn_options defaults;
    if (!opt) {
        vt_gsn_options_default(&defaults);
        opt = &defaults;
    }
    if (!data) return vt_fail(VT_ERR_ARG, "gsn: data is NULL");
    if (data->rank != 3) {
        char buf[128];
        return vt_fail(VT_ERR_ARG, "gsn: data must be 3-d (units x conditions x trials), got %d-d array %s", data->rank,
                       vt_tensor_shape_str(data, buf, sizeof buf));
    }
    int64_t n = data->shape[0], nc = data->shape[1], nt = data->shape[2];
    if (n < 1) return vt_fail(VT_ERR_ARG, "gsn: data has no units");
    if (nt < 2) return vt_fail(VT_ERR_ARG, "gsn: data needs at least 2 trials per condition, got %lld", (long long)nt);
    if (nc < 3) return vt_fail(VT_ERR_ARG, "gsn: data needs at least 3 conditions, got %lld", (long long)nc);
    if (n > 46340 || nc * nt > INT32_MAX) /* BLAS dimensions are int */
        return vt_fail(VT_ERR_ARG, "gsn: data of %lld units x %lld conditions x %lld trials is too large", (long long)n,
                       (long long)nc, (long long)nt);
    if (opt->max_iters < 1) return vt_fail(VT_ERR_ARG, "gsn: max_iters must be >= 1, got %d", opt->max_iters);

    /* The grid: custom, 0..1 in 51 steps (numpy linspace), or just 1 (no shrinkage). */
    double grid[51];
    const double *levels = grid;
    int nlev;
    if (opt->shrinklevels && opt->nshrinklevels > 0) {
        levels = opt->shrinklevels;
        nlev = opt->nshrinklevels;
        for (int p = 0; p < nlev; p++)
            if (!(levels[p] >= 0 && levels[p] <= 1))
                return vt_fail(VT_ERR_ARG, "gsn: shrinklevels[%d] = %g is outside [0, 1]", p, levels[p]);
    } else if (opt->want_shrinkage) {
        nlev = 51;
        for (int p = 0; p < 50; p++) grid[p] = p * (1.0 / 50);
        grid[50] = 1.0;
    } else {
        nlev = 1;
        grid[0] = 1.0;
    }

    vt_tensor *xc = NULL;
    const double *x;
    if (data->dtype == VT_F64)
        x = vt_tensor_f64(data);
    else {
        vt_status st = vt_tensor_convert(data, VT_F64, &xc);
        if (st != VT_OK) return st;
        x = vt_tensor_f64(xc);
    }

    gsn_ctx g = {.x = x, .n = n, .nc = nc, .nt = nt, .levels = levels, .nlev = nlev};
    g.valid = vt_malloc((size_t)(nc * nt), sizeof *g.valid);
    g.cnt = vt_malloc((size_t)nc, sizeof *g.cnt);
    g.perm = vt_malloc((size_t)nc, sizeof *g.perm);
    vt_gsn_result *r = vt_calloc(1, sizeof *r);
    int64_t shape2[2] = {n, n};
    double *xm = vt_malloc((size_t)(nc * n), sizeof *xm);
    double *cd = vt_malloc((size_t)(n * n), sizeof *cd);
    int64_t *sub = vt_malloc((size_t)nt, sizeof *sub);
    vt_status st = VT_OK;
    if (!g.valid || !g.cnt || !g.perm || !r || !xm || !cd || !sub) {
        st = VT_ERR_NOMEM;
        goto fail;
    }
    r->nunits = n, r->nconds = nc, r->ntrials = nt;
    if (!(r->mnN = vt_tensor_new(VT_F64, 1, &n)) || !(r->mnS = vt_tensor_new(VT_F64, 1, &n)) ||
        !(r->ncsnr = vt_tensor_new(VT_F64, 1, &n)) || !(r->cN = vt_tensor_new(VT_F64, 2, shape2)) ||
        !(r->cS = vt_tensor_new(VT_F64, 2, shape2)) || !(r->cNb = vt_tensor_new(VT_F64, 2, shape2)) ||
        !(r->cSb = vt_tensor_new(VT_F64, 2, shape2))) {
        st = VT_ERR_NOMEM;
        goto fail;
    }
    if ((st = check_data(x, &g)) != VT_OK) goto fail;
    if ((st = vt_gsn_randperm(nc, g.perm)) != VT_OK) goto fail;
    g.nval = (int64_t)floor((double)nc / 5 + 0.5); /* no ties: nc/5 never ends in .5 */

    double *cn = vt_tensor_f64(r->cN), *cs = vt_tensor_f64(r->cS);
    if ((st = noise_cov(&g, cn, &r->shrinklevelN)) != VT_OK) goto fail;

    /* Condition means. With missing trials every condition contributes min(count) trials,
     * picked by randperm(count) over its complete trials in ascending order (as the package). */
    int64_t tmin = nt, cnt_gt1 = 0;
    for (int64_t c = 0; c < nc; c++) {
        if (g.cnt[c] < tmin) tmin = g.cnt[c];
        if (g.cnt[c] > 1) cnt_gt1 += g.cnt[c];
    }
    r->uneven = false;
    for (int64_t c = 0; c < nc && !r->uneven; c++) r->uneven = g.cnt[c] < nt;
    if (!r->uneven)
        for (int64_t i = 0; i < n * nc * nt && !r->uneven; i++) r->uneven = isnan(x[i]);
    for (int64_t c = 0; c < nc; c++) {
        int64_t k = 0;
        for (int64_t t = 0; t < nt; t++)
            if (g.valid[c * nt + t]) sub[k++] = t;
        int64_t pick[64], *pk = k <= 64 ? pick : vt_malloc((size_t)k, sizeof *pk);
        if (!pk) {
            st = VT_ERR_NOMEM;
            goto fail;
        }
        if (r->uneven)
            st = vt_gsn_randperm(k, pk);
        else
            for (int64_t t = 0; t < k; t++) pk[t] = t;
        for (int64_t u = 0; st == VT_OK && u < n; u++) {
            const double *xs = x + (u * nc + c) * nt;
            double s = 0;
            for (int64_t t = 0; t < tmin; t++) s += xs[sub[pk[t]]];
            xm[c * n + u] = s / (double)tmin;
        }
        if (pk != pick) free(pk);
        if (st != VT_OK) goto fail;
    }
    if ((st = data_cov(&g, xm, cd, vt_tensor_f64(r->mnS), &r->shrinklevelD)) != VT_OK) goto fail;

    r->ntrial = (double)tmin;
    r->ntrial_bc = r->uneven ? (double)cnt_gt1 / (double)nc : (double)nt;
    if (r->ntrial_bc < 1) r->ntrial_bc = 1;
    for (int64_t i = 0; i < n * n; i++) cs[i] = cd[i] - cn[i] / r->ntrial;
    double *ncsnr = vt_tensor_f64(r->ncsnr);
    for (int64_t u = 0; u < n; u++) {
        double sn = cn[u * n + u] > 0 ? sqrt(cn[u * n + u]) : 0;
        double ss = cs[u * n + u] > 0 ? sqrt(cs[u * n + u]) : 0;
        ncsnr[u] = sn != 0 ? ss / sn : 0;
    }
    st = biconvex(cn, cd, cs, n, nc, r->ntrial, r->ntrial_bc, opt->max_iters, vt_tensor_f64(r->cSb),
                  vt_tensor_f64(r->cNb), &r->numiters);
    if (st != VT_OK) goto fail;

    free(g.valid);
    free(g.cnt);
    free(g.perm);
    free(xm);
    free(cd);
    free(sub);
    vt_tensor_free(xc);
    *out = r;
    return VT_OK;
fail:
    free(g.valid);
    free(g.cnt);
    free(g.perm);
    free(xm);
    free(cd);
    free(sub);
    vt_tensor_free(xc);
    vt_gsn_result_free(r);
    return st;
}
