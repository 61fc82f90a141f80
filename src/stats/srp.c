/* Very sparse random projection: a compact R stored by summation chunk, applied block by block.
 *
 * Plan: row j of R (feature j) holds each of its k entries independently with probability
 * s = 1/√p. Instead of k Bernoulli draws per feature we skip to the next nonzero with a
 * geometric gap (P(gap >= g) = (1 − s)^g), one RNG draw per nonzero, so building R costs
 * O(√p·k) rather than O(p·k). The draw's low bit is the sign (the gap uses the top 53 bits).
 * Explicitly: draw d of feature j is u_d = vt_rng_u64_at(seed, j, d); U_d = ((u_d >> 11) + 1)·2⁻⁵³;
 * the next nonzero column is c + 1 + floor(log U_d / log1p(−s)) (c = −1 initially), stopping once
 * it reaches k; its sign is − when u_d is odd.
 *
 * Summation order: the features are cut into fixed chunks of SRP_CHUNK (vt_srp_plan_chunk, a
 * function of p only); a chunk's sum for output element c adds ±x_j over its features j in
 * ascending order, from 0. Lane 0 adds the even chunks' sums in chunk order, from 0, and lane 1
 * the odd chunks'; z_c = scale · (lane 0 + lane 1). So every output element receives the same
 * additions whatever the block size and thread count, and two threads can work on one block
 * without sharing anything but the final sum.
 *
 * Storage and kernel: within a chunk the entries are grouped by output column (ascending feature
 * order inside a column), each a 2-byte feature offset whose top bit is the sign. A block of up to
 * W rows of X has the chunk's part transposed into xt[feature][row] (W values, one 64-byte line:
 * W = 16 float32 or 8 float64; SRP_CHUNK lines = 512 KB stay in L2); then each output column
 * gathers its lines and adds them (sign flipped by xor) into a register, which is added to the
 * column's lane once per chunk. Gathering reads L2 but never writes it: with the two lanes below,
 * 2.5× faster here than scattering each feature into its columns' accumulators (one 16-row block
 * of resnet50's 802,816-feature layer1.0 output, 2 threads: 15.6 → 6.2 ms), and the plan takes 2
 * bytes per entry instead of 4 plus 12 per feature. Several blocks are split whole among the
 * threads; a single block's two lanes go to different threads (see vt_srp_apply).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>
#ifdef __SSE__
#include <immintrin.h>
#endif

#include "core/clones.h"
#include "core/nonfinite.h"
#include "ventral/rng.h"
#include "ventral/srp.h"

enum {
    SRP_CHUNK = 8192, /* features per summation chunk (< 2^15: offsets fit beside the sign bit) */
    SRP_W32 = 16,     /* rows per block, float32: one 64-byte line per feature */
    SRP_W64 = 8,      /* rows per block, float64 */
    SRP_NARROW = 4,   /* rows per block of the narrow kernels (single stimuli in a stream) */
    SRP_NEG = 0x8000, /* sign bit of a stored entry */
    SRP_LANES = 2,    /* the chunks' sums go to two lanes, even and odd chunks (see the top) */
};

struct vt_srp_plan {
    int64_t p, k;
    uint64_t seed;
    bool projects;
    double scale;     /* √(1/s)/√k */
    double log1m_s;   /* log(1 − s), to draw a row again (vt_srp_plan_row) */
    int64_t nnz;      /* entries of R */
    int64_t chunks;   /* ⌈p / SRP_CHUNK⌉ */
    int64_t *start;   /* chunks + 1: chunk c's entries are idx[start[c] .. start[c+1]) */
    uint32_t *colptr; /* chunks × (k + 1): column o of chunk c is idx[start[c] + colptr[c(k+1)+o] ..  +o+1]) */
    uint16_t *idx;    /* nnz: feature offset within the chunk | SRP_NEG for a negative entry */
};

