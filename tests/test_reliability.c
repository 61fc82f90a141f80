/* Reliability library API: closed forms on hand-made data, the optional outputs, split orders,
 * thread-count independence and every argument error. (Reference values for random data come
 * from tests/reference/test_reliability.py.) */
#include <string.h>

#include "ventral/reliability.h"
#include "ventral/rng.h"
#include "vt_test.h"

static void test_closed_form(void)
{
    /* 3 stimuli × 2 reps × 1 unit: trials (1,3), (2,2), (5,7). Stimulus variances (ddof 1) 2, 0, 2
     * give σ²_n = 4/3; σ²_total is the ddof-1 variance of all six trials; f = 1/2. */
    double v[6] = {1, 3, 2, 2, 5, 7};
    int64_t shape[3] = {3, 2, 1}, one = 1;
    vt_tensor *r = vt_tensor_wrap(VT_F64, 3, shape, v);
    vt_tensor *snr = vt_tensor_new(VT_F64, 1, &one), *nc = vt_tensor_new(VT_F64, 1, &one);
    vt_tensor *nv = vt_tensor_new(VT_F64, 1, &one), *sv = vt_tensor_new(VT_F64, 1, &one);
    CHECK(vt_reliability_ncsnr(r, snr, nc, nv, sv) == VT_OK);
    double mean = 20.0 / 6, ss = 0;
    for (int i = 0; i < 6; i++) ss += (v[i] - mean) * (v[i] - mean);
    double total = ss / 5, noise = 4.0 / 3, signal = total - noise;
    CHECK_CLOSE(vt_tensor_f64(nv)[0], noise, 0, 1e-14);
    CHECK_CLOSE(vt_tensor_f64(sv)[0], signal, 0, 1e-14);
    CHECK_CLOSE(vt_tensor_f64(snr)[0], sqrt(signal / noise), 0, 1e-14);
    CHECK_CLOSE(vt_tensor_f64(nc)[0], 100 * (signal / noise) / (signal / noise + 0.5), 0, 1e-13);
    /* Only some outputs requested. */
    CHECK(vt_reliability_ncsnr(r, NULL, nc, NULL, NULL) == VT_OK);
    CHECK_CLOSE(vt_reliability_noise_ceiling(1.0, 1.0 / 3), 75.0, 0, 1e-14);
    CHECK(isnan(vt_reliability_noise_ceiling(NAN, 0.5)));
    CHECK(vt_reliability_noise_ceiling(INFINITY, 0.5) == 100.0);
    vt_tensor_free(r);
    vt_tensor_free(snr);
    vt_tensor_free(nc);
    vt_tensor_free(nv);
    vt_tensor_free(sv);
}

