/* Correlations of RSM triangles. Every statistic is written once, over values with integer
 * weights (NULL = all 1): the point estimate uses weight 1, a bootstrap resample weights the
 * pair (i, j) by counts[i]·counts[j]. A weighted statistic equals the plain one computed on the
 * data with each value repeated `weight` times, so resamples never materialise the resampled
 * matrices and Spearman/Kendall reuse one sort of the original triangles. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "ventral/bootstrap.h"
#include "ventral/compare.h"
#include "ventral/rank.h"

static const char *const method_names[VT_CORR_METHOD_COUNT] = {"pearson", "spearman", "kendall"};
_Static_assert(sizeof method_names / sizeof method_names[0] == VT_CORR_METHOD_COUNT, "one name per method");

const char *vt_corr_method_name(vt_corr_method method)
{
    return (unsigned)method < VT_CORR_METHOD_COUNT ? method_names[method] : "?";
}

vt_status vt_corr_method_parse(const char *name, vt_corr_method *out)
{
    for (int i = 0; i < VT_CORR_METHOD_COUNT; i++)
        if (strcmp(name, method_names[i]) == 0) {
            *out = (vt_corr_method)i;
            return VT_OK;
        }
    return vt_fail(VT_ERR_ARG, "unknown correlation method '%s' (choose pearson, spearman or kendall)", name);
}

int64_t vt_compare_triangle_len(int64_t n)
{
    return n > 1 ? n * (n - 1) / 2 : 0;
}

/* Offset of row i's first value (i, i+1) in the triangle of an n×n matrix. */
static inline int64_t tri_offset(int64_t n, int64_t i)
{
    return i * (2 * n - i - 1) / 2;
}

vt_status vt_compare_triangle(const vt_tensor *m, const char *what, double *out)
{
    char buf[128];
    if (m->rank != 2 || m->shape[0] != m->shape[1])
        return vt_fail(VT_ERR_ARG, "%s: expected a square matrix, got shape %s", what,
                       vt_tensor_shape_str(m, buf, sizeof buf));
    int64_t n = m->shape[0], bad = n * n;
#pragma omp parallel for schedule(dynamic, 16) reduction(min : bad) if (n > 512)
    for (int64_t i = 0; i < n; i++) {
        double *dst = out + tri_offset(n, i);
        int64_t len = n - i - 1, base = i * n + i + 1;
        if (m->dtype == VT_F64)
            memcpy(dst, vt_tensor_f64(m) + base, (size_t)len * sizeof *dst);
        else if (m->dtype == VT_F32)
            for (int64_t k = 0; k < len; k++) dst[k] = vt_tensor_f32(m)[base + k];
        else
            for (int64_t k = 0; k < len; k++) dst[k] = vt_tensor_get(m, base + k);
        for (int64_t k = 0; k < len; k++)
            if (!isfinite(dst[k]) && base + k < bad) bad = base + k;
    }
    if (bad < n * n)
        return vt_fail(VT_ERR_ARG, "%s: the value at row %lld, column %lld of the upper triangle is %s", what,
                       (long long)(bad / n), (long long)(bad % n), isnan(vt_tensor_get(m, bad)) ? "NaN" : "Inf");
    return VT_OK;
}

/* ---- the prepared form shared by estimates and resamples ---------------------------------- */

/* Everything a statistic needs, computed once. Spearman and Kendall list the values in one
 * sorted order (by a; by (a, b) for Kendall) with their dense ranks and, for matrices, the
 * (row, column) of each value, so that a resample — weights counts[row]·counts[col] — is a
 * sequential pass that reads the small counts array and never a weight per value. */
typedef struct prepared {
    vt_corr_method method;
    int64_t m, n;        /* values; stimuli (0: 1-d vectors, no resampling) */
    const double *a, *b; /* the values in triangle order */
    double *ra, *rb;     /* spearman: average ranks in triangle order (the estimate) */
    uint32_t *sa, *sb;   /* spearman, kendall: dense ranks, in the sorted order */
    uint16_t *si, *sj;   /* spearman, kendall, n <= 65535: row and column, in the sorted order */
    int64_t ga, gb;      /* the number of distinct values of a and b */
} prepared;

static void prepared_free(prepared *p)
{
    free(p->ra), free(p->rb), free(p->sa), free(p->sb), free(p->si), free(p->sj);
    memset(p, 0, sizeof *p);
}

