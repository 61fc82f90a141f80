/* Stimulus sources (METHODS §1): an ordered list of images with stable string ids, read in
 * batches and turned into model inputs by a test-time transform.
 *
 *   source                         ids                          pixels
 *   folder of .jpg/.jpeg/.png      file names without extension sorted file names
 *   text file, one path per line   file names without extension the list's order
 *   .npy uint8 N×H×W×3             "0", "1", ...                transformed like decoded images
 *   .npy float32 N×3×H×W           "0", "1", ...                used as is (already transformed)
 *   NSD brick .hdf5/.h5 (imgBrick) "1", "2", ... (1-based NSD id) transformed; read row by row
 *
 *   vt_stimuli *s;
 *   vt_stimuli_open("stim/", &tf, &s);             // tf: vt_transform (NULL = "torchvision")
 *   float *x = malloc(b * vt_stimuli_item_floats(s) * 4);
 *   vt_stimuli_read(s, start, b, x);              // b × 3 × H × W
 *   vt_stimuli_free(s);
 */
#ifndef VENTRAL_STIMULI_H
#define VENTRAL_STIMULI_H

#include "ventral/transform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_stimuli {
    int64_t count;
    char **ids;        /* [count], owned */
    int height, width; /* of the model input (after the transform) */
    int frames;        /* float32 N x 3 x T x H x W .npy (video clips): T; 0 for still images */
    vt_transform transform;
    bool pretransformed; /* float32 .npy: the transform is not applied */
    char *source;        /* as given */
    void *impl;          /* private */
} vt_stimuli;

vt_status vt_stimuli_open(const char *source, const vt_transform *tf, vt_stimuli **out);
void vt_stimuli_free(vt_stimuli *s);
static inline int64_t vt_stimuli_item_floats(const vt_stimuli *s)
{
    return 3 * (int64_t)s->height * s->width * (s->frames ? s->frames : 1);
}
/* The model-input shape of n stimuli: n x 3 x H x W, or n x 3 x T x H x W for clips; returns the rank. */
static inline int vt_stimuli_input_shape(const vt_stimuli *s, int64_t n, int64_t *shape)
{
    int r = 0;
    shape[r++] = n;
    shape[r++] = 3;
    if (s->frames) shape[r++] = s->frames;
    shape[r++] = s->height;
    shape[r++] = s->width;
    return r;
}
/* Writes stimuli [start, start + n) as n × 3 × height × width floats (× frames for clips). Images whose transformed
 * size differs from the first one's are refused, naming the file. */
vt_status vt_stimuli_read(vt_stimuli *s, int64_t start, int64_t n, float *out);

#ifdef __cplusplus
}
#endif
#endif
