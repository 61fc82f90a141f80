/* Ranks, correlations and the bootstrap, at the library level: known answers, a naive
 * O(n²) Kendall tau-b and a comparison sort as independent oracles, and every resampled
 * statistic against the same statistic on the explicitly materialised resampled triangles. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ventral/bootstrap.h"
#include "ventral/compare.h"
#include "ventral/rank.h"
#include "ventral/rng.h"
#include "vt_test.h"

static void test_rank_known(void)
{
    double r[7];
    CHECK(vt_rank_average((double[]){3, 1, 4, 1, 5}, 5, r) == VT_OK);
    CHECK(r[0] == 3 && r[1] == 1.5 && r[2] == 4 && r[3] == 1.5 && r[4] == 5);
    /* -0.0 and +0.0 are one value; three-way tie at the top. */
    CHECK(vt_rank_average((double[]){0.0, -0.0, -1, 7, 7, 7, 2}, 7, r) == VT_OK);
    CHECK(r[0] == 2.5 && r[1] == 2.5 && r[2] == 1 && r[3] == 6 && r[4] == 6 && r[5] == 6 && r[6] == 4);
    uint32_t d[5];
    int64_t g;
    CHECK(vt_rank_dense((double[]){3, 1, 4, 1, 5}, 5, d, &g) == VT_OK);
    CHECK(g == 4 && d[0] == 1 && d[1] == 0 && d[2] == 2 && d[3] == 0 && d[4] == 3);
    CHECK(vt_rank_average(NULL, 0, NULL) == VT_OK);
}

/* The reference order: stable insertion sort of indices by value (O(n²), small n only). */
static void naive_argsort(const double *x, int64_t n, uint32_t *o)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i;
        while (j > 0 && x[o[j - 1]] > x[i]) o[j] = o[j - 1], j--;
        o[j] = (uint32_t)i;
    }
}

static void test_argsort_adversarial(void)
{
    enum { N = 3000 };
    static double x[N];
    static uint32_t got[N], ref[N];
    vt_rng r = vt_rng_make(5, 0);
    for (int kind = 0; kind < 6; kind++) {
        for (int i = 0; i < N; i++) {
            double u = vt_rng_normal(&r);
            switch (kind) {
            case 0: x[i] = u; break;            /* distinct */
            case 1: x[i] = floor(u * 2); break; /* heavy ties */
            case 2:
                x[i] = 1 + ldexp((double)vt_rng_below(&r, 1000), -45); /* low-bit-only differences */
                break;
            case 3: x[i] = u * 1e-310; break; /* subnormals, ±0 */
            case 4: x[i] = (i % 2 ? -1 : 1) * ldexp(1 + (double)vt_rng_below(&r, 7) * 0x1p-50, (int)(u * 40)); break;
            default: x[i] = i % 3 ? 0.0 : -0.0; break; /* all zero, both signs */
            }
        }
        CHECK(vt_rank_argsort(x, N, got) == VT_OK);
        naive_argsort(x, N, ref);
        int same = 1;
        for (int i = 0; i < N; i++) same &= got[i] == ref[i] || x[got[i]] == x[ref[i]];
        /* Equal values must keep index order (stable), so the orders agree exactly. */
        if (kind != 5 && kind != 3)
            for (int i = 0; i < N; i++) same &= got[i] == ref[i];
        printf("  argsort kind %d: %s\n", kind, same ? "same order as the reference" : "DIFFERENT");
        CHECK(same);
    }
}

/* Kendall tau-b by definition, O(n²). */
static double naive_tau_b(const double *a, const double *b, int64_t n)
{
    double c = 0, d = 0, ta = 0, tb = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double s = (a[i] - a[j]) * (b[i] - b[j]);
            if (s > 0) c++;
            if (s < 0) d++;
            if (a[i] == a[j] && b[i] != b[j]) ta++;
            if (b[i] == b[j] && a[i] != a[j]) tb++;
        }
    return (c - d) / sqrt((c + d + ta) * (c + d + tb));
}