vt_status vt_srp_jl_min_dim(int64_t n_samples, double eps, int64_t *k)
{
    *k = 0;
    if (!(eps > 0 && eps < 1)) return vt_fail(VT_ERR_ARG, "srp: eps must lie in (0, 1), got %g", eps);
    if (n_samples < 2)
        return vt_fail(VT_ERR_ARG, "srp: the Johnson-Lindenstrauss bound needs at least 2 samples, got %lld",
                       (long long)n_samples);
    /* The same operations as scikit-learn: eps**2 and eps**3 are C pow, then a truncating cast. */
    double denominator = pow(eps, 2) / 2 - pow(eps, 3) / 3;
    double kd = 4 * log((double)n_samples) / denominator;
    if (!(kd < 2147483647.0))
        return vt_fail(VT_ERR_ARG, "srp: eps = %g with %lld samples needs k = %.4g components, too many", eps,
                       (long long)n_samples, kd);
    *k = (int64_t)kd;
    return VT_OK;
}

/* Draws the nonzeros of feature j: their columns (ascending) and signs (1 = negative).
 * log1m_s = log(1 − s). Draw number d is vt_rng_u64_at(seed, j, d); reading both halves of each
 * Philox block here gives the same values at half the cost. */
static int64_t draw_row(uint64_t seed, int64_t j, int64_t k, double log1m_s, int32_t *cols, uint8_t *neg)
{
    uint32_t w[4];
    int64_t n = 0, c = -1;
    for (uint64_t d = 0;; d++) {
        if (!(d & 1)) vt_philox4x32(seed, (uint64_t)j, d >> 1, w);
        uint64_t u = d & 1 ? (uint64_t)w[3] << 32 | w[2] : (uint64_t)w[1] << 32 | w[0];
        double uniform = (double)((u >> 11) + 1) * 0x1.0p-53; /* (0, 1]: log is finite */
        double gap = floor(log(uniform) / log1m_s);
        if (gap >= (double)(k - 1 - c)) break; /* the next nonzero would be past column k − 1 */
        c += 1 + (int64_t)gap;
        cols[n] = (int32_t)c;
        neg[n] = (uint8_t)(u & 1);
        n++;
    }
    return n;
}

void vt_srp_plan_free(vt_srp_plan *plan)
{
    if (!plan) return;
    free(plan->start);
    free(plan->colptr);
    free(plan->idx);
    free(plan);
}

/* Chunk c's entries grouped by column: its rows are drawn into (column, offset|sign) pairs, then
 * counted and placed by column, in feature order. Writes colptr[0..k] and returns the entries
 * (*n of them, malloc'd), or NULL when out of memory. */
static uint16_t *build_chunk(const vt_srp_plan *pl, int64_t c, uint32_t *colptr, int64_t *n, int32_t *row_cols,
                             uint8_t *row_neg)
{
    int64_t j0 = c * SRP_CHUNK, j1 = j0 + SRP_CHUNK < pl->p ? j0 + SRP_CHUNK : pl->p, k = pl->k, used = 0;
    /* Room for the expected count plus 8 sigma and one full row; grown if ever exceeded. */
    double expect = (double)k / sqrt((double)pl->p) * (double)(j1 - j0);
    size_t cap = (size_t)(expect + 8 * sqrt(expect)) + (size_t)k;
    int32_t *cols = malloc(sizeof *cols * cap);
    uint16_t *ent = malloc(sizeof *ent * cap), *out = NULL;
    bool ok = cols && ent;
    for (int64_t j = j0; j < j1 && ok; j++) {
        int64_t m = draw_row(pl->seed, j, k, pl->log1m_s, row_cols, row_neg);
        if ((size_t)(used + m) > cap) {
            cap = 2 * cap + (size_t)m;
            int32_t *gc = realloc(cols, sizeof *cols * cap);
            if (gc) cols = gc;
            uint16_t *ge = gc ? realloc(ent, sizeof *ent * cap) : NULL;
            if (ge) ent = ge;
            ok = gc && ge;
            if (!ok) break;
        }
        for (int64_t e = 0; e < m; e++) {
            cols[used + e] = row_cols[e];
            ent[used + e] = (uint16_t)((j - j0) | (row_neg[e] ? SRP_NEG : 0));
        }
        used += m;
    }
    /* 2^32 entries in one chunk (8192·k/√p of them, k < p) would take p > 2^38: treated as out of memory. */
    if (ok && used < (int64_t)UINT32_MAX) {
        memset(colptr, 0, sizeof *colptr * (size_t)(k + 1));
        for (int64_t e = 0; e < used; e++) colptr[cols[e] + 1]++;
        for (int64_t o = 0; o < k; o++) colptr[o + 1] += colptr[o];
        out = malloc(sizeof *out * (size_t)(used ? used : 1));
        if (out) {
            /* A stable placement: within a column the entries keep their (ascending) feature order. */
            for (int64_t e = 0; e < used; e++) out[colptr[cols[e]]++] = ent[e];
            for (int64_t o = k; o > 0; o--) colptr[o] = colptr[o - 1];
            colptr[0] = 0;
        }
    }
    free(cols);
    free(ent);
    *n = used;
    return out;
}

