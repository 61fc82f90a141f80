/* oneDNN glue: one CPU engine and stream for the process, plain memory descriptors, and the
 * "user layout <-> primitive layout" argument with its cached reorder. */
#include <pthread.h>
#include <stdlib.h>

#include "nn/ops/ops.h"

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static dnnl_status_t init_status = dnnl_success;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_engine(void)
{
    init_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (init_status == dnnl_success) init_status = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
}

dnnl_engine_t vt_dnnl_engine(void)
{
    pthread_once(&once, init_engine);
    if (init_status != dnnl_success) {
        vt_fail(VT_ERR_INTERNAL, "oneDNN: cannot create the CPU engine (status %d)", (int)init_status);
        return NULL;
    }
    return engine;
}

dnnl_stream_t vt_dnnl_stream(void)
{
    return vt_dnnl_engine() ? stream : NULL;
}

vt_status vt_dnnl_check(const vt_opctx *c, dnnl_status_t s, const char *what)
{
    if (s == dnnl_success) return VT_OK;
    if (s == dnnl_unimplemented) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "oneDNN has no implementation (%s)", what);
    if (s == dnnl_out_of_memory) return vt_node_fail(c, VT_ERR_NOMEM, "oneDNN is out of memory (%s)", what);
    return vt_node_fail(c, VT_ERR_INTERNAL, "oneDNN call failed: %s (status %d)", what, (int)s);
}

dnnl_status_t vt_dnnl_plain_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, dnnl_data_type_t dt)
{
    static const dnnl_format_tag_t tags[] = {
        dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    if (ndims < 1 || ndims > 6) return dnnl_invalid_arguments;
    dnnl_dims_t d;
    for (int i = 0; i < ndims; i++) d[i] = dims[i];
    return dnnl_memory_desc_init_by_tag(md, ndims, d, dt, tags[ndims]);
}

dnnl_status_t vt_dnnl_arg_init(vt_dnnl_arg *a, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
                               bool to_prim, bool own_buffer)
{
    dnnl_engine_t eng = vt_dnnl_engine();
    if (!eng) return dnnl_runtime_error;
    dnnl_status_t s = dnnl_memory_create(&a->user, user_md, eng, DNNL_MEMORY_NONE);
    if (s != dnnl_success || dnnl_memory_desc_equal(user_md, prim_md)) return s;
    a->prim_bytes = dnnl_memory_desc_get_size(prim_md);
    s = dnnl_memory_create(&a->prim, prim_md, eng, own_buffer ? DNNL_MEMORY_ALLOCATE : DNNL_MEMORY_NONE);
    if (s != dnnl_success) return s;
    dnnl_primitive_desc_t rpd;
    s = to_prim ? dnnl_reorder_primitive_desc_create(&rpd, user_md, eng, prim_md, eng, NULL)
                : dnnl_reorder_primitive_desc_create(&rpd, prim_md, eng, user_md, eng, NULL);
    if (s != dnnl_success) return s;
    s = dnnl_primitive_create(&a->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    return s;
}

void vt_dnnl_arg_free(vt_dnnl_arg *a)
{
    if (a->reorder) dnnl_primitive_destroy(a->reorder);
    if (a->prim) dnnl_memory_destroy(a->prim);
    if (a->user) dnnl_memory_destroy(a->user);
    a->reorder = NULL;
    a->prim = a->user = NULL;
}

dnnl_status_t vt_dnnl_exec(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args)
{
    dnnl_stream_t st = vt_dnnl_stream();
    if (!st) return dnnl_runtime_error;
    dnnl_status_t s = dnnl_primitive_execute(p, st, nargs, args);
    return s == dnnl_success ? dnnl_stream_wait(st) : s;
}

dnnl_status_t vt_dnnl_arg_in(vt_dnnl_arg *a, const void *data, void *scratch, dnnl_memory_t *out)
{
    /* oneDNN never writes a source memory; the cast only satisfies its non-const handle. */
    dnnl_status_t s = dnnl_memory_set_data_handle(a->user, (void *)data);
    if (s == dnnl_success && a->reorder && scratch) s = dnnl_memory_set_data_handle(a->prim, scratch);
    if (s != dnnl_success) return s;
    if (!a->reorder) {
        *out = a->user;
        return dnnl_success;
    }
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a->user}, {DNNL_ARG_TO, a->prim}};
    *out = a->prim;
    return vt_dnnl_exec(a->reorder, 2, args);
}

dnnl_status_t vt_dnnl_arg_out_prepare(vt_dnnl_arg *a, void *data, void *scratch, dnnl_memory_t *out)
{
    dnnl_status_t s = dnnl_memory_set_data_handle(a->user, data);
    if (s == dnnl_success && a->reorder && scratch) s = dnnl_memory_set_data_handle(a->prim, scratch);
    *out = a->reorder ? a->prim : a->user;
    return s;
}

dnnl_status_t vt_dnnl_arg_out_finish(vt_dnnl_arg *a)
{
    if (!a->reorder) return dnnl_success;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a->prim}, {DNNL_ARG_TO, a->user}};
    return vt_dnnl_exec(a->reorder, 2, args);
}

dnnl_status_t vt_dnnl_attr(const vt_graph *g, vt_act act, dnnl_primitive_attr_t *attr)
{
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s == dnnl_success && g->precision == VT_PRECISION_BF16)
        s = dnnl_primitive_attr_set_fpmath_mode(*attr, dnnl_fpmath_mode_bf16);
    if (s == dnnl_success && act.kind != VT_ACT_NONE) {
        dnnl_post_ops_t po = NULL;
        s = dnnl_post_ops_create(&po);
        /* clip_v2 keeps x when x == lo (clip would write lo: -0 instead of +0), as the Clip op does. */
        if (s == dnnl_success && act.kind == VT_ACT_RELU)
            s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        else if (s == dnnl_success)
            s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, act.lo, act.hi);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(*attr, po);
        if (po) dnnl_post_ops_destroy(po);
    }
    return s;
}

void *vt_graph_scratch(vt_graph *g, int slot, size_t bytes)
{
    if (slot < 0 || slot >= VT_NN_SCRATCH) return NULL;
    if (g->scratch_bytes[slot] >= bytes && g->scratch[slot]) return g->scratch[slot];
    free(g->scratch[slot]);
    size_t rounded = (bytes + 63) / 64 * 64;
    g->scratch[slot] = aligned_alloc(64, rounded ? rounded : 64);
    g->scratch_bytes[slot] = g->scratch[slot] ? bytes : 0;
    if (!g->scratch[slot]) vt_fail(VT_ERR_NOMEM, "out of memory allocating %zu bytes of scratch", bytes);
    return g->scratch[slot];
}
