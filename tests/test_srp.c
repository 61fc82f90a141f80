/* SRP library: the fast kernel against a naive oracle (same terms, same order: bit-identical),
 * plan independence from the thread count, block independence, the identity plan, errors. */
#include <string.h>

#include "ventral/rng.h"
#include "ventral/srp.h"
#include "vt_test.h"

/* Naive oracle: z[c] = scale · (E + O), E and O the sums of the even and the odd chunks' sums in
 * chunk order, each chunk's sum over its features in ascending order (the documented summation
 * order), from the plan's rows. */
static void naive_project(const vt_srp_plan *plan, const double *x, int64_t rows, double *z)
{
    int64_t p = vt_srp_plan_in_dim(plan), k = vt_srp_plan_k(plan), chunk = vt_srp_plan_chunk(plan);
    int32_t *cols = malloc(sizeof *cols * (size_t)k);
    int8_t *signs = malloc((size_t)k);
    double *part = malloc(sizeof *part * (size_t)k), *lane = malloc(sizeof *lane * (size_t)(2 * k));
    for (int64_t b = 0; b < rows; b++) {
        for (int64_t c = 0; c < 2 * k; c++) lane[c] = 0;
        for (int64_t j0 = 0, q = 0; j0 < p; j0 += chunk, q++) {
            for (int64_t c = 0; c < k; c++) part[c] = 0;
            for (int64_t j = j0; j < p && j < j0 + chunk; j++) {
                int64_t n;
                vt_srp_plan_row(plan, j, cols, signs, k, &n);
                for (int64_t e = 0; e < n; e++) part[cols[e]] += signs[e] * x[b * p + j];
            }
            for (int64_t c = 0; c < k; c++) lane[q % 2 * k + c] += part[c];
        }
        for (int64_t c = 0; c < k; c++) z[b * k + c] = (lane[c] + lane[k + c]) * vt_srp_plan_scale(plan);
    }
    free(cols);
    free(signs);
    free(part);
    free(lane);
}

static void test_jl_min_dim(void)
{
    int64_t k;
    /* scikit-learn johnson_lindenstrauss_min_dim values. */
    CHECK(vt_srp_jl_min_dim(1000, 0.1, &k) == VT_OK && k == 5920);
    CHECK(vt_srp_jl_min_dim(2, 0.5, &k) == VT_OK && k == 33);
    CHECK(vt_srp_jl_min_dim(100, 0.25, &k) == VT_OK && k == 707);
    CHECK(vt_srp_jl_min_dim(1000, 0.0, &k) == VT_ERR_ARG && strstr(vt_last_error(), "eps"));
    CHECK(vt_srp_jl_min_dim(1000, 1.0, &k) == VT_ERR_ARG);
    CHECK(vt_srp_jl_min_dim(1000, NAN, &k) == VT_ERR_ARG);
    CHECK(vt_srp_jl_min_dim(1, 0.1, &k) == VT_ERR_ARG && k == 0);
}

