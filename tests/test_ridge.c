/* ridge: properties the reference tests (tests/reference/test_ridge.py, against scikit-learn) do not
 * reach: block-size invariance, many targets streamed through mapped outputs, degenerate inputs and
 * the library's argument checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vt_test.h"
#include "ventral/npy.h"
#include "ventral/ridge.h"

/* A small deterministic generator (the library's RNG is not under test here). */
static double urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0 - 0.5;
}

static vt_tensor *random_matrix(int64_t r, int64_t c, uint64_t seed)
{
    int64_t shape[2] = {r, c};
    vt_tensor *t = vt_tensor_new(VT_F64, 2, shape);
    for (int64_t i = 0; i < r * c; i++) vt_tensor_f64(t)[i] = urand(&seed);
    return t;
}

typedef struct fit {
    vt_tensor *alpha, *coef, *intercept, *loo, *pred;
} fit;

static vt_status run_fit(const vt_tensor *x, const vt_tensor *y, const vt_tensor *xt, int64_t block, fit *f)
{
    int64_t p = x->shape[1], v = y->shape[1], n = x->shape[0];
    int64_t sc[2] = {p, v}, sl[2] = {n, v}, sp[2] = {xt ? xt->shape[0] : 0, v};
    f->alpha = vt_tensor_new(VT_F64, 1, &v);
    f->intercept = vt_tensor_new(VT_F64, 1, &v);
    f->coef = vt_tensor_new(VT_F64, 2, sc);
    f->loo = vt_tensor_new(VT_F64, 2, sl);
    f->pred = xt ? vt_tensor_new(VT_F64, 2, sp) : NULL;
    vt_ridge_options opt;
    vt_ridge_options_init(&opt);
    opt.block = block;
    vt_ridge_outputs out = {f->alpha, f->coef, f->intercept, f->loo, f->pred, NULL, NULL, NULL};
    return vt_ridge_fit(x, y, xt, NULL, &opt, &out, NULL);
}

static void free_fit(fit *f)
{
    vt_tensor_free(f->alpha);
    vt_tensor_free(f->coef);
    vt_tensor_free(f->intercept);
    vt_tensor_free(f->loo);
    vt_tensor_free(f->pred);
}

static void check_same(const char *what, const vt_tensor *a, const vt_tensor *b, double rtol)
{
    int64_t n = vt_tensor_numel(a);
    double scale = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(vt_tensor_f64(b)[i]));
    CHECK_ARRAYS(what, vt_tensor_f64(a), vt_tensor_f64(b), (long)n, rtol * scale, rtol);
}

/* The same fit with 1, 7 and the automatic number of targets per block, in both forms. */
static void test_block_invariance(void)
{
    int64_t sizes[2][2] = {{25, 60}, {60, 12}}; /* kernel form, SVD form */
    for (int s = 0; s < 2; s++) {
        vt_tensor *x = random_matrix(sizes[s][0], sizes[s][1], 11 + s), *y = random_matrix(sizes[s][0], 23, 12);
        vt_tensor *xt = random_matrix(9, sizes[s][1], 13);
        fit ref, f;
        CHECK(run_fit(x, y, xt, 0, &ref) == VT_OK);
        int64_t blocks[2] = {1, 7};
        for (int k = 0; k < 2; k++) {
            CHECK(run_fit(x, y, xt, blocks[k], &f) == VT_OK);
            check_same("alpha", f.alpha, ref.alpha, 0);
            check_same("coef", f.coef, ref.coef, 1e-12);
            check_same("intercept", f.intercept, ref.intercept, 1e-12);
            check_same("loo", f.loo, ref.loo, 1e-12);
            check_same("pred", f.pred, ref.pred, 1e-12);
            free_fit(&f);
        }
        free_fit(&ref);
        vt_tensor_free(x);
        vt_tensor_free(y);
        vt_tensor_free(xt);
    }
}

/* 60,000 targets (10 distinct columns repeated) written through mapped .npy outputs, 4096 targets
 * per block: every column must equal the fit of its distinct original. */
