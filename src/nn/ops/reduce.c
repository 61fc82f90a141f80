/* Reductions (ReduceMean/Sum/Max/Min/Prod/SumSquare/L1/L2/LogSum/LogSumExp, ArgMax/ArgMin, TopK, Hardmax,
 * CumSum) and Softmax/LogSoftmax.
 * Every output element is reduced by one thread in a fixed order, accumulating in double:
 * results are independent of the thread count and batch size. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "nn/ops/vecmath.h"

typedef enum { R_MEAN, R_SUM, R_MAX, R_MIN, R_PROD, R_SUMSQ, R_L2, R_L1, R_LOGSUM, R_LOGSUMEXP } reduce_kind;

static reduce_kind reduce_of(const char *t)
{
    if (!strcmp(t, "ReduceMean")) return R_MEAN;
    if (!strcmp(t, "ReduceSum")) return R_SUM;
    if (!strcmp(t, "ReduceMax")) return R_MAX;
    if (!strcmp(t, "ReduceMin")) return R_MIN;
    if (!strcmp(t, "ReduceProd")) return R_PROD;
    if (!strcmp(t, "ReduceSumSquare")) return R_SUMSQ;
    if (!strcmp(t, "ReduceL2")) return R_L2;
    if (!strcmp(t, "ReduceL1")) return R_L1;
    if (!strcmp(t, "ReduceLogSum")) return R_LOGSUM;
    return R_LOGSUMEXP;
}

/* Which axes are reduced: attribute "axes" before the op's input-axes version (13 for
 * ReduceSum, 18 for the others), input 1 after. */
static vt_status reduce_axes(const vt_opctx *c, bool *red)
{
    int r = c->in[0]->rank;
    int64_t axes[VT_MAX_RANK];
    int n = -1;
    bool input_axes = c->node->opset >= (reduce_of(c->node->op_type) == R_SUM ? 13 : 18);
    if (!input_axes) {
        const int64_t *a;
        n = vt_attr_ints(c->node, "axes", &a);
        if (n > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_ARG, "too many axes");
        if (n > 0) memcpy(axes, a, sizeof *a * (size_t)n);
    } else if (c->n_in > 1 && c->in[1]) {
        vt_status st = vt_const_ints(c, 1, axes, VT_MAX_RANK, &n);
        if (st != VT_OK) return st;
    }
    if (n <= 0) {
        bool noop = vt_attr_int(c->node, "noop_with_empty_axes", 0) != 0;
        for (int i = 0; i < r; i++) red[i] = !noop;
        return VT_OK;
    }
    for (int i = 0; i < r; i++) red[i] = false;
    for (int i = 0; i < n; i++) {
        int a;
        if (!vt_axis(axes[i], r, &a)) return vt_node_fail(c, VT_ERR_ARG, "axis %lld out of range", (long long)axes[i]);
        red[a] = true;
    }
    return VT_OK;
}

static vt_status reduce_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    if (x->dtype != VT_F32 && x->dtype != VT_F64 && x->dtype != VT_I64)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "element type %s", vt_dtype_name(x->dtype));
    bool red[VT_MAX_RANK];
    if ((st = reduce_axes(c, red)) != VT_OK) return st;
    bool keep = vt_attr_int(c->node, "keepdims", 1) != 0;
    int64_t sh[VT_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (!red[i])
            sh[r++] = x->shape[i];
        else if (keep)
            sh[r++] = 1;
    vt_out_set(c->out[0], x->dtype, r, sh);
    return VT_OK;
}

/* Sum of x[0..n) (of x^2 when squares), in double, in a fixed order: 8 interleaved partial sums (lane l takes
 * elements l, l + 8, ...), added pairwise, then the tail. The same on every instruction set. */
VT_CLONES static double sum_f32(const float *x, int64_t n, bool squares)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    if (squares)
        for (; j + 8 <= n; j += 8) {
#pragma omp simd
            for (int l = 0; l < 8; l++) acc[l] += (double)x[j + l] * (double)x[j + l];
        }
    else
        for (; j + 8 <= n; j += 8) {
#pragma omp simd
            for (int l = 0; l < 8; l++) acc[l] += (double)x[j + l];
        }
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < n; j++) s += squares ? (double)x[j] * (double)x[j] : (double)x[j];
    return s;
}

/* Element i of a float32, float64 or int64 input as a double. */
static inline double reduce_load(const vt_tensor *x, int64_t i)
{
    switch (x->dtype) {
    case VT_F32: return ((const float *)x->data)[i];
    case VT_F64: return ((const double *)x->data)[i];
    default: return (double)((const int64_t *)x->data)[i];
    }
}

