/* Graph IR: construction (for the importer), accessors, and the prepare phase (static shape
 * inference + constant folding + the layer list and each value's last consumer). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"

vt_graph *vt_graph_new(const char *what)
{
    vt_graph *g = vt_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->what = strdup(what ? what : "model");
    const char *plain = getenv("VENTRAL_NN_PLAIN"), *nofuse = getenv("VENTRAL_NN_NO_FUSION");
    const char *anymm = getenv("VENTRAL_NN_ANY_MATMUL");
    g->plain_only = plain && plain[0] && strcmp(plain, "0") != 0;
    g->no_fusion = nofuse && nofuse[0] && strcmp(nofuse, "0") != 0;
    g->any_matmul = anymm && anymm[0] && strcmp(anymm, "0") != 0;
    if (!g->what) {
        free(g);
        vt_fail(VT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return g;
}

void vt_attr_clear(vt_attr *a)
{
    free(a->name);
    free(a->s);
    vt_tensor_free(a->t);
    free(a->floats);
    free(a->ints);
    for (int i = 0; a->strings && i < a->n; i++) free(a->strings[i]);
    free(a->strings);
    vt_graph_free(a->sub);
    memset(a, 0, sizeof *a);
}

static void release_states(vt_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        vt_node *n = &g->nodes[i];
        if (n->state && n->op && n->op->release) n->op->release(n);
        n->state = NULL;
    }
}

void vt_graph_free(vt_graph *g)
{
    if (!g) return;
    release_states(g);
    for (int i = 0; i < g->n_nodes; i++) {
        vt_node *n = &g->nodes[i];
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n->in);
        free(n->out);
        for (int k = 0; k < n->n_attrs; k++) vt_attr_clear(&n->attrs[k]);
        free(n->attrs);
    }
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        vt_tensor_free(g->values[i].init);
        vt_tensor_free(g->values[i].folded);
    }
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->layers);
    free(g->what);
    vt_pool_clear(g);
    for (int i = 0; i < VT_NN_SCRATCH; i++) free(g->scratch[i]);
    free(g);
}

int vt_graph_find_value(const vt_graph *g, const char *name)
{
    /* Linear search is fine at import scale only when called rarely; the importer keeps its own
     * hash map for the hot path (see onnx_import.c). */
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0) return i;
    return -1;
}

int vt_graph_add_value(vt_graph *g, const char *name)
{
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? 2 * g->cap_values : 256;
        vt_value *v = realloc(g->values, sizeof *v * (size_t)cap);
        if (!v) return vt_fail(VT_ERR_NOMEM, "out of memory"), -1;
        g->values = v;
        g->cap_values = cap;
    }
    vt_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = strdup(name);
    if (!v->name) return vt_fail(VT_ERR_NOMEM, "out of memory"), -1;
    v->rank = -1;
    v->producer = -1;
    v->last_use = -1;
    return g->n_values++;
}

vt_node *vt_graph_add_node(vt_graph *g)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 128;
        vt_node *n = realloc(g->nodes, sizeof *n * (size_t)cap);
        if (!n) return vt_fail(VT_ERR_NOMEM, "out of memory"), NULL;
        g->nodes = n;
        g->cap_nodes = cap;
    }
    vt_node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    n->first_layer = -1;
    return n;
}

/* ---- attributes ---- */

