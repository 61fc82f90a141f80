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
    if (m > cap) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input %d has %lld values (at most %d)", k, (long long)m, cap);
    if (t->dtype != VT_I64 && t->dtype != VT_I32)
        return vt_node_fail(c, VT_ERR_ARG, "input %d must be int64, not %s", k, vt_dtype_name(t->dtype));
    for (int64_t i = 0; i < m; i++) v[i] = t->dtype == VT_I64 ? ((int64_t *)t->data)[i] : ((int32_t *)t->data)[i];
    *n = (int)m;
    return VT_OK;
}

/* ---- accessors ---- */

int vt_graph_input_count(const vt_graph *g) { return g ? g->n_inputs : 0; }

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

int vt_graph_output_count(const vt_graph *g) { return g ? g->n_outputs : 0; }

const char *vt_graph_output_name(const vt_graph *g, int i)
{
    return g && i >= 0 && i < g->n_outputs ? g->values[g->outputs[i]].name : NULL;
}

int vt_graph_layer_count(const vt_graph *g) { return g && g->prepared ? g->n_layers : 0; }

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
    info->rank = v->rank;
    info->shape = v->shape;
    return VT_OK;
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

static bool is_const(const vt_value *v) { return v->init || v->folded; }

vt_status vt_graph_prepare(vt_graph *g, int n_inputs, const vt_shape *shapes)
{
    if (!g) return vt_fail(VT_ERR_ARG, "graph is NULL");
    if (shapes && n_inputs != g->n_inputs)
        return vt_fail(VT_ERR_ARG, "%s: the model has %d inputs, %d shapes given", g->what, g->n_inputs, n_inputs);
    if (g->n_inputs > VT_NN_MAX_IO) return vt_fail(VT_ERR_UNSUPPORTED, "%s: too many graph inputs", g->what);
    release_states(g);
    g->prepared = false;
    free(g->layers);
    g->layers = NULL;
    g->n_layers = 0;
    for (int i = 0; i < g->n_values; i++) {
        vt_value *v = &g->values[i];
        vt_tensor_free(v->folded);
        v->folded = NULL;
        v->last_use = -1;
        if (v->init) {
            v->dtype = v->init->dtype;
            v->rank = v->init->rank;
            memcpy(v->shape, v->init->shape, sizeof v->shape);
        } else v->rank = -1;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        vt_value *v = &g->values[g->inputs[i]];
        vt_shape s;
        if (shapes) s = shapes[i];
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
            if (v->decl_rank >= 0 && v->decl_shape[d] >= 0 && v->decl_shape[d] != s.dims[d])
                return vt_fail(VT_ERR_ARG,
                               "%s: input '%s' dimension %d is fixed to %lld in the model, %lld given (export "
                               "with a symbolic batch dimension, e.g. torch.onnx.export(dynamic_axes=...))",
                               g->what, v->name, d, (long long)v->decl_shape[d], (long long)s.dims[d]);
        }
        v->dtype = v->decl_dtype;
        v->rank = s.rank;
        memcpy(v->shape, s.dims, sizeof v->shape);
        g->prepared_shapes[i] = s;
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
            if (!is_const(v)) all_const = false;
        }
        for (int k = 0; k < n->n_out; k++) {
            memset(&hout[k], 0, sizeof hout[k]);
            hout[k].rank = -1;
            c.out[k] = &hout[k];
        }
        vt_status st = n->op->infer(&c);
        if (st != VT_OK) return st;
        for (int k = 0; k < n->n_out; k++) {
            if (hout[k].rank < 0) return vt_node_fail(&c, VT_ERR_INTERNAL, "output %d was not inferred", k);
            if (n->out[k] < 0) continue;
            vt_value *v = &g->values[n->out[k]];
            v->dtype = hout[k].dtype;
            v->rank = hout[k].rank;
            memcpy(v->shape, hout[k].shape, sizeof v->shape);
        }
        n->folded = all_const;
        n->first_layer = -1;
        if (all_const) {
            vt_tensor *outs[VT_NN_MAX_IO] = {0};
            for (int k = 0; k < n->n_out && st == VT_OK; k++) {
                outs[k] = vt_tensor_new(hout[k].dtype, hout[k].rank, hout[k].shape);
                if (!outs[k]) st = VT_ERR_NOMEM;
                c.out[k] = outs[k];
            }
            if (st == VT_OK) st = n->op->run(&c);
            for (int k = 0; k < n->n_out; k++) {
                if (st == VT_OK && n->out[k] >= 0) g->values[n->out[k]].folded = outs[k];
                else vt_tensor_free(outs[k]);
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
            l->name = present == 1 && n->name[0] ? n->name : g->values[n->out[k]].name;
            g->n_layers++;
        }
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !is_const(&g->values[n->in[k]])) g->values[n->in[k]].last_use = i;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->values[g->outputs[i]].rank < 0)
            return vt_fail(VT_ERR_FORMAT, "%s: graph output '%s' is not produced by any node", g->what,
                           g->values[g->outputs[i]].name);
    g->prepared = true;
    return VT_OK;
}