/* order = positions sorted by da (Spearman) or by (da, db) (Kendall), stably: counting sorts. */
static vt_status sorted_order(const uint32_t *da, int64_t ga, const uint32_t *db, int64_t gb, int64_t m, bool by_b,
                              uint32_t *order)
{
    uint32_t *byb = by_b ? vt_malloc((size_t)m, sizeof *byb) : NULL;
    uint32_t *start = vt_calloc((size_t)(ga > gb ? ga : gb) + 1, sizeof *start);
    if ((by_b && !byb) || !start) {
        free(byb), free(start);
        return VT_ERR_NOMEM;
    }
    if (by_b) {
        for (int64_t t = 0; t < m; t++) start[db[t] + 1]++;
        for (int64_t g = 0; g < gb; g++) start[g + 1] += start[g];
        for (int64_t t = 0; t < m; t++) byb[start[db[t]]++] = (uint32_t)t;
        memset(start, 0, ((size_t)ga + 1) * sizeof *start);
    }
    for (int64_t t = 0; t < m; t++) start[da[t] + 1]++;
    for (int64_t g = 0; g < ga; g++) start[g + 1] += start[g];
    for (int64_t s = 0; s < m; s++) {
        uint32_t t = byb ? byb[s] : (uint32_t)s;
        order[start[da[t]]++] = t;
    }
    free(byb), free(start);
    return VT_OK;
}

static vt_status prepare(const double *a, const double *b, int64_t m, int64_t n, vt_corr_method method, prepared *p)
{
    memset(p, 0, sizeof *p);
    p->method = method, p->m = m, p->n = n, p->a = a, p->b = b;
    if (method == VT_CORR_PEARSON) return VT_OK;
    bool spearman = method == VT_CORR_SPEARMAN, pairs = n > 0 && n <= 65535;
    uint32_t *da = vt_malloc((size_t)m, sizeof *da), *db = vt_malloc((size_t)m, sizeof *db);
    uint32_t *order = vt_malloc((size_t)m, sizeof *order);
    p->sa = vt_malloc((size_t)m, sizeof *p->sa);
    p->sb = vt_malloc((size_t)m, sizeof *p->sb);
    if (spearman) {
        p->ra = vt_malloc((size_t)m, sizeof *p->ra);
        p->rb = vt_malloc((size_t)m, sizeof *p->rb);
    }
    if (pairs) {
        p->si = vt_malloc((size_t)m, sizeof *p->si);
        p->sj = vt_malloc((size_t)m, sizeof *p->sj);
    }
    vt_status st = VT_OK;
    if (!da || !db || !order || !p->sa || !p->sb || (spearman && (!p->ra || !p->rb)) || (pairs && (!p->si || !p->sj)))
        st = VT_ERR_NOMEM;
    if (st == VT_OK) {
        vt_status sa = VT_OK, sb = VT_OK;
        /* The two sorts are independent: one thread each. */
#pragma omp parallel sections if (m > 20000)
        {
#pragma omp section
            sa = vt_rank_both(a, m, p->ra, da, &p->ga);
#pragma omp section
            sb = vt_rank_both(b, m, p->rb, db, &p->gb);
        }
        st = sa != VT_OK ? sa : sb;
    }
    if (st == VT_OK) st = sorted_order(da, p->ga, db, p->gb, m, !spearman, order);
    if (st == VT_OK) {
        for (int64_t s = 0; s < m; s++) p->sa[s] = da[order[s]], p->sb[s] = db[order[s]];
        if (pairs) {
            /* (row, column) of every triangle position, scattered into the sorted order. */
            uint32_t *inv = da; /* da is no longer needed */
            for (int64_t s = 0; s < m; s++) inv[order[s]] = (uint32_t)s;
            int64_t t = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = i + 1; j < n; j++, t++) p->si[inv[t]] = (uint16_t)i, p->sj[inv[t]] = (uint16_t)j;
        }
    }
    free(da), free(db), free(order);
    if (st != VT_OK) prepared_free(p);
    return st;
}

struct item {
    uint32_t r, w;
};

/* Scratch for one thread's statistics (sized for the prepared pair). */
typedef struct scratch {
    uint32_t *w;                    /* pearson resamples: weight per value */
    double *wa, *wb;                /* spearman: weight per distinct value, then its rank */
    uint64_t *gw;                   /* kendall: weight per distinct value of b */
    struct item *items, *items_tmp; /* kendall: (rank of b, weight) sequence for the merge sort */
} scratch;