static vt_status reduce_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    reduce_kind k = reduce_of(c->node->op_type);
    bool red[VT_MAX_RANK];
    vt_status st = reduce_axes(c, red);
    if (st != VT_OK) return st;
    int r = x->rank;
    int64_t str[VT_MAX_RANK], s = 1;
    for (int i = r - 1; i >= 0; i--) str[i] = s, s *= x->shape[i];
    /* Offsets of the reduced block relative to an output element's base offset. */
    int64_t nred = 1, nout = 1;
    int kept[VT_MAX_RANK], nk = 0, rd[VT_MAX_RANK], nr = 0;
    for (int i = 0; i < r; i++) {
        if (red[i])
            nred *= x->shape[i], rd[nr++] = i;
        else
            nout *= x->shape[i], kept[nk++] = i;
    }
    int64_t *roff = vt_malloc((size_t)(nred ? nred : 1), sizeof *roff);
    if (!roff) return VT_ERR_NOMEM;
    for (int64_t j = 0; j < nred; j++) {
        int64_t rem = j, off = 0;
        for (int q = nr - 1; q >= 0; q--) {
            off += (rem % x->shape[rd[q]]) * str[rd[q]];
            rem /= x->shape[rd[q]];
        }
        roff[j] = off;
    }
    bool f32 = x->dtype == VT_F32;
    /* Sums over trailing dims (LayerNorm decompositions: ReduceMean over the last axis) read contiguous rows. */
    bool rows = f32 && (k == R_MEAN || k == R_SUM || k == R_SUMSQ || k == R_L2) && nred > 0;
    for (int q = 0; q < nr && rows; q++) rows = rd[q] == r - nr + q;
    if (rows) {
        const float *xd = x->data;
        float *yd = c->out[0]->data;
#pragma omp parallel for schedule(static) if (nout * nred > 32768)
        for (int64_t o = 0; o < nout; o++) {
            double acc = sum_f32(xd + o * nred, nred, k == R_SUMSQ || k == R_L2);
            if (k == R_MEAN) acc /= (double)nred;
            if (k == R_L2) acc = sqrt(acc);
            yd[o] = (float)acc;
        }
        free(roff);
        return VT_OK;
    }
#pragma omp parallel for schedule(static) if (nout * nred > 32768)
    for (int64_t o = 0; o < nout; o++) {
        int64_t rem = o, base = 0;
        for (int q = nk - 1; q >= 0; q--) {
            base += (rem % x->shape[kept[q]]) * str[kept[q]];
            rem /= x->shape[kept[q]];
        }
        double acc = k == R_PROD ? 1 : k == R_MAX ? -INFINITY : k == R_MIN ? INFINITY : 0;
        double mx = -INFINITY;
        if (k == R_LOGSUMEXP)
            for (int64_t j = 0; j < nred; j++) {
                double v = reduce_load(x, base + roff[j]);
                if (v > mx) mx = v;
            }
        for (int64_t j = 0; j < nred; j++) {
            double v = reduce_load(x, base + roff[j]);
            switch (k) {
            case R_MEAN:
            case R_SUM:
            case R_LOGSUM: acc += v; break;
            case R_MAX: acc = v > acc || v != v ? v : acc; break;
            case R_MIN: acc = v < acc || v != v ? v : acc; break;
            case R_PROD: acc *= v; break;
            case R_SUMSQ:
            case R_L2: acc += v * v; break;
            case R_L1: acc += fabs(v); break;
            case R_LOGSUMEXP: acc += exp(v - mx); break;
            }
        }
        if (k == R_MEAN) acc /= (double)nred;
        if (k == R_L2) acc = sqrt(acc);
        if (k == R_LOGSUMEXP) acc = log(acc) + mx;
        if (k == R_LOGSUM) acc = log(acc);
        if (f32)
            ((float *)c->out[0]->data)[o] = (float)acc;
        else if (x->dtype == VT_F64)
            ((double *)c->out[0]->data)[o] = acc;
        else
            ((int64_t *)c->out[0]->data)[o] = (int64_t)acc;
    }
    free(roff);
    return VT_OK;
}

/* ---- ArgMax / ArgMin ---- */

