#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "ventral/dim.h"

/* Centres the columns of an n×p row-major matrix in place (means accumulated in double). Blocks of
 * columns are swept row by row, so the reads stream instead of striding by p; each column's sum
 * still adds its rows in order, so the result does not depend on the block or the thread count. */
static void centre_columns(double *x, int64_t n, int64_t p)
{
    enum { BLOCK = 256 };
#pragma omp parallel for if (n * p > 100000)
    for (int64_t j0 = 0; j0 < p; j0 += BLOCK) {
        int64_t w = p - j0 < BLOCK ? p - j0 : BLOCK;
        double mean[BLOCK] = {0};
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < w; j++) mean[j] += x[i * p + j0 + j];
        for (int64_t j = 0; j < w; j++) mean[j] /= (double)n;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < w; j++) x[i * p + j0 + j] -= mean[j];
    }
}

vt_status vt_dim_participation_ratio(const vt_tensor *x, double *out)
{
    *out = 0;
    if (vt_tensor_check_shape(x, "dim: X", 2, NULL) != VT_OK) return VT_ERR_ARG;
    int64_t n = x->shape[0], p = x->shape[1];
    if (n < 2) return vt_fail(VT_ERR_ARG, "dim: X needs at least 2 stimuli (rows), got %lld", (long long)n);
    if (p < 1) return vt_fail(VT_ERR_ARG, "dim: X has no features (columns)");
    if (vt_tensor_check_finite(x, "dim: X") != VT_OK) return VT_ERR_ARG;
    vt_tensor *xc;
    vt_status st = vt_tensor_convert(x, VT_F64, &xc);
    if (st != VT_OK) return st;
    double *a = vt_tensor_f64(xc);
    centre_columns(a, n, p);
    int64_t m = n < p ? n : p;
    double *g = vt_malloc((size_t)m * (size_t)m, sizeof *g);
    if (!g) {
        vt_tensor_free(xc);
        return VT_ERR_NOMEM;
    }
    /* Upper triangle of the smaller Gram: Xc Xcᵀ (n×n) or Xcᵀ Xc (p×p). */
    if (n <= p)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)p, 1.0, a, (int)p, 0.0, g, (int)m);
    else
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)n, 1.0, a, (int)p, 0.0, g, (int)m);
    double trace = 0, frob = 0;
    for (int64_t i = 0; i < m; i++) {
        trace += g[i * m + i];
        frob += g[i * m + i] * g[i * m + i];
        for (int64_t j = i + 1; j < m; j++) frob += 2 * g[i * m + j] * g[i * m + j];
    }
    *out = frob > 0 ? trace * trace / frob : 0;
    free(g);
    vt_tensor_free(xc);
    return VT_OK;
}
