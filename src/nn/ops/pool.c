/* Pooling: MaxPool, AveragePool (ceil_mode, count_include_pad, dilations), GlobalAveragePool,
 * GlobalMaxPool over 1-D/2-D/3-D spatial dims. Memory-bound: plain C with OpenMP over planes, one
 * writer per output, a fixed summation order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "nn/ops/vecmath.h"

/* MaxPool also takes float64 and 8-bit integers (opset 12), and may return the Indices of its maxima;
 * those cases run the general loop (max_general), float32 without Indices the fast paths below. */
static bool wants_indices(const vt_opctx *c)
{
    return c->n_out > 1 && c->node->out[1] >= 0;
}

static vt_status pool_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    vt_dtype t = c->in[0]->dtype;
    bool is_max = strcmp(c->node->op_type, "MaxPool") == 0;
    if (!(t == VT_F32 || (is_max && (t == VT_F64 || t == VT_I8 || t == VT_U8)))) {
        if ((st = vt_need_f32(c, 0)) != VT_OK) return st;
    }
    if (c->in[0]->rank < 3) return vt_node_fail(c, VT_ERR_ARG, "input must be N x C x spatial...");
    vt_window w;
    bool ceil_mode = vt_attr_int(c->node, "ceil_mode", 0) != 0;
    if ((st = vt_window_of(c, c->in[0], NULL, ceil_mode, &w)) != VT_OK) return st;
    int64_t sh[2 + VT_WINDOW_AXES];
    vt_window_shape(&w, c->in[0]->shape[0], c->in[0]->shape[1], sh);
    vt_out_set(c->out[0], t, c->in[0]->rank, sh);
    for (int k = 1; k < c->n_out; k++) vt_out_set(c->out[k], VT_I64, c->in[0]->rank, sh);
    return VT_OK;
}

/* The flat input index of spatial position pos[] in plane p: row-major (storage_order 0) or with the
 * first spatial dim fastest (storage_order 1, column-major), as onnxruntime numbers them. */
static int64_t flat_index(const vt_window *w, int64_t p, const int64_t *pos, bool col_major)
{
    int64_t idx = 0;
    for (int j = 0; j < VT_WINDOW_AXES; j++) {
        int a = col_major ? VT_WINDOW_AXES - 1 - j : j;
        idx = idx * w->in[a] + pos[a];
    }
    return p * w->in[0] * w->in[1] * w->in[2] + idx;
}

/* MaxPool of any supported type, with the Indices output when asked: the direct loop over the taps
 * in row-major order with max_step's rule (the last NaN, else the first maximum, whose index is kept). */
static vt_status max_general(vt_opctx *c, const vt_window *w)
{
    const vt_tensor *x = c->in[0];
    vt_tensor *y = c->out[0];
    int64_t *ind = wants_indices(c) ? c->out[1]->data : NULL;
    bool col_major = vt_attr_int(c->node, "storage_order", 0) != 0;
    int64_t planes = x->shape[0] * x->shape[1];
    int64_t ID = w->in[0], IH = w->in[1], IW = w->in[2], OD = w->out[0], OH = w->out[1], OW = w->out[2];
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; p++)
        for (int64_t o = 0; o < OD * OH * OW; o++) {
            int64_t start[VT_WINDOW_AXES] = {o / (OH * OW) * w->s[0] - w->pb[0], o / OW % OH * w->s[1] - w->pb[1],
                                             o % OW * w->s[2] - w->pb[2]};
            double mx = -INFINITY;
            int64_t best[VT_WINDOW_AXES] = {-1, -1, -1};
            for (int64_t kd = 0; kd < w->k[0]; kd++) {
                int64_t id = start[0] + kd * w->d[0];
                if (id < 0 || id >= ID) continue;
                for (int64_t kh = 0; kh < w->k[1]; kh++) {
                    int64_t ih = start[1] + kh * w->d[1];
                    if (ih < 0 || ih >= IH) continue;
                    for (int64_t kw = 0; kw < w->k[2]; kw++) {
                        int64_t iw = start[2] + kw * w->d[2];
                        if (iw < 0 || iw >= IW) continue;
                        double v = vt_elem_f64(x, (p * ID + id) * IH * IW + ih * IW + iw);
                        if (v > mx || v != v || best[0] < 0) {
                            mx = v;
                            best[0] = id, best[1] = ih, best[2] = iw;
                        }
                    }
                }
            }
            int64_t out = p * OD * OH * OW + o;
            /* a window with no tap inside the input (only with huge pads) yields the lowest value */
            vt_elem_set_f64(y, out, best[0] < 0 ? (y->dtype == VT_U8 ? 0 : y->dtype == VT_I8 ? -128 : -INFINITY) : mx);
            if (ind) ind[out] = best[0] < 0 ? -1 : flat_index(w, p, best, col_major);
        }
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
    return c->in[0]->rank == 4 && !wants_indices(c);
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
    if (is_max && (wants_indices(c) || c->in[0]->dtype != VT_F32)) return max_general(c, &w);
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