static double naive_pearson(const double *a, const double *b, int64_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++) ma += a[i] / (double)n, mb += b[i] / (double)n;
    for (int64_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

static void test_correlations_known(void)
{
    double a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {3, 5, 7, 9, 11, 13}, c[6] = {6, 5, 4, 3, 2, 1}, r;
    for (int m = 0; m < VT_CORR_METHOD_COUNT; m++) {
        /* tau-b divides by √n0·√n0, which can round to 1 − 1 ulp, as scipy's does. */
        CHECK(vt_compare_vectors(a, b, 6, (vt_corr_method)m, &r) == VT_OK);
        CHECK_CLOSE(r, 1, 1e-15, 0);
        CHECK(vt_compare_vectors(a, c, 6, (vt_corr_method)m, &r) == VT_OK);
        CHECK_CLOSE(r, -1, 1e-15, 0);
    }
    /* Spearman = Pearson of average ranks; tau-b against the definition, with ties. */
    enum { N = 400 };
    static double x[N], y[N], rx[N], ry[N];
    vt_rng g = vt_rng_make(9, 0);
    for (int i = 0; i < N; i++) {
        x[i] = (double)vt_rng_below(&g, 6);
        y[i] = x[i] + (double)vt_rng_below(&g, 4);
    }
    vt_rank_average(x, N, rx);
    vt_rank_average(y, N, ry);
    CHECK(vt_compare_vectors(x, y, N, VT_CORR_SPEARMAN, &r) == VT_OK);
    CHECK_CLOSE(r, naive_pearson(rx, ry, N), 1e-12, 0);
    CHECK(vt_compare_vectors(x, y, N, VT_CORR_KENDALL, &r) == VT_OK);
    CHECK_CLOSE(r, naive_tau_b(x, y, N), 1e-12, 0);
    CHECK(vt_compare_vectors(x, y, N, VT_CORR_PEARSON, &r) == VT_OK);
    CHECK_CLOSE(r, naive_pearson(x, y, N), 1e-12, 0);
    /* Degenerate inputs are errors, not NaN. */
    double k[4] = {2, 2, 2, 2};
    CHECK(vt_compare_vectors(a, k, 4, VT_CORR_SPEARMAN, &r) == VT_ERR_ARG && strstr(vt_last_error(), "constant"));
    CHECK(vt_compare_vectors(a, b, 1, VT_CORR_PEARSON, &r) == VT_ERR_ARG);
    double bad[3] = {1, NAN, 2};
    CHECK(vt_compare_vectors(a, bad, 3, VT_CORR_PEARSON, &r) == VT_ERR_ARG && strstr(vt_last_error(), "NaN"));
}

/* A random symmetric matrix with tied values when `ties`. */
static vt_tensor *random_matrix(int64_t n, uint64_t seed, int ties)
{
    vt_tensor *t = vt_tensor_new(VT_F64, 2, (int64_t[]){n, n});
    vt_rng g = vt_rng_make(seed, 0);
    double *d = vt_tensor_f64(t);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            double v = ties ? (double)vt_rng_below(&g, 4) : vt_rng_normal(&g);
            d[i * n + j] = d[j * n + i] = v;
        }
    return t;
}

/* The statistic on the materialised resampled triangles (METHODS §9), computed plainly. */
static double materialised(const vt_tensor *a, const vt_tensor *b, const int64_t *idx, int64_t n, vt_corr_method m)
{
    int64_t *s = malloc((size_t)n * sizeof *s), len = 0;
    double *x = malloc((size_t)(n * n) * sizeof *x), *y = malloc((size_t)(n * n) * sizeof *y), r = NAN;
    memcpy(s, idx, (size_t)n * sizeof *s);
    for (int64_t i = 1; i < n; i++) /* ascending order */
        for (int64_t j = i; j > 0 && s[j - 1] > s[j]; j--) {
            int64_t t = s[j];
            s[j] = s[j - 1], s[j - 1] = t;
        }
    for (int64_t k = 0; k < n; k++)
        for (int64_t l = k + 1; l < n; l++)
            if (s[k] != s[l]) {
                x[len] = vt_tensor_f64(a)[s[k] * n + s[l]];
                y[len] = vt_tensor_f64(b)[s[k] * n + s[l]];
                len++;
            }
    if (m == VT_CORR_KENDALL)
        r = naive_tau_b(x, y, len);
    else if (vt_compare_vectors(x, y, len, m, &r) != VT_OK)
        r = NAN;
    free(s), free(x), free(y);
    return r;
}

static void test_resampled_equals_materialised(void)
{
    enum { N = 24 };
    int64_t idx[N];
    uint32_t counts[N];
    for (int ties = 0; ties < 2; ties++) {
        vt_tensor *a = random_matrix(N, 1 + ties, ties), *b = random_matrix(N, 3 + ties, ties);
        for (int m = 0; m < VT_CORR_METHOD_COUNT; m++) {
            vt_compare_pair *pair;
            CHECK(vt_compare_pair_new(a, NULL, b, NULL, (vt_corr_method)m, &pair) == VT_OK);
            double max_err = 0;
            int agree = 1;
            for (int64_t rs = 0; rs < 40; rs++) {
                vt_bootstrap_draw(77, rs, N, idx);
                vt_bootstrap_counts(idx, N, counts);
                double got, ref = materialised(a, b, idx, N, (vt_corr_method)m);
                CHECK(vt_compare_pair_resampled(pair, counts, &got) == VT_OK);
                agree &= isnan(got) == isnan(ref);
                if (!isnan(ref)) max_err = fmax(max_err, fabs(got - ref));
            }
            printf("  resampled %s (ties %d) vs materialised: max abs error %.3g\n",
                   vt_corr_method_name((vt_corr_method)m), ties, max_err);
            CHECK(agree && max_err < 1e-12);
            vt_compare_pair_free(pair);
        }
        vt_tensor_free(a), vt_tensor_free(b);
    }
}