static void scratch_free(scratch *s)
{
    free(s->w), free(s->wa), free(s->wb), free(s->gw), free(s->items), free(s->items_tmp);
    memset(s, 0, sizeof *s);
}

static vt_status scratch_new(const prepared *p, scratch *s)
{
    memset(s, 0, sizeof *s);
    bool ok = true;
    if (p->method == VT_CORR_PEARSON && p->n > 0) {
        s->w = vt_malloc((size_t)p->m, sizeof *s->w);
        ok = s->w;
    } else if (p->method == VT_CORR_SPEARMAN) {
        s->wa = vt_malloc((size_t)p->ga, sizeof *s->wa);
        s->wb = vt_malloc((size_t)p->gb, sizeof *s->wb);
        ok = s->wa && s->wb;
    } else if (p->method == VT_CORR_KENDALL) {
        s->gw = vt_malloc((size_t)p->gb, sizeof *s->gw);
        s->items = vt_malloc((size_t)p->m, sizeof *s->items);
        s->items_tmp = vt_malloc((size_t)p->m, sizeof *s->items_tmp);
        ok = s->gw && s->items && s->items_tmp;
    }
    if (!ok) scratch_free(s);
    return ok ? VT_OK : VT_ERR_NOMEM;
}

/* Result codes of the statistics: the value, or why there is none. */
enum { STAT_OK, STAT_CONST_A, STAT_CONST_B, STAT_EMPTY };

/* Sums run in blocks of this many terms added into the totals: the rounding error grows
 * with the number of blocks, not of values (scipy and ours then agree to ~1e-15, not 1e-12). */
#define SUM_BLOCK 1024

/* Weighted Pearson of (a·ka, b·kb) over values with weight w[t] (NULL: all 1); weight-0 values
 * are absent. Returns STAT_OK with *out set, or why there is no value; *safe = false when a sum
 * of squares left the range where it is accurate (the caller rescales and calls again). */
static int pearson_scaled(const double *a, const double *b, const uint32_t *w, int64_t m, double ka, double kb,
                          double *out, bool *safe)
{
    double sw = 0, sa = 0, sb = 0;
    int64_t first = -1;
    bool const_a = true, const_b = true;
    for (int64_t t0 = 0; t0 < m; t0 += SUM_BLOCK) {
        int64_t t1 = t0 + SUM_BLOCK < m ? t0 + SUM_BLOCK : m;
        double bw = 0, ba = 0, bb = 0;
        for (int64_t t = t0; t < t1; t++) {
            double wt = w ? w[t] : 1;
            if (wt == 0) continue;
            if (first < 0) first = t;
            const_a = const_a && a[t] == a[first];
            const_b = const_b && b[t] == b[first];
            bw += wt, ba += wt * (a[t] * ka), bb += wt * (b[t] * kb);
        }
        sw += bw, sa += ba, sb += bb;
    }
    if (first < 0 || sw < 2) return STAT_EMPTY;
    if (const_a) return STAT_CONST_A;
    if (const_b) return STAT_CONST_B;
    /* Two passes: sums of centred products, so large offsets do not cancel. */
    double ma = sa / sw, mb = sb / sw, saa = 0, sbb = 0, sab = 0;
    for (int64_t t0 = 0; t0 < m; t0 += SUM_BLOCK) {
        int64_t t1 = t0 + SUM_BLOCK < m ? t0 + SUM_BLOCK : m;
        double baa = 0, bbb = 0, bab = 0;
        for (int64_t t = t0; t < t1; t++) {
            double wt = w ? w[t] : 1;
            if (wt == 0) continue;
            double xa = a[t] * ka - ma, xb = b[t] * kb - mb;
            baa += wt * xa * xa, bbb += wt * xb * xb, bab += wt * xa * xb;
        }
        saa += baa, sbb += bbb, sab += bab;
    }
    *safe = saa > 1e-280 && saa < 1e280 && sbb > 1e-280 && sbb < 1e280 && isfinite(sa) && isfinite(sb);
    double r = sab / (sqrt(saa) * sqrt(sbb));
    *out = r > 1 ? 1 : r < -1 ? -1 : r;
    return STAT_OK;
}

