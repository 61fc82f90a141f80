#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "ventral/rank.h"
#include "ventral/rsm.h"

static const char *const metric_names[VT_RSM_METRIC_COUNT] = {"pearson", "spearman", "cosine"};
_Static_assert(sizeof metric_names / sizeof metric_names[0] == VT_RSM_METRIC_COUNT, "one name per metric");

/* float32 panels are at most this wide, so no float32 sum runs over more than 4096 products. */
#define F32_PANEL 4096
/* float64 panels: as wide as fits this many bytes (the whole of X when it fits). */
#define F64_PANEL_BYTES ((int64_t)64 << 20)

const char *vt_rsm_metric_name(vt_rsm_metric metric)
{
    return (unsigned)metric < VT_RSM_METRIC_COUNT ? metric_names[metric] : "?";
}

vt_status vt_rsm_metric_parse(const char *name, vt_rsm_metric *out)
{
    for (int i = 0; i < VT_RSM_METRIC_COUNT; i++)
        if (strcmp(name, metric_names[i]) == 0) {
            *out = (vt_rsm_metric)i;
            return VT_OK;
        }
    return vt_fail(VT_ERR_ARG, "unknown similarity metric '%s' (choose pearson, spearman or cosine)", name);
}

static inline double at(const vt_tensor *x, int64_t flat)
{
    return x->dtype == VT_F32 ? (double)vt_tensor_f32(x)[flat] : vt_tensor_f64(x)[flat];
}

/* centre[i] (the row mean, or 0 for cosine) and scale[i] = 1 / ‖row − centre‖, in float64.
 * Returns the first row whose norm is zero (constant, or all zero for cosine), or n. */
static int64_t row_stats(const vt_tensor *x, bool centred, double *centre, double *scale)
{
    int64_t n = x->shape[0], p = x->shape[1], bad = n;
#pragma omp parallel for schedule(static) reduction(min : bad)
    for (int64_t i = 0; i < n; i++) {
        int64_t base = i * p;
        double first = at(x, base), sum = 0;
        bool constant = true;
        for (int64_t k = 0; k < p; k++) {
            double v = at(x, base + k);
            sum += v;
            constant = constant && v == first;
        }
        double mean = centred ? sum / (double)p : 0;
        /* Exact equality, not a small variance: the mean of equal values can round away from
         * them, and the resulting noise would be scaled up to a full-size row. */
        if (constant && (centred || first == 0)) {
            if (i < bad) bad = i;
            centre[i] = 0, scale[i] = 0;
            continue;
        }
        double ss = 0;
        for (int64_t k = 0; k < p; k++) {
            double d = at(x, base + k) - mean;
            ss += d * d;
        }
        double norm = sqrt(ss);
        if (!(ss > 1e-290 && ss < 1e290)) {
            /* Squares under- or overflowed: rescale by the largest deviation first. */
            double big = 0;
            for (int64_t k = 0; k < p; k++) big = fmax(big, fabs(at(x, base + k) - mean));
            ss = 0;
            for (int64_t k = 0; k < p; k++) {
                double d = (at(x, base + k) - mean) / big;
                ss += d * d;
            }
            norm = big * sqrt(ss);
        }
        centre[i] = mean, scale[i] = 1 / norm;
    }
    return bad;
}

/* Upper triangle of acc (n × n, row-major) into out as a symmetric matrix with unit diagonal,
 * clipped to [−1, 1]. acc may be out's own float64 data. */
static void finish(const double *acc, int64_t n, vt_tensor *out)
{
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            double v = j == i ? 1 : acc[i * n + j];
            v = v > 1 ? 1 : v < -1 ? -1 : v;
            if (out->dtype == VT_F64)
                vt_tensor_f64(out)[i * n + j] = vt_tensor_f64(out)[j * n + i] = v;
            else
                vt_tensor_f32(out)[i * n + j] = vt_tensor_f32(out)[j * n + i] = (float)v;
        }
}

/* R = Z Zᵀ for the rows of x normalised by (centre, scale), panel by panel. */
static vt_status gram(const vt_tensor *x, const double *centre, const double *scale, vt_tensor *out)
{
    int64_t n = x->shape[0], p = x->shape[1];
    bool f32 = x->dtype == VT_F32;
    int64_t width = f32 ? F32_PANEL : F64_PANEL_BYTES / (8 * n);
    width = width < 256 ? 256 : width;
    width = width > p ? p : width;
    bool in_place = out->dtype == VT_F64;
    double *acc = in_place ? vt_tensor_f64(out) : vt_malloc((size_t)n * (size_t)n, sizeof *acc);
    void *panel = vt_malloc((size_t)n * (size_t)width, f32 ? sizeof(float) : sizeof(double));
    float *c32 = f32 ? vt_malloc((size_t)n * (size_t)n, sizeof *c32) : NULL;
    if (!acc || !panel || (f32 && !c32)) {
        if (!in_place) free(acc);
        free(panel), free(c32);
        return VT_ERR_NOMEM;
    }
    for (int64_t j0 = 0; j0 < p; j0 += width) {
        int64_t w = p - j0 < width ? p - j0 : width;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            const int64_t base = i * p + j0;
            if (f32)
                for (int64_t k = 0; k < w; k++)
                    ((float *)panel)[i * w + k] = (float)((at(x, base + k) - centre[i]) * scale[i]);
            else
                for (int64_t k = 0; k < w; k++)
                    ((double *)panel)[i * w + k] = (vt_tensor_f64(x)[base + k] - centre[i]) * scale[i];
        }
        if (!f32) {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)w, 1.0, panel, (int)w, j0 ? 1.0 : 0.0,
                        acc, (int)n);
            continue;
        }
        /* float32 products of this panel, summed into the float64 accumulator. */
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)w, 1.0f, panel, (int)w, 0.0f, c32, (int)n);
#pragma omp parallel for schedule(dynamic, 16)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i; j < n; j++) acc[i * n + j] = (j0 ? acc[i * n + j] : 0) + c32[i * n + j];
    }
    finish(acc, n, out);
    if (!in_place) free(acc);
    free(panel), free(c32);
    return VT_OK;
}

