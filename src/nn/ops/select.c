/* Ops whose output shape depends on input values: NonZero, Compress, Unique. The executor's shapes are
 * static per prepare, so the values that decide the shape must be known then: a constant, or a graph
 * input, which prepare then treats as a constant and re-prepares on every run (see shape_defining in
 * graph.c). Computed values are refused by name at prepare. */
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

static vt_status need_values(const vt_opctx *c, int k, const char *what)
{
    vt_status st = vt_need_input(c, k);
    return st == VT_OK ? vt_need_known(c, k, what) : st;
}

static bool elem_nonzero(const vt_tensor *t, int64_t i)
{
    return vt_dtype_is_float(t->dtype) ? vt_elem_f64(t, i) != 0 : vt_elem_i64(t, i) != 0;
}

/* ---- NonZero: the coordinates of the nonzero elements, C order, as a rank x count int64 tensor ---- */

static vt_status nonzero_infer(vt_opctx *c)
{
    vt_status st = need_values(c, 0, "the input");
    if (st != VT_OK) return st;
    int64_t n = vt_tensor_numel(c->in[0]), count = 0;
    for (int64_t i = 0; i < n; i++) count += elem_nonzero(c->in[0], i);
    vt_out_set(c->out[0], VT_I64, 2, (int64_t[]){c->in[0]->rank, count});
    return VT_OK;
}

static vt_status nonzero_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    int64_t n = vt_tensor_numel(x), count = c->out[0]->shape[1], j = 0, *y = c->out[0]->data;
    for (int64_t i = 0; i < n && j < count; i++) {
        if (!elem_nonzero(x, i)) continue;
        int64_t rem = i;
        for (int d = x->rank - 1; d >= 0; d--) {
            y[d * count + j] = rem % x->shape[d];
            rem /= x->shape[d];
        }
        j++;
    }
    return VT_OK;
}

/* ---- Compress: the slices along axis (or the elements of the flattened input) whose condition is true ---- */

static vt_status compress_geometry(const vt_opctx *c, int *axis, int64_t *outer, int64_t *dim, int64_t *inner)
{
    const vt_tensor *x = c->in[0];
    *axis = -1;
    *outer = 1;
    *inner = 1;
    *dim = vt_tensor_numel(x);
    if (vt_attr_get(c->node, "axis")) {
        if (!vt_axis(vt_attr_int(c->node, "axis", 0), x->rank, axis))
            return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
        *dim = x->shape[*axis];
        for (int d = 0; d < *axis; d++) *outer *= x->shape[d];
        for (int d = *axis + 1; d < x->rank; d++) *inner *= x->shape[d];
    }
    if (c->in[1]->rank != 1 || c->in[1]->dtype != VT_BOOL)
        return vt_node_fail(c, VT_ERR_ARG, "condition must be a 1-D bool tensor");
    if (c->in[1]->shape[0] > *dim)
        return vt_node_fail(c, VT_ERR_ARG, "condition has %lld values for %lld slices", (long long)c->in[1]->shape[0],
                            (long long)*dim);
    return VT_OK;
}

static vt_status compress_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK) st = need_values(c, 1, "the condition");
    if (st != VT_OK) return st;
    int axis;
    int64_t outer, dim, inner, kept = 0;
    if ((st = compress_geometry(c, &axis, &outer, &dim, &inner)) != VT_OK) return st;
    const uint8_t *cond = c->in[1]->data;
    for (int64_t i = 0; i < c->in[1]->shape[0]; i++) kept += cond[i] != 0;
    int64_t sh[VT_MAX_RANK];
    memcpy(sh, c->in[0]->shape, sizeof sh);
    if (axis >= 0) sh[axis] = kept;
    vt_out_set(c->out[0], c->in[0]->dtype, axis >= 0 ? c->in[0]->rank : 1, axis >= 0 ? sh : &kept);
    return VT_OK;
}

static vt_status compress_run(vt_opctx *c)
{
    int axis;
    int64_t outer, dim, inner;
    vt_status st = compress_geometry(c, &axis, &outer, &dim, &inner);
    if (st != VT_OK) return st;
    const uint8_t *cond = c->in[1]->data;
    int64_t nc = c->in[1]->shape[0], kept = c->out[0]->shape[axis >= 0 ? axis : 0]; /* counted by infer */
    size_t es = vt_dtype_size(c->in[0]->dtype), run = (size_t)inner * es;
    const char *x = c->in[0]->data;
    char *y = c->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0, j = 0; i < nc; i++)
            if (cond[i]) memcpy(y + ((size_t)(o * kept + j++)) * run, x + ((size_t)(o * dim + i)) * run, run);
    return VT_OK;
}