const vt_attr *vt_attr_get(const vt_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t vt_attr_int(const vt_node *n, const char *name, int64_t dflt)
{
    const vt_attr *a = vt_attr_get(n, name);
    return a && a->type == VT_ATTR_INT ? a->i : dflt;
}

float vt_attr_float(const vt_node *n, const char *name, float dflt)
{
    const vt_attr *a = vt_attr_get(n, name);
    if (a && a->type == VT_ATTR_FLOAT) return a->f;
    if (a && a->type == VT_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *vt_attr_str(const vt_node *n, const char *name, const char *dflt)
{
    const vt_attr *a = vt_attr_get(n, name);
    return a && a->type == VT_ATTR_STRING ? a->s : dflt;
}

int vt_attr_ints(const vt_node *n, const char *name, const int64_t **v)
{
    const vt_attr *a = vt_attr_get(n, name);
    if (!a || a->type != VT_ATTR_INTS) {
        *v = NULL;
        return -1;
    }
    *v = a->ints;
    return a->n;
}

vt_status vt_node_fail(const vt_opctx *c, vt_status st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const vt_node *n = c->node;
    if (!n->name[0]) /* unnamed: its position, as the import names it */
        return vt_fail(st, "%s: node #%td (%s, opset %d): %s", c->g->what, n - c->g->nodes, n->op_type, n->opset, msg);
    return vt_fail(st, "%s: node '%s' (%s, opset %d): %s", c->g->what, n->name, n->op_type, n->opset, msg);
}

int64_t vt_shape_numel(int rank, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= shape[i];
    return n;
}

void vt_out_set(vt_tensor *out, vt_dtype dtype, int rank, const int64_t *shape)
{
    out->dtype = dtype;
    out->rank = rank;
    for (int i = 0; i < rank; i++) out->shape[i] = shape[i];
}

vt_status vt_const_ints(const vt_opctx *c, int k, int64_t *v, int cap, int *n)
{
    const vt_tensor *t = k < c->n_in ? c->in[k] : NULL;
    if (!t) return vt_node_fail(c, VT_ERR_INTERNAL, "input %d is absent", k);
    if (!t->data)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input %d must be a constant (computed from the input shape only)",
                            k);
    int64_t m = vt_tensor_numel(t);
    if (m > cap)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input %d has %lld values (at most %d)", k, (long long)m, cap);
    if (t->dtype != VT_I64 && t->dtype != VT_I32)
        return vt_node_fail(c, VT_ERR_ARG, "input %d must be int64, not %s", k, vt_dtype_name(t->dtype));
    for (int64_t i = 0; i < m; i++) v[i] = t->dtype == VT_I64 ? ((int64_t *)t->data)[i] : ((int32_t *)t->data)[i];
    *n = (int)m;
    return VT_OK;
}

/* ---- accessors ---- */

int vt_graph_input_count(const vt_graph *g)
{
    return g ? g->n_inputs : 0;
}

vt_status vt_graph_input(const vt_graph *g, int i, const char **name, vt_dtype *dtype, vt_shape *shape)
{
    if (!g || i < 0 || i >= g->n_inputs) return vt_fail(VT_ERR_ARG, "graph input %d does not exist", i);
    const vt_value *v = &g->values[g->inputs[i]];
    if (name) *name = v->name;
    if (dtype) *dtype = v->decl_dtype;
    if (shape) {
        shape->rank = v->decl_rank;
        memcpy(shape->dims, v->decl_shape, sizeof shape->dims);
    }
    return VT_OK;
}

int vt_graph_output_count(const vt_graph *g)
{
    return g ? g->n_outputs : 0;
}

const char *vt_graph_output_name(const vt_graph *g, int i)
{
    return g && i >= 0 && i < g->n_outputs ? g->values[g->outputs[i]].name : NULL;
}

static const char *model_type(const vt_value *v)
{
    return v->narrow ? vt_narrow_name(v->narrow) : vt_dtype_name(v->dtype);
}

const char *vt_graph_output_type(const vt_graph *g, int i)
{
    return g && g->prepared && i >= 0 && i < g->n_outputs ? model_type(&g->values[g->outputs[i]]) : NULL;
}

int vt_graph_layer_count(const vt_graph *g)
{
    return g && g->prepared ? g->n_layers : 0;
}

vt_status vt_graph_layer(const vt_graph *g, int index, vt_layer_info *info)
{
    if (!g || !g->prepared || index < 0 || index >= g->n_layers)
        return vt_fail(VT_ERR_ARG, "layer %d does not exist", index);
    const vt_layer *l = &g->layers[index];
    const vt_value *v = &g->values[l->value];
    info->index = index;
    info->name = l->name;
    info->op = g->nodes[l->node].op_type;
    info->output = v->name;
    info->dtype = v->dtype;
    info->model_type = model_type(v);
    info->rank = v->rank;
    info->shape = v->shape;
    info->seconds = g->nodes[l->node].seconds;
    info->fused = g->nodes[l->node].fused;
    info->batch_axis = l->batch_axis;
    info->merged_axis = l->merged_outer >= 0 ? l->merged_axis : -1;
    info->merged_outer = l->merged_outer == 1;
    return VT_OK;
}

void vt_graph_set_locate_stimuli(vt_graph *g, bool on)
{
    if (g) g->no_probe = !on;
}

void vt_graph_set_reference(vt_graph *g, bool reference)
{
    if (g->reference != reference) release_states(g);
    g->reference = reference;
}

/* ---- prepare ---- */

/* A header describing value v for an op call: data only when v is constant. */
static void value_header(const vt_value *v, vt_tensor *h)
{
    memset(h, 0, sizeof *h);
    h->dtype = v->dtype;
    h->rank = v->rank;
    memcpy(h->shape, v->shape, sizeof h->shape);
    h->storage = VT_STORAGE_BORROWED;
    const vt_tensor *c = v->init ? v->init : v->folded;
    if (c) h->data = c->data;
}

static bool is_const(const vt_value *v)
{
    return v->init || v->folded;
}

/* Whether value `from` is among the values that value `to` is computed from (or is it). The data of a
 * shape-only op's inputs (Shape, Size) never reaches its output, so the walk stops there: a length taken
 * from the stimuli's shape does not make the stimuli themselves shape-deciding. */
static bool computes(const vt_graph *g, int from, int to, bool *seen, int *stack)
{
    int top = 0;
    memset(seen, 0, sizeof *seen * (size_t)g->n_values);
    if (to >= 0) stack[top++] = to, seen[to] = true;
    while (top > 0) {
        int v = stack[--top];
        if (v == from) return true;
        int p = g->values[v].producer;
        if (p >= 0 && g->nodes[p].op->shape_only) continue;
        for (int k = 0; p >= 0 && k < g->nodes[p].n_in; k++) {
            int w = g->nodes[p].in[k];
            if (w >= 0 && !seen[w]) seen[w] = true, stack[top++] = w;
        }
    }
    return false;
}

/* Whether value v decides, through what is computed from it, a length that depends on values: the trip
 * count or the start condition of a Loop with scan outputs (those outputs are as long as the loop runs; a
 * float input does, in Range's expansion: ceil((limit - start) / delta) iterations), or what NonZero, Unique
 * and Compress's condition select (NonZero(x > 0)), or how many boxes NonMaxSuppression keeps. Fed as a
 * graph input it is then folded like the integer inputs, and everything computed from it with it. */
static bool decides_length(const vt_graph *g, int v)
{
    bool *seen = NULL;
    int *stack = NULL;
    bool found = false;
    for (int i = 0; i < g->n_nodes && !found; i++) {
        const vt_node *n = &g->nodes[i];
        int states = n->n_in - n->n_outer - 2, first = 0, last = -1;
        if (n->domain[0]) continue;
        if (!strcmp(n->op_type, "Loop") && n->n_out > states)
            last = 1;
        else if (!strcmp(n->op_type, "NonZero") || !strcmp(n->op_type, "Unique"))
            last = 0;
        else if (!strcmp(n->op_type, "Compress"))
            first = last = 1;
        else if (!strcmp(n->op_type, "NonMaxSuppression"))
            last = 4; /* boxes, scores and the three limits all decide how many are selected */
        if (last < 0) continue;
        if (!seen) {
            seen = vt_malloc((size_t)g->n_values, sizeof *seen);
            stack = vt_malloc((size_t)g->n_values, sizeof *stack);
            if (!seen || !stack) break; /* then the op refuses with its own message */
        }
        for (int k = first; k <= last && k < n->n_in && !found; k++) found = computes(g, v, n->in[k], seen, stack);
    }
    free(seen);
    free(stack);
    return found;
}

/* Whether value v is read as a float that defines a shape (Resize's roi, scales; Upsample's scales; Range's
 * start, limit, delta; OneHot's depth) or decides a length (decides_length): fed as a graph input, it is then
 * folded like the integer inputs, as the output shape cannot be known without it. */
static bool shape_defining(const vt_graph *g, int v)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const vt_node *n = &g->nodes[i];
        bool resize = !strcmp(n->op_type, "Resize") || !strcmp(n->op_type, "Upsample"),
             range = !strcmp(n->op_type, "Range");
        if (resize || range) {
            for (int k = range ? 0 : 1; k < n->n_in; k++)
                if (n->in[k] == v) return true;
        } else if (!strcmp(n->op_type, "OneHot") && n->n_in > 1 && n->in[1] == v)
            return true;
    }
    return decides_length(g, v);
}

