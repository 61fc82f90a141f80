/* Indexing operators: Gather, GatherElements, GatherND, ScatterND, ScatterElements (and its deprecated
 * alias Scatter), OneHot. Index tensors are int32 or int64; negative indices count from the end of
 * their axis, and an index outside the axis fails the run naming the node (never a wild read). */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

/* Index v along an axis of size dim, normalised to [0, dim); false when out of range. */
static bool index_in(int64_t v, int64_t dim, int64_t *out)
{
    if (v < -dim || v >= dim) return false;
    *out = v < 0 ? v + dim : v;
    return true;
}

static vt_status index_fail(const vt_opctx *c, int64_t v, int64_t dim)
{
    return vt_node_fail(c, VT_ERR_ARG, "index %lld out of range [-%lld, %lld)", (long long)v, (long long)dim,
                        (long long)dim);
}

/* Data and int32/int64 indices present, the axis attribute in range. */
static vt_status index_args(const vt_opctx *c, int *axis)
{
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK) st = vt_need_input(c, 1);
    if (st != VT_OK) return st;
    if (axis && !vt_axis(vt_attr_int(c->node, "axis", 0), c->in[0]->rank, axis))
        return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
    if (c->in[1]->dtype != VT_I64 && c->in[1]->dtype != VT_I32)
        return vt_node_fail(c, VT_ERR_ARG, "indices must be int32 or int64");
    return VT_OK;
}

/* ---- Gather: slices of x along axis, picked by the indices ---- */

static vt_status gather_infer(vt_opctx *c)
{
    int axis;
    vt_status st = index_args(c, &axis);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0], *idx = c->in[1];
    int r = x->rank - 1 + idx->rank;
    if (r > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "output rank %d exceeds %d", r, VT_MAX_RANK);
    int64_t sh[VT_MAX_RANK];
    int k = 0;
    for (int d = 0; d < axis; d++) sh[k++] = x->shape[d];
    for (int d = 0; d < idx->rank; d++) sh[k++] = idx->shape[d];
    for (int d = axis + 1; d < x->rank; d++) sh[k++] = x->shape[d];
    vt_out_set(c->out[0], x->dtype, r, sh);
    return VT_OK;
}

static vt_status gather_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0], *idx = c->in[1];
    int axis = 0;
    vt_axis(vt_attr_int(c->node, "axis", 0), x->rank, &axis);
    size_t es = vt_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1, dim = x->shape[axis], ni = vt_tensor_numel(idx), v = 0;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis + 1; d < x->rank; d++) inner *= x->shape[d];
    for (int64_t j = 0; j < ni; j++)
        if (!index_in(vt_elem_i64(idx, j), dim, &v)) return index_fail(c, vt_elem_i64(idx, j), dim);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < ni; j++) {
            index_in(vt_elem_i64(idx, j), dim, &v);
            memcpy((char *)c->out[0]->data + (size_t)((o * ni + j) * inner) * es,
                   (const char *)x->data + (size_t)((o * dim + v) * inner) * es, (size_t)inner * es);
        }
    return VT_OK;
}

/* ---- GatherElements: out[i...] = x[i... with index[i...] along axis] ---- */

/* The indices have the data's rank and, off the axis, no dimension larger than the data's. */
static vt_status elements_shape(const vt_opctx *c, const vt_tensor *x, const vt_tensor *idx, int axis)
{
    if (idx->rank != x->rank) return vt_node_fail(c, VT_ERR_ARG, "indices must have the data's rank");
    for (int d = 0; d < x->rank; d++)
        if (d != axis && idx->shape[d] > x->shape[d])
            return vt_node_fail(c, VT_ERR_ARG, "indices dimension %d exceeds the data's", d);
    return VT_OK;
}

/* Element offset in x (strides xstr) of element i of idx, with its axis coordinate replaced by v. */
static int64_t elements_offset(const vt_tensor *idx, const int64_t *xstr, int axis, int64_t i, int64_t v)
{
    int64_t off = 0, q = i;
    for (int d = idx->rank - 1; d >= 0; d--) {
        int64_t k = q % idx->shape[d];
        q /= idx->shape[d];
        off += (d == axis ? v : k) * xstr[d];
    }
    return off;
}

