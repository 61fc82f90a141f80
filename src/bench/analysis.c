/* Analyses over score tables: layer selection on the train split, subject means with bootstrap
 * CIs, Spearman correlations, grouped comparisons, layer profiles, model-to-model RSA. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/results_internal.h"
#include "ventral/analysis.h"
#include "ventral/bootstrap.h"
#include "ventral/compare.h"
#include "ventral/rank.h"
#include "ventral/rng.h"

const char *const vt_analysis_corr_names[VT_ANALYSIS_CORR_COUNT] = {"imagenet_top1", "ed", "n_params"};

vt_analysis_opts vt_analysis_opts_default(void)
{
    vt_analysis_opts o = {.n_boot = 1000, .seed = 0, .level = 0.95};
    return o;
}

double vt_analysis_normalised(const vt_results_row *row)
{
    if (isfinite(row->normalised)) return row->normalised;
    if (isfinite(row->noise_ceiling) && row->noise_ceiling > 0) return row->value / row->noise_ceiling;
    return NAN;
}

static int strcmp_null(const char *a, const char *b)
{
    if (!a || !b) return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* Rows of one cell ordered by model, subject, layer index, split (train before test). */
static int cmp_cell_rows(const void *pa, const void *pb)
{
    const vt_results_row *a = *(const vt_results_row *const *)pa, *b = *(const vt_results_row *const *)pb;
    int c = strcmp_null(a->model, b->model);
    if (c) return c;
    if (a->model_id != b->model_id) return a->model_id < b->model_id ? -1 : 1;
    if ((c = strcmp(a->subject, b->subject))) return c;
    if (a->layer_index != b->layer_index) return a->layer_index < b->layer_index ? -1 : 1;
    return (int)a->split - (int)b->split;
}

static double mean_of(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return n ? s / (double)n : NAN;
}

static bool all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return n > 0;
}

/* Bootstrap CI over subjects of the mean of x[0..n). */
static vt_status subject_ci(const double *x, size_t n, const vt_analysis_opts *o, double *lo, double *hi)
{
    *lo = *hi = NAN;
    if (o->n_boot <= 0 || n == 0 || !all_finite(x, n)) return VT_OK;
    double *stat = vt_malloc((size_t)o->n_boot, sizeof *stat);
    int64_t *idx = vt_malloc(n, sizeof *idx);
    vt_status s = (stat && idx) ? VT_OK : VT_ERR_NOMEM;
    for (int b = 0; s == VT_OK && b < o->n_boot; b++) {
        vt_bootstrap_draw(o->seed, b, (int64_t)n, idx);
        double sum = 0;
        for (size_t j = 0; j < n; j++) sum += x[idx[j]];
        stat[b] = sum / (double)n;
    }
    if (s == VT_OK) s = vt_bootstrap_percentile(stat, o->n_boot, o->level, lo, hi);
    free(stat);
    free(idx);
    return s;
}

static void free_model(vt_model_score *m)
{
    free(m->subject);
    free(m->layer_index);
    free(m->train);
    free(m->test);
    free(m->ceiling);
    free(m->normalised);
}

void vt_ranking_free(vt_ranking *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) free_model(&r->models[i]);
    free(r->models);
    free(r);
}

static int cmp_rank(const void *pa, const void *pb)
{
    const vt_model_score *a = pa, *b = pb;
    if (a->mean != b->mean) return a->mean > b->mean ? -1 : 1;
    int c = strcmp_null(a->model, b->model);
    if (c) return c;
    return a->model_id < b->model_id ? -1 : a->model_id > b->model_id;
}

/* Fills one model's per-subject selection from its rows rows[0..n) (sorted by cmp_cell_rows). */
static vt_status select_model(const vt_results_row *const *rows, size_t n, const vt_analysis_opts *o, vt_model_score *m)
{
    const vt_results_row *r0 = rows[0];
    m->model_id = r0->model_id;
    m->model = r0->model;
    m->family = r0->family;
    m->task = r0->task;
    m->training_data = r0->training_data;
    m->trained = r0->trained;
    m->top1 = r0->top1;
    m->n_params = r0->n_params;
    m->n_layers = r0->n_layers;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) cap += i == 0 || strcmp(rows[i]->subject, rows[i - 1]->subject) != 0;
    m->subject = vt_malloc(cap, sizeof *m->subject);
    m->layer_index = vt_malloc(cap, sizeof *m->layer_index);
    m->train = vt_malloc(cap, sizeof(double));
    m->test = vt_malloc(cap, sizeof(double));
    m->ceiling = vt_malloc(cap, sizeof(double));
    m->normalised = vt_malloc(cap, sizeof(double));
    if (!m->subject || !m->layer_index || !m->train || !m->test || !m->ceiling || !m->normalised) return VT_ERR_NOMEM;
    double ed_sum = 0, depth_sum = 0;
    bool ed_known = true;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(rows[j]->subject, rows[i]->subject) == 0) j++;
        /* Layers ascend, so strictly-greater keeps the lowest index among ties. */
        const vt_results_row *best = NULL;
        for (size_t k = i; k < j; k++)
            if (rows[k]->split == VT_SPLIT_TRAIN && (!best || rows[k]->value > best->value)) best = rows[k];
        const vt_results_row *test = NULL;
        for (size_t k = i; best && k < j; k++)
            if (rows[k]->split == VT_SPLIT_TEST && rows[k]->layer_id == best->layer_id) test = rows[k];
        if (test) {
            size_t s = m->n_subjects++;
            m->subject[s] = test->subject;
            m->layer_index[s] = test->layer_index;
            m->train[s] = best->value;
            m->test[s] = test->value;
            m->ceiling[s] = test->noise_ceiling;
            m->normalised[s] = vt_analysis_normalised(test);
            ed_known = ed_known && isfinite(test->layer_ed);
            ed_sum += test->layer_ed;
            depth_sum += m->n_layers > 1 ? (double)test->layer_index / (double)(m->n_layers - 1) : 0.0;
        }
        i = j;
    }
    size_t S = m->n_subjects;
    m->mean = mean_of(m->test, S);
    m->norm_mean = all_finite(m->normalised, S) ? mean_of(m->normalised, S) : NAN;
    m->ceiling_mean = all_finite(m->ceiling, S) ? mean_of(m->ceiling, S) : NAN;
    m->ed = ed_known && S ? ed_sum / (double)S : NAN;
    m->depth = S ? depth_sum / (double)S : NAN;
    vt_status s = subject_ci(m->test, S, o, &m->ci_low, &m->ci_high);
    if (s == VT_OK) s = subject_ci(m->normalised, S, o, &m->norm_ci_low, &m->norm_ci_high);
    return s;
}

