/* Control flow: If, Loop, Scan. Each runs a subgraph (a GRAPH attribute, imported into its own vt_graph)
 * with vt_graph_run_prepared, once or per iteration. The subgraph is prepared by the node's infer for the
 * node's input types and shapes; the enclosing graph's constants it reads (outer scope, the node's last
 * n_outer inputs) are fed to that prepare and folded there, so shapes computed from them stay static.
 * Shapes must be static: If with a condition known only at run time needs both branches to agree, Loop's
 * state and Scan's state keep their shapes, and Loop's scan outputs need a length known at prepare. Layers
 * inside a subgraph are not layers of the model: the node's outputs are. */
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

/* The types, shapes and constants a subgraph's inputs are prepared with. */
typedef struct sub_spec {
    vt_dtype dtype[VT_NN_MAX_IO];
    vt_narrow narrow[VT_NN_MAX_IO];
    vt_shape shape[VT_NN_MAX_IO];
    const vt_tensor *feed[VT_NN_MAX_IO];
} sub_spec;

static vt_graph *sub_of(const vt_opctx *c, const char *name)
{
    const vt_attr *a = vt_attr_get(c->node, name);
    return a && a->type == VT_ATTR_GRAPH ? a->sub : NULL;
}

/* The node's own inputs (without the outer-scope ones). */
static int n_explicit(const vt_opctx *c)
{
    return c->n_in - c->node->n_outer;
}

static bool in_const(const vt_opctx *c, int k)
{
    int v = c->node->in[k];
    return v >= 0 && (c->g->values[v].init || c->g->values[v].folded);
}

static void spec_set(sub_spec *s, int i, vt_dtype dtype, vt_narrow narrow, int rank, const int64_t *shape)
{
    s->dtype[i] = dtype;
    s->narrow[i] = narrow;
    s->shape[i].rank = rank;
    if (rank) memcpy(s->shape[i].dims, shape, sizeof *shape * (size_t)rank);
    s->feed[i] = NULL;
}

/* Input k of the node with one axis removed (axis < 0: none). */
static void spec_from_input(const vt_opctx *c, sub_spec *s, int i, int k, int drop_axis)
{
    const vt_tensor *t = c->in[k];
    int64_t shape[VT_MAX_RANK];
    int r = 0;
    for (int d = 0; d < t->rank; d++)
        if (d != drop_axis) shape[r++] = t->shape[d];
    spec_set(s, i, t->dtype, c->g->values[c->node->in[k]].narrow, r, shape);
}

/* Prepares subgraph `sub` whose first n_decl inputs are described by s, the rest being the node's outer
 * inputs (fed when they are constants of this graph). The subgraph runs with this graph's settings. */
static vt_status prepare_child(const vt_opctx *c, vt_graph *sub, sub_spec *s, int n_decl)
{
    int n_outer = c->node->n_outer;
    if (sub->n_inputs != n_decl + n_outer)
        return vt_node_fail(c, VT_ERR_FORMAT, "its subgraph declares %d inputs, the op gives it %d",
                            sub->n_inputs - sub->n_outer, n_decl);
    for (int j = 0; j < n_outer; j++) {
        int k = n_explicit(c) + j;
        spec_from_input(c, s, n_decl + j, k, -1);
        s->feed[n_decl + j] = in_const(c, k) ? c->in[k] : NULL;
    }
    vt_graph_set_reference(sub, c->g->reference);
    sub->plain_only = c->g->plain_only;
    sub->no_fusion = c->g->no_fusion;
    sub->any_matmul = c->g->any_matmul;
    vt_status st = vt_graph_set_precision(sub, c->g->precision);
    return st == VT_OK ? vt_graph_prepare_sub(sub, s->dtype, s->narrow, s->shape, s->feed) : st;
}

/* Runs the prepared subgraph on its first n_decl inputs `in` and the node's outer inputs; *outs as
 * vt_graph_run_prepared gives them (free with free_outs). */
