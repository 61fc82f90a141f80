/* Vectorisable float32 exp, expm1, erf, tanh and sigmoid for the element-wise kernels of ops/.
 *
 * Each function is a branch-free scalar function (range reduction + polynomial, no tables) meant to be
 * inlined into a `#pragma omp simd` loop, which GCC then turns into SSE / AVX2 / AVX-512 code:
 *
 *     VT_CLONES static void exp_kernel(const float *x, float *y, int64_t n)
 *     {
 *     #pragma omp simd
 *         for (int64_t i = 0; i < n; i++) y[i] = vt_vexpf(x[i]);
 *     }
 *
 * VT_CLONES compiles such a kernel once per instruction set (AVX-512, AVX2, the build's baseline) and
 * picks the best one at load time. Conditionals are written as bit masks (vt_sel): a float `?:` is often
 * turned into branches before vectorisation, and the loop then stays scalar.
 *
 * Determinism: only IEEE +, -, *, / and integer/bit operations are used, and the project compiles in ISO C
 * mode (-std=c11), where GCC never contracts a * b + c into an FMA. Every lane of every vector width therefore
 * computes exactly what the scalar code computes: results are bit-identical across SSE/AVX2/AVX-512, thread
 * counts and batch sizes (tests/test_vecmath.c checks vector against scalar bit for bit).
 *
 * Accuracy: the largest error over all 2^32 float32 inputs, in ulp of the exact result (tests/test_vecmath.c,
 * libm's double functions as the reference; VT_VECMATH_EXHAUSTIVE=1 repeats the exhaustive sweep):
 *   vt_vexpf     0.98 ulp  (+inf above 88.72284, denormal results down to -103.97208, 0 below; e^+-0 = 1)
 *   vt_vexpm1f   1.53 ulp  (relative accuracy kept near 0; -1 below -17.33; +-0 -> +-0)
 *   vt_verff     1.28 ulp  (odd; +-1 for |x| >= 3.9192; +-0 -> +-0; denormal x -> 1.128 x)
 *   vt_vtanhf    2.67 ulp  (odd; +-1 for |x| >= 9.01; +-0 -> +-0)
 *   vt_vsigmoidf 2.40 ulp  (denormal results below -87.3, 0 below -103.97)
 * NaN inputs give NaN; +-inf give the limits. */
#ifndef VT_NN_OPS_VECMATH_H
#define VT_NN_OPS_VECMATH_H

#include <stdint.h>

#include "core/clones.h"

/* Inlined whatever the size heuristics say: a call inside a simd loop stops its vectorisation. */
#if defined(__GNUC__) || defined(__clang__)
#define VT_VINLINE static inline __attribute__((always_inline))
#else
#define VT_VINLINE static inline
#endif

typedef union {
    float f;
    uint32_t u;
} vt_fbits;

VT_VINLINE uint32_t vt_f2u(float f)
{
    vt_fbits b;
    b.f = f;
    return b.u;
}

VT_VINLINE float vt_u2f(uint32_t u)
{
    vt_fbits b;
    b.u = u;
    return b.f;
}

/* All ones when c is true, else 0. */
VT_VINLINE uint32_t vt_mask(int c)
{
    return -(uint32_t)(c != 0);
}

/* m ? a : b for a mask from vt_mask, in bit operations (vectorises where a float ?: may not). */
VT_VINLINE float vt_sel(uint32_t m, float a, float b)
{
    return vt_u2f((vt_f2u(a) & m) | (vt_f2u(b) & ~m));
}

VT_VINLINE float vt_vabsf(float x)
{
    return vt_u2f(vt_f2u(x) & 0x7fffffffu);
}

/* |y| with the sign of x. */
VT_VINLINE float vt_vcopysignf(float y, float x)
{
    return vt_u2f((vt_f2u(y) & 0x7fffffffu) | (vt_f2u(x) & 0x80000000u));
}

/* Clamps below lo / above hi; NaN passes through (both comparisons are false). */
VT_VINLINE float vt_vclampf(float x, float lo, float hi)
{
    x = vt_sel(vt_mask(x > hi), hi, x);
    return vt_sel(vt_mask(x < lo), lo, x);
}

/* Range reduction x = k ln2 + r, |r| <= ln2/2 (+ rounding), k = round(x / ln2) for |x| < 2^22:
 * 1.5 * 2^23 added and subtracted rounds to the nearest integer, whose bits are then in the low mantissa.
 * ln2 is split Cody-Waite style: k * ln2_hi is exact for |k| < 512. Returns r; *k as integer. */
VT_VINLINE float vt_vexp_reduce(float x, int32_t *k)
{
    float t = x * 1.44269504088896341f + 12582912.0f;
    float kf = t - 12582912.0f;
    *k = (int32_t)(vt_f2u(t) - 0x4b400000u); /* NaN: some value; the result is NaN through r anyway */
    return (x - kf * 0.693145751953125f) - kf * 1.428606765330187045e-06f;
}