/* A power of two bringing the largest magnitude among the weighted values into [0.5, 1). */
static double scale_of(const double *x, const uint32_t *w, int64_t m)
{
    double big = 0;
    for (int64_t t = 0; t < m; t++)
        if (!w || w[t]) big = fmax(big, fabs(x[t]));
    int e;
    frexp(big, &e);
    return big > 0 ? ldexp(1.0, -e < 1000 ? -e : 1000) : 1;
}

/* Weighted Pearson over values with weight w[t] (NULL: all 1); weight-0 values are absent. Data
 * so large or so small that squares leave the accurate range are rescaled by exact powers of
 * two (the correlation is scale-invariant). */
static int pearson_stat(const double *a, const double *b, const uint32_t *w, int64_t m, double *out)
{
    bool safe = true;
    int code = pearson_scaled(a, b, w, m, 1, 1, out, &safe);
    if (code == STAT_OK && !safe) code = pearson_scaled(a, b, w, m, scale_of(a, w, m), scale_of(b, w, m), out, &safe);
    return code;
}

/* g[k] = total weight of distinct value k on entry; on return its average rank: a value of
 * weight W preceded by weight C holds ranks C+1 … C+W, whose mean is C + (W+1)/2. Returns the
 * number of distinct values present; *ss = Σ W·(rank − mean)². */
static int64_t group_ranks(double *g, int64_t groups, double mean, double *ss)
{
    double c = 0, s = 0;
    int64_t present = 0;
    for (int64_t k = 0; k < groups; k++) {
        double wk = g[k];
        if (wk == 0) continue;
        present++;
        double r = c + 0.5 * (wk + 1);
        s += wk * (r - mean) * (r - mean);
        c += wk;
        g[k] = r;
    }
    *ss = s;
    return present;
}

/* Spearman: counts NULL gives the estimate (Pearson of the average ranks). */
static int spearman_stat(const prepared *p, const uint32_t *counts, scratch *s, double *out)
{
    if (!counts) return pearson_stat(p->ra, p->rb, NULL, p->m, out);
    int64_t m = p->m;
    memset(s->wa, 0, (size_t)p->ga * sizeof *s->wa);
    memset(s->wb, 0, (size_t)p->gb * sizeof *s->wb);
    double total = 0;
    for (int64_t k = 0; k < m; k++) {
        double w = (double)(counts[p->si[k]] * counts[p->sj[k]]);
        s->wa[p->sa[k]] += w, s->wb[p->sb[k]] += w, total += w;
    }
    if (total < 2) return STAT_EMPTY;
    /* Weighted average ranks have mean (W+1)/2 by construction. */
    double mean = 0.5 * (total + 1), saa, sbb, sab = 0;
    if (group_ranks(s->wa, p->ga, mean, &saa) < 2) return STAT_CONST_A;
    if (group_ranks(s->wb, p->gb, mean, &sbb) < 2) return STAT_CONST_B;
    for (int64_t k0 = 0; k0 < m; k0 += SUM_BLOCK) {
        int64_t k1 = k0 + SUM_BLOCK < m ? k0 + SUM_BLOCK : m;
        double block = 0;
        for (int64_t k = k0; k < k1; k++) {
            uint32_t w = counts[p->si[k]] * counts[p->sj[k]];
            if (w) block += (double)w * (s->wa[p->sa[k]] - mean) * (s->wb[p->sb[k]] - mean);
        }
        sab += block;
    }
    double r = sab / (sqrt(saa) * sqrt(sbb));
    *out = r > 1 ? 1 : r < -1 ? -1 : r;
    return STAT_OK;
}

/* Weighted inversions of x[lo, hi) (pairs i < j with r_i > r_j, weighted w_i·w_j) and the
 * merged order of its two sorted halves [lo, mid), [mid, hi), written to dst. */
static uint64_t merge_count(const struct item *src, struct item *dst, int64_t lo, int64_t mid, int64_t hi)
{
    uint64_t inv = 0, left_w = 0;
    for (int64_t i = lo; i < mid; i++) left_w += src[i].w;
    int64_t i = lo, j = mid, k = lo;
    while (i < mid && j < hi) {
        if (src[i].r <= src[j].r) {
            left_w -= src[i].w;
            dst[k++] = src[i++];
        } else {
            /* src[j] jumps ahead of every remaining left item: all discordant. */
            inv += left_w * src[j].w;
            dst[k++] = src[j++];
        }
    }
    while (i < mid) dst[k++] = src[i++];
    while (j < hi) dst[k++] = src[j++];
    return inv;
}

