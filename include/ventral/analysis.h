/* Analyses over the results database (METHODS §6, §9): layer selection, model ranking with
 * bootstrap CIs over subjects, Spearman correlations with model properties, grouped comparisons
 * with bootstrap CIs over models and subjects, layer profiles and model-to-model RSA.
 *
 *   vt_results_table *t;  vt_results_scores(db, run_id, &t);
 *   vt_analysis_opts o = vt_analysis_opts_default();
 *   vt_ranking *r;        vt_analysis_ranking(t, "versa", "OTC", &o, &r);
 *   for (size_t i = 0; i < r->n; i++) printf("%s %.3f\n", r->models[i].model, r->models[i].mean);
 *   vt_ranking_free(r);   vt_results_table_free(t);     // the ranking borrows the table's strings
 *
 * Bootstrap (deterministic, reproducible outside ventral): over subjects, resample b draws the
 * subject indices with vt_bootstrap_draw(seed, b, S, idx) (the S subjects sorted by name); for
 * groups, resample b uses the stream vt_rng_make(seed, 2³² + b): first S subject indices, then,
 * group by group in sorted order, n_g model indices, each with vt_rng_below. Intervals are
 * vt_bootstrap_percentile's (numpy's default linear interpolation).
 */
#ifndef VENTRAL_ANALYSIS_H
#define VENTRAL_ANALYSIS_H

#include "ventral/results.h"
#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_analysis_opts {
    int n_boot;    /* bootstrap resamples (default 1000; 0 = no intervals) */
    uint64_t seed; /* default 0 */
    double level;  /* confidence level (default 0.95) */
} vt_analysis_opts;

vt_analysis_opts vt_analysis_opts_default(void);

/* One model's score in one (metric, ROI): per subject, the layer with the best train score
 * (ties: the lowest layer index) and that layer's test score; then the mean over subjects. */
typedef struct vt_model_score {
    int64_t model_id;
    const char *model, *family, *task, *training_data; /* borrowed from the table; NULL if unknown */
    int trained;                                       /* 1, 0, -1 unknown */
    double top1;                                       /* NaN if unknown */
    int64_t n_params;                                  /* -1 if unknown */
    int64_t n_layers;
    size_t n_subjects; /* subjects with a selected layer whose test score exists */
    const char **subject;
    int64_t *layer_index;                        /* selected layer per subject */
    double *train, *test;                        /* the selected layer's scores per subject */
    double *ceiling, *normalised;                /* per subject; NaN if unknown */
    double mean, ci_low, ci_high;                /* test score: mean over subjects, bootstrap CI over subjects */
    double norm_mean, norm_ci_low, norm_ci_high; /* the same for the normalised score (NaN if any unknown) */
    double ceiling_mean;                         /* mean noise ceiling over subjects (NaN if any unknown) */
    double ed;                                   /* mean over subjects of the selected layer's ED (NaN if unknown) */
    double depth;                                /* mean over subjects of index / (n_layers − 1) */
    int rank;                                    /* 1 = best mean */
} vt_model_score;

/* Normalised score of a row: the stored value if known, else value / noise_ceiling when the
 * ceiling is known and positive, else NaN. */
double vt_analysis_normalised(const vt_results_row *row);

typedef struct vt_ranking {
    const char *metric, *roi; /* borrowed */
    size_t n;
    vt_model_score *models; /* best mean first; ties by model name */
} vt_ranking;

/* Ranks every model of the table that has scores for (metric, roi). VT_ERR_ARG when the table
 * has no score for them. */
vt_status vt_analysis_ranking(const vt_results_table *t, const char *metric, const char *roi, const vt_analysis_opts *o,
                              vt_ranking **out);
void vt_ranking_free(vt_ranking *r);

/* The distinct (metric, roi) pairs of the table, sorted by metric then ROI (strings borrowed). */
typedef struct vt_analysis_cell {
    const char *metric, *roi;
} vt_analysis_cell;
vt_status vt_analysis_cells(const vt_results_table *t, vt_analysis_cell **cells, size_t *n);

/* Spearman rank correlation (average ranks for ties) of the pairs where both are finite, and
 * its two-sided p-value from the t distribution with n − 2 degrees of freedom (as
 * scipy.stats.spearmanr). rho and p are NaN when fewer than 3 pairs remain or a side is constant. */
typedef struct vt_correlation {
    size_t n;
    double rho, p;
} vt_correlation;
vt_correlation vt_analysis_spearman(const double *x, const double *y, size_t n);

/* Spearman correlations of the models' mean test scores with ImageNet top-1, effective
 * dimensionality of the selected layers and parameter count (in that order). */
