/* The vectorisable float32 functions of src/nn/ops/vecmath.h against libm: the error in ulp of the correctly
 * rounded result (libm's double exp/expm1/erf/tanh as the reference) over a sweep of float32 bit patterns
 * (every 1021st; VT_VECMATH_EXHAUSTIVE=1 sweeps all 2^32), the agreement with libm's float functions, the edge
 * cases (+-0, denormal results, overflow, underflow, NaN, +-inf, the saturation of erf/tanh), and that the
 * vectorised loops (AVX-512 / AVX2 / SSE, as VT_CLONES picks) give bit for bit what the scalar code gives. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/vecmath.h"
#include "vt_test.h"

enum { F_EXP, F_EXPM1, F_ERF, F_TANH, F_SIGMOID, F_COUNT };
static const char *names[F_COUNT] = {"exp", "expm1", "erf", "tanh", "sigmoid"};

/* Vectorised kernels, as the ops use them. */
VT_CLONES static void vec_apply(int f, const float *x, float *y, int64_t n)
{
    switch (f) {
    case F_EXP:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = vt_vexpf(x[i]);
        break;
    case F_EXPM1:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = vt_vexpm1f(x[i]);
        break;
    case F_ERF:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = vt_verff(x[i]);
        break;
    case F_TANH:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = vt_vtanhf(x[i]);
        break;
    case F_SIGMOID:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = vt_vsigmoidf(x[i]);
        break;
    }
}

/* Scalar evaluation: called through a volatile pointer, one element at a time, never vectorised. */
static float s_exp(float x)
{
    return vt_vexpf(x);
}
static float s_expm1(float x)
{
    return vt_vexpm1f(x);
}
static float s_erf(float x)
{
    return vt_verff(x);
}
static float s_tanh(float x)
{
    return vt_vtanhf(x);
}
static float s_sigmoid(float x)
{
    return vt_vsigmoidf(x);
}
static float (*volatile scalar_fn[F_COUNT])(float) = {s_exp, s_expm1, s_erf, s_tanh, s_sigmoid};

static double ref_sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

static double reference(int f, float x)
{
    switch (f) {
    case F_EXP: return exp((double)x);
    case F_EXPM1: return expm1((double)x);
    case F_ERF: return erf((double)x);
    case F_TANH: return tanh((double)x);
    default: return ref_sigmoid((double)x);
    }
}

static float libm_float(int f, float x)
{
    switch (f) {
    case F_EXP: return expf(x);
    case F_EXPM1: return expm1f(x);
    case F_ERF: return erff(x);
    case F_TANH: return tanhf(x);
    default: return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
    }
}

/* |y - ref| in units of the float ulp at ref (2^-149 in the denormal range); 0 when y is the correctly
 * rounded value of an out-of-range ref (inf, 0), inf for a wrong NaN / inf. */
static double ulp_error(float y, double ref)
{
    if (isnan(ref) || isnan(y)) return isnan(ref) && isnan(y) ? 0 : INFINITY;
    float rf = (float)ref; /* round to nearest */
    if (isinf(y) || isinf(rf)) return y == rf ? 0 : INFINITY;
    int e;
    frexp(fabs(ref), &e);
    double ulp = ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
    return fabs((double)y - ref) / ulp;
}

/* ulp distance between two floats (bit patterns ordered as integers). */
static double ulp_distance(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : INFINITY;
    int64_t ia = (int32_t)vt_f2u(a), ib = (int32_t)vt_f2u(b);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return (double)llabs(ia - ib);
}

typedef struct {
    double max_ulp, max_libm;
    float worst_x;
    long n, not_identical;
} stats;

static void sweep(int f, uint64_t step, stats *s)
{
    enum { B = 4096 };
    float x[B], y[B];
    memset(s, 0, sizeof *s);
    uint64_t bits = 0;
    while (bits < (1ull << 32)) {
        int m = 0;
        for (; m < B && bits < (1ull << 32); m++, bits += step) x[m] = vt_u2f((uint32_t)bits);
        vec_apply(f, x, y, m);
        for (int i = 0; i < m; i++) {
            float ys = scalar_fn[f](x[i]);
            if (vt_f2u(ys) != vt_f2u(y[i]) && !(isnan(ys) && isnan(y[i]))) s->not_identical++;
            double e = ulp_error(y[i], reference(f, x[i]));
            if (e > s->max_ulp) s->max_ulp = e, s->worst_x = x[i];
            double d = ulp_distance(y[i], libm_float(f, x[i]));
            if (d > s->max_libm) s->max_libm = d;
        }
        s->n += m;
    }
}

static void test_sweep(void)
{
    const char *ex = getenv("VT_VECMATH_EXHAUSTIVE");
    uint64_t step = ex && *ex == '1' ? 1 : 1021;
    /* Limits: the maximum seen over all 2^32 inputs, rounded up to a whole ulp. */
    static const double limit[F_COUNT] = {1, 2, 2, 3, 3};
    for (int f = 0; f < F_COUNT; f++) {
        stats s;
        sweep(f, step, &s);
        printf("  %-8s %ld inputs: max error %.3f ulp (at %a = %.9g), max distance to libm's float %.0f ulp, "
               "%ld vector/scalar differences\n",
               names[f], s.n, s.max_ulp, s.worst_x, s.worst_x, s.max_libm, s.not_identical);
        CHECK(s.max_ulp <= limit[f]);
        CHECK(s.not_identical == 0);
    }
}