static void test_many_targets_streamed(void)
{
    const int64_t n = 30, p = 40, v = 60000, distinct = 10;
    vt_tensor *x = random_matrix(n, p, 21), *y0 = random_matrix(n, distinct, 22);
    for (int64_t i = 0; i < n * distinct; i++) vt_tensor_f64(y0)[i] *= 1.0 + (double)(i % distinct);
    int64_t sy[2] = {n, v};
    vt_tensor *y = vt_tensor_new(VT_F32, 2, sy);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < v; j++)
            vt_tensor_f32(y)[i * v + j] = (float)vt_tensor_f64(y0)[i * distinct + j % distinct];
    vt_tensor *y0f;
    vt_tensor_convert(y0, VT_F32, &y0f); /* the same float32 values as the repeated columns */
    vt_tensor *y0d;
    vt_tensor_convert(y0f, VT_F64, &y0d);
    fit ref;
    CHECK(run_fit(x, y0d, NULL, 0, &ref) == VT_OK);

    char path[64];
    snprintf(path, sizeof path, "ridge-coef-%d.npy", (int)getpid());
    int64_t sc[2] = {p, v};
    vt_npy_out *o = NULL;
    CHECK(vt_npy_create(path, VT_F32, 2, sc, &o) == VT_OK);
    if (!o) return;
    vt_tensor *alpha = vt_tensor_new(VT_F32, 1, &v);
    vt_ridge_options opt;
    vt_ridge_options_init(&opt);
    opt.block = 4096;
    vt_ridge_outputs out = {alpha, vt_npy_out_tensor(o), NULL, NULL, NULL, NULL, NULL, NULL};
    vt_ridge_info info;
    CHECK(vt_ridge_fit(x, y, NULL, NULL, &opt, &out, &info) == VT_OK);
    CHECK(info.block == 4096);
    const float *coef = vt_tensor_f32(vt_npy_out_tensor(o));
    double max_err = 0, scale = 0;
    int64_t alpha_bad = 0;
    for (int64_t j = 0; j < v; j++) {
        int64_t d = j % distinct;
        alpha_bad += (float)vt_tensor_f64(ref.alpha)[d] != vt_tensor_f32(alpha)[j];
        for (int64_t k = 0; k < p; k++) {
            double r = vt_tensor_f64(ref.coef)[k * distinct + d];
            max_err = fmax(max_err, fabs(coef[k * v + j] - r));
            scale = fmax(scale, fabs(r));
        }
    }
    printf("  %lld targets streamed: %lld alphas differ, coef max error %.3g (scale %.3g)\n", (long long)v,
           (long long)alpha_bad, max_err, scale);
    CHECK(alpha_bad == 0);
    CHECK(max_err <= 1e-6 * scale); /* float32 output of a float64 computation */
    CHECK(vt_npy_commit(o) == VT_OK);
    vt_tensor *back = NULL;
    CHECK(vt_npy_read(path, &back) == VT_OK);
    CHECK(back && back->shape[0] == p && back->shape[1] == v);
    vt_tensor_free(back);
    unlink(path);
    free_fit(&ref);
    vt_tensor_free(alpha);
    vt_tensor_free(x);
    vt_tensor_free(y);
    vt_tensor_free(y0);
    vt_tensor_free(y0f);
    vt_tensor_free(y0d);
}

