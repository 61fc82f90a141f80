/* Correlations of RSM triangles. Every statistic is written once, over values with integer
 * weights (NULL = all 1): the point estimate uses weight 1, a bootstrap resample weights the
 * pair (i, j) by counts[i]·counts[j]. A weighted statistic equals the plain one computed on the
 * data with each value repeated `weight` times, so resamples never materialise the resampled
 * matrices and Spearman/Kendall reuse one sort of the original triangles. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct prepared {
    vt_corr_method method;
    int64_t m;
    const double *a, *b;
    uint32_t *da, *db; /* spearman, kendall: dense ranks (0-based index of the distinct value) */
    double *ra, *rb;   /* spearman: average ranks, for the unweighted estimate */
    int64_t ga, gb;    /* the number of distinct values of a and b */
    uint32_t *order;   /* kendall: positions sorted by (da, db), ties by position */
} prepared;

static void prepared_free(prepared *p)
{
    free(p->da), free(p->db), free(p->ra), free(p->rb), free(p->order);
    memset(p, 0, sizeof *p);
}

/* Positions sorted by (da, db): a stable counting sort by da of the positions in db order. */
static vt_status kendall_order(prepared *p)
{
    int64_t m = p->m;
    uint32_t *byb = vt_malloc((size_t)m, sizeof *byb);
    uint32_t *start = vt_calloc((size_t)p->gb + (size_t)p->ga + 1, sizeof *start);
    p->order = vt_malloc((size_t)m, sizeof *p->order);
    if (!byb || !start || !p->order) {
        free(byb), free(start);
        return VT_ERR_NOMEM;
    }
    /* Counting sort by db gives the db order (stable), then by da. */
    for (int64_t t = 0; t < m; t++) start[p->db[t] + 1]++;
    for (int64_t g = 0; g < p->gb; g++) start[g + 1] += start[g];
    for (int64_t t = 0; t < m; t++) byb[start[p->db[t]]++] = (uint32_t)t;
    memset(start, 0, ((size_t)p->ga + 1) * sizeof *start);
    for (int64_t t = 0; t < m; t++) start[p->da[t] + 1]++;
    for (int64_t g = 0; g < p->ga; g++) start[g + 1] += start[g];
    for (int64_t s = 0; s < m; s++) {
        uint32_t t = byb[s];
        p->order[start[p->da[t]]++] = t;
    }
    free(byb), free(start);
    return VT_OK;
}

static vt_status prepare(const double *a, const double *b, int64_t m, vt_corr_method method, prepared *p)
{
    memset(p, 0, sizeof *p);
    p->method = method, p->m = m, p->a = a, p->b = b;
    if (method == VT_CORR_PEARSON) return VT_OK;
    p->da = vt_malloc((size_t)m, sizeof *p->da);
    p->db = vt_malloc((size_t)m, sizeof *p->db);
    if (method == VT_CORR_SPEARMAN) {
        p->ra = vt_malloc((size_t)m, sizeof *p->ra);
        p->rb = vt_malloc((size_t)m, sizeof *p->rb);
    }
    if (!p->da || !p->db || (method == VT_CORR_SPEARMAN && (!p->ra || !p->rb))) {
        prepared_free(p);
        return VT_ERR_NOMEM;
    }
    vt_status sa = VT_OK, sb = VT_OK;
    /* The two sorts are independent: one thread each. */
#pragma omp parallel sections if (m > 20000)
    {
#pragma omp section
        sa = vt_rank_both(a, m, p->ra, p->da, &p->ga);
#pragma omp section
        sb = vt_rank_both(b, m, p->rb, p->db, &p->gb);
    }
    vt_status st = sa != VT_OK ? sa : sb;
    if (st == VT_OK && method == VT_CORR_KENDALL) st = kendall_order(p);
    if (st != VT_OK) prepared_free(p);
    return st;
}

struct item {
    uint32_t r, w;
};

/* Scratch for one thread's statistics (sized for the prepared pair). */
typedef struct scratch {
    double *wa, *wb;                /* spearman: weight per distinct value, then its rank */
    uint64_t *gw;                   /* kendall: weight per distinct value of b */
    struct item *items, *items_tmp; /* kendall: (db, weight) sequence for the merge sort */
} scratch;

static void scratch_free(scratch *s)
{
    free(s->wa), free(s->wb), free(s->gw), free(s->items), free(s->items_tmp);
    memset(s, 0, sizeof *s);
}

