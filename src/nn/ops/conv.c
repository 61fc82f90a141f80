/* Conv and ConvTranspose over 1-D, 2-D and 3-D spatial dims (NCW / NCHW / NCDHW), groups, dilation, pads,
 * auto_pad. Two kernels: a naive reference (plain C, OpenMP over output planes, double
 * accumulation) kept as the test oracle, and oneDNN's forward convolution (primitive created
 * once per prepared shape and cached in node->state, weights reordered once). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

vt_status vt_window_of(const vt_opctx *c, const vt_tensor *x, const int64_t *kernel, bool ceil_mode, vt_window *w)
{
    const vt_node *n = c->node;
    int nsp = x->rank - 2;
    if (nsp < 1 || nsp > VT_WINDOW_AXES)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "%d spatial dimensions (1, 2 or 3 are supported)",
                            nsp < 0 ? 0 : nsp);
    memset(w, 0, sizeof *w);
    w->nsp = nsp;
    const int64_t *ks, *st, *dl, *pd;
    int nk = vt_attr_ints(n, "kernel_shape", &ks), ns = vt_attr_ints(n, "strides", &st);
    int nd = vt_attr_ints(n, "dilations", &dl), np = vt_attr_ints(n, "pads", &pd);
    if (kernel) ks = kernel, nk = nsp;
    if (nk != nsp) return vt_node_fail(c, VT_ERR_ARG, "kernel_shape must have %d values", nsp);
    if ((ns >= 0 && ns != nsp) || (nd >= 0 && nd != nsp) || (np >= 0 && np != 2 * nsp))
        return vt_node_fail(c, VT_ERR_ARG, "strides/dilations/pads do not match %d spatial dims", nsp);
    int off = VT_WINDOW_AXES - nsp; /* the node's axes are the last nsp of (d, h, w) */
    for (int j = 0; j < off; j++) w->in[j] = w->out[j] = w->k[j] = w->s[j] = w->d[j] = 1;
    for (int i = 0; i < nsp; i++) {
        int j = i + off;
        w->in[j] = x->shape[2 + i];
        w->k[j] = ks[i];
        w->s[j] = ns >= 0 ? st[i] : 1;
        w->d[j] = nd >= 0 ? dl[i] : 1;
        w->pb[j] = np >= 0 ? pd[i] : 0;
        w->pe[j] = np >= 0 ? pd[i + nsp] : 0;
        if (w->k[j] < 1 || w->s[j] < 1 || w->d[j] < 1 || w->pb[j] < 0 || w->pe[j] < 0)
            return vt_node_fail(c, VT_ERR_ARG, "kernel, strides and dilations must be >= 1, pads >= 0");
    }
    const char *ap = vt_attr_str(n, "auto_pad", "NOTSET");
    for (int j = off; j < VT_WINDOW_AXES; j++) {
        int64_t ext = (w->k[j] - 1) * w->d[j] + 1;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t o = (w->in[j] + w->s[j] - 1) / w->s[j];
            int64_t total = (o - 1) * w->s[j] + ext - w->in[j];
            if (total < 0) total = 0;
            w->pb[j] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
            w->pe[j] = total - w->pb[j];
        } else if (!strcmp(ap, "VALID"))
            w->pb[j] = w->pe[j] = 0;
        else if (strcmp(ap, "NOTSET") != 0)
            return vt_node_fail(c, VT_ERR_ARG, "auto_pad '%s'", ap);
        int64_t span = w->in[j] + w->pb[j] + w->pe[j] - ext;
        if (span < 0) return vt_node_fail(c, VT_ERR_ARG, "the window is larger than the padded input");
        int64_t o = (ceil_mode ? (span + w->s[j] - 1) / w->s[j] : span / w->s[j]) + 1;
        if (ceil_mode && (o - 1) * w->s[j] >= w->in[j] + w->pb[j]) o--; /* PyTorch: last window starts inside */
        w->out[j] = o;
    }
    return VT_OK;
}

void vt_window_shape(const vt_window *w, int64_t n, int64_t c, int64_t *shape)
{
    shape[0] = n;
    shape[1] = c;
    for (int i = 0; i < w->nsp; i++) shape[2 + i] = w->out[VT_WINDOW_AXES - w->nsp + i];
}

/* ---- Conv ---- */

static vt_status conv_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st == VT_OK) st = vt_need_f32(c, 1);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0], *wt = c->in[1];
    if (x->rank != wt->rank) return vt_node_fail(c, VT_ERR_ARG, "X and W ranks differ");
    int64_t g = vt_attr_int(c->node, "group", 1);
    int64_t kernel[VT_WINDOW_AXES] = {0, 0, 0};
    for (int i = 0; i < x->rank - 2 && i < VT_WINDOW_AXES; i++) kernel[i] = wt->shape[2 + i];
    vt_window w;
    if ((st = vt_window_of(c, x, kernel, false, &w)) != VT_OK) return st;
    if (g < 1 || x->shape[1] % g || wt->shape[0] % g || wt->shape[1] * g != x->shape[1])
        return vt_node_fail(c, VT_ERR_ARG, "channels (X %lld, W %lldx%lld) do not match group %lld",
                            (long long)x->shape[1], (long long)wt->shape[0], (long long)wt->shape[1], (long long)g);
    if (c->n_in > 2 && c->in[2] && vt_tensor_numel(c->in[2]) != wt->shape[0])
        return vt_node_fail(c, VT_ERR_ARG, "bias has %lld values for %lld output channels",
                            (long long)vt_tensor_numel(c->in[2]), (long long)wt->shape[0]);
    int64_t sh[2 + VT_WINDOW_AXES];
    vt_window_shape(&w, x->shape[0], wt->shape[0], sh);
    vt_out_set(c->out[0], VT_F32, x->rank, sh);
    return VT_OK;
}

