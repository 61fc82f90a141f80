/* Shape and data-movement operators: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose,
 * Concat, Split, Slice, Trilu, Expand, Tile, Pad, Constant, ConstantOfShape, EyeLike, Range, DepthToSpace, SpaceToDepth
 * (the indexing ops are in index.c).
 * Shape-defining inputs (Reshape's shape, Slice's starts, ...) must be constants at prepare time:
 * the folding in vt_graph_prepare turns the Shape/Gather/Concat chains of exports into constants. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

#ifdef __SSE__
#include <xmmintrin.h>
#endif

/* Copies `out` (rank r, shape oshape) from `src` walked with element strides `istr` starting at
 * element `ioff`. Inner runs with unit stride are memcpy'd. Used by transpose/slice/expand/tile. */
static void strided_copy(vt_tensor *out, const vt_tensor *src, const int64_t *istr, int64_t ioff)
{
    int r = out->rank;
    size_t es = vt_dtype_size(out->dtype);
    int64_t n = vt_tensor_numel(out);
    if (n == 0) return;
    int64_t inner = r ? out->shape[r - 1] : 1;
    bool unit = r == 0 || istr[r - 1] == 1;
    int64_t outer = n / inner;
    const char *s = src->data;
    char *d = out->data;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t o = 0; o < outer; o++) {
        int64_t rem = o, off = ioff;
        for (int j = r - 2; j >= 0; j--) {
            off += (rem % out->shape[j]) * istr[j];
            rem /= out->shape[j];
        }
        char *dst = d + (size_t)(o * inner) * es;
        if (unit)
            memcpy(dst, s + (size_t)off * es, (size_t)inner * es);
        else if (es == 4) {
            int64_t st = istr[r - 1];
            const uint32_t *sp = (const uint32_t *)s + off;
            for (int64_t i = 0; i < inner; i++) ((uint32_t *)dst)[i] = sp[i * st];
        } else
            for (int64_t i = 0; i < inner; i++)
                memcpy(dst + (size_t)i * es, s + (size_t)(off + i * istr[r - 1]) * es, es);
    }
}

/* Reshape, Flatten, Squeeze, Unsqueeze: the data unchanged. Nothing to do when the executor handed over the
 * input's buffer (vt_op.view), else a copy in 1 MiB pieces spread over the threads. */
static vt_status copy_run(vt_opctx *c)
{
    size_t n = vt_tensor_nbytes(c->in[0]), piece = (size_t)1 << 20;
    if (n != vt_tensor_nbytes(c->out[0]) || n < 2 * piece) return vt_copy_data(c->out[0], c->in[0]);
    const char *src = c->in[0]->data;
    char *dst = c->out[0]->data;
    if (src == dst) return VT_OK;
    int64_t pieces = (int64_t)((n + piece - 1) / piece);
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < pieces; p++) {
        size_t off = (size_t)p * piece;
        memcpy(dst + off, src + off, n - off < piece ? n - off : piece);
    }
    return VT_OK;
}

/* ---- Shape, Size ---- */

static vt_status shape_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    int r = c->in[0]->rank;
    int64_t start = vt_attr_int(c->node, "start", 0), end = vt_attr_int(c->node, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    vt_out_set(c->out[0], VT_I64, 1, &n);
    return VT_OK;
}

static vt_status shape_run(vt_opctx *c)
{
    int r = c->in[0]->rank;
    int64_t start = vt_attr_int(c->node, "start", 0);
    if (start < 0) start += r;
    if (start < 0) start = 0;
    int64_t *y = c->out[0]->data;
    for (int64_t i = 0; i < c->out[0]->shape[0]; i++) y[i] = c->in[0]->shape[start + i];
    return VT_OK;
}

static vt_status size_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], VT_I64, 0, NULL);
    return VT_OK;
}

static vt_status size_run(vt_opctx *c)
{
    *(int64_t *)c->out[0]->data = vt_tensor_numel(c->in[0]);
    return VT_OK;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze ---- */

static vt_status reshape_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK && c->node->opset >= 5) st = vt_need_input(c, 1);
    if (st != VT_OK) return st;
    int64_t sh[VT_MAX_RANK];
    int r;
    if (c->node->opset < 5) { /* Reshape-1: the shape is an attribute */
        const int64_t *a;
        r = vt_attr_ints(c->node, "shape", &a);
        if (r < 0 || r > VT_MAX_RANK)
            return vt_node_fail(c, VT_ERR_ARG, "needs a shape attribute of rank <= %d", VT_MAX_RANK);
        memcpy(sh, a, sizeof *a * (size_t)r);
    } else if ((st = vt_const_ints(c, 1, sh, VT_MAX_RANK, &r)) != VT_OK)
        return st;
    bool allowzero = vt_attr_int(c->node, "allowzero", 0) != 0;
    int64_t total = vt_tensor_numel(c->in[0]), known = 1;
    int neg = -1;
    for (int i = 0; i < r; i++) {
        if (sh[i] == 0 && !allowzero) {
            if (i >= c->in[0]->rank) return vt_node_fail(c, VT_ERR_ARG, "shape[%d] = 0 copies a missing dimension", i);
            sh[i] = c->in[0]->shape[i];
        }
        if (sh[i] == -1) {
            if (neg >= 0) return vt_node_fail(c, VT_ERR_ARG, "shape has more than one -1");
            neg = i;
        } else if (sh[i] < 0)
            return vt_node_fail(c, VT_ERR_ARG, "shape[%d] = %lld", i, (long long)sh[i]);
        else
            known *= sh[i];
    }
    if (neg >= 0) {
        if (known == 0 || total % known) return vt_node_fail(c, VT_ERR_ARG, "cannot infer the -1 dimension");
        sh[neg] = total / known;
        known *= sh[neg];
    }
    if (known != total)
        return vt_node_fail(c, VT_ERR_ARG, "cannot reshape %lld elements into %lld", (long long)total,
                            (long long)known);
    vt_out_set(c->out[0], c->in[0]->dtype, r, sh);
    return VT_OK;
}