vt_status vt_srp_plan_new(int64_t p, int64_t k, uint64_t seed, vt_srp_plan **out)
{
    *out = NULL;
    if (p < 1) return vt_fail(VT_ERR_ARG, "srp: the number of features p must be at least 1, got %lld", (long long)p);
    if (k < 1 || k > INT32_MAX)
        return vt_fail(VT_ERR_ARG, "srp: the number of components k must lie in [1, 2^31 - 1], got %lld", (long long)k);
    vt_srp_plan *pl = vt_calloc(1, sizeof *pl);
    if (!pl) return VT_ERR_NOMEM;
    pl->p = p;
    pl->k = k;
    pl->seed = seed;
    pl->projects = p > k;
    if (!pl->projects) {
        *out = pl;
        return VT_OK;
    }
    /* scikit-learn's value: np.sqrt(1 / density) / np.sqrt(n_components), density = 1 / np.sqrt(p). */
    double density = 1.0 / sqrt((double)p);
    pl->scale = sqrt(1.0 / density) / sqrt((double)k);
    pl->log1m_s = log1p(-density);
    int64_t chunks = pl->chunks = (p + SRP_CHUNK - 1) / SRP_CHUNK;
    pl->start = vt_malloc((size_t)chunks + 1, sizeof *pl->start);
    pl->colptr = vt_malloc((size_t)chunks, sizeof *pl->colptr * (size_t)(k + 1));
    /* Chunks are built in parallel into their own buffers, then packed in chunk order. Each row
     * depends only on its own stream, so the plan does not depend on the thread count. */
    int nt = vt_threads_get();
    uint16_t **parts = vt_calloc((size_t)chunks, sizeof *parts);
    int32_t *row_cols = vt_malloc((size_t)nt * (size_t)k, sizeof *row_cols);
    uint8_t *row_neg = vt_malloc((size_t)nt * (size_t)k, 1);
    int failed = !pl->start || !pl->colptr || !parts || !row_cols || !row_neg;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (!failed)
    for (int64_t c = 0; c < chunks; c++) {
        int t = omp_get_thread_num();
        int64_t n = 0;
        parts[c] = build_chunk(pl, c, pl->colptr + (size_t)c * (size_t)(k + 1), &n, row_cols + (size_t)t * (size_t)k,
                               row_neg + (size_t)t * (size_t)k);
        pl->start[c + 1] = n;
        if (!parts[c]) {
#pragma omp atomic write
            failed = 1;
        }
    }
    if (!failed) {
        pl->start[0] = 0;
        for (int64_t c = 0; c < chunks; c++) pl->start[c + 1] += pl->start[c];
        pl->nnz = pl->start[chunks];
        pl->idx = malloc(sizeof *pl->idx * (size_t)(pl->nnz ? pl->nnz : 1));
        failed = !pl->idx;
    }
    for (int64_t c = 0; parts && c < chunks; c++) {
        if (!failed)
            memcpy(pl->idx + pl->start[c], parts[c], sizeof *pl->idx * (size_t)(pl->start[c + 1] - pl->start[c]));
        free(parts[c]);
    }
    free(parts);
    free(row_cols);
    free(row_neg);
    if (failed) {
        vt_srp_plan_free(pl);
        return vt_fail(VT_ERR_NOMEM, "srp: out of memory building the projection matrix for p = %lld, k = %lld",
                       (long long)p, (long long)k);
    }
    *out = pl;
    return VT_OK;
}

