/* Layer-wise cRSA / veRSA / encoding scores with train-split layer selection (see score.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ventral/bootstrap.h"
#include "ventral/compare.h"
#include "ventral/dim.h"
#include "ventral/reliability.h"
#include "ventral/rng.h"
#include "ventral/rsm.h"
#include "ventral/score.h"

static const char *const metric_names[] = {"crsa", "versa", "encoding", "predictivity"};
enum { N_METRICS = 4, M_PREDICTIVITY = 3 };

vt_status vt_score_protocol(const char *name, vt_score_options *opt)
{
    static const double conwell_alphas[] = {1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5};
    memset(opt, 0, sizeof *opt);
    opt->metrics = VT_SCORE_ALL;
    opt->split = VT_SPLIT_KIND_RANDOM;
    opt->train_fraction = 0.5;
    opt->bootstrap = 1000;
    opt->ci_level = 0.95;
    opt->criterion = VT_RIDGE_MSE;
    opt->folds = 10;
    if (strcmp(name, "default") == 0) {
        opt->protocol = "default";
        return VT_OK;
    }
    if (strcmp(name, "conwell2024") == 0) {
        opt->protocol = "conwell2024";
        opt->split = VT_SPLIT_KIND_ODD_EVEN;
        opt->alphas = conwell_alphas;
        opt->n_alphas = 7;
        opt->criterion = VT_RIDGE_LOO_PEARSON;
        opt->standardize = true;
        opt->second_half = true;
        opt->encoding_mean = true;
        opt->crsa_unprojected = true;
        return VT_OK;
    }
    return vt_fail(VT_ERR_ARG, "unknown scoring protocol '%s' (known: default, conwell2024)", name);
}

void vt_score_summary_free(vt_score_summary *s)
{
    if (!s) return;
    free(s->picks);
    memset(s, 0, sizeof *s);
}

/* ---- small helpers ---- */

typedef struct id_row {
    const char *id;
    int64_t row;
} id_row;

static int by_id(const void *a, const void *b)
{
    return strcmp(((const id_row *)a)->id, ((const id_row *)b)->id);
}

/* feat_row[s] = the feature-store row of brain stimulus s. */
static vt_status match_stimuli(const vt_features *f, const vt_brain *b, int64_t *feat_row)
{
    id_row *index = vt_malloc((size_t)f->n_stimuli, sizeof *index);
    if (!index) return VT_ERR_NOMEM;
    for (int64_t i = 0; i < f->n_stimuli; i++) index[i] = (id_row){f->stimulus_ids[i], i};
    qsort(index, (size_t)f->n_stimuli, sizeof *index, by_id);
    vt_status st = VT_OK;
    for (int64_t s = 0; s < b->n_stimuli && st == VT_OK; s++) {
        id_row key = {b->stimulus_ids[s], 0};
        id_row *hit = bsearch(&key, index, (size_t)f->n_stimuli, sizeof *index, by_id);
        if (!hit)
            st = vt_fail(VT_ERR_ARG,
                         "stimulus '%s' of the brain data is not in the feature store %s (extract features "
                         "for the brain data's stimuli)",
                         b->stimulus_ids[s], f->path);
        else
            feat_row[s] = hit->row;
    }
    free(index);
    return st;
}

vt_status vt_score_check_stimuli(const vt_features *f, const vt_brain *b)
{
    int64_t *rows = vt_malloc((size_t)(b->n_stimuli > 0 ? b->n_stimuli : 1), sizeof *rows);
    if (!rows) return VT_ERR_NOMEM;
    vt_status st = match_stimuli(f, b, rows);
    free(rows);
    return st;
}

/* Train and test positions (indices into the brain's stimuli), each ascending. */
static vt_status make_split(int64_t n, const vt_score_options *opt, int64_t *train, int64_t *n_train, int64_t *test,
                            int64_t *n_test)
{
    *n_train = *n_test = 0;
    if (opt->split == VT_SPLIT_KIND_ODD_EVEN) {
        for (int64_t i = 0; i < n; i++) {
            if (i % 2 == 0)
                train[(*n_train)++] = i;
            else
                test[(*n_test)++] = i;
        }
    } else {
        if (!(opt->train_fraction > 0 && opt->train_fraction < 1))
            return vt_fail(VT_ERR_ARG, "train fraction must be in (0, 1), got %g", opt->train_fraction);
        /* Fisher–Yates over a counter-based stream: the split depends only on (seed, n). */
        int64_t *perm = vt_malloc((size_t)n, sizeof *perm);
        char *is_train = vt_calloc((size_t)n, 1);
        if (!perm || !is_train) {
            free(perm);
            free(is_train);
            return VT_ERR_NOMEM;
        }
        vt_rng r = vt_rng_make(opt->seed, 0x5b117ull);
        for (int64_t i = 0; i < n; i++) perm[i] = i;
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)vt_rng_below(&r, (uint64_t)i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        int64_t k = (int64_t)floor(opt->train_fraction * (double)n);
        for (int64_t i = 0; i < k; i++) is_train[perm[i]] = 1;
        for (int64_t i = 0; i < n; i++) {
            if (is_train[i])
                train[(*n_train)++] = i;
            else
                test[(*n_test)++] = i;
        }
        free(perm);
        free(is_train);
    }
    if (*n_train < 3 || *n_test < 3)
        return vt_fail(VT_ERR_ARG, "the split leaves %lld train and %lld test stimuli; each needs at least 3",
                       (long long)*n_train, (long long)*n_test);
    return VT_OK;
}

/* Mean over the repetitions of `reps` (NULL = all) that are not NaN; NaN when none is. */
static double trial_mean(const float *r, int64_t n_reps, int64_t n_units, int64_t u, int parity)
{
    double s = 0;
    int64_t c = 0;
    for (int64_t k = 0; k < n_reps; k++) {
        if (parity >= 0 && k % 2 != parity) continue;
        float v = r[k * n_units + u];
        if (!isnan(v)) s += v, c++;
    }
    return c ? s / (double)c : NAN;
}

/* rows × cols float64 tensor of the trial means (parity -1: all, 0: even reps, 1: odd reps)
 * of the given stimuli and units. */
static vt_tensor *brain_means(const vt_brain *b, const int64_t *stim, int64_t n, const int64_t *units, int64_t m,
                              int parity)
{
    int64_t shape[2] = {n, m};
    vt_tensor *t = vt_tensor_new_uninit(VT_F64, 2, shape);
    if (!t) return NULL;
    double *d = vt_tensor_f64(t);
    const float *r = vt_tensor_f32(b->responses);
    for (int64_t i = 0; i < n; i++) {
        const float *rs = r + stim[i] * b->n_reps * b->n_units;
        for (int64_t j = 0; j < m; j++) d[i * m + j] = trial_mean(rs, b->n_reps, b->n_units, units[j], parity);
    }
    return t;
}

