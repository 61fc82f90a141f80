/* A float32 matrix product whose every output element is one chain of fused multiply-adds in ascending
 * k, whatever M, N, the blocking or the thread count: the same bits for any batch size and threads.
 *
 * Why by hand: oneDNN 2.6 has a batch-invariant float32 matmul only on AVX-512 (its brgemm kernels).
 * Elsewhere (AVX2) it calls its jit sgemm, which picks kernels by M (a matrix-vector kernel for one
 * row, others for more) and may split K between threads, so a stimulus' features changed with the
 * batch it was run in (measured: up to 2e-4 absolute on a 1024-long dot product). This kernel is the
 * fallback there; blocking only reorders which elements are computed when, never the order of the
 * terms of one element.
 *
 * Layout: tiles of MR x NR outputs held in registers over a block of KC terms. B is packed into
 * NR-column panels (zero-padded at the edge; packed once for constant weights, by the caller's
 * vt_sgemm.packed); A is read where it lies, except a last partial row panel, copied zero-padded.
 * Tasks are (product, row block, column block) triples; a padded row or column is never stored. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef __x86_64__
#include <immintrin.h>
#endif

#include "nn/ops/ops.h"

enum {
    MR = 6,   /* rows per register tile */
    NR = 16,  /* columns per register tile (two 8-float vectors) */
    KC = 256, /* terms per packed block (A and B panels stay in L1/L2) */
    MC = 96,  /* rows per task (16 row panels) */
    NC = 256, /* columns per task (16 column panels) */
};

/* acc (MR x NR, row-major) += A (MR rows: element (r, k) at a[r * rs + k * ks]) . Bp (kc x NR), one fma
 * per term in ascending k. */
static void tile_scalar(int64_t kc, const float *a, int64_t rs, int64_t ks, const float *Bp, float *acc)
{
    for (int64_t k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) acc[r * NR + j] = fmaf(a[r * rs + k * ks], Bp[k * NR + j], acc[r * NR + j]);
}

#ifdef __x86_64__
/* The same arithmetic with AVX2 FMA instructions (fmaf and vfmadd round once alike). */
__attribute__((target("avx2,fma"))) static void tile_avx2(int64_t kc, const float *a, int64_t rs, int64_t ks,
                                                          const float *Bp, float *acc)
{
    /* unrolled, so that the twelve accumulators live in registers (-O2 alone keeps them on the stack) */
    __m256 c[MR][2];
    const float *ar[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        c[r][0] = _mm256_loadu_ps(acc + r * NR), c[r][1] = _mm256_loadu_ps(acc + r * NR + 8);
        ar[r] = a + r * rs;
    }
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(Bp + k * NR), b1 = _mm256_loadu_ps(Bp + k * NR + 8);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            __m256 x = _mm256_broadcast_ss(ar[r] + k * ks);
            c[r][0] = _mm256_fmadd_ps(x, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(x, b1, c[r][1]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) _mm256_storeu_ps(acc + r * NR, c[r][0]), _mm256_storeu_ps(acc + r * NR + 8, c[r][1]);
}
#endif

typedef void (*tile_fn)(int64_t kc, const float *a, int64_t rs, int64_t ks, const float *Bp, float *acc);

static tile_fn pick_tile(void)
{
#ifdef __x86_64__
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return tile_avx2;
#endif
    return tile_scalar;
}

static int64_t padded_n(const vt_sgemm *p)
{
    return (p->N + NR - 1) / NR * NR;
}

/* Whether every product reads the same B (a weight matrix shared by the batch): then one is packed. */
static bool one_b(const vt_sgemm *p)
{
    for (int64_t b = 1; b < p->nbatch; b++)
        if (p->b_off[b] != p->b_off[0]) return false;
    return true;
}

size_t vt_sgemm_packed_floats(const vt_sgemm *p)
{
    return (size_t)((one_b(p) ? 1 : p->nbatch) * p->K * padded_n(p));
}

/* Product b's B as NR-column panels over all K terms: out[panel][k][j]. */
static void pack_b_panel(const vt_sgemm *p, int64_t b, int64_t pj, float *out)
{
    const float *B = p->B + p->b_off[b];
    int64_t j0 = pj * NR, cols = p->N - j0 < NR ? p->N - j0 : NR;
    for (int64_t k = 0; k < p->K; k++) {
        float *row = out + k * NR;
        if (!p->tb && cols == NR) {
            memcpy(row, B + k * p->N + j0, sizeof(float) * NR);
            continue;
        }
        for (int j = 0; j < NR; j++) row[j] = j < cols ? (p->tb ? B[(j0 + j) * p->K + k] : B[k * p->N + j0 + j]) : 0.0f;
    }
}

void vt_sgemm_pack(const vt_sgemm *p)
{
    int64_t nb = one_b(p) ? 1 : p->nbatch, np = padded_n(p) / NR;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < nb * np; t++)
        pack_b_panel(p, t / np, t % np, p->packed + (t / np * np + t % np) * p->K * NR);
}

