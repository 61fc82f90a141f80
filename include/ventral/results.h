/* The results database: one SQLite file holding every benchmark run, model, layer, subject,
 * ROI, metric and score, with provenance. Schema and its version: docs/results_db.md.
 *
 *   vt_results *db;
 *   if (vt_results_open("results.sqlite", VT_RESULTS_CREATE, &db) != VT_OK) ...
 *   int64_t run, model, layer, subj, roi, metric;
 *   vt_results_run_start(db, config_json, true, &run, NULL);   // resumes an unfinished run of the same config
 *   vt_results_model m = vt_results_model_init();
 *   m.name = "resnet18"; m.sha256 = "ab12..."; m.family = "cnn"; m.trained = 1; m.top1 = 69.76;
 *   vt_results_put_model(db, &m, &model);
 *   ...
 *   vt_results_begin(db);                                      // one transaction per unit of work
 *   vt_results_score s = vt_results_score_init();
 *   s.run_id = run; s.layer_id = layer; ...; s.split = VT_SPLIT_TEST; s.value = 0.31;
 *   vt_results_put_score(db, &s);
 *   vt_results_commit(db);
 *   vt_results_run_finish(db, run, "finished");
 *   vt_results_close(db);
 *
 * Every put_* is an upsert keyed by the table's unique constraint, so re-inserting a unit of
 * work that was already committed (a benchmark resumed after kill -9) changes nothing and
 * duplicates nothing. The file is in WAL mode: a killed writer leaves a consistent database.
 * Unknown numeric values are NaN (stored as SQL NULL); unknown strings are NULL.
 * Strings passed in are copied by SQLite; strings returned in tables belong to the table.
 */
#ifndef VENTRAL_RESULTS_H
#define VENTRAL_RESULTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ventral/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Schema version stored in PRAGMA user_version; a file with a newer version is refused. */
#define VT_RESULTS_SCHEMA_VERSION 1

typedef struct vt_results vt_results;

enum {
    VT_RESULTS_READONLY = 0, /* open an existing database read-only */
    VT_RESULTS_WRITE = 1,    /* open an existing database for writing */
    VT_RESULTS_CREATE = 3    /* open for writing, creating file and schema if missing */
};

/* Opens `path`. VT_ERR_IO if it cannot be opened (or does not exist without CREATE),
 * VT_ERR_FORMAT if it is not a SQLite file or not a ventral results database,
 * VT_ERR_UNSUPPORTED if its schema version is newer than this library's. */
vt_status vt_results_open(const char *path, int flags, vt_results **out);
/* Closes the database; NULL is a no-op. An open transaction is rolled back. */
void vt_results_close(vt_results *db);
/* The path given to vt_results_open (owned by db). */
const char *vt_results_path(const vt_results *db);

/* Explicit transactions; put_* outside one are each their own transaction. */
vt_status vt_results_begin(vt_results *db);
vt_status vt_results_commit(vt_results *db);
vt_status vt_results_rollback(vt_results *db);

/* Runs. `config_json` is the full configuration, stored verbatim. With `resume`, the newest
 * run with byte-identical configuration text whose status is not 'finished' is reused (*resumed = true) instead of
 * starting a new one. `resumed` may be NULL. */
vt_status vt_results_run_start(vt_results *db, const char *config_json, bool resume, int64_t *run_id, bool *resumed);
/* Sets the run's status ('finished' or 'failed') and its finish time. */
vt_status vt_results_run_finish(vt_results *db, int64_t run_id, const char *status);

typedef struct vt_results_model {
    const char *name;          /* required; unique together with sha256 */
    const char *sha256;        /* file SHA-256 (hex); NULL is stored as "" */
    const char *family;        /* architecture family: "cnn", "transformer", ... */
    const char *task;          /* training task: "classification", "self-supervised", ... */
    const char *training_data; /* "imagenet1k", "ecoset", ... */
    int trained;               /* 1 trained, 0 randomly initialised, -1 unknown */
    double top1;               /* ImageNet top-1 accuracy in %, NaN if unknown */
    int64_t n_params;          /* parameter count, -1 if unknown */
    const char *transform;     /* test-time transform name */
} vt_results_model;

