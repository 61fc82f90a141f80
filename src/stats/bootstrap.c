#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clones.h"
#include "ventral/bootstrap.h"
#include "ventral/compare.h"
#include "ventral/rng.h"

void vt_bootstrap_draw(uint64_t seed, int64_t resample, int64_t n, int64_t *idx)
{
    vt_rng r = vt_rng_make(seed, (uint64_t)resample);
    for (int64_t k = 0; k < n; k++) idx[k] = (int64_t)vt_rng_below(&r, (uint64_t)n);
}

void vt_bootstrap_counts(const int64_t *idx, int64_t n, uint32_t *counts)
{
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (int64_t k = 0; k < n; k++) counts[idx[k]]++;
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* numpy's 'linear' method: position q·(k−1) in the sorted samples, interpolated. */
static double quantile_sorted(const double *s, int64_t k, double q)
{
    double h = q * (double)(k - 1);
    int64_t i = (int64_t)floor(h);
    if (i >= k - 1) return s[k - 1];
    double g = h - (double)i;
    /* numpy's _lerp: a + (b − a)·g, written from the nearer end for g ≥ 0.5. */
    double d = s[i + 1] - s[i];
    return g >= 0.5 ? s[i + 1] - d * (1 - g) : s[i] + d * g;
}

vt_status vt_bootstrap_percentile(const double *samples, int64_t k, double level, double *low, double *high)
{
    *low = *high = NAN;
    if (!(level > 0 && level < 1))
        return vt_fail(VT_ERR_ARG, "bootstrap: confidence level must lie strictly between 0 and 1, got %g", level);
    double *s = vt_malloc((size_t)(k > 0 ? k : 1), sizeof *s);
    if (!s) return VT_ERR_NOMEM;
    int64_t valid = 0;
    for (int64_t i = 0; i < k; i++)
        if (!isnan(samples[i])) s[valid++] = samples[i];
    if (valid == 0) {
        free(s);
        return vt_fail(VT_ERR_ARG, "bootstrap: none of the %lld resamples gave a defined statistic", (long long)k);
    }
    qsort(s, (size_t)valid, sizeof *s, cmp_double);
    *low = quantile_sorted(s, valid, (1 - level) / 2);
    *high = quantile_sorted(s, valid, (1 + level) / 2);
    free(s);
    return VT_OK;
}

/* ---- voxel-wise encoding scores on resampled stimuli (vt_compare_columns_bootstrap) ---- */

/* Units are processed in groups of 8 columns: the 5 weighted sums of a group live in 5 vectors
 * of 8 doubles (registers: 5 zmm, 10 ymm or 20 xmm) across the pass over the drawn rows. The clones let AVX-512 / AVX2
 * machines use wide registers; the arithmetic is the same in every clone (separate multiply and add: ISO C mode
 * compiles with -ffp-contract=off), so the bits do not depend on the machine's clone. */
enum { GROUP = 8 };
typedef double v8d __attribute__((vector_size(64), aligned(8)));

/* For the 8 columns at a and b (row stride `stride`), the sums over rows[0..len) taken w[q] times
 * each of x, y, x², y², xy: out[0..40), 8 per sum. */
VT_CLONES static void group_sums(const double *a, const double *b, int64_t stride, const int64_t *rows, const double *w,
                                 int64_t len, double *out)
{
    v8d sa = {0}, sb = {0}, saa = {0}, sbb = {0}, sab = {0};
    for (int64_t q = 0; q < len; q++) {
        v8d x, y, c = {w[q], w[q], w[q], w[q], w[q], w[q], w[q], w[q]};
        memcpy(&x, a + rows[q] * stride, sizeof x);
        memcpy(&y, b + rows[q] * stride, sizeof y);
        v8d cx = c * x, cy = c * y;
        sa += cx, sb += cy, saa += cx * x, sbb += cy * y, sab += cx * y;
    }
    const v8d all[5] = {sa, sb, saa, sbb, sab};
    memcpy(out, all, sizeof all);
}

/* Pearson r of the `nb` (<= 8) columns whose sums group_sums gave (total weight `total`). One
 * pass is accurate because the columns are centred on all rows. A column whose weighted
 * variance vanishes (relative to its second moment) on either side gives NaN. */
static void group_r(const double *s, double total, int64_t nb, double *r)
{
    const double *sa = s, *sb = s + GROUP, *saa = s + 2 * GROUP, *sbb = s + 3 * GROUP, *sab = s + 4 * GROUP;
    for (int64_t j = 0; j < nb; j++) {
        double va = saa[j] - sa[j] * sa[j] / total, vb = sbb[j] - sb[j] * sb[j] / total;
        double cov = sab[j] - sa[j] * sb[j] / total;
        r[j] = va > 1e-10 * saa[j] && vb > 1e-10 * sbb[j] ? cov / sqrt(va * vb) : NAN;
    }
}

/* The k-th smallest of a[0..n) (0-based); afterwards every a[i] with i < k is <= a[k]. */
static double select_kth(double *a, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (hi > lo) {
        double x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        double p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y)); /* median of 3 */
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i <= j) {
                double t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k]; /* a[j+1..i-1] all equal p */
    }
    return a[k];
}

