/* Executor: runs the prepared layers of a graph on one batch, hands selected layer outputs to
 * the capture callback, and frees every intermediate as soon as its last consumer has run, so
 * peak memory stays near the largest live set rather than the sum of all layers. */
#include <fnmatch.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"

/* ---- capture selection ---- */

typedef enum { TERM_ALL, TERM_NONE, TERM_OP, TERM_NAME, TERM_INDEX } term_kind;

typedef struct {
    term_kind kind;
    char *text;
    int64_t lo, hi;
} term;

struct vt_capture {
    int n;
    term *terms;
};

void vt_capture_free(vt_capture *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->terms[i].text);
    free(c->terms);
    free(c);
}

static bool parse_index(const char *s, int64_t *lo, int64_t *hi)
{
    char *end;
    *lo = strtoll(s, &end, 10);
    if (end == s || *lo < 0) return false;
    if (*end == '\0') {
        *hi = *lo;
        return true;
    }
    if (*end != '-') return false;
    const char *s2 = end + 1;
    *hi = strtoll(s2, &end, 10);
    return end != s2 && *end == '\0' && *hi >= *lo;
}

vt_status vt_capture_parse(const char *spec, vt_capture **out)
{
    *out = NULL;
    if (!spec) return vt_fail(VT_ERR_ARG, "capture spec is NULL");
    vt_capture *c = vt_calloc(1, sizeof *c);
    char *copy = strdup(spec);
    int cap = 1;
    for (const char *p = spec; *p; p++) cap += *p == ',';
    if (c) c->terms = vt_calloc((size_t)cap, sizeof *c->terms);
    if (!c || !copy || !c->terms) {
        free(copy);
        vt_capture_free(c);
        return vt_fail(VT_ERR_NOMEM, "out of memory");
    }
    vt_status st = VT_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && st == VT_OK; tok = strtok_r(NULL, ",", &save)) {
        term *t = &c->terms[c->n];
        if (strcmp(tok, "all") == 0)
            t->kind = TERM_ALL;
        else if (strcmp(tok, "none") == 0)
            t->kind = TERM_NONE;
        else if (strncmp(tok, "op:", 3) == 0 && tok[3])
            t->kind = TERM_OP, t->text = strdup(tok + 3);
        else if (strncmp(tok, "name:", 5) == 0 && tok[5])
            t->kind = TERM_NAME, t->text = strdup(tok + 5);
        else if (strncmp(tok, "index:", 6) == 0) {
            t->kind = TERM_INDEX;
            if (!parse_index(tok + 6, &t->lo, &t->hi))
                st = vt_fail(VT_ERR_ARG, "capture spec '%s': '%s' is not index:A or index:A-B with 0 <= A <= B", spec,
                             tok);
        } else
            st = vt_fail(VT_ERR_ARG,
                         "capture spec '%s': unknown term '%s' (expected all, none, op:TYPE, name:GLOB or index:A-B)",
                         spec, tok);
        if (st == VT_OK && (t->kind == TERM_OP || t->kind == TERM_NAME) && !t->text)
            st = vt_fail(VT_ERR_NOMEM, "out of memory");
        c->n++;
    }
    free(copy);
    if (st == VT_OK && c->n == 0) st = vt_fail(VT_ERR_ARG, "capture spec is empty");
    if (st != VT_OK) {
        vt_capture_free(c);
        return st;
    }
    *out = c;
    return VT_OK;
}

bool vt_capture_matches(const vt_capture *c, const vt_layer_info *l)
{
    if (!c) return false;
    for (int i = 0; i < c->n; i++) {
        const term *t = &c->terms[i];
        switch (t->kind) {
        case TERM_ALL: return true;
        case TERM_NONE: break;
        case TERM_OP:
            if (strcmp(t->text, l->op) == 0) return true;
            break;
        case TERM_NAME:
            if (fnmatch(t->text, l->name, 0) == 0 || fnmatch(t->text, l->output, 0) == 0) return true;
            break;
        case TERM_INDEX:
            if (l->index >= t->lo && l->index <= t->hi) return true;
            break;
        }
    }
    return false;
}

/* ---- buffer pool ---- */