vt_status vt_analysis_ranking(const vt_results_table *t, const char *metric, const char *roi, const vt_analysis_opts *o,
                              vt_ranking **out)
{
    *out = NULL;
    vt_analysis_opts def = vt_analysis_opts_default();
    if (!o) o = &def;
    if (o->n_boot > 0 && !(o->level > 0 && o->level < 1))
        return vt_fail(VT_ERR_ARG, "confidence level must lie in (0, 1), got %g", o->level);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) n += strcmp(t->rows[i].metric, metric) == 0 && strcmp(t->rows[i].roi, roi) == 0;
    if (n == 0) return vt_fail(VT_ERR_ARG, "no scores for metric '%s' in ROI '%s'", metric, roi);
    const vt_results_row **rows = vt_malloc(n, sizeof *rows);
    vt_ranking *r = vt_calloc(1, sizeof *r);
    if (!rows || !r) {
        free(rows);
        free(r);
        return VT_ERR_NOMEM;
    }
    n = 0;
    int64_t run = -1;
    vt_status s = VT_OK;
    for (size_t i = 0; i < t->n; i++) {
        const vt_results_row *row = &t->rows[i];
        if (strcmp(row->metric, metric) != 0 || strcmp(row->roi, roi) != 0) continue;
        if (run >= 0 && row->run_id != run)
            s = vt_fail(VT_ERR_ARG, "scores of metric '%s' in ROI '%s' come from several runs (%lld, %lld); pick one",
                        metric, roi, (long long)run, (long long)row->run_id);
        run = row->run_id;
        rows[n++] = row;
    }
    r->metric = rows[0]->metric;
    r->roi = rows[0]->roi;
    qsort(rows, n, sizeof *rows, cmp_cell_rows);
    size_t n_models = 0;
    for (size_t i = 0; i < n; i++) n_models += i == 0 || rows[i]->model_id != rows[i - 1]->model_id;
    r->models = s == VT_OK ? vt_calloc(n_models, sizeof *r->models) : NULL;
    if (s == VT_OK && !r->models) s = VT_ERR_NOMEM;
    for (size_t i = 0; s == VT_OK && i < n;) {
        size_t j = i;
        while (j < n && rows[j]->model_id == rows[i]->model_id) j++;
        vt_model_score *m = &r->models[r->n++];
        s = select_model(rows + i, j - i, o, m);
        if (s == VT_OK && m->n_subjects == 0) { /* no subject had a test score for its best layer */
            free_model(m);
            memset(m, 0, sizeof *m);
            r->n--;
        }
        i = j;
    }
    free(rows);
    if (s == VT_OK && r->n == 0)
        s = vt_fail(VT_ERR_ARG, "no model has a test score for its selected layer (metric '%s', ROI '%s')", metric,
                    roi);
    if (s != VT_OK) {
        vt_ranking_free(r);
        return s;
    }
    qsort(r->models, r->n, sizeof *r->models, cmp_rank);
    for (size_t i = 0; i < r->n; i++) r->models[i].rank = (int)i + 1;
    *out = r;
    return VT_OK;
}

static int cmp_cell(const void *pa, const void *pb)
{
    const vt_analysis_cell *a = pa, *b = pb;
    int c = strcmp(a->metric, b->metric);
    return c ? c : strcmp(a->roi, b->roi);
}

vt_status vt_analysis_cells(const vt_results_table *t, vt_analysis_cell **cells, size_t *n)
{
    *cells = NULL;
    *n = 0;
    vt_analysis_cell *c = vt_malloc(t->n ? t->n : 1, sizeof *c);
    if (!c) return VT_ERR_NOMEM;
    for (size_t i = 0; i < t->n; i++) c[i] = (vt_analysis_cell){t->rows[i].metric, t->rows[i].roi};
    qsort(c, t->n, sizeof *c, cmp_cell);
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (k == 0 || cmp_cell(&c[k - 1], &c[i]) != 0) c[k++] = c[i];
    *cells = c;
    *n = k;
    return VT_OK;
}

/* ---- Spearman ---- */

/* Continued fraction of the regularised incomplete beta function (modified Lentz). */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-16) break;
    }
    return h;
}

/* I_x(a, b), the regularised incomplete beta function. */
static double betainc(double a, double b, double x)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2)) return exp(lbt) * betacf(a, b, x) / a;
    return 1 - exp(lbt) * betacf(b, a, 1 - x) / b;
}