static vt_status gather_elements_infer(vt_opctx *c)
{
    int axis;
    vt_status st = index_args(c, &axis);
    if (st == VT_OK) st = elements_shape(c, c->in[0], c->in[1], axis);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], c->in[0]->dtype, c->in[1]->rank, c->in[1]->shape);
    return VT_OK;
}

static vt_status gather_elements_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0], *idx = c->in[1];
    int axis = 0;
    vt_axis(vt_attr_int(c->node, "axis", 0), x->rank, &axis);
    size_t es = vt_dtype_size(x->dtype);
    int64_t n = vt_tensor_numel(idx), dim = x->shape[axis], xstr[VT_MAX_RANK], v;
    vt_contiguous_strides(x->rank, x->shape, xstr);
    for (int64_t i = 0; i < n; i++) {
        if (!index_in(vt_elem_i64(idx, i), dim, &v)) return index_fail(c, vt_elem_i64(idx, i), dim);
        memcpy((char *)c->out[0]->data + (size_t)i * es,
               (const char *)x->data + (size_t)elements_offset(idx, xstr, axis, i, v) * es, es);
    }
    return VT_OK;
}

/* ---- GatherND: slices of x addressed by the last dimension of the indices (after batch_dims) ---- */

static vt_status gather_nd_infer(vt_opctx *c)
{
    vt_status st = index_args(c, NULL);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0], *idx = c->in[1];
    int64_t b = vt_attr_int(c->node, "batch_dims", 0);
    if (idx->rank < 1 || b < 0 || b >= idx->rank || b >= x->rank)
        return vt_node_fail(c, VT_ERR_ARG, "batch_dims %lld must be below the ranks of the data and indices",
                            (long long)b);
    int64_t m = idx->shape[idx->rank - 1];
    if (m < 1 || b + m > x->rank)
        return vt_node_fail(c, VT_ERR_ARG, "the indices' last dimension %lld must be in [1, %lld]", (long long)m,
                            (long long)(x->rank - b));
    for (int d = 0; d < b; d++)
        if (idx->shape[d] != x->shape[d])
            return vt_node_fail(c, VT_ERR_ARG, "batch dimension %d differs between data and indices", d);
    int r = idx->rank - 1 + x->rank - (int)(b + m);
    if (r > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "output rank %d exceeds %d", r, VT_MAX_RANK);
    int64_t sh[VT_MAX_RANK];
    int k = 0;
    for (int d = 0; d < idx->rank - 1; d++) sh[k++] = idx->shape[d];
    for (int d = (int)(b + m); d < x->rank; d++) sh[k++] = x->shape[d];
    vt_out_set(c->out[0], x->dtype, r, sh);
    return VT_OK;
}

static vt_status gather_nd_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0], *idx = c->in[1];
    int b = (int)vt_attr_int(c->node, "batch_dims", 0), m = (int)idx->shape[idx->rank - 1];
    int64_t xstr[VT_MAX_RANK], batches = 1, slice = 1, v;
    vt_contiguous_strides(x->rank, x->shape, xstr);
    for (int d = 0; d < b; d++) batches *= x->shape[d];
    for (int d = b + m; d < x->rank; d++) slice *= x->shape[d];
    int64_t tuples = vt_tensor_numel(idx) / m, per_batch = tuples / (batches ? batches : 1);
    size_t es = vt_dtype_size(x->dtype);
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = (per_batch ? t / per_batch : 0) * (b ? xstr[b - 1] : 0);
        for (int j = 0; j < m; j++) {
            int64_t raw = vt_elem_i64(idx, t * m + j), dim = x->shape[b + j];
            if (!index_in(raw, dim, &v)) return index_fail(c, raw, dim);
            off += v * xstr[b + j];
        }
        memcpy((char *)c->out[0]->data + (size_t)(t * slice) * es, (const char *)x->data + (size_t)off * es,
               (size_t)slice * es);
    }
    return VT_OK;
}

/* ---- Scatter reductions: dst = dst (op) src, in the element type's own arithmetic ---- */

typedef enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } scatter_red;

