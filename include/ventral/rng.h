/* Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * A value is a pure function of (seed, stream, index): there is no hidden state to
 * advance, so work split across threads or batches draws exactly the same numbers.
 * Give every independent use its own stream (e.g. the feature index in SRP, the
 * resample index in a bootstrap).
 *
 *   vt_rng r = vt_rng_make(seed, stream);
 *   for (i = 0; i < n; i++) u[i] = vt_rng_uniform(&r);   // same as vt_rng_uniform_at(seed, stream, i)
 */
#ifndef VENTRAL_RNG_H
#define VENTRAL_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_rng {
    uint64_t seed;
    uint64_t stream;
    uint64_t counter; /* index of the next 64-bit draw */
} vt_rng;

/* The four 32-bit words of Philox4x32-10 for key = seed, counter = (block, stream). */
void vt_philox4x32(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4]);

/* 64 random bits number `index` of stream (seed, stream). */
uint64_t vt_rng_u64_at(uint64_t seed, uint64_t stream, uint64_t index);

static inline vt_rng vt_rng_make(uint64_t seed, uint64_t stream)
{
    vt_rng r = {seed, stream, 0};
    return r;
}

static inline uint64_t vt_rng_u64(vt_rng *r)
{
    return vt_rng_u64_at(r->seed, r->stream, r->counter++);
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double vt_rng_uniform(vt_rng *r)
{
    return (double)(vt_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n) without modulo bias (n > 0). */
uint64_t vt_rng_below(vt_rng *r, uint64_t n);

/* Standard normal (Box–Muller on two uniforms; consumes two draws). */
double vt_rng_normal(vt_rng *r);

#ifdef __cplusplus
}
#endif
#endif