static vt_status arg_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int axis = 0;
    if (!vt_axis(vt_attr_int(c->node, "axis", 0), x->rank, &axis))
        return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
    bool keep = vt_attr_int(c->node, "keepdims", 1) != 0;
    int64_t sh[VT_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (i != axis)
            sh[r++] = x->shape[i];
        else if (keep)
            sh[r++] = 1;
    vt_out_set(c->out[0], VT_I64, r, sh);
    return VT_OK;
}

static vt_status arg_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    int axis = 0;
    vt_axis(vt_attr_int(c->node, "axis", 0), x->rank, &axis);
    bool last = vt_attr_int(c->node, "select_last_index", 0) != 0, mx = strcmp(c->node->op_type, "ArgMax") == 0;
    int64_t outer = 1, inner = 1, dim = x->shape[axis];
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->rank; d++) inner *= x->shape[d];
    const float *p = x->data;
    int64_t *y = c->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t best = 0;
            float bv = p[o * dim * inner + i];
            for (int64_t j = 1; j < dim; j++) {
                float v = p[(o * dim + j) * inner + i];
                bool better = mx ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
                if (better) best = j, bv = v;
            }
            y[o * inner + i] = best;
        }
    return VT_OK;
}

/* ---- TopK: the k largest (or smallest) values along an axis and their indices ----
 * Ordered by value, equal values by lower index first (the spec's tie rule); NaN counts as larger than every
 * number, as torch.topk orders it. The output is sorted whether or not `sorted` asks for it (any order is
 * allowed then). */

typedef struct topk_item {
    double f;  /* float32 / float64 / int32 values */
    int64_t i; /* int64 values (exact beyond 2^53) */
    int64_t idx;
} topk_item;

/* Positive when a ranks after b for "largest" (ties by index). */
static int topk_after_f(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    bool an = isnan(a->f), bn = isnan(b->f);
    if (an != bn) return an ? -1 : 1;
    if (!an && a->f != b->f) return a->f > b->f ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int topk_before_f(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    bool an = isnan(a->f), bn = isnan(b->f);
    if (an != bn) return an ? 1 : -1;
    if (!an && a->f != b->f) return a->f < b->f ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int topk_after_i(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    if (a->i != b->i) return a->i > b->i ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int topk_before_i(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    if (a->i != b->i) return a->i < b->i ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static vt_status topk_k(const vt_opctx *c, int64_t *k)
{
    if (c->node->opset < 10) {
        *k = vt_attr_int(c->node, "k", -1);
        return VT_OK;
    }
    int64_t v[1];
    int n;
    vt_status st = vt_need_input(c, 1);
    if (st == VT_OK) st = vt_const_ints(c, 1, v, 1, &n);
    if (st != VT_OK) return st;
    if (n != 1) return vt_node_fail(c, VT_ERR_ARG, "K must hold one value");
    *k = v[0];
    return VT_OK;
}

static vt_status topk_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    if (x->dtype != VT_F32 && x->dtype != VT_F64 && x->dtype != VT_I32 && x->dtype != VT_I64)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "element type %s", vt_dtype_name(x->dtype));
    int axis;
    int64_t k = 0;
    if (!vt_axis(vt_attr_int(c->node, "axis", -1), x->rank, &axis))
        return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
    if ((st = topk_k(c, &k)) != VT_OK) return st;
    if (k < 0 || k > x->shape[axis])
        return vt_node_fail(c, VT_ERR_ARG, "K = %lld is not in [0, %lld] (the axis' size)", (long long)k,
                            (long long)x->shape[axis]);
    int64_t sh[VT_MAX_RANK];
    memcpy(sh, x->shape, sizeof sh[0] * (size_t)x->rank);
    sh[axis] = k;
    vt_out_set(c->out[0], x->dtype, x->rank, sh);
    if (c->n_out > 1 && c->out[1]) vt_out_set(c->out[1], VT_I64, x->rank, sh);
    return VT_OK;
}

static vt_status topk_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    vt_tensor *vals = c->out[0], *ids = c->n_out > 1 ? c->out[1] : NULL;
    int axis = 0;
    vt_axis(vt_attr_int(c->node, "axis", -1), x->rank, &axis);
    bool largest = vt_attr_int(c->node, "largest", 1) != 0, ints = x->dtype == VT_I64;
    int (*order)(const void *, const void *) =
        ints ? (largest ? topk_after_i : topk_before_i) : (largest ? topk_after_f : topk_before_f);
    int64_t outer = 1, inner = 1, dim = x->shape[axis], k = vals->shape[axis];
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->rank; d++) inner *= x->shape[d];
    topk_item *items = vt_malloc((size_t)(dim ? dim : 1), sizeof *items);
    if (!items) return VT_ERR_NOMEM;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t j = 0; j < dim; j++) {
                int64_t at = (o * dim + j) * inner + i;
                items[j].idx = j;
                if (ints)
                    items[j].i = ((const int64_t *)x->data)[at];
                else
                    items[j].f = vt_elem_f64(x, at);
            }
            qsort(items, (size_t)dim, sizeof *items, order);
            for (int64_t j = 0; j < k; j++) {
                int64_t at = (o * k + j) * inner + i;
                if (ints)
                    ((int64_t *)vals->data)[at] = items[j].i;
                else
                    vt_elem_set_f64(vals, at, items[j].f);
                if (ids) ((int64_t *)ids->data)[at] = items[j].idx;
            }
        }
    free(items);
    return VT_OK;
}