/* The narrow type (narrow.h) of a node's float32 outputs when the op does not set it: that of its
 * first narrow float input, else of its "value" tensor attribute (Constant, ConstantOfShape). */
static vt_narrow node_narrow(const vt_opctx *c)
{
    for (int k = 0; k < c->n_in; k++)
        if (c->in[k] && c->in[k]->dtype == VT_F32 && c->in_narrow[k]) return c->in_narrow[k];
    for (int a = 0; a < c->node->n_attrs; a++)
        if (c->node->attrs[a].type == VT_ATTR_TENSOR && !strcmp(c->node->attrs[a].name, "value"))
            return c->node->attrs[a].t_narrow;
    return VT_NARROW_NONE;
}

static vt_status prepare_once(vt_graph *g, int n_inputs, const vt_shape *shapes)
{
    if (!g) return vt_fail(VT_ERR_ARG, "graph is NULL");
    if (shapes && n_inputs != g->n_inputs)
        return vt_fail(VT_ERR_ARG, "%s: the model has %d inputs, %d shapes given", g->what, g->n_inputs, n_inputs);
    if (g->n_inputs > VT_NN_MAX_IO) return vt_fail(VT_ERR_UNSUPPORTED, "%s: too many graph inputs", g->what);
    release_states(g);
    vt_pool_clear(g); /* new shapes: the old buffer sizes will not recur */
    g->prepared = false;
    g->int_feed = false;
    free(g->layers);
    g->layers = NULL;
    g->n_layers = 0;
    for (int i = 0; i < g->n_values; i++) {
        vt_value *v = &g->values[i];
        vt_tensor_free(v->folded);
        v->folded = NULL;
        v->last_use = -1;
        v->readers = 0;
        v->narrow = v->decl_narrow;
        if (v->init) {
            v->dtype = v->init->dtype;
            v->rank = v->init->rank;
            memcpy(v->shape, v->init->shape, sizeof v->shape);
        } else
            v->rank = -1;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        vt_value *v = &g->values[g->inputs[i]];
        vt_shape s;
        if (shapes)
            s = shapes[i];
        else {
            s.rank = v->decl_rank;
            for (int d = 0; d < s.rank; d++) s.dims[d] = v->decl_shape[d] < 0 ? 1 : v->decl_shape[d];
        }
        if (s.rank < 0 || s.rank > VT_MAX_RANK)
            return vt_fail(VT_ERR_ARG, "%s: input '%s' needs a shape (its rank is not declared)", g->what, v->name);
        if (v->decl_rank >= 0 && s.rank != v->decl_rank)
            return vt_fail(VT_ERR_ARG, "%s: input '%s' has rank %d, %d given", g->what, v->name, v->decl_rank, s.rank);
        for (int d = 0; d < s.rank; d++) {
            if (s.dims[d] < 0) return vt_fail(VT_ERR_ARG, "%s: input '%s': negative dimension", g->what, v->name);
            /* The stimulus probe (find_batch_axes) enlarges dim 0 even where the export fixed it to its
             * tracing batch: most such graphs are batch-agnostic inside, and the probe then sees it. */
            if (g->probing && d == 0) continue;
            if (v->decl_rank >= 0 && v->decl_shape[d] >= 0 && v->decl_shape[d] != s.dims[d])
                return vt_fail(VT_ERR_ARG, "%s: input '%s' dimension %d is fixed to %lld in the model, %lld given%s",
                               g->what, v->name, d, (long long)v->decl_shape[d], (long long)s.dims[d],
                               d == 0 ? " (export with a symbolic batch dimension, e.g. torch.onnx.export("
                                        "dynamic_axes=...))"
                                      : "");
        }
        v->dtype = v->decl_dtype;
        v->rank = s.rank;
        memcpy(v->shape, s.dims, sizeof v->shape);
        g->prepared_shapes[i] = s;
        const vt_tensor *fed = g->feed ? g->feed[i] : NULL;
        if (fed && (g->is_sub || !vt_dtype_is_float(fed->dtype) || shape_defining(g, g->inputs[i]))) {
            vt_status st = vt_tensor_convert(fed, fed->dtype, &v->folded);
            if (st != VT_OK) return st;
            g->int_feed = true;
        }
    }

    int cap_layers = 0;
    for (int i = 0; i < g->n_nodes; i++) cap_layers += g->nodes[i].n_out;
    g->layers = vt_calloc((size_t)(cap_layers ? cap_layers : 1), sizeof *g->layers);
    if (!g->layers) return VT_ERR_NOMEM;

    vt_tensor hin[VT_NN_MAX_IO], hout[VT_NN_MAX_IO];
    for (int i = 0; i < g->n_nodes; i++) {
        vt_node *n = &g->nodes[i];
        vt_opctx c = {.g = g, .node = n, .n_in = n->n_in, .n_out = n->n_out};
        bool all_const = !n->op->no_fold;
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k] < 0) continue;
            vt_value *v = &g->values[n->in[k]];
            if (v->rank < 0)
                return vt_fail(VT_ERR_FORMAT, "%s: node '%s' (%s) reads '%s' before any node produces it", g->what,
                               n->name, n->op_type, v->name);
            value_header(v, &hin[k]);
            c.in[k] = &hin[k];
            c.in_narrow[k] = v->narrow;
            if (!is_const(v)) all_const = false;
        }
        for (int k = 0; k < n->n_out; k++) {
            memset(&hout[k], 0, sizeof hout[k]);
            hout[k].rank = -1;
            c.out[k] = &hout[k];
        }
        if (n->op->shape_only) all_const = true; /* shapes are static after prepare */
        vt_status st = n->op->infer(&c);
        if (st != VT_OK) return st;
        vt_narrow narrow = node_narrow(&c);
        for (int k = 0; k < n->n_out; k++) {
            if (hout[k].rank < 0) return vt_node_fail(&c, VT_ERR_INTERNAL, "output %d was not inferred", k);
            if (n->out[k] < 0) continue;
            vt_value *v = &g->values[n->out[k]];
            v->narrow = hout[k].dtype != VT_F32 ? VT_NARROW_NONE : c.narrow_set ? c.out_narrow[k] : narrow;
            v->dtype = hout[k].dtype;
            v->rank = hout[k].rank;
            memcpy(v->shape, hout[k].shape, sizeof v->shape);
        }
        n->folded = all_const;
        n->first_layer = -1;
        n->seconds = 0;
        n->fused = false;
        if (all_const) {
            vt_tensor *outs[VT_NN_MAX_IO] = {0};
            for (int k = 0; k < n->n_out && st == VT_OK; k++) {
                outs[k] = vt_tensor_new(hout[k].dtype, hout[k].rank, hout[k].shape);
                if (!outs[k]) st = VT_ERR_NOMEM;
                c.out[k] = outs[k];
            }
            if (st == VT_OK) st = n->op->run(&c);
            for (int k = 0; k < n->n_out; k++) {
                if (st == VT_OK && n->out[k] >= 0) {
                    vt_value *v = &g->values[n->out[k]];
                    vt_narrow_round(v->narrow, outs[k]->data, vt_tensor_numel(outs[k]));
                    v->folded = outs[k];
                } else
                    vt_tensor_free(outs[k]);
            }
            if (n->state && n->op->release) n->op->release(n);
            n->state = NULL;
            if (st != VT_OK) return st;
            continue;
        }
        int present = 0;
        for (int k = 0; k < n->n_out; k++) present += n->out[k] >= 0;
        for (int k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0) continue;
            vt_layer *l = &g->layers[g->n_layers];
            if (n->first_layer < 0) n->first_layer = g->n_layers;
            l->node = i;
            l->out_slot = k;
            l->value = n->out[k];
            l->batch_axis = -1;
            l->merged_axis = -1;
            l->merged_outer = -1;
            l->name = present == 1 && n->name[0] ? n->name : g->values[n->out[k]].name;
            g->n_layers++;
        }
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !is_const(&g->values[n->in[k]])) {
                g->values[n->in[k]].last_use = i;
                g->values[n->in[k]].readers++;
            }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->values[g->outputs[i]].rank < 0)
            return vt_fail(VT_ERR_FORMAT, "%s: graph output '%s' is not produced by any node", g->what,
                           g->values[g->outputs[i]].name);
    g->prepared = true;
    return VT_OK;
}

