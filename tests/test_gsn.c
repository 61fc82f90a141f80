/* GSN internals and API contracts. Package parity and planted-truth checks live in
 * tests/reference/test_gsn.py; here: the MATLAB-compatible permutation (values from
 * numpy's RandomState(42)), the PSD projection (closed form), numpy-compatible median/IQR,
 * argument errors, and seeded determinism of the ceiling. */
#include <math.h>
#include <string.h>

#include "stats/gsn_internal.h"
#include "ventral/gsn.h"
#include "ventral/rng.h"
#include "vt_test.h"

static void test_randperm(void)
{
    /* gsn.utilities.deterministic_randperm(n) */
    static const int64_t p5[] = {4, 0, 3, 2, 1};
    static const int64_t p10[] = {6, 5, 4, 0, 3, 8, 9, 2, 7, 1};
    static const int64_t p37[] = {10, 29, 6,  32, 21, 5, 4,  31, 14, 15, 26, 13, 19, 22, 16, 36, 23, 0, 18,
                                  24, 27, 17, 28, 3,  8, 30, 20, 9,  2,  25, 35, 12, 7,  33, 1,  34, 11};
    int64_t got[37];
    CHECK(vt_gsn_randperm(5, got) == VT_OK && memcmp(got, p5, sizeof p5) == 0);
    CHECK(vt_gsn_randperm(10, got) == VT_OK && memcmp(got, p10, sizeof p10) == 0);
    CHECK(vt_gsn_randperm(37, got) == VT_OK && memcmp(got, p37, sizeof p37) == 0);
    CHECK(vt_gsn_randperm(1, got) == VT_OK && got[0] == 0);
}

static void test_nearest_psd(void)
{
    /* [[1, 2], [2, 1]] has eigenvalues 3 and -1 (vectors (1,1)/√2, (1,-1)/√2): the nearest PSD
     * matrix keeps 3·vvᵀ = [[1.5, 1.5], [1.5, 1.5]] (singular, so the 1e-10 ridge may be added). */
    double m[4] = {1, 2, 2, 1};
    CHECK(vt_gsn_nearest_psd(m, 2, false) == VT_OK);
    static const double want[4] = {1.5, 1.5, 1.5, 1.5};
    CHECK_ARRAYS("nearest psd of [[1,2],[2,1]]", m, want, 4, 2e-10, 1e-12);
    /* Already positive definite: only symmetrised. */
    double a[4] = {2, 0.5, 0.3, 1}, wa[4] = {2, 0.4, 0.4, 1};
    CHECK(vt_gsn_nearest_psd(a, 2, false) == VT_OK);
    CHECK_ARRAYS("PD input is only symmetrised", a, wa, 4, 0, 1e-15);
    /* One unit: max(0, x) under the scalar rule; eigen path + ridge otherwise. */
    double s = -3;
    CHECK(vt_gsn_nearest_psd(&s, 1, true) == VT_OK && s == 0);
    s = -3;
    CHECK(vt_gsn_nearest_psd(&s, 1, false) == VT_OK && fabs(s - 1e-10) < 1e-20);
}

static void test_median_iqr(void)
{
    /* numpy: median and percentile(75) - percentile(25) (linear interpolation) */
    double v[6] = {0.3, -1.2, 2.5, 0.7, 0.1, 1.9};
    CHECK_CLOSE(vt_gsn_median(v, 6), 0.5, 1e-15, 0);
    CHECK_CLOSE(vt_gsn_iqr(v, 6), 1.45, 1e-15, 0);
    double w[5] = {4, 1, 3, 2, 8};
    CHECK_CLOSE(vt_gsn_median(w, 5), 3.0, 0, 0);
    CHECK_CLOSE(vt_gsn_iqr(w, 5), 2.0, 0, 0);
}

/* units × conds × trials with signal 1 and noise 0.7. */
static vt_tensor *make_data(int64_t n, int64_t c, int64_t t, uint64_t seed)
{
    int64_t shape[3] = {n, c, t};
    vt_tensor *x = vt_tensor_new(VT_F64, 3, shape);
    double *d = vt_tensor_f64(x);
    vt_rng r = vt_rng_make(seed, 0);
    for (int64_t u = 0; u < n; u++)
        for (int64_t k = 0; k < c; k++) {
            double s = vt_rng_normal(&r);
            for (int64_t j = 0; j < t; j++) d[(u * c + k) * t + j] = s + 0.7 * vt_rng_normal(&r);
        }
    return x;
}