int64_t vt_srp_plan_in_dim(const vt_srp_plan *plan)
{
    return plan->p;
}
int64_t vt_srp_plan_k(const vt_srp_plan *plan)
{
    return plan->k;
}
int64_t vt_srp_plan_out_dim(const vt_srp_plan *plan)
{
    return plan->projects ? plan->k : plan->p;
}
bool vt_srp_plan_projects(const vt_srp_plan *plan)
{
    return plan->projects;
}
int64_t vt_srp_plan_nnz(const vt_srp_plan *plan)
{
    return plan->nnz;
}
double vt_srp_plan_scale(const vt_srp_plan *plan)
{
    return plan->scale;
}
int64_t vt_srp_plan_chunk(const vt_srp_plan *plan)
{
    return plan->projects && plan->p > SRP_CHUNK ? SRP_CHUNK : plan->p;
}

vt_status vt_srp_plan_row(const vt_srp_plan *plan, int64_t j, int32_t *cols, int8_t *signs, int64_t cap, int64_t *count)
{
    *count = 0;
    if (j < 0 || j >= plan->p)
        return vt_fail(VT_ERR_ARG, "srp: feature index %lld is outside [0, %lld)", (long long)j, (long long)plan->p);
    if (!plan->projects) return VT_OK;
    /* The plan keeps R by column; a row is simply drawn again from its stream. */
    int32_t *c = vt_malloc((size_t)plan->k, sizeof *c);
    uint8_t *neg = vt_malloc((size_t)plan->k, 1);
    if (!c || !neg) {
        free(c);
        free(neg);
        return VT_ERR_NOMEM;
    }
    int64_t n = draw_row(plan->seed, j, plan->k, plan->log1m_s, c, neg);
    *count = n;
    vt_status st = VT_OK;
    if (n > cap)
        st = vt_fail(VT_ERR_ARG, "srp: feature %lld has %lld nonzeros, room for %lld", (long long)j, (long long)n,
                     (long long)cap);
    for (int64_t e = 0; st == VT_OK && e < n; e++) {
        cols[e] = c[e];
        signs[e] = neg[e] ? -1 : 1;
    }
    free(c);
    free(neg);
    return st;
}

/* ---- the kernels ---- */

/* Vectors of one block's W rows of one feature; the integer twins flip signs by xor, so the
 * arithmetic is plain IEEE addition in every instruction-set clone (the same bits everywhere). */
typedef float v16f __attribute__((vector_size(64), aligned(4)));
typedef int32_t v16i __attribute__((vector_size(64), aligned(4)));
typedef double v8d __attribute__((vector_size(64), aligned(8)));
typedef int64_t v8l __attribute__((vector_size(64), aligned(8)));
typedef float v4f __attribute__((vector_size(16), aligned(4)));
typedef int32_t v4i __attribute__((vector_size(16), aligned(4)));
typedef double v4d __attribute__((vector_size(32), aligned(8)));
typedef int64_t v4l __attribute__((vector_size(32), aligned(8)));

/* Columns [o0, o1) of chunk c: tot[o] += Σ ±xt[offset], the entries in stored order. */
#define SRP_GATHER(NAME, T, VT, VI, W, SIGN)                                                                           \
    VT_CLONES static void NAME(const vt_srp_plan *pl, int64_t c, int64_t o0, int64_t o1, const T *xt, T *tot)          \
    {                                                                                                                  \
        const uint16_t *idx = pl->idx + pl->start[c];                                                                  \
        const uint32_t *ptr = pl->colptr + (size_t)c * (size_t)(pl->k + 1);                                            \
        for (int64_t o = o0; o < o1; o++) {                                                                            \
            VT a = {0};                                                                                                \
            for (uint32_t e = ptr[o]; e < ptr[o + 1]; e++) {                                                           \
                unsigned u = idx[e];                                                                                   \
                VI v = *(const VI *)(xt + (size_t)(u & (SRP_NEG - 1)) * W);                                            \
                a += (VT)(v ^ (u & SRP_NEG ? SIGN : 0));                                                               \
            }                                                                                                          \
            *(VT *)(tot + o * W) += a;                                                                                 \
        }                                                                                                              \
    }