typedef struct vt_results_layer {
    int64_t index;     /* execution order, 0-based; unique within the model */
    const char *name;  /* required */
    const char *op;    /* ONNX op type */
    const char *shape; /* per-stimulus output shape, e.g. "64x56x56" */
    int64_t features;  /* p (flattened output size), -1 if unknown */
    int64_t k;         /* projected dimension stored in the feature store, -1 if unknown */
    double ed;         /* effective dimensionality (participation ratio), NaN if unknown */
} vt_results_layer;

typedef enum vt_split { VT_SPLIT_TRAIN = 0, VT_SPLIT_TEST = 1 } vt_split;

typedef struct vt_results_score {
    int64_t run_id, layer_id, subject_id, roi_id, metric_id; /* the model is the layer's */
    vt_split split;
    double value;         /* required, finite */
    double ci_low;        /* CI over stimuli, NaN if not computed */
    double ci_high;       /* NaN if not computed */
    double noise_ceiling; /* NaN if unknown */
    double normalised;    /* value normalised by the ceiling; NaN if unknown */
    int selected;         /* 1 if this is the layer chosen on the train split */
} vt_results_score;

/* Initialisers that mark every optional field unknown. */
vt_results_model vt_results_model_init(void);
vt_results_layer vt_results_layer_init(void);
vt_results_score vt_results_score_init(void);

/* Upserts; *id (may be NULL) receives the row id. A model is keyed by (name, sha256), a layer
 * by (model, index), subjects/ROIs/metrics by name, a score by (run, layer, subject, ROI, metric,
 * split). Re-putting a key updates its other columns. */
vt_status vt_results_put_model(vt_results *db, const vt_results_model *m, int64_t *id);
vt_status vt_results_put_layer(vt_results *db, int64_t model_id, const vt_results_layer *l, int64_t *id);
vt_status vt_results_put_subject(vt_results *db, const char *name, const char *dataset, int64_t *id);
vt_status vt_results_put_roi(vt_results *db, const char *name, const char *description, int64_t *id);
vt_status vt_results_put_metric(vt_results *db, const char *name, const char *description, int64_t *id);
vt_status vt_results_put_score(vt_results *db, const vt_results_score *s);

/* A model's representational similarity vector (strict upper triangle of an n×n RSM, row-major,
 * n(n−1)/2 values) for model-to-model RSA: `kind` names what it is ("crsa" for the selected
 * layer's RSM, "versa" for the veRSA-predicted RSM, ...). subject_id / roi_id are 0 when the RSM
 * does not depend on them. Either `upper` (stored in the database) or `npy_path` (a .npy holding
 * the full RSM or its upper triangle, stored by reference) may be NULL, not both. */
vt_status vt_results_put_rsm(vt_results *db, int64_t run_id, int64_t model_id, int64_t layer_id, const char *kind,
                             int64_t subject_id, int64_t roi_id, int64_t n, const double *upper, const char *npy_path);

/* Sets the selected flag of every score of `run_id` (0: every run) from the train split: per
 * (run, model, metric, ROI, subject) the layer with the largest train value (ties: the lowest
 * layer index) gets selected = 1 on both splits, every other layer 0. */
vt_status vt_results_mark_selected(vt_results *db, int64_t run_id);

/* Reading: scores joined with their model, layer, subject, ROI and metric. */
typedef struct vt_results_row {
    int64_t run_id, model_id, layer_id;
    const char *model, *model_sha256, *family, *task, *training_data, *transform; /* NULL if unknown */
    int trained;
    double top1;
    int64_t n_params;
    int64_t layer_index, n_layers; /* n_layers: layers stored for this model */
    const char *layer_name, *layer_op, *layer_shape;
    int64_t layer_features, layer_k;
    double layer_ed;
    const char *subject, *roi, *metric;
    vt_split split;
    double value, ci_low, ci_high, noise_ceiling, normalised;
    int selected;
} vt_results_row;