static void test_bootstrap(void)
{
    double s[101], lo, hi;
    for (int i = 0; i < 100; i++) s[i] = i + 1;
    s[100] = NAN; /* undefined resamples are left out */
    CHECK(vt_bootstrap_percentile(s, 101, 0.95, &lo, &hi) == VT_OK);
    CHECK_CLOSE(lo, 3.475, 1e-12, 0); /* numpy.percentile(1..100, [2.5, 97.5]) */
    CHECK_CLOSE(hi, 97.525, 1e-12, 0);
    CHECK(vt_bootstrap_percentile(s + 100, 1, 0.95, &lo, &hi) == VT_ERR_ARG);
    CHECK(vt_bootstrap_percentile(s, 10, 1.0, &lo, &hi) == VT_ERR_ARG);

    /* Thread count changes nothing, bit for bit. */
    vt_tensor *a = random_matrix(60, 11, 0), *b = random_matrix(60, 12, 0);
    for (int m = 0; m < VT_CORR_METHOD_COUNT; m++) {
        vt_compare_pair *pair;
        CHECK(vt_compare_pair_new(a, NULL, b, NULL, (vt_corr_method)m, &pair) == VT_OK);
        vt_bootstrap_opts o = {.resamples = 64, .seed = 3, .level = 0.9};
        double s1[64], s2[64];
        vt_bootstrap_ci c1, c2;
        vt_threads_set(1);
        CHECK(vt_compare_bootstrap(pair, &o, &c1, s1) == VT_OK);
        vt_threads_set(2);
        CHECK(vt_compare_bootstrap(pair, &o, &c2, s2) == VT_OK);
        CHECK(memcmp(s1, s2, sizeof s1) == 0 && memcmp(&c1, &c2, sizeof c1) == 0);
        CHECK(c1.valid == 64 && c1.low <= c1.estimate && c1.estimate <= c1.high);
        vt_compare_pair_free(pair);
    }
    vt_threads_set(0);
    vt_tensor_free(a), vt_tensor_free(b);
}

/* Large inputs sort in one chunk per thread, merged pairwise: the count must not change. */
static void test_kendall_threads(void)
{
    enum { N = 300000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), r[4];
    vt_rng g = vt_rng_make(21, 0);
    for (int i = 0; i < N; i++) {
        x[i] = floor(vt_rng_normal(&g) * 50);
        y[i] = x[i] + floor(vt_rng_normal(&g) * 80);
    }
    for (int t = 1; t <= 4; t++) {
        vt_threads_set(t);
        CHECK(vt_compare_vectors(x, y, N, VT_CORR_KENDALL, &r[t - 1]) == VT_OK);
    }
    printf("  kendall tau-b %.17g with 1..4 threads\n", r[0]);
    CHECK(r[0] == r[1] && r[0] == r[2] && r[0] == r[3]);
    vt_threads_set(0);
    free(x), free(y);
}

static void test_pair_errors(void)
{
    vt_compare_pair *pair = NULL;
    vt_tensor *two = random_matrix(2, 1, 0), *v = vt_tensor_new(VT_F64, 1, (int64_t[]){5});
    CHECK(vt_compare_pair_new(two, "M", two, "M", VT_CORR_PEARSON, &pair) == VT_ERR_ARG && !pair);
    CHECK(strstr(vt_last_error(), "at least 3 stimuli") != NULL);
    for (int i = 0; i < 5; i++) vt_tensor_f64(v)[i] = i * i;
    CHECK(vt_compare_pair_new(v, NULL, v, NULL, VT_CORR_KENDALL, &pair) == VT_OK);
    uint32_t counts[5] = {1, 1, 1, 1, 1};
    double r;
    CHECK(vt_compare_pair_resampled(pair, counts, &r) == VT_ERR_ARG); /* 1-d: no stimuli */
    CHECK(vt_compare_pair_estimate(pair, &r) == VT_OK);
    CHECK_CLOSE(r, 1, 1e-15, 0);
    vt_compare_pair_free(pair);
    vt_compare_pair_free(NULL);
    vt_corr_method m;
    CHECK(vt_corr_method_parse("kendall", &m) == VT_OK && m == VT_CORR_KENDALL);
    CHECK(vt_corr_method_parse("tau", &m) == VT_ERR_ARG);
    vt_tensor_free(two), vt_tensor_free(v);
}

int main(void)
{
    RUN(test_rank_known);
    RUN(test_argsort_adversarial);
    RUN(test_correlations_known);
    RUN(test_resampled_equals_materialised);
    RUN(test_bootstrap);
    RUN(test_kendall_threads);
    RUN(test_pair_errors);
    return vt_test_summary();
}