vt_status vt_graph_prepare_sub(vt_graph *g, const vt_dtype *dtypes, const vt_narrow *narrow, const vt_shape *shapes,
                               const vt_tensor *const *feed)
{
    for (int i = 0; i < g->n_inputs; i++) {
        vt_value *v = &g->values[g->inputs[i]];
        if (!v->untyped && v->decl_dtype != dtypes[i])
            return vt_fail(VT_ERR_FORMAT, "%s: input '%s' is declared %s, the enclosing graph gives %s", g->what,
                           v->name, vt_dtype_name(v->decl_dtype), vt_dtype_name(dtypes[i]));
        v->decl_dtype = dtypes[i];
        v->decl_narrow = narrow ? narrow[i] : VT_NARROW_NONE;
    }
    g->feed = feed;
    vt_status st = prepare_once(g, g->n_inputs, shapes);
    g->feed = NULL;
    return st;
}

/* Which dim of each layer holds the stimuli: prepare once more with every batch dimension one
 * larger and see which dims follow. Shape inference is cheap next to a run, and this keeps the
 * op implementations free of any batch bookkeeping. */
static void find_batch_axes(vt_graph *g, int n_inputs, const vt_shape *shapes)
{
    for (int i = 0; i < g->n_layers; i++) g->layers[i].batch_axis = -1;
    if (n_inputs < 1 || shapes[0].rank < 1 || n_inputs > VT_NN_MAX_IO || g->int_feed) return;
    int64_t b = shapes[0].dims[0];
    int n = g->n_layers;
    int64_t(*before)[VT_MAX_RANK] = vt_malloc((size_t)n, sizeof *before);
    int *ranks = vt_malloc((size_t)n, sizeof *ranks), *axes = vt_malloc((size_t)n, sizeof *axes);
    int *merged = vt_malloc((size_t)n, sizeof *merged);
    vt_shape more[VT_NN_MAX_IO];
    if (!before || !ranks || !axes || !merged) goto done;
    for (int i = 0; i < n; i++) {
        const vt_value *v = &g->values[g->layers[i].value];
        ranks[i] = v->rank;
        memcpy(before[i], v->shape, sizeof before[i]);
    }
    for (int k = 0; k < n_inputs; k++) {
        more[k] = shapes[k];
        if (more[k].rank > 0 && more[k].dims[0] == b) more[k].dims[0] = b + 1;
    }
    g->probing = true;
    vt_status probe = prepare_once(g, n_inputs, more);
    g->probing = false;
    if (probe != VT_OK || g->n_layers != n) goto done;
    for (int i = 0; i < n; i++) {
        const vt_value *v = &g->values[g->layers[i].value];
        int axis = -1, changed = 0, merge = -1;
        if (v->rank == ranks[i])
            for (int d = 0; d < v->rank; d++)
                if (v->shape[d] != before[i][d]) {
                    changed++;
                    if (before[i][d] == b && v->shape[d] == b + 1)
                        axis = d;
                    else if (b > 0 && before[i][d] % b == 0 && v->shape[d] % (b + 1) == 0 &&
                             before[i][d] / b == v->shape[d] / (b + 1))
                        merge = d;
                }
        axes[i] = changed == 1 ? axis : -1;
        merged[i] = changed == 1 && axis < 0 ? merge : -1;
    }
    if (prepare_once(g, n_inputs, shapes) != VT_OK) goto done;
    for (int i = 0; i < n; i++) g->layers[i].batch_axis = axes[i], g->layers[i].merged_axis = merged[i];
done:
    free(before);
    free(ranks);
    free(axes);
    free(merged);
}