static vt_status flatten_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    int r = c->in[0]->rank;
    int64_t axis = vt_attr_int(c->node, "axis", 1);
    if (axis < 0) axis += r; /* axis may equal the rank: everything goes to the first dim */
    if (axis < 0 || axis > r) return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
    int64_t sh[2] = {1, 1};
    for (int i = 0; i < r; i++) sh[i < axis ? 0 : 1] *= c->in[0]->shape[i];
    vt_out_set(c->out[0], c->in[0]->dtype, 2, sh);
    return VT_OK;
}

/* Axes of Squeeze/Unsqueeze: attribute before opset 13, input 1 from 13. */
static vt_status get_axes(const vt_opctx *c, int64_t *axes, int *n, bool *given)
{
    *given = false;
    *n = 0;
    if (c->node->opset < 13) {
        const int64_t *a;
        int m = vt_attr_ints(c->node, "axes", &a);
        if (m < 0) return VT_OK;
        if (m > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_ARG, "too many axes");
        memcpy(axes, a, sizeof *a * (size_t)m);
        *n = m;
        *given = true;
        return VT_OK;
    }
    if (c->n_in < 2 || !c->in[1]) return VT_OK;
    *given = true;
    return vt_const_ints(c, 1, axes, VT_MAX_RANK, n);
}

static vt_status squeeze_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int64_t axes[VT_MAX_RANK];
    int n;
    bool given;
    st = get_axes(c, axes, &n, &given);
    if (st != VT_OK) return st;
    bool drop[VT_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        int a;
        if (!vt_axis(axes[i], x->rank, &a))
            return vt_node_fail(c, VT_ERR_ARG, "axis %lld out of range", (long long)axes[i]);
        if (x->shape[a] != 1)
            return vt_node_fail(c, VT_ERR_ARG, "cannot squeeze axis %d of size %lld", a, (long long)x->shape[a]);
        drop[a] = true;
    }
    int64_t sh[VT_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (!(given ? drop[i] : x->shape[i] == 1)) sh[r++] = x->shape[i];
    vt_out_set(c->out[0], x->dtype, r, sh);
    return VT_OK;
}

static vt_status unsqueeze_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int64_t axes[VT_MAX_RANK];
    int n;
    bool given;
    st = get_axes(c, axes, &n, &given);
    if (st != VT_OK) return st;
    int r = x->rank + n;
    if (!given || r > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_ARG, "needs axes, and at most rank %d", VT_MAX_RANK);
    bool ins[VT_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        int a;
        if (!vt_axis(axes[i], r, &a) || ins[a])
            return vt_node_fail(c, VT_ERR_ARG, "bad or repeated axis %lld", (long long)axes[i]);
        ins[a] = true;
    }
    int64_t sh[VT_MAX_RANK];
    for (int i = 0, j = 0; i < r; i++) sh[i] = ins[i] ? 1 : x->shape[j++];
    vt_out_set(c->out[0], x->dtype, r, sh);
    return VT_OK;
}

/* ---- Transpose ---- */

static vt_status transpose_perm(const vt_opctx *c, int *perm)
{
    int r = c->in[0]->rank;
    const int64_t *p;
    int n = vt_attr_ints(c->node, "perm", &p);
    bool seen[VT_MAX_RANK] = {0};
    for (int i = 0; i < r; i++) {
        perm[i] = n < 0 ? r - 1 - i : (int)p[i];
        if (n >= 0 && n != r) return vt_node_fail(c, VT_ERR_ARG, "perm has %d entries for rank %d", n, r);
        if (perm[i] < 0 || perm[i] >= r || seen[perm[i]])
            return vt_node_fail(c, VT_ERR_ARG, "perm is not a permutation");
        seen[perm[i]] = true;
    }
    return VT_OK;
}

static vt_status transpose_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    int perm[VT_MAX_RANK];
    if (st == VT_OK) st = transpose_perm(c, perm);
    if (st != VT_OK) return st;
    int64_t sh[VT_MAX_RANK];
    for (int i = 0; i < c->in[0]->rank; i++) sh[i] = c->in[0]->shape[perm[i]];
    vt_out_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, sh);
    return VT_OK;
}

/* A batch of 2-D transposes, out[b][j][i] = in[b][i][j] (in: B x R x C, 4-byte elements), in 64 x 64 tiles
 * moved as 4 x 4 blocks (SSE shuffles: bits are moved, never computed on), so that both sides are read and
 * written whole cache lines at a time. Measured 2x faster than an element loop, 1.7 ms for 192 x 197 x 64. */
