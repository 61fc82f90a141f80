/* Spatial activity maps: split-half ceilings and model-map agreement (METHODS §11). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ventral/maps.h"
#include "ventral/rank.h"
#include "ventral/reliability.h"

double vt_maps_spearman(const double *a, const double *b, int64_t n, double *scratch)
{
    double *ra = scratch, *rb = scratch + n;
    if (n < 2 || vt_rank_average(a, n, ra) != VT_OK || vt_rank_average(b, n, rb) != VT_OK) return NAN;
    double m = (double)(n + 1) / 2, sab = 0, saa = 0, sbb = 0; /* mean rank is (n + 1) / 2 */
    for (int64_t i = 0; i < n; i++) {
        sab += (ra[i] - m) * (rb[i] - m);
        saa += (ra[i] - m) * (ra[i] - m);
        sbb += (rb[i] - m) * (rb[i] - m);
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

static vt_status check_maps(const vt_tensor *maps)
{
    if (!maps || maps->rank != 5 || !vt_dtype_is_float(maps->dtype))
        return vt_fail(VT_ERR_ARG, "maps must be float32/float64 stimuli x repetitions x sites x H x W");
    if (maps->shape[3] * maps->shape[4] < 2) return vt_fail(VT_ERR_ARG, "maps need at least 2 pixels");
    return VT_OK;
}

/* Map of (stimulus s, repetition k, site u) as doubles into dst; false when missing. A present
 * map with a NaN/Inf pixel is an error (*bad set). */
static bool get_map(const vt_tensor *m, int64_t s, int64_t k, int64_t u, double *dst, bool *bad)
{
    int64_t R = m->shape[1], U = m->shape[2], P = m->shape[3] * m->shape[4], base = ((s * R + k) * U + u) * P;
    if (isnan(vt_tensor_get(m, base))) return false;
    for (int64_t p = 0; p < P; p++) {
        dst[p] = vt_tensor_get(m, base + p);
        if (!isfinite(dst[p])) *bad = true;
    }
    return true;
}

vt_status vt_maps_split_half_orders(const vt_tensor *maps, const vt_tensor *orders, vt_tensor *out)
{
    vt_status st = check_maps(maps);
    if (st) return st;
    int64_t S = maps->shape[0], R = maps->shape[1], U = maps->shape[2], P = maps->shape[3] * maps->shape[4];
    if (orders->dtype != VT_I32 || orders->rank != 3 || orders->shape[1] != S || orders->shape[2] != R)
        return vt_fail(VT_ERR_ARG, "split orders must be int32 splits x %lld x %lld", (long long)S, (long long)R);
    if (out->dtype != VT_F64 || out->rank != 1 || out->shape[0] != U)
        return vt_fail(VT_ERR_ARG, "output must be float64 [%lld]", (long long)U);
    int64_t splits = orders->shape[0];
    const int32_t *ord = (const int32_t *)orders->data;
    double *map = vt_malloc((size_t)P, sizeof *map), *ha = vt_malloc((size_t)P, sizeof *ha);
    double *hb = vt_malloc((size_t)P, sizeof *hb), *scratch = vt_malloc((size_t)(2 * P), sizeof *scratch);
    bool bad = false;
    if (!map || !ha || !hb || !scratch) st = vt_fail(VT_ERR_NOMEM, "out of memory");
    for (int64_t u = 0; u < U && !st; u++) {
        double total = 0;
        int64_t used = 0;
        for (int64_t sp = 0; sp < splits && !bad; sp++) {
            double sum = 0;
            int64_t n = 0;
            for (int64_t s = 0; s < S && !bad; s++) {
                int64_t t = 0, present[64];
                for (int64_t k = 0; k < R && t < 64; k++) {
                    int64_t rep = ord[(sp * S + s) * R + k];
                    if (rep >= 0 && rep < R && !isnan(vt_tensor_get(maps, ((s * R + rep) * U + u) * P)))
                        present[t++] = rep;
                }
                if (t < 2) continue;
                int64_t half = t / 2;
                memset(ha, 0, sizeof *ha * (size_t)P);
                memset(hb, 0, sizeof *hb * (size_t)P);
                for (int64_t i = 0; i < t; i++) {
                    get_map(maps, s, present[i], u, map, &bad);
                    double *h = i < half ? ha : hb;
                    for (int64_t p = 0; p < P; p++) h[p] += map[p];
                }
                for (int64_t p = 0; p < P; p++) ha[p] /= (double)half, hb[p] /= (double)(t - half);
                double r = vt_maps_spearman(ha, hb, P, scratch);
                if (!isnan(r)) sum += r, n++;
            }
            if (n == 0) continue;
            double r = sum / (double)n;
            total += 2 * r / (1 + r);
            used++;
        }
        vt_tensor_f64(out)[u] = used ? total / (double)used : NAN;
    }
    if (!st && bad) st = vt_fail(VT_ERR_ARG, "maps: a present map (first pixel not NaN) has NaN or Inf pixels");
    free(map), free(ha), free(hb), free(scratch);
    return st;
}

vt_status vt_maps_split_half(const vt_tensor *maps, int64_t splits, uint64_t seed, vt_tensor *out)
{
    vt_status st = check_maps(maps);
    if (st) return st;
    vt_tensor *orders = NULL;
    if ((st = vt_reliability_split_orders(splits, maps->shape[0], maps->shape[1], seed, &orders))) return st;
    st = vt_maps_split_half_orders(maps, orders, out);
    vt_tensor_free(orders);
    return st;
}

vt_status vt_maps_score(const vt_tensor *model, const vt_tensor *maps, vt_tensor *out)
{
    vt_status st = check_maps(maps);
    if (st) return st;
    int64_t S = maps->shape[0], R = maps->shape[1], U = maps->shape[2], P = maps->shape[3] * maps->shape[4];
    if (!vt_dtype_is_float(model->dtype) || model->rank != 4 || model->shape[0] != S || model->shape[1] != U ||
        model->shape[2] != maps->shape[3] || model->shape[3] != maps->shape[4])
        return vt_fail(VT_ERR_ARG, "model maps must be float %lld x %lld x %lld x %lld (stimuli x sites x H x W)",
                       (long long)S, (long long)U, (long long)maps->shape[3], (long long)maps->shape[4]);
    if (out->dtype != VT_F64 || out->rank != 1 || out->shape[0] != U)
        return vt_fail(VT_ERR_ARG, "output must be float64 [%lld]", (long long)U);
    double *map = vt_malloc((size_t)P, sizeof *map), *mean = vt_malloc((size_t)P, sizeof *mean);
    double *mod = vt_malloc((size_t)P, sizeof *mod), *scratch = vt_malloc((size_t)(2 * P), sizeof *scratch);
    bool bad = false;
    if (!map || !mean || !mod || !scratch) st = vt_fail(VT_ERR_NOMEM, "out of memory");
    for (int64_t u = 0; u < U && !st; u++) {
        double sum = 0;
        int64_t n = 0;
        for (int64_t s = 0; s < S; s++) {
            int64_t t = 0;
            memset(mean, 0, sizeof *mean * (size_t)P);
            for (int64_t k = 0; k < R; k++)
                if (get_map(maps, s, k, u, map, &bad)) {
                    for (int64_t p = 0; p < P; p++) mean[p] += map[p];
                    t++;
                }
            if (!t) continue;
            for (int64_t p = 0; p < P; p++) mod[p] = vt_tensor_get(model, (s * U + u) * P + p);
            double r = vt_maps_spearman(mod, mean, P, scratch);
            if (!isnan(r)) sum += r, n++;
        }
        vt_tensor_f64(out)[u] = n ? sum / (double)n : NAN;
    }
    if (!st && bad) st = vt_fail(VT_ERR_ARG, "maps: a present map (first pixel not NaN) has NaN or Inf pixels");
    free(map), free(mean), free(mod), free(scratch);
    return st;
}
