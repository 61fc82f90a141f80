/* RSMs at the library level: closed forms, output dtypes, and the errors (constant rows,
 * NaN, dtypes, shapes). The comparison with numpy at scale is tests/reference/test_rsm.py. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ventral/rsm.h"
#include "vt_test.h"

static vt_tensor *matrix(int64_t n, int64_t p, const double *v)
{
    vt_tensor *t = vt_tensor_new(VT_F64, 2, (int64_t[]){n, p});
    memcpy(t->data, v, (size_t)(n * p) * sizeof *v);
    return t;
}

static void test_closed_forms(void)
{
    vt_tensor *x = matrix(3, 3, (double[]){1, 2, 3, 2, 4, 6, 3, 2, 1}), *r;
    CHECK(vt_rsm_new(x, VT_RSM_PEARSON, &r) == VT_OK);
    double pearson[9] = {1, 1, -1, 1, 1, -1, -1, -1, 1};
    CHECK_ARRAYS("pearson 3x3", vt_tensor_f64(r), pearson, 9, 1e-15, 0);
    vt_tensor_free(r);
    /* Ranks make a monotone transform invisible: row 2 = row 1 cubed. */
    vt_tensor *y = matrix(2, 4, (double[]){-2, 1, 3, 0.5, -8, 1, 27, 0.125});
    CHECK(vt_rsm_new(y, VT_RSM_SPEARMAN, &r) == VT_OK && vt_tensor_f64(r)[1] == 1);
    vt_tensor_free(r);
    vt_tensor *z = matrix(3, 2, (double[]){1, 0, 0, 2, 3, 3});
    CHECK(vt_rsm_new(z, VT_RSM_COSINE, &r) == VT_OK);
    double h = sqrt(0.5), cosine[9] = {1, 0, h, 0, 1, h, h, h, 1};
    CHECK_ARRAYS("cosine 3x2", vt_tensor_f64(r), cosine, 9, 1e-15, 0);
    vt_tensor_free(r);
    /* float64 input into a float32 output. */
    vt_tensor *o = vt_tensor_new(VT_F32, 2, (int64_t[]){3, 3});
    CHECK(vt_rsm_into(x, VT_RSM_PEARSON, o) == VT_OK && vt_tensor_f32(o)[2] == -1.0f);
    vt_tensor_free(o), vt_tensor_free(x), vt_tensor_free(y), vt_tensor_free(z);
}

static void test_errors(void)
{
    vt_tensor *r = NULL;
    vt_tensor *c = matrix(3, 3, (double[]){1, 2, 3, 0.1, 0.1, 0.1, 3, 2, 1});
    CHECK(vt_rsm_new(c, VT_RSM_PEARSON, &r) == VT_ERR_ARG && !r && strstr(vt_last_error(), "row 1"));
    CHECK(vt_rsm_new(c, VT_RSM_COSINE, &r) == VT_OK); /* a constant non-zero row has a direction */
    vt_tensor_free(r);
    vt_tensor *zero = matrix(2, 2, (double[]){1, 2, 0, 0});
    CHECK(vt_rsm_new(zero, VT_RSM_COSINE, &r) == VT_ERR_ARG && strstr(vt_last_error(), "row 1 of X is all zeros"));
    vt_tensor *nan = matrix(2, 2, (double[]){1, NAN, 0, 3});
    CHECK(vt_rsm_new(nan, VT_RSM_PEARSON, &r) == VT_ERR_ARG && strstr(vt_last_error(), "NaN"));
    vt_tensor *ints = vt_tensor_new(VT_I32, 2, (int64_t[]){2, 2});
    CHECK(vt_rsm_new(ints, VT_RSM_PEARSON, &r) == VT_ERR_UNSUPPORTED);
    vt_tensor *x = matrix(2, 3, (double[]){1, 2, 3, 3, 1, 2}), *bad = vt_tensor_new(VT_F64, 2, (int64_t[]){2, 3});
    CHECK(vt_rsm_into(x, VT_RSM_PEARSON, bad) == VT_ERR_ARG);
    vt_rsm_metric m;
    CHECK(vt_rsm_metric_parse("cosine", &m) == VT_OK && m == VT_RSM_COSINE);
    CHECK(vt_rsm_metric_parse("kendall", &m) == VT_ERR_ARG);
    vt_tensor_free(c), vt_tensor_free(zero), vt_tensor_free(nan), vt_tensor_free(ints);
    vt_tensor_free(x), vt_tensor_free(bad);
}

