/* Normalisations in inference form: BatchNormalization (running statistics), LayerNormalization,
 * InstanceNormalization, LRN, MeanVarianceNormalization. Statistics accumulate in double in a fixed
 * order per row, so the result does not depend on threads or batch size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "nn/ops/vecmath.h"

static vt_status bn_infer(vt_opctx *c)
{
    for (int i = 0; i < 5; i++) {
        vt_status st = vt_need_f32(c, i);
        if (st != VT_OK) return st;
    }
    const vt_tensor *x = c->in[0];
    if (x->rank < 2) return vt_node_fail(c, VT_ERR_ARG, "input must be N x C x ...");
    if (vt_attr_int(c->node, "training_mode", 0) != 0)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "training_mode=1 (batch statistics) is not supported");
    /* Before opset 7: is_test=0 (the default) meant batch statistics, as onnx's version converter reads it;
     * spatial=0 (statistics per C x spatial element, before opset 9) is not built. */
    if (c->node->opset < 7 && vt_attr_int(c->node, "is_test", 0) == 0)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                            "is_test=0 (training mode) is not supported at opset %d; set is_test=1 for inference",
                            c->node->opset);
    if (c->node->opset < 9 && vt_attr_int(c->node, "spatial", 1) == 0)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "spatial=0 is not supported");
    for (int k = 1; k < c->n_out; k++)
        if (c->node->out[k] >= 0)
            return vt_node_fail(c, VT_ERR_UNSUPPORTED, "the training outputs (running mean/var) are not supported");
    for (int i = 1; i < 5; i++)
        if (vt_tensor_numel(c->in[i]) != x->shape[1])
            return vt_node_fail(c, VT_ERR_ARG, "input %d has %lld values for %lld channels", i,
                                (long long)vt_tensor_numel(c->in[i]), (long long)x->shape[1]);
    vt_out_set(c->out[0], VT_F32, x->rank, x->shape);
    for (int k = 1; k < c->n_out; k++) vt_out_set(c->out[k], VT_F32, 1, &x->shape[1]);
    return VT_OK;
}

static bool bn_accepts_nhwc(const vt_opctx *c)
{
    return c->in[0]->rank == 4;
}

/* The fused activation exactly as the Relu (y > 0 ? y : 0) and Clip ops compute it. */
static inline float bn_act(float v, vt_act_kind k, float lo, float hi)
{
    if (k == VT_ACT_RELU) return v > 0 ? v : 0.0f;
    if (k == VT_ACT_CLIP) return v < lo ? lo : v > hi ? hi : v;
    return v;
}

/* One row of y = act((x - m) * a + b): per element (m, a, b arrays, NHWC) or one channel (scalars, NCHW). */
VT_CLONES static void bn_row(const float *x, float *y, int64_t n, const float *m, const float *a, const float *b,
                             float m1, float a1, float b1, vt_act_kind k, float lo, float hi)
{
    if (m) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = bn_act((x[i] - m[i]) * a[i] + b[i], k, lo, hi);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = bn_act((x[i] - m1) * a1 + b1, k, lo, hi);
    }
}

static vt_status bn_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    float eps = vt_attr_float(c->node, "epsilon", 1e-5f);
    const float *sc = c->in[1]->data, *b = c->in[2]->data, *mean = c->in[3]->data, *var = c->in[4]->data;
    int64_t N = x->shape[0], C = x->shape[1], sp = N * C > 0 ? vt_tensor_numel(x) / (N * C) : 0;
    const float *xd = x->data;
    float *yd = c->out[0]->data;
    c->out_nhwc[0] = c->in_nhwc[0];
    vt_act act = c->fuse;
    /* PyTorch's eval form: y = (x - mean) * (scale / sqrt(var + eps)) + bias, in float. */
    float *a = vt_malloc((size_t)(C ? C : 1), sizeof *a);
    if (!a) return VT_ERR_NOMEM;
    for (int64_t ch = 0; ch < C; ch++) a[ch] = sc[ch] / sqrtf(var[ch] + eps);
    if (c->in_nhwc[0]) { /* N x HW x C: the channel is the innermost index */
#pragma omp parallel for schedule(static) if (N * C * sp > 32768)
        for (int64_t p = 0; p < N * sp; p++)
            bn_row(xd + p * C, yd + p * C, C, mean, a, b, 0, 0, 0, act.kind, act.lo, act.hi);
    } else {
#pragma omp parallel for schedule(static) if (N * C * sp > 32768)
        for (int64_t p = 0; p < N * C; p++) {
            int64_t ch = p % C;
            bn_row(xd + p * sp, yd + p * sp, sp, NULL, NULL, NULL, mean[ch], a[ch], b[ch], act.kind, act.lo, act.hi);
        }
    }
    c->fused = act.kind != VT_ACT_NONE;
    free(a);
    return VT_OK;
}