static vt_status scratch_new(const prepared *p, scratch *s)
{
    memset(s, 0, sizeof *s);
    bool ok = true;
    if (p->method == VT_CORR_SPEARMAN) {
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

#define WEIGHT(w, t) ((w) ? (w)[t] : 1u)

/* Result codes of the statistics: the value, or which input is constant. */
enum { STAT_OK, STAT_CONST_A, STAT_CONST_B, STAT_EMPTY };

static int pearson_stat(const double *a, const double *b, const uint32_t *w, int64_t m, double *out)
{
    double sw = 0, sa = 0, sb = 0;
    int64_t first = -1;
    bool const_a = true, const_b = true;
    for (int64_t t = 0; t < m; t++) {
        double wt = WEIGHT(w, t);
        if (wt == 0) continue;
        if (first < 0) first = t;
        const_a = const_a && a[t] == a[first];
        const_b = const_b && b[t] == b[first];
        sw += wt, sa += wt * a[t], sb += wt * b[t];
    }
    if (first < 0 || sw < 2) return STAT_EMPTY;
    if (const_a) return STAT_CONST_A;
    if (const_b) return STAT_CONST_B;
    /* Two passes: sums of centred products, so large offsets do not cancel. */
    double ma = sa / sw, mb = sb / sw, saa = 0, sbb = 0, sab = 0;
    for (int64_t t = 0; t < m; t++) {
        double wt = WEIGHT(w, t);
        if (wt == 0) continue;
        double xa = a[t] - ma, xb = b[t] - mb;
        saa += wt * xa * xa, sbb += wt * xb * xb, sab += wt * xa * xb;
    }
    double r = sab / (sqrt(saa) * sqrt(sbb));
    *out = r > 1 ? 1 : r < -1 ? -1 : r;
    return STAT_OK;
}

/* Average ranks over the weighted data: a distinct value of total weight W preceded by
 * weight C holds ranks C+1 … C+W, whose mean is C + (W+1)/2. Returns the number of distinct
 * values present and sums Σ W·(rank − mean)² into *ss. */
static int64_t group_ranks(const uint32_t *dense, int64_t groups, const uint32_t *w, int64_t m, double *g, double mean,
                           double *ss)
{
    memset(g, 0, (size_t)groups * sizeof *g);
    for (int64_t t = 0; t < m; t++) g[dense[t]] += WEIGHT(w, t);
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

static int spearman_stat(const prepared *p, const uint32_t *w, scratch *s, double *out)
{
    int64_t m = p->m;
    /* Unweighted: Pearson of the average ranks, one sequential pass. */
    if (!w) return pearson_stat(p->ra, p->rb, NULL, m, out);
    double total = 0;
    for (int64_t t = 0; t < m; t++) total += WEIGHT(w, t);
    if (total < 2) return STAT_EMPTY;
    /* Weighted average ranks have mean (W+1)/2 by construction. */
    double mean = 0.5 * (total + 1), saa, sbb;
    if (group_ranks(p->da, p->ga, w, m, s->wa, mean, &saa) < 2) return STAT_CONST_A;
    if (group_ranks(p->db, p->gb, w, m, s->wb, mean, &sbb) < 2) return STAT_CONST_B;
    double sab = 0;
    for (int64_t t = 0; t < m; t++) {
        double wt = WEIGHT(w, t);
        if (wt != 0) sab += wt * (s->wa[p->da[t]] - mean) * (s->wb[p->db[t]] - mean);
    }
    double r = sab / (sqrt(saa) * sqrt(sbb));
    *out = r > 1 ? 1 : r < -1 ? -1 : r;
    return STAT_OK;
}

/* Weighted inversions of x[0, n) by r (pairs i < j with r_i > r_j, weighted w_i·w_j); sorts x
 * by r. Insertion sort on short runs, then bottom-up merges, the blocks of each pass in
 * parallel (outside an enclosing parallel region): the count is an integer sum, so it is the
 * same for any thread count. */
static uint64_t sort_count_inversions(struct item *x, struct item *tmp, int64_t n)
{
    enum { RUN = 16 };
    uint64_t inv = 0;
    int64_t runs = (n + RUN - 1) / RUN;
#pragma omp parallel for schedule(static) reduction(+ : inv) if (n > 65536)
    for (int64_t q = 0; q < runs; q++) {
        int64_t lo = q * RUN, hi = lo + RUN < n ? lo + RUN : n;
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
        int64_t merges = (n + 2 * width - 1) / (2 * width);
#pragma omp parallel for schedule(static) reduction(+ : inv) if (n > 65536 && merges > 1)
        for (int64_t q = 0; q < merges; q++) {
            int64_t lo = q * 2 * width;
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint64_t left_w = 0;
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
        }
        struct item *t = src;
        src = dst, dst = t;
    }
    if (src != x) memcpy(x, src, (size_t)n * sizeof *x);
    return inv;
}

/* w(w−1)/2 without overflowing the intermediate product for w up to 2^32. */
static inline uint64_t pairs_of(uint64_t w)
{
    return w % 2 ? w * ((w - 1) / 2) : (w / 2) * (w - 1);
}

/* Kendall tau-b by Knight's algorithm, as scipy.stats.kendalltau computes it:
 * tau = (P − Q) / √((n0 − n1)(n0 − n2)), P − Q = n0 − n1 − n2 + n3 − 2·discordant. */
static int kendall_stat(const prepared *p, const uint32_t *w, scratch *s, double *out)
{
    int64_t m = p->m, len = 0;
    uint64_t total = 0, n1 = 0, n3 = 0, n2 = 0;
    uint64_t wa = 0, wab = 0; /* weight of the current run of equal da, and of equal (da, db) */
    int64_t prev = -1;
    for (int64_t s_ = 0; s_ < m; s_++) {
        uint32_t t = p->order[s_], wt = WEIGHT(w, t);
        if (wt == 0) continue;
        if (prev >= 0 && p->da[t] != p->da[prev]) n1 += pairs_of(wa), wa = 0;
        if (prev >= 0 && (p->da[t] != p->da[prev] || p->db[t] != p->db[prev])) n3 += pairs_of(wab), wab = 0;
        wa += wt, wab += wt, total += wt;
        s->items[len].r = p->db[t], s->items[len].w = wt;
        len++;
        prev = t;
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

static int statistic(const prepared *p, const uint32_t *w, scratch *s, double *out)
{
    switch (p->method) {
    case VT_CORR_PEARSON: return pearson_stat(p->a, p->b, w, p->m, out);
    case VT_CORR_SPEARMAN: return spearman_stat(p, w, s, out);
    case VT_CORR_KENDALL: return kendall_stat(p, w, s, out);
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
    vt_status st = prepare(a, b, m, method, &p);
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
    if (st == VT_OK) st = prepare(pair->a, pair->b, m, method, &pair->p);
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

static vt_status check_resamplable(const vt_compare_pair *pair)
{
    if (pair->n == 0) return vt_fail(VT_ERR_ARG, "compare: resampling stimuli needs square matrices, not 1-d vectors");
    if (pair->n > 65535)
        return vt_fail(VT_ERR_ARG, "compare: resampling supports at most 65535 stimuli, got %lld", (long long)pair->n);
    return VT_OK;
}

static double resampled(const vt_compare_pair *pair, const uint32_t *counts, uint32_t *w, scratch *s)
{
    double r = NAN;
    pair_weights(counts, pair->n, w);
    return statistic(&pair->p, w, s, &r) == STAT_OK ? r : NAN;
}

vt_status vt_compare_pair_resampled(const vt_compare_pair *pair, const uint32_t *counts, double *out)
{
    *out = NAN;
    vt_status st = check_resamplable(pair);
    if (st != VT_OK) return st;
    uint32_t *w = vt_malloc((size_t)pair->p.m, sizeof *w);
    scratch s;
    if (!w) return VT_ERR_NOMEM;
    if ((st = scratch_new(&pair->p, &s)) == VT_OK) {
        *out = resampled(pair, counts, w, &s);
        scratch_free(&s);
    }
    free(w);
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
        uint32_t *w = vt_malloc((size_t)pair->p.m, sizeof *w);
        scratch s;
        vt_status mine = idx && counts && w ? scratch_new(&pair->p, &s) : VT_ERR_NOMEM;
        if (mine != VT_OK) {
#pragma omp critical(vt_compare_bootstrap)
            failed = mine;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t r = 0; r < k; r++) {
            if (mine != VT_OK) continue;
            vt_bootstrap_draw(opts->seed, r, n, idx);
            vt_bootstrap_counts(idx, n, counts);
            stat[r] = resampled(pair, counts, w, &s);
        }
        if (mine == VT_OK) scratch_free(&s);
        free(idx), free(counts), free(w);
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