/* ---- Unique: the distinct elements (or slices along axis), sorted or in order of first occurrence ---- */

typedef struct unique_view {
    const vt_tensor *x;
    int64_t outer, dim, inner; /* slice k holds, for o < outer and i < inner, element (o * dim + k) * inner + i */
} unique_view;

/* Lexicographic order of two slices over their elements in C order; NaNs equal one another, above numbers. */
static int slice_cmp(const unique_view *v, int64_t a, int64_t b)
{
    bool fl = vt_dtype_is_float(v->x->dtype);
    for (int64_t o = 0; o < v->outer; o++)
        for (int64_t i = 0; i < v->inner; i++) {
            int64_t ia = (o * v->dim + a) * v->inner + i, ib = (o * v->dim + b) * v->inner + i;
            if (fl) {
                double p = vt_elem_f64(v->x, ia), q = vt_elem_f64(v->x, ib);
                bool np = p != p, nq = q != q;
                if (np || nq) {
                    if (np != nq) return np ? 1 : -1;
                    continue;
                }
                if (p != q) return p < q ? -1 : 1;
            } else {
                int64_t p = vt_elem_i64(v->x, ia), q = vt_elem_i64(v->x, ib);
                if (p != q) return p < q ? -1 : 1;
            }
        }
    return 0;
}

/* Stable merge sort of slice numbers (equal slices keep their order, so the first of a run is the first
 * occurrence). */
static void sort_slices(const unique_view *v, int64_t *idx, int64_t *tmp, int64_t n)
{
    if (n < 2) return;
    int64_t h = n / 2;
    sort_slices(v, idx, tmp, h);
    sort_slices(v, idx + h, tmp, n - h);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = slice_cmp(v, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, sizeof *idx * (size_t)n);
}

typedef struct unique_result {
    int64_t n_unique;
    int64_t *first;   /* n_unique: slice number of each unique slice's first occurrence, in output order */
    int64_t *inverse; /* dim: output position of each slice */
    int64_t *counts;  /* n_unique */
} unique_result;

static void unique_free(unique_result *r)
{
    free(r->first), free(r->inverse), free(r->counts);
}

