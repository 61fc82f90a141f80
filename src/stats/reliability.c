/* NCSNR, NSD noise ceiling and split-half reliability over stimuli × repetitions × units.
 *
 * Both statistics walk R once, stimulus by stimulus, with threads owning disjoint chunks of
 * units (the contiguous dimension): every unit's sums are accumulated in stimulus order by one
 * thread, so the bits do not depend on the thread count. Totals over all trials are combined
 * per stimulus with Chan et al.'s pairwise update, and the split-half sums are shifted by a
 * value inside each unit's range; both are accurate in one pass (a two-pass formula would read
 * an NSD-sized R twice). A block of stimulus i is copied to float64 once and padded to full
 * chunks, so the inner loops over units are branch-free and vectorised (#pragma omp simd). */
/* FP operations here never trap (exception flags are not inspected), and saying so lets GCC turn
 * the per-unit selects below into vector blends; the results are the same bits either way. */
#pragma GCC optimize("no-trapping-math")

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "ventral/reliability.h"
#include "ventral/rng.h"

enum {
    UNIT_CHUNK = 128, /* units per thread task: a row slice of 1 KiB of float64 */
};

static vt_status check_input(const vt_tensor *r, const char *what)
{
    if (r->dtype != VT_F32 && r->dtype != VT_F64)
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: R must be float32 or float64 (NaN = missing), got %s", what,
                       vt_dtype_name(r->dtype));
    if (r->rank != 3) {
        char shape[96];
        return vt_fail(VT_ERR_ARG, "%s: R must be 3-d (stimuli x repetitions x units), got shape %s", what,
                       vt_tensor_shape_str(r, shape, sizeof shape));
    }
    if (r->shape[0] < 2)
        return vt_fail(VT_ERR_ARG, "%s: R needs at least 2 stimuli (dimension 0), got %lld", what,
                       (long long)r->shape[0]);
    if (r->shape[1] < 2)
        return vt_fail(VT_ERR_ARG, "%s: R needs at least 2 repetitions (dimension 1), got %lld", what,
                       (long long)r->shape[1]);
    if (r->shape[2] < 1) return vt_fail(VT_ERR_ARG, "%s: R has no units (dimension 2)", what);
    return VT_OK;
}

static vt_status check_output(const vt_tensor *out, const char *name, int64_t units)
{
    if (!out) return VT_OK;
    if (out->dtype != VT_F64 || out->rank != 1 || out->shape[0] != units)
        return vt_fail(VT_ERR_ARG, "reliability: output %s must be float64 of shape [%lld]", name, (long long)units);
    return VT_OK;
}

static vt_status inf_error(const vt_tensor *r, int64_t flat, const char *what)
{
    int64_t reps = r->shape[1], units = r->shape[2];
    return vt_fail(VT_ERR_ARG,
                   "%s: R holds %s at stimulus %lld, repetition %lld, unit %lld (only NaN may mark a missing "
                   "trial)",
                   what, (r->dtype == VT_F32 ? vt_tensor_f32(r)[flat] : vt_tensor_f64(r)[flat]) > 0 ? "+Inf" : "-Inf",
                   (long long)(flat / (reps * units)), (long long)(flat / units % reps), (long long)(flat % units));
}

double vt_reliability_noise_ceiling(double ncsnr, double mean_inv_trials)
{
    if (isnan(ncsnr)) return NAN;
    if (isinf(ncsnr)) return 100.0;
    double s2 = ncsnr * ncsnr;
    return 100.0 * s2 / (s2 + mean_inv_trials);
}

/* Copies R[i, :, u0 .. u0+nu) into buf[q * UNIT_CHUNK + u] as double, padding units nu .. UNIT_CHUNK
 * with NaN (missing), so the loops below always run full, vectorisable chunks. Lowers *first_inf
 * to the flat index of the first ±Inf seen. */