vt_tensor *vt_pool_tensor(vt_graph *g, vt_dtype dtype, int rank, const int64_t *shape)
{
    int64_t n = vt_shape_numel(rank, shape);
    size_t bytes = (size_t)n * vt_dtype_size(dtype);
    for (int i = 0; i < g->n_pool; i++)
        if (g->pool[i].bytes == bytes) {
            vt_tensor *t = vt_tensor_wrap(dtype, rank, shape, g->pool[i].data);
            if (!t) return NULL;
            t->storage = VT_STORAGE_OWNED;
            g->pool[i] = g->pool[--g->n_pool];
            return t;
        }
    size_t rounded = (bytes + 63) / 64 * 64;
    void *data = aligned_alloc(64, rounded ? rounded : 64);
    if (!data) {
        vt_fail(VT_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    vt_tensor *t = vt_tensor_wrap(dtype, rank, shape, data);
    if (!t) {
        free(data);
        return NULL;
    }
    t->storage = VT_STORAGE_OWNED;
    return t;
}

void vt_pool_release(vt_graph *g, vt_tensor *t)
{
    if (!t) return;
    if (t->storage != VT_STORAGE_OWNED || !t->data) {
        vt_tensor_free(t);
        return;
    }
    if (g->n_pool == g->cap_pool) {
        int cap = g->cap_pool ? 2 * g->cap_pool : 64;
        vt_pool_entry *p = realloc(g->pool, sizeof *p * (size_t)cap);
        if (!p) {
            vt_tensor_free(t);
            return;
        }
        g->pool = p;
        g->cap_pool = cap;
    }
    g->pool[g->n_pool].bytes = vt_tensor_nbytes(t);
    g->pool[g->n_pool].data = t->data;
    g->n_pool++;
    t->data = NULL;
    t->storage = VT_STORAGE_BORROWED;
    vt_tensor_free(t);
}

void vt_pool_clear(vt_graph *g)
{
    for (int i = 0; i < g->n_pool; i++) free(g->pool[i].data);
    free(g->pool);
    g->pool = NULL;
    g->n_pool = g->cap_pool = 0;
}

/* ---- layouts ---- */

void vt_nhwc_to_nchw(const vt_tensor *src, vt_tensor *dst)
{
    int64_t N = src->shape[0], C = src->shape[1], HW = src->shape[2] * src->shape[3];
    const float *s = src->data;
    float *d = dst->data;
    /* Tiles of 16 x 16 (hw x c) keep both sides in cache lines. */
#pragma omp parallel for collapse(2) schedule(static) if (N * C * HW > 65536)
    for (int64_t n = 0; n < N; n++)
        for (int64_t h0 = 0; h0 < HW; h0 += 16)
            for (int64_t c0 = 0; c0 < C; c0 += 16) {
                int64_t h1 = h0 + 16 < HW ? h0 + 16 : HW, c1 = c0 + 16 < C ? c0 + 16 : C;
                for (int64_t c = c0; c < c1; c++)
                    for (int64_t h = h0; h < h1; h++) d[(n * C + c) * HW + h] = s[(n * HW + h) * C + c];
            }
}

/* The NCHW version of live value v (converted once and cached while v lives). */
static vt_tensor *plain_of(vt_graph *g, int v, vt_tensor **live, const bool *nhwc, vt_tensor **plain)
{
    if (!nhwc[v]) return live[v];
    if (!plain[v]) {
        const vt_value *val = &g->values[v];
        plain[v] = vt_pool_tensor(g, val->dtype, val->rank, val->shape);
        if (plain[v]) vt_nhwc_to_nchw(live[v], plain[v]);
    }
    return plain[v];
}

static void drop(vt_graph *g, int v, vt_tensor **live, bool *nhwc, vt_tensor **plain, const bool *borrowed)
{
    if (!borrowed[v]) vt_pool_release(g, live[v]);
    vt_pool_release(g, plain[v]);
    live[v] = plain[v] = NULL;
    nhwc[v] = false;
}

/* A view op (vt_op.view) that is the last reader of its input takes the input's buffer over instead of a
 * copy: the output header owns the data from now on, the input's header only borrows it until dropped. */
static vt_tensor *take_input(vt_graph *g, const vt_node *n, int i, vt_tensor **live, const bool *borrowed,
                             const bool *nhwc, const vt_value *out)
{
    int w = n->n_in > 0 ? n->in[0] : -1;
    if (!n->op->view || w < 0 || !live[w] || borrowed[w] || nhwc[w] || live[w]->storage != VT_STORAGE_OWNED)
        return NULL;
    const vt_value *in = &g->values[w];
    if (in->last_use != i || in->is_output || in->init || in->folded) return NULL;
    for (int k = 1; k < n->n_in; k++)
        if (n->in[k] == w) return NULL;
    vt_tensor *t = vt_tensor_wrap(out->dtype, out->rank, out->shape, live[w]->data);
    if (!t || vt_tensor_nbytes(t) != vt_tensor_nbytes(live[w])) {
        vt_tensor_free(t); /* borrowed: the header only */
        return NULL;
    }
    t->storage = VT_STORAGE_OWNED;
    live[w]->storage = VT_STORAGE_BORROWED;
    return t;
}

/* ---- ReLU fusion ---- */

/* Whether output k of node n leaves the graph: captured by this run or a graph output. */
static bool observed(vt_graph *g, const vt_node *n, int k, const vt_capture *sel, vt_capture_fn fn)
{
    if (n->out[k] < 0) return false;
    if (g->values[n->out[k]].is_output) return true;
    int li = n->first_layer;
    for (int j = 0; j < k; j++) li += n->out[j] >= 0;
    vt_layer_info info;
    return fn && vt_graph_layer(g, li, &info) == VT_OK && vt_capture_matches(sel, &info);
}

/* Input k of node r as a graph constant float32 scalar into *out (NULL when absent); false when it
 * is computed at run time. */
static bool const_scalar(const vt_graph *g, const vt_node *r, int k, const vt_tensor **out)
{
    *out = NULL;
    if (r->n_in <= k || r->in[k] < 0) return true;
    const vt_value *b = &g->values[r->in[k]];
    *out = b->init ? b->init : b->folded;
    return *out && (*out)->dtype == VT_F32 && vt_tensor_numel(*out) == 1;
}

/* The Relu or Clip node that may be fused into node n (see vt_opctx.fuse), with its activation in
 * *act, or -1: n's only output is float32, unobserved and read by exactly one node (then its
 * last_use), a Relu, or a Clip whose bounds are constants with lo <= hi. */
static int fusable_act(vt_graph *g, const vt_node *n, const vt_capture *sel, vt_capture_fn fn, vt_act *act)
{
    if (g->reference || g->no_fusion || n->n_out != 1 || n->out[0] < 0 || observed(g, n, 0, sel, fn)) return -1;
    const vt_value *v = &g->values[n->out[0]];
    if (v->readers != 1 || v->dtype != VT_F32) return -1;
    const vt_node *r = &g->nodes[v->last_use];
    if (r->domain[0] || r->n_in < 1 || r->in[0] != n->out[0] || r->n_out != 1 || r->out[0] < 0) return -1;
    if (strcmp(r->op_type, "Relu") == 0 && r->n_in == 1) {
        *act = (vt_act){.kind = VT_ACT_RELU};
        return v->last_use;
    }
    const vt_tensor *min = NULL, *max = NULL;
    if (strcmp(r->op_type, "Clip") != 0 ||
        (r->opset >= 11 && !(const_scalar(g, r, 1, &min) && const_scalar(g, r, 2, &max))))
        return -1;
    act->kind = VT_ACT_CLIP;
    vt_clip_bounds(r, min, max, &act->lo, &act->hi);
    return act->lo <= act->hi ? v->last_use : -1;
}

/* ---- run ---- */

static const char *const precision_names[] = {
    [VT_PRECISION_F32] = "f32", [VT_PRECISION_BF16] = "bf16", [VT_PRECISION_F32_WINOGRAD] = "f32-winograd"};

const char *vt_precision_name(vt_precision precision)
{
    return (unsigned)precision < sizeof precision_names / sizeof precision_names[0] ? precision_names[precision] : "?";
}

vt_status vt_precision_parse(const char *name, vt_precision *out)
{
    for (unsigned i = 0; i < sizeof precision_names / sizeof precision_names[0]; i++)
        if (name && strcmp(name, precision_names[i]) == 0) {
            *out = (vt_precision)i;
            return VT_OK;
        }
    return vt_fail(VT_ERR_ARG, "precision must be f32, bf16 or f32-winograd, not '%s'", name ? name : "(null)");
}

vt_status vt_graph_set_precision(vt_graph *g, vt_precision precision)
{
    if (!g) return vt_fail(VT_ERR_ARG, "graph is NULL");
    if (precision != VT_PRECISION_F32 && precision != VT_PRECISION_BF16 && precision != VT_PRECISION_F32_WINOGRAD)
        return vt_fail(VT_ERR_ARG, "unknown precision %d", (int)precision);
    if (precision == VT_PRECISION_BF16 && !__builtin_cpu_supports("avx512bf16") && !__builtin_cpu_supports("amx-bf16"))
        return vt_fail(VT_ERR_UNSUPPORTED, "bf16 precision needs a CPU with AVX512-BF16 or AMX; this one has neither");
    if (g->precision != precision) {
        for (int i = 0; i < g->n_nodes; i++) {
            vt_node *n = &g->nodes[i];
            if (n->state && n->op->release) n->op->release(n);
            n->state = NULL;
        }
    }
    g->precision = precision;
    return VT_OK;
}

static bool shapes_match(const vt_graph *g, int n, const vt_tensor *const *inputs)
{
    if (!g->prepared || g->int_feed) return false;
    for (int i = 0; i < n; i++) {
        const vt_shape *s = &g->prepared_shapes[i];
        if (s->rank != inputs[i]->rank) return false;
        for (int d = 0; d < s->rank; d++)
            if (s->dims[d] != inputs[i]->shape[d]) return false;
    }
    return true;
}

vt_status vt_graph_run(vt_graph *g, int n_inputs, const vt_tensor *const *inputs, const vt_capture *sel,
                       vt_capture_fn fn, void *user, vt_tensor ***outputs)
{
    if (outputs) *outputs = NULL;
    if (!g) return vt_fail(VT_ERR_ARG, "graph is NULL");
    if (n_inputs != g->n_inputs)
        return vt_fail(VT_ERR_ARG, "%s: the model has %d inputs, %d given", g->what, g->n_inputs, n_inputs);
    for (int i = 0; i < n_inputs; i++) {
        const vt_value *v = &g->values[g->inputs[i]];
        if (!inputs[i]) return vt_fail(VT_ERR_ARG, "%s: input '%s' is NULL", g->what, v->name);
        if (inputs[i]->dtype != v->decl_dtype)
            return vt_fail(VT_ERR_ARG, "%s: input '%s' must be %s, not %s", g->what, v->name,
                           vt_dtype_name(v->decl_dtype), vt_dtype_name(inputs[i]->dtype));
    }
    if (!shapes_match(g, n_inputs, inputs)) {
        vt_status st = vt_graph_prepare_inputs(g, n_inputs, inputs);
        if (st != VT_OK) return st;
    }
    return vt_graph_run_prepared(g, inputs, sel, fn, user, outputs);
}

vt_status vt_graph_prepare_inputs(vt_graph *g, int n_inputs, const vt_tensor *const *inputs)
{
    if (!g || !inputs) return vt_fail(VT_ERR_ARG, "graph or inputs is NULL");
    if (n_inputs > VT_NN_MAX_IO) return vt_fail(VT_ERR_UNSUPPORTED, "%s: too many graph inputs", g->what);
    vt_shape shapes[VT_NN_MAX_IO];
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) return vt_fail(VT_ERR_ARG, "%s: input %d is NULL", g->what, i);
        shapes[i].rank = inputs[i]->rank;
        memcpy(shapes[i].dims, inputs[i]->shape, sizeof shapes[i].dims);
    }
    g->feed = inputs;
    vt_status st = vt_graph_prepare(g, n_inputs, shapes);
    g->feed = NULL;
    return st;
}