static void test_kernel_matches_oracle(void)
{
    int64_t n = 37, p = 18001, k = 211; /* odd sizes: partial row blocks, two whole chunks and a partial one */
    vt_srp_plan *plan;
    CHECK(vt_srp_plan_new(p, k, 99, &plan) == VT_OK);
    CHECK(vt_srp_plan_projects(plan) && vt_srp_plan_out_dim(plan) == k);
    int64_t xs[2] = {n, p}, zs[2] = {n, k};
    vt_tensor *x = vt_tensor_new(VT_F64, 2, xs), *z = vt_tensor_new(VT_F64, 2, zs);
    vt_tensor *x32 = vt_tensor_new(VT_F32, 2, xs), *z32 = vt_tensor_new(VT_F32, 2, zs);
    vt_rng r = vt_rng_make(5, 0);
    for (int64_t i = 0; i < n * p; i++) {
        /* ReLU-like in the first 1000 features: many exact zeros. */
        double v = vt_rng_normal(&r);
        vt_tensor_f64(x)[i] = i % p < 1000 ? (v > 0 ? v : 0) : v;
        vt_tensor_f32(x32)[i] = (float)vt_tensor_f64(x)[i];
    }
    double *ref = malloc(sizeof *ref * (size_t)(n * k));
    naive_project(plan, vt_tensor_f64(x), n, ref);
    CHECK(vt_srp_apply(plan, x, z) == VT_OK);
    CHECK(memcmp(ref, z->data, sizeof *ref * (size_t)(n * k)) == 0); /* same terms, same order */
    CHECK_ARRAYS("float64 kernel vs naive oracle", vt_tensor_f64(z), ref, (long)(n * k), 0, 0);
    CHECK(vt_srp_apply(plan, x32, z32) == VT_OK);
    double *z32d = malloc(sizeof *z32d * (size_t)(n * k));
    for (int64_t i = 0; i < n * k; i++) z32d[i] = vt_tensor_f32(z32)[i];
    CHECK_ARRAYS("float32 kernel vs float64 oracle", z32d, ref, (long)(n * k), 1e-5, 1e-4);

    /* Row blocks of any size give the same bits: project rows one at a time (the narrow kernel) and
     * five at a time (a partial wide block), with 1, 2 and 3 threads (one block at a time: the threads
     * split its chunks' transposes and its columns). */
    CHECK(vt_srp_plan_chunk(plan) < p); /* several chunks */
    int same = 1, saved_threads = vt_threads_get();
    for (int threads = 1; threads <= 3; threads++) {
        vt_threads_set(threads);
        for (int64_t step = 1; step <= 5; step += 4)
            for (int64_t b = 0; b < n; b += step) {
                int64_t m = n - b < step ? n - b : step, one_x[2] = {m, p}, one_z[2] = {m, k};
                vt_tensor *xb = vt_tensor_wrap(VT_F32, 2, one_x, vt_tensor_f32(x32) + b * p);
                vt_tensor *zb = vt_tensor_new(VT_F32, 2, one_z);
                CHECK(vt_srp_apply(plan, xb, zb) == VT_OK);
                same &= memcmp(zb->data, vt_tensor_f32(z32) + b * k, sizeof(float) * (size_t)(m * k)) == 0;
                vt_tensor_free(xb);
                vt_tensor_free(zb);
            }
    }
    vt_threads_set(saved_threads);
    CHECK(same);

    /* Errors: dtype mismatch, wrong shapes, NaN naming its place. */
    CHECK(vt_srp_apply(plan, x, z32) == VT_ERR_ARG && strstr(vt_last_error(), "dtype"));
    int64_t bad[2] = {n, k + 1};
    vt_tensor *zbad = vt_tensor_new(VT_F64, 2, bad);
    CHECK(vt_srp_apply(plan, x, zbad) == VT_ERR_ARG);
    CHECK(vt_srp_apply(plan, zbad, z) == VT_ERR_ARG);
    vt_tensor_f64(x)[5 * p + 7] = NAN;
    CHECK(vt_srp_apply(plan, x, z) == VT_ERR_ARG && strstr(vt_last_error(), "NaN"));
    int64_t is[2] = {2, p};
    vt_tensor *xi = vt_tensor_new(VT_I32, 2, is);
    CHECK(vt_srp_apply(plan, xi, z) == VT_ERR_UNSUPPORTED);
    vt_tensor_free(xi);
    vt_tensor_free(zbad);
    free(ref);
    free(z32d);
    vt_tensor_free(x);
    vt_tensor_free(z);
    vt_tensor_free(x32);
    vt_tensor_free(z32);
    vt_srp_plan_free(plan);
}

static void set_value(vt_tensor *t, int64_t i, double v)
{
    if (t->dtype == VT_F64)
        vt_tensor_f64(t)[i] = v;
    else
        vt_tensor_f32(t)[i] = (float)v;
}

/* NaN and Inf are found by the kernels' transpose, not an up-front scan: every path (row blocks
 * split among threads, the chunks of one block split among threads, the narrow kernel, float32
 * and float64, a value in the last partial tile of the last chunk) reports the first bad value
 * by its flat index, as the up-front check did; the plain check remains for rows = 0 and the
 * identity plan. */