static vt_status run_child(const vt_opctx *c, vt_graph *sub, const vt_tensor *const *in, int n_decl, vt_tensor ***outs)
{
    const vt_tensor *all[VT_NN_MAX_IO];
    if (!sub->prepared) return vt_node_fail(c, VT_ERR_INTERNAL, "its subgraph is not prepared");
    if (n_decl) memcpy(all, in, sizeof *all * (size_t)n_decl);
    for (int j = 0; j < c->node->n_outer; j++) all[n_decl + j] = c->in[n_explicit(c) + j];
    return vt_graph_run_prepared(sub, all, NULL, NULL, NULL, outs);
}

static void free_outs(const vt_graph *sub, vt_tensor **outs)
{
    for (int i = 0; outs && i < sub->n_outputs; i++) vt_tensor_free(outs[i]);
    free(outs);
}

static const vt_value *sub_output(const vt_graph *sub, int k)
{
    return &sub->values[sub->outputs[k]];
}

static bool same_shape(int ra, const int64_t *a, int rb, const int64_t *b)
{
    return ra == rb && (ra == 0 || memcmp(a, b, sizeof *a * (size_t)ra) == 0);
}

static const char *shape_str(int rank, const int64_t *shape, char *buf, size_t len)
{
    vt_tensor t = {.rank = rank};
    memcpy(t.shape, shape, sizeof *shape * (size_t)rank);
    return vt_tensor_shape_str(&t, buf, len);
}

/* Copies slice idx along `axis` of `big` into `small` (its shape without that axis), or back when put. */
static void slice_copy(const vt_tensor *big, int axis, int64_t idx, vt_tensor *small, bool put)
{
    size_t es = vt_dtype_size(big->dtype);
    int64_t outer = 1, inner = 1, len = big->shape[axis];
    for (int d = 0; d < axis; d++) outer *= big->shape[d];
    for (int d = axis + 1; d < big->rank; d++) inner *= big->shape[d];
    size_t block = (size_t)inner * es;
    char *b = big->data, *s = small->data;
    for (int64_t o = 0; o < outer; o++) {
        char *bp = b + (size_t)(o * len + idx) * block, *sp = s + (size_t)o * block;
        memcpy(put ? bp : sp, put ? sp : bp, block);
    }
}

/* Body output t must have the shape the node's output was sized for (slice: with `axis` removed). */
static vt_status check_slice(const vt_opctx *c, const vt_tensor *t, const vt_tensor *out, int axis, const char *what)
{
    int64_t shape[VT_MAX_RANK];
    int r = 0;
    for (int d = 0; d < out->rank; d++)
        if (d != axis) shape[r++] = out->shape[d];
    if (t->dtype == out->dtype && same_shape(t->rank, t->shape, r, shape)) return VT_OK;
    char a[64], b[64];
    return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                        "%s is %s of shape %s in this iteration, %s of shape %s before (static shapes only)", what,
                        vt_dtype_name(t->dtype), vt_tensor_shape_str(t, a, sizeof a), vt_dtype_name(out->dtype),
                        shape_str(r, shape, b, sizeof b));
}

/* State j entered the body as `entered` and left it as o: the same type and shape (static shapes), and the
 * node's output j is then as input t. */
static vt_status state_out(vt_opctx *c, int j, const vt_tensor *entered, const vt_value *o, const vt_tensor *t)
{
    if (o->dtype != entered->dtype || !same_shape(o->rank, o->shape, entered->rank, entered->shape)) {
        char a[64], b[64];
        return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                            "state %d enters as %s of shape %s and leaves the body as %s of shape %s (ventral needs "
                            "loop-invariant shapes)",
                            j, vt_dtype_name(entered->dtype), vt_tensor_shape_str(entered, a, sizeof a),
                            vt_dtype_name(o->dtype), shape_str(o->rank, o->shape, b, sizeof b));
    }
    vt_out_set(c->out[j], t->dtype, t->rank, t->shape);
    c->out_narrow[j] = o->narrow;
    return VT_OK;
}

/* ---- If ---- */