/* ---- MaxUnpool: scatters X to the flat input indices I of its MaxPool into a zero tensor ---- */

/* The output shape the attributes imply ("inferred"), and the shape asked for by output_shape when given
 * (else the inferred one). The indices number the inferred shape's elements; a larger output_shape
 * keeps each element at its coordinates, zeros after them (onnxruntime's and the spec tests' reading). */
static vt_status unpool_shape(vt_opctx *c, int64_t *inferred, int64_t *sh)
{
    const vt_tensor *x = c->in[0];
    int r = x->rank, nsp = r - 2;
    const int64_t *k, *s, *p;
    int nk = vt_attr_ints(c->node, "kernel_shape", &k), ns = vt_attr_ints(c->node, "strides", &s),
        np = vt_attr_ints(c->node, "pads", &p);
    if (nk != nsp || (ns >= 0 && ns != nsp) || (np >= 0 && np != 2 * nsp))
        return vt_node_fail(c, VT_ERR_ARG, "kernel_shape, strides and pads must match the %d spatial dims", nsp);
    inferred[0] = x->shape[0];
    inferred[1] = x->shape[1];
    for (int j = 0; j < nsp; j++) {
        int64_t stride = ns > 0 ? s[j] : 1, pads = np > 0 ? p[j] + p[j + nsp] : 0;
        inferred[2 + j] = (x->shape[2 + j] - 1) * stride + k[j] - pads;
        if (inferred[2 + j] < 0 || stride < 1 || k[j] < 1)
            return vt_node_fail(c, VT_ERR_ARG, "invalid kernel or strides");
    }
    memcpy(sh, inferred, sizeof *sh * (size_t)r);
    if (c->n_in > 2 && c->in[2]) {
        int n;
        vt_status st = vt_const_ints(c, 2, sh, VT_MAX_RANK, &n);
        if (st != VT_OK) return st;
        if (n != r) return vt_node_fail(c, VT_ERR_ARG, "output_shape has %d values for rank %d", n, r);
        for (int d = 0; d < r; d++)
            if (sh[d] < inferred[d])
                return vt_node_fail(c, VT_ERR_ARG, "output_shape dim %d (%lld) is below the pooled input's %lld", d,
                                    (long long)sh[d], (long long)inferred[d]);
    }
    return VT_OK;
}

static vt_status unpool_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK || (st = vt_need_input(c, 1)) != VT_OK) return st;
    const vt_tensor *x = c->in[0], *ind = c->in[1];
    if (x->dtype != VT_F32 && x->dtype != VT_F64) return vt_need_f32(c, 0);
    if (ind->dtype != VT_I64 || ind->rank != x->rank || memcmp(ind->shape, x->shape, sizeof x->shape[0] * x->rank))
        return vt_node_fail(c, VT_ERR_ARG, "I must be int64 of X's shape");
    if (x->rank < 3) return vt_node_fail(c, VT_ERR_ARG, "input must be N x C x spatial...");
    int64_t inferred[VT_MAX_RANK], sh[VT_MAX_RANK];
    if ((st = unpool_shape(c, inferred, sh)) != VT_OK) return st;
    vt_out_set(c->out[0], x->dtype, x->rank, sh);
    return VT_OK;
}

static vt_status unpool_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    const int64_t *ind = c->in[1]->data;
    vt_tensor *y = c->out[0];
    int r = x->rank;
    int64_t inferred[VT_MAX_RANK], sh[VT_MAX_RANK];
    vt_status st = unpool_shape(c, inferred, sh);
    if (st != VT_OK) return st;
    int64_t n = vt_tensor_numel(x), ni = vt_shape_numel(r, inferred), ystr[VT_MAX_RANK];
    vt_contiguous_strides(r, y->shape, ystr);
    memset(y->data, 0, vt_tensor_nbytes(y));
    /* sequential: when two windows picked the same input position the later one wins, as onnxruntime */
    for (int64_t i = 0; i < n; i++) {
        if (ind[i] < 0 || ind[i] >= ni)
            return vt_node_fail(c, VT_ERR_ARG, "index %lld is outside the pooled input's %lld elements",
                                (long long)ind[i], (long long)ni);
        int64_t rem = ind[i], off = 0;
        for (int d = r - 1; d >= 0; d--) {
            off += rem % inferred[d] * ystr[d];
            rem /= inferred[d];
        }
        vt_elem_set_f64(y, off, vt_elem_f64(x, i));
    }
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "", .type = "MaxUnpool", .since = 9, .infer = unpool_infer, .run = unpool_run},
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