static void transpose_2d(const uint32_t *in, uint32_t *out, int64_t B, int64_t R, int64_t C)
{
    enum { T = 64 };
    int64_t tr = (R + T - 1) / T, tc = (C + T - 1) / T;
#pragma omp parallel for schedule(static) if (B * R * C > 65536)
    for (int64_t t = 0; t < B * tr * tc; t++) {
        int64_t b = t / (tr * tc), i0 = (t / tc) % tr * T, j0 = t % tc * T;
        int64_t i1 = i0 + T < R ? i0 + T : R, j1 = j0 + T < C ? j0 + T : C;
        const uint32_t *src = in + b * R * C;
        uint32_t *dst = out + b * R * C;
        int64_t i = i0;
#ifdef __SSE__
        for (; i + 4 <= i1; i += 4) {
            int64_t j = j0;
            for (; j + 4 <= j1; j += 4) {
                const float *s0 = (const float *)src + i * C + j;
                float *d0 = (float *)dst + j * R + i;
                __m128 r0 = _mm_loadu_ps(s0), r1 = _mm_loadu_ps(s0 + C);
                __m128 r2 = _mm_loadu_ps(s0 + 2 * C), r3 = _mm_loadu_ps(s0 + 3 * C);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(d0, r0);
                _mm_storeu_ps(d0 + R, r1);
                _mm_storeu_ps(d0 + 2 * R, r2);
                _mm_storeu_ps(d0 + 3 * R, r3);
            }
            for (; j < j1; j++)
                for (int64_t q = i; q < i + 4; q++) dst[j * R + q] = src[q * C + j];
        }
#endif
        for (; i < i1; i++)
            for (int64_t j = j0; j < j1; j++) dst[j * R + i] = src[i * C + j];
    }
}

/* The permutation with size-1 dims dropped and dims that stay adjacent merged: true with (B, R, C) when it is
 * a batch of 2-D transposes (B x R x C -> B x C x R; B = 1 for a plain matrix transpose). */
static bool transpose_as_2d(const vt_tensor *x, const int *perm, int64_t *B, int64_t *R, int64_t *C)
{
    int r = x->rank, q[VT_MAX_RANK], m = 0;
    for (int i = 0; i < r; i++) /* input dims in output order, size-1 dims dropped */
        if (x->shape[perm[i]] != 1) q[m++] = perm[i];
    /* Groups of input dims that are consecutive in the output too. */
    int first[VT_MAX_RANK], ng = 0;
    int64_t size[VT_MAX_RANK];
    for (int i = 0; i < m; i++) {
        bool extends = i > 0;
        for (int d = i > 0 ? q[i - 1] + 1 : 0; extends && d < q[i]; d++) extends = x->shape[d] == 1;
        if (i > 0 && q[i] < q[i - 1]) extends = false;
        if (extends)
            size[ng - 1] *= x->shape[q[i]];
        else
            first[ng] = q[i], size[ng++] = x->shape[q[i]];
    }
    if (ng == 2 && first[1] < first[0]) { /* output (g1, g0) of input (g0, g1) */
        *B = 1, *R = size[1], *C = size[0];
        return true;
    }
    if (ng == 3 && first[0] < first[2] && first[2] < first[1]) { /* output (g0, g2, g1) */
        *B = size[0], *R = size[2], *C = size[1];
        return true;
    }
    return false;
}

static vt_status transpose_run(vt_opctx *c)
{
    int perm[VT_MAX_RANK];
    transpose_perm(c, perm);
    int64_t B, R, C;
    if (vt_dtype_size(c->in[0]->dtype) == 4 && transpose_as_2d(c->in[0], perm, &B, &R, &C)) {
        transpose_2d(c->in[0]->data, c->out[0]->data, B, R, C);
        return VT_OK;
    }
    int64_t istr[VT_MAX_RANK], s[VT_MAX_RANK];
    vt_contiguous_strides(c->in[0]->rank, c->in[0]->shape, istr);
    for (int i = 0; i < c->in[0]->rank; i++) s[i] = istr[perm[i]];
    strided_copy(c->out[0], c->in[0], s, 0);
    return VT_OK;
}

/* ---- Concat, Split ---- */

/* Concat's axis: required from opset 4, 1 when absent before. */
static int64_t concat_axis(const vt_opctx *c)
{
    return vt_attr_int(c->node, "axis", c->node->opset < 4 ? 1 : 0);
}

static vt_status concat_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x0 = c->in[0];
    int axis = 0;
    if (!vt_axis(concat_axis(c), x0->rank, &axis)) return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
    int64_t sh[VT_MAX_RANK];
    memcpy(sh, x0->shape, sizeof sh);
    sh[axis] = 0;
    for (int i = 0; i < c->n_in; i++) {
        if ((st = vt_need_input(c, i)) != VT_OK) return st;
        const vt_tensor *x = c->in[i];
        if (x->rank != x0->rank || x->dtype != x0->dtype)
            return vt_node_fail(c, VT_ERR_ARG, "inputs differ in rank or type");
        for (int d = 0; d < x->rank; d++)
            if (d != axis && x->shape[d] != x0->shape[d])
                return vt_node_fail(c, VT_ERR_ARG, "input %d: dimension %d differs", i, d);
        sh[axis] += x->shape[axis];
    }
    vt_out_set(c->out[0], x0->dtype, x0->rank, sh);
    return VT_OK;
}

/* Channel concatenation of NHWC tensors (Inception / DenseNet blocks after oneDNN convolutions). */
static bool concat_accepts_nhwc(const vt_opctx *c)
{
    int axis = 0;
    if (c->in[0]->rank != 4 || !vt_axis(concat_axis(c), 4, &axis) || axis != 1) return false;
    for (int k = 0; k < c->n_in; k++)
        if (!c->in[k] || !c->in_nhwc[k]) return false;
    return true;
}