static void conv_naive(const vt_opctx *c, const vt_window *w)
{
    const vt_tensor *x = c->in[0], *wt = c->in[1];
    const float *xd = x->data, *wd = wt->data, *bd = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
    float *yd = c->out[0]->data;
    int64_t N = x->shape[0], C = x->shape[1], M = wt->shape[0], G = vt_attr_int(c->node, "group", 1);
    int64_t Cg = C / G, Mg = M / G, ID = w->in[0], IH = w->in[1], IW = w->in[2];
    int64_t OD = w->out[0], OH = w->out[1], OW = w->out[2], KD = w->k[0], KH = w->k[1], KW = w->k[2];
#pragma omp parallel
    {
        int64_t plane = OD * OH * OW;
        double *acc = malloc(sizeof(double) * (size_t)(plane > 0 ? plane : 1));
#pragma omp for schedule(static)
        for (int64_t nm = 0; nm < N * M; nm++) {
            int64_t nb = nm / M, m = nm % M, g = m / Mg;
            if (!acc) continue;
            for (int64_t i = 0; i < plane; i++) acc[i] = bd ? bd[m] : 0.0;
            for (int64_t ci = 0; ci < Cg; ci++) {
                const float *xp = xd + (nb * C + g * Cg + ci) * ID * IH * IW;
                for (int64_t kd = 0; kd < KD; kd++)
                    for (int64_t kh = 0; kh < KH; kh++)
                        for (int64_t kw = 0; kw < KW; kw++) {
                            double wv = wd[(((m * Cg + ci) * KD + kd) * KH + kh) * KW + kw];
                            for (int64_t od = 0; od < OD; od++) {
                                int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
                                if (id < 0 || id >= ID) continue;
                                for (int64_t oh = 0; oh < OH; oh++) {
                                    int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
                                    if (ih < 0 || ih >= IH) continue;
                                    const float *xr = xp + (id * IH + ih) * IW;
                                    double *ar = acc + (od * OH + oh) * OW;
                                    for (int64_t ow = 0; ow < OW; ow++) {
                                        int64_t iw = ow * w->s[2] - w->pb[2] + kw * w->d[2];
                                        if (iw >= 0 && iw < IW) ar[ow] += wv * xr[iw];
                                    }
                                }
                            }
                        }
            }
            float *yp = yd + (nb * M + m) * plane;
            for (int64_t i = 0; i < plane; i++) yp[i] = (float)acc[i];
        }
        free(acc);
    }
}

typedef struct conv_state {
    dnnl_primitive_t prim;
    vt_dnnl_arg src, dst;
    dnnl_memory_t wei, bias;
    const void *wei_src;         /* the weight data the reordered copy was made from */
    bool src_nhwc, dst_nhwc;     /* user-side layouts the primitive was built for */
    vt_act act;                  /* built with this activation as a post-op (vt_opctx.fuse) */
    int64_t cut[VT_WINDOW_AXES]; /* ConvTranspose: trailing outputs past the last window per axis (bias only) */
    bool own;                    /* float32 through conv_fixed_order: oneDNN had no jit kernel for it */
} conv_state;

static void conv_release(vt_node *n)
{
    conv_state *s = n->state;
    if (!s) return;
    if (s->prim) dnnl_primitive_destroy(s->prim);
    vt_dnnl_arg_free(&s->src);
    vt_dnnl_arg_free(&s->dst);
    if (s->wei) dnnl_memory_destroy(s->wei);
    if (s->bias) dnnl_memory_destroy(s->bias);
    free(s);
    n->state = NULL;
}

/* The primitive of pd, its source/destination arguments (user layout <-> primitive layout), the
 * weights (input 1) reordered once into the primitive's layout, and the bias (input 2) as it is. */
