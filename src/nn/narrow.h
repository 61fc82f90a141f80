/* Float16 and bfloat16 tensors of a model, held in float32 (not installed).
 *
 * ventral computes every op in float32; a value the model declares float16 or bfloat16 is kept in
 * float32 with each op's result rounded to the narrow type as it is written (round to nearest even,
 * overflow to infinity, NaN kept quiet), which is what a float16 kernel that accumulates in float32
 * and stores float16 produces. Every float16 and bfloat16 number is exact in float32, so weights and
 * inputs convert without loss. */
#ifndef VT_NN_NARROW_H
#define VT_NN_NARROW_H

#include <stdint.h>

#include "core/half.h" /* vt_f16_bits_to_f32, vt_bf16_bits_to_f32 */

typedef enum vt_narrow { VT_NARROW_NONE = 0, VT_NARROW_F16, VT_NARROW_BF16 } vt_narrow;

/* Rounds x[0..n) in place to the nearest kind-representable value (VT_NARROW_NONE: unchanged). */
void vt_narrow_round(vt_narrow kind, float *x, int64_t n);
const char *vt_narrow_name(vt_narrow kind); /* "float16", "bfloat16", "float32" */

#endif