vt_correlation vt_analysis_spearman(const double *x, const double *y, size_t n)
{
    vt_correlation c = {0, NAN, NAN};
    double *buf = vt_malloc(n ? 4 * n : 1, sizeof *buf);
    if (!buf) return c;
    double *xs = buf, *ys = buf + n, *rx = buf + 2 * n, *ry = buf + 3 * n;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i])) xs[m] = x[i], ys[m] = y[i], m++;
    c.n = m;
    if (m >= 3 && vt_rank_average(xs, (int64_t)m, rx) == VT_OK && vt_rank_average(ys, (int64_t)m, ry) == VT_OK) {
        double mx = mean_of(rx, m), my = mean_of(ry, m), sxy = 0, sxx = 0, syy = 0;
        for (size_t i = 0; i < m; i++) {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        if (sxx > 0 && syy > 0) {
            c.rho = sxy / sqrt(sxx * syy);
            if (c.rho > 1) c.rho = 1;
            if (c.rho < -1) c.rho = -1;
            double df = (double)m - 2;
            double den = (1 - c.rho) * (1 + c.rho);
            /* two-sided p = I_{df/(df+t²)}(df/2, 1/2), t = rho √(df / (1 − rho²)) */
            c.p = den <= 0 ? 0.0 : betainc(df / 2, 0.5, df / (df + c.rho * c.rho * df / den));
        }
    }
    free(buf);
    return c;
}

void vt_analysis_correlations(const vt_ranking *r, vt_correlation out[VT_ANALYSIS_CORR_COUNT])
{
    double *buf = vt_malloc(r->n ? 4 * r->n : 1, sizeof *buf);
    if (!buf) {
        for (int k = 0; k < VT_ANALYSIS_CORR_COUNT; k++) out[k] = (vt_correlation){0, NAN, NAN};
        return;
    }
    double *score = buf, *top1 = buf + r->n, *ed = buf + 2 * r->n, *params = buf + 3 * r->n;
    for (size_t i = 0; i < r->n; i++) {
        const vt_model_score *m = &r->models[i];
        score[i] = m->mean;
        top1[i] = m->top1;
        ed[i] = m->ed;
        params[i] = m->n_params >= 0 ? (double)m->n_params : NAN;
    }
    out[VT_ANALYSIS_TOP1] = vt_analysis_spearman(top1, score, r->n);
    out[VT_ANALYSIS_ED] = vt_analysis_spearman(ed, score, r->n);
    out[VT_ANALYSIS_PARAMS] = vt_analysis_spearman(params, score, r->n);
    free(buf);
}

/* ---- grouped comparisons ---- */

static const char *attribute_of(const vt_model_score *m, const char *attribute)
{
    if (strcmp(attribute, "family") == 0) return m->family;
    if (strcmp(attribute, "task") == 0) return m->task;
    if (strcmp(attribute, "training_data") == 0) return m->training_data;
    return m->trained == 1 ? "trained" : m->trained == 0 ? "random" : NULL;
}

