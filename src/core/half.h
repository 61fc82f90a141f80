/* Float16 and bfloat16 bit patterns -> float32 (exact: every such number is a float32). Not installed;
 * used by the ONNX import (narrow.h) and the .npy reader. */
#ifndef VT_CORE_HALF_H
#define VT_CORE_HALF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float vt_f16_bits_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0) { /* zero or subnormal: man x 2^-24 */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31)
        u = sign | 0x7f800000u | (man << 13); /* infinity, NaN (payload kept) */
    else
        u = sign | ((exp + 112u) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float vt_bf16_bits_to_f32(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