static dnnl_status_t state_init(vt_opctx *c, dnnl_primitive_desc_t pd, const dnnl_memory_desc_t *src_user,
                                const dnnl_memory_desc_t *dst_user, const dnnl_memory_desc_t *wei_user,
                                const dnnl_memory_desc_t *bias_md, conv_state *s)
{
    const vt_tensor *wt = c->in[1];
    const dnnl_memory_desc_t *src_p = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst_p = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *wei_p = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_status_t e = dnnl_primitive_create(&s->prim, pd);
    if (e == dnnl_success) e = vt_dnnl_arg_init(&s->src, src_user, src_p, true, false);
    if (e == dnnl_success) e = vt_dnnl_arg_init(&s->dst, dst_user, dst_p, false, false);
    vt_dnnl_arg wa = {0};
    if (e == dnnl_success) e = vt_dnnl_arg_init(&wa, wei_user, wei_p, true, true);
    dnnl_memory_t wm = NULL;
    if (e == dnnl_success) e = vt_dnnl_arg_in(&wa, wt->data, NULL, &wm);
    if (e == dnnl_success) {
        if (wa.prim) {
            s->wei = wa.prim;
            wa.prim = NULL;
        } else
            e = dnnl_memory_create(&s->wei, wei_p, vt_dnnl_engine(), (void *)wt->data);
    }
    vt_dnnl_arg_free(&wa);
    if (e == dnnl_success && bias_md)
        e = dnnl_memory_create(&s->bias, bias_md, vt_dnnl_engine(), (void *)c->in[2]->data);
    s->wei_src = wt->data;
    return e;
}

/* Whether the oneDNN path applies: the fast kernels are on and the weights (input 1) and bias
 * (input 2) are graph constants, so they can be reordered once. */
/* Convolution as per-image, per-group products W_g (Mg x K) . col (K x P) through vt_sgemm_run (im2col,
 * K = Cg * kernel volume, P = output positions): each output one FMA chain in a fixed order, so the same
 * bits for any batch size, thread count and fusion. Used where oneDNN offers only its gemm or reference
 * convolution for float32 (on AVX2: alexnet's 11x11 stride-4 RGB layer), whose results changed with the
 * fused ReLU (measured) and, through its sgemm, may change with the batch. `x` is NCHW. */
static vt_status conv_fixed_order(const vt_opctx *c, const vt_window *w, const vt_tensor *x, vt_act act)
{
    const vt_tensor *wt = c->in[1];
    const float *xd = x->data, *wd = wt->data, *bd = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
    float *yd = c->out[0]->data;
    int64_t N = x->shape[0], C = x->shape[1], M = wt->shape[0], G = vt_attr_int(c->node, "group", 1);
    int64_t Cg = C / G, Mg = M / G, vol = w->k[0] * w->k[1] * w->k[2], K = Cg * vol;
    int64_t P = w->out[0] * w->out[1] * w->out[2], plane = w->in[0] * w->in[1] * w->in[2];
    int64_t tasks = N * G;
    bool failed = false;
#pragma omp parallel if (tasks > 1)
    {
        /* per thread, reused by its tasks: one image-group's columns and their packed panels */
        vt_sgemm shape = {.nbatch = 1, .M = Mg, .K = K, .N = P};
        float *col = vt_malloc((size_t)(K * P > 0 ? K * P : 1), sizeof(float));
        float *packed = vt_malloc(vt_sgemm_packed_floats(&shape) + 1, sizeof(float));
        if (!col || !packed) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tasks; t++) {
            if (!col || !packed) continue;
            int64_t n = t / G, g = t % G, zero = 0;
            const float *xg = xd + (n * C + g * Cg) * plane;
            for (int64_t r = 0; r < K; r++) { /* row r = (ci, kd, kh, kw) of the kernel */
                int64_t ci = r / vol, kd = r / (w->k[1] * w->k[2]) % w->k[0], kh = r / w->k[2] % w->k[1],
                        kw = r % w->k[2];
                float *row = col + r * P;
                for (int64_t od = 0; od < w->out[0]; od++) {
                    int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
                    for (int64_t oh = 0; oh < w->out[1]; oh++) {
                        int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
                        float *o = row + (od * w->out[1] + oh) * w->out[2];
                        bool inside = id >= 0 && id < w->in[0] && ih >= 0 && ih < w->in[1];
                        const float *xr = xg + ci * plane + (id * w->in[1] + ih) * w->in[2];
                        for (int64_t ow = 0; ow < w->out[2]; ow++) {
                            int64_t iw = ow * w->s[2] - w->pb[2] + kw * w->d[2];
                            o[ow] = inside && iw >= 0 && iw < w->in[2] ? xr[iw] : 0.0f;
                        }
                    }
                }
            }
            vt_sgemm p = shape;
            p.A = wd + g * Mg * K, p.B = col, p.a_off = p.b_off = &zero, p.C = yd + (n * M + g * Mg) * P;
            p.bias = bd ? bd + g * Mg : NULL, p.bias_rs = 1, p.act = act, p.packed = packed;
            vt_sgemm_pack(&p);
            if (vt_sgemm_run(&p) != VT_OK) {
#pragma omp atomic write
                failed = true;
            }
        }
        free(col), free(packed);
    }
    return failed ? VT_ERR_NOMEM : VT_OK;
}

static bool onednn_usable(const vt_opctx *c)
{
    const vt_value *wv = &c->g->values[c->node->in[1]];
    const vt_value *bv = c->n_in > 2 && c->node->in[2] >= 0 ? &c->g->values[c->node->in[2]] : NULL;
    return vt_nn_fast(c->g) && (wv->init || wv->folded) && (!bv || bv->init || bv->folded);
}

