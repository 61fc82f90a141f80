#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ventral/rank.h"

#define RADIX_BITS    11
#define RADIX_SIZE    (1 << RADIX_BITS)
#define RADIX_PASSES  3 /* 3 × 11 = 33 >= 32 bits */
#define INSERTION_MAX 32

/* Maps a double to an unsigned key whose integer order is the numeric order: negative
 * values have all bits flipped, non-negative ones only the sign bit. Adding +0.0 turns -0.0
 * into +0.0 first, so the two zeros are one key (they compare equal as doubles). */
static inline uint64_t sort_key(double x)
{
    uint64_t u;
    x += 0.0;
    memcpy(&u, &x, sizeof u);
    return (u >> 63) ? ~u : u | 0x8000000000000000ull;
}

/* Stable LSD radix sort of n (key, value) pairs by 32-bit key. The pairs start in (k[0], v[0])
 * (v[0] unused when `identity`: the values are then 0..n−1) and end in (k[r], v[r]) for the
 * returned r; the other pair of arrays is scratch. Passes whose digit is the same for every key
 * are skipped (a histogram of all three digits is taken in one read). */
static int radix_sort32(uint32_t *k[2], uint32_t *v[2], int64_t n, bool identity)
{
    uint32_t hist[RADIX_PASSES][RADIX_SIZE];
    memset(hist, 0, sizeof hist);
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < RADIX_PASSES; d++) hist[d][(k[0][i] >> (d * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
    int cur = 0;
    for (int d = 0; d < RADIX_PASSES; d++) {
        int shift = d * RADIX_BITS;
        uint32_t *h = hist[d];
        if (h[(k[cur][0] >> shift) & (RADIX_SIZE - 1)] == (uint32_t)n) continue;
        uint32_t sum = 0;
        for (int b = 0; b < RADIX_SIZE; b++) {
            uint32_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        const uint32_t *ks = k[cur], *vs = v[cur];
        uint32_t *kd = k[cur ^ 1], *vd = v[cur ^ 1];
        for (int64_t i = 0; i < n; i++) {
            uint32_t key = ks[i], pos = h[(key >> shift) & (RADIX_SIZE - 1)]++;
            kd[pos] = key;
            vd[pos] = identity ? (uint32_t)i : vs[i];
        }
        identity = false;
        cur ^= 1;
    }
    if (identity)
        for (int64_t i = 0; i < n; i++) v[cur][i] = (uint32_t)i;
    return cur;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* order[s..e) share the high 32 bits of their keys: sort them by the low 32 bits, stably. */
static vt_status sort_run(const double *x, uint32_t *order, int64_t s, int64_t e, uint32_t *lo)
{
    bool sorted = true;
    for (int64_t t = s; t < e; t++) {
        lo[t] = (uint32_t)sort_key(x[order[t]]);
        sorted = sorted && (t == s || lo[t] >= lo[t - 1]);
    }
    if (sorted) return VT_OK; /* the common case: exact ties, already in index order */
    if (e - s <= INSERTION_MAX) {
        for (int64_t i = s + 1; i < e; i++) {
            uint32_t kl = lo[i], kv = order[i];
            int64_t j = i;
            for (; j > s && lo[j - 1] > kl; j--) lo[j] = lo[j - 1], order[j] = order[j - 1];
            lo[j] = kl, order[j] = kv;
        }
        return VT_OK;
    }
    /* A long run differing only in the low bits (rare): (low key, index) packed in one word is
     * a total order that keeps equal keys in index order. */
    uint64_t *packed = vt_malloc((size_t)(e - s), sizeof *packed);
    if (!packed) return VT_ERR_NOMEM;
    for (int64_t t = s; t < e; t++) packed[t - s] = (uint64_t)lo[t] << 32 | order[t];
    qsort(packed, (size_t)(e - s), sizeof *packed, cmp_u64);
    for (int64_t t = s; t < e; t++) order[t] = (uint32_t)packed[t - s];
    free(packed);
    return VT_OK;
}

vt_status vt_rank_argsort(const double *x, int64_t n, uint32_t *order)
{
    if (n < 0 || (uint64_t)n > UINT32_MAX)
        return vt_fail(VT_ERR_ARG, "rank: %lld values, at most %u can be ranked", (long long)n, UINT32_MAX);
    if (n == 0) return VT_OK;
    /* Radix-sort by the high 32 bits of the keys (sign, exponent and 20 mantissa bits: 8-byte
     * pairs, three passes), then order the runs that tie on them by the low 32 bits. */
    uint32_t *hi = vt_malloc((size_t)n, 2 * sizeof *hi), *idx = vt_malloc((size_t)n, sizeof *idx);
    if (!hi || !idx) {
        free(hi), free(idx);
        return VT_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) hi[i] = (uint32_t)(sort_key(x[i]) >> 32);
    uint32_t *k[2] = {hi, hi + n}, *v[2] = {order, idx};
    int r = radix_sort32(k, v, n, true);
    if (v[r] != order) memcpy(order, v[r], (size_t)n * sizeof *order);
    const uint32_t *sorted_hi = k[r];
    uint32_t *lo = k[r ^ 1];
    vt_status st = VT_OK;
    for (int64_t s = 0; s < n && st == VT_OK;) {
        int64_t e = s + 1;
        while (e < n && sorted_hi[e] == sorted_hi[s]) e++;
        if (e - s > 1) st = sort_run(x, order, s, e, lo);
        s = e;
    }
    free(hi), free(idx);
    return st;
}

vt_status vt_rank_both(const double *x, int64_t n, double *average, uint32_t *dense, int64_t *n_distinct)
{
    if (n_distinct) *n_distinct = 0;
    if (n == 0) return VT_OK;
    uint32_t *order = vt_malloc((size_t)(n > 0 ? n : 1), sizeof *order);
    if (!order) return VT_ERR_NOMEM;
    vt_status st = vt_rank_argsort(x, n, order);
    if (st != VT_OK) {
        free(order);
        return st;
    }
    uint32_t g = 0;
    for (int64_t s = 0; s < n; g++) {
        int64_t e = s + 1;
        double v = x[order[s]];
        while (e < n && x[order[e]] == v) e++;
        /* Positions s..e-1 (0-based) share the mean of the 1-based ranks s+1..e. */
        double r = 0.5 * (double)(s + 1 + e);
        for (int64_t k = s; k < e; k++) {
            if (average) average[order[k]] = r;
            if (dense) dense[order[k]] = g;
        }
        s = e;
    }
    if (n_distinct) *n_distinct = g;
    free(order);
    return VT_OK;
}

vt_status vt_rank_average(const double *x, int64_t n, double *ranks)
{
    return vt_rank_both(x, n, ranks, NULL, NULL);
}

vt_status vt_rank_dense(const double *x, int64_t n, uint32_t *dense, int64_t *n_distinct)
{
    return vt_rank_both(x, n, NULL, dense, n_distinct);
}