static vt_status ln_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st == VT_OK) st = vt_need_f32(c, 1);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int axis = 0;
    if (!vt_axis(vt_attr_int(c->node, "axis", -1), x->rank, &axis))
        return vt_node_fail(c, VT_ERR_ARG, "axis out of range");
    int64_t inner = 1;
    for (int d = axis; d < x->rank; d++) inner *= x->shape[d];
    if (vt_tensor_numel(c->in[1]) != inner || (c->n_in > 2 && c->in[2] && vt_tensor_numel(c->in[2]) != inner))
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "scale and bias must cover the normalised dims exactly");
    vt_out_set(c->out[0], VT_F32, x->rank, x->shape);
    int64_t sh[VT_MAX_RANK];
    for (int d = 0; d < x->rank; d++) sh[d] = d < axis ? x->shape[d] : 1;
    for (int k = 1; k < c->n_out; k++) vt_out_set(c->out[k], VT_F32, x->rank, sh);
    return VT_OK;
}

/* One row of LayerNormalization, in double: the mean, then the variance around it, each summed over 8
 * interleaved partial sums (lane l takes elements l, l + 8, ...) added pairwise, then the tail: a fixed order
 * on every instruction set. */
VT_CLONES static void ln_row(const float *x, float *y, int64_t n, const float *sc, const float *b, float eps,
                             double *mean_out, double *rstd_out)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
#pragma omp simd
        for (int l = 0; l < 8; l++) acc[l] += (double)x[j + l];
    }
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < n; j++) s += x[j];
    double mean = s / (double)n;
    for (int l = 0; l < 8; l++) acc[l] = 0;
    for (j = 0; j + 8 <= n; j += 8) {
#pragma omp simd
        for (int l = 0; l < 8; l++) acc[l] += (x[j + l] - mean) * (x[j + l] - mean);
    }
    double ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < n; j++) ss += (x[j] - mean) * (x[j] - mean);
    double rstd = 1.0 / sqrt(ss / (double)n + eps);
    if (b) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = (float)((x[i] - mean) * rstd * sc[i] + b[i]);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = (float)((x[i] - mean) * rstd * sc[i] + 0.0);
    }
    *mean_out = mean;
    *rstd_out = rstd;
}

static vt_status ln_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    int axis = x->rank - 1;
    vt_axis(vt_attr_int(c->node, "axis", -1), x->rank, &axis);
    float eps = vt_attr_float(c->node, "epsilon", 1e-5f);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    for (int d = axis; d < x->rank; d++) inner *= x->shape[d];
    const float *xd = x->data, *sc = c->in[1]->data, *b = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
    float *yd = c->out[0]->data;
    float *md = c->n_out > 1 && c->node->out[1] >= 0 ? c->out[1]->data : NULL;
    float *rd = c->n_out > 2 && c->node->out[2] >= 0 ? c->out[2]->data : NULL;
#pragma omp parallel for schedule(static) if (outer * inner > 32768)
    for (int64_t o = 0; o < outer; o++) {
        double mean, rstd;
        ln_row(xd + o * inner, yd + o * inner, inner, sc, b, eps, &mean, &rstd);
        if (md) md[o] = (float)mean;
        if (rd) rd[o] = (float)rstd;
    }
    return VT_OK;
}