static void load_block(const vt_tensor *r, int64_t i, int64_t u0, int64_t nu, double *buf, int64_t *first_inf)
{
    int64_t reps = r->shape[1], units = r->shape[2];
    int any_inf = 0;
    for (int64_t q = 0; q < reps; q++) {
        int64_t base = (i * reps + q) * units + u0;
        double *row = buf + q * UNIT_CHUNK;
        if (r->dtype == VT_F32) {
            const float *src = vt_tensor_f32(r) + base;
            for (int64_t u = 0; u < nu; u++) row[u] = src[u];
        } else {
            memcpy(row, vt_tensor_f64(r) + base, sizeof *row * (size_t)nu);
        }
        for (int64_t u = nu; u < UNIT_CHUNK; u++) row[u] = NAN;
#pragma omp simd reduction(| : any_inf)
        for (int u = 0; u < UNIT_CHUNK; u++) any_inf |= isinf(row[u]) != 0;
    }
    if (!any_inf) return;
    for (int64_t q = 0; q < reps; q++)
        for (int64_t u = 0; u < nu; u++)
            if (isinf(buf[q * UNIT_CHUNK + u])) {
                int64_t flat = (i * reps + q) * units + u0 + u;
                if (flat < *first_inf) *first_inf = flat;
            }
}

/* Per unit of a block: available-trial count t and the sum of the available trials. */
static void count_and_sum(const double *buf, int64_t reps, double *t, double *sum)
{
#pragma omp simd
    for (int u = 0; u < UNIT_CHUNK; u++) t[u] = 0, sum[u] = 0;
    for (int64_t q = 0; q < reps; q++) {
        const double *row = buf + q * UNIT_CHUNK;
#pragma omp simd
        for (int u = 0; u < UNIT_CHUNK; u++) {
            double v = row[u];
            bool ok = v == v; /* not NaN */
            sum[u] += ok ? v : 0;
            t[u] += ok;
        }
    }
}

vt_status vt_reliability_ncsnr(const vt_tensor *r, vt_tensor *ncsnr, vt_tensor *noise_ceiling, vt_tensor *noise_var,
                               vt_tensor *signal_var)
{
    const char *what = "reliability";
    vt_status st = check_input(r, what);
    if (st != VT_OK) return st;
    int64_t stimuli = r->shape[0], reps = r->shape[1], units = r->shape[2];
    if (check_output(ncsnr, "ncsnr", units) || check_output(noise_ceiling, "noise_ceiling", units) ||
        check_output(noise_var, "noise_var", units) || check_output(signal_var, "signal_var", units))
        return VT_ERR_ARG;
    int nt = vt_threads_get();
    double *bufs = vt_malloc((size_t)nt * (size_t)reps * UNIT_CHUNK, sizeof *bufs);
    if (!bufs) return VT_ERR_NOMEM;
    int64_t chunks = (units + UNIT_CHUNK - 1) / UNIT_CHUNK, first_inf = INT64_MAX;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(min : first_inf)
    for (int64_t ch = 0; ch < chunks; ch++) {
        int64_t u0 = ch * UNIT_CHUNK, nu = units - u0 < UNIT_CHUNK ? units - u0 : UNIT_CHUNK;
        double *buf = bufs + (size_t)omp_get_thread_num() * (size_t)reps * UNIT_CHUNK;
        /* Per unit: pooled noise (sum of per-stimulus variances and their count), all-trial
         * count/mean/M2, and the sum and count of 1/t for the noise ceiling. */
        double noise_sum[UNIT_CHUNK] = {0}, noise_n[UNIT_CHUNK] = {0}, tot_n[UNIT_CHUNK] = {0};
        double tot_mean[UNIT_CHUNK] = {0}, tot_m2[UNIT_CHUNK] = {0}, inv_sum[UNIT_CHUNK] = {0};
        double inv_n[UNIT_CHUNK] = {0}, t[UNIT_CHUNK], mean[UNIT_CHUNK], ss[UNIT_CHUNK];
        for (int64_t i = 0; i < stimuli; i++) {
            load_block(r, i, u0, nu, buf, &first_inf);
            count_and_sum(buf, reps, t, mean);
#pragma omp simd
            for (int u = 0; u < UNIT_CHUNK; u++) {
                double m = mean[u] / t[u];
                mean[u] = t[u] > 0 ? m : 0;
                ss[u] = 0;
            }
            for (int64_t q = 0; q < reps; q++) {
                const double *row = buf + q * UNIT_CHUNK;
#pragma omp simd
                for (int u = 0; u < UNIT_CHUNK; u++) {
                    double d = row[u] - mean[u];
                    ss[u] += row[u] == row[u] ? d * d : 0;
                }
            }
#pragma omp simd
            for (int u = 0; u < UNIT_CHUNK; u++) {
                /* Quotients are formed unconditionally and then selected (a 0/0 is discarded), so
                 * the loop has no branches. */
                bool has = t[u] >= 1, multi = t[u] >= 2;
                double var = ss[u] / (t[u] - 1), inv = 1 / t[u];
                noise_sum[u] += multi ? var : 0;
                noise_n[u] += multi;
                inv_sum[u] += has ? inv : 0;
                inv_n[u] += has;
                /* Chan et al.: merge this stimulus's (t, mean, ss) into the running totals. */
                double n_a = tot_n[u], n = n_a + t[u], delta = mean[u] - tot_mean[u];
                double w = t[u] / n;
                w = has ? w : 0;
                tot_mean[u] += delta * w;
                tot_m2[u] += has ? ss[u] + delta * delta * n_a * w : 0;
                tot_n[u] = n;
            }
        }
        for (int64_t u = 0; u < nu; u++) {
            double nv = noise_n[u] > 0 ? noise_sum[u] / noise_n[u] : NAN;
            double tv = tot_n[u] >= 2 ? tot_m2[u] / (tot_n[u] - 1) : NAN;
            double sv = isnan(nv) || isnan(tv) ? NAN : fmax(0.0, tv - nv);
            double snr = sv / nv; /* ncsnr²: 0/0 (constant unit) is NaN, s/0 is +Inf */
            if (noise_var) vt_tensor_f64(noise_var)[u0 + u] = nv;
            if (signal_var) vt_tensor_f64(signal_var)[u0 + u] = sv;
            if (ncsnr) vt_tensor_f64(ncsnr)[u0 + u] = sqrt(sv) / sqrt(nv);
            if (noise_ceiling) {
                double f = inv_n[u] > 0 ? inv_sum[u] / inv_n[u] : NAN;
                vt_tensor_f64(noise_ceiling)[u0 + u] = isnan(snr) ? NAN : isinf(snr) ? 100.0 : 100.0 * snr / (snr + f);
            }
        }
    }
    free(bufs);
    if (first_inf != INT64_MAX) return inf_error(r, first_inf, what);
    return VT_OK;
}

