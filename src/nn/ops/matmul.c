/* MatMul (numpy semantics: batched, broadcast, 1-D promotion) and Gemm (transA/transB, alpha,
 * beta, broadcast C). A naive reference kernel (double accumulation, fixed order) and oneDNN's
 * matmul primitive over plain strided layouts, created once per prepared shape. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clones.h"
#include "nn/ops/ops.h"
#include "nn/ops/vecmath.h"

/* A problem as batched [B..] x M x K times [B..] x K x N with per-operand batch strides. */
typedef struct mm_shape {
    int nb; /* batch rank of the output */
    int64_t bshape[VT_MAX_RANK];
    int64_t astr[VT_MAX_RANK], bstr[VT_MAX_RANK]; /* batch strides in elements (0 = broadcast) */
    int64_t M, K, N;
    bool ta, tb; /* Gemm transposes */
} mm_shape;

static vt_status matmul_shape(const vt_opctx *c, mm_shape *p, int *orank, int64_t *oshape)
{
    const vt_tensor *a = c->in[0], *b = c->in[1];
    memset(p, 0, sizeof *p);
    if (a->rank < 1 || b->rank < 1) return vt_node_fail(c, VT_ERR_ARG, "inputs must have rank >= 1");
    int ra = a->rank, rb = b->rank;
    int64_t as[VT_MAX_RANK + 1], bs[VT_MAX_RANK + 1];
    if (ra == 1)
        as[0] = 1, as[1] = a->shape[0], ra = 2;
    else
        memcpy(as, a->shape, sizeof *as * (size_t)ra);
    if (rb == 1)
        bs[0] = b->shape[0], bs[1] = 1, rb = 2;
    else
        memcpy(bs, b->shape, sizeof *bs * (size_t)rb);
    p->M = as[ra - 2];
    p->K = as[ra - 1];
    p->N = bs[rb - 1];
    if (bs[rb - 2] != p->K)
        return vt_node_fail(c, VT_ERR_ARG, "inner dimensions differ (%lld vs %lld)", (long long)p->K,
                            (long long)bs[rb - 2]);
    if (!vt_broadcast_shape(ra - 2, as, rb - 2, bs, &p->nb, p->bshape))
        return vt_node_fail(c, VT_ERR_ARG, "batch dimensions do not broadcast");
    vt_broadcast_strides(p->nb, p->bshape, ra - 2, as, p->astr);
    vt_broadcast_strides(p->nb, p->bshape, rb - 2, bs, p->bstr);
    for (int i = 0; i < p->nb; i++) p->astr[i] *= p->M * p->K, p->bstr[i] *= p->K * p->N;
    int r = 0;
    for (int i = 0; i < p->nb; i++) oshape[r++] = p->bshape[i];
    if (a->rank > 1) oshape[r++] = p->M;
    if (b->rank > 1) oshape[r++] = p->N;
    *orank = r;
    return VT_OK;
}

/* The element offsets of product b's A and B (broadcast batch dims repeat one). */
static void batch_offsets(const mm_shape *p, int64_t b, int64_t *ao, int64_t *bo)
{
    *ao = *bo = 0;
    for (int j = p->nb - 1; j >= 0; j--) {
        int64_t idx = b % p->bshape[j];
        b /= p->bshape[j];
        *ao += idx * p->astr[j];
        *bo += idx * p->bstr[j];
    }
}

/* C[b] = A[b] . B[b] (+ bias) in double, one output row per task. */
static void mm_naive(const mm_shape *p, const float *A, const float *B, float *C, const vt_tensor *bias, float alpha,
                     float beta)
{
    int64_t nbatch = vt_shape_numel(p->nb, p->bshape), M = p->M, N = p->N, K = p->K;
    int r = bias ? bias->rank : 0;
    int64_t bsh[2] = {r >= 2 ? bias->shape[r - 2] : 1, r >= 1 ? bias->shape[r - 1] : 1};
    const float *bd = bias ? bias->data : NULL;
#pragma omp parallel
    {
        double *acc = malloc(sizeof(double) * (size_t)(N ? N : 1));
#pragma omp for schedule(static)
        for (int64_t bi = 0; bi < nbatch * M; bi++) {
            int64_t b = bi / M, i = bi % M, ao, bo;
            if (!acc) continue;
            batch_offsets(p, b, &ao, &bo);
            for (int64_t j = 0; j < N; j++) acc[j] = 0;
            for (int64_t k = 0; k < K; k++) {
                double av = p->ta ? A[ao + k * M + i] : A[ao + i * K + k];
                if (av == 0) continue;
                if (p->tb)
                    for (int64_t j = 0; j < N; j++) acc[j] += av * B[bo + j * K + k];
                else
                    for (int64_t j = 0; j < N; j++) acc[j] += av * B[bo + k * N + j];
            }
            float *cp = C + (b * M + i) * N;
            for (int64_t j = 0; j < N; j++) {
                double v = alpha * acc[j];
                if (bd) v += beta * (double)bd[(bsh[0] == 1 ? 0 : i) * bsh[1] + (bsh[1] == 1 ? 0 : j)];
                cp[j] = (float)v;
            }
        }
        free(acc);
    }
}