static void test_nonfinite_in_chunks(void)
{
    int64_t p = 18001, k = 211;
    vt_srp_plan *plan;
    CHECK(vt_srp_plan_new(p, k, 99, &plan) == VT_OK);
    CHECK(vt_srp_plan_chunk(plan) < p / 2); /* several chunks */
    int saved_threads = vt_threads_get();
    const int64_t row_counts[3] = {37, 16, 3}; /* several blocks, one block, the narrow kernel */
    for (int dt = 0; dt < 2; dt++)
        for (int ri = 0; ri < 3; ri++)
            for (int threads = 1; threads <= 2; threads++) {
                vt_threads_set(threads);
                int64_t n = row_counts[ri], xs[2] = {n, p}, zs[2] = {n, k};
                vt_dtype dtype = dt ? VT_F64 : VT_F32;
                vt_tensor *x = vt_tensor_new(dtype, 2, xs), *z = vt_tensor_new(dtype, 2, zs);
                vt_rng r = vt_rng_make(11, 0);
                for (int64_t i = 0; i < n * p; i++) {
                    double v = vt_rng_normal(&r);
                    if (dt)
                        vt_tensor_f64(x)[i] = v;
                    else
                        vt_tensor_f32(x)[i] = (float)v;
                }
                CHECK(vt_srp_apply(plan, x, z) == VT_OK);
                /* (flat index, value): the last feature of the last row; a middle chunk; two bad values,
                 * the first one reported; a negative infinity in the first feature. */
                const struct {
                    int64_t at, at2;
                    double v, v2;
                    const char *what;
                } cases[] = {
                    {n * p - 1, -1, INFINITY, 0, "Inf"},
                    {(n / 2) * p + 9900, -1, NAN, 0, "NaN"},
                    {(n - 1) * p + 5, (n - 1) * p + 17000, NAN, INFINITY, "NaN"},
                    {0, -1, -INFINITY, 0, "Inf"},
                };
                for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                    double old = vt_tensor_get(x, cases[c].at), old2 = 0;
                    set_value(x, cases[c].at, cases[c].v);
                    if (cases[c].at2 >= 0) {
                        old2 = vt_tensor_get(x, cases[c].at2);
                        set_value(x, cases[c].at2, cases[c].v2);
                    }
                    char want[128];
                    snprintf(want, sizeof want, "srp: X: contains %s at flat index %lld", cases[c].what,
                             (long long)cases[c].at);
                    CHECK(vt_srp_apply(plan, x, z) == VT_ERR_ARG && strcmp(vt_last_error(), want) == 0);
                    set_value(x, cases[c].at, old);
                    if (cases[c].at2 >= 0) set_value(x, cases[c].at2, old2);
                }
                CHECK(vt_srp_apply(plan, x, z) == VT_OK);
                vt_tensor_free(x);
                vt_tensor_free(z);
            }
    vt_threads_set(saved_threads);
    vt_srp_plan_free(plan);

    /* The paths that do not project keep the plain check. */
    CHECK(vt_srp_plan_new(4, 4, 0, &plan) == VT_OK);
    double xv[8] = {1, 2, 3, 4, 5, 6, NAN, 8}, zv[8] = {0};
    int64_t s[2] = {2, 4};
    vt_tensor *x = vt_tensor_wrap(VT_F64, 2, s, xv), *z = vt_tensor_wrap(VT_F64, 2, s, zv);
    CHECK(vt_srp_apply(plan, x, z) == VT_ERR_ARG &&
          strcmp(vt_last_error(), "srp: X: contains NaN at flat index 6") == 0);
    vt_tensor_free(x);
    vt_tensor_free(z);
    vt_srp_plan_free(plan);
    CHECK(vt_srp_plan_new(100, 10, 0, &plan) == VT_OK);
    int64_t s0[2] = {0, 100}, z0[2] = {0, 10};
    x = vt_tensor_new(VT_F32, 2, s0);
    z = vt_tensor_new(VT_F32, 2, z0);
    CHECK(vt_srp_apply(plan, x, z) == VT_OK);
    vt_tensor_free(x);
    vt_tensor_free(z);
    vt_srp_plan_free(plan);
}