SRP_GATHER(gather_f32, float, v16f, v16i, SRP_W32, INT32_MIN)
SRP_GATHER(gather_f64, double, v8d, v8l, SRP_W64, INT64_MIN)
SRP_GATHER(gather_f32_narrow, float, v4f, v4i, SRP_NARROW, INT32_MIN)
SRP_GATHER(gather_f64_narrow, double, v4d, v4l, SRP_NARROW, INT64_MIN)

/* xt[j·W + b] = x[b·p + j] for rows b < rows and features j < n (x: the chunk's first feature of
 * the block's first row); returns whether that part of X holds a NaN or an infinity (checked per
 * row segment just after it is copied, while it is in L1). Float32 goes in 4 × 4 SSE blocks (bits
 * moved, never computed on), so xt is written a whole line at a time. */
static int transpose_f32(const float *x, int64_t p, int64_t rows, int64_t w, int64_t n, float *xt)
{
    int bad = 0;
    int64_t b4 = 0, j = 0;
#ifdef __SSE2__
    /* Four features at a time, all rows: each feature's line of xt is written whole, in a row. The
     * finiteness check runs on the loaded vectors (an all-ones exponent field). */
    b4 = rows / 4 * 4;
    const __m128i expo = _mm_set1_epi32(0x7f800000);
    __m128i seen = _mm_setzero_si128();
    for (; j + 4 <= n && b4 > 0; j += 4)
        for (int64_t b = 0; b < b4; b += 4) {
            const float *r = x + b * p + j;
            __m128 r0 = _mm_loadu_ps(r), r1 = _mm_loadu_ps(r + p), r2 = _mm_loadu_ps(r + 2 * p);
            __m128 r3 = _mm_loadu_ps(r + 3 * p);
            __m128i e0 = _mm_and_si128(_mm_castps_si128(r0), expo), e1 = _mm_and_si128(_mm_castps_si128(r1), expo);
            __m128i e2 = _mm_and_si128(_mm_castps_si128(r2), expo), e3 = _mm_and_si128(_mm_castps_si128(r3), expo);
            seen = _mm_or_si128(seen, _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi32(e0, expo), _mm_cmpeq_epi32(e1, expo)),
                                                   _mm_or_si128(_mm_cmpeq_epi32(e2, expo), _mm_cmpeq_epi32(e3, expo))));
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float *d = xt + j * w + b;
            _mm_storeu_ps(d, r0);
            _mm_storeu_ps(d + w, r1);
            _mm_storeu_ps(d + 2 * w, r2);
            _mm_storeu_ps(d + 3 * w, r3);
        }
    bad = _mm_movemask_epi8(seen) != 0;
#endif
    /* What the vectors left: the last n mod 4 features of those rows, and the rows past b4. */
    for (int64_t b = 0; b < b4; b++) {
        const float *r = x + b * p;
        for (int64_t q = j; q < n; q++) xt[q * w + b] = r[q];
        bad |= vt_span_nonfinite_f32(r + j, n - j);
    }
    for (int64_t b = b4; b < rows; b++) {
        const float *r = x + b * p;
        for (int64_t q = 0; q < n; q++) xt[q * w + b] = r[q];
        bad |= vt_span_nonfinite_f32(r, n);
    }
    return bad;
}

static int transpose_f64(const double *x, int64_t p, int64_t rows, int64_t w, int64_t n, double *xt)
{
    int bad = 0;
    for (int64_t b = 0; b < rows; b++) {
        const double *r = x + b * p;
        for (int64_t j = 0; j < n; j++) xt[j * w + b] = r[j];
        bad |= vt_span_nonfinite_f64(r, n);
    }
    return bad;
}

/* One block of rows of X (its first row at x, row stride p) and what its kernels need. */
typedef struct {
    const vt_srp_plan *pl;
    const void *x;
    int64_t rows;
    bool f32;
} srp_block;

static int64_t block_width(const srp_block *bl)
{
    return bl->rows <= SRP_NARROW ? SRP_NARROW : bl->f32 ? SRP_W32 : SRP_W64;
}