static vt_status concat_run(vt_opctx *c)
{
    if (c->in_nhwc[0]) {
        vt_tensor *y = c->out[0];
        int64_t rows = y->shape[0] * y->shape[2] * y->shape[3], C = y->shape[1], off = 0;
        for (int k = 0; k < c->n_in; k++) {
            int64_t ck = c->in[k]->shape[1];
            const float *xp = c->in[k]->data;
            float *yp = y->data;
#pragma omp parallel for schedule(static) if (rows * ck > 65536)
            for (int64_t r = 0; r < rows; r++) memcpy(yp + r * C + off, xp + r * ck, sizeof(float) * (size_t)ck);
            off += ck;
        }
        c->out_nhwc[0] = true;
        return VT_OK;
    }
    vt_tensor *y = c->out[0];
    int axis = 0;
    vt_axis(concat_axis(c), y->rank, &axis);
    size_t es = vt_dtype_size(y->dtype);
    int64_t outer = 1;
    for (int d = 0; d < axis; d++) outer *= y->shape[d];
    int64_t row = vt_tensor_numel(y) / (outer ? outer : 1); /* elements per outer index in y */
    int64_t off = 0;
    for (int i = 0; i < c->n_in; i++) {
        const vt_tensor *x = c->in[i];
        int64_t xrow = outer ? vt_tensor_numel(x) / outer : 0;
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)y->data + (size_t)(o * row + off) * es, (const char *)x->data + (size_t)(o * xrow) * es,
                   (size_t)xrow * es);
        off += xrow;
    }
    return VT_OK;
}

static vt_status split_sizes(const vt_opctx *c, int axis, int64_t *sizes)
{
    const vt_tensor *x = c->in[0];
    int64_t s[VT_NN_MAX_IO];
    int n = -1;
    if (c->node->opset < 13) {
        const int64_t *a;
        n = vt_attr_ints(c->node, "split", &a);
        if (n > VT_NN_MAX_IO) return vt_node_fail(c, VT_ERR_ARG, "too many splits");
        if (n >= 0) memcpy(s, a, sizeof *a * (size_t)n);
    }
    if ((c->node->opset >= 13 || (c->node->opset < 2 && n < 0)) && c->n_in > 1 && c->in[1]) {
        /* the split input (opset 13; Split-1 took it as an input or an attribute) */
        vt_status st = vt_const_ints(c, 1, s, VT_NN_MAX_IO, &n);
        if (st != VT_OK) return st;
    }
    int64_t dim = x->shape[axis];
    if (n < 0) {
        int k = c->n_out;
        int64_t chunk = (dim + k - 1) / k; /* opset 18 num_outputs: the last chunk may be smaller */
        if (c->node->opset < 18 && dim % k)
            return vt_node_fail(c, VT_ERR_ARG, "dimension %lld does not split evenly in %d", (long long)dim, k);
        for (int i = 0; i < k; i++) {
            int64_t lo = i * chunk, hi = lo + chunk > dim ? dim : lo + chunk;
            sizes[i] = hi > lo ? hi - lo : 0;
        }
        return VT_OK;
    }
    if (n != c->n_out) return vt_node_fail(c, VT_ERR_ARG, "%d split sizes for %d outputs", n, c->n_out);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += sizes[i] = s[i];
    if (total != dim)
        return vt_node_fail(c, VT_ERR_ARG, "split sizes sum to %lld, dimension is %lld", (long long)total,
                            (long long)dim);
    return VT_OK;
}

static vt_status split_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    int axis = 0;
    if (!vt_axis(vt_attr_int(c->node, "axis", 0), c->in[0]->rank, &axis))
        return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
    int64_t sizes[VT_NN_MAX_IO];
    if ((st = split_sizes(c, axis, sizes)) != VT_OK) return st;
    for (int i = 0; i < c->n_out; i++) {
        int64_t sh[VT_MAX_RANK];
        memcpy(sh, c->in[0]->shape, sizeof sh);
        sh[axis] = sizes[i];
        vt_out_set(c->out[i], c->in[0]->dtype, c->in[0]->rank, sh);
    }
    return VT_OK;
}

static vt_status split_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    int axis = 0;
    vt_axis(vt_attr_int(c->node, "axis", 0), x->rank, &axis);
    size_t es = vt_dtype_size(x->dtype);
    int64_t outer = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    int64_t row = outer ? vt_tensor_numel(x) / outer : 0, off = 0;
    for (int i = 0; i < c->n_out; i++) {
        vt_tensor *y = c->out[i];
        int64_t yrow = outer ? vt_tensor_numel(y) / outer : 0;
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)y->data + (size_t)(o * yrow) * es, (const char *)x->data + (size_t)(o * row + off) * es,
                   (size_t)yrow * es);
        off += yrow;
    }
    return VT_OK;
}

/* ---- Slice ---- */

typedef struct {
    int64_t start[VT_MAX_RANK], step[VT_MAX_RANK], len[VT_MAX_RANK];
} slice_plan;

