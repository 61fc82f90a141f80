/* Feature extraction (METHODS §2–§3): run a model over a stimulus set in batches, capture the
 * selected layers, project each with sparse random projection as it arrives and stream the rows
 * into a feature store. No layer is ever held for all stimuli in memory.
 *
 *   vt_extract_options opt;
 *   vt_extract_options_init(&opt);               // capture "all", eps 0.1, seed 0, batch 16
 *   vt_stimuli *s;  vt_stimuli_open("stim/", NULL, &s);
 *   vt_extract("resnet18.onnx", s, "F.h5", &opt, NULL);
 */
#ifndef VENTRAL_EXTRACT_H
#define VENTRAL_EXTRACT_H

#include "ventral/features.h"
#include "ventral/graph.h"
#include "ventral/stimuli.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called after every batch with the number of stimuli done; a non-OK status cancels. */
typedef vt_status (*vt_extract_progress_fn)(void *user, int64_t done, int64_t total);

typedef struct vt_extract_options {
    const char *capture; /* layer selection (vt_capture_parse syntax); default "all" */
    double eps;          /* JL epsilon for k when k == 0; default 0.1 */
    int64_t k;           /* SRP dimension; 0 = from eps and the number of stimuli */
    uint64_t seed;       /* SRP seed; default 0 */
    int64_t batch;       /* stimuli per forward pass; default 16 */
    vt_precision precision;
    vt_extract_progress_fn progress;
    void *progress_user;
} vt_extract_options;

void vt_extract_options_init(vt_extract_options *opt);

typedef struct vt_extract_info {
    int layers;     /* layers written */
    int projected;  /* of which projected by SRP */
    int64_t k;      /* SRP dimension used */
    double seconds; /* wall time */
} vt_extract_info;

/* Extracts into `out_path` (atomic: nothing appears there unless every layer got every row).
 * `info` may be NULL. */
vt_status vt_extract(const char *model_path, vt_stimuli *stimuli, const char *out_path, const vt_extract_options *opt,
                     vt_extract_info *info);

#ifdef __cplusplus
}
#endif
#endif