static vt_tensor *gather_rows(const vt_tensor *x, const int64_t *rows, int64_t n)
{
    int64_t w = x->shape[1], shape[2] = {n, w};
    vt_tensor *t = vt_tensor_new_uninit(VT_F64, 2, shape);
    if (!t) return NULL;
    double *d = vt_tensor_f64(t);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < w; j++) d[i * w + j] = vt_tensor_get(x, rows[i] * w + j);
    return t;
}

/* The rows and columns `idx` of a square float64 matrix; NULL when any is NaN (a stimulus
 * whose correlations are undefined) or memory runs out. */
static vt_tensor *sub_square(const vt_tensor *r, const int64_t *idx, int64_t m)
{
    int64_t n = r->shape[0], shape[2] = {m, m};
    vt_tensor *t = vt_tensor_new_uninit(VT_F64, 2, shape);
    if (!t) return NULL;
    const double *s = vt_tensor_f64(r);
    double *d = vt_tensor_f64(t);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < m; j++) {
            d[i * m + j] = s[idx[i] * n + idx[j]];
            if (isnan(d[i * m + j])) {
                vt_tensor_free(t);
                return NULL;
            }
        }
    return t;
}

static vt_tensor *gather_cols(const vt_tensor *x, const int64_t *cols, int64_t m)
{
    int64_t n = x->shape[0], w = x->shape[1], shape[2] = {n, m};
    vt_tensor *t = vt_tensor_new_uninit(VT_F64, 2, shape);
    if (!t) return NULL;
    const double *s = vt_tensor_f64(x);
    double *d = vt_tensor_f64(t);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) d[i * m + j] = s[i * w + cols[j]];
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean or median of the finite values; NaN when there are none. Reorders v. */
static double summarise(double *v, int64_t n, bool mean)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) v[m++] = v[i];
    if (m == 0) return NAN;
    if (mean) {
        double s = 0;
        for (int64_t i = 0; i < m; i++) s += v[i];
        return s / (double)m;
    }
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}

static double pearson_cols(const double *a, const double *b, int64_t n, int64_t stride, int64_t j)
{
    double ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
    for (int64_t i = 0; i < n; i++) ma += a[i * stride + j], mb += b[i * stride + j];
    ma /= (double)n;
    mb /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double x = a[i * stride + j] - ma, y = b[i * stride + j] - mb;
        saa += x * x, sbb += y * y, sab += x * y;
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

/* The model RSM r (owned; NULL when it was undefined: *out stays NaN) against the brain's; r is
 * handed to *keep when wanted. */
static void compare_rsm(vt_tensor *r, const vt_tensor *brain_rsm, double *out, vt_tensor **keep)
{
    *out = NAN;
    if (r && vt_compare(r, brain_rsm, VT_CORR_PEARSON, out) != VT_OK) *out = NAN;
    if (keep)
        *keep = r;
    else
        vt_tensor_free(r);
}

/* RSM of `x` compared with `brain_rsm` by Pearson; NaN (not an error) when the RSM is
 * undefined, e.g. a stimulus whose features are all equal. */
static vt_status rsa_score(const vt_tensor *x, const vt_tensor *brain_rsm, double *out, vt_tensor **keep)
{
    vt_tensor *r = NULL;
    if (vt_rsm_new(x, VT_RSM_PEARSON, &r) != VT_OK) r = NULL;
    compare_rsm(r, brain_rsm, out, keep);
    return VT_OK;
}

/* rsa_score of the test predictions ȳ + A·B restricted to the ROI's units, from their factors. */
static vt_status rsa_score_factored(const double *a, int64_t n, const vt_tensor *b, const double *mean,
                                    const int64_t *units, int64_t w, const vt_tensor *brain_rsm, double *out,
                                    vt_tensor **keep)
{
    vt_tensor *r = vt_tensor_new_uninit(VT_F64, 2, (int64_t[]){n, n});
    if (!r) return VT_ERR_NOMEM;
    vt_status st = vt_rsm_pearson_factored(a, n, b->shape[0], b, mean, units, w, r);
    if (st != VT_OK) {
        vt_tensor_free(r); /* a constant prediction pattern: no RSM, as rsa_score */
        r = NULL;
    }
    compare_rsm(r, brain_rsm, out, keep);
    return st == VT_ERR_NOMEM ? st : VT_OK;
}

/* Ceiling of an RSA correlation: √ of the split-half reliability of the brain RSM (even vs odd
 * repetitions, Spearman–Brown corrected); NaN when the halves do not correlate positively. */
static double rsm_ceiling(const vt_brain *b, const int64_t *stim, int64_t n, const int64_t *units, int64_t m)
{
    vt_tensor *ha = brain_means(b, stim, n, units, m, 0), *hb = brain_means(b, stim, n, units, m, 1);
    double out = NAN;
    int64_t *keep = vt_malloc((size_t)n, sizeof *keep), k = 0;
    if (ha && hb && keep) {
        for (int64_t i = 0; i < n; i++) {
            bool ok = true;
            for (int64_t j = 0; j < m; j++)
                ok = ok && !isnan(vt_tensor_f64(ha)[i * m + j]) && !isnan(vt_tensor_f64(hb)[i * m + j]);
            if (ok) keep[k++] = i;
        }
        vt_tensor *a = k >= 3 ? gather_rows(ha, keep, k) : NULL, *bb = k >= 3 ? gather_rows(hb, keep, k) : NULL;
        vt_tensor *ra = NULL, *rb = NULL;
        double r;
        if (a && bb && vt_rsm_new(a, VT_RSM_PEARSON, &ra) == VT_OK && vt_rsm_new(bb, VT_RSM_PEARSON, &rb) == VT_OK &&
            vt_compare(ra, rb, VT_CORR_PEARSON, &r) == VT_OK && isfinite(r) && r > 0)
            out = sqrt(2 * r / (1 + r)); /* a correlation's ceiling is the square root of the reliability */
        vt_tensor_free(a);
        vt_tensor_free(bb);
        vt_tensor_free(ra);
        vt_tensor_free(rb);
    }
    vt_tensor_free(ha);
    vt_tensor_free(hb);
    free(keep);
    return out;
}

/* Summary over units of √(NC/100), NC the NSD noise ceiling of the test responses. */
static double encoding_ceiling(const vt_brain *b, const int64_t *stim, int64_t n, const int64_t *units, int64_t m,
                               bool mean)
{
    if (b->n_reps < 2) return NAN;
    int64_t shape[3] = {n, b->n_reps, m}, ms = m;
    vt_tensor *r = vt_tensor_new_uninit(VT_F64, 3, shape), *nc = vt_tensor_new(VT_F64, 1, &ms);
    double out = NAN;
    if (r && nc) {
        double *d = vt_tensor_f64(r);
        const float *src = vt_tensor_f32(b->responses);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < b->n_reps; k++)
                for (int64_t j = 0; j < m; j++)
                    d[(i * b->n_reps + k) * m + j] = src[(stim[i] * b->n_reps + k) * b->n_units + units[j]];
        if (vt_reliability_ncsnr(r, NULL, nc, NULL, NULL) == VT_OK) {
            double *v = vt_tensor_f64(nc);
            for (int64_t j = 0; j < m; j++) v[j] = sqrt(v[j] / 100.0);
            out = summarise(v, m, mean);
        }
    }
    vt_tensor_free(r);
    vt_tensor_free(nc);
    return out;
}