static vt_status slice_plan_of(const vt_opctx *c, slice_plan *p)
{
    const vt_tensor *x = c->in[0];
    int r = x->rank;
    int64_t starts[VT_MAX_RANK], ends[VT_MAX_RANK], axes[VT_MAX_RANK], steps[VT_MAX_RANK];
    int ns, ne, na = -1, nst = -1;
    vt_status st;
    if (c->node->opset < 10) {
        const int64_t *a;
        ns = vt_attr_ints(c->node, "starts", &a);
        if (ns < 0 || ns > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_ARG, "needs starts");
        memcpy(starts, a, sizeof *a * (size_t)ns);
        ne = vt_attr_ints(c->node, "ends", &a);
        if (ne != ns) return vt_node_fail(c, VT_ERR_ARG, "starts and ends differ in length");
        memcpy(ends, a, sizeof *a * (size_t)ne);
        na = vt_attr_ints(c->node, "axes", &a);
        if (na > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_ARG, "too many axes");
        if (na >= 0) memcpy(axes, a, sizeof *a * (size_t)na);
    } else {
        if ((st = vt_const_ints(c, 1, starts, VT_MAX_RANK, &ns)) != VT_OK) return st;
        if ((st = vt_const_ints(c, 2, ends, VT_MAX_RANK, &ne)) != VT_OK) return st;
        if (ne != ns) return vt_node_fail(c, VT_ERR_ARG, "starts and ends differ in length");
        if (c->n_in > 3 && c->in[3] && (st = vt_const_ints(c, 3, axes, VT_MAX_RANK, &na)) != VT_OK) return st;
        if (c->n_in > 4 && c->in[4] && (st = vt_const_ints(c, 4, steps, VT_MAX_RANK, &nst)) != VT_OK) return st;
    }
    for (int d = 0; d < r; d++) p->start[d] = 0, p->step[d] = 1, p->len[d] = x->shape[d];
    for (int i = 0; i < ns; i++) {
        int a;
        if (!vt_axis(na >= 0 ? axes[i] : i, r, &a)) return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
        int64_t dim = x->shape[a], step = nst >= 0 ? steps[i] : 1, s = starts[i], e = ends[i];
        if (step == 0) return vt_node_fail(c, VT_ERR_ARG, "step is 0");
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        if (step > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            p->len[a] = e > s ? (e - s + step - 1) / step : 0;
        } else {
            s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            p->len[a] = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        }
        p->start[a] = s;
        p->step[a] = step;
    }
    return VT_OK;
}

static vt_status slice_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    slice_plan p;
    if (st == VT_OK) st = slice_plan_of(c, &p);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, p.len);
    return VT_OK;
}

static vt_status slice_run(vt_opctx *c)
{
    slice_plan p;
    vt_status st = slice_plan_of(c, &p);
    if (st != VT_OK) return st;
    int r = c->in[0]->rank;
    int64_t istr[VT_MAX_RANK], s[VT_MAX_RANK], off = 0;
    vt_contiguous_strides(r, c->in[0]->shape, istr);
    for (int d = 0; d < r; d++) {
        s[d] = istr[d] * p.step[d];
        if (p.len[d] > 0) off += p.start[d] * istr[d];
    }
    strided_copy(c->out[0], c->in[0], s, off);
    return VT_OK;
}

/* ---- Trilu: the upper (or lower) triangle of the last two dims, from diagonal k ---- */

static vt_status trilu_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    if (c->in[0]->rank < 2) return vt_node_fail(c, VT_ERR_ARG, "input must have rank >= 2");
    if (c->n_in > 1 && c->in[1] && !c->in[1]->data) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "k must be a constant");
    vt_out_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status trilu_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    int64_t k = c->n_in > 1 && c->in[1] ? vt_elem_i64(c->in[1], 0) : 0;
    bool upper = vt_attr_int(c->node, "upper", 1) != 0;
    int64_t R = x->shape[x->rank - 2], C = x->shape[x->rank - 1], n = vt_tensor_numel(x);
    size_t es = vt_dtype_size(x->dtype);
    for (int64_t i = 0; i < n; i++) {
        int64_t col = i % C, row = i / C % R;
        bool keep = upper ? col - row >= k : col - row <= k;
        char *dst = (char *)c->out[0]->data + (size_t)i * es;
        if (keep)
            memcpy(dst, (const char *)x->data + (size_t)i * es, es);
        else
            memset(dst, 0, es);
    }
    return VT_OK;
}

/* ---- Expand, Tile ---- */

static vt_status expand_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    int64_t sh[VT_MAX_RANK];
    int n;
    if ((st = vt_const_ints(c, 1, sh, VT_MAX_RANK, &n)) != VT_OK) return st;
    int r;
    int64_t out[VT_MAX_RANK];
    if (!vt_broadcast_shape(c->in[0]->rank, c->in[0]->shape, n, sh, &r, out))
        return vt_node_fail(c, VT_ERR_ARG, "shape does not broadcast with the input");
    vt_out_set(c->out[0], c->in[0]->dtype, r, out);
    return VT_OK;
}

static vt_status expand_run(vt_opctx *c)
{
    int64_t s[VT_MAX_RANK];
    vt_broadcast_strides(c->out[0]->rank, c->out[0]->shape, c->in[0]->rank, c->in[0]->shape, s);
    strided_copy(c->out[0], c->in[0], s, 0);
    return VT_OK;
}

static vt_status tile_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    int64_t rep[VT_MAX_RANK];
    int n;
    if ((st = vt_const_ints(c, 1, rep, VT_MAX_RANK, &n)) != VT_OK) return st;
    if (n != c->in[0]->rank) return vt_node_fail(c, VT_ERR_ARG, "repeats has %d values for rank %d", n, c->in[0]->rank);
    int64_t sh[VT_MAX_RANK];
    for (int i = 0; i < n; i++) sh[i] = c->in[0]->shape[i] * rep[i];
    vt_out_set(c->out[0], c->in[0]->dtype, n, sh);
    return VT_OK;
}