static void test_plan_thread_independent(void)
{
    int64_t p = 20000, k = 300;
    vt_srp_plan *a, *b;
    int saved = vt_threads_get();
    vt_threads_set(1);
    CHECK(vt_srp_plan_new(p, k, 3, &a) == VT_OK);
    vt_threads_set(3);
    CHECK(vt_srp_plan_new(p, k, 3, &b) == VT_OK);
    vt_threads_set(saved);
    CHECK(vt_srp_plan_nnz(a) == vt_srp_plan_nnz(b));
    int32_t ca[300], cb[300];
    int8_t sa[300], sb[300];
    int same = 1;
    for (int64_t j = 0; j < p; j++) {
        int64_t na, nb;
        vt_srp_plan_row(a, j, ca, sa, k, &na);
        vt_srp_plan_row(b, j, cb, sb, k, &nb);
        same &= na == nb && memcmp(ca, cb, sizeof *ca * (size_t)na) == 0 && memcmp(sa, sb, (size_t)na) == 0;
    }
    CHECK(same);
    /* Mean nonzeros per feature k/√p within 5 sigma. */
    double expect = (double)p * (double)k / sqrt((double)p), sd = sqrt(expect);
    CHECK_CLOSE((double)vt_srp_plan_nnz(a), expect, 5 * sd, 0);
    CHECK_CLOSE(vt_srp_plan_scale(a), sqrt(sqrt((double)p)) / sqrt((double)k), 0, 1e-15);
    int64_t n;
    CHECK(vt_srp_plan_row(a, p, ca, sa, k, &n) == VT_ERR_ARG);
    vt_srp_plan_free(a);
    vt_srp_plan_free(b);
}

/* R is the documented function of (seed, p, k): redraw some rows from the RNG stream directly. */
static void test_plan_definition(void)
{
    int64_t p = 50000, k = 1000;
    uint64_t seed = 12345;
    vt_srp_plan *plan;
    CHECK(vt_srp_plan_new(p, k, seed, &plan) == VT_OK);
    double s = 1 / sqrt((double)p), log1m_s = log1p(-s);
    int32_t cols[1000];
    int8_t signs[1000];
    int same = 1;
    for (int64_t j = 0; j < p; j += 997) {
        int64_t n, m = 0, c = -1;
        vt_srp_plan_row(plan, j, cols, signs, k, &n);
        for (uint64_t d = 0;; d++) {
            uint64_t u = vt_rng_u64_at(seed, (uint64_t)j, d);
            double gap = floor(log((double)((u >> 11) + 1) * 0x1.0p-53) / log1m_s);
            if (gap >= (double)(k - 1 - c)) break;
            c += 1 + (int64_t)gap;
            same &= m < n && cols[m] == c && signs[m] == ((u & 1) ? -1 : 1);
            m++;
        }
        same &= m == n;
    }
    CHECK(same);
    vt_srp_plan_free(plan);
}

static void test_identity_plan_and_errors(void)
{
    vt_srp_plan *plan;
    CHECK(vt_srp_plan_new(4, 4, 0, &plan) == VT_OK);
    CHECK(!vt_srp_plan_projects(plan) && vt_srp_plan_out_dim(plan) == 4 && vt_srp_plan_nnz(plan) == 0);
    double xv[8] = {1, 2, 3, 4, 5, 6, 7, 8}, zv[8] = {0};
    int64_t s[2] = {2, 4};
    vt_tensor *x = vt_tensor_wrap(VT_F64, 2, s, xv), *z = vt_tensor_wrap(VT_F64, 2, s, zv);
    CHECK(vt_srp_apply(plan, x, z) == VT_OK && memcmp(xv, zv, sizeof xv) == 0);
    vt_tensor_free(x);
    vt_tensor_free(z);
    vt_srp_plan_free(plan);
    vt_srp_plan_free(NULL);
    CHECK(vt_srp_plan_new(0, 4, 0, &plan) == VT_ERR_ARG && plan == NULL);
    CHECK(vt_srp_plan_new(10, 0, 0, &plan) == VT_ERR_ARG && strstr(vt_last_error(), "k"));
    CHECK(vt_srp_plan_new(10, INT64_C(1) << 31, 0, &plan) == VT_ERR_ARG);
}

int main(void)
{
    RUN(test_jl_min_dim);
    RUN(test_kernel_matches_oracle);
    RUN(test_nonfinite_in_chunks);
    RUN(test_plan_thread_independent);
    RUN(test_plan_definition);
    RUN(test_identity_plan_and_errors);
    return vt_test_summary();
}