/* Mean (in column order) or median (middle pair averaged) of the finite values of v[0..m); NaN
 * when none is. Reorders v. The same arithmetic as the point estimate of `ventral score`. */
static double column_summary(double *v, int64_t m, bool mean)
{
    int64_t c = 0;
    for (int64_t i = 0; i < m; i++)
        if (isfinite(v[i])) v[c++] = v[i];
    if (c == 0) return NAN;
    if (mean) {
        double s = 0;
        for (int64_t i = 0; i < c; i++) s += v[i];
        return s / (double)c;
    }
    double hi = select_kth(v, c, c / 2);
    if (c % 2) return hi;
    double lo = v[0];
    for (int64_t i = 1; i < c / 2; i++) lo = v[i] > lo ? v[i] : lo;
    return 0.5 * (lo + hi);
}

/* *out = an n × mp float64 copy of the n × m matrix t, each column centred on its mean over the
 * n rows; columns m..mp (padding to whole groups) are zero. */
static vt_status centred_copy(const vt_tensor *t, const char *what, int64_t mp, double **out)
{
    vt_status st = vt_tensor_check_finite(t, what);
    if (st != VT_OK) return st;
    int64_t n = t->shape[0], m = t->shape[1];
    double *d = *out = vt_calloc((size_t)(n * mp), sizeof *d);
    if (!d) return VT_ERR_NOMEM;
    for (int64_t j = 0; j < m; j++) {
        double mu = 0;
        for (int64_t i = 0; i < n; i++) mu += d[i * mp + j] = vt_tensor_get(t, i * m + j);
        mu /= (double)n;
        for (int64_t i = 0; i < n; i++) d[i * mp + j] -= mu;
    }
    return VT_OK;
}