static vt_status tile_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    vt_tensor *y = c->out[0];
    int r = x->rank;
    int64_t istr[VT_MAX_RANK], n = vt_tensor_numel(y);
    vt_contiguous_strides(r, x->shape, istr);
    size_t es = vt_dtype_size(x->dtype);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int d = r - 1; d >= 0; d--) {
            off += (rem % y->shape[d] % x->shape[d]) * istr[d];
            rem /= y->shape[d];
        }
        memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)off * es, es);
    }
    return VT_OK;
}

/* ---- Pad ---- */

static vt_status pad_params(const vt_opctx *c, int64_t *pads, double *value)
{
    int r = c->in[0]->rank, n;
    *value = 0;
    for (int i = 0; i < 2 * r; i++) pads[i] = 0;
    int64_t p[2 * VT_MAX_RANK];
    if (c->node->opset < 11) {
        const int64_t *a;
        n = vt_attr_ints(c->node, c->node->opset < 2 ? "paddings" : "pads", &a); /* renamed at opset 2 */
        if (n != 2 * r) return vt_node_fail(c, VT_ERR_ARG, "pads has %d values for rank %d", n, r);
        memcpy(pads, a, sizeof *a * (size_t)n);
        *value = vt_attr_float(c->node, "value", 0);
        return VT_OK;
    }
    vt_status st = vt_const_ints(c, 1, p, 2 * VT_MAX_RANK, &n);
    if (st != VT_OK) return st;
    /* constant_value may be computed at run time: infer needs only the pads, run always has the data */
    if (c->n_in > 2 && c->in[2] && c->in[2]->data && vt_tensor_numel(c->in[2]) > 0) *value = vt_elem_f64(c->in[2], 0);
    int64_t axes[VT_MAX_RANK];
    int na = -1;
    if (c->n_in > 3 && c->in[3] && (st = vt_const_ints(c, 3, axes, VT_MAX_RANK, &na)) != VT_OK) return st;
    if (na < 0) {
        if (n != 2 * r) return vt_node_fail(c, VT_ERR_ARG, "pads has %d values for rank %d", n, r);
        memcpy(pads, p, sizeof *p * (size_t)n);
        return VT_OK;
    }
    if (n != 2 * na) return vt_node_fail(c, VT_ERR_ARG, "pads has %d values for %d axes", n, na);
    for (int i = 0; i < na; i++) {
        int a;
        if (!vt_axis(axes[i], r, &a)) return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
        pads[a] = p[i];
        pads[a + r] = p[i + na];
    }
    return VT_OK;
}

static vt_status pad_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    const char *mode = vt_attr_str(c->node, "mode", "constant");
    if (strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "edge"))
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "mode '%s'", mode);
    int64_t pads[2 * VT_MAX_RANK];
    double v;
    if ((st = pad_params(c, pads, &v)) != VT_OK) return st;
    int r = c->in[0]->rank;
    int64_t sh[VT_MAX_RANK];
    for (int i = 0; i < r; i++) {
        sh[i] = c->in[0]->shape[i] + pads[i] + pads[i + r];
        if (sh[i] < 0) return vt_node_fail(c, VT_ERR_ARG, "padding makes dimension %d negative", i);
        if (strcmp(mode, "reflect") == 0 && (pads[i] >= c->in[0]->shape[i] || pads[i + r] >= c->in[0]->shape[i]) &&
            (pads[i] || pads[i + r]))
            return vt_node_fail(c, VT_ERR_ARG, "reflect padding must be smaller than the dimension");
    }
    vt_out_set(c->out[0], c->in[0]->dtype, r, sh);
    return VT_OK;
}

static vt_status pad_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    vt_tensor *y = c->out[0];
    int64_t pads[2 * VT_MAX_RANK];
    double value;
    vt_status st = pad_params(c, pads, &value);
    if (st != VT_OK) return st;
    const char *mode = vt_attr_str(c->node, "mode", "constant");
    int m = mode[0] == 'c' ? 0 : mode[0] == 'r' ? 1 : 2;
    int r = x->rank;
    int64_t istr[VT_MAX_RANK], n = vt_tensor_numel(y);
    vt_contiguous_strides(r, x->shape, istr);
    size_t es = vt_dtype_size(x->dtype);
    vt_tensor fill = {.dtype = x->dtype, .rank = 0, .data = (double[1]){0}};
    vt_elem_set_f64(&fill, 0, value);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        bool outside = false;
        for (int d = r - 1; d >= 0; d--) {
            int64_t idx = rem % y->shape[d] - pads[d], dim = x->shape[d];
            rem /= y->shape[d];
            if (idx < 0 || idx >= dim) {
                if (m == 0 || dim == 0)
                    outside = true;
                else if (m == 1)
                    idx = idx < 0 ? -idx : 2 * (dim - 1) - idx;
                else
                    idx = idx < 0 ? 0 : dim - 1;
            }
            off += idx * istr[d];
        }
        memcpy((char *)y->data + (size_t)i * es,
               outside ? (const char *)fill.data : (const char *)x->data + (size_t)off * es, es);
    }
    return VT_OK;
}

/* ---- Constant, ConstantOfShape, Range ---- */