static int cmp_str(const void *pa, const void *pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

void vt_group_comparison_free(vt_group_comparison *g)
{
    if (!g) return;
    free(g->groups);
    free(g);
}

vt_status vt_analysis_groups(const vt_ranking *r, const char *attribute, const vt_analysis_opts *o,
                             vt_group_comparison **out)
{
    *out = NULL;
    vt_analysis_opts def = vt_analysis_opts_default();
    if (!o) o = &def;
    if (strcmp(attribute, "family") != 0 && strcmp(attribute, "task") != 0 && strcmp(attribute, "training_data") != 0 &&
        strcmp(attribute, "trained") != 0)
        return vt_fail(VT_ERR_ARG, "unknown grouping attribute '%s' (family, task, training_data, trained)", attribute);
    size_t M = r->n, n_sub = 0;
    for (size_t i = 0; i < M; i++) n_sub += r->models[i].n_subjects;
    /* Scratch: values, subject names, models sorted by group, per-model subject values. */
    const char **values = vt_malloc(M ? M : 1, sizeof *values);
    const char **subjects = vt_malloc(n_sub ? n_sub : 1, sizeof *subjects);
    size_t *order = vt_malloc(M ? M : 1, sizeof *order);
    vt_group_comparison *g = vt_calloc(1, sizeof *g);
    vt_status s = (values && subjects && order && g) ? VT_OK : VT_ERR_NOMEM;
    double *val = NULL, *stat = NULL, *diff = NULL;
    int64_t *sidx = NULL;
    size_t nv = 0, S = 0, n_in = 0;
    if (s == VT_OK) {
        g->attribute = attribute;
        g->diff = g->diff_ci_low = g->diff_ci_high = NAN;
        for (size_t i = 0; i < M; i++) {
            const char *v = attribute_of(&r->models[i], attribute);
            if (!v) continue;
            values[nv++] = v;
            for (size_t k = 0; k < r->models[i].n_subjects; k++) subjects[S++] = r->models[i].subject[k];
        }
        qsort(values, nv, sizeof *values, cmp_str);
        size_t k = 0;
        for (size_t i = 0; i < nv; i++)
            if (k == 0 || strcmp(values[k - 1], values[i]) != 0) values[k++] = values[i];
        nv = k;
        qsort(subjects, S, sizeof *subjects, cmp_str);
        k = 0;
        for (size_t i = 0; i < S; i++)
            if (k == 0 || strcmp(subjects[k - 1], subjects[i]) != 0) subjects[k++] = subjects[i];
        S = k;
        g->groups = vt_calloc(nv ? nv : 1, sizeof *g->groups);
        if (!g->groups) s = VT_ERR_NOMEM;
    }
    /* order: the models of group 0 in ranking order, then group 1, ... */
    for (size_t v = 0; s == VT_OK && v < nv; v++) {
        vt_group *gr = &g->groups[v];
        gr->value = values[v];
        double sum = 0;
        for (size_t i = 0; i < M; i++) {
            const char *a = attribute_of(&r->models[i], attribute);
            if (!a || strcmp(a, values[v]) != 0) continue;
            order[n_in++] = i;
            gr->n_models++;
            sum += r->models[i].mean;
        }
        gr->mean = sum / (double)gr->n_models;
        gr->ci_low = gr->ci_high = NAN;
    }
    g->n_groups = nv;
    if (s == VT_OK && nv == 2) g->diff = g->groups[0].mean - g->groups[1].mean;
    if (s == VT_OK && o->n_boot > 0 && nv > 0) {
        /* val[i * S + j]: test score of the i-th grouped model for subject j (NaN if absent). */
        val = vt_malloc(n_in * (S ? S : 1), sizeof *val);
        stat = vt_malloc((size_t)o->n_boot * nv, sizeof *stat);
        diff = vt_malloc((size_t)o->n_boot, sizeof *diff);
        sidx = vt_malloc(S ? S : 1, sizeof *sidx);
        if (!val || !stat || !diff || !sidx) s = VT_ERR_NOMEM;
        for (size_t i = 0; s == VT_OK && i < n_in; i++) {
            const vt_model_score *m = &r->models[order[i]];
            for (size_t j = 0; j < S; j++) {
                val[i * S + j] = NAN;
                for (size_t k = 0; k < m->n_subjects; k++)
                    if (strcmp(m->subject[k], subjects[j]) == 0) val[i * S + j] = m->test[k];
            }
        }
        for (int b = 0; s == VT_OK && b < o->n_boot; b++) {
            vt_rng rng = vt_rng_make(o->seed, ((uint64_t)1 << 32) + (uint64_t)b);
            for (size_t j = 0; j < S; j++) sidx[j] = (int64_t)vt_rng_below(&rng, S);
            size_t first = 0;
            for (size_t v = 0; v < nv; v++) {
                size_t ng = g->groups[v].n_models;
                double gsum = 0;
                for (size_t k = 0; k < ng; k++) {
                    size_t i = first + vt_rng_below(&rng, ng);
                    double msum = 0;
                    size_t mc = 0;
                    for (size_t j = 0; j < S; j++) {
                        double x = val[i * S + (size_t)sidx[j]];
                        if (isfinite(x)) msum += x, mc++;
                    }
                    /* A model scored on none of the drawn subjects counts with its own mean. */
                    gsum += mc ? msum / (double)mc : r->models[order[i]].mean;
                }
                stat[(size_t)b * nv + v] = gsum / (double)ng;
                first += ng;
            }
            if (nv == 2) diff[b] = stat[(size_t)b * nv] - stat[(size_t)b * nv + 1];
        }
        double *col = diff; /* reused below only after diff's interval is taken */
        if (s == VT_OK && nv == 2)
            s = vt_bootstrap_percentile(diff, o->n_boot, o->level, &g->diff_ci_low, &g->diff_ci_high);
        for (size_t v = 0; s == VT_OK && v < nv; v++) {
            for (int b = 0; b < o->n_boot; b++) col[b] = stat[(size_t)b * nv + v];
            s = vt_bootstrap_percentile(col, o->n_boot, o->level, &g->groups[v].ci_low, &g->groups[v].ci_high);
        }
    }
    free(values);
    free(subjects);
    free(order);
    free(val);
    free(stat);
    free(diff);
    free(sidx);
    if (s != VT_OK) {
        vt_group_comparison_free(g);
        return s;
    }
    *out = g;
    return VT_OK;
}

/* ---- layer profiles ---- */

void vt_layer_profiles_free(vt_layer_profile *p, size_t count)
{
    if (!p) return;
    for (size_t i = 0; i < count; i++) {
        free(p[i].layer_index);
        free(p[i].depth);
        free(p[i].train);
        free(p[i].test);
    }
    free(p);
}

/* Rows of one cell ordered by model, layer index, split. */
static int cmp_profile_rows(const void *pa, const void *pb)
{
    const vt_results_row *a = *(const vt_results_row *const *)pa, *b = *(const vt_results_row *const *)pb;
    int c = strcmp_null(a->model, b->model);
    if (c) return c;
    if (a->model_id != b->model_id) return a->model_id < b->model_id ? -1 : 1;
    if (a->layer_index != b->layer_index) return a->layer_index < b->layer_index ? -1 : 1;
    return (int)a->split - (int)b->split;
}

vt_status vt_analysis_profiles(const vt_results_table *t, const char *metric, const char *roi, vt_layer_profile **out,
                               size_t *count)
{
    *out = NULL;
    *count = 0;
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) n += strcmp(t->rows[i].metric, metric) == 0 && strcmp(t->rows[i].roi, roi) == 0;
    if (n == 0) return vt_fail(VT_ERR_ARG, "no scores for metric '%s' in ROI '%s'", metric, roi);
    const vt_results_row **rows = vt_malloc(n, sizeof *rows);
    if (!rows) return VT_ERR_NOMEM;
    n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->rows[i].metric, metric) == 0 && strcmp(t->rows[i].roi, roi) == 0) rows[n++] = &t->rows[i];
    qsort(rows, n, sizeof *rows, cmp_profile_rows);
    size_t n_models = 0;
    for (size_t i = 0; i < n; i++) n_models += i == 0 || rows[i]->model_id != rows[i - 1]->model_id;
    vt_layer_profile *p = vt_calloc(n_models, sizeof *p);
    vt_status s = p ? VT_OK : VT_ERR_NOMEM;
    size_t np = 0;
    for (size_t i = 0; s == VT_OK && i < n;) {
        size_t j = i, nl = 0;
        while (j < n && rows[j]->model_id == rows[i]->model_id) {
            nl += j == i || rows[j]->layer_index != rows[j - 1]->layer_index;
            j++;
        }
        vt_layer_profile *pr = &p[np++];
        pr->model_id = rows[i]->model_id;
        pr->model = rows[i]->model;
        pr->layer_index = vt_malloc(nl, sizeof *pr->layer_index);
        pr->depth = vt_malloc(nl, sizeof(double));
        pr->train = vt_malloc(nl, sizeof(double));
        pr->test = vt_malloc(nl, sizeof(double));
        if (!pr->layer_index || !pr->depth || !pr->train || !pr->test) {
            s = VT_ERR_NOMEM;
            break;
        }
        for (size_t k = i; k < j;) {
            size_t e = k;
            double sum[2] = {0, 0};
            int cnt[2] = {0, 0};
            while (e < j && rows[e]->layer_index == rows[k]->layer_index) {
                sum[rows[e]->split] += rows[e]->value;
                cnt[rows[e]->split]++;
                e++;
            }
            size_t L = pr->n++;
            int64_t total = rows[k]->n_layers;
            pr->layer_index[L] = rows[k]->layer_index;
            pr->depth[L] = total > 1 ? (double)rows[k]->layer_index / (double)(total - 1) : 0.0;
            pr->train[L] = cnt[0] ? sum[0] / cnt[0] : NAN;
            pr->test[L] = cnt[1] ? sum[1] / cnt[1] : NAN;
            k = e;
        }
        i = j;
    }
    free(rows);
    if (s != VT_OK) {
        vt_layer_profiles_free(p, np);
        return s;
    }
    *out = p;
    *count = np;
    return VT_OK;
}