static vt_status scatter_reduction(const vt_opctx *c, scatter_red *red)
{
    const char *s = vt_attr_str(c->node, "reduction", "none");
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    int allowed = c->node->opset >= 18 ? 5 : c->node->opset >= 16 ? 3 : 1;
    for (int i = 0; i < allowed; i++)
        if (strcmp(s, names[i]) == 0) {
            *red = (scatter_red)i;
            vt_dtype dt = c->in[0]->dtype;
            if (i != RED_NONE && dt != VT_F32 && dt != VT_F64 && dt != VT_I32 && dt != VT_I64)
                return vt_node_fail(c, VT_ERR_UNSUPPORTED, "reduction '%s' on %s", s, vt_dtype_name(dt));
            return VT_OK;
        }
    return vt_node_fail(c, VT_ERR_ARG, "reduction '%s' is not defined at opset %d", s, c->node->opset);
}

#define SCATTER_COMBINE(T)                                                                                             \
    do {                                                                                                               \
        T *d = (T *)dst, s = *(const T *)src;                                                                          \
        switch (red) {                                                                                                 \
        case RED_ADD: *d = *d + s; break;                                                                              \
        case RED_MUL: *d = *d * s; break;                                                                              \
        case RED_MAX: *d = s > *d ? s : *d; break;                                                                     \
        case RED_MIN: *d = s < *d ? s : *d; break;                                                                     \
        case RED_NONE: *d = s; break;                                                                                  \
        }                                                                                                              \
    } while (0)

/* Combines n elements of src into dst. */
static void scatter_combine(vt_dtype dt, scatter_red red, void *dst, const void *src, int64_t n)
{
    size_t es = vt_dtype_size(dt);
    if (red == RED_NONE) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    for (int64_t i = 0; i < n; i++, dst = (char *)dst + es, src = (const char *)src + es) switch (dt) {
        case VT_F32: SCATTER_COMBINE(float); break;
        case VT_F64: SCATTER_COMBINE(double); break;
        case VT_I32: SCATTER_COMBINE(int32_t); break;
        default: SCATTER_COMBINE(int64_t); break;
        }
}

/* ---- ScatterND: copies of x with slices addressed by the indices' last dimension replaced (or combined) ---- */

static vt_status scatternd_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 2);
    if (st == VT_OK) st = index_args(c, NULL);
    if (st != VT_OK) return st;
    scatter_red red;
    if ((st = scatter_reduction(c, &red)) != VT_OK) return st;
    const vt_tensor *x = c->in[0], *idx = c->in[1], *upd = c->in[2];
    int64_t m = idx->rank ? idx->shape[idx->rank - 1] : 0;
    if (idx->rank < 1 || m < 1 || m > x->rank)
        return vt_node_fail(c, VT_ERR_ARG, "the indices' last dimension must be in [1, the data rank]");
    /* updates: indices.shape[:-1] + data.shape[m:] */
    bool ok = upd->rank == idx->rank - 1 + x->rank - (int)m && upd->dtype == x->dtype;
    for (int d = 0; ok && d < idx->rank - 1; d++) ok = upd->shape[d] == idx->shape[d];
    for (int d = (int)m; ok && d < x->rank; d++) ok = upd->shape[idx->rank - 1 + d - m] == x->shape[d];
    if (!ok)
        return vt_node_fail(c, VT_ERR_ARG, "updates must be indices.shape[:-1] + data.shape[m:] of the data's type");
    vt_out_set(c->out[0], x->dtype, x->rank, x->shape);
    return VT_OK;
}

static vt_status scatternd_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0], *idx = c->in[1], *upd = c->in[2];
    scatter_red red = RED_NONE;
    scatter_reduction(c, &red);
    vt_status st = vt_copy_data(c->out[0], x);
    if (st != VT_OK) return st;
    int m = (int)idx->shape[idx->rank - 1];
    int64_t tuples = vt_tensor_numel(idx) / m, slice = 1, xstr[VT_MAX_RANK], v;
    for (int d = m; d < x->rank; d++) slice *= x->shape[d];
    vt_contiguous_strides(x->rank, x->shape, xstr);
    size_t es = vt_dtype_size(x->dtype);
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = 0;
        for (int d = 0; d < m; d++) {
            int64_t raw = vt_elem_i64(idx, t * m + d);
            if (!index_in(raw, x->shape[d], &v)) return index_fail(c, raw, x->shape[d]);
            off += v * xstr[d];
        }
        scatter_combine(x->dtype, red, (char *)c->out[0]->data + (size_t)off * es,
                        (const char *)upd->data + (size_t)(t * slice) * es, slice);
    }
    return VT_OK;
}