/* Sorts x[0, n) by r (stably) and returns its weighted inversions: insertion sort on runs of
 * 16, then bottom-up merges; the result is left in x. */
static uint64_t sort_count_serial(struct item *x, struct item *tmp, int64_t n)
{
    enum { RUN = 16 };
    uint64_t inv = 0;
    for (int64_t lo = 0; lo < n; lo += RUN) {
        int64_t hi = lo + RUN < n ? lo + RUN : n;
        for (int64_t i = lo + 1; i < hi; i++) {
            struct item v = x[i];
            uint64_t passed = 0;
            int64_t j = i;
            for (; j > lo && x[j - 1].r > v.r; j--) {
                passed += x[j - 1].w;
                x[j] = x[j - 1];
            }
            x[j] = v;
            inv += passed * v.w;
        }
    }
    struct item *src = x, *dst = tmp;
    for (int64_t width = RUN; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            inv += merge_count(src, dst, lo, mid, hi);
        }
        struct item *t = src;
        src = dst, dst = t;
    }
    if (src != x) memcpy(x, src, (size_t)n * sizeof *x);
    return inv;
}

/* As sort_count_serial; outside a parallel region, large inputs are cut into one chunk per
 * thread, sorted independently, then merged pairwise: few synchronisations, and the count
 * is an integer sum, the same for any thread count. */
static uint64_t sort_count_inversions(struct item *x, struct item *tmp, int64_t n)
{
    int chunks = omp_in_parallel() || n < 131072 ? 1 : omp_get_max_threads();
    if (chunks > 64) chunks = 64;
    if (chunks <= 1) return sort_count_serial(x, tmp, n);
    int64_t bound[65];
    for (int c = 0; c <= chunks; c++) bound[c] = n * c / chunks;
    uint64_t inv = 0;
#pragma omp parallel for schedule(static, 1) reduction(+ : inv)
    for (int c = 0; c < chunks; c++) inv += sort_count_serial(x + bound[c], tmp + bound[c], bound[c + 1] - bound[c]);
    for (int step = 1; step < chunks; step *= 2) {
#pragma omp parallel for schedule(static, 1) reduction(+ : inv)
        for (int c = 0; c < chunks; c += 2 * step) {
            if (c + step >= chunks) continue;
            int64_t lo = bound[c], mid = bound[c + step], hi = bound[c + 2 * step < chunks ? c + 2 * step : chunks];
            inv += merge_count(x, tmp, lo, mid, hi);
            memcpy(x + lo, tmp + lo, (size_t)(hi - lo) * sizeof *x);
        }
    }
    return inv;
}

/* w(w−1)/2 without overflowing the intermediate product for w up to 2^32. */
static inline uint64_t pairs_of(uint64_t w)
{
    return w % 2 ? w * ((w - 1) / 2) : (w / 2) * (w - 1);
}

/* Kendall tau-b by Knight's algorithm, as scipy.stats.kendalltau computes it:
 * tau = (P − Q) / √((n0 − n1)(n0 − n2)), P − Q = n0 − n1 − n2 + n3 − 2·discordant.
 * counts NULL: every weight is 1. */
static int kendall_stat(const prepared *p, const uint32_t *counts, scratch *s, double *out)
{
    int64_t m = p->m, len = 0;
    uint64_t total = 0, n1 = 0, n3 = 0, n2 = 0;
    uint64_t wa = 0, wab = 0; /* weight of the current run of equal a, and of equal (a, b) */
    int64_t prev = -1;
    for (int64_t k = 0; k < m; k++) {
        uint32_t w = counts ? counts[p->si[k]] * counts[p->sj[k]] : 1;
        if (w == 0) continue;
        if (prev >= 0 && p->sa[k] != p->sa[prev]) n1 += pairs_of(wa), wa = 0;
        if (prev >= 0 && (p->sa[k] != p->sa[prev] || p->sb[k] != p->sb[prev])) n3 += pairs_of(wab), wab = 0;
        wa += w, wab += w, total += w;
        s->items[len].r = p->sb[k], s->items[len].w = w;
        len++;
        prev = k;
    }
    if (total < 2) return STAT_EMPTY;
    n1 += pairs_of(wa), n3 += pairs_of(wab);
    memset(s->gw, 0, (size_t)p->gb * sizeof *s->gw);
    for (int64_t k = 0; k < len; k++) s->gw[s->items[k].r] += s->items[k].w;
    for (int64_t g = 0; g < p->gb; g++) n2 += pairs_of(s->gw[g]);
    uint64_t n0 = pairs_of(total);
    if (n1 == n0) return STAT_CONST_A;
    if (n2 == n0) return STAT_CONST_B;
    uint64_t dis = sort_count_inversions(s->items, s->items_tmp, len);
    double con_minus_dis = (double)((int64_t)(n0 - n1 - n2 + n3) - 2 * (int64_t)dis);
    double tau = con_minus_dis / sqrt((double)(n0 - n1)) / sqrt((double)(n0 - n2));
    *out = tau > 1 ? 1 : tau < -1 ? -1 : tau;
    return STAT_OK;
}

