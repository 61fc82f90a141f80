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
/* float64 panels: as wide as fits this many bytes (at least 256 columns). Small enough to stay
 * cache-resident and spare the page faults of a full copy of X; wide enough that BLAS runs at
 * full speed (it blocks the inner dimension by a few hundred anyway). */
#define F64_PANEL_BYTES ((int64_t)8 << 20)

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

/* The plan: R = D G D with G = Z Zᵀ, Z = (X − centre)·mult row by row, D = diag(1/‖Z_i‖).
 * mult is a power of two bringing each row's largest magnitude into [0.5, 1): exact, and no
 * square under- or overflows whatever the scale of X. So X is read twice (row statistics, then
 * panels), the norms accumulate while panels are filled, and normalising costs n² at the end. */
enum { ROW_OK, ROW_DEGENERATE, ROW_NONFINITE };

#define DEFINE_ROW_STATS(name, type)                                                                                   \
    static int name(const type *row, int64_t p, bool centred, double *centre, double *mult)                            \
    {                                                                                                                  \
        double lo = (double)row[0], hi = lo, sum = 0;                                                                  \
        for (int64_t k = 0; k < p; k++) {                                                                              \
            double v = (double)row[k];                                                                                 \
            sum += v;                                                                                                  \
            lo = v < lo ? v : lo;                                                                                      \
            hi = v > hi ? v : hi;                                                                                      \
        }                                                                                                              \
        if (isnan(sum) || !isfinite(lo) || !isfinite(hi)) return ROW_NONFINITE; /* NaN reaches sum, Inf lo/hi */       \
        /* Exact equality (lo == hi), not a small variance: the mean of equal values can round away                    \
         * from them, and the resulting noise would be scaled up to a full-size row. */                                \
        if (lo == hi && (centred || lo == 0)) return ROW_DEGENERATE;                                                   \
        double big = fmax(fabs(lo), fabs(hi));                                                                         \
        int e;                                                                                                         \
        frexp(big, &e);                                                                                                \
        *mult = ldexp(1.0, -e < 1000 ? -e : 1000); /* subnormal rows: 2^1000 is as far as a double goes */             \
        double mean = sum / (double)p;                                                                                 \
        if (centred && !isfinite(sum)) { /* finite values near DBL_MAX: sum them scaled */                             \
            double scaled = 0;                                                                                         \
            for (int64_t k = 0; k < p; k++) scaled += (double)row[k] * *mult;                                          \
            mean = scaled / (double)p / *mult;                                                                         \
        }                                                                                                              \
        *centre = centred ? mean : 0;                                                                                  \
        return ROW_OK;                                                                                                 \
    }
DEFINE_ROW_STATS(row_stats_f64, double)
DEFINE_ROW_STATS(row_stats_f32, float)

/* Upper triangle of G (n × n, row-major) into out as R = D G D, symmetric, unit diagonal,
 * clipped to [−1, 1]. g may be out's own float64 data. */
static void finish(const double *g, const double *inv_norm, int64_t n, vt_tensor *out)
{
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            double v = j == i ? 1 : g[i * n + j] * inv_norm[i] * inv_norm[j];
            v = v > 1 ? 1 : v < -1 ? -1 : v;
            if (out->dtype == VT_F64)
                vt_tensor_f64(out)[i * n + j] = vt_tensor_f64(out)[j * n + i] = v;
            else
                vt_tensor_f32(out)[i * n + j] = vt_tensor_f32(out)[j * n + i] = (float)v;
        }
}

/* Columns [j0, j0 + w) of row i of x, centred and scaled, into the panel row; returns Σ z². In
 * float32 the sum is of the rounded values the GEMM sees, so that R's diagonal stays 1. Scaling
 * before subtracting (both exact) keeps x − centre from overflowing near DBL_MAX. */
static double fill_row(const vt_tensor *x, int64_t i, int64_t j0, int64_t w, double centre, double mult, void *dst)
{
    double c = centre * mult;
    int64_t base = i * x->shape[1] + j0;
    double ss = 0;
    if (x->dtype == VT_F32) {
        const float *src = vt_tensor_f32(x) + base;
        float *d = dst;
        for (int64_t k = 0; k < w; k++) {
            float z = (float)((double)src[k] * mult - c);
            d[k] = z;
            ss += (double)z * (double)z;
        }
    } else {
        const double *src = vt_tensor_f64(x) + base;
        double *d = dst;
        for (int64_t k = 0; k < w; k++) {
            double z = src[k] * mult - c;
            d[k] = z;
            ss += z * z;
        }
    }
    return ss;
}

/* Columns per float64 panel of `rows` rows (F64_PANEL_BYTES, at least 256, at most `cols`). */
static int64_t f64_panel_width(int64_t rows, int64_t cols)
{
    int64_t width = F64_PANEL_BYTES / (8 * rows);
    width = width < 256 ? 256 : width;
    return width > cols ? cols : width;
}