vt_status vt_reliability_split_orders(int64_t splits, int64_t stimuli, int64_t reps, uint64_t seed, vt_tensor **out)
{
    *out = NULL;
    if (splits < 1)
        return vt_fail(VT_ERR_ARG, "reliability: the number of splits must be at least 1, got %lld", (long long)splits);
    if (stimuli < 1 || reps < 1 || reps > INT32_MAX)
        return vt_fail(VT_ERR_ARG, "reliability: bad split-order shape %lld x %lld", (long long)stimuli,
                       (long long)reps);
    int64_t shape[3] = {splits, stimuli, reps};
    vt_tensor *o = vt_tensor_new_uninit(VT_I32, 3, shape);
    if (!o) return VT_ERR_NOMEM;
    int32_t *d = o->data;
#pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < splits; s++)
        for (int64_t i = 0; i < stimuli; i++) {
            /* Fisher–Yates from its own stream: no draw depends on another split or stimulus. */
            int32_t *perm = d + (s * stimuli + i) * reps;
            vt_rng g = vt_rng_make(seed, (uint64_t)(s * stimuli + i));
            for (int64_t q = 0; q < reps; q++) perm[q] = (int32_t)q;
            for (int64_t q = reps - 1; q > 0; q--) {
                int64_t j = (int64_t)vt_rng_below(&g, (uint64_t)q + 1);
                int32_t tmp = perm[q];
                perm[q] = perm[j];
                perm[j] = tmp;
            }
        }
    *out = o;
    return VT_OK;
}

/* Per (split, unit) sums of the half-means a, b (shifted by the unit's first included stimulus
 * mean, so the one-pass sums do not cancel), and their ranges to detect constant vectors exactly.
 * Stored field-major per split so every update runs over contiguous units. */
enum { F_N, F_SA, F_SB, F_SAA, F_SBB, F_SAB, F_AMIN, F_AMAX, F_BMIN, F_BMAX, F_COUNT };