/* ---- model-to-model RSA ---- */

void vt_analysis_names_free(char **names, size_t n)
{
    if (!names) return;
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

vt_status vt_analysis_model_rsm(vt_results *db, int64_t run_id, const char *kind, const char *subject, const char *roi,
                                const char *method, char ***names, vt_tensor **matrix)
{
    *names = NULL;
    *matrix = NULL;
    vt_corr_method cm = VT_CORR_PEARSON;
    vt_status s = method ? vt_corr_method_parse(method, &cm) : VT_OK;
    if (s != VT_OK) return s;
    vt_results_rsm *v = NULL;
    size_t M = 0;
    if ((s = vt_results_rsms(db, run_id, kind, subject, roi, &v, &M)) != VT_OK) return s;
    if (M < 2) {
        vt_results_rsms_free(v, M);
        return vt_fail(VT_ERR_ARG, "%s: model-to-model RSA needs RSMs of kind '%s' for at least 2 models, found %zu",
                       vt_results_path(db), kind, M);
    }
    for (size_t i = 1; i < M; i++)
        if (v[i].n != v[0].n) {
            s = vt_fail(VT_ERR_ARG, "%s: RSMs of '%s' (%lld stimuli) and '%s' (%lld) differ in size",
                        vt_results_path(db), v[0].model, (long long)v[0].n, v[i].model, (long long)v[i].n);
            vt_results_rsms_free(v, M);
            return s;
        }
    int64_t shape[2] = {(int64_t)M, (int64_t)M};
    vt_tensor *mat = vt_tensor_new(VT_F64, 2, shape);
    char **nm = vt_calloc(M, sizeof *nm);
    if (!mat || !nm) s = VT_ERR_NOMEM;
    double *d = mat ? vt_tensor_f64(mat) : NULL;
    int64_t len = v[0].n * (v[0].n - 1) / 2;
    for (size_t i = 0; s == VT_OK && i < M; i++) {
        d[i * M + i] = 1.0;
        nm[i] = strdup(v[i].model);
        if (!nm[i]) s = vt_fail(VT_ERR_NOMEM, "out of memory");
        for (size_t j = i + 1; s == VT_OK && j < M; j++) {
            s = vt_compare_vectors(v[i].upper, v[j].upper, len, cm, &d[i * M + j]);
            if (s != VT_OK) s = vt_fail_context(s, "RSMs of '%s' and '%s': ", v[i].model, v[j].model);
            d[j * M + i] = d[i * M + j];
        }
    }
    vt_results_rsms_free(v, M);
    if (s != VT_OK) {
        vt_tensor_free(mat);
        vt_analysis_names_free(nm, M);
        return s;
    }
    *names = nm;
    *matrix = mat;
    return VT_OK;
}

vt_status vt_analysis_model_rsm_mean(vt_results *db, int64_t run_id, const char *kind, const char *roi,
                                     const char *method, char ***names, vt_tensor **matrix, size_t *n_subjects)
{
    *names = NULL;
    *matrix = NULL;
    if (n_subjects) *n_subjects = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(vt_results_handle(db),
                                "SELECT DISTINCT s.name FROM rsms x LEFT JOIN subjects s ON s.id = x.subject_id "
                                "WHERE x.run_id = ?1 AND x.kind = ?2 AND x.roi_id = CASE WHEN ?3 IS NULL THEN 0 "
                                "ELSE (SELECT id FROM rois WHERE name = ?3) END ORDER BY 1",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = roi ? sqlite3_bind_text(st, 3, roi, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, 3);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return vt_results_fail_sqlite(db, rc, "cannot list RSM subjects");
    }
    char **first = NULL, **nm = NULL;
    vt_tensor *sum = NULL, *m = NULL;
    size_t count = 0, M = 0;
    vt_status s = VT_OK, last = VT_OK;
    char last_msg[1024] = "";
    while (s == VT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *subject = (const char *)sqlite3_column_text(st, 0);
        last = vt_analysis_model_rsm(db, run_id, kind, subject, roi, method, &nm, &m);
        if (last != VT_OK) {
            if (last == VT_ERR_NOMEM) s = last;
            snprintf(last_msg, sizeof last_msg, "%s", vt_last_error());
            continue;
        }
        size_t n = (size_t)m->shape[0];
        bool same = !first || n == M;
        for (size_t i = 0; same && first && i < n; i++) same = strcmp(first[i], nm[i]) == 0;
        if (!first) {
            first = nm, M = n, sum = m;
            nm = NULL, m = NULL;
            count = 1;
            continue;
        }
        if (same) {
            double *a = vt_tensor_f64(sum), *b = vt_tensor_f64(m);
            for (size_t i = 0; i < n * n; i++) a[i] += b[i];
            count++;
        }
        vt_analysis_names_free(nm, n);
        vt_tensor_free(m);
        nm = NULL, m = NULL;
    }
    if (s == VT_OK && rc != SQLITE_DONE) s = vt_results_fail_sqlite(db, rc, "cannot list RSM subjects");
    sqlite3_finalize(st);
    if (s == VT_OK && count == 0)
        s = last_msg[0] ? vt_fail(last != VT_OK ? last : VT_ERR_ARG, "%s", last_msg)
                        : vt_fail(VT_ERR_ARG, "%s: no RSMs of kind '%s'%s%s", vt_results_path(db), kind,
                                  roi ? " in ROI " : "", roi ? roi : "");
    if (s != VT_OK) {
        vt_analysis_names_free(first, M);
        vt_tensor_free(sum);
        return s;
    }
    double *a = vt_tensor_f64(sum);
    for (size_t i = 0; i < M * M; i++) a[i] /= (double)count;
    *names = first;
    *matrix = sum;
    if (n_subjects) *n_subjects = count;
    return VT_OK;
}

/* ---- text and JSON summaries ---- */

const char *const vt_analysis_attributes[4] = {"family", "task", "training_data", "trained"};

static void json_doubles(FILE *f, const double *x, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        vt_json_write_double(f, x[i]);
    }
    fputc(']', f);
}

