/* Pooling: MaxPool, AveragePool (ceil_mode, count_include_pad, dilations), GlobalAveragePool,
 * GlobalMaxPool over 1-D/2-D/3-D spatial dims. Memory-bound: plain C with OpenMP over planes, one
 * writer per output, a fixed summation order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "nn/ops/vecmath.h"

static vt_status pool_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st != VT_OK) return st;
    if (c->n_out > 1 && c->node->out[1] >= 0)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "the Indices output of MaxPool is not supported");
    vt_window w;
    bool ceil_mode = vt_attr_int(c->node, "ceil_mode", 0) != 0;
    if ((st = vt_window_of(c, c->in[0], NULL, ceil_mode, &w)) != VT_OK) return st;
    int64_t sh[2 + VT_WINDOW_AXES];
    vt_window_shape(&w, c->in[0]->shape[0], c->in[0]->shape[1], sh);
    vt_out_set(c->out[0], VT_F32, c->in[0]->rank, sh);
    for (int k = 1; k < c->n_out; k++) vt_out_set(c->out[k], VT_I64, 0, NULL);
    return VT_OK;
}

/* The divisor of an average window starting at (d0, h0, w0): its taps inside the input, or with
 * count_include_pad the window clipped to the padded extent (PyTorch: not beyond it in ceil mode). */
static int64_t avg_count(const vt_window *w, const int64_t *start, int64_t inside, bool include_pad)
{
    if (!include_pad) return inside;
    int64_t n = 1;
    for (int j = 0; j < VT_WINDOW_AXES; j++) {
        int64_t end = start[j] + (w->k[j] - 1) * w->d[j] + 1;
        if (end > w->in[j] + w->pe[j]) end = w->in[j] + w->pe[j];
        n *= (end - start[j] + w->d[j] - 1) / w->d[j];
    }
    return n;
}

/* The max-pool update: a larger value or a NaN replaces the running maximum, so a window yields its
 * last NaN, else its first maximum (PyTorch's rule; ties of -0 and +0 keep the first). */
static inline float max_step(float m, float v)
{
    return v > m || v != v ? v : m;
}

/* y[i] = max_step(y[i], x[i]): one tap for a row of channels (NHWC). */
VT_CLONES static void max_into(float *y, const float *x, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = max_step(y[i], x[i]);
}

/* NHWC input (from a oneDNN convolution), NHWC output: the channel loop innermost. The taps are
 * visited in the same order as the NCHW loop, so both layouts give the same bits. */
static vt_status pool_nhwc(vt_opctx *c, const vt_window *w, bool is_max, bool include_pad)
{
    const float *xd = c->in[0]->data;
    float *yd = c->out[0]->data;
    int64_t N = c->in[0]->shape[0], C = c->in[0]->shape[1];
    int64_t IH = w->in[1], IW = w->in[2], OH = w->out[1], OW = w->out[2];
    c->out_nhwc[0] = true;
    bool nomem = false;
#pragma omp parallel
    {
        double *acc = malloc(sizeof(double) * (size_t)(C > 0 ? C : 1));
        if (!acc) nomem = true;
#pragma omp for schedule(static)
        for (int64_t p = 0; p < N * OH * OW; p++) {
            if (!acc) continue;
            int64_t n = p / (OH * OW), oh = p / OW % OH, ow = p % OW;
            int64_t h0 = oh * w->s[1] - w->pb[1], w0 = ow * w->s[2] - w->pb[2], cnt = 0;
            float *yp = yd + p * C;
            for (int64_t ch = 0; ch < C; ch++) acc[ch] = 0, yp[ch] = -INFINITY;
            for (int64_t kh = 0; kh < w->k[1]; kh++) {
                int64_t ih = h0 + kh * w->d[1];
                if (ih < 0 || ih >= IH) continue;
                for (int64_t kw = 0; kw < w->k[2]; kw++) {
                    int64_t iw = w0 + kw * w->d[2];
                    if (iw < 0 || iw >= IW) continue;
                    const float *xp = xd + ((n * IH + ih) * IW + iw) * C;
                    if (is_max)
                        max_into(yp, xp, C);
                    else
                        for (int64_t ch = 0; ch < C; ch++) acc[ch] += xp[ch];
                    cnt++;
                }
            }
            if (!is_max) {
                int64_t div = avg_count(w, (int64_t[]){0, h0, w0}, cnt, include_pad);
                for (int64_t ch = 0; ch < C; ch++) yp[ch] = div ? (float)(acc[ch] / (double)div) : 0.0f;
            }
        }
        free(acc);
    }
    return nomem ? vt_fail(VT_ERR_NOMEM, "out of memory") : VT_OK;
}

static bool pool_accepts_nhwc(const vt_opctx *c)
{
    return c->in[0]->rank == 4;
}