/* Runs the primitive: input 0 (reordered into scratch when the layouts differ) to dst (user layout). */
static vt_status state_exec(vt_opctx *c, conv_state *s, void *dst_data, const char *what)
{
    dnnl_memory_t src, dst;
    void *ssrc = s->src.reorder ? vt_graph_scratch(c->g, 0, s->src.prim_bytes) : NULL;
    void *sdst = s->dst.reorder ? vt_graph_scratch(c->g, 1, s->dst.prim_bytes) : NULL;
    if ((s->src.reorder && !ssrc) || (s->dst.reorder && !sdst)) return VT_ERR_NOMEM;
    dnnl_status_t e = vt_dnnl_arg_in(&s->src, c->in[0]->data, ssrc, &src);
    if (e == dnnl_success) e = vt_dnnl_arg_out_prepare(&s->dst, dst_data, sdst, &dst);
    if (e == dnnl_success) {
        dnnl_exec_arg_t args[4] = {
            {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, s->wei}, {DNNL_ARG_DST, dst}, {DNNL_ARG_BIAS, s->bias}};
        e = vt_dnnl_exec(s->prim, s->bias ? 4 : 3, args);
    }
    if (e == dnnl_success) e = vt_dnnl_arg_out_finish(&s->dst);
    return vt_dnnl_check(c, e, what);
}

/* oneDNN's view of a window: 2-D (1-D as height 1) or 3-D spatial dims, and the first of them in the
 * window's (d, h, w) axes. */
static int dnnl_spatial(const vt_window *w, int *first)
{
    int ns = w->nsp == 3 ? 3 : 2;
    *first = VT_WINDOW_AXES - ns;
    return ns;
}

/* Builds the oneDNN primitive for the prepared shapes; weights (and bias) are copied into the
 * primitive's preferred layout once, as long as they are constants of the graph. */