/* ---- oneDNN ---- */

typedef struct mm_state {
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c, bias;
    bool bf16;     /* A and B are converted to bfloat16 before the call */
    bool b_packed; /* b owns constant B, reordered once into the primitive's preferred layout */
    vt_act act;    /* built with this activation as a post-op (vt_opctx.fuse) */
    bool own;      /* float32 through vt_sgemm_run: oneDNN offers no batch-invariant kernel here */
    vt_sgemm sg;   /* own: the problem, its pointers set per call */
    int64_t *offs; /* own: sg.a_off and sg.b_off (2 x nbatch) */
    bool b_ready;  /* own: sg.packed holds the constant B */
} mm_state;

/* float32 -> bfloat16 of n values, round to nearest even (NaN stays NaN, quietened). Integer
 * arithmetic only, so every instruction-set clone gives the same bits; vectorised, because bf16
 * runs convert every matmul input (it was a quarter of vit_b_16's bf16 run as a scalar loop). */
VT_CLONES static void to_bf16_span(const float *x, uint16_t *y, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = vt_f2u(x[i]);
        uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, quiet = (u >> 16) | 0x40u;
        y[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
    }
}

static void to_bf16(const float *x, uint16_t *y, int64_t n)
{
    enum { SPAN = 16384 };
    int64_t spans = (n + SPAN - 1) / SPAN;
#pragma omp parallel for schedule(static) if (spans > 4)
    for (int64_t b = 0; b < spans; b++)
        to_bf16_span(x + b * SPAN, y + b * SPAN, n - b * SPAN < SPAN ? n - b * SPAN : SPAN);
}

static void mm_release(vt_node *n)
{
    mm_state *s = n->state;
    if (!s) return;
    if (s->prim) dnnl_primitive_destroy(s->prim);
    if (s->a) dnnl_memory_destroy(s->a);
    if (s->b) dnnl_memory_destroy(s->b);
    if (s->c) dnnl_memory_destroy(s->c);
    if (s->bias) dnnl_memory_destroy(s->bias);
    free(s->offs);
    free(s->sg.packed);
    free(s);
    n->state = NULL;
}

/* Memory descriptor of a (batched) matrix with broadcast batch strides and an optional transpose. */
static dnnl_status_t mm_md(dnnl_memory_desc_t *md, const mm_shape *p, const int64_t *bstr, int64_t rows, int64_t cols,
                           bool trans, dnnl_data_type_t dt, bool batch_bcast_as_one)
{
    int nd = p->nb + 2;
    dnnl_dims_t dims, strides;
    for (int i = 0; i < p->nb; i++) {
        dims[i] = batch_bcast_as_one && bstr[i] == 0 ? 1 : p->bshape[i];
        strides[i] = bstr[i];
    }
    dims[nd - 2] = rows;
    dims[nd - 1] = cols;
    strides[nd - 2] = trans ? 1 : cols;
    strides[nd - 1] = trans ? rows : 1;
    /* Size-1 batch dims need a non-zero stride for oneDNN's layout checks. */
    int64_t s = rows * cols;
    for (int i = p->nb - 1; i >= 0; i--) {
        if (dims[i] == 1 || strides[i] == 0)
            strides[i] = s;
        else
            s = strides[i] * dims[i] > s ? strides[i] * dims[i] : s;
    }
    return dnnl_memory_desc_init_by_strides(md, nd, dims, dt, strides);
}