/* Pair weights counts[i]·counts[j] over the triangle, in triangle order. */
static void pair_weights(const uint32_t *counts, int64_t n, uint32_t *w)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t *row = w + tri_offset(n, i);
        uint32_t ci = counts[i];
        if (ci == 0)
            memset(row, 0, (size_t)(n - i - 1) * sizeof *row);
        else
            for (int64_t j = i + 1; j < n; j++) row[j - i - 1] = ci * counts[j];
    }
}

/* The statistic with weights counts[row]·counts[col] (counts NULL: the estimate). */
static int statistic(const prepared *p, const uint32_t *counts, scratch *s, double *out)
{
    switch (p->method) {
    case VT_CORR_PEARSON:
        if (counts) pair_weights(counts, p->n, s->w);
        return pearson_stat(p->a, p->b, counts ? s->w : NULL, p->m, out);
    case VT_CORR_SPEARMAN: return spearman_stat(p, counts, s, out);
    case VT_CORR_KENDALL: return kendall_stat(p, counts, s, out);
    default: return STAT_EMPTY;
    }
}

static vt_status stat_error(int code, const char *name_a, const char *name_b, int64_t m)
{
    if (code == STAT_CONST_A || code == STAT_CONST_B)
        return vt_fail(VT_ERR_ARG,
                       "%s is constant (all %lld values compared are equal), so its correlation is undefined",
                       code == STAT_CONST_A ? name_a : name_b, (long long)m);
    return vt_fail(VT_ERR_ARG, "a correlation needs at least 2 values, got %lld", (long long)m);
}

/* The point estimate with names for the messages. */
static vt_status estimate(const double *a, const char *name_a, const double *b, const char *name_b, int64_t m,
                          vt_corr_method method, double *out)
{
    *out = NAN;
    if ((unsigned)method >= VT_CORR_METHOD_COUNT) return vt_fail(VT_ERR_ARG, "compare: unknown method %d", method);
    if (m < 2) return stat_error(STAT_EMPTY, name_a, name_b, m);
    prepared p;
    scratch s;
    vt_status st = prepare(a, b, m, 0, method, &p);
    if (st != VT_OK) return st;
    if ((st = scratch_new(&p, &s)) != VT_OK) {
        prepared_free(&p);
        return st;
    }
    int code = statistic(&p, NULL, &s, out);
    if (code != STAT_OK) st = stat_error(code, name_a, name_b, m);
    scratch_free(&s);
    prepared_free(&p);
    return st;
}

vt_status vt_compare_vectors(const double *a, const double *b, int64_t m, vt_corr_method method, double *out)
{
    *out = NAN;
    for (int64_t t = 0; t < m; t++)
        if (!isfinite(a[t]) || !isfinite(b[t]))
            return vt_fail(VT_ERR_ARG, "%s: value %lld is %s", isfinite(a[t]) ? "B" : "A", (long long)t,
                           isnan(isfinite(a[t]) ? b[t] : a[t]) ? "NaN" : "Inf");
    if ((uint64_t)m > UINT32_MAX)
        return vt_fail(VT_ERR_ARG, "compare: %lld values, at most %u supported", (long long)m, UINT32_MAX);
    return estimate(a, "A", b, "B", m, method, out);
}

/* ---- pairs --------------------------------------------------------------------------------- */

struct vt_compare_pair {
    int64_t n; /* stimuli; 0 for 1-d inputs */
    double *a, *b;
    prepared p;
    double estimate; /* on all stimuli, computed by vt_compare_pair_new */
};

void vt_compare_pair_free(vt_compare_pair *pair)
{
    if (!pair) return;
    prepared_free(&pair->p);
    free(pair->a), free(pair->b);
    free(pair);
}