/* Every row of x replaced by its average ranks, as a new n × p float64 tensor. */
static vt_status rank_rows(const vt_tensor *x, vt_tensor **out)
{
    int64_t n = x->shape[0], p = x->shape[1];
    vt_tensor *r = vt_tensor_new_uninit(VT_F64, 2, x->shape);
    if (!r) return VT_ERR_NOMEM;
    vt_status failed = VT_OK;
#pragma omp parallel
    {
        double *row = x->dtype == VT_F32 ? vt_malloc((size_t)p, sizeof *row) : NULL;
        vt_status mine = x->dtype == VT_F32 && !row ? VT_ERR_NOMEM : VT_OK;
#pragma omp for schedule(dynamic, 8)
        for (int64_t i = 0; i < n; i++) {
            if (mine != VT_OK) continue;
            const double *src = vt_tensor_f64(x) + i * p;
            if (row) {
                for (int64_t k = 0; k < p; k++) row[k] = vt_tensor_f32(x)[i * p + k];
                src = row;
            }
            mine = vt_rank_average(src, p, vt_tensor_f64(r) + i * p);
        }
        if (mine != VT_OK) {
#pragma omp critical(vt_rsm_rank_rows)
            failed = mine;
        }
        free(row);
    }
    if (failed != VT_OK) {
        vt_tensor_free(r);
        return failed;
    }
    *out = r;
    return VT_OK;
}

vt_status vt_rsm_into(const vt_tensor *x, vt_rsm_metric metric, vt_tensor *out)
{
    char buf[64];
    if ((unsigned)metric >= VT_RSM_METRIC_COUNT) return vt_fail(VT_ERR_ARG, "rsm: unknown metric %d", metric);
    if (vt_tensor_check_shape(x, "rsm: X", 2, NULL) != VT_OK) return VT_ERR_ARG;
    if (x->dtype != VT_F32 && x->dtype != VT_F64)
        return vt_fail(VT_ERR_UNSUPPORTED, "rsm: X must be float32 or float64, got %s", vt_dtype_name(x->dtype));
    int64_t n = x->shape[0], p = x->shape[1];
    if (n < 1 || p < 1)
        return vt_fail(VT_ERR_ARG, "rsm: X is %s: it needs at least one row (stimulus) and one column (feature)",
                       vt_tensor_shape_str(x, buf, sizeof buf));
    if (n > INT_MAX || p > INT_MAX)
        return vt_fail(VT_ERR_ARG, "rsm: X is %s: BLAS takes at most %d rows and columns",
                       vt_tensor_shape_str(x, buf, sizeof buf), INT_MAX);
    if (vt_tensor_check_shape(out, "rsm: output", 2, (int64_t[]){n, n}) != VT_OK) return VT_ERR_ARG;
    if (out->dtype != VT_F32 && out->dtype != VT_F64)
        return vt_fail(VT_ERR_ARG, "rsm: the output must be float32 or float64, got %s", vt_dtype_name(out->dtype));
    if (vt_tensor_check_finite(x, "rsm: X") != VT_OK) return VT_ERR_ARG;

    vt_tensor *ranks = NULL;
    if (metric == VT_RSM_SPEARMAN) {
        vt_status st = rank_rows(x, &ranks);
        if (st != VT_OK) return st;
    }
    const vt_tensor *z = ranks ? ranks : x;
    double *centre = vt_malloc((size_t)n, sizeof *centre), *scale = vt_malloc((size_t)n, sizeof *scale);
    vt_status st = centre && scale ? VT_OK : VT_ERR_NOMEM;
    if (st == VT_OK) {
        int64_t bad = row_stats(z, metric != VT_RSM_COSINE, centre, scale);
        if (bad < n && metric == VT_RSM_COSINE)
            st = vt_fail(VT_ERR_ARG, "rsm: row %lld of X is all zeros, so its cosine similarity is undefined",
                         (long long)bad);
        else if (bad < n)
            st = vt_fail(VT_ERR_ARG,
                         "rsm: row %lld of X is constant (all %lld values equal), so its %s correlation is undefined",
                         (long long)bad, (long long)p, metric_names[metric]);
    }
    if (st == VT_OK) st = gram(z, centre, scale, out);
    free(centre), free(scale);
    vt_tensor_free(ranks);
    return st;
}

vt_status vt_rsm_new(const vt_tensor *x, vt_rsm_metric metric, vt_tensor **out)
{
    *out = NULL;
    if (vt_tensor_check_shape(x, "rsm: X", 2, NULL) != VT_OK) return VT_ERR_ARG;
    vt_dtype dtype = x->dtype == VT_F32 ? VT_F32 : VT_F64;
    vt_tensor *r = vt_tensor_new_uninit(dtype, 2, (int64_t[]){x->shape[0], x->shape[0]});
    if (!r) return VT_ERR_NOMEM;
    vt_status st = vt_rsm_into(x, metric, r);
    if (st != VT_OK) {
        vt_tensor_free(r);
        return st;
    }
    *out = r;
    return VT_OK;
}