static void json_key_double(FILE *f, const char *key, double v)
{
    fprintf(f, ", \"%s\": ", key);
    vt_json_write_double(f, v);
}

/* A JSON string unless an earlier one failed (*st: the first failure; the caller discards the file). */
static void json_str(FILE *f, const char *s, vt_status *st)
{
    if (*st == VT_OK) *st = vt_json_write_string(f, s);
}

static vt_status write_model_json(FILE *f, const vt_model_score *m)
{
    vt_status st = VT_OK;
    fprintf(f, "{\"rank\": %d, \"model\": ", m->rank);
    json_str(f, m->model, &st);
    fputs(", \"family\": ", f), json_str(f, m->family, &st);
    fputs(", \"task\": ", f), json_str(f, m->task, &st);
    fputs(", \"training_data\": ", f), json_str(f, m->training_data, &st);
    fprintf(f, ", \"trained\": %s", m->trained == 1 ? "true" : m->trained == 0 ? "false" : "null");
    json_key_double(f, "imagenet_top1", m->top1);
    if (m->n_params >= 0)
        fprintf(f, ", \"n_params\": %lld", (long long)m->n_params);
    else
        fputs(", \"n_params\": null", f);
    fprintf(f, ", \"n_layers\": %lld, \"n_subjects\": %zu, \"subjects\": [", (long long)m->n_layers, m->n_subjects);
    for (size_t i = 0; i < m->n_subjects; i++) {
        if (i) fputs(", ", f);
        json_str(f, m->subject[i], &st);
    }
    fputs("], \"layer_index\": [", f);
    for (size_t i = 0; i < m->n_subjects; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)m->layer_index[i]);
    fputs("], \"train\": ", f), json_doubles(f, m->train, m->n_subjects);
    fputs(", \"test\": ", f), json_doubles(f, m->test, m->n_subjects);
    fputs(", \"noise_ceiling\": ", f), json_doubles(f, m->ceiling, m->n_subjects);
    fputs(", \"normalised\": ", f), json_doubles(f, m->normalised, m->n_subjects);
    json_key_double(f, "mean", m->mean);
    json_key_double(f, "ci_low", m->ci_low);
    json_key_double(f, "ci_high", m->ci_high);
    json_key_double(f, "norm_mean", m->norm_mean);
    json_key_double(f, "norm_ci_low", m->norm_ci_low);
    json_key_double(f, "norm_ci_high", m->norm_ci_high);
    json_key_double(f, "ceiling_mean", m->ceiling_mean);
    json_key_double(f, "ed", m->ed);
    json_key_double(f, "depth", m->depth);
    fputc('}', f);
    return st;
}