/* Chunk c's features into xt. Returns the NaN/Inf flag. */
static int transpose_chunk(const srp_block *bl, int64_t c, void *xt)
{
    int64_t w = block_width(bl), p = bl->pl->p, j0 = c * SRP_CHUNK, n = p - j0 < SRP_CHUNK ? p - j0 : SRP_CHUNK;
    if (bl->f32) return transpose_f32((const float *)bl->x + j0, p, bl->rows, w, n, xt);
    return transpose_f64((const double *)bl->x + j0, p, bl->rows, w, n, xt);
}

static void gather_part(const srp_block *bl, int64_t c, int64_t o0, int64_t o1, const void *xt, void *tot)
{
    bool narrow = bl->rows <= SRP_NARROW;
    if (bl->f32)
        (narrow ? gather_f32_narrow : gather_f32)(bl->pl, c, o0, o1, xt, tot);
    else
        (narrow ? gather_f64_narrow : gather_f64)(bl->pl, c, o0, o1, xt, tot);
}

/* The block's rows of Z, output columns [o0, o1): scale · (lane 0 + lane 1), the lanes' sums
 * stored one after the other at tot (k × W values each). */
static void write_out(const srp_block *bl, const void *tot, void *z, int64_t o0, int64_t o1)
{
    int64_t w = block_width(bl), k = bl->pl->k;
    if (bl->f32) {
        const float *s = tot, *s1 = s + w * k, scale = (float)bl->pl->scale;
        for (int64_t b = 0; b < bl->rows; b++)
            for (int64_t o = o0; o < o1; o++) ((float *)z)[b * k + o] = (s[o * w + b] + s1[o * w + b]) * scale;
    } else {
        const double *s = tot, *s1 = s + w * k, scale = bl->pl->scale;
        for (int64_t b = 0; b < bl->rows; b++)
            for (int64_t o = o0; o < o1; o++) ((double *)z)[b * k + o] = (s[o * w + b] + s1[o * w + b]) * scale;
    }
}

/* [lo, hi) of n items for part t of nt, in multiples of `align`. */
static void share(int64_t n, int t, int nt, int64_t align, int64_t *lo, int64_t *hi)
{
    int64_t units = (n + align - 1) / align;
    *lo = units * t / nt * align;
    *hi = units * (t + 1) / nt * align;
    if (*hi > n) *hi = n;
    if (*lo > n) *lo = n;
}