/* ---- Hardmax: 1 at the first maximum along the axis (opset < 13: over the dims from it), 0 elsewhere ---- */

/* The (outer, dim, inner) split of Softmax, LogSoftmax and Hardmax: along `axis` from opset 13; before, the
 * input coerced to 2-D at `axis` (the op over all trailing dims). */
static void softmax_geometry(const vt_opctx *c, int64_t *outer, int64_t *dim, int64_t *inner)
{
    const vt_tensor *x = c->in[0];
    int axis = 0;
    vt_axis(vt_attr_int(c->node, "axis", c->node->opset < 13 ? 1 : -1), x->rank, &axis);
    *outer = *dim = *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= x->shape[d];
    if (c->node->opset < 13)
        for (int d = axis; d < x->rank; d++) *dim *= x->shape[d];
    else {
        *dim = x->shape[axis];
        for (int d = axis + 1; d < x->rank; d++) *inner *= x->shape[d];
    }
}

static vt_status hardmax_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    int64_t outer, dim, inner;
    softmax_geometry(c, &outer, &dim, &inner);
    const float *p = x->data;
    float *y = c->out[0]->data;
    memset(y, 0, sizeof(float) * (size_t)vt_tensor_numel(x));
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner && dim > 0; i++) {
            int64_t best = 0;
            for (int64_t j = 1; j < dim; j++)
                if (p[(o * dim + j) * inner + i] > p[(o * dim + best) * inner + i]) best = j;
            y[(o * dim + best) * inner + i] = 1.0f;
        }
    return VT_OK;
}

/* ---- CumSum (exclusive, reverse): floats summed in double, integers exactly ---- */

static vt_status cumsum_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK) st = vt_need_input(c, 1);
    if (st != VT_OK) return st;
    vt_dtype dt = c->in[0]->dtype;
    if (dt != VT_F32 && dt != VT_F64 && dt != VT_I32 && dt != VT_I64)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input is %s (float32/64, int32/64 are supported)",
                            vt_dtype_name(dt));
    if (!c->in[1]->data) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "axis must be a constant");
    int axis;
    if (vt_tensor_numel(c->in[1]) != 1 || !vt_axis(vt_elem_i64(c->in[1], 0), c->in[0]->rank, &axis))
        return vt_node_fail(c, VT_ERR_ARG, "axis must be one value in range");
    vt_out_set(c->out[0], dt, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status cumsum_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    int axis = 0;
    vt_axis(vt_elem_i64(c->in[1], 0), x->rank, &axis);
    bool excl = vt_attr_int(c->node, "exclusive", 0) != 0, rev = vt_attr_int(c->node, "reverse", 0) != 0;
    bool fl = vt_dtype_is_float(x->dtype);
    int64_t outer = 1, dim = x->shape[axis], inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->rank; d++) inner *= x->shape[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double acc = 0;
            int64_t iacc = 0;
            for (int64_t s = 0; s < dim; s++) {
                int64_t j = rev ? dim - 1 - s : s, at = (o * dim + j) * inner + i;
                double v = fl ? vt_elem_f64(x, at) : 0;
                int64_t iv = fl ? 0 : vt_elem_i64(x, at);
                if (!excl) acc += v, iacc += iv;
                if (fl)
                    vt_elem_set_f64(c->out[0], at, acc);
                else
                    vt_elem_set_i64(c->out[0], at, iacc);
                if (excl) acc += v, iacc += iv;
            }
        }
    return VT_OK;
}

/* ---- Softmax / LogSoftmax ---- */