static vt_status write_groups_json(FILE *f, const vt_group_comparison *g)
{
    vt_status st = VT_OK;
    fputs("{\"attribute\": ", f);
    json_str(f, g->attribute, &st);
    fputs(", \"groups\": [", f);
    for (size_t i = 0; i < g->n_groups; i++) {
        const vt_group *gr = &g->groups[i];
        fputs(i ? ", {\"value\": " : "{\"value\": ", f);
        json_str(f, gr->value, &st);
        fprintf(f, ", \"n_models\": %zu", gr->n_models);
        json_key_double(f, "mean", gr->mean);
        json_key_double(f, "ci_low", gr->ci_low);
        json_key_double(f, "ci_high", gr->ci_high);
        fputc('}', f);
    }
    fputc(']', f);
    json_key_double(f, "diff", g->diff);
    json_key_double(f, "diff_ci_low", g->diff_ci_low);
    json_key_double(f, "diff_ci_high", g->diff_ci_high);
    fputc('}', f);
    return st;
}

static void text_interval(char *buf, size_t len, double mean, double lo, double hi)
{
    if (!isfinite(mean))
        snprintf(buf, len, "%s", "-");
    else if (isfinite(lo))
        snprintf(buf, len, "%.4f [%.4f, %.4f]", mean, lo, hi);
    else
        snprintf(buf, len, "%.4f", mean);
}

static void write_cell_text(FILE *f, const vt_ranking *r, const vt_correlation *corr,
                            vt_group_comparison *const *groups, const vt_analysis_opts *o)
{
    fprintf(f, "metric %s, ROI %s: %zu models (test score of the best train layer, mean over subjects", r->metric,
            r->roi, r->n);
    if (o->n_boot > 0) fprintf(f, ", %g%% CI over subjects", 100 * o->level);
    fputs(")\n", f);
    fprintf(f, "%4s  %-28s %-12s %5s %6s  %-30s %-30s %7s\n", "rank", "model", "family", "subj", "depth", "score",
            "normalised", "ceiling");
    for (size_t i = 0; i < r->n; i++) {
        const vt_model_score *m = &r->models[i];
        char sc[64], nm[64], ce[16];
        text_interval(sc, sizeof sc, m->mean, m->ci_low, m->ci_high);
        text_interval(nm, sizeof nm, m->norm_mean, m->norm_ci_low, m->norm_ci_high);
        if (isfinite(m->ceiling_mean))
            snprintf(ce, sizeof ce, "%.4f", m->ceiling_mean);
        else
            snprintf(ce, sizeof ce, "-");
        fprintf(f, "%4d  %-28.28s %-12.12s %5zu %6.2f  %-30s %-30s %7s\n", m->rank, m->model,
                m->family ? m->family : "-", m->n_subjects, m->depth, sc, nm, ce);
    }
    for (int k = 0; k < VT_ANALYSIS_CORR_COUNT; k++) {
        if (corr[k].n < 3) continue;
        fprintf(f, "  Spearman(score, %s) = %.4f (p = %.3g, n = %zu)\n", vt_analysis_corr_names[k], corr[k].rho,
                corr[k].p, corr[k].n);
    }
    for (int a = 0; a < 4; a++) {
        const vt_group_comparison *g = groups[a];
        if (!g || g->n_groups < 2) continue;
        fprintf(f, "  by %s:", g->attribute);
        for (size_t i = 0; i < g->n_groups; i++) {
            char iv[64];
            text_interval(iv, sizeof iv, g->groups[i].mean, g->groups[i].ci_low, g->groups[i].ci_high);
            fprintf(f, "%s %s (%zu) %s", i ? ";" : "", g->groups[i].value, g->groups[i].n_models, iv);
        }
        if (g->n_groups == 2) {
            char iv[64];
            text_interval(iv, sizeof iv, g->diff, g->diff_ci_low, g->diff_ci_high);
            fprintf(f, "; difference %s - %s %s", g->groups[0].value, g->groups[1].value, iv);
        }
        fputc('\n', f);
    }
}

/* One cell's analyses, as text or as one JSON object (preceded by a comma unless first). */
static vt_status write_cell(const vt_results_table *t, const vt_analysis_cell *cell, const vt_analysis_opts *o,
                            bool json, bool first, FILE *f)
{
    vt_ranking *r = NULL;
    vt_group_comparison *groups[4] = {NULL};
    vt_correlation corr[VT_ANALYSIS_CORR_COUNT];
    vt_status s = vt_analysis_ranking(t, cell->metric, cell->roi, o, &r);
    if (s == VT_OK) vt_analysis_correlations(r, corr);
    for (int a = 0; s == VT_OK && a < 4; a++) s = vt_analysis_groups(r, vt_analysis_attributes[a], o, &groups[a]);
    if (s == VT_OK && json) {
        fputs(first ? "\n {\"metric\": " : ",\n {\"metric\": ", f);
        json_str(f, r->metric, &s);
        fputs(", \"roi\": ", f);
        json_str(f, r->roi, &s);
        fputs(", \"models\": [", f);
        for (size_t i = 0; i < r->n; i++) {
            fputs(i ? ",\n   " : "\n   ", f);
            if (s == VT_OK) s = write_model_json(f, &r->models[i]);
        }
        fputs("],\n  \"correlations\": {", f);
        for (int k = 0; k < VT_ANALYSIS_CORR_COUNT; k++) {
            fprintf(f, "%s\"%s\": {\"n\": %zu", k ? ", " : "", vt_analysis_corr_names[k], corr[k].n);
            json_key_double(f, "rho", corr[k].rho);
            json_key_double(f, "p", corr[k].p);
            fputc('}', f);
        }
        fputs("},\n  \"groups\": [", f);
        for (int a = 0; a < 4; a++) {
            if (a) fputs(", ", f);
            if (s == VT_OK) s = write_groups_json(f, groups[a]);
        }
        fputs("]}", f);
    } else if (s == VT_OK) {
        if (!first) fputc('\n', f);
        write_cell_text(f, r, corr, groups, o);
    }
    for (int a = 0; a < 4; a++) vt_group_comparison_free(groups[a]);
    vt_ranking_free(r);
    return s;
}

