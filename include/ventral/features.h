/* The feature store: one HDF5 file per (model, stimulus set) holding every captured layer's
 * activations, projected to k dimensions by SRP where the layer is wider (METHODS §2–§3).
 * Layout (docs/feature_store.md): root attributes for provenance; /stimulus_ids (strings);
 * /layers/L0000, L0001, ... float32 [n_stimuli, width] with attributes name, op, index, shape,
 * features (per stimulus, before projection), projected (0/1). Optionally (extract
 * --unprojected-rsm) /rsm/L0000, ... float64 [n_stimuli, n_stimuli]: the Pearson RSM of the layer's
 * *unprojected* features over all stimuli (METHODS §6, the conwell2024 cRSA); stores without them
 * are still valid.
 *
 * Writing streams rows in batches, so a layer is never held for all stimuli in memory:
 *
 *   vt_features_writer *w;
 *   vt_features_create("F.h5", n, ids, &prov, &w);
 *   int L;  vt_features_add_layer(w, &info, p, width, projected, &L);   // when a layer first appears
 *   vt_features_write_rows(w, L, row0, block);                         // block: b × width float32
 *   vt_features_commit(w);                                             // atomic rename; or _abandon
 *
 * Reading:
 *   vt_features *f;  vt_features_open("F.h5", &f);
 *   for (i = 0; i < f->n_layers; i++) { vt_tensor *x; vt_features_read_layer(f, i, &x); ... }
 */
#ifndef VENTRAL_FEATURES_H
#define VENTRAL_FEATURES_H

#include <stdbool.h>

#include "ventral/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VT_FEATURES_FORMAT         "ventral-features"
#define VT_FEATURES_FORMAT_VERSION 1

/* Provenance written as root attributes (strings may be NULL → ""). */
typedef struct vt_features_provenance {
    const char *model;        /* model file as given */
    const char *model_sha256; /* hex digest of the model file */
    const char *transform;    /* transform name or description */
    const char *stimuli;      /* stimulus source */
    const char *capture;      /* capture spec */
    const char *precision;    /* engine precision (vt_precision_name); NULL: not recorded */
    uint64_t seed;            /* SRP seed */
    double eps;               /* JL epsilon (0 when k was given) */
    int64_t k;                /* SRP target dimension */
} vt_features_provenance;

typedef struct vt_features_writer vt_features_writer;

vt_status vt_features_create(const char *path, int64_t n_stimuli, char *const *stimulus_ids,
                             const vt_features_provenance *prov, vt_features_writer **out);
/* Declares a layer (its shape as the engine reports it, features per stimulus p, stored width,
 * whether SRP projected it). *handle identifies it in write_rows. */
vt_status vt_features_add_layer(vt_features_writer *w, const vt_layer_info *layer, int64_t features, int64_t width,
                                bool projected, int *handle);
/* Writes rows [row0, row0 + b) of the layer from a b × width float32 tensor. */
vt_status vt_features_write_rows(vt_features_writer *w, int handle, int64_t row0, const vt_tensor *rows);
/* Stores the n × n Pearson RSM (float32 or float64, kept as float64; NaN rows allowed) of the
 * layer's unprojected features as /rsm/<dataset>. At most once per layer. */
vt_status vt_features_write_rsm(vt_features_writer *w, int handle, const vt_tensor *rsm);
/* Layers declared so far. */
int vt_features_layer_count(const vt_features_writer *w);
/* Checks every layer got every row, closes and renames into place; frees w either way. */
vt_status vt_features_commit(vt_features_writer *w);
/* Removes the temporary file and frees w. NULL is a no-op. */
void vt_features_abandon(vt_features_writer *w);

typedef struct vt_feature_layer {
    int index;        /* the engine's layer index */
    char *name, *op;  /* owned */
    char *shape;      /* per stimulus, e.g. "64x56x56" */
    int64_t features; /* per stimulus before projection */
    int64_t width;    /* stored columns */
    bool projected;
    bool has_rsm;     /* /rsm/<dataset> holds the RSM of the unprojected features */
    char dataset[16]; /* "L0000" ... */
} vt_feature_layer;

typedef struct vt_features {
    char *path;
    int64_t n_stimuli;
    char **stimulus_ids;
    int n_layers;
    vt_feature_layer *layers;
    char *model, *model_sha256, *transform, *stimuli, *capture, *ventral_version;
    uint64_t seed;
    int64_t k;
    double eps;
} vt_features;

vt_status vt_features_open(const char *path, vt_features **out);
void vt_features_free(vt_features *f);
/* Reads layer i (position in f->layers) as a new owned float32 n_stimuli × width tensor. */
vt_status vt_features_read_layer(const vt_features *f, int i, vt_tensor **out);
/* Reads layer i's RSM of unprojected features as a new owned float64 n_stimuli × n_stimuli tensor
 * (NaN rows and columns for stimuli whose features were constant or not finite). VT_ERR_ARG
 * naming the store when it holds none (f->layers[i].has_rsm false). */
vt_status vt_features_read_rsm(const vt_features *f, int i, vt_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