vt_status vt_graph_run_prepared(vt_graph *g, const vt_tensor *const *inputs, const vt_capture *sel, vt_capture_fn fn,
                                void *user, vt_tensor ***outputs)
{
    int n_inputs = g->n_inputs;

    vt_tensor **live = vt_calloc((size_t)g->n_values, sizeof *live);
    vt_tensor **plain = vt_calloc((size_t)g->n_values, sizeof *plain);
    bool *borrowed = vt_calloc((size_t)g->n_values, sizeof *borrowed);
    bool *nhwc = vt_calloc((size_t)g->n_values, sizeof *nhwc);
    bool *fused = vt_calloc((size_t)g->n_nodes + 1, sizeof *fused); /* Relu/Clip nodes applied by their producer */
    if (!live || !borrowed || !plain || !nhwc || !fused) {
        free(live);
        free(plain);
        free(borrowed);
        free(nhwc);
        free(fused);
        return VT_ERR_NOMEM;
    }
    vt_status st = VT_OK;
    for (int i = 0; i < n_inputs && st == VT_OK; i++) {
        const vt_value *v = &g->values[g->inputs[i]];
        if (v->narrow && inputs[i]->dtype == VT_F32) {
            /* A float16/bfloat16 input: the float32 stimuli rounded to it, in a copy of our own. */
            vt_tensor *t = vt_pool_tensor(g, VT_F32, inputs[i]->rank, inputs[i]->shape);
            if (!t) {
                st = VT_ERR_NOMEM;
                break;
            }
            memcpy(t->data, inputs[i]->data, vt_tensor_nbytes(t));
            vt_narrow_round(v->narrow, t->data, vt_tensor_numel(t));
            live[g->inputs[i]] = t;
            continue;
        }
        live[g->inputs[i]] = (vt_tensor *)inputs[i]; /* never written: inputs are read-only to every op */
        borrowed[g->inputs[i]] = true;
    }

    for (int i = 0; i < g->n_nodes && st == VT_OK; i++) {
        vt_node *n = &g->nodes[i];
        if (n->folded) continue;
        n->fused = fused[i];
        if (fused[i]) {
            /* Its producer applied the ReLU: the output is the input's buffer, taken over. */
            int v0 = n->in[0], v1 = n->out[0];
            live[v1] = live[v0], nhwc[v1] = nhwc[v0];
            live[v0] = NULL, nhwc[v0] = false;
        } else {
            vt_opctx c = {.g = g, .node = n, .n_in = n->n_in, .n_out = n->n_out};
            bool any_nhwc = false;
            for (int k = 0; k < n->n_in; k++) {
                if (n->in[k] < 0) continue;
                const vt_value *v = &g->values[n->in[k]];
                c.in[k] = v->init ? v->init : v->folded ? v->folded : live[n->in[k]];
                c.in_nhwc[k] = c.in[k] == live[n->in[k]] && nhwc[n->in[k]];
                any_nhwc |= c.in_nhwc[k];
                if (!c.in[k]) st = vt_node_fail(&c, VT_ERR_INTERNAL, "input '%s' is not available", v->name);
            }
            c.want_plain_out = g->plain_only;
            for (int k = 0; k < n->n_out && !c.want_plain_out; k++) c.want_plain_out = observed(g, n, k, sel, fn);
            vt_act act;
            int actnode = fusable_act(g, n, sel, fn, &act);
            if (actnode >= 0) {
                /* The buffer then becomes the activation's output: lay it out for its readers. */
                c.fuse = act;
                c.want_plain_out = g->plain_only || observed(g, &g->nodes[actnode], 0, sel, fn);
            }
            if (st == VT_OK && any_nhwc && (c.want_plain_out || !(n->op->accepts_nhwc && n->op->accepts_nhwc(&c))))
                for (int k = 0; k < n->n_in && st == VT_OK; k++)
                    if (c.in_nhwc[k]) {
                        c.in[k] = plain_of(g, n->in[k], live, nhwc, plain);
                        c.in_nhwc[k] = false;
                        if (!c.in[k]) st = VT_ERR_NOMEM;
                    }
            vt_tensor *scratch[VT_NN_MAX_IO] = {0};
            for (int k = 0; k < n->n_out && st == VT_OK; k++) {
                const vt_value *v = n->out[k] >= 0 ? &g->values[n->out[k]] : NULL;
                if (!v)
                    scratch[k] = vt_tensor_new_uninit(VT_F32, 1, (int64_t[]){0}); /* absent output: nothing to hold */
                else if (!(k == 0 && (scratch[k] = take_input(g, n, i, live, borrowed, nhwc, v))))
                    scratch[k] = vt_pool_tensor(g, v->dtype, v->rank, v->shape);
                if (!scratch[k]) st = VT_ERR_NOMEM;
                c.out[k] = scratch[k];
            }
            double t0 = omp_get_wtime();
            if (st == VT_OK) st = n->op->run(&c);
            n->seconds += omp_get_wtime() - t0;
            for (int k = 0; k < n->n_out; k++) {
                if (n->out[k] >= 0 && st == VT_OK) {
                    /* A float16/bfloat16 output is rounded as written (its layout does not matter). */
                    vt_narrow_round(g->values[n->out[k]].narrow, scratch[k]->data, vt_tensor_numel(scratch[k]));
                    live[n->out[k]] = scratch[k];
                    nhwc[n->out[k]] = c.out_nhwc[k];
                } else
                    vt_pool_release(g, scratch[k]);
            }
            if (st == VT_OK && actnode >= 0 && c.fused) fused[actnode] = true;
        }
        if (st != VT_OK) break;
        /* Capture, then drop what nobody reads any more. */
        for (int k = 0; k < n->n_out && st == VT_OK; k++) {
            if (n->out[k] < 0) continue;
            int li = n->first_layer;
            for (int j = 0; j < k; j++) li += n->out[j] >= 0;
            vt_layer_info info;
            vt_graph_layer(g, li, &info);
            if (fn && vt_capture_matches(sel, &info)) {
                const vt_tensor *t = plain_of(g, n->out[k], live, nhwc, plain);
                st = t ? fn(user, &info, t) : VT_ERR_NOMEM;
            }
        }
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v >= 0 && live[v] && g->values[v].last_use == i && !g->values[v].is_output)
                drop(g, v, live, nhwc, plain, borrowed);
        }
        for (int k = 0; k < n->n_out; k++) {
            int v = n->out[k];
            if (v >= 0 && live[v] && g->values[v].last_use < 0 && !g->values[v].is_output)
                drop(g, v, live, nhwc, plain, borrowed);
        }
    }

    if (st == VT_OK && outputs) {
        vt_tensor **outs = vt_calloc((size_t)(g->n_outputs ? g->n_outputs : 1), sizeof *outs);
        if (!outs) st = VT_ERR_NOMEM;
        for (int i = 0; i < g->n_outputs && st == VT_OK; i++) {
            int v = g->outputs[i];
            const vt_value *val = &g->values[v];
            if (live[v] && nhwc[v] && !plain_of(g, v, live, nhwc, plain)) {
                st = VT_ERR_NOMEM;
                break;
            }
            if (live[v] && nhwc[v]) { /* hand out the NCHW copy */
                outs[i] = plain[v];
                plain[v] = NULL;
                continue;
            }
            if (live[v] && !borrowed[v]) {
                outs[i] = live[v];
                live[v] = NULL;
                continue;
            }
            const vt_tensor *src = val->init ? val->init : val->folded ? val->folded : live[v];
            if (!src) {
                st = vt_fail(VT_ERR_INTERNAL, "%s: output '%s' was not computed", g->what, val->name);
                break;
            }
            st = vt_tensor_convert(src, src->dtype, &outs[i]);
        }
        if (st == VT_OK)
            *outputs = outs;
        else {
            for (int i = 0; outs && i < g->n_outputs; i++) vt_tensor_free(outs[i]);
            free(outs);
        }
    }
    for (int v = 0; v < g->n_values; v++) {
        if (live[v] && !borrowed[v]) vt_pool_release(g, live[v]);
        vt_pool_release(g, plain[v]);
    }
    free(live);
    free(plain);
    free(borrowed);
    free(nhwc);
    free(fused);
    return st;
}