static vt_status softmax_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st != VT_OK) return st;
    int axis = 0;
    int64_t dflt = c->node->opset < 13 ? 1 : -1;
    if (!vt_axis(vt_attr_int(c->node, "axis", dflt), c->in[0]->rank, &axis))
        return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
    vt_out_set(c->out[0], VT_F32, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

/* Softmax (or LogSoftmax) of one contiguous row of n values. The maximum is taken over 16 interleaved lanes
 * (order-free: a maximum is exact), e^(x - max) is evaluated once per element (vecmath.h) and summed in double
 * in a fixed order (16 interleaved partial sums added pairwise, then the tail). */
VT_CLONES static void softmax_row(const float *x, float *y, int64_t n, bool log_mode)
{
    float m[16];
    for (int l = 0; l < 16; l++) m[l] = -INFINITY;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
#pragma omp simd
        for (int l = 0; l < 16; l++) m[l] = vt_sel(vt_mask(x[j + l] > m[l]), x[j + l], m[l]);
    }
    float mx = -INFINITY;
    for (int l = 0; l < 16; l++) mx = m[l] > mx ? m[l] : mx;
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = vt_vexpf(x[i] - mx);
    double acc[16];
    for (int l = 0; l < 16; l++) acc[l] = 0;
    for (j = 0; j + 16 <= n; j += 16) {
#pragma omp simd
        for (int l = 0; l < 16; l++) acc[l] += (double)y[j + l];
    }
    for (int w = 8; w >= 1; w /= 2) /* pairwise: lane l += lane l + w */
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    double sum = acc[0];
    for (; j < n; j++) sum += (double)y[j];
    if (log_mode) {
        float ls = (float)log(sum);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = x[i] - mx - ls;
    } else {
        float inv = (float)(1.0 / sum);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] *= inv;
    }
}

static vt_status softmax_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    bool log_mode = strcmp(c->node->op_type, "LogSoftmax") == 0;
    int64_t outer, dim, inner;
    softmax_geometry(c, &outer, &dim, &inner);
    const float *p = x->data;
    float *y = c->out[0]->data;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (outer * dim > 32768)
        for (int64_t o = 0; o < outer; o++) softmax_row(p + o * dim, y + o * dim, dim, log_mode);
        return VT_OK;
    }
#pragma omp parallel for schedule(static) if (outer * inner * dim > 32768)
    for (int64_t oi = 0; oi < outer * inner; oi++) {
        int64_t o = oi / inner, i = oi % inner;
        const float *xp = p + o * dim * inner + i;
        float *yp = y + o * dim * inner + i;
        float mx = -INFINITY;
        for (int64_t j = 0; j < dim; j++) mx = fmaxf(mx, xp[j * inner]);
        /* exp once per element (kept in y), summed in double in a fixed order. */
        double sum = 0;
        for (int64_t j = 0; j < dim; j++) {
            float e = vt_vexpf(xp[j * inner] - mx);
            if (!log_mode) yp[j * inner] = e;
            sum += e;
        }
        if (log_mode) {
            float ls = (float)log(sum);
            for (int64_t j = 0; j < dim; j++) yp[j * inner] = xp[j * inner] - mx - ls;
        } else {
            float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < dim; j++) yp[j * inner] *= inv;
        }
    }
    return VT_OK;
}

#define RED(op_name)                                                                                                   \
    {                                                                                                                  \
        .domain = "", .type = op_name, .since = 1, .infer = reduce_infer, .run = reduce_run                            \
    }

static const vt_op ops[] = {
    RED("ReduceMean"),
    RED("ReduceSum"),
    RED("ReduceMax"),
    RED("ReduceMin"),
    RED("ReduceProd"),
    RED("ReduceSumSquare"),
    RED("ReduceL2"),
    RED("ReduceL1"),
    RED("ReduceLogSumExp"),
    RED("ReduceLogSum"),
    {.domain = "", .type = "ArgMax", .since = 1, .infer = arg_infer, .run = arg_run},
    {.domain = "", .type = "ArgMin", .since = 1, .infer = arg_infer, .run = arg_run},
    {.domain = "", .type = "TopK", .since = 1, .infer = topk_infer, .run = topk_run},
    {.domain = "", .type = "Hardmax", .since = 1, .infer = softmax_infer, .run = hardmax_run},
    {.domain = "", .type = "CumSum", .since = 11, .infer = cumsum_infer, .run = cumsum_run},
    {.domain = "", .type = "Softmax", .since = 1, .infer = softmax_infer, .run = softmax_run},
    {.domain = "", .type = "LogSoftmax", .since = 1, .infer = softmax_infer, .run = softmax_run},
};

VT_OP_TABLE(vt_ops_reduce, ops);