static vt_status if_infer(vt_opctx *c)
{
    vt_graph *br[2] = {sub_of(c, "then_branch"), sub_of(c, "else_branch")};
    static const char *const names[2] = {"then_branch", "else_branch"};
    if (!br[0] || !br[1]) return vt_node_fail(c, VT_ERR_FORMAT, "needs the graphs then_branch and else_branch");
    vt_status st = VT_OK;
    if (n_explicit(c) < 1 || !c->in[0]) return vt_node_fail(c, VT_ERR_FORMAT, "input 0 (the condition) is required");
    if (vt_tensor_numel(c->in[0]) != 1)
        return vt_node_fail(c, VT_ERR_FORMAT, "its condition must hold one value, not %lld",
                            (long long)vt_tensor_numel(c->in[0]));
    /* A condition known now (the usual case: computed from shapes) takes one branch; only that one must be
     * something ventral runs. */
    int taken = c->in[0]->data ? (vt_elem_i64(c->in[0], 0) != 0 ? 0 : 1) : -1;
    sub_spec spec;
    for (int b = 0; b < 2; b++) {
        if (taken >= 0 && b != taken) continue;
        if ((st = prepare_child(c, br[b], &spec, 0)) != VT_OK) return st;
        if (br[b]->n_outputs != c->n_out)
            return vt_node_fail(c, VT_ERR_FORMAT, "%s has %d outputs, the node %d", names[b], br[b]->n_outputs,
                                c->n_out);
    }
    const vt_graph *first = br[taken >= 0 ? taken : 0];
    for (int k = 0; k < c->n_out; k++) {
        const vt_value *o = sub_output(first, k), *e = taken < 0 ? sub_output(br[1], k) : o;
        if (taken < 0 && (o->dtype != e->dtype || !same_shape(o->rank, o->shape, e->rank, e->shape))) {
            char a[64], b[64];
            return vt_node_fail(
                c, VT_ERR_UNSUPPORTED,
                "output %d is %s of shape %s in then_branch and %s of shape %s in else_branch, and the condition is "
                "known only at run time (ventral needs static shapes: both the same)",
                k, vt_dtype_name(o->dtype), shape_str(o->rank, o->shape, a, sizeof a), vt_dtype_name(e->dtype),
                shape_str(e->rank, e->shape, b, sizeof b));
        }
        vt_out_set(c->out[k], o->dtype, o->rank, o->shape);
        c->out_narrow[k] = o->narrow;
    }
    c->narrow_set = true;
    return VT_OK;
}

static vt_status if_run(vt_opctx *c)
{
    vt_graph *sub = sub_of(c, vt_elem_i64(c->in[0], 0) ? "then_branch" : "else_branch");
    vt_tensor **outs = NULL;
    vt_status st = run_child(c, sub, NULL, 0, &outs);
    for (int k = 0; k < c->n_out && st == VT_OK; k++) {
        if ((st = check_slice(c, outs[k], c->out[k], -1, "an output")) == VT_OK) st = vt_copy_data(c->out[k], outs[k]);
    }
    free_outs(sub, outs);
    return st;
}

/* ---- Loop ---- */

/* Prepares the body for the node's state (inputs 2...), iter_num constant when `iter` is given. */
static vt_status loop_prepare(const vt_opctx *c, vt_graph *body, const vt_tensor *iter)
{
    sub_spec spec;
    int n_state = n_explicit(c) - 2;
    spec_set(&spec, 0, VT_I64, VT_NARROW_NONE, 0, NULL);
    spec.feed[0] = iter;
    spec_set(&spec, 1, VT_BOOL, VT_NARROW_NONE, 0, NULL);
    for (int j = 0; j < n_state; j++) spec_from_input(c, &spec, 2 + j, 2 + j, -1);
    return prepare_child(c, body, &spec, 2 + n_state);
}

/* Whether the body's condition output is true whenever its condition input is: a constant true, or that
 * input passed on through Identity nodes. Then a loop started with a true condition runs every trip. */
static bool cond_stays_true(const vt_graph *body)
{
    int v = body->outputs[0];
    for (;;) {
        const vt_value *val = &body->values[v];
        const vt_tensor *k = val->init ? val->init : val->folded;
        if (k) return vt_tensor_numel(k) == 1 && vt_elem_i64(k, 0) != 0;
        if (v == body->inputs[1]) return true;
        if (val->producer < 0) return false;
        const vt_node *p = &body->nodes[val->producer];
        if (strcmp(p->op_type, "Identity") != 0 || p->n_in < 1 || p->in[0] < 0) return false;
        v = p->in[0];
    }
}

