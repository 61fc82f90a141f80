/* Very sparse random projection: a compact R stored by feature, applied block by block.
 *
 * Plan: row j of R (feature j) holds each of its k entries independently with probability
 * s = 1/√p. Instead of k Bernoulli draws per feature we skip to the next nonzero with a
 * geometric gap (P(gap >= g) = (1 − s)^g), one RNG draw per nonzero, so building R costs
 * O(√p·k) rather than O(p·k). The draw's low bit is the sign (the gap uses the top 53 bits).
 * Explicitly: draw d of feature j is u_d = vt_rng_u64_at(seed, j, d); U_d = ((u_d >> 11) + 1)·2⁻⁵³;
 * the next nonzero column is c + 1 + floor(log U_d / log1p(−s)) (c = −1 initially), stopping once
 * it reaches k; its sign is − when u_d is odd.
 * Each feature stores its positive columns, then its negative ones, so the kernel adds or
 * subtracts without multiplying and the scale √(1/s)/√k is applied once per output.
 *
 * Kernel: a block of up to SRP_B rows of X is transposed tile by tile into xt[feature][row];
 * each nonzero (j, c, ±) then adds ±xt[j][0..B) into acc[c][0..B), one cache line of float32
 * accumulators (two for float64), which stay in L2 for k up to ~10⁴. The features are cut into
 * fixed chunks (vt_srp_plan_chunk: ~32·√p features, a function of p and k only); each chunk is
 * summed on its own, in ascending feature order from 0, and the chunks' sums are added in chunk
 * order. So every output element receives the same additions whatever the block size and thread
 * count, and threads can split either the row blocks or, for a single block (one batch of a layer
 * during extraction), its chunks — never an individual sum.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "core/nonfinite.h"
#include "ventral/rng.h"
#include "ventral/srp.h"

enum {
    SRP_B = 16,       /* rows per kernel block: 16 float32 = one 64-byte accumulator line */
    SRP_J = 512,      /* features per transposed tile of X (SRP_J × SRP_B values in L1/L2) */
    SRP_NARROW = 4,   /* rows per block of the narrow kernel */
    SRP_TILE = 16384, /* features per task while drawing R */
};

struct vt_srp_plan {
    int64_t p, k;
    uint64_t seed;
    bool projects;
    double scale;    /* √(1/s)/√k */
    int64_t nnz;     /* entries of R */
    int64_t *offset; /* p + 1: feature j's entries are cols[offset[j] .. offset[j+1]) */
    int32_t *npos;   /* p: how many of those (the first ones) are positive */
    int32_t *cols;   /* nnz column indices, ascending within the positive and negative runs */
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
    free(plan->offset);
    free(plan->npos);
    free(plan->cols);
    free(plan);
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
    double log1m_s = log1p(-density);
    pl->offset = vt_malloc((size_t)p + 1, sizeof *pl->offset);
    pl->npos = vt_malloc((size_t)p, sizeof *pl->npos);
    if (!pl->offset || !pl->npos) {
        vt_srp_plan_free(pl);
        return VT_ERR_NOMEM;
    }
    /* One pass: tiles of features are drawn in parallel into their own buffers, then packed in
     * feature order. Tiles are fixed (not per thread), and each row depends only on its stream. */
    int64_t tiles = (p + SRP_TILE - 1) / SRP_TILE;
    int nt = vt_threads_get();
    int32_t **tile_cols = vt_calloc((size_t)tiles, sizeof *tile_cols);
    int32_t *scratch = vt_malloc((size_t)nt * (size_t)k, sizeof *scratch);
    uint8_t *negs = vt_malloc((size_t)nt * (size_t)k, 1);
    int failed = !tile_cols || !scratch || !negs;
    double per_row = (double)k * density;
#pragma omp parallel num_threads(nt) if (!failed)
    {
        int32_t *c = scratch + (size_t)omp_get_thread_num() * (size_t)k;
        uint8_t *neg = negs + (size_t)omp_get_thread_num() * (size_t)k;
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < tiles; t++) {
            int64_t j0 = t * SRP_TILE, j1 = j0 + SRP_TILE < p ? j0 + SRP_TILE : p, used = 0;
            /* Room for the expected count plus 8 sigma and one full row; grown if ever exceeded. */
            double expect = per_row * (double)(j1 - j0);
            size_t cap = (size_t)(expect + 8 * sqrt(expect)) + (size_t)k;
            int32_t *buf = malloc(sizeof *buf * cap);
            for (int64_t j = j0; j < j1 && buf; j++) {
                int64_t n = draw_row(seed, j, k, log1m_s, c, neg);
                if ((size_t)(used + n) > cap) {
                    cap = 2 * cap + (size_t)n;
                    int32_t *grown = realloc(buf, sizeof *buf * cap);
                    if (!grown) free(buf);
                    buf = grown;
                    if (!buf) break;
                }
                int64_t np = 0;
                for (int64_t e = 0; e < n; e++)
                    if (!neg[e]) buf[used + np++] = c[e];
                pl->npos[j] = (int32_t)np;
                for (int64_t e = 0; e < n; e++)
                    if (neg[e]) buf[used + np++] = c[e];
                pl->offset[j + 1] = n;
                used += n;
            }
            tile_cols[t] = buf;
            if (!buf) {
#pragma omp atomic write
                failed = 1;
            }
        }
    }
    if (!failed) {
        pl->offset[0] = 0;
        for (int64_t j = 0; j < p; j++) pl->offset[j + 1] += pl->offset[j];
        pl->nnz = pl->offset[p];
        pl->cols = malloc(sizeof *pl->cols * (size_t)(pl->nnz ? pl->nnz : 1));
        failed = !pl->cols;
    }
    for (int64_t t = 0; tile_cols && t < tiles; t++) {
        int64_t j0 = t * SRP_TILE, j1 = j0 + SRP_TILE < p ? j0 + SRP_TILE : p;
        if (!failed)
            memcpy(pl->cols + pl->offset[j0], tile_cols[t],
                   sizeof *pl->cols * (size_t)(pl->offset[j1] - pl->offset[j0]));
        free(tile_cols[t]);
    }
    free(tile_cols);
    free(scratch);
    free(negs);
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