/* (e^r - 1 - r) / r^2 on |r| <= 0.35: minimax, relative error 3.3e-9. */
VT_VINLINE float vt_vexp_poly(float r)
{
    float p = 1.381313079e-03f;
    p = p * r + 8.369424380e-03f;
    p = p * r + 4.166845605e-02f;
    p = p * r + 1.666651517e-01f;
    p = p * r + 4.999999404e-01f;
    return p;
}

/* 2^k as a float for -126 <= k <= 127 (k = -127 gives 0). */
VT_VINLINE float vt_vpow2i(int32_t k)
{
    return vt_u2f((uint32_t)(k + 127) << 23);
}

/* e^x. */
VT_VINLINE float vt_vexpf(float x)
{
    /* e^89 overflows and e^-104 < 2^-150 rounds to 0: clamping there keeps k within +-150. */
    x = vt_vclampf(x, -104.0f, 89.0f);
    int32_t k;
    float r = vt_vexp_reduce(x, &k);
    float p = (vt_vexp_poly(r) * (r * r) + r) + 1.0f;
    /* 2^k in two factors so that neither leaves the normal range: p * 2^k1 is exact, the second
     * product rounds once (to a denormal, or to inf on overflow). */
    int32_t k1 = k >> 1, k2 = k - k1;
    return (p * vt_vpow2i(k1)) * vt_vpow2i(k2);
}

/* e^x - 1 for x <= 88 (larger x give e^88 - 1: use vt_vexpm1f there). */
VT_VINLINE float vt_vexpm1f_le88(float x)
{
    float xc = vt_vclampf(x, -88.0f, 88.0f);
    int32_t k;
    float r = vt_vexp_reduce(xc, &k);
    float q = vt_vexp_poly(r) * (r * r) + r; /* e^r - 1: exact to a rounding for k = 0 (where r = x) */
    float s = vt_vpow2i(k);                  /* k in [-127, 127]; 0 for k = -127, where the result is -1 */
    float y = s * q + (s - 1.0f);            /* 2^k (e^r - 1) + (2^k - 1); s * q is exact */
    return vt_sel(vt_mask(x == 0.0f), x, y); /* keeps -0 */
}

/* e^x - 1. */
VT_VINLINE float vt_vexpm1f(float x)
{
    return vt_sel(vt_mask(x > 88.0f), vt_vexpf(x), vt_vexpm1f_le88(x));
}

/* erf(x). |x| < 0.875: x + x P(x^2) (minimax, relative error 8.5e-9). Above: 1 - e^(-x^2) S(1/x) / x with
 * S(t) = x e^(x^2) erfc(x) a polynomial in t = 1/x over [1/3.93, 1/0.875] (relative error 2.5e-8); the
 * rounding of x^2 costs at most erfc(x) x^2 2^-24 < 1e-8 absolutely. */
VT_VINLINE float vt_verff(float x)
{
    float a = vt_vabsf(x);
    float z = a * a;
    float p = -6.203253012e-04f;
    p = p * z + 5.032181087e-03f;
    p = p * z + -2.679146303e-02f;
    p = p * z + 1.128245534e-01f;
    p = p * z + -3.761255047e-01f;
    p = p * z + 1.283791575e-01f;
    float ys = a + a * p;

    float ab = vt_vclampf(a, 0.875f, 4.0f);
    float t = 1.0f / ab;
    float s = t * 2.251227496f + -1.572831424f; /* t mapped to [-1, 1] */
    float q = -2.090319686e-05f;
    q = q * s + 4.835147047e-05f;
    q = q * s + -1.774618977e-05f;
    q = q * s + -1.471483265e-04f;
    q = q * s + 7.465761155e-04f;
    q = q * s + -2.364252927e-03f;
    q = q * s + 4.531461746e-03f;
    q = q * s + 2.424423350e-03f;
    q = q * s + -7.583438605e-02f;
    q = q * s + 4.769062400e-01f;
    float yb = 1.0f - (vt_vexpf(-z) * q) * t;
    return vt_vcopysignf(vt_sel(vt_mask(a < 0.875f), ys, yb), x);
}

/* tanh(x) = e / (e + 2) with e = expm1(2|x|), odd; |x| > 9.5 is 1 in float. */
VT_VINLINE float vt_vtanhf(float x)
{
    float a = vt_vabsf(x);
    a = vt_sel(vt_mask(a > 9.5f), 9.5f, a); /* NaN passes */
    float e = vt_vexpm1f_le88(a + a);
    return vt_vcopysignf(e / (e + 2.0f), x);
}

/* 1 / (1 + e^-x), as e / (1 + e) with e = e^x for x < 0 (keeps the small results accurate). */
VT_VINLINE float vt_vsigmoidf(float x)
{
    float e = vt_vexpf(-vt_vabsf(x));
    float num = vt_sel(vt_mask(vt_f2u(x) >> 31), e, 1.0f);
    return num / (1.0f + e);
}

#endif