static vt_status loop_infer(vt_opctx *c)
{
    vt_graph *body = sub_of(c, "body");
    int n_state = n_explicit(c) - 2, n_scan = c->n_out - n_state;
    if (!body) return vt_node_fail(c, VT_ERR_FORMAT, "needs the graph body");
    if (n_state < 0 || n_scan < 0)
        return vt_node_fail(c, VT_ERR_FORMAT, "has %d inputs and %d outputs (M, cond, N states -> N states, scans)",
                            n_explicit(c), c->n_out);
    for (int k = 0; k < 2; k++)
        if (c->in[k] && vt_tensor_numel(c->in[k]) != 1)
            return vt_node_fail(c, VT_ERR_FORMAT, "input %d must hold one value", k);
    for (int j = 0; j < n_state; j++)
        if (!c->in[2 + j]) return vt_node_fail(c, VT_ERR_FORMAT, "state input %d is absent", 2 + j);
    /* The body is prepared once for all iterations; only when it needs iter_num as a constant (a Slice at
     * the iteration's position) is it prepared again for each. */
    vt_status st = loop_prepare(c, body, NULL);
    if (st == VT_ERR_UNSUPPORTED) {
        vt_tensor *iter = vt_tensor_new(VT_I64, 0, NULL);
        st = iter ? loop_prepare(c, body, iter) : VT_ERR_NOMEM;
        vt_tensor_free(iter);
    }
    if (st != VT_OK) return st;
    if (body->n_outputs != 1 + n_state + n_scan)
        return vt_node_fail(c, VT_ERR_FORMAT, "its body has %d outputs, the node needs %d (cond, states, scans)",
                            body->n_outputs, 1 + n_state + n_scan);
    if (sub_output(body, 0)->dtype != VT_BOOL ||
        vt_shape_numel(sub_output(body, 0)->rank, sub_output(body, 0)->shape) != 1)
        return vt_node_fail(c, VT_ERR_FORMAT, "its body's first output must be a bool condition");
    for (int j = 0; j < n_state; j++) {
        if ((st = state_out(c, j, c->in[2 + j], sub_output(body, 1 + j), c->in[2 + j])) != VT_OK) return st;
    }
    int64_t trips = 0;
    if (n_scan > 0) {
        /* Scan outputs are as long as the loop runs: that must be known now. */
        if (!c->in[0] || !c->in[0]->data)
            return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                                "its scan outputs need a trip count (input 0) known when the model is prepared; it is "
                                "%s",
                                c->in[0] ? "computed at run time" : "absent");
        trips = vt_elem_i64(c->in[0], 0);
        if (trips < 0) trips = 0;
        if (c->in[1] && !c->in[1]->data)
            return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                                "its scan outputs need the start condition (input 1) known when the model is prepared");
        if (c->in[1] && !vt_elem_i64(c->in[1], 0)) trips = 0;
        if (trips > 0 && !cond_stays_true(body))
            return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                                "its body's condition may end the loop early, so the length of its scan outputs is "
                                "known only at run time (static shapes only)");
    }
    for (int k = 0; k < n_scan; k++) {
        const vt_value *o = sub_output(body, 1 + n_state + k);
        if (o->rank + 1 > VT_MAX_RANK)
            return vt_node_fail(c, VT_ERR_UNSUPPORTED, "scan output %d would have rank %d (at most %d)", k, o->rank + 1,
                                VT_MAX_RANK);
        int64_t shape[VT_MAX_RANK] = {trips};
        memcpy(shape + 1, o->shape, sizeof *shape * (size_t)o->rank);
        vt_out_set(c->out[n_state + k], o->dtype, o->rank + 1, shape);
        c->out_narrow[n_state + k] = o->narrow;
    }
    c->narrow_set = true;
    return VT_OK;
}

