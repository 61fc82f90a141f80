/* Rounding float32 to float16 / bfloat16 and back (see narrow.h). The rounding works on the float32
 * bit pattern, branch-free, so the loops vectorise; results are the same on every instruction set. */
#include "nn/narrow.h"

#include <math.h>
#include <string.h>

#include "core/clones.h"

static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* float16: 10 mantissa bits (13 of float32's dropped), normal from 2^-14, largest finite 65504. */
static inline float round_f16(float f)
{
    uint32_t x = f2u(f), sign = x & 0x80000000u, a = x ^ sign;
    uint32_t normal = (a + 0xfffu + ((a >> 13) & 1u)) & ~0x1fffu; /* nearest even, carries into the exponent */
    normal = normal >= 0x47800000u ? 0x7f800000u : normal;        /* 65520 and up: infinity */
    /* Below 2^-14 the spacing is 2^-24, the spacing of float32 numbers in [0.5, 1): adding 0.5 rounds
     * to it (nearest even, the float32 default), subtracting it again is exact. */
    uint32_t sub = f2u((u2f(a) + 0.5f) - 0.5f);
    uint32_t r = a < 0x38800000u ? sub : normal;
    r = a > 0x7f800000u ? (a & ~0x1fffu) | 0x400000u : a == 0x7f800000u ? a : r; /* NaN quiet, infinity */
    return u2f(sign | r);
}

/* bfloat16: float32's exponent, 7 mantissa bits. */
static inline float round_bf16(float f)
{
    uint32_t a = f2u(f);
    uint32_t r = (a + 0x7fffu + ((a >> 16) & 1u)) & 0xffff0000u; /* overflow carries into infinity */
    return u2f((a & 0x7fffffffu) > 0x7f800000u ? (a | 0x400000u) & 0xffff0000u : r);
}

VT_CLONES static void round_f16_loop(float *x, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) x[i] = round_f16(x[i]);
}

VT_CLONES static void round_bf16_loop(float *x, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) x[i] = round_bf16(x[i]);
}

void vt_narrow_round(vt_narrow kind, float *x, int64_t n)
{
    if (kind == VT_NARROW_NONE || n <= 0) return;
    const int64_t chunk = 1 << 16;
#pragma omp parallel for schedule(static) if (n > 4 * chunk)
    for (int64_t s = 0; s < n; s += chunk) {
        int64_t m = n - s < chunk ? n - s : chunk;
        if (kind == VT_NARROW_F16)
            round_f16_loop(x + s, m);
        else
            round_bf16_loop(x + s, m);
    }
}

const char *vt_narrow_name(vt_narrow kind)
{
    return kind == VT_NARROW_F16 ? "float16" : kind == VT_NARROW_BF16 ? "bfloat16" : "float32";
}
