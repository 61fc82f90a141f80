/* Feature extraction (METHODS §2–§3): run a model over a stimulus set in batches, capture the
 * selected layers, project each with sparse random projection as it arrives and stream the rows
 * into a feature store. No layer is ever held for all stimuli in memory.
 *
 * With `unprojected_rsm`, every stored layer also gets the n × n Pearson RSM of its *unprojected*
 * features over all stimuli (rsm/<layer> in the store; METHODS §6: the conwell2024 cRSA). Pairs
 * of stimuli from different batches need every row, so each layer's raw float32 rows are spilled
 * to a temporary file beside the output (unlinked as soon as it is opened: nothing is left behind
 * on success, failure or a kill), row sums are taken as the rows arrive, and after the last batch
 * each layer's Gram matrix of the mean-centred rows is accumulated in float64 (BLAS dsyrk) over
 * column panels read back from the spill, within `rsm_memory` bytes of panel. Disk: the spill is
 * 4·n·Σp bytes (Σp: unprojected features per stimulus over the layers) plus 8·n² per layer in
 * the store (float64); free space is checked once the first batch has shown every layer's size, and a
 * shortfall is an error naming the folder and the bytes needed.
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
    bool unprojected_rsm; /* also store each layer's RSM of its unprojected features; default false */
    int64_t rsm_memory;   /* bytes of column panel for those RSMs; 0 = 64 MiB (at least one column) */
    vt_extract_progress_fn progress;
    void *progress_user;
} vt_extract_options;

void vt_extract_options_init(vt_extract_options *opt);

typedef struct vt_extract_info {
    int layers;          /* layers written */
    int projected;       /* of which projected by SRP */
    int64_t k;           /* SRP dimension used */
    double seconds;      /* wall time */
    int rsms;            /* layers given an RSM of their unprojected features */
    int64_t spill_bytes; /* size of the temporary spill of unprojected features (0 without RSMs) */
    double rsm_seconds;  /* of `seconds`, the time spent computing and writing those RSMs */
} vt_extract_info;

/* Extracts into `out_path` (atomic: nothing appears there unless every layer got every row).
 * `info` may be NULL. */
vt_status vt_extract(const char *model_path, vt_stimuli *stimuli, const char *out_path, const vt_extract_options *opt,
                     vt_extract_info *info);

#ifdef __cplusplus
}
#endif
#endif