/* s->b: constant B (input 1, plain layout user_md) reordered once into the primitive's layout prim_md;
 * in bf16 mode rounded to bfloat16 first, element by element as A is. */
static vt_status pack_b(vt_opctx *c, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md, mm_state *s)
{
    const vt_tensor *b = c->in[1];
    int64_t nb = vt_tensor_numel(b);
    uint16_t *b16 = NULL;
    if (s->bf16) {
        b16 = vt_malloc((size_t)nb, 2);
        if (!b16) return VT_ERR_NOMEM;
        to_bf16(b->data, b16, nb);
    }
    const void *src = b16 ? (const void *)b16 : b->data;
    vt_dnnl_arg wa = {0};
    dnnl_memory_t packed = NULL;
    dnnl_status_t e = vt_dnnl_arg_init(&wa, user_md, prim_md, true, true);
    if (e == dnnl_success) e = vt_dnnl_arg_in(&wa, src, NULL, &packed);
    if (e == dnnl_success && wa.prim) {
        s->b = wa.prim;
        wa.prim = NULL;
    } else if (e == dnnl_success) {
        /* Same layout: the primitive still gets its own copy, so B's buffer (and b16) need not outlive it. */
        e = dnnl_memory_create(&s->b, prim_md, vt_dnnl_engine(), DNNL_MEMORY_ALLOCATE);
        void *dst = NULL;
        if (e == dnnl_success) e = dnnl_memory_get_data_handle(s->b, &dst);
        if (e == dnnl_success) memcpy(dst, src, dnnl_memory_desc_get_size(prim_md));
    }
    vt_dnnl_arg_free(&wa);
    free(b16);
    return vt_dnnl_check(c, e, "matmul weights");
}

/* The float32 product for vt_sgemm_run: oneDNN 2.6's batch-invariant matmul (brgemm) needs AVX-512; its
 * other float32 kernel (jit sgemm) gives a stimulus different bits in different batch sizes. */
static vt_status own_create(const mm_shape *p, const vt_tensor *bias, mm_state *s)
{
    int64_t nbatch = vt_shape_numel(p->nb, p->bshape);
    s->offs = vt_malloc((size_t)(2 * nbatch), sizeof *s->offs);
    if (!s->offs) return VT_ERR_NOMEM;
    for (int64_t b = 0; b < nbatch; b++) batch_offsets(p, b, &s->offs[b], &s->offs[nbatch + b]);
    int r = bias ? bias->rank : 0;
    int64_t rows = r >= 2 ? bias->shape[r - 2] : 1, cols = r >= 1 ? bias->shape[r - 1] : 1;
    s->sg = (vt_sgemm){.nbatch = nbatch,
                       .M = p->M,
                       .K = p->K,
                       .N = p->N,
                       .a_off = s->offs,
                       .b_off = s->offs + nbatch,
                       .ta = p->ta,
                       .tb = p->tb,
                       .bias_rs = rows == 1 ? 0 : cols,
                       .bias_cs = cols == 1 ? 0 : 1,
                       .act = s->act};
    size_t n = vt_sgemm_packed_floats(&s->sg);
    s->sg.packed = vt_malloc(n ? n : 1, sizeof(float));
    if (!s->sg.packed) return VT_ERR_NOMEM;
    s->own = true;
    return VT_OK;
}