vt_status vt_srp_apply(const vt_srp_plan *plan, const vt_tensor *x, vt_tensor *z)
{
    if (x->dtype != VT_F32 && x->dtype != VT_F64)
        return vt_fail(VT_ERR_UNSUPPORTED, "srp: X must be float32 or float64, got %s", vt_dtype_name(x->dtype));
    int64_t expect_x[2] = {-1, plan->p};
    if (vt_tensor_check_shape(x, "srp: X", 2, expect_x) != VT_OK) return VT_ERR_ARG;
    int64_t rows = x->shape[0], out_dim = vt_srp_plan_out_dim(plan);
    int64_t expect_z[2] = {rows, out_dim};
    if (vt_tensor_check_shape(z, "srp: Z", 2, expect_z) != VT_OK) return VT_ERR_ARG;
    if (z->dtype != x->dtype)
        return vt_fail(VT_ERR_ARG, "srp: Z must have X's dtype %s, got %s", vt_dtype_name(x->dtype),
                       vt_dtype_name(z->dtype));
    if (rows == 0 || !plan->projects) {
        if (vt_tensor_check_finite(x, "srp: X") != VT_OK) return VT_ERR_ARG;
        if (rows) memcpy(z->data, x->data, vt_tensor_nbytes(x));
        return VT_OK;
    }
    /* X is not scanned for NaN and Inf up front: the transposes flag them while reading X (a read
     * they make anyway), and only then is X scanned, for the same message as the up-front check. */
    bool f32 = x->dtype == VT_F32;
    size_t es = vt_dtype_size(x->dtype);
    int64_t k = plan->k, p = plan->p, chunks = plan->chunks, wide = f32 ? SRP_W32 : SRP_W64;
    int64_t blocks = (rows + wide - 1) / wide;
    int nt = vt_threads_get();
    /* Threads take whole row blocks when there are enough of them. Else all threads work on one
     * block at a time: the even chunks' lane and the odd chunks' lane go to different threads, and
     * several threads in a lane split its columns. Each thread transposes its lane's chunks for
     * itself: sharing one transposed copy between threads would have every gathered line cross
     * between cores, measured here up to 2.6× slower (the VM's cores do not always share a cache). */
    bool by_block = blocks >= nt || nt == 1;
    size_t tot_len = (size_t)wide * (size_t)k, xt_len = (size_t)wide * SRP_CHUNK;
    size_t per = (by_block ? (size_t)nt : 1) * SRP_LANES * tot_len + (size_t)nt * xt_len;
    char *work = vt_malloc(per * es + 64, 1);
    if (!work) {
        if (vt_tensor_check_finite(x, "srp: X") != VT_OK) return VT_ERR_ARG;
        return vt_fail(VT_ERR_NOMEM, "srp: out of memory for the projection's work buffers (%zu MB)", per * es >> 20);
    }
    char *base = work + (64 - (uintptr_t)work % 64) % 64; /* whole cache lines for the vectors */
    const char *xd = x->data;
    char *zd = z->data;
    int nonfinite = 0;
    if (by_block) {
#pragma omp parallel num_threads(nt) reduction(| : nonfinite)
        {
            char *tot = base + (size_t)omp_get_thread_num() * (SRP_LANES * tot_len + xt_len) * es;
            char *xt = tot + SRP_LANES * tot_len * es;
#pragma omp for schedule(dynamic, 1)
            for (int64_t blk = 0; blk < blocks; blk++) {
                int64_t r0 = blk * wide;
                srp_block bl = {plan, xd + (size_t)(r0 * p) * es, rows - r0 < wide ? rows - r0 : wide, f32};
                int64_t w = block_width(&bl);
                memset(tot, 0, SRP_LANES * (size_t)(w * k) * es);
                /* Vector elements past the block's last row are never written out; zero them once. */
                if (bl.rows < w) memset(xt, 0, (size_t)w * SRP_CHUNK * es);
                for (int lane = 0; lane < SRP_LANES; lane++)
                    for (int64_t c = lane; c < chunks; c += SRP_LANES) {
                        nonfinite |= transpose_chunk(&bl, c, xt);
                        gather_part(&bl, c, 0, k, xt, tot + (size_t)(lane * w * k) * es);
                    }
                write_out(&bl, tot, zd + (size_t)(r0 * k) * es, 0, k);
            }
        }
    } else {
        int lanes = chunks < SRP_LANES ? (int)chunks : SRP_LANES;
        for (int64_t blk = 0; blk < blocks; blk++) {
            int64_t r0 = blk * wide;
            srp_block bl = {plan, xd + (size_t)(r0 * p) * es, rows - r0 < wide ? rows - r0 : wide, f32};
            int64_t w = block_width(&bl);
            memset(base, 0, SRP_LANES * (size_t)(w * k) * es);
#pragma omp parallel num_threads(nt) reduction(| : nonfinite)
            {
                int t = omp_get_thread_num(), n = omp_get_num_threads(), lane = t % lanes;
                char *tot = base + (size_t)(lane * w * k) * es;
                char *xt = base + (SRP_LANES * tot_len + (size_t)t * xt_len) * es;
                int64_t o0, o1;
                share(k, t / lanes, (n - lane + lanes - 1) / lanes, 16, &o0, &o1);
                if (bl.rows < w) memset(xt, 0, xt_len * es);
                for (int64_t c = lane; c < chunks; c += lanes) {
                    int bad = transpose_chunk(&bl, c, xt);
                    if (t < lanes) nonfinite |= bad; /* one report per chunk */
                    gather_part(&bl, c, o0, o1, xt, tot);
                }
#pragma omp barrier
                share(k, t, n, 16, &o0, &o1);
                write_out(&bl, base, zd + (size_t)(r0 * k) * es, o0, o1);
            }
        }
    }
    free(work);
    /* A NaN or Inf was met: Z holds garbage, and the error is the up-front check's, word for word. */
    if (nonfinite && vt_tensor_check_finite(x, "srp: X") != VT_OK) return VT_ERR_ARG;
    return VT_OK;
}
