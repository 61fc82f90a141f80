/* Scoring a model's features against brain data (METHODS §5, §6, §9): classical RSA (cRSA),
 * voxel-encoding RSA (veRSA) and voxel-wise encoding, every layer scored on a train and a test
 * split of the stimuli, the layer chosen on the train split only, its test score reported with
 * bootstrap CIs over test stimuli and normalised by a noise ceiling. Scores go to the results
 * database (results.h).
 *
 *   vt_score_options opt;
 *   vt_score_protocol("default", &opt);       // or "conwell2024"
 *   vt_score(features, brain, &opt, db, run_id, &model, &summary);
 *
 * Per layer: cRSA = compare(RSM(features), brain RSM) on each split. One ridge fit per layer
 * over every unit of every ROI (alpha per unit by LOO-GCV on the train split): veRSA train =
 * RSM of the LOO predictions vs the train brain RSM, veRSA test = RSM of the test predictions vs
 * the test brain RSM; encoding = summary (median, or mean under conwell2024) over the ROI's units
 * of the Pearson r of the LOO (train) or test predictions. ROIs come from the store's unit ROI
 * labels, plus their union "all" when there are several (one ROI "all" without labels). Brain RSMs use trial-averaged
 * responses (NaN trials skipped). Ceilings (the largest correlation a noiseless model could reach): RSA scores by √ of
 * the split-half reliability of the test brain RSM (even vs odd repetitions, Spearman–Brown); encoding by the summary
 * over units of √(NC/100), NC the NSD noise ceiling from the units' NCSNR on the test stimuli. Neural predictivity
 * (METHODS §10; Brain-Score style, with ridge as the read-out): within each split, k-fold cross-validated ridge
 * predictions (folds stratified by the store's 'category' column when present), the median over the ROI's units of
 * Pearson r; its ceiling is the median split-half reliability (Spearman–Brown) of the units on the test stimuli.
 */
#ifndef VENTRAL_SCORE_H
#define VENTRAL_SCORE_H

#include "ventral/brain.h"
#include "ventral/features.h"
#include "ventral/results.h"
#include "ventral/ridge.h"

#ifdef __cplusplus
extern "C" {
#endif

/* VT_SCORE_ALL is the fMRI set; predictivity (METHODS §10, for IT recordings) is asked for explicitly. */
enum { VT_SCORE_CRSA = 1, VT_SCORE_VERSA = 2, VT_SCORE_ENCODING = 4, VT_SCORE_ALL = 7, VT_SCORE_PREDICTIVITY = 8 };

typedef enum vt_split_kind {
    VT_SPLIT_KIND_RANDOM,  /* seeded random partition; train_fraction of the stimuli train */
    VT_SPLIT_KIND_ODD_EVEN /* train = even positions, test = odd (DeepNSD's [::2] / [1::2]) */
} vt_split_kind;

typedef struct vt_score_options {
    const char *protocol; /* name recorded in the configuration */
    unsigned metrics;     /* VT_SCORE_* bits */
    vt_split_kind split;
    double train_fraction; /* random split only */
    uint64_t seed;         /* split and bootstrap seed */
    int64_t bootstrap;     /* resamples for CIs of the selected layers' test scores (every metric: the
                            * test stimuli resampled with vt_bootstrap_draw(seed, r, n_test), see
                            * vt_compare_bootstrap / vt_compare_columns_bootstrap); 0 = none */
    double ci_level;       /* e.g. 0.95 */
    const double *alphas;  /* borrowed; NULL = the ridge default grid */
    int n_alphas;
    vt_ridge_criterion criterion;
    bool standardize;      /* z-score features with the train mean/std (ddof 0) before ridge */
    bool second_half;      /* score only the second half of the layers, in execution order */
    bool encoding_mean;    /* encoding summary: mean over units (else median) */
    bool crsa_unprojected; /* cRSA from the RSMs of the *unprojected* features (the store's rsm/, written by
                            * `extract --unprojected-rsm`; a layer SRP did not project may use its stored
                            * features); a projected layer without one is an error before anything is scored */
    int folds;             /* predictivity: k of the k-fold cross-validation within each split (default 10) */
    int32_t *folds_out;    /* optional [brain stimuli]: receives each stimulus's fold (for checks) */
} vt_score_options;

/* Fills `opt` for a named protocol: "default" (METHODS §5–§6 defaults: random 50/50 split,
 * 20 alphas 1e-1..1e7, MSE criterion, median, every layer, 1000 bootstrap resamples, cRSA on
 * the stored (projected) features) or "conwell2024" (METHODS §6, last item: odd/even split,
 * standardised features, 7 alphas 1e-1..1e5, LOO-Pearson criterion, mean over voxels,
 * second-half layers, cRSA on the RSMs of the unprojected features). */
vt_status vt_score_protocol(const char *name, vt_score_options *opt);

/* The selected layer of one (ROI, metric): what `ventral score` prints. */
typedef struct vt_score_pick {
    char roi[64], metric[16];
    int layer_index; /* engine index */
    char layer_name[128];
    double train, test, ci_low, ci_high, ceiling, normalised;
} vt_score_pick;

typedef struct vt_score_summary {
    int n_picks;
    vt_score_pick *picks; /* malloc'd; free with vt_score_summary_free */
    int64_t n_train, n_test, n_units, layers_scored;
} vt_score_summary;
void vt_score_summary_free(vt_score_summary *s);

/* VT_ERR_ARG naming the first stimulus of `b` that the feature store lacks: what vt_score would
 * stop on, checked by a caller before it records a run. */
vt_status vt_score_check_stimuli(const vt_features *f, const vt_brain *b);

/* Scores every (layer, ROI, metric) and writes train and test scores of `run_id` into `db`
 * under the model `model` (its name and SHA-256 at least), marks the selected layers and
 * stores their test RSMs for model-to-model analyses. Stimuli are matched by id; brain
 * stimuli missing from the features are an error naming one. `summary` may be NULL. */
vt_status vt_score(const vt_features *f, const vt_brain *b, const vt_score_options *opt, vt_results *db, int64_t run_id,
                   const vt_results_model *model, vt_score_summary *summary);

/* vt_score for several subjects (brains[k] into run_ids[k], summaries[k]; summaries may be NULL)
 * in one pass over the layers: each layer is read, and its effective dimensionality computed, once;
 * subjects whose train and test stimuli are the same (same stimuli, same split) also share the
 * split features, the cRSA model RSMs and the ridge decomposition. The database ends up with the
 * same rows as n_brains separate vt_score calls. */
vt_status vt_score_many(const vt_features *f, int n_brains, const vt_brain *const *brains, const vt_score_options *opt,
                        vt_results *db, const int64_t *run_ids, const vt_results_model *model,
                        vt_score_summary *summaries);

#ifdef __cplusplus
}
#endif
#endif