static void test_split_orders_and_threads(void)
{
    vt_tensor *a, *b;
    CHECK(vt_reliability_split_orders(5, 20, 6, 42, &a) == VT_OK);
    CHECK(vt_reliability_split_orders(5, 20, 6, 42, &b) == VT_OK);
    CHECK(memcmp(a->data, b->data, vt_tensor_nbytes(a)) == 0);
    int perms = 1;
    for (int64_t s = 0; s < 5 * 20; s++) {
        int seen[6] = {0};
        for (int q = 0; q < 6; q++) seen[((int32_t *)a->data)[s * 6 + q]]++;
        for (int q = 0; q < 6; q++) perms &= seen[q] == 1;
    }
    CHECK(perms);
    vt_tensor_free(b);

    /* 300 units (3 chunks, the last partial), 20 stimuli, 6 reps with missing trials. */
    int64_t shape[3] = {20, 6, 300}, units = 300;
    vt_tensor *r = vt_tensor_new(VT_F32, 3, shape);
    vt_rng g = vt_rng_make(1, 0);
    for (int64_t i = 0; i < vt_tensor_numel(r); i++)
        vt_tensor_f32(r)[i] = vt_rng_uniform(&g) < 0.1 ? NAN : (float)vt_rng_normal(&g);
    vt_tensor *o1 = vt_tensor_new(VT_F64, 1, &units), *o2 = vt_tensor_new(VT_F64, 1, &units);
    vt_tensor *n1 = vt_tensor_new(VT_F64, 1, &units), *n2 = vt_tensor_new(VT_F64, 1, &units);
    int saved = vt_threads_get();
    vt_threads_set(1);
    CHECK(vt_reliability_split_half_orders(r, a, o1) == VT_OK && vt_reliability_ncsnr(r, n1, NULL, NULL, NULL) == 0);
    vt_threads_set(3);
    CHECK(vt_reliability_split_half_orders(r, a, o2) == VT_OK && vt_reliability_ncsnr(r, n2, NULL, NULL, NULL) == 0);
    vt_threads_set(saved);
    CHECK(memcmp(o1->data, o2->data, vt_tensor_nbytes(o1)) == 0);
    CHECK(memcmp(n1->data, n2->data, vt_tensor_nbytes(n1)) == 0);
    /* The convenience form draws the same orders. */
    CHECK(vt_reliability_split_half(r, 5, 42, o2) == VT_OK && memcmp(o1->data, o2->data, vt_tensor_nbytes(o1)) == 0);

    /* Errors: orders of the wrong shape, not a permutation, outputs of the wrong shape. */
    int32_t *ord = a->data;
    ord[7] = ord[6];
    CHECK(vt_reliability_split_half_orders(r, a, o1) == VT_ERR_ARG && strstr(vt_last_error(), "permutation"));
    CHECK(vt_reliability_split_orders(0, 20, 6, 1, &b) == VT_ERR_ARG && b == NULL);
    int64_t few = 299;
    vt_tensor *bad = vt_tensor_new(VT_F64, 1, &few);
    CHECK(vt_reliability_ncsnr(r, bad, NULL, NULL, NULL) == VT_ERR_ARG && strstr(vt_last_error(), "ncsnr"));
    CHECK(vt_reliability_split_half_orders(r, a, bad) == VT_ERR_ARG);
    vt_tensor_free(bad);
    vt_tensor_free(a);
    vt_tensor_free(o1);
    vt_tensor_free(o2);
    vt_tensor_free(n1);
    vt_tensor_free(n2);
    vt_tensor_free(r);
}

static void test_bad_r(void)
{
    int64_t one = 1;
    vt_tensor *out = vt_tensor_new(VT_F64, 1, &one);
    int64_t s2[2] = {4, 3}, s_few[3] = {1, 3, 1}, s_rep[3] = {4, 1, 1}, s_ok[3] = {4, 3, 1};
    vt_tensor *r2 = vt_tensor_new(VT_F64, 2, s2), *rf = vt_tensor_new(VT_F64, 3, s_few);
    vt_tensor *rr = vt_tensor_new(VT_F64, 3, s_rep), *ri = vt_tensor_new(VT_I16, 3, s_ok);
    vt_tensor *rinf = vt_tensor_new(VT_F64, 3, s_ok);
    vt_tensor_f64(rinf)[7] = INFINITY;
    CHECK(vt_reliability_ncsnr(r2, out, NULL, NULL, NULL) == VT_ERR_ARG && strstr(vt_last_error(), "3-d"));
    CHECK(vt_reliability_ncsnr(rf, out, NULL, NULL, NULL) == VT_ERR_ARG && strstr(vt_last_error(), "2 stimuli"));
    CHECK(vt_reliability_ncsnr(rr, out, NULL, NULL, NULL) == VT_ERR_ARG && strstr(vt_last_error(), "repetitions"));
    CHECK(vt_reliability_ncsnr(ri, out, NULL, NULL, NULL) == VT_ERR_UNSUPPORTED);
    CHECK(vt_reliability_ncsnr(rinf, out, NULL, NULL, NULL) == VT_ERR_ARG &&
          strstr(vt_last_error(), "+Inf at stimulus 2, repetition 1, unit 0"));
    CHECK(vt_reliability_split_half(rinf, 3, 0, out) == VT_ERR_ARG && strstr(vt_last_error(), "+Inf"));
    vt_tensor_free(out);
    vt_tensor_free(r2);
    vt_tensor_free(rf);
    vt_tensor_free(rr);
    vt_tensor_free(ri);
    vt_tensor_free(rinf);
}

int main(void)
{
    RUN(test_closed_form);
    RUN(test_split_orders_and_threads);
    RUN(test_bad_r);
    return vt_test_summary();
}