enum { VT_ANALYSIS_TOP1, VT_ANALYSIS_ED, VT_ANALYSIS_PARAMS, VT_ANALYSIS_CORR_COUNT };
extern const char *const vt_analysis_corr_names[VT_ANALYSIS_CORR_COUNT]; /* "imagenet_top1", "ed", "n_params" */
void vt_analysis_correlations(const vt_ranking *r, vt_correlation out[VT_ANALYSIS_CORR_COUNT]);

/* Grouped comparison of models by an attribute: "family", "task", "training_data" or "trained"
 * (values "trained" / "random"). Models with the attribute unknown are left out. Each group's
 * estimate is the mean over its models of their mean test score; its CI resamples the subjects
 * (shared draw) and the models within each group. With exactly two groups, the difference
 * groups[0] − groups[1] and its CI from the same resamples. */
typedef struct vt_group {
    const char *value; /* borrowed */
    size_t n_models;
    double mean, ci_low, ci_high;
} vt_group;

typedef struct vt_group_comparison {
    const char *attribute;
    size_t n_groups;
    vt_group *groups;                       /* sorted by value */
    double diff, diff_ci_low, diff_ci_high; /* NaN unless n_groups == 2 */
} vt_group_comparison;

vt_status vt_analysis_groups(const vt_ranking *r, const char *attribute, const vt_analysis_opts *o,
                             vt_group_comparison **out);
void vt_group_comparison_free(vt_group_comparison *g);

/* Layer profile of one model: every layer's train and test score, averaged over subjects,
 * against relative depth index / (n_layers − 1). */
typedef struct vt_layer_profile {
    int64_t model_id;
    const char *model; /* borrowed */
    size_t n;
    int64_t *layer_index;
    double *depth, *train, *test; /* NaN where no subject has the score */
} vt_layer_profile;
vt_status vt_analysis_profiles(const vt_results_table *t, const char *metric, const char *roi, vt_layer_profile **out,
                               size_t *count);
void vt_layer_profiles_free(vt_layer_profile *p, size_t count);

/* Model-to-model RSA: the Pearson ("pearson") or Spearman ("spearman") correlation between
 * the stored RSM vectors of `kind` of every pair of models (vt_results_rsms). *names receives
 * the model names (malloc'd array of malloc'd strings; free with vt_analysis_names_free),
 * *matrix a new M×M float64 tensor. VT_ERR_ARG if fewer than 2 models have an RSM of that
 * kind or their stimulus counts differ. */
vt_status vt_analysis_model_rsm(vt_results *db, int64_t run_id, const char *kind, const char *subject, const char *roi,
                                const char *method, char ***names, vt_tensor **matrix);
void vt_analysis_names_free(char **names, size_t n);

/* The same averaged over subjects: for each subject with RSMs of `kind` in `roi` (NULL: RSMs not
 * tied to a ROI) the model×model matrix, then the element-wise mean over the subjects that share
 * the first subject's model list (a subject with another list, or with fewer than 2 models, is
 * left out). *n_subjects (may be NULL) receives how many were averaged. */
vt_status vt_analysis_model_rsm_mean(vt_results *db, int64_t run_id, const char *kind, const char *roi,
                                     const char *method, char ***names, vt_tensor **matrix, size_t *n_subjects);

/* Writes every analysis above for each (metric, ROI) cell of t (only those matching `metric`
 * and `roi` when not NULL): as a text report (a ranking table per cell, the correlations and
 * the grouped comparisons) or, with `json`, as one JSON object {"cells": [...]} holding every
 * number, per-subject values included. t must hold one run. */
vt_status vt_analysis_write(const vt_results_table *t, const char *metric, const char *roi, const vt_analysis_opts *o,
                            bool json, FILE *f);

/* The same straight from the database, loading one (metric, ROI) cell at a time so that memory
 * stays bounded by the largest cell. run_id must be a run (not 0). */
vt_status vt_analysis_write_db(vt_results *db, int64_t run_id, const char *metric, const char *roi,
                               const vt_analysis_opts *o, bool json, FILE *f);

/* The (metric, ROI) cells of a run (0: every run) read from the database, sorted by metric then
 * ROI; the strings are owned by the array: free with vt_analysis_db_cells_free. */
vt_status vt_analysis_db_cells(vt_results *db, int64_t run_id, vt_analysis_cell **cells, size_t *n);
void vt_analysis_db_cells_free(vt_analysis_cell *cells, size_t n);

/* The grouping attributes vt_analysis_groups accepts, in report order. */
extern const char *const vt_analysis_attributes[4];

#ifdef __cplusplus
}
#endif
#endif