/* A 1-d input's values into a new array, checked finite. */
static vt_status vector_values(const vt_tensor *v, const char *what, double *out)
{
    for (int64_t t = 0; t < v->shape[0]; t++) {
        out[t] = vt_tensor_get(v, t);
        if (!isfinite(out[t]))
            return vt_fail(VT_ERR_ARG, "%s: value %lld is %s", what, (long long)t, isnan(out[t]) ? "NaN" : "Inf");
    }
    return VT_OK;
}

vt_status vt_compare_pair_new(const vt_tensor *a, const char *name_a, const vt_tensor *b, const char *name_b,
                              vt_corr_method method, vt_compare_pair **out)
{
    char sa[128], sb[128];
    *out = NULL;
    name_a = name_a ? name_a : "A";
    name_b = name_b ? name_b : "B";
    if ((unsigned)method >= VT_CORR_METHOD_COUNT) return vt_fail(VT_ERR_ARG, "compare: unknown method %d", method);
    if (a->rank != b->rank || (a->rank != 1 && a->rank != 2))
        return vt_fail(VT_ERR_ARG, "compare: %s (shape %s) and %s (shape %s) must both be square matrices or both 1-d",
                       name_a, vt_tensor_shape_str(a, sa, sizeof sa), name_b, vt_tensor_shape_str(b, sb, sizeof sb));
    for (int k = 0; k < 2; k++) {
        const vt_tensor *t = k ? b : a;
        if (t->rank == 2 && t->shape[0] != t->shape[1])
            return vt_fail(VT_ERR_ARG, "compare: %s must be a square matrix, got shape %s", k ? name_b : name_a,
                           vt_tensor_shape_str(t, sa, sizeof sa));
    }
    if (a->shape[0] != b->shape[0])
        return vt_fail(VT_ERR_ARG, "compare: %s (shape %s) and %s (shape %s) differ in size", name_a,
                       vt_tensor_shape_str(a, sa, sizeof sa), name_b, vt_tensor_shape_str(b, sb, sizeof sb));
    int64_t n = a->rank == 2 ? a->shape[0] : 0, m = a->rank == 2 ? vt_compare_triangle_len(n) : a->shape[0];
    if (m < 2) {
        if (a->rank == 2)
            return vt_fail(VT_ERR_ARG,
                           "compare: %s and %s are %lldx%lld: their strict upper triangles hold %lld value(s), and a "
                           "correlation needs at least 2 (at least 3 stimuli)",
                           name_a, name_b, (long long)n, (long long)n, (long long)m);
        return vt_fail(VT_ERR_ARG, "compare: %s and %s hold %lld value(s); a correlation needs at least 2", name_a,
                       name_b, (long long)m);
    }
    if ((uint64_t)m > UINT32_MAX)
        return vt_fail(VT_ERR_ARG, "compare: %lld values per input, at most %u supported", (long long)m, UINT32_MAX);
    vt_compare_pair *pair = vt_calloc(1, sizeof *pair);
    if (!pair) return VT_ERR_NOMEM;
    pair->n = n;
    pair->a = vt_malloc((size_t)m, sizeof *pair->a);
    pair->b = vt_malloc((size_t)m, sizeof *pair->b);
    vt_status st = pair->a && pair->b ? VT_OK : VT_ERR_NOMEM;
    if (st == VT_OK) st = n ? vt_compare_triangle(a, name_a, pair->a) : vector_values(a, name_a, pair->a);
    if (st == VT_OK) st = n ? vt_compare_triangle(b, name_b, pair->b) : vector_values(b, name_b, pair->b);
    if (st == VT_OK) st = prepare(pair->a, pair->b, m, n, method, &pair->p);
    if (st == VT_OK) {
        /* The estimate, computed now: a constant input is an error for the pair as a whole. */
        scratch s;
        st = scratch_new(&pair->p, &s);
        if (st == VT_OK) {
            int code = statistic(&pair->p, NULL, &s, &pair->estimate);
            if (code != STAT_OK) st = stat_error(code, name_a, name_b, m);
            scratch_free(&s);
        }
    }
    if (st != VT_OK) {
        vt_compare_pair_free(pair);
        return st;
    }
    *out = pair;
    return VT_OK;
}

int64_t vt_compare_pair_stimuli(const vt_compare_pair *pair)
{
    return pair->n;
}

int64_t vt_compare_pair_values(const vt_compare_pair *pair)
{
    return pair->p.m;
}