/* The tile's finished sums plus bias, through the activation, into C. */
static void store_tile(const vt_sgemm *p, const float *acc, float *C, int64_t i0, int64_t rows, int64_t j0,
                       int64_t cols)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) {
            float v = acc[r * NR + j];
            if (p->bias) v += p->bias[(i0 + r) * p->bias_rs + (j0 + j) * p->bias_cs];
            if (p->act.kind == VT_ACT_RELU)
                v = v > 0 ? v : 0.0f;
            else if (p->act.kind == VT_ACT_CLIP)
                v = v < p->act.lo ? p->act.lo : v > p->act.hi ? p->act.hi : v;
            C[(i0 + r) * p->N + j0 + j] = v;
        }
}

/* One task: rows i0..i0+mc and columns j0..j0+nc of product b, every term block in ascending order.
 * The partial sums of its tiles live in `sums` between term blocks; `edge` holds a partial row panel. */
static void run_block(const vt_sgemm *p, tile_fn tile, int64_t b, int64_t i0, int64_t mc, int64_t j0, int64_t nc,
                      const float *Bp, float *edge, float *sums)
{
    const float *A = p->A + p->a_off[b];
    Bp += j0 * p->K;
    int64_t np = (nc + NR - 1) / NR, mp = (mc + MR - 1) / MR;
    int64_t rs = p->ta ? 1 : p->K, ks = p->ta ? p->M : 1; /* element (i, k) of A at A[i * rs + k * ks] */
    memset(sums, 0, sizeof(float) * (size_t)(mp * np * MR * NR));
    for (int64_t k0 = 0; k0 < p->K; k0 += KC) {
        int64_t kc = p->K - k0 < KC ? p->K - k0 : KC;
        int64_t full = mc / MR;
        if (mp > full) { /* the last panel's missing rows read zeros */
            int64_t rows = mc - full * MR;
            for (int64_t k = 0; k < kc; k++)
                for (int r = 0; r < MR; r++)
                    edge[k * MR + r] = r < rows ? A[(i0 + full * MR + r) * rs + (k0 + k) * ks] : 0.0f;
        }
        for (int64_t pj = 0; pj < np; pj++) /* a B panel stays in L1 while the rows of A stream by */
            for (int64_t pi = 0; pi < mp; pi++) {
                const float *a = pi < full ? A + (i0 + pi * MR) * rs + k0 * ks : edge;
                tile(kc, a, pi < full ? rs : 1, pi < full ? ks : MR, Bp + pj * NR * p->K + k0 * NR,
                     sums + (pi * np + pj) * MR * NR);
            }
    }
    float *C = p->C + b * p->M * p->N;
    for (int64_t pi = 0; pi < mp; pi++)
        for (int64_t pj = 0; pj < np; pj++) {
            int64_t rows = mc - pi * MR < MR ? mc - pi * MR : MR, cols = nc - pj * NR < NR ? nc - pj * NR : NR;
            store_tile(p, sums + (pi * np + pj) * MR * NR, C, i0 + pi * MR, rows, j0 + pj * NR, cols);
        }
}

vt_status vt_sgemm_run(const vt_sgemm *p)
{
    if (p->M <= 0 || p->N <= 0 || p->nbatch <= 0) return VT_OK;
    tile_fn tile = pick_tile();
    int64_t mb = (p->M + MC - 1) / MC, nb = (p->N + NC - 1) / NC, tasks = p->nbatch * mb * nb;
    int64_t b_stride = one_b(p) ? 0 : padded_n(p) * p->K; /* product b's packed B: packed + b * b_stride */
    bool failed = false;
#pragma omp parallel
    {
        /* per thread: a partial row panel of A and one task's partial sums */
        float *edge = vt_malloc(MR * KC, sizeof(float));
        float *sums = vt_malloc((size_t)((MC + MR) * (NC + NR)), sizeof(float));
        if (!edge || !sums) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            if (!edge || !sums) continue;
            int64_t b = t / (mb * nb), rest = t % (mb * nb), i0 = rest / nb * MC, j0 = rest % nb * NC;
            run_block(p, tile, b, i0, p->M - i0 < MC ? p->M - i0 : MC, j0, p->N - j0 < NC ? p->N - j0 : NC,
                      p->packed + b * b_stride, edge, sums);
        }
        free(edge), free(sums);
    }
    return failed ? VT_ERR_NOMEM : VT_OK;
}