static vt_status loop_run(vt_opctx *c)
{
    vt_graph *body = sub_of(c, "body");
    int n_state = n_explicit(c) - 2, n_scan = c->n_out - n_state;
    bool per_iter = body->values[body->inputs[0]].folded != NULL; /* see loop_infer */
    int64_t trips = c->in[0] ? vt_elem_i64(c->in[0], 0) : INT64_MAX;
    int64_t len = n_scan > 0 ? c->out[n_state]->shape[0] : 0;
    bool go = c->in[1] ? vt_elem_i64(c->in[1], 0) != 0 : true;
    const vt_tensor *in[VT_NN_MAX_IO];
    vt_tensor *own[VT_NN_MAX_IO] = {0};
    vt_tensor *iter = vt_tensor_new(VT_I64, 0, NULL), *cond = vt_tensor_new(VT_BOOL, 0, NULL);
    vt_status st = iter && cond ? VT_OK : VT_ERR_NOMEM;
    for (int j = 0; j < n_state; j++) in[2 + j] = c->in[2 + j];
    in[0] = iter;
    in[1] = cond;
    int64_t i = 0;
    for (; i < trips && go && st == VT_OK; i++) {
        if (n_scan > 0 && i >= len) break; /* cannot happen: the trip count is the one of prepare */
        *(int64_t *)iter->data = i;
        *(uint8_t *)cond->data = 1;
        if (per_iter && (st = loop_prepare(c, body, iter)) != VT_OK) break;
        vt_tensor **outs = NULL;
        if ((st = run_child(c, body, in, 2 + n_state, &outs)) != VT_OK) break;
        if (vt_tensor_numel(outs[0]) != 1) {
            st = vt_node_fail(c, VT_ERR_FORMAT, "its body's condition must hold one value");
            free_outs(body, outs);
            break;
        }
        go = vt_elem_i64(outs[0], 0) != 0;
        for (int j = 0; j < n_state && st == VT_OK; j++) {
            if ((st = check_slice(c, outs[1 + j], c->out[j], -1, "a state")) != VT_OK) break;
            vt_tensor_free(own[j]);
            in[2 + j] = own[j] = outs[1 + j];
            outs[1 + j] = NULL;
        }
        for (int k = 0; k < n_scan && st == VT_OK; k++)
            if ((st = check_slice(c, outs[1 + n_state + k], c->out[n_state + k], 0, "a scan output")) == VT_OK)
                slice_copy(c->out[n_state + k], 0, i, outs[1 + n_state + k], true);
        free_outs(body, outs);
    }
    if (st == VT_OK && n_scan > 0 && i != len)
        st = vt_node_fail(c, VT_ERR_UNSUPPORTED,
                          "ran %lld of the %lld iterations its scan outputs were sized for (its condition ended it "
                          "early; static shapes only)",
                          (long long)i, (long long)len);
    for (int j = 0; j < n_state && st == VT_OK; j++) st = vt_copy_data(c->out[j], in[2 + j]);
    for (int j = 0; j < n_state; j++) vt_tensor_free(own[j]);
    vt_tensor_free(iter);
    vt_tensor_free(cond);
    return st;
}

/* ---- Scan ---- */

/* Scan's axes: input j is scanned along in_axis[j] (backwards if in_rev[j]); scan output k is stacked along
 * out_axis[k] (backwards if out_rev[k]). */
typedef struct scan_geom {
    int n_state, n_in, n_out; /* N states, M scan inputs, K scan outputs */
    int in_axis[VT_NN_MAX_IO], out_axis[VT_NN_MAX_IO];
    bool in_rev[VT_NN_MAX_IO], out_rev[VT_NN_MAX_IO];
    int64_t len;
} scan_geom;