static vt_status conv_create(vt_opctx *c, const vt_window *w, conv_state *s)
{
    const vt_tensor *x = c->in[0], *wt = c->in[1];
    int64_t G = vt_attr_int(c->node, "group", 1), M = wt->shape[0];
    int a0, ns = dnnl_spatial(w, &a0), nd = 2 + ns;
    bool vol = ns == 3;
    dnnl_dims_t src_dims = {x->shape[0], x->shape[1]}, dst_dims = {x->shape[0], M};
    dnnl_dims_t wdims = {G, M / G, wt->shape[1]}, wdims1 = {M, wt->shape[1]};
    dnnl_dims_t strides, dil, pl, pr;
    for (int i = 0; i < ns; i++) {
        src_dims[2 + i] = w->in[a0 + i];
        dst_dims[2 + i] = w->out[a0 + i];
        wdims[3 + i] = wdims1[2 + i] = w->k[a0 + i];
        strides[i] = w->s[a0 + i];
        dil[i] = w->d[a0 + i] - 1;
        pl[i] = w->pb[a0 + i];
        pr[i] = w->pe[a0 + i];
    }
    /* AVX-512 kernels block channels by 16, AVX2 ones by 8: a 16-block on an AVX2 CPU left oneDNN only its
     * reference convolution (ref:any, measured: alexnet 32 s for a test batch). */
    int cb = __builtin_cpu_supports("avx512f") ? 16 : 8;
    dnnl_format_tag_t plain = vol ? dnnl_ncdhw : dnnl_nchw;
    dnnl_format_tag_t blocked = cb == 16 ? (vol ? dnnl_aBcde16b : dnnl_aBcd16b) : (vol ? dnnl_aBcde8b : dnnl_aBcd8b);
    dnnl_format_tag_t wplain = vol ? dnnl_oidhw : dnnl_oihw, gplain = vol ? dnnl_goidhw : dnnl_goihw;
    dnnl_memory_desc_t src_user, dst_user, wei_user, bias_md, src_any, dst_any, wei_any;
    dnnl_data_type_t cdt = c->g->precision == VT_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
    /* NHWC user layouts exist for 4-D activations only (conv_run). */
    dnnl_status_t e = dnnl_memory_desc_init_by_tag(&src_user, nd, src_dims, dnnl_f32, s->src_nhwc ? dnnl_nhwc : plain);
    if (e == dnnl_success)
        e = dnnl_memory_desc_init_by_tag(&dst_user, nd, dst_dims, dnnl_f32, s->dst_nhwc ? dnnl_nhwc : plain);
    if (e == dnnl_success)
        e = G == 1 ? dnnl_memory_desc_init_by_tag(&wei_user, nd, wdims1, dnnl_f32, wplain)
                   : dnnl_memory_desc_init_by_tag(&wei_user, nd + 1, wdims, dnnl_f32, gplain);
    if (e == dnnl_success) e = vt_dnnl_plain_md(&bias_md, 1, &M, dnnl_f32);
    /* float32: oneDNN's channel-blocked layout (nChw16c) selects its jit convolutions, measured here 2.2x
     * faster than the brgconv kernels it picks for format "any" (resnet50: 0.92 s vs 2.04 s of convolution
     * per 16 images, one thread), reorders included. Channel counts that are not multiples of the block (the
     * RGB input) keep "any". bf16 likewise on AVX512-BF16 without AMX: its jit nChw16c kernels with blocked
     * reorders ran resnet50 at 34.1 images/s here against 27.4 for the brgconv kernels of "any", whose
     * plain-to-NHWC bf16 reorders took a third of the time. With AMX, "any" (brgconv AMX) is kept.
     * 3-D convolutions take the same choice with nCdhw16c. */
    bool blk = (cdt == dnnl_f32 || !__builtin_cpu_supports("amx-bf16")) && !getenv("VENTRAL_NN_CONV_ANY");
    vt_status st = vt_dnnl_check(c, e, "memory descriptors");
    if (st != VT_OK) return st;
    bool has_bias = c->n_in > 2 && c->in[2];
    dnnl_primitive_desc_t pd = NULL;
    /* Where the blocked layout leaves oneDNN only its reference kernel (ref:any; on AVX2 the 11x11 stride-4
     * RGB convolution of alexnet), "any" lets it choose (there: im2col + its sgemm). */
    for (int attempt = 0; attempt < 2; attempt++) {
        bool forced = blk && attempt == 0;
        dnnl_format_tag_t src_tag = forced && x->shape[1] % cb == 0 ? blocked : dnnl_format_tag_any;
        dnnl_format_tag_t dst_tag = forced && M % cb == 0 ? blocked : dnnl_format_tag_any;
        e = dnnl_memory_desc_init_by_tag(&src_any, nd, src_dims, cdt, src_tag);
        if (e == dnnl_success) e = dnnl_memory_desc_init_by_tag(&dst_any, nd, dst_dims, dnnl_f32, dst_tag);
        if (e == dnnl_success)
            e = G == 1 ? dnnl_memory_desc_init_by_tag(&wei_any, nd, wdims1, cdt, dnnl_format_tag_any)
                       : dnnl_memory_desc_init_by_tag(&wei_any, nd + 1, wdims, cdt, dnnl_format_tag_any);
        if ((st = vt_dnnl_check(c, e, "memory descriptors")) != VT_OK) return st;
        /* f32-winograd: oneDNN's Winograd kernel for 3x3 stride-1 undilated ungrouped 2-D convolutions where
         * it has one (AVX-512, the blocked layout); every other convolution, or no such kernel, runs direct. */
        bool wino = c->g->precision == VT_PRECISION_F32_WINOGRAD && !vol && G == 1 && w->k[1] == 3 && w->k[2] == 3 &&
                    w->s[1] == 1 && w->s[2] == 1 && w->d[1] == 1 && w->d[2] == 1 && forced;
        for (int pass = wino ? 0 : 1; pass < 2 && !pd; pass++) {
            dnnl_convolution_desc_t cd;
            e = dnnl_dilated_convolution_forward_desc_init(
                &cd, dnnl_forward_inference, pass == 0 ? dnnl_convolution_winograd : dnnl_convolution_direct, &src_any,
                &wei_any, has_bias ? &bias_md : NULL, &dst_any, strides, dil, pl, pr);
            dnnl_primitive_attr_t attr = NULL;
            if (e == dnnl_success) e = vt_dnnl_attr(c->g, s->act, &attr);
            if (e == dnnl_success) e = dnnl_primitive_desc_create(&pd, &cd, attr, vt_dnnl_engine(), NULL);
            if (attr) dnnl_primitive_attr_destroy(attr);
            if (e != dnnl_success) pd = NULL;
        }
        const char *impl = NULL;
        if (!pd || !forced || dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
            !impl || strncmp(impl, "ref", 3) != 0)
            break;
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
    }
    if ((st = vt_dnnl_check(c, e, "convolution descriptor")) != VT_OK) return st;
    const char *impl = NULL;
    if (cdt == dnnl_f32 && c->g->precision != VT_PRECISION_F32_WINOGRAD &&
        (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl ||
         (strncmp(impl, "jit", 3) != 0 && strncmp(impl, "brg", 3) != 0))) {
        dnnl_primitive_desc_destroy(pd);
        s->own = true;
        return VT_OK;
    }
    e = state_init(c, pd, &src_user, &dst_user, &wei_user, has_bias ? &bias_md : NULL, s);
    dnnl_primitive_desc_destroy(pd);
    return vt_dnnl_check(c, e, "convolution primitive");
}