/* All features constant: the model is the mean, every alpha ties (the first is kept). */
static void test_constant_features(void)
{
    for (int s = 0; s < 2; s++) {
        int64_t n = s ? 12 : 5, p = s ? 3 : 8;
        vt_tensor *x = random_matrix(n, p, 31), *y = random_matrix(n, 4, 32), *xt = random_matrix(3, p, 33);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < p; k++) vt_tensor_f64(x)[i * p + k] = (double)k;
        fit f;
        CHECK(run_fit(x, y, xt, 0, &f) == VT_OK);
        double a0[VT_RIDGE_DEFAULT_N_ALPHAS];
        vt_ridge_default_alphas(a0);
        for (int64_t j = 0; j < 4; j++) {
            double mean = 0;
            for (int64_t i = 0; i < n; i++) mean += vt_tensor_f64(y)[i * 4 + j] / (double)n;
            CHECK(vt_tensor_f64(f.alpha)[j] == a0[0]);
            CHECK_CLOSE(vt_tensor_f64(f.intercept)[j], mean, 1e-14, 1e-12);
            CHECK_CLOSE(vt_tensor_f64(f.pred)[j], mean, 1e-14, 1e-12);
            /* LOO prediction of a mean model: the mean of the other n-1 values. */
            double yi = vt_tensor_f64(y)[j];
            CHECK_CLOSE(vt_tensor_f64(f.loo)[j], (mean * (double)n - yi) / (double)(n - 1), 1e-14, 1e-12);
        }
        for (int64_t i = 0; i < p * 4; i++) CHECK(fabs(vt_tensor_f64(f.coef)[i]) < 1e-12);
        free_fit(&f);
        vt_tensor_free(x);
        vt_tensor_free(y);
        vt_tensor_free(xt);
    }
}