/* ---- ScatterElements / Scatter: out = x with out[i... with index[i...] along axis] (op)= updates[i...] ---- */

static vt_status scatter_elements_infer(vt_opctx *c)
{
    int axis;
    vt_status st = vt_need_input(c, 2);
    if (st == VT_OK) st = index_args(c, &axis);
    if (st == VT_OK) st = elements_shape(c, c->in[0], c->in[1], axis);
    if (st != VT_OK) return st;
    scatter_red red;
    if ((st = scatter_reduction(c, &red)) != VT_OK) return st;
    const vt_tensor *idx = c->in[1], *upd = c->in[2];
    bool same = upd->rank == idx->rank && upd->dtype == c->in[0]->dtype;
    for (int d = 0; same && d < idx->rank; d++) same = upd->shape[d] == idx->shape[d];
    if (!same) return vt_node_fail(c, VT_ERR_ARG, "updates must have the indices' shape and the data's type");
    vt_out_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status scatter_elements_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0], *idx = c->in[1], *upd = c->in[2];
    int axis = 0;
    vt_axis(vt_attr_int(c->node, "axis", 0), x->rank, &axis);
    scatter_red red = RED_NONE;
    scatter_reduction(c, &red);
    vt_status st = vt_copy_data(c->out[0], x);
    if (st != VT_OK) return st;
    size_t es = vt_dtype_size(x->dtype);
    int64_t n = vt_tensor_numel(idx), dim = x->shape[axis], xstr[VT_MAX_RANK], v;
    vt_contiguous_strides(x->rank, x->shape, xstr);
    for (int64_t i = 0; i < n; i++) {
        if (!index_in(vt_elem_i64(idx, i), dim, &v)) return index_fail(c, vt_elem_i64(idx, i), dim);
        scatter_combine(x->dtype, red, (char *)c->out[0]->data + (size_t)elements_offset(idx, xstr, axis, i, v) * es,
                        (const char *)upd->data + (size_t)i * es, 1);
    }
    return VT_OK;
}

/* ---- OneHot: values[1] where the index (cast to int64) hits, values[0] elsewhere, along a new axis ---- */

static vt_status onehot_depth(const vt_opctx *c, int64_t *depth)
{
    const vt_tensor *d = c->in[1];
    if (!d->data) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "depth must be a constant (it defines the output shape)");
    if (vt_tensor_numel(d) != 1) return vt_node_fail(c, VT_ERR_ARG, "depth must hold one value");
    double v = vt_elem_f64(d, 0);
    if (!(v >= 1 && v <= 1e9)) return vt_node_fail(c, VT_ERR_ARG, "depth %g is not in [1, 1e9]", v);
    *depth = (int64_t)v;
    return VT_OK;
}

static vt_status onehot_infer(vt_opctx *c)
{
    vt_status st = VT_OK;
    for (int k = 0; k < 3 && st == VT_OK; k++) st = vt_need_input(c, k);
    if (st != VT_OK) return st;
    const vt_tensor *idx = c->in[0], *vals = c->in[2];
    int64_t depth = 0;
    if ((st = onehot_depth(c, &depth)) != VT_OK) return st;
    if (vt_tensor_numel(vals) != 2) return vt_node_fail(c, VT_ERR_ARG, "values must hold [off_value, on_value]");
    int r = idx->rank + 1, axis;
    if (r > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "output rank %d exceeds %d", r, VT_MAX_RANK);
    if (!vt_axis(vt_attr_int(c->node, "axis", -1), r, &axis)) return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
    int64_t sh[VT_MAX_RANK];
    for (int d = 0, k = 0; d < r; d++) sh[d] = d == axis ? depth : idx->shape[k++];
    vt_out_set(c->out[0], vals->dtype, r, sh);
    return VT_OK;
}