static vt_status constant_infer(vt_opctx *c)
{
    const vt_node *n = c->node;
    const vt_attr *a;
    if ((a = vt_attr_get(n, "value")) && a->type == VT_ATTR_TENSOR)
        vt_out_set(c->out[0], a->t->dtype, a->t->rank, a->t->shape);
    else if ((a = vt_attr_get(n, "value_float")))
        vt_out_set(c->out[0], VT_F32, 0, NULL);
    else if ((a = vt_attr_get(n, "value_int")))
        vt_out_set(c->out[0], VT_I64, 0, NULL);
    else if ((a = vt_attr_get(n, "value_floats")) && a->type == VT_ATTR_FLOATS)
        vt_out_set(c->out[0], VT_F32, 1, (int64_t[]){a->n});
    else if ((a = vt_attr_get(n, "value_ints")) && a->type == VT_ATTR_INTS)
        vt_out_set(c->out[0], VT_I64, 1, (int64_t[]){a->n});
    else
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "needs a value, value_float(s) or value_int(s) attribute");
    return VT_OK;
}

static vt_status constant_run(vt_opctx *c)
{
    const vt_node *n = c->node;
    const vt_attr *a;
    void *y = c->out[0]->data;
    if ((a = vt_attr_get(n, "value")) && a->type == VT_ATTR_TENSOR) return vt_copy_data(c->out[0], a->t);
    if ((a = vt_attr_get(n, "value_float")))
        *(float *)y = a->f;
    else if ((a = vt_attr_get(n, "value_int")))
        *(int64_t *)y = a->i;
    else if ((a = vt_attr_get(n, "value_floats")))
        memcpy(y, a->floats, sizeof(float) * (size_t)a->n);
    else if ((a = vt_attr_get(n, "value_ints")))
        memcpy(y, a->ints, sizeof(int64_t) * (size_t)a->n);
    return VT_OK;
}

static vt_status cos_infer(vt_opctx *c)
{
    int64_t sh[VT_MAX_RANK];
    int n;
    vt_status st = vt_const_ints(c, 0, sh, VT_MAX_RANK, &n);
    if (st != VT_OK) return st;
    for (int i = 0; i < n; i++)
        if (sh[i] < 0) return vt_node_fail(c, VT_ERR_ARG, "negative dimension");
    const vt_attr *a = vt_attr_get(c->node, "value");
    vt_out_set(c->out[0], a && a->type == VT_ATTR_TENSOR ? a->t->dtype : VT_F32, n, sh);
    return VT_OK;
}

static vt_status cos_run(vt_opctx *c)
{
    const vt_attr *a = vt_attr_get(c->node, "value");
    int64_t n = vt_tensor_numel(c->out[0]);
    if (!a || a->type != VT_ATTR_TENSOR) {
        memset(c->out[0]->data, 0, vt_tensor_nbytes(c->out[0]));
        return VT_OK;
    }
    size_t es = vt_dtype_size(a->t->dtype);
    for (int64_t i = 0; i < n; i++) memcpy((char *)c->out[0]->data + (size_t)i * es, a->t->data, es);
    return VT_OK;
}

/* ---- EyeLike: ones on diagonal k of a 2-D tensor of the input's shape, in the `dtype` attribute's type ---- */

static vt_status eyelike_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    if (c->in[0]->rank != 2) return vt_node_fail(c, VT_ERR_ARG, "input must be 2-D, not %d-D", c->in[0]->rank);
    vt_dtype dt = c->in[0]->dtype;
    const vt_attr *a = vt_attr_get(c->node, "dtype");
    if (a && !vt_onnx_dtype(a->i, &dt))
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "dtype %lld is not supported", (long long)a->i);
    vt_out_set(c->out[0], dt, 2, c->in[0]->shape);
    return VT_OK;
}

static vt_status eyelike_run(vt_opctx *c)
{
    vt_tensor *y = c->out[0];
    int64_t k = vt_attr_int(c->node, "k", 0), rows = y->shape[0], cols = y->shape[1];
    memset(y->data, 0, vt_tensor_nbytes(y));
    for (int64_t i = 0; i < rows; i++)
        if (i + k >= 0 && i + k < cols) vt_elem_set_f64(y, i * cols + i + k, 1);
    return VT_OK;
}

static vt_status range_infer(vt_opctx *c)
{
    for (int i = 0; i < 3; i++) {
        vt_status st = vt_need_input(c, i);
        if (st != VT_OK) return st;
        if (!c->in[i]->data) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "start, limit and delta must be constants");
    }
    double s = vt_elem_f64(c->in[0], 0), l = vt_elem_f64(c->in[1], 0), d = vt_elem_f64(c->in[2], 0);
    if (d == 0) return vt_node_fail(c, VT_ERR_ARG, "delta is 0");
    double len = ceil((l - s) / d);
    int64_t n = len > 0 ? (int64_t)len : 0;
    vt_out_set(c->out[0], c->in[0]->dtype, 1, &n);
    return VT_OK;
}

static vt_status range_run(vt_opctx *c)
{
    int64_t n = c->out[0]->shape[0];
    if (vt_dtype_is_float(c->in[0]->dtype)) {
        double s = vt_elem_f64(c->in[0], 0), d = vt_elem_f64(c->in[2], 0);
        for (int64_t i = 0; i < n; i++) vt_elem_set_f64(c->out[0], i, s + (double)i * d);
    } else {
        int64_t s = vt_elem_i64(c->in[0], 0), d = vt_elem_i64(c->in[2], 0);
        for (int64_t i = 0; i < n; i++) vt_elem_set_i64(c->out[0], i, s + i * d);
    }
    return VT_OK;
}