static vt_status in_infer(vt_opctx *c)
{
    for (int i = 0; i < 3; i++) {
        vt_status st = vt_need_f32(c, i);
        if (st != VT_OK) return st;
    }
    const vt_tensor *x = c->in[0];
    if (x->rank < 3) return vt_node_fail(c, VT_ERR_ARG, "input must be N x C x spatial...");
    if (vt_tensor_numel(c->in[1]) != x->shape[1] || vt_tensor_numel(c->in[2]) != x->shape[1])
        return vt_node_fail(c, VT_ERR_ARG, "scale and bias must have C values");
    vt_out_set(c->out[0], VT_F32, x->rank, x->shape);
    return VT_OK;
}

static vt_status in_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    float eps = vt_attr_float(c->node, "epsilon", 1e-5f);
    int64_t N = x->shape[0], C = x->shape[1], sp = N * C > 0 ? vt_tensor_numel(x) / (N * C) : 0;
    const float *xd = x->data, *sc = c->in[1]->data, *b = c->in[2]->data;
    float *yd = c->out[0]->data;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < N * C; p++) {
        const float *xp = xd + p * sp;
        float *yp = yd + p * sp;
        double s = 0, ss = 0;
        for (int64_t i = 0; i < sp; i++) s += xp[i];
        double mean = s / (double)sp;
        for (int64_t i = 0; i < sp; i++) ss += (xp[i] - mean) * (xp[i] - mean);
        double rstd = 1.0 / sqrt(ss / (double)sp + eps);
        int64_t ch = p % C;
        for (int64_t i = 0; i < sp; i++) yp[i] = (float)((xp[i] - mean) * rstd * sc[ch] + b[ch]);
    }
    return VT_OK;
}

static vt_status lrn_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st != VT_OK) return st;
    if (c->in[0]->rank < 2) return vt_node_fail(c, VT_ERR_ARG, "input must be N x C x ...");
    if (vt_attr_int(c->node, "size", 0) < 1) return vt_node_fail(c, VT_ERR_ARG, "size must be >= 1");
    vt_out_set(c->out[0], VT_F32, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status lrn_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    int64_t size = vt_attr_int(c->node, "size", 1);
    double alpha = vt_attr_float(c->node, "alpha", 1e-4f), beta = vt_attr_float(c->node, "beta", 0.75f),
           bias = vt_attr_float(c->node, "bias", 1.0f);
    int64_t N = x->shape[0], C = x->shape[1], sp = N * C > 0 ? vt_tensor_numel(x) / (N * C) : 0;
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    const float *xd = x->data;
    float *yd = c->out[0]->data;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < N * C; p++) {
        int64_t nb = p / C, ch = p % C;
        int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch + hi >= C ? C - 1 : ch + hi;
        for (int64_t i = 0; i < sp; i++) {
            double s = 0;
            for (int64_t q = c0; q <= c1; q++) {
                double v = xd[(nb * C + q) * sp + i];
                s += v * v;
            }
            yd[p * sp + i] = (float)(xd[p * sp + i] / pow(bias + alpha / (double)size * s, beta));
        }
    }
    return VT_OK;
}

/* ---- MeanVarianceNormalization: (x - E[x]) / (sqrt(E[(x - E[x])^2]) + 1e-9) over `axes` (default 0, 2, 3) ----
 * The spec's function computes the variance as E[x^2] - E[x]^2 in the input type; two passes in double give the
 * same quantity without its cancellation. */

static vt_status mvn_axes(const vt_opctx *c, bool *red)
{
    const int64_t *axes;
    static const int64_t dflt[] = {0, 2, 3};
    int n = vt_attr_ints(c->node, "axes", &axes), r = c->in[0]->rank;
    if (n < 0) n = 3, axes = dflt;
    memset(red, 0, sizeof(bool) * VT_MAX_RANK);
    for (int i = 0; i < n; i++) {
        int a;
        if (!vt_axis(axes[i], r, &a)) return vt_node_fail(c, VT_ERR_ARG, "axis %lld out of range", (long long)axes[i]);
        red[a] = true;
    }
    return VT_OK;
}