static void write_open(const vt_analysis_opts *o, bool json, FILE *f)
{
    if (!json) return;
    fprintf(f, "{\"n_boot\": %d, \"seed\": %llu", o->n_boot, (unsigned long long)o->seed);
    json_key_double(f, "level", o->level);
    fputs(", \"cells\": [", f);
}

static vt_status write_close(vt_status s, size_t written, const char *metric, const char *roi, bool json, FILE *f)
{
    if (s == VT_OK && written == 0)
        s = vt_fail(VT_ERR_ARG, "no scores%s%s%s%s", metric ? " for metric " : "", metric ? metric : "",
                    roi ? " in ROI " : "", roi ? roi : "");
    if (s == VT_OK && json) fputs("\n]}\n", f);
    return s;
}

static bool cell_wanted(const vt_analysis_cell *c, const char *metric, const char *roi)
{
    return (!metric || strcmp(metric, c->metric) == 0) && (!roi || strcmp(roi, c->roi) == 0);
}

vt_status vt_analysis_write(const vt_results_table *t, const char *metric, const char *roi, const vt_analysis_opts *o,
                            bool json, FILE *f)
{
    vt_analysis_opts def = vt_analysis_opts_default();
    if (!o) o = &def;
    vt_analysis_cell *cells = NULL;
    size_t nc = 0, written = 0;
    vt_status s = vt_analysis_cells(t, &cells, &nc);
    if (s != VT_OK) return s;
    write_open(o, json, f);
    for (size_t c = 0; s == VT_OK && c < nc; c++)
        if (cell_wanted(&cells[c], metric, roi)) s = write_cell(t, &cells[c], o, json, written++ == 0, f);
    free(cells);
    return write_close(s, written, metric, roi, json, f);
}

void vt_analysis_db_cells_free(vt_analysis_cell *cells, size_t n)
{
    if (!cells) return;
    for (size_t i = 0; i < n; i++) {
        free((char *)cells[i].metric);
        free((char *)cells[i].roi);
    }
    free(cells);
}

vt_status vt_analysis_db_cells(vt_results *db, int64_t run_id, vt_analysis_cell **cells, size_t *n)
{
    *cells = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(vt_results_handle(db),
                                "SELECT me.name, r.name FROM (SELECT DISTINCT metric_id, roi_id FROM scores "
                                "WHERE ?1 = 0 OR run_id = ?1) c JOIN metrics me ON me.id = c.metric_id "
                                "JOIN rois r ON r.id = c.roi_id ORDER BY me.name, r.name",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return vt_results_fail_sqlite(db, rc, "cannot list metrics and ROIs");
    }
    vt_analysis_cell *c = NULL;
    size_t k = 0, cap = 0;
    vt_status s = VT_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? 2 * cap : 16;
            vt_analysis_cell *g = realloc(c, cap * sizeof *g);
            if (!g) {
                s = vt_fail(VT_ERR_NOMEM, "out of memory");
                break;
            }
            c = g;
        }
        c[k].metric = strdup((const char *)sqlite3_column_text(st, 0));
        c[k].roi = strdup((const char *)sqlite3_column_text(st, 1));
        k++;
        if (!c[k - 1].metric || !c[k - 1].roi) {
            s = vt_fail(VT_ERR_NOMEM, "out of memory");
            break;
        }
    }
    if (s == VT_OK && rc != SQLITE_DONE) s = vt_results_fail_sqlite(db, rc, "cannot list metrics and ROIs");
    sqlite3_finalize(st);
    if (s != VT_OK) {
        vt_analysis_db_cells_free(c, k);
        return s;
    }
    *cells = c;
    *n = k;
    return VT_OK;
}

vt_status vt_analysis_write_db(vt_results *db, int64_t run_id, const char *metric, const char *roi,
                               const vt_analysis_opts *o, bool json, FILE *f)
{
    vt_analysis_opts def = vt_analysis_opts_default();
    if (!o) o = &def;
    vt_analysis_cell *cells = NULL;
    size_t nc = 0, written = 0;
    vt_status s = vt_analysis_db_cells(db, run_id, &cells, &nc);
    if (s != VT_OK) return s;
    write_open(o, json, f);
    for (size_t c = 0; s == VT_OK && c < nc; c++) {
        if (!cell_wanted(&cells[c], metric, roi)) continue;
        vt_results_table *t = NULL;
        s = vt_results_scores_of(db, run_id, cells[c].metric, cells[c].roi, &t);
        if (s == VT_OK) s = write_cell(t, &cells[c], o, json, written++ == 0, f);
        vt_results_table_free(t);
    }
    vt_analysis_db_cells_free(cells, nc);
    return write_close(s, written, metric, roi, json, f);
}
