/* A ground-truth world for tests, the demo and users trying ventral without data (issue 8):
 * procedurally generated stimuli, and simulated subjects whose voxels are noisy linear read-outs
 * of one chosen layer of one model, with known signal-to-noise ratios and 3 repetitions.
 *
 *   vt_tensor *images;  int32_t labels[300];
 *   vt_sim_stimuli(300, 64, seed, &images, labels);   // uint8 300 × 64 × 64 × 3, 4 shape classes
 *
 *   vt_sim_options o;  vt_sim_options_init(&o);
 *   o.out_dir = "world"; o.model = "examples/models/tinycnn.onnx"; o.layer = "conv2";
 *   vt_simulate(&o);                                  // stimuli brick, subjNN.h5 stores, truth.json
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
    int subjects;             /* default 2 */
    int64_t voxels;           /* per subject, default 300 (half in ROI "ventral", half in "lateral") */
    int reps;                 /* default 3 */
    double snr_low, snr_high; /* per-voxel signal sd / noise sd, uniform; default 0.3 .. 1.5 */
    uint64_t seed;            /* default 1 */
} vt_sim_options;

void vt_sim_options_init(vt_sim_options *o);

/* Writes out_dir/nsd_stimuli.hdf5 (imgBrick, NSD ids 1..n), out_dir/subjNN.h5 brain stores
 * (units/ncsnr = the true SNR), out_dir/truth.json (planted model and layer, SNRs, true noise
 * ceilings). Every file is written atomically. */
vt_status vt_simulate(const vt_sim_options *o);

#ifdef __cplusplus
}
#endif
#endif