static vt_status onehot_run(vt_opctx *c)
{
    const vt_tensor *idx = c->in[0], *vals = c->in[2];
    vt_tensor *y = c->out[0];
    int axis = 0;
    vt_axis(vt_attr_int(c->node, "axis", -1), y->rank, &axis);
    int64_t depth = y->shape[axis];
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= y->shape[d];
    for (int d = axis + 1; d < y->rank; d++) inner *= y->shape[d];
    size_t es = vt_dtype_size(vals->dtype);
    const char *off = vals->data, *on = off + es;
    char *out = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < depth; j++)
            for (int64_t i = 0; i < inner; i++) {
                /* A float index is truncated to int64 as the spec casts it; one outside [-depth, depth)
                 * (or NaN) hits nothing. */
                double f = vt_elem_f64(idx, o * inner + i);
                int64_t v = vt_dtype_is_float(idx->dtype) ? (fabs(f) < 9e18 ? (int64_t)f : INT64_MAX)
                                                          : vt_elem_i64(idx, o * inner + i);
                if (v < 0) v += depth;
                memcpy(out + (size_t)((o * depth + j) * inner + i) * es, v == j ? on : off, es);
            }
    return VT_OK;
}

/* ---- ReverseSequence: reverses the first sequence_lens[b] steps along time_axis of each batch entry ---- */

static vt_status revseq_axes(const vt_opctx *c, int *bax, int *tax)
{
    int64_t b = vt_attr_int(c->node, "batch_axis", 1), t = vt_attr_int(c->node, "time_axis", 0);
    if (c->in[0]->rank < 2 || !((b == 0 && t == 1) || (b == 1 && t == 0)))
        return vt_node_fail(c, VT_ERR_ARG, "batch_axis and time_axis must be 0 and 1 of a rank >= 2 input");
    *bax = (int)b, *tax = (int)t;
    return VT_OK;
}

static vt_status revseq_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK) st = vt_need_input(c, 1);
    if (st != VT_OK) return st;
    int bax, tax;
    if ((st = revseq_axes(c, &bax, &tax)) != VT_OK) return st;
    const vt_tensor *x = c->in[0], *len = c->in[1];
    if (len->rank != 1 || len->shape[0] != x->shape[bax] || (len->dtype != VT_I64 && len->dtype != VT_I32))
        return vt_node_fail(c, VT_ERR_ARG, "sequence_lens must be int64 [batch]");
    vt_out_set(c->out[0], x->dtype, x->rank, x->shape);
    return VT_OK;
}

static vt_status revseq_run(vt_opctx *c)
{
    int bax, tax;
    vt_status st = revseq_axes(c, &bax, &tax);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int64_t str[VT_MAX_RANK], T = x->shape[tax], B = x->shape[bax];
    vt_contiguous_strides(x->rank, x->shape, str);
    size_t es = vt_dtype_size(x->dtype), inner = (size_t)str[1] * es; /* the dims after 0 and 1, contiguous */
    memcpy(c->out[0]->data, x->data, vt_tensor_nbytes(x));
    for (int64_t b = 0; b < B; b++) {
        int64_t n = vt_elem_i64(c->in[1], b);
        if (n < 0 || n > T)
            return vt_node_fail(c, VT_ERR_ARG, "sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b,
                                (long long)n, (long long)T);
        for (int64_t t = 0; t < n; t++) {
            int64_t src = b * str[bax] + t * str[tax], dst = b * str[bax] + (n - 1 - t) * str[tax];
            memcpy((char *)c->out[0]->data + (size_t)dst * es, (const char *)x->data + (size_t)src * es, inner);
        }
    }
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "", .type = "ReverseSequence", .since = 10, .infer = revseq_infer, .run = revseq_run},
    {.domain = "", .type = "Gather", .since = 1, .infer = gather_infer, .run = gather_run},
    {.domain = "", .type = "GatherElements", .since = 11, .infer = gather_elements_infer, .run = gather_elements_run},
    {.domain = "", .type = "GatherND", .since = 11, .infer = gather_nd_infer, .run = gather_nd_run},
    {.domain = "", .type = "ScatterND", .since = 11, .infer = scatternd_infer, .run = scatternd_run},
    {.domain = "",
     .type = "ScatterElements",
     .since = 11,
     .infer = scatter_elements_infer,
     .run = scatter_elements_run},
    {.domain = "", .type = "Scatter", .since = 9, .infer = scatter_elements_infer, .run = scatter_elements_run},
    {.domain = "", .type = "OneHot", .since = 9, .infer = onehot_infer, .run = onehot_run},
};

VT_OP_TABLE(vt_ops_index, ops);