vt_status vt_srp_plan_row(const vt_srp_plan *plan, int64_t j, int32_t *cols, int8_t *signs, int64_t cap, int64_t *count)
{
    *count = 0;
    if (j < 0 || j >= plan->p)
        return vt_fail(VT_ERR_ARG, "srp: feature index %lld is outside [0, %lld)", (long long)j, (long long)plan->p);
    if (!plan->projects) return VT_OK;
    int64_t start = plan->offset[j], n = plan->offset[j + 1] - start, np = plan->npos[j];
    *count = n;
    if (n > cap)
        return vt_fail(VT_ERR_ARG, "srp: feature %lld has %lld nonzeros, room for %lld", (long long)j, (long long)n,
                       (long long)cap);
    /* Merge the ascending positive and negative runs back into one ascending row. */
    const int32_t *pc = plan->cols + start, *nc = pc + np;
    int64_t a = 0, b = 0;
    for (int64_t e = 0; e < n; e++) {
        bool take_pos = b >= n - np || (a < np && pc[a] < nc[b]);
        cols[e] = take_pos ? pc[a++] : nc[b++];
        signs[e] = take_pos ? 1 : -1;
    }
    return VT_OK;
}

/* A chunk's partial sums: ±xt added into acc (zeroed by the caller) for features [j_begin, j_end)
 * of a block of `rows` rows of X (row stride p). One kernel per dtype and width. ACC is the
 * accumulator type (float for float32 input: an output element sums ~√p terms, whose rounding
 * error stays far below the projection's own distortion ε). The clones let AVX-512 and AVX2
 * machines add 16 or 8 lanes at a time; IEEE addition gives the same bits in every clone (no FMA:
 * the kernel only adds). SCAN (vt_span_nonfinite_*) checks each row segment of a tile for Inf/NaN
 * just after it is copied into xt, while it is in L1: that strided copy does not vectorise, the
 * inlined scan does, so X is checked without a pass of its own over memory; the kernel returns
 * whether it saw one. */
