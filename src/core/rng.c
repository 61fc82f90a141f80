/* Philox4x32-10: ten rounds of multiply-xor over a 128-bit counter with a 64-bit key. */
#include <math.h>

#include "ventral/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void vt_philox4x32(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

uint64_t vt_rng_u64_at(uint64_t seed, uint64_t stream, uint64_t index)
{
    /* One Philox block yields two 64-bit draws. */
    uint32_t w[4];
    vt_philox4x32(seed, stream, index >> 1, w);
    return (index & 1) ? ((uint64_t)w[3] << 32 | w[2]) : ((uint64_t)w[1] << 32 | w[0]);
}

uint64_t vt_rng_below(vt_rng *r, uint64_t n)
{
    /* Rejection from the largest multiple of n keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = vt_rng_u64(r);
    } while (x >= limit);
    return x % n;
}

double vt_rng_normal(vt_rng *r)
{
    double u1 = 1.0 - vt_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = vt_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