static vt_status mm_create(vt_opctx *c, const mm_shape *p, const vt_tensor *bias, mm_state *s)
{
    dnnl_memory_desc_t amd, bmd, cmd, biasmd;
    int64_t cstr[VT_MAX_RANK], acc = p->M * p->N;
    for (int i = p->nb - 1; i >= 0; i--) cstr[i] = acc, acc *= p->bshape[i];
    /* bf16: A and B are converted element by element (same strides) into bfloat16 buffers. */
    s->bf16 = c->g->precision == VT_PRECISION_BF16;
    dnnl_data_type_t ab = s->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_status_t e = mm_md(&amd, p, p->astr, p->M, p->K, p->ta, ab, true);
    if (e == dnnl_success) e = mm_md(&bmd, p, p->bstr, p->K, p->N, p->tb, ab, true);
    if (e == dnnl_success) e = mm_md(&cmd, p, cstr, p->M, p->N, false, dnnl_f32, false);
    if (e == dnnl_success && bias) {
        int r = bias->rank;
        dnnl_dims_t bd = {r >= 2 ? bias->shape[r - 2] : 1, r >= 1 ? bias->shape[r - 1] : 1};
        e = dnnl_memory_desc_init_by_tag(&biasmd, 2, bd, dnnl_f32, dnnl_ab);
    }
    /* Constant B (weights) is handed over in the layout the primitive asks for ("any"), reordered once:
     * from its plain layout oneDNN would repack it on every call (vit_b_16's 768 -> 3072 projection
     * ran at 161 instead of 324 GFLOP/s here). */
    const vt_value *bv = &c->g->values[c->node->in[1]];
    s->b_packed = bv->init || bv->folded;
    dnnl_memory_desc_t bany = bmd;
    if (e == dnnl_success && s->b_packed)
        e = dnnl_memory_desc_init_by_tag(&bany, bmd.ndims, bmd.dims, ab, dnnl_format_tag_any);
    vt_status st = vt_dnnl_check(c, e, "matmul memory descriptors");
    if (st != VT_OK) return st;
    dnnl_matmul_desc_t md;
    e = dnnl_matmul_desc_init(&md, &amd, &bany, bias ? &biasmd : NULL, &cmd);
    dnnl_primitive_attr_t attr = NULL;
    if (e == dnnl_success) e = vt_dnnl_attr(c->g, s->act, &attr);
    dnnl_primitive_desc_t pd = NULL;
    if (e == dnnl_success) e = dnnl_primitive_desc_create(&pd, &md, attr, vt_dnnl_engine(), NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if ((st = vt_dnnl_check(c, e, "matmul descriptor")) != VT_OK) return st;
    const char *impl = NULL;
    if (!s->bf16 && !c->g->any_matmul &&
        (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl ||
         strncmp(impl, "brg", 3) != 0)) {
        dnnl_primitive_desc_destroy(pd);
        return own_create(p, bias, s);
    }
    e = dnnl_primitive_create(&s->prim, pd);
    dnnl_memory_desc_t bprim = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    dnnl_engine_t eng = vt_dnnl_engine();
    if (e == dnnl_success) e = dnnl_memory_create(&s->a, &amd, eng, DNNL_MEMORY_NONE);
    if (e == dnnl_success && s->b_packed) {
        if ((st = vt_dnnl_check(c, e, "matmul primitive")) != VT_OK || (st = pack_b(c, &bmd, &bprim, s)) != VT_OK)
            return st;
    } else if (e == dnnl_success)
        e = dnnl_memory_create(&s->b, &bmd, eng, DNNL_MEMORY_NONE);
    if (e == dnnl_success) e = dnnl_memory_create(&s->c, &cmd, eng, DNNL_MEMORY_NONE);
    if (e == dnnl_success && bias) e = dnnl_memory_create(&s->bias, &biasmd, eng, DNNL_MEMORY_NONE);
    return vt_dnnl_check(c, e, "matmul primitive");
}

static vt_status mm_exec(vt_opctx *c, const mm_shape *p, const vt_tensor *bias, float alpha, float beta)
{
    const float *A = c->in[0]->data, *B = c->in[1]->data;
    float *C = c->out[0]->data;
    /* oneDNN's matmul applies bias with weight 1; other alpha/beta, and the 1-D (matrix-vector)
     * corner cases, take the reference path. */
    bool fast = vt_nn_fast(c->g) && alpha == 1.0f && (!bias || beta == 1.0f) && p->M > 0 && p->N > 0 && p->K > 0;
    if (bias && bias->rank > 2) fast = false;
    if (!fast) {
        mm_naive(p, A, B, C, bias, alpha, beta);
        return VT_OK;
    }
    mm_state *s = c->node->state;
    vt_status st;
    if (s && !vt_act_equal(s->act, c->fuse)) {
        mm_release(c->node);
        s = NULL;
    }
    if (!s) {
        s = vt_calloc(1, sizeof *s);
        if (!s) return VT_ERR_NOMEM;
        c->node->state = s;
        s->act = c->fuse;
        if ((st = mm_create(c, p, bias, s)) != VT_OK) {
            mm_release(c->node);
            return st;
        }
    }
    if (s->own) {
        s->sg.A = A, s->sg.B = B, s->sg.C = C, s->sg.bias = bias ? bias->data : NULL;
        c->fused = s->act.kind != VT_ACT_NONE;
        if (!s->b_ready) vt_sgemm_pack(&s->sg);
        s->b_ready = s->b_packed;
        return vt_sgemm_run(&s->sg);
    }
    const void *a_data = A, *b_data = B;
    if (s->bf16) {
        int64_t na = vt_tensor_numel(c->in[0]), nb = vt_tensor_numel(c->in[1]);
        uint16_t *a16 = vt_graph_scratch(c->g, 2, (size_t)na * 2);
        if (!a16) return VT_ERR_NOMEM;
        to_bf16(A, a16, na);
        a_data = a16;
        if (!s->b_packed) {
            uint16_t *b16 = vt_graph_scratch(c->g, 3, (size_t)nb * 2);
            if (!b16) return VT_ERR_NOMEM;
            to_bf16(B, b16, nb);
            b_data = b16;
        }
    }
    dnnl_status_t e = dnnl_memory_set_data_handle(s->a, (void *)a_data);
    if (e == dnnl_success && !s->b_packed) e = dnnl_memory_set_data_handle(s->b, (void *)b_data);
    if (e == dnnl_success) e = dnnl_memory_set_data_handle(s->c, C);
    if (e == dnnl_success && bias) e = dnnl_memory_set_data_handle(s->bias, bias->data);
    if (e == dnnl_success) {
        dnnl_exec_arg_t args[4] = {
            {DNNL_ARG_SRC, s->a}, {DNNL_ARG_WEIGHTS, s->b}, {DNNL_ARG_DST, s->c}, {DNNL_ARG_BIAS, s->bias}};
        e = vt_dnnl_exec(s->prim, bias ? 4 : 3, args);
    }
    c->fused = s->act.kind != VT_ACT_NONE;
    return vt_dnnl_check(c, e, "matmul");
}

void vt_matmul_release(vt_node *n)
{
    mm_release(n);
}

vt_status vt_matmul_batched(vt_opctx *c, const float *A, const float *B, float *C, int64_t batch, int64_t M, int64_t K,
                            int64_t N)
{
    mm_shape p = {.nb = batch > 1 ? 1 : 0, .bshape = {batch}, .astr = {M * K}, .bstr = {K * N}, .M = M, .K = K, .N = N};
    vt_tensor ta = {.dtype = VT_F32, .rank = 3, .shape = {batch, M, K}, .data = (void *)A};
    vt_tensor tb = {.dtype = VT_F32, .rank = 3, .shape = {batch, K, N}, .data = (void *)B};
    vt_tensor tc = {.dtype = VT_F32, .rank = 3, .shape = {batch, M, N}, .data = C};
    vt_opctx mc = *c;
    mc.in[0] = &ta;
    mc.in[1] = &tb;
    mc.out[0] = &tc;
    mc.fuse = (vt_act){.kind = VT_ACT_NONE};
    return mm_exec(&mc, &p, NULL, 1.0f, 0.0f);
}

static vt_status matmul_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st == VT_OK) st = vt_need_f32(c, 1);
    if (st != VT_OK) return st;
    mm_shape p;
    int r;
    int64_t sh[VT_MAX_RANK + 2];
    if ((st = matmul_shape(c, &p, &r, sh)) != VT_OK) return st;
    if (r > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "output rank %d", r);
    vt_out_set(c->out[0], VT_F32, r, sh);
    return VT_OK;
}

