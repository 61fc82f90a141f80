/* The benchmark report: one self-contained HTML page with PNG and SVG figures drawn with cairo.
 *
 *   vt_results *db;  vt_results_open("results.sqlite", VT_RESULTS_READONLY, &db);
 *   vt_report_opts o = vt_report_opts_default();
 *   if (vt_report_write(db, "report", &o) != VT_OK) ... vt_last_error() ...
 *
 * DIR/index.html links (relatively) to DIR/figures/<name>.png and .svg, DIR/results.csv (the
 * run's scores) and DIR/analysis.json (every number the page shows). Figures, per (metric, ROI):
 * model ranking with CIs and the noise-ceiling band, ImageNet top-1 vs brain score, layer profiles
 * (test score vs relative depth), grouped comparisons with CIs; per ROI: the first two metrics
 * (cRSA and veRSA when present) against each other; per stored RSM kind: the model×model RSM
 * heat map. Every file is written to a temporary name and renamed. The same database and
 * options give byte-identical files (no time stamps beyond those stored in the database).
 */
#ifndef VENTRAL_REPORT_H
#define VENTRAL_REPORT_H

#include "ventral/analysis.h"
#include "ventral/results.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_report_opts {
    int64_t run_id;            /* 0: the newest run with scores */
    vt_analysis_opts analysis; /* bootstrap settings */
    const char *title;         /* page title (default "ventral report") */
    const char *rsm_method;    /* model-to-model comparison: "pearson" (default), "spearman", "kendall" */
} vt_report_opts;

vt_report_opts vt_report_opts_default(void);

/* Writes the report into `dir` (created if missing, its parent must exist). *n_figures (may be
 * NULL) receives how many figures were drawn (each as .png and .svg). */
vt_status vt_report_write(vt_results *db, const char *dir, const vt_report_opts *o, int *n_figures);

#ifdef __cplusplus
}
#endif
#endif
