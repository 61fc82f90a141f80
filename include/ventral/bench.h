/* Many models against brain data in one resumable command (issue 8, METHODS §1–§9).
 *
 * A configuration (YAML, docs/bench.md) names the stimuli, the brain stores, the models with
 * their metadata, and the scoring options. vt_bench extracts each model's features into a
 * content-addressed cache (reused when the model file, stimuli, transform, projection and
 * capture are unchanged), scores them against every brain store and records everything in the
 * results database. Finished (model, subject) pairs of an unfinished run are skipped, so a run
 * killed at any moment resumes where it stopped, with no lost or duplicated result: outputs are
 * written atomically and database writes are transactional upserts.
 *
 *   vt_bench_config *cfg;
 *   vt_bench_config_load("bench.yaml", &cfg);
 *   vt_bench_run(cfg, 1, stderr_logger, NULL);
 *   vt_bench_config_free(cfg);
 */
#ifndef VENTRAL_BENCH_H
#define VENTRAL_BENCH_H

#include "ventral/extract.h"
#include "ventral/results.h"
#include "ventral/score.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_bench_model {
    char *name, *path, *family, *task, *training_data, *transform;
    int trained;    /* 1, 0, or -1 unknown */
    double top1;    /* NaN if unknown */
    int64_t params; /* -1 if unknown */
} vt_bench_model;

typedef struct vt_bench_config {
    char *path; /* the configuration file */
    char *name;
    char *db;        /* results database */
    char *cache;     /* feature cache folder */
    char *stimuli;   /* stimulus source */
    char *transform; /* default transform for models that name none */
    char *layers;    /* capture spec */
    char *protocol;
    vt_precision precision; /* engine precision of the extraction (default f32) */
    double eps;
    int64_t k, batch, bootstrap;
    uint64_t seed;
    unsigned metrics;
    int split; /* -1: the protocol's, else vt_split_kind */
    int n_brain;
    char **brain; /* brain store paths */
    int n_models;
    vt_bench_model *models;
} vt_bench_config;

/* Reads and validates a configuration; relative paths are resolved against its folder. Errors
 * name the file and the key. */
vt_status vt_bench_config_load(const char *path, vt_bench_config **out);
void vt_bench_config_free(vt_bench_config *cfg);

/* Progress messages (one line each, no newline); may be NULL. */
typedef void (*vt_bench_log_fn)(void *user, const char *line);

typedef struct vt_bench_info {
    int64_t run_id;
    int extracted, cached, scored, skipped; /* models extracted / served from cache; pairs scored / skipped */
} vt_bench_info;

/* Runs the benchmark with `jobs` worker processes (models are divided among them, each with
 * threads / jobs threads). `info` may be NULL. */
vt_status vt_bench_run(const vt_bench_config *cfg, int jobs, vt_bench_log_fn log, void *user, vt_bench_info *info);

#ifdef __cplusplus
}
#endif
#endif