static vt_status unique_compute(const vt_opctx *c, unique_view *v, unique_result *r)
{
    const vt_tensor *x = c->in[0];
    memset(r, 0, sizeof *r);
    v->x = x;
    v->outer = 1;
    v->inner = 1;
    v->dim = vt_tensor_numel(x);
    if (vt_attr_get(c->node, "axis")) {
        int axis;
        if (!vt_axis(vt_attr_int(c->node, "axis", 0), x->rank, &axis))
            return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
        v->dim = x->shape[axis];
        for (int d = 0; d < axis; d++) v->outer *= x->shape[d];
        for (int d = axis + 1; d < x->rank; d++) v->inner *= x->shape[d];
    }
    int64_t n = v->dim;
    int64_t *idx = vt_malloc((size_t)(n ? n : 1), sizeof *idx), *tmp = vt_malloc((size_t)(n ? n : 1), sizeof *tmp);
    r->first = vt_malloc((size_t)(n ? n : 1), sizeof *r->first);
    r->inverse = vt_malloc((size_t)(n ? n : 1), sizeof *r->inverse);
    r->counts = vt_calloc((size_t)(n ? n : 1), sizeof *r->counts);
    if (!idx || !tmp || !r->first || !r->inverse || !r->counts) {
        free(idx), free(tmp), unique_free(r);
        return VT_ERR_NOMEM;
    }
    for (int64_t k = 0; k < n; k++) idx[k] = k;
    sort_slices(v, idx, tmp, n);
    /* Runs of equal slices in sorted order; each run's first element is its first occurrence. */
    int64_t *run_of = tmp; /* per sorted position: its run number */
    for (int64_t k = 0; k < n; k++) {
        if (k == 0 || slice_cmp(v, idx[k - 1], idx[k]) != 0) r->first[r->n_unique++] = idx[k];
        run_of[k] = r->n_unique - 1;
    }
    int64_t *pos = vt_malloc((size_t)(r->n_unique ? r->n_unique : 1), sizeof *pos);
    if (!pos) {
        free(idx), free(tmp), unique_free(r);
        return VT_ERR_NOMEM;
    }
    bool sorted = vt_attr_int(c->node, "sorted", 1) != 0;
    if (sorted)
        for (int64_t u = 0; u < r->n_unique; u++) pos[u] = u;
    else { /* order of first occurrence: rank the runs by their first slice number */
        int64_t *order = vt_malloc((size_t)(r->n_unique ? r->n_unique : 1), sizeof *order);
        if (!order) {
            free(idx), free(tmp), free(pos), unique_free(r);
            return VT_ERR_NOMEM;
        }
        /* first[] of distinct runs are distinct slice numbers: a counting pass over slices orders them */
        int64_t *run_at = r->inverse; /* scratch: run number whose first occurrence is slice k, else -1 */
        for (int64_t k = 0; k < n; k++) run_at[k] = -1;
        for (int64_t u = 0; u < r->n_unique; u++) run_at[r->first[u]] = u;
        int64_t m = 0;
        for (int64_t k = 0; k < n; k++)
            if (run_at[k] >= 0) order[m++] = run_at[k];
        for (int64_t u = 0; u < r->n_unique; u++) pos[order[u]] = u;
        for (int64_t u = 0; u < r->n_unique; u++) order[pos[u]] = r->first[u];
        memcpy(r->first, order, sizeof *order * (size_t)r->n_unique);
        free(order);
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t u = pos[run_of[k]];
        r->inverse[idx[k]] = u;
        r->counts[u]++;
    }
    free(idx), free(tmp), free(pos);
    return VT_OK;
}

static vt_status unique_infer(vt_opctx *c)
{
    vt_status st = need_values(c, 0, "the input");
    if (st != VT_OK) return st;
    unique_view v;
    unique_result r;
    if ((st = unique_compute(c, &v, &r)) != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int64_t sh[VT_MAX_RANK];
    memcpy(sh, x->shape, sizeof sh);
    bool has_axis = vt_attr_get(c->node, "axis") != NULL;
    if (has_axis) {
        int axis = 0; /* valid: unique_compute checked it */
        vt_axis(vt_attr_int(c->node, "axis", 0), x->rank, &axis);
        sh[axis] = r.n_unique;
    }
    vt_out_set(c->out[0], x->dtype, has_axis ? x->rank : 1, has_axis ? sh : &r.n_unique);
    if (c->n_out > 1) vt_out_set(c->out[1], VT_I64, 1, &r.n_unique);
    if (c->n_out > 2) vt_out_set(c->out[2], VT_I64, 1, &v.dim);
    if (c->n_out > 3) vt_out_set(c->out[3], VT_I64, 1, &r.n_unique);
    unique_free(&r);
    return VT_OK;
}

static vt_status unique_run(vt_opctx *c)
{
    unique_view v;
    unique_result r;
    vt_status st = unique_compute(c, &v, &r);
    if (st != VT_OK) return st;
    size_t es = vt_dtype_size(c->in[0]->dtype), run = (size_t)v.inner * es;
    const char *x = c->in[0]->data;
    char *y = c->out[0]->data;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t u = 0; u < r.n_unique; u++)
            memcpy(y + (size_t)(o * r.n_unique + u) * run, x + (size_t)(o * v.dim + r.first[u]) * run, run);
    int64_t *outs[3] = {r.first, r.inverse, r.counts}, lens[3] = {r.n_unique, v.dim, r.n_unique};
    for (int k = 1; k < c->n_out && k < 4; k++)
        if (c->out[k]) memcpy(c->out[k]->data, outs[k - 1], sizeof(int64_t) * (size_t)lens[k - 1]);
    unique_free(&r);
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "", .type = "NonZero", .since = 9, .infer = nonzero_infer, .run = nonzero_run},
    {.domain = "", .type = "Compress", .since = 9, .infer = compress_infer, .run = compress_run},
    {.domain = "", .type = "Unique", .since = 11, .infer = unique_infer, .run = unique_run},
};

VT_OP_TABLE(vt_ops_select, ops);