/* z-scores the columns of xtr and xte with xtr's mean and population std (ddof 0); a
 * constant column is only centred (scikit-learn's StandardScaler). */
static void standardise(vt_tensor *xtr, vt_tensor *xte)
{
    int64_t n = xtr->shape[0], m = xte->shape[0], w = xtr->shape[1];
    double *a = vt_tensor_f64(xtr), *b = vt_tensor_f64(xte);
#pragma omp parallel for if (n * w > 100000)
    for (int64_t j = 0; j < w; j++) {
        double mu = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mu += a[i * w + j];
        mu /= (double)n;
        for (int64_t i = 0; i < n; i++) var += (a[i * w + j] - mu) * (a[i * w + j] - mu);
        double sd = sqrt(var / (double)n);
        if (sd == 0) sd = 1;
        for (int64_t i = 0; i < n; i++) a[i * w + j] = (a[i * w + j] - mu) / sd;
        for (int64_t i = 0; i < m; i++) b[i * w + j] = (b[i * w + j] - mu) / sd;
    }
}

/* Folds for k-fold cross-validation over the stimuli of one split: stimuli are shuffled (seeded),
 * stably grouped by category when the store has one ('category' or 'category_name'), and dealt
 * round-robin, so every fold holds about the same share of every category (METHODS §10). */