/* Row pass of a separable MaxPool: hm[ow] = the maximum over the kw taps of one input row. Windows
 * wholly inside the row (all but a few at the edges) run without bound checks, vectorised. */
VT_CLONES static void max_row(const float *x, float *hm, const vt_window *w)
{
    int64_t IW = w->in[2], OW = w->out[2], K = w->k[2], S = w->s[2], D = w->d[2], P = w->pb[2];
    /* Interior: P <= ow*S and ow*S - P + (K-1)*D < IW. */
    int64_t lo = (P + S - 1) / S, hi = IW - 1 - (K - 1) * D + P >= 0 ? (IW - 1 - (K - 1) * D + P) / S + 1 : 0;
    if (hi > OW) hi = OW;
    if (lo > hi) lo = hi;
    for (int64_t ow = 0; ow < OW; ow++) {
        if (ow == lo) ow = hi > lo ? hi : lo;
        if (ow >= OW) break;
        float m = -INFINITY;
        for (int64_t kw = 0; kw < K; kw++) {
            int64_t iw = ow * S - P + kw * D;
            if (iw >= 0 && iw < IW) m = max_step(m, x[iw]);
        }
        hm[ow] = m;
    }
    const float *xs = x + lo * S - P;
    if (K == 3 && S == 2 && D == 1) /* the common 3x3 stride-2 pool: constant strides vectorise as shuffles */
#pragma omp simd
        for (int64_t o = 0; o < hi - lo; o++)
            hm[lo + o] = max_step(max_step(max_step(-INFINITY, xs[2 * o]), xs[2 * o + 1]), xs[2 * o + 2]);
    else if (K == 2 && S == 2 && D == 1)
#pragma omp simd
        for (int64_t o = 0; o < hi - lo; o++) hm[lo + o] = max_step(max_step(-INFINITY, xs[2 * o]), xs[2 * o + 1]);
    else
#pragma omp simd
        for (int64_t ow = lo; ow < hi; ow++) {
            float m = -INFINITY;
            for (int64_t kw = 0; kw < K; kw++) m = max_step(m, x[ow * S - P + kw * D]);
            hm[ow] = m;
        }
}

/* Column pass: y[ow] = the maximum over the kh rows of hm (n rows given by their pointers). */
VT_CLONES static void max_col(const float *const *rows, int n, float *y, int64_t OW)
{
#pragma omp simd
    for (int64_t ow = 0; ow < OW; ow++) y[ow] = -INFINITY;
    for (int r = 0; r < n; r++) {
        const float *h = rows[r];
#pragma omp simd
        for (int64_t ow = 0; ow < OW; ow++) y[ow] = max_step(y[ow], h[ow]);
    }
}

/* MaxPool of NCHW planes, separably: the row maxima of every input row, then the maxima of those
 * over each window's rows. Taps are combined row by row in the direct loop's row-major order, so the
 * result is the same bits (the last NaN, else the first maximum). */
static vt_status max_planes(const float *xd, float *yd, int64_t planes, const vt_window *w)
{
    int64_t IH = w->in[1], IW = w->in[2], OH = w->out[1], OW = w->out[2];
    bool nomem = false;
#pragma omp parallel
    {
        float *hm = malloc(sizeof(float) * (size_t)(IH * OW > 0 ? IH * OW : 1));
        const float **rows = malloc(sizeof *rows * (size_t)(w->k[1] > 0 ? w->k[1] : 1));
        if (!hm || !rows) nomem = true;
#pragma omp for schedule(static)
        for (int64_t p = 0; p < planes; p++) {
            if (!hm || !rows) continue;
            for (int64_t ih = 0; ih < IH; ih++) max_row(xd + (p * IH + ih) * IW, hm + ih * OW, w);
            for (int64_t oh = 0; oh < OH; oh++) {
                int n = 0;
                for (int64_t kh = 0; kh < w->k[1]; kh++) {
                    int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
                    if (ih >= 0 && ih < IH) rows[n++] = hm + ih * OW;
                }
                max_col(rows, n, yd + (p * OH + oh) * OW, OW);
            }
        }
        free(hm);
        free(rows);
    }
    return nomem ? vt_fail(VT_ERR_NOMEM, "out of memory") : VT_OK;
}