static vt_status mvn_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    bool red[VT_MAX_RANK];
    if (st == VT_OK) st = mvn_axes(c, red);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], VT_F32, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status mvn_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    bool red[VT_MAX_RANK];
    vt_status st = mvn_axes(c, red);
    if (st != VT_OK) return st;
    int64_t n = vt_tensor_numel(x), groups = 1;
    for (int d = 0; d < x->rank; d++)
        if (!red[d]) groups *= x->shape[d];
    int64_t *group = vt_malloc((size_t)(n ? n : 1), sizeof *group);
    double *mean = vt_calloc((size_t)groups, sizeof *mean), *var = vt_calloc((size_t)groups, sizeof *var);
    int64_t *count = vt_calloc((size_t)groups, sizeof *count);
    if (!group || !mean || !var || !count) {
        free(group), free(mean), free(var), free(count);
        return VT_ERR_NOMEM;
    }
    /* Each element's group: its index over the kept dims. */
    for (int64_t i = 0; i < n; i++) {
        int64_t q = i, g = 0, scale = 1;
        for (int d = x->rank - 1; d >= 0; d--) {
            int64_t k = q % x->shape[d];
            q /= x->shape[d];
            if (!red[d]) g += k * scale, scale *= x->shape[d];
        }
        group[i] = g;
    }
    const float *xd = x->data;
    float *yd = c->out[0]->data;
    for (int64_t i = 0; i < n; i++) mean[group[i]] += xd[i], count[group[i]]++;
    for (int64_t g = 0; g < groups; g++) mean[g] /= (double)(count[g] ? count[g] : 1);
    for (int64_t i = 0; i < n; i++) {
        double e = xd[i] - mean[group[i]];
        var[group[i]] += e * e;
    }
    for (int64_t g = 0; g < groups; g++) var[g] = sqrt(var[g] / (double)(count[g] ? count[g] : 1)) + 1e-9;
    for (int64_t i = 0; i < n; i++) yd[i] = (float)((xd[i] - mean[group[i]]) / var[group[i]]);
    free(group), free(mean), free(var), free(count);
    return VT_OK;
}

/* ImageScaler (an experimental op of opsets 1-9, still in old exports): y = scale * x + bias[c], N x C x ... */
static vt_status scaler_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    const vt_attr *b = vt_attr_get(c->node, "bias");
    int nb = b && b->type == VT_ATTR_FLOATS ? b->n : -1;
    if (x->rank < 2) return vt_node_fail(c, VT_ERR_ARG, "input must be N x C x ...");
    if (nb >= 0 && nb != x->shape[1])
        return vt_node_fail(c, VT_ERR_ARG, "bias has %d values for %lld channels", nb, (long long)x->shape[1]);
    vt_out_set(c->out[0], VT_F32, x->rank, x->shape);
    return VT_OK;
}

static vt_status scaler_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    const vt_attr *ba = vt_attr_get(c->node, "bias");
    const float *xd = x->data, *bias = ba && ba->type == VT_ATTR_FLOATS ? ba->floats : NULL;
    float *yd = c->out[0]->data, scale = vt_attr_float(c->node, "scale", 1.0f);
    int nb = bias ? ba->n : 0;
    int64_t C = x->shape[1], planes = x->shape[0] * C, sp = planes ? vt_tensor_numel(x) / planes : 0;
#pragma omp parallel for schedule(static) if (planes * sp > 65536)
    for (int64_t p = 0; p < planes; p++) {
        float b = nb > 0 ? bias[p % C] : 0.0f;
        for (int64_t i = 0; i < sp; i++) yd[p * sp + i] = scale * xd[p * sp + i] + b;
    }
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "", .type = "ImageScaler", .since = 1, .infer = scaler_infer, .run = scaler_run},
    {.domain = "",
     .type = "BatchNormalization",
     .since = 1,
     .infer = bn_infer,
     .run = bn_run,
     .accepts_nhwc = bn_accepts_nhwc},
    {.domain = "", .type = "LayerNormalization", .since = 17, .infer = ln_infer, .run = ln_run},
    {.domain = "", .type = "InstanceNormalization", .since = 1, .infer = in_infer, .run = in_run},
    {.domain = "", .type = "LRN", .since = 1, .infer = lrn_infer, .run = lrn_run},
    {.domain = "", .type = "MeanVarianceNormalization", .since = 9, .infer = mvn_infer, .run = mvn_run},
};

VT_OP_TABLE(vt_ops_norm, ops);