#define SRP_KERNEL(NAME, T, ACC, W, SCAN)                                                                              \
    __attribute__((target_clones("avx512f", "avx2", "default"))) static int NAME(                                      \
        const vt_srp_plan *pl, const T *x, int64_t rows, int64_t j_begin, int64_t j_end, ACC *restrict acc,            \
        ACC *restrict xt)                                                                                              \
    {                                                                                                                  \
        const int64_t p = pl->p;                                                                                       \
        int bad = 0;                                                                                                   \
        for (int64_t j0 = j_begin; j0 < j_end; j0 += SRP_J) {                                                          \
            int64_t jn = j_end - j0 < SRP_J ? j_end - j0 : SRP_J;                                                      \
            /* Transpose the tile; rows past the block's end stay zero (they are never written out). */                \
            for (int64_t b = 0; b < W; b++) {                                                                          \
                if (b < rows) {                                                                                        \
                    const T *xr = x + b * p + j0;                                                                      \
                    for (int64_t jj = 0; jj < jn; jj++) xt[jj * W + b] = (ACC)xr[jj];                                  \
                    bad |= SCAN(xr, jn);                                                                               \
                } else {                                                                                               \
                    for (int64_t jj = 0; jj < jn; jj++) xt[jj * W + b] = 0;                                            \
                }                                                                                                      \
            }                                                                                                          \
            for (int64_t jj = 0; jj < jn; jj++) {                                                                      \
                const ACC *restrict xv = xt + jj * W;                                                                  \
                /* A feature that is zero in every row of the block (common after ReLU) adds nothing:                  \
                 * skipping it leaves the sums' bits unchanged, since they never hold −0. */                         \
                int any = 0;                                                                                           \
                for (int b = 0; b < W; b++) any |= xv[b] != 0;                                                         \
                if (!any) continue;                                                                                    \
                int64_t j = j0 + jj, e = pl->offset[j], mid = e + pl->npos[j], end = pl->offset[j + 1];                \
                for (; e < mid; e++) {                                                                                 \
                    ACC *restrict a = acc + (int64_t)pl->cols[e] * W;                                                  \
                    for (int b = 0; b < W; b++) a[b] += xv[b];                                                         \
                }                                                                                                      \
                for (; e < end; e++) {                                                                                 \
                    ACC *restrict a = acc + (int64_t)pl->cols[e] * W;                                                  \
                    for (int b = 0; b < W; b++) a[b] -= xv[b];                                                         \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        return bad;                                                                                                    \
    }

SRP_KERNEL(kernel_f32, float, float, SRP_B, vt_span_nonfinite_f32)
SRP_KERNEL(kernel_f64, double, double, SRP_B, vt_span_nonfinite_f64)
/* Narrow versions for blocks of at most SRP_NARROW rows (a stream of single stimuli would
 * otherwise pay for 16 padded rows); per element they do exactly the same additions. */
SRP_KERNEL(kernel_f32_narrow, float, float, SRP_NARROW, vt_span_nonfinite_f32)
SRP_KERNEL(kernel_f64_narrow, double, double, SRP_NARROW, vt_span_nonfinite_f64)

int64_t vt_srp_plan_chunk(const vt_srp_plan *plan)
{
    if (!plan->projects) return plan->p;
    /* About 32·√p features, i.e. ~32·k nonzeros: enough work per chunk that zeroing and adding
     * its k·W partial sums costs a few per cent; a multiple of the transpose tile. */
    int64_t c = (int64_t)(32.0 * sqrt((double)plan->p));
    c = (c + SRP_J - 1) / SRP_J * SRP_J;
    return c < plan->p ? c : plan->p;
}

/* One block of rows of X: which kernel, and the dtype-erased pointers. */
typedef struct {
    const vt_srp_plan *pl;
    const void *x; /* the block's first row */
    int64_t rows;
    bool f32;
} srp_block;

static int64_t block_width(const srp_block *bl)
{
    return bl->rows <= SRP_NARROW ? SRP_NARROW : SRP_B;
}

/* acc = chunk c's partial sums (k × width values). Returns whether the chunk's part of X holds a
 * NaN or an infinity. */
static int run_chunk(const srp_block *bl, int64_t c, int64_t chunk, void *acc, void *xt)
{
    const vt_srp_plan *pl = bl->pl;
    int64_t j0 = c * chunk, j1 = j0 + chunk < pl->p ? j0 + chunk : pl->p;
    bool narrow = bl->rows <= SRP_NARROW;
    memset(acc, 0, (bl->f32 ? sizeof(float) : sizeof(double)) * (size_t)(block_width(bl) * pl->k));
    if (bl->f32) return (narrow ? kernel_f32_narrow : kernel_f32)(pl, bl->x, bl->rows, j0, j1, acc, xt);
    return (narrow ? kernel_f64_narrow : kernel_f64)(pl, bl->x, bl->rows, j0, j1, acc, xt);
}

/* tot[c·W + b] += part[c·W + b] for the output columns [c0, c1). */
static void add_part(const srp_block *bl, void *tot, const void *part, int64_t c0, int64_t c1)
{
    int64_t w = block_width(bl);
    if (bl->f32) {
        float *s = tot;
        const float *q = part;
        for (int64_t i = c0 * w; i < c1 * w; i++) s[i] += q[i];
    } else {
        double *s = tot;
        const double *q = part;
        for (int64_t i = c0 * w; i < c1 * w; i++) s[i] += q[i];
    }
}

/* The block's rows of Z, output columns [c0, c1): scale · tot. */
static void write_out(const srp_block *bl, const void *tot, void *z, int64_t c0, int64_t c1)
{
    int64_t w = block_width(bl), k = bl->pl->k;
    if (bl->f32) {
        const float *s = tot, scale = (float)bl->pl->scale;
        for (int64_t b = 0; b < bl->rows; b++)
            for (int64_t c = c0; c < c1; c++) ((float *)z)[b * k + c] = s[c * w + b] * scale;
    } else {
        const double *s = tot, scale = bl->pl->scale;
        for (int64_t b = 0; b < bl->rows; b++)
            for (int64_t c = c0; c < c1; c++) ((double *)z)[b * k + c] = s[c * w + b] * scale;
    }
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
    /* X is not scanned for NaN and Inf up front: the kernels flag them while transposing X (a read
     * they make anyway), and only then is X scanned, for the same message as the up-front check. */
    size_t es = vt_dtype_size(x->dtype);
    int64_t k = plan->k, chunk = vt_srp_plan_chunk(plan), chunks = (plan->p + chunk - 1) / chunk;
    int64_t blocks = (rows + SRP_B - 1) / SRP_B;
    int nt = vt_threads_get();
    /* Threads take whole row blocks when there are enough of them, else the chunks of one block
     * (each into its own partial sums, added in chunk order afterwards: the same additions). */
    bool by_block = blocks >= nt || chunks == 1 || nt == 1;
    size_t acc_len = (size_t)SRP_B * (size_t)k, xt_len = (size_t)SRP_B * SRP_J;
    size_t total =
        by_block ? (size_t)nt * (2 * acc_len + xt_len) : (size_t)(chunks + 1) * acc_len + (size_t)nt * xt_len;
    char *work = vt_malloc(total, es);
    if (!work) {
        if (vt_tensor_check_finite(x, "srp: X") != VT_OK) return VT_ERR_ARG;
        return vt_fail(VT_ERR_NOMEM, "srp: out of memory for the projection's work buffers (%zu MB)", total * es >> 20);
    }
    const char *xd = x->data;
    char *zd = z->data;
    int nonfinite = 0;
    if (by_block) {
#pragma omp parallel num_threads(nt) reduction(| : nonfinite)
        {
            char *tot = work + (size_t)omp_get_thread_num() * (2 * acc_len + xt_len) * es;
            char *part = tot + acc_len * es, *xt = part + acc_len * es;
#pragma omp for schedule(dynamic, 1)
            for (int64_t blk = 0; blk < blocks; blk++) {
                int64_t r0 = blk * SRP_B;
                srp_block bl = {plan, xd + (size_t)(r0 * plan->p) * es, rows - r0 < SRP_B ? rows - r0 : SRP_B,
                                x->dtype == VT_F32};
                memset(tot, 0, acc_len * es);
                for (int64_t c = 0; c < chunks; c++) {
                    nonfinite |= run_chunk(&bl, c, chunk, part, xt);
                    add_part(&bl, tot, part, 0, k);
                }
                write_out(&bl, tot, zd + (size_t)(r0 * k) * es, 0, k);
            }
        }
    } else {
        char *tot = work + (size_t)chunks * acc_len * es, *xts = tot + acc_len * es;
        for (int64_t blk = 0; blk < blocks; blk++) {
            int64_t r0 = blk * SRP_B;
            srp_block bl = {plan, xd + (size_t)(r0 * plan->p) * es, rows - r0 < SRP_B ? rows - r0 : SRP_B,
                            x->dtype == VT_F32};
            int64_t w = block_width(&bl);
#pragma omp parallel num_threads(nt) reduction(| : nonfinite)
            {
                char *xt = xts + (size_t)omp_get_thread_num() * xt_len * es;
#pragma omp for schedule(dynamic, 1)
                for (int64_t c = 0; c < chunks; c++)
                    nonfinite |= run_chunk(&bl, c, chunk, work + (size_t)c * acc_len * es, xt);
                    /* Chunk sums added in chunk order, the output columns split among the threads. */
#pragma omp for schedule(static)
                for (int64_t c0 = 0; c0 < k; c0 += 256) {
                    int64_t c1 = c0 + 256 < k ? c0 + 256 : k;
                    memset(tot + (size_t)(c0 * w) * es, 0, (size_t)((c1 - c0) * w) * es);
                    for (int64_t c = 0; c < chunks; c++) add_part(&bl, tot, work + (size_t)c * acc_len * es, c0, c1);
                    write_out(&bl, tot, zd + (size_t)(r0 * k) * es, c0, c1);
                }
            }
        }
    }
    free(work);
    /* A NaN or Inf was met: Z holds garbage, and the error is the up-front check's, word for word. */
    if (nonfinite && vt_tensor_check_finite(x, "srp: X") != VT_OK) return VT_ERR_ARG;
    return VT_OK;
}