/* X = A·B_S + 1·μ_Sᵀ formed explicitly, for vt_rsm_pearson_factored's reference. */
static vt_tensor *formed(const double *a, int64_t n, int64_t r, const double *b, int64_t v, const double *mu,
                         const int64_t *cols, int64_t w)
{
    vt_tensor *x = vt_tensor_new(VT_F64, 2, (int64_t[]){n, w});
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < w; j++) {
            int64_t c = cols ? cols[j] : j;
            double s = mu ? mu[c] : 0;
            for (int64_t k = 0; k < r; k++) s += a[i * r + k] * b[k * v + c];
            vt_tensor_f64(x)[i * w + j] = s;
        }
    return x;
}

/* The factored RSM equals the RSM of the formed X, for all columns and for a subset, with
 * column offsets 1000× the stimulus-driven part (ridge predictions of strongly regularised
 * units), and shares its errors. */
static void test_factored(void)
{
    enum { N = 9, R = 6, V = 300 };
    static double a[N * R], b[R * V], mu[V];
    uint64_t s = 12345;
    for (int64_t i = 0; i < N * R; i++) a[i] = (double)((s = s * 6364136223846793005u + 1) >> 11) / 0x1p53 - 0.5;
    for (int64_t i = 0; i < R * V; i++) b[i] = (double)((s = s * 6364136223846793005u + 1) >> 11) / 0x1p53 - 0.5;
    for (int64_t j = 0; j < V; j++) mu[j] = 1000 * ((double)((s = s * 6364136223846793005u + 1) >> 11) / 0x1p53);
    int64_t cols[] = {5, 17, 3, 299, 150, 151, 42, 0, 77, 78, 200};
    int64_t w = (int64_t)(sizeof cols / sizeof cols[0]);
    vt_tensor *bt = matrix(R, V, b), *got = vt_tensor_new(VT_F64, 2, (int64_t[]){N, N}), *ref;
    for (int c = 0; c < 3; c++) {
        const int64_t *sel = c == 2 ? cols : NULL;
        const double *m = c == 0 ? NULL : mu;
        vt_tensor *x = formed(a, N, R, b, V, m, sel, sel ? w : V);
        CHECK(vt_rsm_new(x, VT_RSM_PEARSON, &ref) == VT_OK);
        CHECK(vt_rsm_pearson_factored(a, N, R, bt, m, sel, sel ? w : 0, got) == VT_OK);
        /* The offsets leave correlations near 1 that differ in the 6th digit: 1e-12 is tight. */
        CHECK_ARRAYS("factored vs formed", vt_tensor_f64(got), vt_tensor_f64(ref), N * N, 1e-12, 0);
        vt_tensor_free(x), vt_tensor_free(ref);
    }
    /* float32 output. */
    vt_tensor *g32 = vt_tensor_new(VT_F32, 2, (int64_t[]){N, N});
    CHECK(vt_rsm_pearson_factored(a, N, R, bt, mu, NULL, 0, g32) == VT_OK && vt_tensor_f32(g32)[0] == 1.0f);
    /* Constant rows of X: B's rows and μ constant over the columns, exactly detected. */
    double bc[2 * 3] = {0.1, 0.1, 0.1, 7, 7, 7}, ac[2 * 2] = {1, 2, 3, 4}, muc[3] = {0.3, 0.3, 0.3};
    vt_tensor *bct = matrix(2, 3, bc), *o2 = vt_tensor_new(VT_F64, 2, (int64_t[]){2, 2});
    CHECK(vt_rsm_pearson_factored(ac, 2, 2, bct, muc, NULL, 0, o2) == VT_ERR_ARG &&
          strstr(vt_last_error(), "row 0 of X is constant"));
    /* NaN in B (in the selected columns), out-of-range columns, a wrong B. */
    b[3 * V + 17] = NAN;
    vt_tensor *bn = matrix(R, V, b);
    CHECK(vt_rsm_pearson_factored(a, N, R, bn, mu, cols, w, got) == VT_ERR_ARG &&
          strstr(vt_last_error(), "row 3 of B"));
    int64_t out_of_range[] = {1, V};
    CHECK(vt_rsm_pearson_factored(a, N, R, bt, mu, out_of_range, 2, got) == VT_ERR_ARG);
    CHECK(vt_rsm_pearson_factored(a, N, R - 1, bt, mu, NULL, 0, got) == VT_ERR_ARG);
    mu[4] = INFINITY;
    CHECK(vt_rsm_pearson_factored(a, N, R, bt, mu, NULL, 0, got) == VT_ERR_ARG);
    vt_tensor_free(bt), vt_tensor_free(got), vt_tensor_free(g32), vt_tensor_free(bct), vt_tensor_free(o2);
    vt_tensor_free(bn);
}

int main(void)
{
    RUN(test_factored);
    RUN(test_closed_forms);
    RUN(test_errors);
    return vt_test_summary();
}