/* ---- DepthToSpace / SpaceToDepth (pixel shuffle) ---- */

static vt_status d2s_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int64_t b = vt_attr_int(c->node, "blocksize", 0);
    bool to_space = !strcmp(c->node->op_type, "DepthToSpace");
    const char *mode = to_space ? vt_attr_str(c->node, "mode", "DCR") : "DCR";
    if (x->rank != 4) return vt_node_fail(c, VT_ERR_ARG, "input must be N x C x H x W");
    if (b < 1) return vt_node_fail(c, VT_ERR_ARG, "blocksize must be >= 1");
    if (strcmp(mode, "DCR") && strcmp(mode, "CRD")) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "mode '%s'", mode);
    int64_t sh[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    if (to_space) {
        if (sh[1] % (b * b)) return vt_node_fail(c, VT_ERR_ARG, "channels are not a multiple of blocksize^2");
        sh[1] /= b * b, sh[2] *= b, sh[3] *= b;
    } else {
        if (sh[2] % b || sh[3] % b)
            return vt_node_fail(c, VT_ERR_ARG, "height and width must be multiples of blocksize");
        sh[1] *= b * b, sh[2] /= b, sh[3] /= b;
    }
    vt_out_set(c->out[0], x->dtype, 4, sh);
    return VT_OK;
}

/* Output element (n, c, h, w) of DepthToSpace reads input channel (DCR) (h%b*b + w%b)*C' + c or (CRD)
 * c*b*b + h%b*b + w%b at (h/b, w/b); SpaceToDepth is the inverse of the DCR form. */
static vt_status d2s_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    vt_tensor *y = c->out[0];
    int64_t b = vt_attr_int(c->node, "blocksize", 1);
    bool to_space = !strcmp(c->node->op_type, "DepthToSpace");
    bool crd = to_space && !strcmp(vt_attr_str(c->node, "mode", "DCR"), "CRD");
    const vt_tensor *big = to_space ? y : x, *small = to_space ? x : y; /* big: the spatial side */
    int64_t N = big->shape[0], C = big->shape[1], H = big->shape[2], W = big->shape[3];
    size_t es = vt_dtype_size(x->dtype);
#pragma omp parallel for collapse(2) schedule(static) if (N * C * H * W > 65536)
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    int64_t off = (h % b) * b + w % b, cs = crd ? ch * b * b + off : off * C + ch;
                    int64_t si = ((n * small->shape[1] + cs) * small->shape[2] + h / b) * small->shape[3] + w / b;
                    int64_t bi = ((n * C + ch) * H + h) * W + w;
                    char *dst = (char *)y->data + (size_t)(to_space ? bi : si) * es;
                    const char *src = (const char *)x->data + (size_t)(to_space ? si : bi) * es;
                    memcpy(dst, src, es);
                }
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "", .type = "DepthToSpace", .since = 1, .infer = d2s_infer, .run = d2s_run},
    {.domain = "", .type = "SpaceToDepth", .since = 1, .infer = d2s_infer, .run = d2s_run},
    {.domain = "", .type = "Shape", .since = 1, .infer = shape_infer, .run = shape_run, .shape_only = true},
    {.domain = "", .type = "Size", .since = 1, .infer = size_infer, .run = size_run, .shape_only = true},
    {.domain = "", .type = "Reshape", .since = 1, .infer = reshape_infer, .run = copy_run, .view = true},
    {.domain = "", .type = "Flatten", .since = 1, .infer = flatten_infer, .run = copy_run, .view = true},
    {.domain = "", .type = "Squeeze", .since = 1, .infer = squeeze_infer, .run = copy_run, .view = true},
    {.domain = "", .type = "Unsqueeze", .since = 1, .infer = unsqueeze_infer, .run = copy_run, .view = true},
    {.domain = "", .type = "Transpose", .since = 1, .infer = transpose_infer, .run = transpose_run},
    {.domain = "",
     .type = "Concat",
     .since = 1,
     .infer = concat_infer,
     .run = concat_run,
     .accepts_nhwc = concat_accepts_nhwc},
    {.domain = "", .type = "Split", .since = 1, .infer = split_infer, .run = split_run},
    {.domain = "", .type = "Slice", .since = 1, .infer = slice_infer, .run = slice_run},
    {.domain = "", .type = "Trilu", .since = 14, .infer = trilu_infer, .run = trilu_run},
    {.domain = "", .type = "Expand", .since = 8, .infer = expand_infer, .run = expand_run},
    {.domain = "", .type = "Tile", .since = 6, .infer = tile_infer, .run = tile_run},
    {.domain = "", .type = "Pad", .since = 1, .infer = pad_infer, .run = pad_run},
    {.domain = "", .type = "Constant", .since = 1, .infer = constant_infer, .run = constant_run},
    {.domain = "", .type = "ConstantOfShape", .since = 9, .infer = cos_infer, .run = cos_run},
    {.domain = "", .type = "EyeLike", .since = 9, .infer = eyelike_infer, .run = eyelike_run, .shape_only = true},
    {.domain = "", .type = "Range", .since = 11, .infer = range_infer, .run = range_run},
};

VT_OP_TABLE(vt_ops_shape, ops);