static vt_status conv_run(vt_opctx *c)
{
    vt_window w;
    const vt_tensor *wt = c->in[1];
    int64_t kernel[VT_WINDOW_AXES] = {0, 0, 0};
    for (int i = 0; i < wt->rank - 2 && i < VT_WINDOW_AXES; i++) kernel[i] = wt->shape[2 + i];
    vt_status st = vt_window_of(c, c->in[0], kernel, false, &w);
    if (st != VT_OK) return st;
    /* oneDNN needs constant weights (reordered once); graphs feeding W at run time use the reference. */
    if (!onednn_usable(c)) {
        conv_naive(c, &w);
        return VT_OK;
    }
    /* NHWC in and out for 4-D activations (the layout oneDNN's f32/bf16 convolutions compute in):
     * consecutive convolutions then need no layout change in between. */
    bool src_nhwc = c->in_nhwc[0], dst_nhwc = c->in[0]->rank == 4 && !c->want_plain_out;
    conv_state *s = c->node->state;
    if (s && (s->src_nhwc != src_nhwc || s->dst_nhwc != dst_nhwc || !vt_act_equal(s->act, c->fuse))) {
        conv_release(c->node);
        s = NULL;
    }
    if (!s) {
        s = vt_calloc(1, sizeof *s);
        if (!s) return VT_ERR_NOMEM;
        c->node->state = s;
        s->src_nhwc = src_nhwc;
        s->dst_nhwc = dst_nhwc;
        s->act = c->fuse;
        if ((st = conv_create(c, &w, s)) != VT_OK) {
            conv_release(c->node);
            return st;
        }
    }
    c->fused = s->act.kind != VT_ACT_NONE;
    if (s->own) {
        const vt_tensor *x = c->in[0];
        vt_tensor plain = *x;
        if (c->in_nhwc[0]) {
            plain.data = vt_graph_scratch(c->g, 0, (size_t)vt_tensor_numel(x) * sizeof(float));
            if (!plain.data) return VT_ERR_NOMEM;
            vt_nhwc_to_nchw(x, &plain);
        }
        c->out_nhwc[0] = false;
        return conv_fixed_order(c, &w, &plain, s->act);
    }
    c->out_nhwc[0] = s->dst_nhwc;
    return state_exec(c, s, c->out[0]->data, "convolution");
}

/* NHWC input is taken as is by the oneDNN path (constant weights, 2-D); the reference needs NCHW. */
static bool conv_accepts_nhwc(const vt_opctx *c)
{
    return c->in[0]->rank == 4 && onednn_usable(c);
}

/* ---- ConvTranspose (reference kernel) ---- */

static vt_status convt_geom(const vt_opctx *c, vt_window *w, int64_t *oshape)
{
    const vt_tensor *x = c->in[0], *wt = c->in[1];
    int nsp = x->rank - 2;
    if (nsp < 1 || nsp > VT_WINDOW_AXES)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "%d spatial dimensions (1, 2 or 3 are supported)",
                            nsp < 0 ? 0 : nsp);
    if (wt->rank != x->rank) return vt_node_fail(c, VT_ERR_ARG, "X and W ranks differ");
    memset(w, 0, sizeof *w);
    w->nsp = nsp;
    const int64_t *st, *dl, *pd, *op, *os;
    int ns = vt_attr_ints(c->node, "strides", &st), nd = vt_attr_ints(c->node, "dilations", &dl);
    int np = vt_attr_ints(c->node, "pads", &pd), nop = vt_attr_ints(c->node, "output_padding", &op);
    int nos = vt_attr_ints(c->node, "output_shape", &os);
    const char *ap = vt_attr_str(c->node, "auto_pad", "NOTSET");
    int off = VT_WINDOW_AXES - nsp;
    for (int j = 0; j < off; j++) w->in[j] = w->out[j] = w->k[j] = w->s[j] = w->d[j] = 1;
    for (int i = 0; i < nsp; i++) {
        int j = i + off;
        w->in[j] = x->shape[2 + i];
        w->k[j] = wt->shape[2 + i];
        w->s[j] = ns > i ? st[i] : 1;
        w->d[j] = nd > i ? dl[i] : 1;
        w->pb[j] = np == 2 * nsp ? pd[i] : 0;
        w->pe[j] = np == 2 * nsp ? pd[i + nsp] : 0;
        int64_t opad = nop > i ? op[i] : 0, ext = (w->k[j] - 1) * w->d[j] + 1;
        int64_t full = w->s[j] * (w->in[j] - 1) + opad + ext;
        if (nos == nsp || !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t target = nos == nsp ? os[i] : w->in[j] * w->s[j];
            int64_t total = full - target; /* negative: the output extends past the last window (bias only) */
            bool lower = !strcmp(ap, "SAME_LOWER");
            w->pb[j] = lower ? total - total / 2 : total / 2;
            w->pe[j] = total - w->pb[j];
        }
        w->out[j] = full - w->pb[j] - w->pe[j];
    }
    int64_t g = vt_attr_int(c->node, "group", 1);
    if (g < 1 || x->shape[1] != wt->shape[0] || wt->shape[0] % g)
        return vt_node_fail(c, VT_ERR_ARG, "channels do not match the weights and group");
    vt_window_shape(w, x->shape[0], wt->shape[1] * g, oshape);
    return VT_OK;
}

static vt_status convt_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st == VT_OK) st = vt_need_f32(c, 1);
    if (st != VT_OK) return st;
    vt_window w;
    int64_t sh[2 + VT_WINDOW_AXES];
    if ((st = convt_geom(c, &w, sh)) != VT_OK) return st;
    vt_out_set(c->out[0], VT_F32, c->in[0]->rank, sh);
    return VT_OK;
}