vt_status vt_reliability_split_half_orders(const vt_tensor *r, const vt_tensor *orders, vt_tensor *out)
{
    const char *what = "reliability";
    vt_status st = check_input(r, what);
    if (st != VT_OK) return st;
    int64_t stimuli = r->shape[0], reps = r->shape[1], units = r->shape[2];
    if (!out) return vt_fail(VT_ERR_ARG, "reliability: split-half needs an output tensor");
    if (check_output(out, "split_half", units) != VT_OK) return VT_ERR_ARG;
    if (orders->dtype != VT_I32 || orders->rank != 3 || orders->shape[0] < 1 || orders->shape[1] != stimuli ||
        orders->shape[2] != reps)
        return vt_fail(VT_ERR_ARG, "reliability: split orders must be int32 of shape splits x %lld x %lld",
                       (long long)stimuli, (long long)reps);
    int64_t splits = orders->shape[0];
    const int32_t *ord = orders->data;
    unsigned char *seen = vt_calloc((size_t)reps, 1);
    if (!seen) return VT_ERR_NOMEM;
    for (int64_t s = 0; s < splits * stimuli; s++) {
        memset(seen, 0, (size_t)reps);
        for (int64_t q = 0; q < reps; q++) {
            int32_t v = ord[s * reps + q];
            if (v < 0 || v >= reps || seen[v]) {
                free(seen);
                return vt_fail(VT_ERR_ARG, "reliability: split orders [%lld, %lld, :] are not a permutation of 0..%lld",
                               (long long)(s / stimuli), (long long)(s % stimuli), (long long)reps - 1);
            }
            seen[v] = 1;
        }
    }
    free(seen);

    int nt = vt_threads_get();
    size_t state_len = (size_t)splits * F_COUNT * UNIT_CHUNK, buf_len = (size_t)reps * UNIT_CHUNK;
    double *work = vt_malloc((size_t)nt, (state_len + buf_len) * sizeof(double));
    if (!work) return VT_ERR_NOMEM;
    int64_t chunks = (units + UNIT_CHUNK - 1) / UNIT_CHUNK, first_inf = INT64_MAX;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(min : first_inf)
    for (int64_t ch = 0; ch < chunks; ch++) {
        int64_t u0 = ch * UNIT_CHUNK, nu = units - u0 < UNIT_CHUNK ? units - u0 : UNIT_CHUNK;
        double *state = work + (size_t)omp_get_thread_num() * (state_len + buf_len), *buf = state + state_len;
        for (int64_t s = 0; s < splits; s++)
            for (int f = 0; f < F_COUNT; f++) {
                double init = f == F_AMIN || f == F_BMIN ? INFINITY : f == F_AMAX || f == F_BMAX ? -INFINITY : 0;
                for (int u = 0; u < UNIT_CHUNK; u++) state[(s * F_COUNT + f) * UNIT_CHUNK + u] = init;
            }
        double t[UNIT_CHUNK], sum[UNIT_CHUNK], half[UNIT_CHUNK], inv_a[UNIT_CHUNK], inv_b[UNIT_CHUNK];
        double shift[UNIT_CHUNK], sa[UNIT_CHUNK], sb[UNIT_CHUNK], taken[UNIT_CHUNK];
        for (int u = 0; u < UNIT_CHUNK; u++) shift[u] = NAN;
        for (int64_t i = 0; i < stimuli; i++) {
            load_block(r, i, u0, nu, buf, &first_inf);
            count_and_sum(buf, reps, t, sum);
#pragma omp simd
            for (int u = 0; u < UNIT_CHUNK; u++) {
                half[u] = floor(t[u] / 2);
                inv_a[u] = 1 / half[u];
                inv_b[u] = 1 / (t[u] - half[u]);
                double first = sum[u] / t[u];
                shift[u] = (shift[u] != shift[u]) & (t[u] >= 2) ? first : shift[u];
            }
            for (int64_t s = 0; s < splits; s++) {
                const int32_t *perm = ord + (s * stimuli + i) * reps;
#pragma omp simd
                for (int u = 0; u < UNIT_CHUNK; u++) sa[u] = 0, sb[u] = 0, taken[u] = 0;
                /* Walk the repetitions in this split's order: the first ⌊t/2⌋ available trials
                 * go to half A, the rest to half B. */
                for (int64_t q = 0; q < reps; q++) {
                    const double *row = buf + (int64_t)perm[q] * UNIT_CHUNK;
#pragma omp simd
                    for (int u = 0; u < UNIT_CHUNK; u++) {
                        double v = row[u];
                        bool ok = v == v, in_a = taken[u] < half[u];
                        double vz = ok ? v : 0; /* selects, not branches: the loop vectorises */
                        sa[u] += in_a ? vz : 0;
                        sb[u] += in_a ? 0 : vz;
                        taken[u] += ok;
                    }
                }
                double *w = state + s * F_COUNT * UNIT_CHUNK;
#pragma omp simd
                for (int u = 0; u < UNIT_CHUNK; u++) {
                    bool inc = t[u] >= 2; /* a stimulus needs a trial in each half */
                    double a = sa[u] * inv_a[u] - shift[u], b = sb[u] * inv_b[u] - shift[u];
                    w[F_N * UNIT_CHUNK + u] += inc;
                    w[F_SA * UNIT_CHUNK + u] += inc ? a : 0;
                    w[F_SB * UNIT_CHUNK + u] += inc ? b : 0;
                    w[F_SAA * UNIT_CHUNK + u] += inc ? a * a : 0;
                    w[F_SBB * UNIT_CHUNK + u] += inc ? b * b : 0;
                    w[F_SAB * UNIT_CHUNK + u] += inc ? a * b : 0;
                    w[F_AMIN * UNIT_CHUNK + u] =
                        inc & (a < w[F_AMIN * UNIT_CHUNK + u]) ? a : w[F_AMIN * UNIT_CHUNK + u];
                    w[F_AMAX * UNIT_CHUNK + u] =
                        inc & (a > w[F_AMAX * UNIT_CHUNK + u]) ? a : w[F_AMAX * UNIT_CHUNK + u];
                    w[F_BMIN * UNIT_CHUNK + u] =
                        inc & (b < w[F_BMIN * UNIT_CHUNK + u]) ? b : w[F_BMIN * UNIT_CHUNK + u];
                    w[F_BMAX * UNIT_CHUNK + u] =
                        inc & (b > w[F_BMAX * UNIT_CHUNK + u]) ? b : w[F_BMAX * UNIT_CHUNK + u];
                }
            }
        }
        for (int64_t u = 0; u < nu; u++) {
            double total = 0;
            int64_t defined = 0;
            for (int64_t s = 0; s < splits; s++) {
                const double *w = state + s * F_COUNT * UNIT_CHUNK + u;
                double n = w[F_N * UNIT_CHUNK];
                /* Undefined: fewer than 2 stimuli, or a half-mean vector that is constant. */
                if (n < 2 || w[F_AMIN * UNIT_CHUNK] == w[F_AMAX * UNIT_CHUNK] ||
                    w[F_BMIN * UNIT_CHUNK] == w[F_BMAX * UNIT_CHUNK])
                    continue;
                double sa_ = w[F_SA * UNIT_CHUNK], sb_ = w[F_SB * UNIT_CHUNK];
                double m2a = w[F_SAA * UNIT_CHUNK] - sa_ * sa_ / n, m2b = w[F_SBB * UNIT_CHUNK] - sb_ * sb_ / n;
                double cab = w[F_SAB * UNIT_CHUNK] - sa_ * sb_ / n;
                if (!(m2a > 0 && m2b > 0)) continue;
                double rr = fmin(1.0, fmax(-1.0, cab / sqrt(m2a * m2b))); /* rounding can step past ±1 */
                total += 2 * rr / (1 + rr);
                defined++;
            }
            vt_tensor_f64(out)[u0 + u] = defined ? total / (double)defined : NAN;
        }
    }
    free(work);
    if (first_inf != INT64_MAX) return inf_error(r, first_inf, what);
    return VT_OK;
}

vt_status vt_reliability_split_half(const vt_tensor *r, int64_t splits, uint64_t seed, vt_tensor *out)
{
    vt_status st = check_input(r, "reliability");
    if (st != VT_OK) return st;
    vt_tensor *orders = NULL;
    st = vt_reliability_split_orders(splits, r->shape[0], r->shape[1], seed, &orders);
    if (st == VT_OK) st = vt_reliability_split_half_orders(r, orders, out);
    vt_tensor_free(orders);
    return st;
}