/* Runs the scan over states st0 and scan inputs xs (no batch dim) into st_out and ys. */
static vt_status scan_loop(const vt_opctx *c, vt_graph *body, const scan_geom *s, const vt_tensor *const *st0,
                           const vt_tensor *const *xs, vt_tensor **st_out, vt_tensor **ys)
{
    const vt_tensor *in[VT_NN_MAX_IO];
    vt_tensor *own[VT_NN_MAX_IO] = {0}, *slice[VT_NN_MAX_IO] = {0};
    vt_status st = VT_OK;
    for (int j = 0; j < s->n_state; j++) in[j] = st0[j];
    for (int j = 0; j < s->n_in && st == VT_OK; j++) {
        int64_t shape[VT_MAX_RANK];
        int r = 0;
        for (int d = 0; d < xs[j]->rank; d++)
            if (d != s->in_axis[j]) shape[r++] = xs[j]->shape[d];
        in[s->n_state + j] = slice[j] = vt_tensor_new_uninit(xs[j]->dtype, r, shape);
        if (!slice[j]) st = VT_ERR_NOMEM;
    }
    for (int64_t t = 0; t < s->len && st == VT_OK; t++) {
        for (int j = 0; j < s->n_in; j++)
            slice_copy(xs[j], s->in_axis[j], s->in_rev[j] ? s->len - 1 - t : t, slice[j], false);
        vt_tensor **outs = NULL;
        if ((st = run_child(c, body, in, s->n_state + s->n_in, &outs)) != VT_OK) break;
        for (int j = 0; j < s->n_state; j++) {
            vt_tensor_free(own[j]);
            in[j] = own[j] = outs[j];
            outs[j] = NULL;
        }
        for (int k = 0; k < s->n_out && st == VT_OK; k++) {
            vt_tensor *y = outs[s->n_state + k];
            if ((st = check_slice(c, y, ys[k], s->out_axis[k], "a scan output")) == VT_OK)
                slice_copy(ys[k], s->out_axis[k], s->out_rev[k] ? s->len - 1 - t : t, y, true);
        }
        free_outs(body, outs);
    }
    for (int j = 0; j < s->n_state && st == VT_OK; j++) st = vt_copy_data(st_out[j], in[j]);
    for (int j = 0; j < s->n_state; j++) vt_tensor_free(own[j]);
    for (int j = 0; j < s->n_in; j++) vt_tensor_free(slice[j]);
    return st;
}

/* Reads the axis/direction attributes of Scan 9+ (Scan 8: `directions` only, every axis 0 after the batch
 * dim is removed). */
static vt_status scan_geometry(const vt_opctx *c, bool v8, scan_geom *s)
{
    int first = v8 ? 1 : 0;
    int64_t m = vt_attr_int(c->node, "num_scan_inputs", -1);
    memset(s, 0, sizeof *s);
    if (m < 1 || m > n_explicit(c) - first)
        return vt_node_fail(c, VT_ERR_FORMAT, "num_scan_inputs is %lld, with %d inputs", (long long)m, n_explicit(c));
    s->n_in = (int)m;
    s->n_state = n_explicit(c) - first - s->n_in;
    s->n_out = c->n_out - s->n_state;
    if (s->n_out < 0) return vt_node_fail(c, VT_ERR_FORMAT, "has fewer outputs than states");
    for (int j = 0; j < s->n_state + s->n_in; j++)
        if (!c->in[first + j]) return vt_node_fail(c, VT_ERR_FORMAT, "input %d is absent", first + j);
    const int64_t *v;
    int n = vt_attr_ints(c->node, v8 ? "directions" : "scan_input_directions", &v);
    if (n >= 0 && n != s->n_in) return vt_node_fail(c, VT_ERR_FORMAT, "needs one scan input direction per scan input");
    for (int j = 0; j < n; j++) s->in_rev[j] = v[j] != 0;
    if (v8) return VT_OK;
    n = vt_attr_ints(c->node, "scan_input_axes", &v);
    if (n >= 0 && n != s->n_in) return vt_node_fail(c, VT_ERR_FORMAT, "needs one scan input axis per scan input");
    for (int j = 0; j < s->n_in; j++)
        if (!vt_axis(n >= 0 ? v[j] : 0, c->in[s->n_state + j]->rank, &s->in_axis[j]))
            return vt_node_fail(c, VT_ERR_ARG, "scan input axis of input %d is out of range", s->n_state + j);
    n = vt_attr_ints(c->node, "scan_output_directions", &v);
    if (n >= 0 && n != s->n_out) return vt_node_fail(c, VT_ERR_FORMAT, "needs one scan output direction per output");
    for (int k = 0; k < n; k++) s->out_rev[k] = v[k] != 0;
    return VT_OK;
}

