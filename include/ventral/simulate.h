/* A ground-truth world for tests, the demo and users trying ventral without data (issue 8):
 * procedurally generated stimuli, and simulated subjects in the NSD release layout whose voxels
 * are noisy linear read-outs of one chosen layer of one model, with known signal-to-noise ratios
 * and 3 repetitions; their brain stores are assembled from those files by vt_nsd_assemble.
 *
 *   vt_tensor *images;  int32_t labels[300];
 *   vt_sim_stimuli(300, 64, seed, &images, labels);   // uint8 300 × 64 × 64 × 3, 4 shape classes
 *
 *   vt_sim_options o;  vt_sim_options_init(&o);
 *   o.out_dir = "world"; o.model = "examples/models/tinycnn.onnx"; o.layer = "conv2";
 *   vt_simulate(&o);                                  // world/nsd/..., subjNN.h5 stores, truth.json
 */
#ifndef VENTRAL_SIMULATE_H
#define VENTRAL_SIMULATE_H

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { VT_SIM_CLASSES = 4 }; /* circle, square, triangle, cross */

/* n images of size × size pixels: a coloured shape (its class) on a textured gradient, with
 * random position, scale, colours and texture; a pure function of (seed, image index).
 * labels (may be NULL) receives each image's class. */
vt_status vt_sim_stimuli(int64_t n, int size, uint64_t seed, vt_tensor **images, int32_t *labels);

typedef struct vt_sim_options {
    const char *out_dir;      /* created if missing */
    const char *model;        /* the planted model (.onnx) */
    const char *layer;        /* the planted layer's name (as `ventral layers` prints it) */
    int64_t n_stimuli;        /* default 240 */
    int size;                 /* image side, default 64 */
    int subjects;             /* 1..8 (NSD's design has 8 rows), default 2 */
    int64_t voxels;           /* per subject, default 300 (half in ROI "streams:ventral", half in "streams:lateral") */
    int reps;                 /* default 3 */
    int sessions;             /* sessions the n_stimuli × reps trials are cut into (must divide them);
                                 0 (default) = trials per session nearest min(750, trials / 4) */
    double snr_low, snr_high; /* per-voxel signal sd / noise sd, uniform; default 0.3 .. 1.5 */
    uint64_t seed;            /* default 1 */
} vt_sim_options;

void vt_sim_options_init(vt_sim_options *o);

/* Writes, under out_dir:
 *   nsd/...            the NSD release layout (docs/brain_store.md): nsd_stimuli.hdf5 (imgBrick, ids
 *                      1..n), nsd_expdesign.mat (every image shared; one shuffled masterordering of
 *                      reps presentations, cut into equal sessions), and per subject the int16
 *                      single-trial betas of each session (HDF5 and NIfTI; percent signal change with
 *                      per-session drifts), ROI volumes (brainmask, nsdgeneral, streams, floc-*),
 *                      label tables and ncsnr.nii.gz (= the planted SNR);
 *   nsd_stimuli.hdf5   a link to the brick (a copy where links are not possible);
 *   subjNN.h5          brain stores assembled from nsd/ by vt_nsd_assemble (ROIs streams:ventral and
 *                      streams:lateral, no NCSNR threshold): z-scored per session, stimuli in id order;
 *   truth.json, truth_subjNN.tsv   planted model and layer, per-unit planted SNR and the NCSNR and
 *                      noise ceiling expected after the assembler's per-session z-scoring.
 * Every file is written atomically. */
vt_status vt_simulate(const vt_sim_options *o);

#ifdef __cplusplus
}
#endif
#endif