/* oneDNN's deconvolution for the prepared shapes (NCHW in and out, weights reordered once). An output
 * that extends past the last window (output_padding, a larger output_shape) would need negative right
 * padding, which oneDNN refuses: the primitive then computes the covered part and the trailing rows and
 * columns (s->cut) are the bias alone. Returns false, with nothing built, when oneDNN has no
 * implementation or the left padding is negative. */
static bool convt_create(vt_opctx *c, const vt_window *w, const int64_t *osh, conv_state *s)
{
    const vt_tensor *x = c->in[0];
    int64_t G = vt_attr_int(c->node, "group", 1), C = x->shape[1], M = osh[1];
    int a0, ns = dnnl_spatial(w, &a0), nd = 2 + ns;
    bool vol = ns == 3;
    /* ONNX weights are (C_in, C_out/G, k...): oneDNN's (OC, IC, K...) in "io(d)hw" order. */
    dnnl_dims_t sd = {x->shape[0], C}, dd = {x->shape[0], M}, wd1 = {M, C}, wdg = {G, M / G, C / G};
    dnnl_dims_t pl, pr, strides, dil;
    for (int i = 0; i < ns; i++) {
        int j = a0 + i;
        /* oneDNN: out = (in − 1)·s + (k − 1)·d + 1 − pl − pr; ONNX's output_padding / output_shape sit in pr. */
        pl[i] = w->pb[j];
        pr[i] = (w->in[j] - 1) * w->s[j] + (w->k[j] - 1) * w->d[j] + 1 - w->pb[j] - w->out[j];
        s->cut[j] = pr[i] < 0 ? -pr[i] : 0;
        pr[i] += s->cut[j];
        if (pl[i] < 0 || s->cut[j] >= w->out[j]) return false;
        strides[i] = w->s[j];
        dil[i] = w->d[j] - 1;
        sd[2 + i] = w->in[j];
        dd[2 + i] = w->out[j] - s->cut[j];
        wd1[2 + i] = wdg[3 + i] = w->k[j];
    }
    dnnl_data_type_t cdt = c->g->precision == VT_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_format_tag_t plain = vol ? dnnl_ncdhw : dnnl_nchw;
    dnnl_format_tag_t wplain = vol ? dnnl_iodhw : dnnl_iohw, gplain = vol ? dnnl_giodhw : dnnl_giohw;
    dnnl_memory_desc_t src_user, dst_user, wei_user, bias_md, src_any, dst_any, wei_any;
    dnnl_status_t e = dnnl_memory_desc_init_by_tag(&src_user, nd, sd, dnnl_f32, plain);
    if (e == dnnl_success) e = dnnl_memory_desc_init_by_tag(&dst_user, nd, dd, dnnl_f32, plain);
    if (e == dnnl_success)
        e = G == 1 ? dnnl_memory_desc_init_by_tag(&wei_user, nd, wd1, dnnl_f32, wplain)
                   : dnnl_memory_desc_init_by_tag(&wei_user, nd + 1, wdg, dnnl_f32, gplain);
    if (e == dnnl_success) e = vt_dnnl_plain_md(&bias_md, 1, &M, dnnl_f32);
    if (e == dnnl_success) e = dnnl_memory_desc_init_by_tag(&src_any, nd, sd, cdt, dnnl_format_tag_any);
    if (e == dnnl_success) e = dnnl_memory_desc_init_by_tag(&dst_any, nd, dd, dnnl_f32, dnnl_format_tag_any);
    if (e == dnnl_success)
        e = G == 1 ? dnnl_memory_desc_init_by_tag(&wei_any, nd, wd1, cdt, dnnl_format_tag_any)
                   : dnnl_memory_desc_init_by_tag(&wei_any, nd + 1, wdg, cdt, dnnl_format_tag_any);
    bool has_bias = c->n_in > 2 && c->in[2];
    dnnl_deconvolution_desc_t desc;
    if (e == dnnl_success)
        e = dnnl_dilated_deconvolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_deconvolution_direct,
                                                         &src_any, &wei_any, has_bias ? &bias_md : NULL, &dst_any,
                                                         strides, dil, pl, pr);
    dnnl_primitive_attr_t attr = NULL;
    if (e == dnnl_success) e = vt_dnnl_attr(c->g, (vt_act){.kind = VT_ACT_NONE}, &attr);
    dnnl_primitive_desc_t pd = NULL;
    if (e == dnnl_success) e = dnnl_primitive_desc_create(&pd, &desc, attr, vt_dnnl_engine(), NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (e == dnnl_success) e = state_init(c, pd, &src_user, &dst_user, &wei_user, has_bias ? &bias_md : NULL, s);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return e == dnnl_success;
}

/* The deconvolution into scratch (the covered D' × H' × W' part), then each output volume: that part,
 * and the bias in the cut-off tails. */