static vt_status matmul_run(vt_opctx *c)
{
    mm_shape p;
    int r;
    int64_t sh[VT_MAX_RANK + 2];
    vt_status st = matmul_shape(c, &p, &r, sh);
    if (st != VT_OK) return st;
    /* A batch of rows times one matrix (a Linear layer on N x T x D) is a single 2-D product with
     * N*T rows: oneDNN runs that form faster than the broadcast batched one. */
    bool b_shared = true;
    for (int i = 0; i < p.nb; i++) b_shared = b_shared && p.bstr[i] == 0;
    if (p.nb > 0 && b_shared && !p.ta) {
        p.M *= vt_shape_numel(p.nb, p.bshape);
        p.nb = 0;
    }
    return mm_exec(c, &p, NULL, 1.0f, 0.0f);
}

/* ---- Gemm ---- */

static vt_status gemm_shape(const vt_opctx *c, mm_shape *p)
{
    const vt_tensor *a = c->in[0], *b = c->in[1];
    if (a->rank != 2 || b->rank != 2) return vt_node_fail(c, VT_ERR_ARG, "A and B must be matrices");
    memset(p, 0, sizeof *p);
    p->ta = vt_attr_int(c->node, "transA", 0) != 0;
    p->tb = vt_attr_int(c->node, "transB", 0) != 0;
    p->M = p->ta ? a->shape[1] : a->shape[0];
    p->K = p->ta ? a->shape[0] : a->shape[1];
    int64_t kb = p->tb ? b->shape[1] : b->shape[0];
    p->N = p->tb ? b->shape[0] : b->shape[1];
    if (kb != p->K)
        return vt_node_fail(c, VT_ERR_ARG, "inner dimensions differ (%lld vs %lld)", (long long)p->K, (long long)kb);
    if (c->n_in > 2 && c->in[2]) {
        const vt_tensor *cc = c->in[2];
        int r;
        int64_t o[VT_MAX_RANK];
        if (cc->rank > 2 || !vt_broadcast_shape(2, (int64_t[]){p->M, p->N}, cc->rank, cc->shape, &r, o) ||
            o[0] != p->M || o[1] != p->N)
            return vt_node_fail(c, VT_ERR_ARG, "C does not broadcast to %lld x %lld", (long long)p->M, (long long)p->N);
    }
    return VT_OK;
}