static vt_status make_folds(const vt_brain *b, const int64_t *stim, int64_t n, int k, uint64_t seed, int *fold)
{
    char **cat = vt_brain_meta(b, "category");
    if (!cat) cat = vt_brain_meta(b, "category_name");
    int64_t *order = vt_malloc((size_t)n, sizeof *order);
    if (!order) return VT_ERR_NOMEM;
    vt_rng r = vt_rng_make(seed, 0xf01d5ull);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)vt_rng_below(&r, (uint64_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    if (cat) /* insertion sort by category keeps the shuffled order within each category */
        for (int64_t i = 1; i < n; i++)
            for (int64_t j = i; j > 0 && strcmp(cat[stim[order[j - 1]]], cat[stim[order[j]]]) > 0; j--) {
                int64_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
    for (int64_t i = 0; i < n; i++) fold[order[i]] = (int)(i % k);
    free(order);
    return VT_OK;
}

/* Median over the ROI's units of the split-half reliability (Spearman–Brown) on these stimuli. */
static double split_half_ceiling(const vt_brain *b, const int64_t *stim, int64_t n, const int64_t *units, int64_t m,
                                 const vt_score_options *opt)
{
    if (b->n_reps < 2) return NAN;
    int64_t shape[3] = {n, b->n_reps, m};
    vt_tensor *r = vt_tensor_new_uninit(VT_F64, 3, shape), *sh = vt_tensor_new(VT_F64, 1, &m);
    double out = NAN;
    if (r && sh) {
        const float *src = vt_tensor_f32(b->responses);
        double *d = vt_tensor_f64(r);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < b->n_reps; k++)
                for (int64_t j = 0; j < m; j++)
                    d[(i * b->n_reps + k) * m + j] = src[(stim[i] * b->n_reps + k) * b->n_units + units[j]];
        if (vt_reliability_split_half(r, 10, opt->seed, sh) == VT_OK) out = summarise(vt_tensor_f64(sh), m, false);
    }
    vt_tensor_free(r);
    vt_tensor_free(sh);
    return out;
}

/* Cross-validated predictions: for each fold, ridge (alpha per unit by LOO-GCV on the other folds)
 * predicts the fold's stimuli. x: n × w, y: n × v, pred: n × v (all float64). */
static vt_status cv_predict(const vt_tensor *x, const vt_tensor *y, const int *fold, int k,
                            const vt_ridge_options *ropt, vt_tensor *pred)
{
    int64_t n = x->shape[0], w = x->shape[1], v = y->shape[1];
    int64_t *rows = vt_malloc((size_t)n, sizeof *rows);
    vt_status st = rows ? VT_OK : VT_ERR_NOMEM;
    for (int f = 0; st == VT_OK && f < k; f++) {
        int64_t ntr = 0, nte = 0;
        for (int64_t i = 0; i < n; i++)
            if (fold[i] != f) rows[ntr++] = i;
        for (int64_t i = 0; i < n; i++)
            if (fold[i] == f) rows[ntr + nte++] = i;
        if (nte == 0 || ntr < 3) continue;
        vt_tensor *xtr = gather_rows(x, rows, ntr), *ytr = gather_rows(y, rows, ntr),
                  *xte = gather_rows(x, rows + ntr, nte);
        int64_t ps[2] = {nte, v};
        vt_tensor *alpha = vt_tensor_new(VT_F64, 1, &v), *p = vt_tensor_new(VT_F64, 2, ps);
        if (!xtr || !ytr || !xte || !alpha || !p) st = VT_ERR_NOMEM;
        vt_ridge_outputs out = {alpha, NULL, NULL, NULL, p, NULL, NULL, NULL};
        if (st == VT_OK) st = vt_ridge_fit(xtr, ytr, xte, NULL, ropt, &out, NULL);
        for (int64_t i = 0; st == VT_OK && i < nte; i++)
            memcpy(vt_tensor_f64(pred) + rows[ntr + i] * v, vt_tensor_f64(p) + i * v, sizeof(double) * (size_t)v);
        vt_tensor_free(xtr), vt_tensor_free(ytr), vt_tensor_free(xte), vt_tensor_free(alpha), vt_tensor_free(p);
    }
    free(rows);
    (void)w;
    return st;
}

/* ---- the scoring loop ---- */

typedef struct roi_data {
    char name[64];
    int64_t *units, n_units;
    int64_t id;
    vt_tensor *ytr, *yte, *rsm_tr, *rsm_te; /* trial means and brain RSMs per split */
    double ceiling[N_METRICS];
    /* the best layer so far per metric (train score; ties keep the earlier layer) */
    double best_train[N_METRICS], best_test[N_METRICS];
    int best_layer[N_METRICS];
    int64_t best_layer_id[N_METRICS];
    vt_tensor *best_rsm[N_METRICS];  /* model-side test RSM of the best layer (RSA metrics) */
    vt_tensor *best_pred[N_METRICS]; /* test predictions (n_test × ROI units) of the best layer (encoding,
                                      * predictivity), kept only when CIs are bootstrapped */
} roi_data;

typedef struct scorer {
    const vt_features *f;
    const vt_brain *b;
    const vt_score_options *opt;
    vt_results *db;
    int64_t run_id, model_id, subject_id, metric_id[N_METRICS];
    int64_t *feat_row, *train, *test, n_train, n_test;
    int64_t *rows_tr, *rows_te; /* feature-store rows of the train and test stimuli */
    roi_data *rois;
    int n_rois;
    vt_tensor *ytr_all, *yte_all; /* all units */
    int *fold_tr, *fold_te;       /* cross-validation folds within each split (predictivity) */
    int n_folds;
} scorer;

static void free_rois(scorer *s)
{
    for (int r = 0; r < s->n_rois; r++) {
        roi_data *R = &s->rois[r];
        free(R->units);
        vt_tensor_free(R->ytr);
        vt_tensor_free(R->yte);
        vt_tensor_free(R->rsm_tr);
        vt_tensor_free(R->rsm_te);
        for (int m = 0; m < N_METRICS; m++) vt_tensor_free(R->best_rsm[m]), vt_tensor_free(R->best_pred[m]);
    }
    free(s->rois);
}

/* ROIs from the store's unit labels (first-appearance order), or one ROI "all". */
static vt_status make_rois(scorer *s)
{
    const vt_brain *b = s->b;
    s->rois = vt_calloc((size_t)b->n_units + 1, sizeof *s->rois);
    if (!s->rois) return VT_ERR_NOMEM;
    for (int64_t u = 0; u < b->n_units; u++) {
        const char *label = b->unit_rois && b->unit_rois[u] ? b->unit_rois[u] : "all";
        int r = 0;
        while (r < s->n_rois && strcmp(s->rois[r].name, label) != 0) r++;
        if (r == s->n_rois) {
            snprintf(s->rois[r].name, sizeof s->rois[r].name, "%s", label);
            s->rois[r].units = vt_malloc((size_t)b->n_units, sizeof(int64_t));
            if (!s->rois[r].units) return VT_ERR_NOMEM;
            s->n_rois++;
        }
        s->rois[r].units[s->rois[r].n_units++] = u;
    }
    /* With several ROIs, their union is scored too (e.g. NSD's occipitotemporal set as one ROI,
     * as Conwell et al. score it), under the name "all" unless a ROI already has that name. */
    bool has_all = false;
    for (int r = 0; r < s->n_rois; r++) has_all |= strcmp(s->rois[r].name, "all") == 0;
    if (s->n_rois > 1 && !has_all) {
        roi_data *U = &s->rois[s->n_rois];
        snprintf(U->name, sizeof U->name, "all");
        U->units = vt_malloc((size_t)b->n_units, sizeof(int64_t));
        if (!U->units) return VT_ERR_NOMEM;
        for (int64_t u = 0; u < b->n_units; u++) U->units[U->n_units++] = u;
        s->n_rois++;
    }
    for (int r = 0; r < s->n_rois; r++) {
        roi_data *R = &s->rois[r];
        for (int m = 0; m < N_METRICS; m++) R->best_train[m] = -INFINITY, R->best_layer[m] = -1;
        R->ytr = gather_cols(s->ytr_all, R->units, R->n_units);
        R->yte = gather_cols(s->yte_all, R->units, R->n_units);
        if (!R->ytr || !R->yte) return VT_ERR_NOMEM;
        vt_status st = vt_rsm_new(R->ytr, VT_RSM_PEARSON, &R->rsm_tr);
        if (st == VT_OK) st = vt_rsm_new(R->yte, VT_RSM_PEARSON, &R->rsm_te);
        if (st != VT_OK) return vt_fail_context(st, "brain RSM of ROI '%s': ", R->name);
        R->ceiling[0] = R->ceiling[1] = rsm_ceiling(s->b, s->test, s->n_test, R->units, R->n_units);
        R->ceiling[2] = encoding_ceiling(s->b, s->test, s->n_test, R->units, R->n_units, s->opt->encoding_mean);
        R->ceiling[M_PREDICTIVITY] = (s->opt->metrics & VT_SCORE_PREDICTIVITY)
                                         ? split_half_ceiling(s->b, s->test, s->n_test, R->units, R->n_units, s->opt)
                                         : NAN;
        if ((st = vt_results_put_roi(s->db, R->name, NULL, &R->id)) != VT_OK) return st;
    }
    return VT_OK;
}

static vt_status put_pair(scorer *s, int64_t layer_id, const roi_data *R, int m, double train, double test)
{
    vt_results_score sc = vt_results_score_init();
    sc.run_id = s->run_id;
    sc.layer_id = layer_id;
    sc.subject_id = s->subject_id;
    sc.roi_id = R->id;
    sc.metric_id = s->metric_id[m];
    vt_status st = VT_OK;
    if (isfinite(train)) {
        sc.split = VT_SPLIT_TRAIN;
        sc.value = train;
        st = vt_results_put_score(s->db, &sc);
    }
    if (st == VT_OK && isfinite(test)) {
        sc.split = VT_SPLIT_TEST;
        sc.value = test;
        sc.noise_ceiling = R->ceiling[m];
        sc.normalised = isfinite(R->ceiling[m]) && R->ceiling[m] > 0 ? test / R->ceiling[m] : NAN;
        st = vt_results_put_score(s->db, &sc);
    }
    return st;
}

/* Whether a layer with these scores becomes (roi, metric)'s best so far. */
static bool improves(const roi_data *R, int m, double train, double test)
{
    return isfinite(train) && isfinite(test) && train > R->best_train[m];
}

/* Keeps (roi, metric)'s best layer by train score; `rsm` (owned) is the model's test RSM, `pred`
 * (owned) its test predictions of the ROI's units. */
static void consider(roi_data *R, int m, int layer, int64_t layer_id, double train, double test, vt_tensor *rsm,
                     vt_tensor *pred)
{
    if (improves(R, m, train, test)) {
        R->best_train[m] = train;
        R->best_test[m] = test;
        R->best_layer[m] = layer;
        R->best_layer_id[m] = layer_id;
        vt_tensor_free(R->best_rsm[m]);
        R->best_rsm[m] = rsm;
        vt_tensor_free(R->best_pred[m]);
        R->best_pred[m] = pred;
    } else {
        vt_tensor_free(rsm);
        vt_tensor_free(pred);
    }
}

/* The ROI's columns of a layer's test predictions when the bootstrap needs them (the layer
 * improves on the best so far); NULL otherwise. *st = VT_ERR_NOMEM when the copy fails. */
static vt_tensor *keep_predictions(const scorer *s, const roi_data *R, int m, double train, double test,
                                   const vt_tensor *pred, vt_status *st)
{
    if (s->opt->bootstrap <= 0 || !improves(R, m, train, test)) return NULL;
    vt_tensor *t = gather_cols(pred, R->units, R->n_units);
    if (!t) *st = VT_ERR_NOMEM;
    return t;
}

/* Per-layer work that does not depend on the brain data, shared by the subjects scored in one pass
 * (vt_score_many): the layer's features and effective dimensionality, and, for subjects with the
 * same train and test rows (the same stimuli in the same split), the split's features, the cRSA
 * model RSMs and the prepared ridge model (the decomposition of the train features). */
typedef struct layer_cache {
    int li; /* the layer held, -1: none */
    vt_tensor *x;
    double ed;
    int64_t *rows_tr, *rows_te, n_tr, n_te; /* the rows the split part was made for (NULL: none) */
    vt_tensor *xtr, *xte, *rsm_tr, *rsm_te;
    vt_ridge_model *ridge;
} layer_cache;

static void cache_clear_split(layer_cache *c)
{
    free(c->rows_tr);
    free(c->rows_te);
    vt_tensor_free(c->xtr);
    vt_tensor_free(c->xte);
    vt_tensor_free(c->rsm_tr);
    vt_tensor_free(c->rsm_te);
    vt_ridge_model_free(c->ridge);
    c->rows_tr = c->rows_te = NULL;
    c->xtr = c->xte = c->rsm_tr = c->rsm_te = NULL;
    c->ridge = NULL;
}

static void cache_clear(layer_cache *c)
{
    cache_clear_split(c);
    vt_tensor_free(c->x);
    c->x = NULL;
    c->li = -1;
}

/* Layer li's features and effective dimensionality, read once per layer. */
static vt_status cache_layer(scorer *s, layer_cache *c, int li)
{
    if (c->li == li) return VT_OK;
    cache_clear(c);
    vt_status st = vt_features_read_layer(s->f, li, &c->x);
    if (st != VT_OK) return st;
    c->li = li;
    if (vt_dim_participation_ratio(c->x, &c->ed) != VT_OK) c->ed = NAN;
    return VT_OK;
}

static bool same_rows(const int64_t *a, int64_t na, const int64_t *b, int64_t nb)
{
    return a && na == nb && memcmp(a, b, sizeof *a * (size_t)na) == 0;
}

/* The split part of the cache for these rows: train/test features (standardised on the train
 * stimuli when the protocol asks, after the cRSA RSMs are taken from the raw ones), the cRSA
 * RSMs, and with `ridge` the prepared ridge model. Kept when the rows are the ones it holds. */
static vt_status cache_split(scorer *s, layer_cache *c, const vt_ridge_options *ropt, bool ridge)
{
    const int64_t *rows_tr = s->rows_tr, *rows_te = s->rows_te;
    if (same_rows(c->rows_tr, c->n_tr, rows_tr, s->n_train) && same_rows(c->rows_te, c->n_te, rows_te, s->n_test))
        return VT_OK;
    cache_clear_split(c);
    const vt_feature_layer *L = &s->f->layers[c->li];
    vt_status st = VT_OK;
    c->rows_tr = vt_malloc((size_t)s->n_train, sizeof *c->rows_tr);
    c->rows_te = vt_malloc((size_t)s->n_test, sizeof *c->rows_te);
    c->xtr = gather_rows(c->x, rows_tr, s->n_train);
    c->xte = gather_rows(c->x, rows_te, s->n_test);
    if (!c->rows_tr || !c->rows_te || !c->xtr || !c->xte) st = VT_ERR_NOMEM;
    if (st == VT_OK) {
        memcpy(c->rows_tr, rows_tr, sizeof *rows_tr * (size_t)s->n_train);
        memcpy(c->rows_te, rows_te, sizeof *rows_te * (size_t)s->n_test);
        c->n_tr = s->n_train, c->n_te = s->n_test;
    }
    /* cRSA: the layer's own RSMs, shared by every ROI; under crsa_unprojected the store's RSM of
     * the unprojected features restricted to each half (vt_score checked that it is there, or
     * that the stored features are the unprojected ones). */
    if (st == VT_OK && (s->opt->metrics & VT_SCORE_CRSA) && s->opt->crsa_unprojected && L->has_rsm) {
        vt_tensor *full = NULL;
        st = vt_features_read_rsm(s->f, c->li, &full);
        if (st == VT_OK) {
            c->rsm_tr = sub_square(full, rows_tr, s->n_train);
            c->rsm_te = sub_square(full, rows_te, s->n_test);
        }
        vt_tensor_free(full);
    } else if (st == VT_OK && (s->opt->metrics & VT_SCORE_CRSA)) {
        if (vt_rsm_new(c->xtr, VT_RSM_PEARSON, &c->rsm_tr) != VT_OK) c->rsm_tr = NULL;
        if (vt_rsm_new(c->xte, VT_RSM_PEARSON, &c->rsm_te) != VT_OK) c->rsm_te = NULL;
    }
    if (st == VT_OK && s->opt->standardize && (s->opt->metrics & (VT_SCORE_ALL | VT_SCORE_PREDICTIVITY)))
        standardise(c->xtr, c->xte);
    if (st == VT_OK && ridge) st = vt_ridge_prepare(c->xtr, c->xte, ropt, &c->ridge);
    if (st != VT_OK) cache_clear_split(c);
    return st;
}

static vt_status score_layer(scorer *s, int li, int64_t *scored, layer_cache *lc)
{
    const vt_feature_layer *L = &s->f->layers[li];
    vt_tensor *alpha = NULL, *loo = NULL, *pred = NULL, *score = NULL, *cv_tr = NULL, *cv_te = NULL;
    vt_tensor *basis = NULL, *ymean = NULL; /* test predictions in factored form (veRSA without encoding) */
    const double *design = NULL;
    vt_status st = cache_layer(s, lc, li);
    if (st != VT_OK) return st;
    double ed = lc->ed;
    if (L->width == 0) goto done; /* an empty layer carries nothing to score */
    vt_ridge_options ropt;
    vt_ridge_options_init(&ropt);
    ropt.alphas = s->opt->alphas;
    ropt.n_alphas = s->opt->n_alphas;
    ropt.criterion = s->opt->criterion;
    bool ridge = (s->opt->metrics & (VT_SCORE_VERSA | VT_SCORE_ENCODING)) != 0;
    if (st == VT_OK && (st = cache_split(s, lc, &ropt, ridge)) != VT_OK)
        st = vt_fail_context(st, "layer '%s': ", L->name);
    const vt_tensor *xtr = lc->xtr, *xte = lc->xte, *rsm_tr = lc->rsm_tr, *rsm_te = lc->rsm_te;
    /* Neural predictivity (METHODS §10): k-fold cross-validated ridge predictions within each split. */
    if (st == VT_OK && (s->opt->metrics & VT_SCORE_PREDICTIVITY)) {
        int64_t v = s->b->n_units, str[2] = {s->n_train, v}, ste[2] = {s->n_test, v};
        cv_tr = vt_tensor_new(VT_F64, 2, str);
        cv_te = vt_tensor_new(VT_F64, 2, ste);
        if (!cv_tr || !cv_te) st = VT_ERR_NOMEM;
        if (st == VT_OK) st = cv_predict(xtr, s->ytr_all, s->fold_tr, s->n_folds, &ropt, cv_tr);
        if (st == VT_OK) st = cv_predict(xte, s->yte_all, s->fold_te, s->n_folds, &ropt, cv_te);
        if (st != VT_OK) st = vt_fail_context(st, "layer '%s': ", L->name);
    }
    /* Ridge: one fit for every unit of every ROI. */
    if (st == VT_OK && (s->opt->metrics & (VT_SCORE_VERSA | VT_SCORE_ENCODING))) {
        int64_t v = s->b->n_units, sl[2] = {s->n_train, v}, se[2] = {s->n_test, v};
        bool encoding = (s->opt->metrics & VT_SCORE_ENCODING) != 0; /* the only reader of score */
        alpha = vt_tensor_new_uninit(VT_F64, 1, &v);                /* the fit writes every value */
        loo = vt_tensor_new_uninit(VT_F64, 2, sl);
        /* veRSA alone needs the test predictions only through their RSMs, which the factored
         * form gives without forming them (a third of the float64 work of a fit; METHODS §7). */
        if (encoding) {
            pred = vt_tensor_new_uninit(VT_F64, 2, se);
        } else {
            int64_t rows, r;
            design = vt_ridge_model_test_design(lc->ridge, &rows, &r);
            basis = design ? vt_tensor_new_uninit(VT_F64, 2, (int64_t[]){r, v}) : NULL;
            ymean = vt_tensor_new_uninit(VT_F64, 1, &v);
        }
        score = encoding ? vt_tensor_new_uninit(VT_F64, 1, &v) : NULL;
        if (!alpha || !loo || (encoding ? !pred || !score : !basis || !ymean)) st = VT_ERR_NOMEM;
        vt_ridge_outputs out = {alpha, NULL, NULL, loo, pred, score, basis, ymean};
        if (st == VT_OK) st = vt_ridge_fit_prepared(lc->ridge, s->ytr_all, encoding ? s->yte_all : NULL, &out, NULL);
        if (st != VT_OK) st = vt_fail_context(st, "layer '%s': ", L->name);
    }
    int64_t layer_id = 0;
    if (st == VT_OK) {
        vt_results_layer rl = vt_results_layer_init();
        rl.index = L->index;
        rl.name = L->name;
        rl.op = L->op;
        rl.shape = L->shape;
        rl.features = L->features;
        rl.k = L->width;
        rl.ed = ed;
        st = vt_results_begin(s->db);
        if (st == VT_OK) st = vt_results_put_layer(s->db, s->model_id, &rl, &layer_id);
    }
    for (int r = 0; st == VT_OK && r < s->n_rois; r++) {
        roi_data *R = &s->rois[r];
        if (s->opt->metrics & VT_SCORE_CRSA) {
            double tr = NAN, te = NAN;
            if (rsm_tr && rsm_te) {
                vt_compare(rsm_tr, R->rsm_tr, VT_CORR_PEARSON, &tr);
                vt_compare(rsm_te, R->rsm_te, VT_CORR_PEARSON, &te);
            }
            st = put_pair(s, layer_id, R, 0, tr, te);
            vt_tensor *keep = NULL;
            if (st == VT_OK && rsm_te && vt_tensor_convert(rsm_te, VT_F64, &keep) != VT_OK) st = VT_ERR_NOMEM;
            consider(R, 0, L->index, layer_id, tr, te, keep, NULL);
        }
        if (st == VT_OK && (s->opt->metrics & VT_SCORE_VERSA)) {
            /* An ROI of every unit in order (one ROI, or the union "all") reads the predictions in place.
             * Their RSMs stay float64 on purpose: every stimulus's predictions share the units' means,
             * and when the stimulus-driven part is small next to them (strongly regularised units)
             * rounding to float32 first moves veRSA by 2e-3 (test_score.py: means 1000× the responses). */
            bool whole = R->n_units == s->b->n_units;
            for (int64_t j = 0; whole && j < R->n_units; j++) whole = R->units[j] == j;
            vt_tensor *ptr = whole ? loo : gather_cols(loo, R->units, R->n_units);
            vt_tensor *pte = !pred ? NULL : whole ? pred : gather_cols(pred, R->units, R->n_units);
            double tr = NAN, te = NAN;
            vt_tensor *keep = NULL;
            if (!ptr || (pred && !pte)) st = VT_ERR_NOMEM;
            if (st == VT_OK) st = rsa_score(ptr, R->rsm_tr, &tr, NULL);
            if (st == VT_OK && pte) st = rsa_score(pte, R->rsm_te, &te, &keep);
            if (st == VT_OK && !pte)
                st = rsa_score_factored(design, s->n_test, basis, vt_tensor_f64(ymean), whole ? NULL : R->units,
                                        R->n_units, R->rsm_te, &te, &keep);
            if (!whole) {
                vt_tensor_free(ptr);
                vt_tensor_free(pte);
            }
            if (st == VT_OK) st = put_pair(s, layer_id, R, 1, tr, te);
            consider(R, 1, L->index, layer_id, tr, te, keep, NULL);
        }
        if (st == VT_OK && (s->opt->metrics & VT_SCORE_ENCODING)) {
            double *v = vt_malloc((size_t)R->n_units, sizeof *v);
            if (!v) st = VT_ERR_NOMEM;
            double tr = NAN, te = NAN;
            if (st == VT_OK) {
                for (int64_t j = 0; j < R->n_units; j++)
                    v[j] = pearson_cols(vt_tensor_f64(loo), vt_tensor_f64(s->ytr_all), s->n_train, s->b->n_units,
                                        R->units[j]);
                tr = summarise(v, R->n_units, s->opt->encoding_mean);
                for (int64_t j = 0; j < R->n_units; j++) v[j] = vt_tensor_f64(score)[R->units[j]];
                te = summarise(v, R->n_units, s->opt->encoding_mean);
                st = put_pair(s, layer_id, R, 2, tr, te);
                vt_tensor *keep = st == VT_OK ? keep_predictions(s, R, 2, tr, te, pred, &st) : NULL;
                consider(R, 2, L->index, layer_id, tr, te, NULL, keep);
            }
            free(v);
        }
        if (st == VT_OK && (s->opt->metrics & VT_SCORE_PREDICTIVITY)) {
            double *v = vt_malloc((size_t)R->n_units, sizeof *v), tr = NAN, te = NAN;
            if (!v) st = VT_ERR_NOMEM;
            if (st == VT_OK) {
                int64_t U = s->b->n_units;
                for (int64_t j = 0; j < R->n_units; j++)
                    v[j] = pearson_cols(vt_tensor_f64(cv_tr), vt_tensor_f64(s->ytr_all), s->n_train, U, R->units[j]);
                tr = summarise(v, R->n_units, false);
                for (int64_t j = 0; j < R->n_units; j++)
                    v[j] = pearson_cols(vt_tensor_f64(cv_te), vt_tensor_f64(s->yte_all), s->n_test, U, R->units[j]);
                te = summarise(v, R->n_units, false);
                st = put_pair(s, layer_id, R, M_PREDICTIVITY, tr, te);
                vt_tensor *keep = st == VT_OK ? keep_predictions(s, R, M_PREDICTIVITY, tr, te, cv_te, &st) : NULL;
                consider(R, M_PREDICTIVITY, L->index, layer_id, tr, te, NULL, keep);
            }
            free(v);
        }
    }
    if (st == VT_OK)
        st = vt_results_commit(s->db);
    else if (layer_id)
        vt_results_rollback(s->db);
    if (st == VT_OK) (*scored)++;
done:
    vt_tensor_free(alpha);
    vt_tensor_free(loo);
    vt_tensor_free(pred);
    vt_tensor_free(basis);
    vt_tensor_free(ymean);
    vt_tensor_free(score);
    vt_tensor_free(cv_tr);
    vt_tensor_free(cv_te);
    return st;
}

/* For each (ROI, metric) winner: bootstrap CI of the test score over the test stimuli (every
 * metric, each from the same resamples vt_bootstrap_draw(seed, r, n_test)), the stored model RSM
 * for model-to-model analyses (RSA metrics), and the summary line. */
static vt_status finish_picks(scorer *s, vt_score_summary *summary)
{
    /* One transaction: selected rows appear all at once, so their presence marks a finished
     * (model, subject) for a resumed benchmark. */
    vt_status st = vt_results_begin(s->db);
    if (st == VT_OK) st = vt_results_mark_selected(s->db, s->run_id);
    for (int r = 0; st == VT_OK && r < s->n_rois; r++) {
        roi_data *R = &s->rois[r];
        for (int m = 0; st == VT_OK && m < N_METRICS; m++) {
            if (R->best_layer[m] < 0) continue;
            vt_bootstrap_ci ci = {.low = NAN, .high = NAN};
            if (R->best_rsm[m]) {
                if (s->opt->bootstrap > 0) {
                    vt_compare_pair *pair = NULL;
                    vt_bootstrap_opts bo = {s->opt->bootstrap, s->opt->seed, s->opt->ci_level};
                    st = vt_compare_pair_new(R->best_rsm[m], "model RSM", R->rsm_te, "brain RSM", VT_CORR_PEARSON,
                                             &pair);
                    if (st == VT_OK) st = vt_compare_bootstrap(pair, &bo, &ci, NULL);
                    vt_compare_pair_free(pair);
                }
                int64_t n = R->best_rsm[m]->shape[0];
                double *upper = vt_malloc((size_t)vt_compare_triangle_len(n) + 1, sizeof *upper);
                if (!upper) st = VT_ERR_NOMEM;
                if (st == VT_OK) st = vt_compare_triangle(R->best_rsm[m], "model RSM", upper);
                if (st == VT_OK)
                    st = vt_results_put_rsm(s->db, s->run_id, s->model_id, R->best_layer_id[m], metric_names[m],
                                            s->subject_id, R->id, n, upper, NULL);
                free(upper);
            } else if (R->best_pred[m] && s->opt->bootstrap > 0) {
                /* encoding / predictivity: every unit's r on the resampled test stimuli, summarised
                 * as the point estimate is (the encoding summary; predictivity's median) */
                vt_bootstrap_opts bo = {s->opt->bootstrap, s->opt->seed, s->opt->ci_level};
                bool mean = m == 2 && s->opt->encoding_mean;
                st = vt_compare_columns_bootstrap(R->best_pred[m], R->yte, mean, &bo, &ci, NULL);
                if (st != VT_OK) st = vt_fail_context(st, "ROI '%s', %s: ", R->name, metric_names[m]);
            }
            if (st != VT_OK) break;
            vt_results_score sc = vt_results_score_init();
            sc.run_id = s->run_id;
            sc.layer_id = R->best_layer_id[m];
            sc.subject_id = s->subject_id;
            sc.roi_id = R->id;
            sc.metric_id = s->metric_id[m];
            sc.split = VT_SPLIT_TEST;
            sc.value = R->best_test[m];
            sc.ci_low = ci.low;
            sc.ci_high = ci.high;
            sc.noise_ceiling = R->ceiling[m];
            sc.normalised = isfinite(R->ceiling[m]) && R->ceiling[m] > 0 ? R->best_test[m] / R->ceiling[m] : NAN;
            sc.selected = 1;
            st = vt_results_put_score(s->db, &sc);
            if (st == VT_OK && summary) {
                vt_score_pick *p = &summary->picks[summary->n_picks++];
                snprintf(p->roi, sizeof p->roi, "%s", R->name);
                snprintf(p->metric, sizeof p->metric, "%s", metric_names[m]);
                p->layer_index = R->best_layer[m];
                for (int i = 0; i < s->f->n_layers; i++)
                    if (s->f->layers[i].index == R->best_layer[m])
                        snprintf(p->layer_name, sizeof p->layer_name, "%s", s->f->layers[i].name);
                p->train = R->best_train[m];
                p->test = R->best_test[m];
                p->ci_low = ci.low;
                p->ci_high = ci.high;
                p->ceiling = R->ceiling[m];
                p->normalised = sc.normalised;
            }
        }
    }
    if (st == VT_OK)
        st = vt_results_commit(s->db);
    else
        vt_results_rollback(s->db);
    return st;
}

/* Everything of one subject's scoring before the layers: checks, the split, trial means, the
 * database rows of model, subject and metrics, the ROIs. */
static vt_status scorer_setup(scorer *s, const vt_features *f, const vt_brain *b, const vt_score_options *opt,
                              vt_results *db, int64_t run_id, const vt_results_model *model, vt_score_summary *summary)
{
    if (summary) memset(summary, 0, sizeof *summary);
    *s = (scorer){.f = f, .b = b, .opt = opt, .db = db, .run_id = run_id};
    if (b->n_stimuli < 6)
        return vt_fail(VT_ERR_ARG, "scoring needs at least 6 stimuli, the brain data has %lld",
                       (long long)b->n_stimuli);
    if (!opt->metrics) return vt_fail(VT_ERR_ARG, "no metric selected");
    vt_status st = VT_OK;
    s->feat_row = vt_malloc((size_t)b->n_stimuli, sizeof *s->feat_row);
    s->train = vt_malloc((size_t)b->n_stimuli, sizeof *s->train);
    s->test = vt_malloc((size_t)b->n_stimuli, sizeof *s->test);
    int64_t all_units = b->n_units, *units = vt_malloc((size_t)all_units, sizeof *units);
    if (!s->feat_row || !s->train || !s->test || !units) st = VT_ERR_NOMEM;
    for (int64_t u = 0; units && u < all_units; u++) units[u] = u;
    /* cRSA on unprojected features needs, for every projected layer, its stored RSM: checked
     * before anything is written. */
    for (int li = opt->second_half ? f->n_layers / 2 : 0;
         st == VT_OK && (opt->metrics & VT_SCORE_CRSA) && opt->crsa_unprojected && li < f->n_layers; li++)
        if (f->layers[li].projected && !f->layers[li].has_rsm && f->layers[li].width > 0)
            st = vt_fail(VT_ERR_ARG,
                         "%s: cRSA under the %s protocol uses RSMs of the unprojected features, which this store "
                         "lacks (layer '%s' was projected by SRP); re-extract it with `ventral extract "
                         "--unprojected-rsm`, score cRSA on the projected features (--crsa-features projected), or "
                         "leave crsa out of --metrics",
                         f->path, opt->protocol ? opt->protocol : "chosen", f->layers[li].name);
    if (st == VT_OK) st = match_stimuli(f, b, s->feat_row);
    if (st == VT_OK) st = make_split(b->n_stimuli, opt, s->train, &s->n_train, s->test, &s->n_test);
    if (st == VT_OK) {
        s->rows_tr = vt_malloc((size_t)s->n_train, sizeof *s->rows_tr);
        s->rows_te = vt_malloc((size_t)s->n_test, sizeof *s->rows_te);
        if (!s->rows_tr || !s->rows_te) st = VT_ERR_NOMEM;
        for (int64_t i = 0; st == VT_OK && i < s->n_train; i++) s->rows_tr[i] = s->feat_row[s->train[i]];
        for (int64_t i = 0; st == VT_OK && i < s->n_test; i++) s->rows_te[i] = s->feat_row[s->test[i]];
    }
    if (st == VT_OK && (opt->metrics & VT_SCORE_PREDICTIVITY)) {
        int64_t smaller = s->n_train < s->n_test ? s->n_train : s->n_test;
        s->n_folds = (int)(opt->folds < smaller / 2 ? opt->folds : smaller / 2);
        s->fold_tr = vt_malloc((size_t)s->n_train, sizeof *s->fold_tr);
        s->fold_te = vt_malloc((size_t)s->n_test, sizeof *s->fold_te);
        if (s->n_folds < 2)
            st = vt_fail(VT_ERR_ARG, "predictivity needs at least 4 stimuli in each split");
        else if (!s->fold_tr || !s->fold_te)
            st = VT_ERR_NOMEM;
        if (st == VT_OK) st = make_folds(b, s->train, s->n_train, s->n_folds, opt->seed, s->fold_tr);
        if (st == VT_OK) st = make_folds(b, s->test, s->n_test, s->n_folds, opt->seed + 1, s->fold_te);
        for (int64_t i = 0; st == VT_OK && opt->folds_out && i < s->n_train; i++)
            opt->folds_out[s->train[i]] = s->fold_tr[i];
        for (int64_t i = 0; st == VT_OK && opt->folds_out && i < s->n_test; i++)
            opt->folds_out[s->test[i]] = s->fold_te[i];
    }
    if (st == VT_OK) {
        s->ytr_all = brain_means(b, s->train, s->n_train, units, all_units, -1);
        s->yte_all = brain_means(b, s->test, s->n_test, units, all_units, -1);
        if (!s->ytr_all || !s->yte_all)
            st = VT_ERR_NOMEM;
        else if (vt_tensor_check_finite(s->ytr_all, "brain responses (a stimulus with no trial for a unit)") != VT_OK ||
                 vt_tensor_check_finite(s->yte_all, "brain responses (a stimulus with no trial for a unit)") != VT_OK)
            st = VT_ERR_ARG;
    }
    free(units);
    if (st == VT_OK) st = vt_results_put_model(db, model, &s->model_id);
    if (st == VT_OK) st = vt_results_put_subject(db, b->subject ? b->subject : "subject", b->source, &s->subject_id);
    for (int m = 0; st == VT_OK && m < N_METRICS; m++)
        st = vt_results_put_metric(db, metric_names[m], NULL, &s->metric_id[m]);
    if (st == VT_OK) st = make_rois(s);
    if (st == VT_OK && summary) {
        summary->picks = vt_calloc((size_t)(s->n_rois * N_METRICS), sizeof *summary->picks);
        if (!summary->picks) st = VT_ERR_NOMEM;
        summary->n_train = s->n_train;
        summary->n_test = s->n_test;
        summary->n_units = b->n_units;
    }
    return st;
}

static void scorer_free(scorer *s)
{
    free_rois(s);
    vt_tensor_free(s->ytr_all);
    vt_tensor_free(s->yte_all);
    free(s->fold_tr);
    free(s->fold_te);
    free(s->feat_row);
    free(s->train);
    free(s->test);
    free(s->rows_tr);
    free(s->rows_te);
    memset(s, 0, sizeof *s);
}

vt_status vt_score_many(const vt_features *f, int n_brains, const vt_brain *const *brains, const vt_score_options *opt,
                        vt_results *db, const int64_t *run_ids, const vt_results_model *model,
                        vt_score_summary *summaries)
{
    if (n_brains < 1) return vt_fail(VT_ERR_ARG, "no brain data to score against");
    scorer *s = vt_calloc((size_t)n_brains, sizeof *s);
    int64_t *scored = vt_calloc((size_t)n_brains, sizeof *scored);
    vt_status st = s && scored ? VT_OK : VT_ERR_NOMEM;
    for (int k = 0; k < n_brains && summaries; k++) memset(&summaries[k], 0, sizeof summaries[k]);
    for (int k = 0; st == VT_OK && k < n_brains; k++) {
        st = scorer_setup(&s[k], f, brains[k], opt, db, run_ids[k], model, summaries ? &summaries[k] : NULL);
        if (st != VT_OK && n_brains > 1)
            st = vt_fail_context(st, "%s: ", brains[k]->subject ? brains[k]->subject : "subject");
    }
    /* Layers outside, subjects inside: each layer's shared work is done once. */
    layer_cache lc = {.li = -1};
    int first = opt->second_half ? f->n_layers / 2 : 0;
    for (int li = first; st == VT_OK && li < f->n_layers; li++)
        for (int k = 0; st == VT_OK && k < n_brains; k++) st = score_layer(&s[k], li, &scored[k], &lc);
    cache_clear(&lc);
    for (int k = 0; st == VT_OK && k < n_brains; k++) {
        if (scored[k] == 0) st = vt_fail(VT_ERR_ARG, "%s: no layer could be scored", f->path);
        if (st == VT_OK) st = finish_picks(&s[k], summaries ? &summaries[k] : NULL);
        if (summaries) summaries[k].layers_scored = scored[k];
    }
    for (int k = 0; s && k < n_brains; k++) {
        scorer_free(&s[k]);
        if (st != VT_OK && summaries) vt_score_summary_free(&summaries[k]);
    }
    free(s);
    free(scored);
    return st;
}

vt_status vt_score(const vt_features *f, const vt_brain *b, const vt_score_options *opt, vt_results *db, int64_t run_id,
                   const vt_results_model *model, vt_score_summary *summary)
{
    return vt_score_many(f, 1, &b, opt, db, &run_id, model, summary);
}