/* One input through both the vector kernel and the scalar function. */
static float vec1(int f, float x)
{
    float xs[16], ys[16];
    for (int i = 0; i < 16; i++) xs[i] = x;
    vec_apply(f, xs, ys, 16);
    float s = scalar_fn[f](x);
    if (vt_f2u(s) != vt_f2u(ys[7]) && !(isnan(s) && isnan(ys[7]))) return NAN; /* makes the caller's check fail */
    return ys[7];
}

static bool same_bits(float a, float b)
{
    return vt_f2u(a) == vt_f2u(b);
}

static void test_edges(void)
{
    float dmin = 0x1p-149f, tiny = 0x1p-126f;
    /* exp */
    CHECK(same_bits(vec1(F_EXP, 0.0f), 1.0f) && same_bits(vec1(F_EXP, -0.0f), 1.0f));
    CHECK(same_bits(vec1(F_EXP, INFINITY), INFINITY) && same_bits(vec1(F_EXP, -INFINITY), 0.0f));
    CHECK(isnan(vec1(F_EXP, NAN)) && isnan(vec1(F_EXP, -NAN)));
    CHECK(vec1(F_EXP, 88.72283f) == expf(88.72283f) && isinf(vec1(F_EXP, 88.72284f)));
    CHECK(same_bits(vec1(F_EXP, 89.0f), INFINITY) && same_bits(vec1(F_EXP, 1e30f), INFINITY));
    CHECK(vec1(F_EXP, -103.97207f) == dmin && same_bits(vec1(F_EXP, -103.9721f), 0.0f));
    CHECK(same_bits(vec1(F_EXP, -200.0f), 0.0f) && same_bits(vec1(F_EXP, -1e30f), 0.0f));
    for (float x = -103.9f; x < -87.0f; x += 0.37f) /* denormal results: within one step of the grid */
        CHECK(fabs((double)vec1(F_EXP, x) - exp((double)x)) <= dmin);
    CHECK(vec1(F_EXP, dmin) == 1.0f && vec1(F_EXP, -dmin) == 1.0f);
    CHECK(vec1(F_EXP, 1.0f) == expf(1.0f));
    /* expm1 */
    CHECK(same_bits(vec1(F_EXPM1, 0.0f), 0.0f) && same_bits(vec1(F_EXPM1, -0.0f), -0.0f));
    CHECK(same_bits(vec1(F_EXPM1, dmin), dmin) && same_bits(vec1(F_EXPM1, -tiny), -tiny));
    CHECK(vec1(F_EXPM1, 1e-7f) == expm1f(1e-7f));
    CHECK(same_bits(vec1(F_EXPM1, -INFINITY), -1.0f) && same_bits(vec1(F_EXPM1, -100.0f), -1.0f));
    CHECK(same_bits(vec1(F_EXPM1, INFINITY), INFINITY) && same_bits(vec1(F_EXPM1, 88.8f), INFINITY));
    CHECK(vec1(F_EXPM1, 88.5f) == expm1f(88.5f) || ulp_distance(vec1(F_EXPM1, 88.5f), expm1f(88.5f)) <= 1);
    CHECK(isnan(vec1(F_EXPM1, NAN)));
    /* erf */
    CHECK(same_bits(vec1(F_ERF, 0.0f), 0.0f) && same_bits(vec1(F_ERF, -0.0f), -0.0f));
    CHECK(same_bits(vec1(F_ERF, INFINITY), 1.0f) && same_bits(vec1(F_ERF, -INFINITY), -1.0f));
    CHECK(same_bits(vec1(F_ERF, 3.92f), erff(3.92f)) && same_bits(vec1(F_ERF, 3.95f), 1.0f));
    CHECK(same_bits(vec1(F_ERF, 1e20f), 1.0f) && same_bits(vec1(F_ERF, -1e38f), -1.0f));
    CHECK(isnan(vec1(F_ERF, NAN)));
    CHECK(ulp_error(vec1(F_ERF, dmin * 100), erf((double)(dmin * 100))) <= 1); /* denormal x: 1.128 x */
    CHECK(ulp_error(vec1(F_ERF, 0.875f), erf(0.875)) <= 2 && ulp_error(vec1(F_ERF, 0.87499994f), erf(0.87499994)) <= 2);
    /* tanh */
    CHECK(same_bits(vec1(F_TANH, 0.0f), 0.0f) && same_bits(vec1(F_TANH, -0.0f), -0.0f));
    CHECK(same_bits(vec1(F_TANH, dmin), dmin) && same_bits(vec1(F_TANH, -tiny), -tiny));
    CHECK(same_bits(vec1(F_TANH, INFINITY), 1.0f) && same_bits(vec1(F_TANH, -INFINITY), -1.0f));
    CHECK(same_bits(vec1(F_TANH, 9.1f), 1.0f) && same_bits(vec1(F_TANH, -1e30f), -1.0f));
    CHECK(isnan(vec1(F_TANH, NAN)));
    /* sigmoid */
    CHECK(same_bits(vec1(F_SIGMOID, 0.0f), 0.5f) && same_bits(vec1(F_SIGMOID, -0.0f), 0.5f));
    CHECK(same_bits(vec1(F_SIGMOID, INFINITY), 1.0f) && same_bits(vec1(F_SIGMOID, -INFINITY), 0.0f));
    CHECK(same_bits(vec1(F_SIGMOID, 20.0f), 1.0f) && vec1(F_SIGMOID, -100.0f) > 0.0f); /* denormal result */
    CHECK(ulp_error(vec1(F_SIGMOID, -100.0f), ref_sigmoid(-100.0)) <= 1);
    CHECK(isnan(vec1(F_SIGMOID, NAN)));
}

int main(void)
{
    RUN(test_edges);
    RUN(test_sweep);
    return vt_test_summary();
}
