/* What extraction shares with the other commands that run a model over images (simulate). */
#ifndef VT_EXTRACT_INTERNAL_H
#define VT_EXTRACT_INTERNAL_H

#include "ventral/graph.h"

/* The input shape (batch × 3 × height × width) for the model's one float32 N × C × H × W input, or an
 * error naming the model and what does not fit: another input count, type or rank, a fixed image
 * dimension the images do not have, a fixed batch size other than `batch`. */
vt_status vt_extract_image_input(const char *model, vt_graph *g, int frames, int height, int width, int64_t batch,
                                 vt_shape *shape);

#endif