static void test_errors(void)
{
    vt_gsn_result *g = (vt_gsn_result *)1;
    CHECK(vt_gsn_perform(NULL, NULL, &g) == VT_ERR_ARG && g == NULL);
    vt_tensor *x = make_data(5, 12, 3, 1);
    vt_gsn_options o;
    vt_gsn_options_default(&o);
    double bad_levels[2] = {0.5, 1.5};
    o.shrinklevels = bad_levels;
    o.nshrinklevels = 2;
    CHECK(vt_gsn_perform(x, &o, &g) == VT_ERR_ARG && strstr(vt_last_error(), "shrinklevels[1]"));
    vt_gsn_options_default(&o);
    o.max_iters = 0;
    CHECK(vt_gsn_perform(x, &o, &g) == VT_ERR_ARG && strstr(vt_last_error(), "max_iters"));

    CHECK(vt_gsn_perform(x, NULL, &g) == VT_OK && g);
    vt_gsn_rsa_options ro;
    vt_gsn_rsa_options_default(&ro);
    vt_gsn_rsa_result *nc = (vt_gsn_rsa_result *)1;
    vt_tensor *other = make_data(5, 13, 3, 2);
    CHECK(vt_gsn_rsa_noise_ceiling(other, g, &ro, &nc) == VT_ERR_ARG && nc == NULL);
    ro.ncsims = 0;
    CHECK(vt_gsn_rsa_noise_ceiling(x, g, &ro, &nc) == VT_ERR_ARG && strstr(vt_last_error(), "ncsims"));
    vt_gsn_rsa_options_default(&ro);
    ro.ncconds = 2;
    CHECK(vt_gsn_rsa_noise_ceiling(x, g, &ro, &nc) == VT_ERR_ARG && strstr(vt_last_error(), "ncconds"));
    vt_gsn_rsa_options_default(&ro);
    double scs[2] = {1, -0.5};
    ro.scs = scs;
    ro.nscs = 2;
    CHECK(vt_gsn_rsa_noise_ceiling(x, g, &ro, &nc) == VT_ERR_ARG && strstr(vt_last_error(), "scs[1]"));
    vt_gsn_rsa_options_default(&ro);
    ro.simchunk = 1;
    CHECK(vt_gsn_rsa_noise_ceiling(x, g, &ro, &nc) == VT_ERR_ARG && strstr(vt_last_error(), "simchunk"));
    vt_gsn_rsa_result_free(NULL);
    vt_gsn_result_free(NULL);
    vt_gsn_result_free(g);
    vt_tensor_free(other);
    vt_tensor_free(x);
}

static void test_ceiling_seeded(void)
{
    vt_tensor *x = make_data(12, 30, 5, 3); /* 5 trials: the exhaustive split (pairs of 2-subsets) */
    vt_gsn_result *g = NULL;
    CHECK(vt_gsn_perform(x, NULL, &g) == VT_OK);
    vt_gsn_rsa_options ro;
    vt_gsn_rsa_options_default(&ro);
    ro.ncsims = 20;
    ro.seed = 9;
    vt_gsn_rsa_result *a = NULL, *b = NULL, *c = NULL;
    CHECK(vt_gsn_rsa_noise_ceiling(x, g, &ro, &a) == VT_OK);
    CHECK(vt_gsn_rsa_noise_ceiling(x, g, &ro, &b) == VT_OK);
    ro.seed = 10;
    CHECK(vt_gsn_rsa_noise_ceiling(x, g, &ro, &c) == VT_OK);
    if (a && b && c) {
        CHECK(memcmp(vt_tensor_f64(a->ncdist), vt_tensor_f64(b->ncdist), 20 * sizeof(double)) == 0);
        CHECK(a->nc == b->nc && a->sc == b->sc);
        CHECK(memcmp(vt_tensor_f64(a->ncdist), vt_tensor_f64(c->ncdist), 20 * sizeof(double)) != 0);
        CHECK(a->split_exhaustive && a->splitnum == 2 && a->splitr == c->splitr);
        CHECK(a->nc > 0 && a->nc <= 1);
        printf("  ceiling %.4f (seed 9) vs %.4f (seed 10), sc %.1f, splitr %.4f\n", a->nc, c->nc, a->sc, a->splitr);
    }
    vt_gsn_rsa_result_free(a);
    vt_gsn_rsa_result_free(b);
    vt_gsn_rsa_result_free(c);
    vt_gsn_result_free(g);
    vt_tensor_free(x);
}

int main(void)
{
    RUN(test_randperm);
    RUN(test_nearest_psd);
    RUN(test_median_iqr);
    RUN(test_errors);
    RUN(test_ceiling_seeded);
    return vt_test_summary();
}