static vt_status scan_infer_common(vt_opctx *c, bool v8)
{
    vt_graph *body = sub_of(c, "body");
    if (!body) return vt_node_fail(c, VT_ERR_FORMAT, "needs the graph body");
    scan_geom s;
    vt_status st = scan_geometry(c, v8, &s);
    if (st != VT_OK) return st;
    int first = v8 ? 1 : 0, bdim = v8 ? 1 : 0; /* Scan 8: every input has a batch dim 0 */
    const vt_tensor *x0 = c->in[first + s.n_state];
    if (x0->rank < 1 + bdim) return vt_node_fail(c, VT_ERR_FORMAT, "its scan inputs need a scan axis");
    int64_t len = x0->shape[bdim + s.in_axis[0]], batch = v8 ? x0->shape[0] : 1;
    for (int j = 0; j < s.n_in; j++) {
        const vt_tensor *x = c->in[first + s.n_state + j];
        if (x->rank < 1 + bdim || x->shape[bdim + s.in_axis[j]] != len || (v8 && x->shape[0] != batch))
            return vt_node_fail(c, VT_ERR_FORMAT, "its scan inputs differ in length%s", v8 ? " or batch" : "");
    }
    for (int j = 0; v8 && j < s.n_state; j++)
        if (c->in[first + j]->rank < 1 || c->in[first + j]->shape[0] != batch)
            return vt_node_fail(c, VT_ERR_FORMAT, "state %d has no batch dim of %lld", j, (long long)batch);
    if (v8 && c->in[0] && c->in[0]->data)
        for (int64_t b = 0; b < vt_tensor_numel(c->in[0]); b++)
            if (vt_elem_i64(c->in[0], b) != len)
                return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                                    "sequence_lens shorter than the scan inputs (%lld) are not supported",
                                    (long long)len);
    sub_spec spec;
    for (int j = 0; j < s.n_state; j++) spec_from_input(c, &spec, j, first + j, v8 ? 0 : -1);
    for (int j = 0; j < s.n_in; j++) {
        int k = first + s.n_state + j;
        if (!v8)
            spec_from_input(c, &spec, s.n_state + j, k, s.in_axis[j]);
        else { /* without the batch dim 0 and the scan axis 1 */
            const vt_tensor *x = c->in[k];
            spec_set(&spec, s.n_state + j, x->dtype, c->g->values[c->node->in[k]].narrow, x->rank - 2, x->shape + 2);
        }
    }
    if ((st = prepare_child(c, body, &spec, s.n_state + s.n_in)) != VT_OK) return st;
    if (body->n_outputs != s.n_state + s.n_out)
        return vt_node_fail(c, VT_ERR_FORMAT, "its body has %d outputs, the node %d", body->n_outputs, c->n_out);
    for (int j = 0; j < s.n_state; j++) {
        vt_tensor entered = {.dtype = spec.dtype[j], .rank = spec.shape[j].rank}; /* a header */
        memcpy(entered.shape, spec.shape[j].dims, sizeof entered.shape);
        if ((st = state_out(c, j, &entered, sub_output(body, j), c->in[first + j])) != VT_OK) return st;
    }
    const int64_t *axes;
    int n_axes = vt_attr_ints(c->node, "scan_output_axes", &axes);
    if (!v8 && n_axes >= 0 && n_axes != s.n_out)
        return vt_node_fail(c, VT_ERR_FORMAT, "needs one scan output axis per scan output");
    for (int k = 0; k < s.n_out; k++) {
        const vt_value *o = sub_output(body, s.n_state + k);
        int axis = 0, r = o->rank + 1 + bdim;
        if (r > VT_MAX_RANK)
            return vt_node_fail(c, VT_ERR_UNSUPPORTED, "scan output %d would have rank %d (at most %d)", k, r,
                                VT_MAX_RANK);
        if (!v8 && n_axes >= 0 && !vt_axis(axes[k], o->rank + 1, &axis))
            return vt_node_fail(c, VT_ERR_ARG, "scan output axis %lld is out of range", (long long)axes[k]);
        int64_t shape[VT_MAX_RANK];
        for (int d = 0, src = 0; d < o->rank + 1; d++) shape[bdim + d] = d == axis ? len : o->shape[src++];
        shape[0] = v8 ? batch : shape[0];
        vt_out_set(c->out[s.n_state + k], o->dtype, r, shape);
        c->out_narrow[s.n_state + k] = o->narrow;
    }
    c->narrow_set = true;
    return VT_OK;
}