/* ---- where the stimuli sit inside a merged dim ----
 * Shapes cannot tell [N*k] from [k*N]. Run the graph once on two identical stimuli: in each merged
 * layer, either the two halves of the dim are equal (stimulus outer) or its even and odd entries are
 * (stimulus inner). Every output element is computed independently of its batch position, so the
 * copies agree to the bit. */

typedef struct probe_ctx {
    const vt_graph *g;
    int *outer; /* per layer: 1, 0, or -1 */
} probe_ctx;

static bool slices_equal(const vt_tensor *t, int d, bool outer)
{
    int64_t pre = 1, post = 1, m = t->shape[d], k = m / 2;
    for (int i = 0; i < d; i++) pre *= t->shape[i];
    for (int i = d + 1; i < t->rank; i++) post *= t->shape[i];
    size_t es = vt_dtype_size(t->dtype);
    const char *p = t->data;
    for (int64_t a = 0; a < pre; a++)
        for (int64_t j = 0; j < k; j++) {
            int64_t j0 = outer ? j : 2 * j, j1 = outer ? j + k : 2 * j + 1;
            if (memcmp(p + (size_t)((a * m + j0) * post) * es, p + (size_t)((a * m + j1) * post) * es,
                       (size_t)post * es) != 0)
                return false;
        }
    return true;
}