/* G = Z Zᵀ panel by panel, then R into out. */
static vt_status gram(const vt_tensor *x, const double *centre, const double *mult, vt_tensor *out)
{
    int64_t n = x->shape[0], p = x->shape[1];
    bool f32 = x->dtype == VT_F32;
    int64_t width = f32 ? (F32_PANEL < p ? F32_PANEL : p) : f64_panel_width(n, p);
    bool in_place = out->dtype == VT_F64;
    double *acc = in_place ? vt_tensor_f64(out) : vt_malloc((size_t)n * (size_t)n, sizeof *acc);
    double *ss = vt_calloc((size_t)n, sizeof *ss);
    void *panel = vt_malloc((size_t)n * (size_t)width, f32 ? sizeof(float) : sizeof(double));
    float *c32 = f32 ? vt_malloc((size_t)n * (size_t)n, sizeof *c32) : NULL;
    if (!acc || !ss || !panel || (f32 && !c32)) {
        if (!in_place) free(acc);
        free(ss), free(panel), free(c32);
        return VT_ERR_NOMEM;
    }
    size_t elem = f32 ? sizeof(float) : sizeof(double);
    for (int64_t j0 = 0; j0 < p; j0 += width) {
        int64_t w = p - j0 < width ? p - j0 : width;
#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t i = 0; i < n; i++)
            ss[i] += fill_row(x, i, j0, w, centre[i], mult[i], (char *)panel + (size_t)(i * w) * elem);
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
    for (int64_t i = 0; i < n; i++) ss[i] = 1 / sqrt(ss[i]);
    finish(acc, ss, n, out);
    if (!in_place) free(acc);
    free(ss), free(panel), free(c32);
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
    vt_tensor *ranks = NULL;
    if (metric == VT_RSM_SPEARMAN) {
        /* Ranking needs finite values; otherwise NaN/Inf are found with the row statistics. */
        if (vt_tensor_check_finite(x, "rsm: X") != VT_OK) return VT_ERR_ARG;
        vt_status st = rank_rows(x, &ranks);
        if (st != VT_OK) return st;
    }
    const vt_tensor *z = ranks ? ranks : x;
    double *centre = vt_malloc((size_t)n, sizeof *centre), *mult = vt_malloc((size_t)n, sizeof *mult);
    vt_status st = centre && mult ? VT_OK : VT_ERR_NOMEM;
    if (st == VT_OK) {
        bool centred = metric != VT_RSM_COSINE;
        int64_t degenerate = n, nonfinite = n;
#pragma omp parallel for schedule(dynamic, 8) reduction(min : degenerate, nonfinite)
        for (int64_t i = 0; i < n; i++) {
            int code = z->dtype == VT_F32 ? row_stats_f32(vt_tensor_f32(z) + i * p, p, centred, &centre[i], &mult[i])
                                          : row_stats_f64(vt_tensor_f64(z) + i * p, p, centred, &centre[i], &mult[i]);
            if (code == ROW_DEGENERATE && i < degenerate) degenerate = i;
            if (code == ROW_NONFINITE && i < nonfinite) nonfinite = i;
        }
        if (nonfinite < n)
            st = vt_tensor_check_finite(z, "rsm: X") != VT_OK
                     ? VT_ERR_ARG
                     : vt_fail(VT_ERR_INTERNAL, "rsm: row %lld of X looked non-finite", (long long)nonfinite);
        else if (degenerate < n && metric == VT_RSM_COSINE)
            st = vt_fail(VT_ERR_ARG, "rsm: row %lld of X is all zeros, so its cosine similarity is undefined",
                         (long long)degenerate);
        else if (degenerate < n)
            st = vt_fail(VT_ERR_ARG,
                         "rsm: row %lld of X is constant (all %lld values equal), so its %s correlation is undefined",
                         (long long)degenerate, (long long)p, metric_names[metric]);
    }
    if (st == VT_OK) st = gram(z, centre, mult, out);
    free(centre), free(mult);
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

/* Mean of `w` values (column j of row `row` is row[cols ? cols[j] : j]); *constant is set when all
 * are equal, so that centring can give exact zeros (the mean of equal values may round away). */
static double mean_over(const double *row, const int64_t *cols, int64_t w, bool *constant)
{
    double first = row[cols ? cols[0] : 0], sum = 0;
    bool same = true;
    for (int64_t j = 0; j < w; j++) {
        double x = row[cols ? cols[j] : j];
        sum += x;
        same = same && x == first;
    }
    *constant = same;
    return same ? first : sum / (double)w;
}

vt_status vt_rsm_pearson_factored(const double *a, int64_t n, int64_t r, const vt_tensor *b, const double *mu,
                                  const int64_t *cols, int64_t w, vt_tensor *out)
{
    if (vt_tensor_check_shape(b, "rsm: B", 2, NULL) != VT_OK) return VT_ERR_ARG;
    if (b->dtype != VT_F64) return vt_fail(VT_ERR_ARG, "rsm: B must be float64, got %s", vt_dtype_name(b->dtype));
    int64_t v = b->shape[1];
    if (!cols) w = v;
    if (n < 1 || r < 1 || w < 1 || b->shape[0] != r)
        return vt_fail(
            VT_ERR_ARG,
            "rsm: factored X needs n, r, w >= 1 and B with r = %lld rows (got n %lld, B %lld × %lld, w %lld)",
            (long long)r, (long long)n, (long long)b->shape[0], (long long)v, (long long)w);
    if (n > INT_MAX || r > INT_MAX || w > INT_MAX)
        return vt_fail(VT_ERR_ARG, "rsm: BLAS takes at most %d rows and columns", INT_MAX);
    for (int64_t j = 0; cols && j < w; j++)
        if (cols[j] < 0 || cols[j] >= v)
            return vt_fail(VT_ERR_ARG, "rsm: column %lld is outside B's %lld columns", (long long)cols[j],
                           (long long)v);
    if (vt_tensor_check_shape(out, "rsm: output", 2, (int64_t[]){n, n}) != VT_OK) return VT_ERR_ARG;
    if (out->dtype != VT_F32 && out->dtype != VT_F64)
        return vt_fail(VT_ERR_ARG, "rsm: the output must be float32 or float64, got %s", vt_dtype_name(out->dtype));
    for (int64_t i = 0; i < n * r; i++)
        if (!isfinite(a[i]))
            return vt_fail(VT_ERR_ARG, "rsm: A has a non-finite value at flat index %lld", (long long)i);

    const double *bd = vt_tensor_f64(b);
    int64_t width = f64_panel_width(r, w);
    double *bmean = vt_malloc((size_t)r, sizeof *bmean), *mc = vt_malloc((size_t)w, sizeof *mc);
    unsigned char *flat = vt_malloc((size_t)r, 1);
    double *m = vt_calloc((size_t)r * (size_t)r, sizeof *m), *h = vt_calloc((size_t)r, sizeof *h);
    double *panel = vt_malloc((size_t)r * (size_t)width, sizeof *panel);
    double *t = vt_malloc((size_t)n * (size_t)r, sizeof *t), *g = vt_malloc((size_t)n * (size_t)n, sizeof *g);
    double *gv = vt_malloc((size_t)n, sizeof *gv);
    vt_status st = bmean && mc && flat && m && h && panel && t && g && gv ? VT_OK : VT_ERR_NOMEM;
    int64_t nonfinite = r;
    if (st == VT_OK) {
#pragma omp parallel for schedule(dynamic, 8) reduction(min : nonfinite)
        for (int64_t k = 0; k < r; k++) {
            bool c;
            bmean[k] = mean_over(bd + k * v, cols, w, &c);
            flat[k] = c;
            if (!isfinite(bmean[k]) && k < nonfinite) nonfinite = k;
        }
        if (nonfinite < r) st = vt_fail(VT_ERR_ARG, "rsm: row %lld of B has a NaN or Inf", (long long)nonfinite);
    }
    double mss = 0;
    if (st == VT_OK) {
        /* μ_S centred; its own constant case gives exact zeros too. */
        bool c = true;
        double mm = mu ? mean_over(mu, cols, w, &c) : 0;
        for (int64_t j = 0; j < w; j++) {
            mc[j] = mu && !c ? mu[cols ? cols[j] : j] - mm : 0;
            mss += mc[j] * mc[j];
        }
        if (!isfinite(mss) || !isfinite(mm))
            st = vt_fail(VT_ERR_ARG, "rsm: μ has a NaN or Inf (or is too large to square)");
    }
    /* M = B_S B_Sᵀ and h = B_S μ_S, centred panel by panel. */
    for (int64_t j0 = 0; st == VT_OK && j0 < w; j0 += width) {
        int64_t pw = w - j0 < width ? w - j0 : width;
#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t k = 0; k < r; k++)
            for (int64_t j = 0; j < pw; j++)
                panel[k * pw + j] = flat[k] ? 0 : bd[k * v + (cols ? cols[j0 + j] : j0 + j)] - bmean[k];
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)r, (int)pw, 1.0, panel, (int)pw, 1.0, m, (int)r);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)r, (int)pw, 1.0, panel, (int)pw, mc + j0, 1, 1.0, h, 1);
    }
    if (st == VT_OK) {
        /* G = A M Aᵀ + g1ᵀ + 1gᵀ + ‖μ_S‖², g = A h. */
        cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, (int)n, (int)r, 1.0, m, (int)r, a, (int)r, 0.0, t, (int)r);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)r, 1.0, t, (int)r, a, (int)r, 0.0, g,
                    (int)n);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)r, 1.0, a, (int)r, h, 1, 0.0, gv, 1);
        int64_t degenerate = n;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = i; j < n; j++) g[i * n + j] += gv[i] + gv[j] + mss;
            if (!(g[i * n + i] > 0) && degenerate == n) degenerate = i;
        }
        if (degenerate < n)
            st = vt_fail(VT_ERR_ARG, "rsm: row %lld of X is constant, so its pearson correlation is undefined",
                         (long long)degenerate);
        for (int64_t i = 0; st == VT_OK && i < n; i++) gv[i] = 1 / sqrt(g[i * n + i]);
        if (st == VT_OK) finish(g, gv, n, out);
    }
    free(bmean), free(mc), free(flat), free(m), free(h), free(panel), free(t), free(g), free(gv);
    return st;
}