vt_status vt_compare_columns_bootstrap(const vt_tensor *pred, const vt_tensor *obs, bool mean,
                                       const vt_bootstrap_opts *opts, vt_bootstrap_ci *out, double *samples)
{
    memset(out, 0, sizeof *out);
    out->estimate = out->low = out->high = out->se = NAN;
    if (pred->rank != 2 || obs->rank != 2 || pred->shape[0] != obs->shape[0] || pred->shape[1] != obs->shape[1])
        return vt_fail(VT_ERR_ARG, "encoding bootstrap: predictions and responses must be 2-d matrices of one shape "
                                   "(stimuli x units)");
    int64_t n = pred->shape[0], m = pred->shape[1], k = opts->resamples;
    if (n < 2 || m < 1)
        return vt_fail(VT_ERR_ARG, "encoding bootstrap: needs at least 2 stimuli and 1 unit, got %lld x %lld",
                       (long long)n, (long long)m);
    if (k < 1)
        return vt_fail(VT_ERR_ARG, "bootstrap: the number of resamples must be at least 1, got %lld", (long long)k);
    if (!(opts->level > 0 && opts->level < 1))
        return vt_fail(VT_ERR_ARG, "bootstrap: confidence level must lie strictly between 0 and 1, got %g",
                       opts->level);
    int64_t n_groups = (m + GROUP - 1) / GROUP, mp = n_groups * GROUP;
    double *a = NULL, *b = NULL;
    vt_status st = centred_copy(pred, "encoding bootstrap: predictions", mp, &a);
    if (st == VT_OK) st = centred_copy(obs, "encoding bootstrap: responses", mp, &b);
    /* Resamples go in chunks of `ch`: every chunk's drawn rows (distinct, ascending, with their
     * counts), then its units' r group by group (a group's columns are read once per chunk), then
     * each resample's summary. Each value is computed by one thread in a fixed order, so the
     * result does not depend on the thread count or the schedule. */
    int64_t ch = (int64_t)(1 << 21) / mp;
    ch = ch < 8 ? 8 : ch > 256 ? 256 : ch;
    ch = ch > k ? k : ch;
    double *stat = samples ? samples : vt_malloc((size_t)k, sizeof *stat);
    double *r = vt_malloc((size_t)(ch * mp), sizeof *r), *w = vt_malloc((size_t)(ch * n), sizeof *w);
    int64_t *rows = vt_malloc((size_t)(ch * n), sizeof *rows), *len = vt_malloc((size_t)ch, sizeof *len);
    uint32_t *counts = vt_malloc((size_t)(ch * n), sizeof *counts);
    if (st == VT_OK && (!stat || !r || !w || !rows || !len || !counts)) st = VT_ERR_NOMEM;
    if (st == VT_OK) {
        /* The estimate: every stimulus once. */
        double sums[5 * GROUP];
        for (int64_t i = 0; i < n; i++) rows[i] = i, w[i] = 1;
        for (int64_t g = 0; g < n_groups; g++) {
            group_sums(a + g * GROUP, b + g * GROUP, mp, rows, w, n, sums);
            group_r(sums, (double)n, GROUP, r + g * GROUP);
        }
        out->estimate = column_summary(r, m, mean);
        /* (small problems stay on one thread: the barriers would cost more than they share) */
#pragma omp parallel if ((double)k * (double)n * (double)mp > 5e7)
        for (int64_t c0 = 0; c0 < k; c0 += ch) {
            int64_t nc = k - c0 < ch ? k - c0 : ch;
#pragma omp for schedule(static)
            for (int64_t c = 0; c < nc; c++) {
                int64_t *idx = rows + c * n; /* the draw, then (overwritten) the distinct rows */
                uint32_t *cnt = counts + c * n;
                vt_bootstrap_draw(opts->seed, c0 + c, n, idx);
                vt_bootstrap_counts(idx, n, cnt);
                int64_t q = 0;
                for (int64_t i = 0; i < n; i++)
                    if (cnt[i]) idx[q] = i, w[c * n + q] = (double)cnt[i], q++;
                len[c] = q;
            }
#pragma omp for schedule(dynamic, 4)
            for (int64_t g = 0; g < n_groups; g++) {
                double gs[5 * GROUP];
                for (int64_t c = 0; c < nc; c++) {
                    group_sums(a + g * GROUP, b + g * GROUP, mp, rows + c * n, w + c * n, len[c], gs);
                    group_r(gs, (double)n, GROUP, r + c * mp + g * GROUP);
                }
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t c = 0; c < nc; c++) stat[c0 + c] = len[c] < 2 ? NAN : column_summary(r + c * mp, m, mean);
        }
        out->resamples = k;
        double sum = 0, sum2 = 0;
        for (int64_t i = 0; i < k; i++)
            if (!isnan(stat[i])) out->valid++, sum += stat[i];
        if (out->valid > 0) {
            double mu = sum / (double)out->valid;
            for (int64_t i = 0; i < k; i++)
                if (!isnan(stat[i])) sum2 += (stat[i] - mu) * (stat[i] - mu);
            out->se = out->valid > 1 ? sqrt(sum2 / (double)(out->valid - 1)) : NAN;
        }
        st = vt_bootstrap_percentile(stat, k, opts->level, &out->low, &out->high);
    }
    if (!samples) free(stat);
    free(r), free(w), free(rows), free(len), free(counts), free(a), free(b);
    return st;
}