static vt_status gemm_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st == VT_OK) st = vt_need_f32(c, 1);
    if (st == VT_OK && c->n_in > 2 && c->in[2]) st = vt_need_f32(c, 2);
    if (st != VT_OK) return st;
    mm_shape p;
    if ((st = gemm_shape(c, &p)) != VT_OK) return st;
    vt_out_set(c->out[0], VT_F32, 2, (int64_t[]){p.M, p.N});
    return VT_OK;
}

static vt_status gemm_run(vt_opctx *c)
{
    mm_shape p;
    vt_status st = gemm_shape(c, &p);
    if (st != VT_OK) return st;
    const vt_tensor *bias = c->n_in > 2 ? c->in[2] : NULL;
    return mm_exec(c, &p, bias, vt_attr_float(c->node, "alpha", 1.0f), vt_attr_float(c->node, "beta", 1.0f));
}

/* ---- Det: determinants of the trailing M x M matrices, by LU with partial pivoting (LAPACK) in double ---- */

static vt_status det_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    if (x->dtype != VT_F32 && x->dtype != VT_F64) return vt_need_f32(c, 0);
    if (x->rank < 2 || x->shape[x->rank - 1] != x->shape[x->rank - 2])
        return vt_node_fail(c, VT_ERR_ARG, "input must be [..., M, M]");
    vt_out_set(c->out[0], x->dtype, x->rank - 2, x->shape);
    return VT_OK;
}

static vt_status det_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    int64_t m = x->shape[x->rank - 1], n = vt_tensor_numel(c->out[0]);
    double *a = vt_malloc((size_t)(m * m > 0 ? m * m : 1), sizeof *a);
    lapack_int *piv = vt_malloc((size_t)(m > 0 ? m : 1), sizeof *piv);
    if (!a || !piv) {
        free(a), free(piv);
        return VT_ERR_NOMEM;
    }
    for (int64_t b = 0; b < n; b++) {
        for (int64_t i = 0; i < m * m; i++) a[i] = vt_elem_f64(x, b * m * m + i);
        double det = 1;
        if (m > 0) {
            lapack_int info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, (lapack_int)m, (lapack_int)m, a, (lapack_int)m, piv);
            if (info < 0) {
                free(a), free(piv);
                return vt_node_fail(c, VT_ERR_INTERNAL, "dgetrf failed (%d)", (int)info);
            }
            /* info > 0: an exactly zero pivot, and the product below is 0 */
            for (int64_t i = 0; i < m; i++) det *= piv[i] != i + 1 ? -a[i * m + i] : a[i * m + i];
        }
        vt_elem_set_f64(c->out[0], b, det);
    }
    free(a), free(piv);
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "", .type = "Det", .since = 11, .infer = det_infer, .run = det_run},
    {.domain = "", .type = "MatMul", .since = 1, .infer = matmul_infer, .run = matmul_run, .release = mm_release},
    {.domain = "", .type = "Gemm", .since = 1, .infer = gemm_infer, .run = gemm_run, .release = mm_release},
};

VT_OP_TABLE(vt_ops_matmul, ops);
