/* RSMs at the library level: closed forms, output dtypes, and the errors (constant rows,
 * NaN, dtypes, shapes). The comparison with numpy at scale is tests/reference/test_rsm.py. */
#include <math.h>
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

int main(void)
{
    RUN(test_closed_forms);
    RUN(test_errors);
    return vt_test_summary();
}