static vt_status pool_run(vt_opctx *c)
{
    vt_window w;
    bool ceil_mode = vt_attr_int(c->node, "ceil_mode", 0) != 0;
    vt_status st = vt_window_of(c, c->in[0], NULL, ceil_mode, &w);
    if (st != VT_OK) return st;
    bool is_max = strcmp(c->node->op_type, "MaxPool") == 0;
    bool include_pad = vt_attr_int(c->node, "count_include_pad", 0) != 0;
    const float *xd = c->in[0]->data;
    float *yd = c->out[0]->data;
    int64_t planes = c->in[0]->shape[0] * c->in[0]->shape[1];
    int64_t ID = w.in[0], IH = w.in[1], IW = w.in[2], OD = w.out[0], OH = w.out[1], OW = w.out[2];
    if (c->in_nhwc[0]) return pool_nhwc(c, &w, is_max, include_pad);
    if (is_max && w.nsp < 3 && vt_nn_fast(c->g)) return max_planes(xd, yd, planes, &w);
        /* Direct loop (the reference, and 3-D pooling): taps in row-major order. */
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = xd + p * ID * IH * IW;
        float *yp = yd + p * OD * OH * OW;
        for (int64_t od = 0; od < OD; od++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t start[VT_WINDOW_AXES] = {od * w.s[0] - w.pb[0], oh * w.s[1] - w.pb[1],
                                                     ow * w.s[2] - w.pb[2]};
                    float mx = -INFINITY;
                    double sum = 0;
                    int64_t cnt = 0;
                    for (int64_t kd = 0; kd < w.k[0]; kd++) {
                        int64_t id = start[0] + kd * w.d[0];
                        if (id < 0 || id >= ID) continue;
                        for (int64_t kh = 0; kh < w.k[1]; kh++) {
                            int64_t ih = start[1] + kh * w.d[1];
                            if (ih < 0 || ih >= IH) continue;
                            for (int64_t kw = 0; kw < w.k[2]; kw++) {
                                int64_t iw = start[2] + kw * w.d[2];
                                if (iw < 0 || iw >= IW) continue;
                                float v = xp[(id * IH + ih) * IW + iw];
                                mx = max_step(mx, v);
                                sum += v;
                                cnt++;
                            }
                        }
                    }
                    float *y = yp + (od * OH + oh) * OW + ow;
                    if (is_max)
                        *y = mx;
                    else {
                        cnt = avg_count(&w, start, cnt, include_pad);
                        *y = cnt ? (float)(sum / (double)cnt) : 0.0f;
                    }
                }
    }
    return VT_OK;
}

static vt_status global_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    if (x->rank < 3) return vt_node_fail(c, VT_ERR_ARG, "input must be N x C x spatial...");
    int64_t sh[VT_MAX_RANK];
    for (int i = 0; i < x->rank; i++) sh[i] = i < 2 ? x->shape[i] : 1;
    vt_out_set(c->out[0], VT_F32, x->rank, sh);
    return VT_OK;
}

static bool global_accepts_nhwc(const vt_opctx *c)
{
    return c->in[0]->rank == 4;
}

static vt_status global_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    bool is_max = strcmp(c->node->op_type, "GlobalMaxPool") == 0;
    int64_t planes = x->shape[0] * x->shape[1], sp = planes > 0 ? vt_tensor_numel(x) / planes : 0;
    const float *xd = x->data;
    float *yd = c->out[0]->data;
    if (c->in_nhwc[0]) { /* same summation order as the NCHW loop, so the same bits */
        int64_t C = x->shape[1];
#pragma omp parallel for schedule(static) if (planes * sp > 32768)
        for (int64_t p = 0; p < planes; p++) {
            const float *xp = xd + (p / C) * sp * C + p % C;
            double s = 0;
            float mx = -INFINITY;
            for (int64_t i = 0; i < sp; i++) {
                float v = xp[i * C];
                s += v;
                if (v > mx || v != v) mx = v;
            }
            yd[p] = is_max ? mx : (float)(s / (double)sp);
        }
        return VT_OK;
    }
#pragma omp parallel for schedule(static) if (planes * sp > 32768)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = xd + p * sp;
        if (is_max) {
            float mx = -INFINITY;
            for (int64_t i = 0; i < sp; i++)
                if (xp[i] > mx || xp[i] != xp[i]) mx = xp[i];
            yd[p] = mx;
        } else {
            double s = 0;
            for (int64_t i = 0; i < sp; i++) s += xp[i];
            yd[p] = (float)(s / (double)sp);
        }
    }
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "",
     .type = "MaxPool",
     .since = 1,
     .infer = pool_infer,
     .run = pool_run,
     .accepts_nhwc = pool_accepts_nhwc},
    {.domain = "",
     .type = "AveragePool",
     .since = 1,
     .infer = pool_infer,
     .run = pool_run,
     .accepts_nhwc = pool_accepts_nhwc},
    {.domain = "",
     .type = "GlobalAveragePool",
     .since = 1,
     .infer = global_infer,
     .run = global_run,
     .accepts_nhwc = global_accepts_nhwc},
    {.domain = "",
     .type = "GlobalMaxPool",
     .since = 1,
     .infer = global_infer,
     .run = global_run,
     .accepts_nhwc = global_accepts_nhwc},
};

VT_OP_TABLE(vt_ops_pool, ops);