static vt_status scan9_infer(vt_opctx *c)
{
    return scan_infer_common(c, false);
}

static vt_status scan8_infer(vt_opctx *c)
{
    return scan_infer_common(c, true);
}

/* The output axes of Scan 9+ as the outputs were sized (scan_output_axes, normalised). */
static void scan_out_axes(const vt_opctx *c, scan_geom *s)
{
    const int64_t *axes;
    int n = vt_attr_ints(c->node, "scan_output_axes", &axes);
    for (int k = 0; k < s->n_out; k++) {
        int r = c->out[s->n_state + k]->rank;
        s->out_axis[k] = n < 0 ? 0 : (int)(axes[k] < 0 ? axes[k] + r : axes[k]);
    }
}

static vt_status scan9_run(vt_opctx *c)
{
    scan_geom s;
    vt_status st = scan_geometry(c, false, &s);
    if (st != VT_OK) return st;
    scan_out_axes(c, &s);
    s.len = c->in[s.n_state]->shape[s.in_axis[0]];
    return scan_loop(c, sub_of(c, "body"), &s, c->in, c->in + s.n_state, c->out, c->out + s.n_state);
}

/* Scan 8: the scan of Scan 9 per batch entry (dim 0 of every input and output), over axis 1. */
static vt_status scan8_run(vt_opctx *c)
{
    scan_geom s;
    vt_status st = scan_geometry(c, true, &s);
    if (st != VT_OK) return st;
    int n_io = s.n_state + s.n_in;
    const vt_tensor *x0 = c->in[1 + s.n_state];
    int64_t batch = x0->shape[0];
    s.len = x0->shape[1];
    if (c->in[0])
        for (int64_t b = 0; b < vt_tensor_numel(c->in[0]); b++)
            if (vt_elem_i64(c->in[0], b) != s.len)
                return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                                    "sequence_lens shorter than the scan inputs (%lld) are not supported",
                                    (long long)s.len);
    /* Per batch entry: the inputs' and outputs' slices (without dim 0). */
    vt_tensor *in_b[VT_NN_MAX_IO] = {0}, *out_b[VT_NN_MAX_IO] = {0};
    for (int j = 0; j < n_io && st == VT_OK; j++) {
        const vt_tensor *t = c->in[1 + j];
        if (!(in_b[j] = vt_tensor_new_uninit(t->dtype, t->rank - 1, t->shape + 1))) st = VT_ERR_NOMEM;
    }
    for (int k = 0; k < c->n_out && st == VT_OK; k++) {
        const vt_tensor *t = c->out[k];
        if (!(out_b[k] = vt_tensor_new_uninit(t->dtype, t->rank - 1, t->shape + 1))) st = VT_ERR_NOMEM;
    }
    for (int64_t b = 0; b < batch && st == VT_OK; b++) {
        for (int j = 0; j < n_io; j++) slice_copy(c->in[1 + j], 0, b, in_b[j], false);
        st = scan_loop(c, sub_of(c, "body"), &s, (const vt_tensor *const *)in_b,
                       (const vt_tensor *const *)in_b + s.n_state, out_b, out_b + s.n_state);
        for (int k = 0; k < c->n_out && st == VT_OK; k++) slice_copy(c->out[k], 0, b, out_b[k], true);
    }
    for (int j = 0; j < n_io; j++) vt_tensor_free(in_b[j]);
    for (int k = 0; k < c->n_out; k++) vt_tensor_free(out_b[k]);
    return st;
}

static const vt_op ops[] = {
    /* Opsets 11, 13 and 16 of If and Loop add sequence and optional types, which ventral does not have:
     * for tensors, the semantics are those of opset 1. */
    {.domain = "", .type = "If", .since = 1, .infer = if_infer, .run = if_run},
    {.domain = "", .type = "Loop", .since = 1, .infer = loop_infer, .run = loop_run},
    {.domain = "", .type = "Scan", .since = 8, .infer = scan8_infer, .run = scan8_run},
    {.domain = "", .type = "Scan", .since = 9, .infer = scan9_infer, .run = scan9_run},
};

VT_OP_TABLE(vt_ops_control, ops);