static vt_status convt_run_cut(vt_opctx *c, conv_state *s, const vt_window *w)
{
    const vt_tensor *y = c->out[0];
    int64_t NM = y->shape[0] * y->shape[1], M = y->shape[1], OD = w->out[0], OH = w->out[1], OW = w->out[2];
    int64_t D = OD - s->cut[0], H = OH - s->cut[1], W = OW - s->cut[2];
    float *part = vt_graph_scratch(c->g, 2, sizeof(float) * (size_t)(NM * D * H * W));
    if (!part) return VT_ERR_NOMEM;
    vt_status st = state_exec(c, s, part, "deconvolution");
    if (st != VT_OK) return st;
    const float *bias = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
    float *yd = y->data;
#pragma omp parallel for schedule(static) if (NM * OD * OH * OW > 65536)
    for (int64_t p = 0; p < NM; p++) {
        float b = bias ? bias[p % M] : 0.0f;
        for (int64_t z = 0; z < OD; z++)
            for (int64_t h = 0; h < OH; h++) {
                float *row = yd + ((p * OD + z) * OH + h) * OW;
                int64_t w0 = 0;
                if (z < D && h < H) {
                    memcpy(row, part + ((p * D + z) * H + h) * W, sizeof(float) * (size_t)W);
                    w0 = W;
                }
                for (int64_t x = w0; x < OW; x++) row[x] = b;
            }
    }
    return VT_OK;
}

/* Whether output index o along window axis j takes input i from tap k (ConvTranspose's gather form). */
static inline bool convt_tap(const vt_window *w, int j, int64_t o, int64_t k, int64_t *i)
{
    int64_t t = o + w->pb[j] - k * w->d[j];
    if (t < 0 || t % w->s[j]) return false;
    *i = t / w->s[j];
    return *i < w->in[j];
}

static vt_status convt_run(vt_opctx *c)
{
    vt_window w;
    int64_t sh[2 + VT_WINDOW_AXES];
    vt_status st = convt_geom(c, &w, sh);
    if (st != VT_OK) return st;
    /* oneDNN for constant weights (reordered once); the reference loop otherwise, and for what
     * convt_create cannot express (remembered in the state, so it is not retried every batch). */
    if (onednn_usable(c)) {
        conv_state *s = c->node->state;
        if (!s) {
            if (!(s = vt_calloc(1, sizeof *s))) return VT_ERR_NOMEM;
            c->node->state = s;
            if (!convt_create(c, &w, sh, s)) {
                conv_release(c->node);
                if (!(s = vt_calloc(1, sizeof *s))) return VT_ERR_NOMEM;
                c->node->state = s; /* no primitive: the reference loop */
            }
        }
        if (s->prim && !s->cut[0] && !s->cut[1] && !s->cut[2])
            return state_exec(c, s, c->out[0]->data, "deconvolution");
        if (s->prim) return convt_run_cut(c, s, &w);
    }
    const float *xd = c->in[0]->data, *wd = c->in[1]->data, *bd = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
    float *yd = c->out[0]->data;
    int64_t N = sh[0], M = sh[1], C = c->in[0]->shape[1], G = vt_attr_int(c->node, "group", 1);
    int64_t Cg = C / G, Mg = M / G, ID = w.in[0], IH = w.in[1], IW = w.in[2];
    int64_t OD = w.out[0], OH = w.out[1], OW = w.out[2], KD = w.k[0], KH = w.k[1], KW = w.k[2];
    /* Gather form: each output voxel sums the inputs whose window covers it (one writer each). */
#pragma omp parallel for schedule(static)
    for (int64_t nm = 0; nm < N * M; nm++) {
        int64_t nb = nm / M, m = nm % M, g = m / Mg, mg = m % Mg;
        for (int64_t od = 0; od < OD; od++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = bd ? bd[m] : 0.0;
                    int64_t id, ih, iw;
                    for (int64_t kd = 0; kd < KD; kd++) {
                        if (!convt_tap(&w, 0, od, kd, &id)) continue;
                        for (int64_t kh = 0; kh < KH; kh++) {
                            if (!convt_tap(&w, 1, oh, kh, &ih)) continue;
                            for (int64_t kw = 0; kw < KW; kw++) {
                                if (!convt_tap(&w, 2, ow, kw, &iw)) continue;
                                for (int64_t ci = 0; ci < Cg; ci++) {
                                    int64_t cc = g * Cg + ci;
                                    acc += (double)xd[(((nb * C + cc) * ID + id) * IH + ih) * IW + iw] *
                                           wd[(((cc * Mg + mg) * KD + kd) * KH + kh) * KW + kw];
                                }
                            }
                        }
                    }
                    yd[((nb * M + m) * OD * OH + od * OH + oh) * OW + ow] = (float)acc;
                }
    }
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "",
     .type = "Conv",
     .since = 1,
     .infer = conv_infer,
     .run = conv_run,
     .release = conv_release,
     .accepts_nhwc = conv_accepts_nhwc},
    {.domain = "",
     .type = "ConvTranspose",
     .since = 1,
     .infer = convt_infer,
     .run = convt_run,
     .release = conv_release},
};

VT_OP_TABLE(vt_ops_conv, ops);
