/* Whether a span of floats holds an Inf or NaN (an all-ones exponent), branch-free so that it
 * vectorises wherever it is inlined (not installed; shared by tensor.c and the SRP kernels). */
#ifndef VT_CORE_NONFINITE_H
#define VT_CORE_NONFINITE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static inline __attribute__((always_inline)) bool vt_span_nonfinite_f32(const float *x, int64_t n)
{
    uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad != 0;
}

static inline __attribute__((always_inline)) bool vt_span_nonfinite_f64(const double *x, int64_t n)
{
    uint64_t bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (u & 0x7ff0000000000000u) == 0x7ff0000000000000u;
    }
    return bad != 0;
}

#endif