static vt_status probe_cb(void *user, const vt_layer_info *l, const vt_tensor *t)
{
    probe_ctx *pc = user;
    const vt_layer *layer = &pc->g->layers[l->index];
    int d = layer->merged_axis;
    if (d < 0 || d >= t->rank || t->shape[d] % 2) return VT_OK;
    bool o = slices_equal(t, d, true), in = slices_equal(t, d, false);
    pc->outer[l->index] = o && !in ? 1 : in && !o ? 0 : -1;
    return VT_OK;
}

static void probe_merged(vt_graph *g, int n_inputs, const vt_shape *shapes)
{
    int n = g->n_layers, any = 0;
    for (int i = 0; i < n; i++) any += g->layers[i].merged_axis >= 0;
    if (!any || g->int_feed || g->reference || g->no_probe) return;
    int64_t b = shapes[0].dims[0];
    vt_shape two[VT_NN_MAX_IO];
    vt_tensor *in[VT_NN_MAX_IO] = {0};
    int *outer = vt_malloc((size_t)n, sizeof *outer), *maxis = vt_malloc((size_t)n, sizeof *maxis);
    int *baxis = vt_malloc((size_t)n, sizeof *baxis);
    if (!outer || !maxis || !baxis) {
        free(outer);
        free(maxis);
        free(baxis);
        return;
    }
    for (int i = 0; i < n; i++) outer[i] = -1, maxis[i] = g->layers[i].merged_axis, baxis[i] = g->layers[i].batch_axis;
    vt_capture *all = NULL;
    bool ok = vt_capture_parse("all", &all) == VT_OK;
    for (int k = 0; ok && k < n_inputs; k++) {
        two[k] = shapes[k];
        if (two[k].rank > 0 && two[k].dims[0] == b) two[k].dims[0] = 2;
    }
    ok = ok && prepare_once(g, n_inputs, two) == VT_OK && g->n_layers == n;
    for (int k = 0; ok && k < n_inputs; k++) {
        const vt_value *v = &g->values[g->inputs[k]];
        ok = vt_dtype_is_float(v->dtype) && (in[k] = vt_tensor_new(v->dtype, two[k].rank, two[k].dims)) != NULL;
        if (!ok) break;
        int64_t m = vt_tensor_numel(in[k]), half = two[k].dims[0] == 2 ? m / 2 : m;
        uint64_t st = 0x9e3779b97f4a7c15ULL + (uint64_t)k;
        for (int64_t j = 0; j < m; j++) {
            if (j < half) st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            double val = j < half ? (double)(st >> 11) / 9007199254740992.0 * 2 - 1 : vt_tensor_get(in[k], j - half);
            if (v->dtype == VT_F32)
                vt_tensor_f32(in[k])[j] = (float)val;
            else
                vt_tensor_f64(in[k])[j] = val;
        }
    }
    if (ok) {
        for (int i = 0; i < n; i++) g->layers[i].merged_axis = maxis[i];
        probe_ctx pc = {g, outer};
        ok = vt_graph_run_prepared(g, (const vt_tensor *const *)in, all, probe_cb, &pc, NULL) == VT_OK;
    }
    for (int k = 0; k < n_inputs; k++) vt_tensor_free(in[k]);
    vt_capture_free(all);
    /* Back to the caller's shapes, with the layer facts found before and by the probe. */
    if (prepare_once(g, n_inputs, shapes) == VT_OK && g->n_layers == n)
        for (int i = 0; i < n; i++) {
            g->layers[i].batch_axis = baxis[i];
            g->layers[i].merged_axis = maxis[i];
            g->layers[i].merged_outer = ok ? outer[i] : -1;
        }
    free(outer);
    free(maxis);
    free(baxis);
}

vt_status vt_graph_prepare(vt_graph *g, int n_inputs, const vt_shape *shapes)
{
    if (!g) return vt_fail(VT_ERR_ARG, "graph is NULL");
    vt_status st = prepare_once(g, n_inputs, shapes);
    if (st != VT_OK) return st;
    if (!shapes) {
        n_inputs = g->n_inputs;
        shapes = g->prepared_shapes;
    }
    vt_shape copy[VT_NN_MAX_IO];
    memcpy(copy, shapes, sizeof *copy * (size_t)n_inputs);
    find_batch_axes(g, n_inputs, copy);
    if (g->prepared && g->n_layers > 0) probe_merged(g, n_inputs, copy);
    /* A probe that failed half-way leaves the graph unprepared or at the probe's shapes: restore. */
    bool same = g->prepared;
    for (int i = 0; same && i < n_inputs; i++)
        same = g->prepared_shapes[i].rank == copy[i].rank &&
               (copy[i].rank == 0 || g->prepared_shapes[i].dims[0] == copy[i].dims[0]);
    return same ? VT_OK : prepare_once(g, n_inputs, copy);
}