static void test_argument_errors(void)
{
    vt_tensor *x = random_matrix(10, 4, 41), *y = random_matrix(10, 3, 42), *y9 = random_matrix(9, 3, 43);
    int64_t v = 3, bad = 4, sc[2] = {4, 3};
    vt_tensor *alpha = vt_tensor_new(VT_F64, 1, &v), *alpha4 = vt_tensor_new(VT_F64, 1, &bad);
    vt_tensor *coef = vt_tensor_new(VT_F64, 2, sc);
    vt_ridge_outputs out = {alpha, coef, NULL, NULL, NULL, NULL, NULL, NULL};
    CHECK(vt_ridge_fit(x, y, NULL, NULL, NULL, &out, NULL) == VT_OK);
    CHECK(vt_ridge_fit(x, y9, NULL, NULL, NULL, &out, NULL) == VT_ERR_ARG);
    printf("  %s\n", vt_last_error());
    vt_ridge_outputs out4 = {alpha4, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    CHECK(vt_ridge_fit(x, y, NULL, NULL, NULL, &out4, NULL) == VT_ERR_ARG);
    printf("  %s\n", vt_last_error());
    vt_ridge_outputs none = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    CHECK(vt_ridge_fit(x, y, NULL, NULL, NULL, &none, NULL) == VT_ERR_ARG);
    vt_ridge_options opt;
    vt_ridge_options_init(&opt);
    double alphas[2] = {1.0, NAN};
    opt.alphas = alphas, opt.n_alphas = 2;
    CHECK(vt_ridge_fit(x, y, NULL, NULL, &opt, &out, NULL) == VT_ERR_ARG);
    printf("  %s\n", vt_last_error());
    vt_ridge_outputs withpred = {alpha, NULL, NULL, NULL, coef, NULL, NULL, NULL};
    CHECK(vt_ridge_fit(x, y, NULL, NULL, NULL, &withpred, NULL) == VT_ERR_ARG);
    printf("  %s\n", vt_last_error());
    vt_tensor_f64(x)[7] = INFINITY;
    CHECK(vt_ridge_fit(x, y, NULL, NULL, NULL, &out, NULL) == VT_ERR_ARG);
    printf("  %s\n", vt_last_error());
    CHECK(strstr(vt_last_error(), "Inf") != NULL);
    vt_tensor_free(x);
    vt_tensor_free(y);
    vt_tensor_free(y9);
    vt_tensor_free(alpha);
    vt_tensor_free(alpha4);
    vt_tensor_free(coef);
}

/* A prepared model fitted several times (two target sets, as two subjects on one layer; once more
 * with a float32 coef, which needs the lazily built float32 basis) gives exactly vt_ridge_fit's
 * bits, in the kernel form (with the triangular sweep: 400 targets on 60 stimuli) and the SVD form. */
static void test_prepared_model(void)
{
    for (int form = 0; form < 2; form++) {
        int64_t n = form == 0 ? 60 : 90, p = form == 0 ? 150 : 20, v = 400, nt = 12;
        vt_tensor *x = random_matrix(n, p, 31), *xt = random_matrix(nt, p, 32);
        vt_tensor *y[2] = {random_matrix(n, v, 33), random_matrix(n, v, 34)};
        for (int k = 0; k < 2; k++) /* a signal on top of the noise, so the alphas spread */
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < v; j++)
                    vt_tensor_f64(y[k])[i * v + j] += (1.0 + (double)(j % 7)) * vt_tensor_f64(x)[i * p + j % p];
        vt_ridge_model *rm = NULL;
        CHECK(vt_ridge_prepare(x, xt, NULL, &rm) == VT_OK);
        for (int k = 0; k < 3 && rm; k++) {
            fit ref, got;
            CHECK(run_fit(x, y[k % 2], xt, 0, &ref) == VT_OK);
            int64_t sc[2] = {p, v}, sl[2] = {n, v}, sp[2] = {nt, v};
            got.alpha = vt_tensor_new(VT_F64, 1, &v);
            got.intercept = vt_tensor_new(VT_F64, 1, &v);
            got.coef = vt_tensor_new(k == 2 ? VT_F32 : VT_F64, 2, sc);
            got.loo = vt_tensor_new(VT_F64, 2, sl);
            got.pred = vt_tensor_new(VT_F64, 2, sp);
            vt_ridge_outputs out = {got.alpha, got.coef, got.intercept, got.loo, got.pred, NULL, NULL, NULL};
            vt_ridge_info info;
            CHECK(vt_ridge_fit_prepared(rm, y[k % 2], NULL, &out, &info) == VT_OK);
            if (form == 0) CHECK(info.triangular_sweep == 1);
            CHECK(!memcmp(got.alpha->data, ref.alpha->data, vt_tensor_nbytes(ref.alpha)));
            CHECK(!memcmp(got.intercept->data, ref.intercept->data, vt_tensor_nbytes(ref.intercept)));
            CHECK(!memcmp(got.loo->data, ref.loo->data, vt_tensor_nbytes(ref.loo)));
            CHECK(!memcmp(got.pred->data, ref.pred->data, vt_tensor_nbytes(ref.pred)));
            if (k < 2) {
                CHECK(!memcmp(got.coef->data, ref.coef->data, vt_tensor_nbytes(ref.coef)));
            } else {
                double err = 0, scale = 0;
                for (int64_t i = 0; i < p * v; i++) {
                    err = fmax(err, fabs(vt_tensor_f32(got.coef)[i] - vt_tensor_f64(ref.coef)[i]));
                    scale = fmax(scale, fabs(vt_tensor_f64(ref.coef)[i]));
                }
                CHECK(err <= 1e-5 * scale);
            }
            free_fit(&ref);
            free_fit(&got);
        }
        /* A fit the preparation cannot serve is refused, and the model stays usable. */
        vt_ridge_model *no_test = NULL;
        CHECK(vt_ridge_prepare(x, NULL, NULL, &no_test) == VT_OK);
        vt_tensor *yt = random_matrix(nt, v, 35), *alpha = vt_tensor_new(VT_F64, 1, &v),
                  *y3 = random_matrix(n + 1, v, 36);
        vt_ridge_outputs ao = {alpha, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        CHECK(vt_ridge_fit_prepared(no_test, y[0], yt, &ao, NULL) == VT_ERR_ARG);
        CHECK(vt_ridge_fit_prepared(rm, y3, NULL, &ao, NULL) == VT_ERR_ARG);
        CHECK(vt_ridge_fit_prepared(rm, y[0], NULL, &ao, NULL) == VT_OK);
        CHECK(vt_ridge_fit_prepared(NULL, y[0], NULL, &ao, NULL) == VT_ERR_ARG);
        vt_ridge_model_free(no_test);
        vt_ridge_model_free(rm);
        vt_tensor_free(yt), vt_tensor_free(alpha), vt_tensor_free(y3);
        vt_tensor_free(x), vt_tensor_free(xt), vt_tensor_free(y[0]), vt_tensor_free(y[1]);
    }
}

int main(void)
{
    vt_threads_init();
    RUN(test_block_invariance);
    RUN(test_many_targets_streamed);
    RUN(test_constant_features);
    RUN(test_argument_errors);
    RUN(test_prepared_model);
    return vt_test_summary();
}
