#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ventral/bootstrap.h"
#include "ventral/rng.h"

void vt_bootstrap_draw(uint64_t seed, int64_t resample, int64_t n, int64_t *idx)
{
    vt_rng r = vt_rng_make(seed, (uint64_t)resample);
    for (int64_t k = 0; k < n; k++) idx[k] = (int64_t)vt_rng_below(&r, (uint64_t)n);
}

void vt_bootstrap_counts(const int64_t *idx, int64_t n, uint32_t *counts)
{
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (int64_t k = 0; k < n; k++) counts[idx[k]]++;
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* numpy's 'linear' method: position q·(k−1) in the sorted samples, interpolated. */
static double quantile_sorted(const double *s, int64_t k, double q)
{
    double h = q * (double)(k - 1);
    int64_t i = (int64_t)floor(h);
    if (i >= k - 1) return s[k - 1];
    double g = h - (double)i;
    /* numpy's _lerp: a + (b − a)·g, written from the nearer end for g ≥ 0.5. */
    double d = s[i + 1] - s[i];
    return g >= 0.5 ? s[i + 1] - d * (1 - g) : s[i] + d * g;
}

vt_status vt_bootstrap_percentile(const double *samples, int64_t k, double level, double *low, double *high)
{
    *low = *high = NAN;
    if (!(level > 0 && level < 1))
        return vt_fail(VT_ERR_ARG, "bootstrap: confidence level must lie strictly between 0 and 1, got %g", level);
    double *s = vt_malloc((size_t)(k > 0 ? k : 1), sizeof *s);
    if (!s) return VT_ERR_NOMEM;
    int64_t valid = 0;
    for (int64_t i = 0; i < k; i++)
        if (!isnan(samples[i])) s[valid++] = samples[i];
    if (valid == 0) {
        free(s);
        return vt_fail(VT_ERR_ARG, "bootstrap: none of the %lld resamples gave a defined statistic", (long long)k);
    }
    qsort(s, (size_t)valid, sizeof *s, cmp_double);
    *low = quantile_sorted(s, valid, (1 - level) / 2);
    *high = quantile_sorted(s, valid, (1 + level) / 2);
    free(s);
    return VT_OK;
}