vt_status vt_compare_pair_estimate(const vt_compare_pair *pair, double *out)
{
    *out = pair->estimate;
    return VT_OK;
}

vt_status vt_compare(const vt_tensor *a, const vt_tensor *b, vt_corr_method method, double *out)
{
    vt_compare_pair *pair;
    *out = NAN;
    vt_status st = vt_compare_pair_new(a, "A", b, "B", method, &pair);
    if (st != VT_OK) return st;
    st = vt_compare_pair_estimate(pair, out);
    vt_compare_pair_free(pair);
    return st;
}

static vt_status check_resamplable(const vt_compare_pair *pair)
{
    if (pair->n == 0) return vt_fail(VT_ERR_ARG, "compare: resampling stimuli needs square matrices, not 1-d vectors");
    if (pair->n > 65535)
        return vt_fail(VT_ERR_ARG, "compare: resampling supports at most 65535 stimuli, got %lld", (long long)pair->n);
    return VT_OK;
}

static double resampled(const vt_compare_pair *pair, const uint32_t *counts, scratch *s)
{
    double r = NAN;
    return statistic(&pair->p, counts, s, &r) == STAT_OK ? r : NAN;
}

vt_status vt_compare_pair_resampled(const vt_compare_pair *pair, const uint32_t *counts, double *out)
{
    *out = NAN;
    vt_status st = check_resamplable(pair);
    if (st != VT_OK) return st;
    scratch s;
    if ((st = scratch_new(&pair->p, &s)) == VT_OK) {
        *out = resampled(pair, counts, &s);
        scratch_free(&s);
    }
    return st;
}

vt_status vt_compare_bootstrap(const vt_compare_pair *pair, const vt_bootstrap_opts *opts, vt_bootstrap_ci *out,
                               double *samples)
{
    memset(out, 0, sizeof *out);
    out->estimate = out->low = out->high = out->se = NAN;
    vt_status st = check_resamplable(pair);
    if (st != VT_OK) return st;
    if (opts->resamples < 1)
        return vt_fail(VT_ERR_ARG, "bootstrap: the number of resamples must be at least 1, got %lld",
                       (long long)opts->resamples);
    if (!(opts->level > 0 && opts->level < 1))
        return vt_fail(VT_ERR_ARG, "bootstrap: confidence level must lie strictly between 0 and 1, got %g",
                       opts->level);
    if ((st = vt_compare_pair_estimate(pair, &out->estimate)) != VT_OK) return st;
    int64_t n = pair->n, k = opts->resamples;
    double *stat = samples ? samples : vt_malloc((size_t)k, sizeof *stat);
    if (!stat) return VT_ERR_NOMEM;
    vt_status failed = VT_OK;
#pragma omp parallel
    {
        /* Per-thread buffers, sized once; resample r's value depends on r alone. */
        int64_t *idx = vt_malloc((size_t)n, sizeof *idx);
        uint32_t *counts = vt_malloc((size_t)n, sizeof *counts);
        scratch s;
        vt_status mine = idx && counts ? scratch_new(&pair->p, &s) : VT_ERR_NOMEM;
        if (mine != VT_OK) {
#pragma omp critical(vt_compare_bootstrap)
            failed = mine;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t r = 0; r < k; r++) {
            if (mine != VT_OK) continue;
            vt_bootstrap_draw(opts->seed, r, n, idx);
            vt_bootstrap_counts(idx, n, counts);
            stat[r] = resampled(pair, counts, &s);
        }
        if (mine == VT_OK) scratch_free(&s);
        free(idx), free(counts);
    }
    if (failed != VT_OK) {
        if (!samples) free(stat);
        return vt_fail(failed, "bootstrap: out of memory for the per-thread buffers");
    }
    out->resamples = k;
    double sum = 0, sum2 = 0;
    for (int64_t r = 0; r < k; r++)
        if (!isnan(stat[r])) out->valid++, sum += stat[r];
    if (out->valid > 0) {
        double mean = sum / (double)out->valid;
        for (int64_t r = 0; r < k; r++)
            if (!isnan(stat[r])) sum2 += (stat[r] - mean) * (stat[r] - mean);
        out->se = out->valid > 1 ? sqrt(sum2 / (double)(out->valid - 1)) : NAN;
    }
    st = vt_bootstrap_percentile(stat, k, opts->level, &out->low, &out->high);
    if (!samples) free(stat);
    return st;
}