typedef struct vt_results_table {
    size_t n;
    vt_results_row *rows;
    void *pool; /* owner of the strings */
} vt_results_table;

/* Every score of `run_id` (0: every run), ordered by run, model name, model SHA-256, layer
 * index, subject, ROI, metric, split. */
vt_status vt_results_scores(vt_results *db, int64_t run_id, vt_results_table **out);
/* The same restricted to one metric and/or ROI (NULL: any): analyses of a large run load one
 * (metric, ROI) cell at a time. Equal strings of a table share one copy. */
vt_status vt_results_scores_of(vt_results *db, int64_t run_id, const char *metric, const char *roi,
                               vt_results_table **out);
void vt_results_table_free(vt_results_table *t);

/* Every run, oldest first. Strings are malloc'd (finished is NULL while running); free the
 * array with vt_results_runs_free. */
typedef struct vt_results_run {
    int64_t id;
    char *started, *finished, *ventral_version, *status, *config_json;
} vt_results_run;
vt_status vt_results_runs(vt_results *db, vt_results_run **runs, size_t *n);
void vt_results_runs_free(vt_results_run *runs, size_t n);

/* The newest run id that has scores (0 if none). */
vt_status vt_results_latest_run(vt_results *db, int64_t *run_id);

/* Row counts, for checks and summaries. `table` is one of the schema's table names. */
vt_status vt_results_count(vt_results *db, const char *table, int64_t *count);

typedef enum vt_results_format { VT_RESULTS_CSV, VT_RESULTS_JSON } vt_results_format;

/* Writes the joined score rows (CSV: one header line, RFC 4180 quoting, numbers with 17
 * significant digits, empty fields for unknown values; JSON: an object with the schema
 * version, the runs, the models, the layers and the score rows, null for unknown values).
 * run_id 0 exports every run. vt_results_export_path writes atomically (temp + rename). */
vt_status vt_results_export(vt_results *db, int64_t run_id, vt_results_format fmt, FILE *out);
vt_status vt_results_export_path(vt_results *db, int64_t run_id, vt_results_format fmt, const char *path);

/* Imports a CSV in the export format (header names select the columns; the order is free;
 * model, layer_index, layer_name, subject, roi, metric, split and value are required). Runs
 * named in run_id are created when missing (config {"imported_from": path}, status finished).
 * Rows are committed in transactions of `batch` rows (0: one transaction); re-importing the
 * same file is idempotent. *n_rows (may be NULL) receives the number of score rows read. */
vt_status vt_results_import_csv(vt_results *db, const char *path, int64_t batch, int64_t *n_rows);

/* Imports RSM vectors from a CSV with columns run_id, model, model_sha256, layer_index, kind,
 * subject, roi, npy (a .npy path, relative to the CSV's folder when not absolute). With
 * `embed` the vectors are read and stored in the database, otherwise only their paths are. */
vt_status vt_results_import_rsms(vt_results *db, const char *path, bool embed, int64_t *n_rows);

/* A stored RSM vector, loaded (from the database or its .npy). *upper is malloc'd (free it). */
typedef struct vt_results_rsm {
    int64_t model_id;
    char *model; /* malloc'd */
    int64_t n;   /* stimuli */
    double *upper;
} vt_results_rsm;

/* The RSM vectors of `kind` for one (run, subject, roi) — NULL names mean "not applicable" (0) —
 * one per model, ordered by model name. Free with vt_results_rsms_free. */
vt_status vt_results_rsms(vt_results *db, int64_t run_id, const char *kind, const char *subject, const char *roi,
                          vt_results_rsm **out, size_t *count);
void vt_results_rsms_free(vt_results_rsm *r, size_t count);

#ifdef __cplusplus
}
#endif
#endif
