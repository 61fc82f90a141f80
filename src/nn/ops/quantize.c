/* Quantized models: QuantizeLinear and DequantizeLinear (per tensor, or per axis from opset 13), as ONNX
 * QDQ exports write them, and the integer-arithmetic ops MatMulInteger, QLinearMatMul, ConvInteger and
 * QLinearConv (uint8 / int8 operands, zero points per tensor, per row of A, or per column of B / output
 * channel of W).
 * The integer products run as float64 GEMMs on zero-point-shifted operands: every product and partial sum
 * is an integer below 2^53, so the int32 results are exact in any summation order (and independent of
 * threads and batch size). Requantization follows onnxruntime: multiplier = a_scale * b_scale / y_scale in
 * float32, y = saturate(nearbyint((float)acc * multiplier) + y_zero_point), halves to even. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

static bool is_q8(vt_dtype t)
{
    return t == VT_U8 || t == VT_I8;
}

static double q_at(const vt_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case VT_U8: return ((const uint8_t *)t->data)[i];
    case VT_I8: return ((const int8_t *)t->data)[i];
    case VT_I32: return ((const int32_t *)t->data)[i];
    default: return vt_elem_f64(t, i);
    }
}

/* Rounds half to even and saturates to the 8-bit type (NaN saturates to its lowest value). */
static void q_store(vt_tensor *t, int64_t i, float v)
{
    float lo = t->dtype == VT_U8 ? 0 : -128, hi = t->dtype == VT_U8 ? 255 : 127;
    v = fminf(fmaxf(v, lo), hi);
    if (t->dtype == VT_U8)
        ((uint8_t *)t->data)[i] = (uint8_t)v;
    else
        ((int8_t *)t->data)[i] = (int8_t)v;
}

/* A scale or zero point: one value, or (len > 0) a 1-D tensor of one per slot of an axis of size len.
 * Sets *per to whether it is the latter. */
static vt_status q_param(const vt_opctx *c, int k, bool is_scale, int64_t len, bool *per)
{
    const vt_tensor *t = k < c->n_in ? c->in[k] : NULL;
    *per = false;
    if (!t) return VT_OK; /* an absent zero point is 0 */
    if (is_scale && t->dtype != VT_F32)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input %d (a scale) is %s; float32 is supported", k,
                            vt_dtype_name(t->dtype));
    if (!is_scale && !is_q8(t->dtype) && t->dtype != VT_I32)
        return vt_node_fail(c, VT_ERR_ARG, "input %d (a zero point) must be uint8 or int8", k);
    int64_t n = vt_tensor_numel(t);
    if (n == 1) return VT_OK;
    if (len > 0 && t->rank == 1 && n == len) {
        *per = true;
        return VT_OK;
    }
    return vt_node_fail(c, VT_ERR_ARG, "input %d must hold one value%s", k,
                        len > 0 ? " or one per slot of its axis" : "");
}

static double q_param_at(const vt_opctx *c, int k, bool per, int64_t slot)
{
    const vt_tensor *t = k < c->n_in ? c->in[k] : NULL;
    return t ? q_at(t, per ? slot : 0) : 0;
}

/* ---- QuantizeLinear / DequantizeLinear ---- */

static vt_status qdq_geometry(const vt_opctx *c, int *axis, bool *per_s, bool *per_z)
{
    const vt_tensor *x = c->in[0];
    *axis = 0;
    bool axis_ok = c->node->opset >= 13 && x->rank > 0 && vt_axis(vt_attr_int(c->node, "axis", 1), x->rank, axis);
    int64_t len = axis_ok ? x->shape[*axis] : 0;
    vt_status st = q_param(c, 1, true, len, per_s);
    if (st == VT_OK) st = q_param(c, 2, false, len, per_z);
    if (st == VT_OK && *per_z && !*per_s)
        return vt_node_fail(c, VT_ERR_ARG, "a per-axis zero point needs a per-axis scale");
    return st;
}

static vt_status quantize_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st == VT_OK) st = vt_need_input(c, 1);
    int axis;
    bool ps, pz;
    if (st == VT_OK) st = qdq_geometry(c, &axis, &ps, &pz);
    if (st != VT_OK) return st;
    vt_dtype out = c->n_in > 2 && c->in[2] ? c->in[2]->dtype : VT_U8;
    if (!is_q8(out)) return vt_node_fail(c, VT_ERR_ARG, "the zero point must be uint8 or int8");
    vt_out_set(c->out[0], out, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status dequantize_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK) st = vt_need_input(c, 1);
    if (st != VT_OK) return st;
    vt_dtype t = c->in[0]->dtype;
    if (!is_q8(t) && t != VT_I32)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input is %s; uint8, int8 or int32 are supported", vt_dtype_name(t));
    if (c->n_in > 2 && c->in[2] && c->in[2]->dtype != t)
        return vt_node_fail(c, VT_ERR_ARG, "the zero point's type differs from the input's");
    int axis;
    bool ps, pz;
    if ((st = qdq_geometry(c, &axis, &ps, &pz)) != VT_OK) return st;
    vt_out_set(c->out[0], VT_F32, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

/* Elements after one step along axis (the per-axis parameters' slot of element i is i / inner % dim). */
static int64_t inner_of(const vt_tensor *x, int axis)
{
    int64_t inner = 1;
    for (int d = axis + 1; d < x->rank; d++) inner *= x->shape[d];
    return inner;
}

static vt_status quantize_run(vt_opctx *c)
{
    int axis;
    bool ps, pz;
    vt_status st = qdq_geometry(c, &axis, &ps, &pz);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    const float *xd = x->data;
    int64_t n = vt_tensor_numel(x), inner = ps ? inner_of(x, axis) : 1, dim = ps ? x->shape[axis] : 1;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        int64_t s = ps ? i / inner % dim : 0;
        float scale = (float)q_param_at(c, 1, ps, s), zp = (float)q_param_at(c, 2, pz, s);
        q_store(c->out[0], i, nearbyintf(xd[i] / scale) + zp);
    }
    return VT_OK;
}

static vt_status dequantize_run(vt_opctx *c)
{
    int axis;
    bool ps, pz;
    vt_status st = qdq_geometry(c, &axis, &ps, &pz);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    float *y = c->out[0]->data;
    int64_t n = vt_tensor_numel(x), inner = ps ? inner_of(x, axis) : 1, dim = ps ? x->shape[axis] : 1;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        int64_t s = ps ? i / inner % dim : 0;
        double zp = q_param_at(c, 2, pz, s);
        y[i] = (float)(q_at(x, i) - zp) * (float)q_param_at(c, 1, ps, s);
    }
    return VT_OK;
}

/* ---- MatMulInteger / QLinearMatMul: numpy matmul of A (... x M x K) and B (... x K x N) ---- */

typedef struct qmm {
    int ia, iaz, ib, ibz; /* input slots of A, its zero point, B, its zero point */
    int64_t M, K, N, batch;
    int nb;
    int64_t bshape[VT_MAX_RANK], astr[VT_MAX_RANK], bstr[VT_MAX_RANK];
    bool a_rows, b_cols; /* zero points per row of A / per column of B */
} qmm;

static vt_status qmm_shape(const vt_opctx *c, qmm *p, int *orank, int64_t *oshape)
{
    const vt_tensor *a = c->in[p->ia], *b = c->in[p->ib];
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "A and B must be uint8 or int8, not %s and %s",
                            vt_dtype_name(a->dtype), vt_dtype_name(b->dtype));
    if (a->rank < 2 || b->rank < 2)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "A and B must have rank >= 2 (1-D operands are not supported)");
    p->M = a->shape[a->rank - 2], p->K = a->shape[a->rank - 1], p->N = b->shape[b->rank - 1];
    if (b->shape[b->rank - 2] != p->K)
        return vt_node_fail(c, VT_ERR_ARG, "inner dimensions differ (%lld vs %lld)", (long long)p->K,
                            (long long)b->shape[b->rank - 2]);
    if (!vt_broadcast_shape(a->rank - 2, a->shape, b->rank - 2, b->shape, &p->nb, p->bshape))
        return vt_node_fail(c, VT_ERR_ARG, "batch dimensions do not broadcast");
    vt_broadcast_strides(p->nb, p->bshape, a->rank - 2, a->shape, p->astr);
    vt_broadcast_strides(p->nb, p->bshape, b->rank - 2, b->shape, p->bstr);
    p->batch = vt_shape_numel(p->nb, p->bshape);
    vt_status st = q_param(c, p->iaz, false, p->M, &p->a_rows);
    if (st == VT_OK) st = q_param(c, p->ibz, false, p->N, &p->b_cols);
    if (st != VT_OK) return st;
    memcpy(oshape, p->bshape, sizeof *oshape * (size_t)p->nb);
    oshape[p->nb] = p->M, oshape[p->nb + 1] = p->N;
    *orank = p->nb + 2;
    return VT_OK;
}

/* acc[batch][M][N] = (A - a_zp) (B - b_zp), exact, through float64 GEMMs. */
static vt_status qmm_acc(const vt_opctx *c, const qmm *p, double *acc)
{
    const vt_tensor *a = c->in[p->ia], *b = c->in[p->ib];
    double *ad = vt_malloc((size_t)(p->M * p->K + p->K * p->N) + 1, sizeof *ad);
    if (!ad) return VT_ERR_NOMEM;
    double *bd = ad + p->M * p->K;
    for (int64_t t = 0; t < p->batch; t++) {
        int64_t ao = 0, bo = 0, q = t;
        for (int d = p->nb - 1; d >= 0; d--) {
            int64_t k = q % p->bshape[d];
            q /= p->bshape[d];
            ao += k * p->astr[d], bo += k * p->bstr[d];
        }
        ao *= p->M * p->K, bo *= p->K * p->N;
        for (int64_t i = 0; i < p->M * p->K; i++) ad[i] = q_at(a, ao + i) - q_param_at(c, p->iaz, p->a_rows, i / p->K);
        for (int64_t i = 0; i < p->K * p->N; i++) bd[i] = q_at(b, bo + i) - q_param_at(c, p->ibz, p->b_cols, i % p->N);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p->M, (int)p->N, (int)p->K, 1.0, ad, (int)p->K, bd,
                    (int)p->N, 0.0, acc + t * p->M * p->N, (int)p->N);
    }
    free(ad);
    return VT_OK;
}

/* An exact accumulator as int32 (saturated: no int8 product sum of a real model comes near the limits). */
static int32_t acc_i32(double a)
{
    return a >= 2147483647.0 ? INT32_MAX : a <= -2147483648.0 ? INT32_MIN : (int32_t)a;
}

static vt_status qmm_check_sizes(const vt_opctx *c, const qmm *p)
{
    if (p->M > 1 << 30 || p->K > 1 << 30 || p->N > 1 << 30)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "matrix dimensions beyond 2^30");
    return VT_OK;
}

static vt_status matmulinteger_infer(vt_opctx *c)
{
    qmm p = {.ia = 0, .iaz = 2, .ib = 1, .ibz = 3};
    int r;
    int64_t sh[VT_MAX_RANK];
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK) st = vt_need_input(c, 1);
    if (st == VT_OK) st = qmm_shape(c, &p, &r, sh);
    if (st == VT_OK) st = qmm_check_sizes(c, &p);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], VT_I32, r, sh);
    return VT_OK;
}

static vt_status matmulinteger_run(vt_opctx *c)
{
    qmm p = {.ia = 0, .iaz = 2, .ib = 1, .ibz = 3};
    int r;
    int64_t sh[VT_MAX_RANK];
    vt_status st = qmm_shape(c, &p, &r, sh);
    if (st != VT_OK) return st;
    int64_t n = vt_tensor_numel(c->out[0]);
    double *acc = vt_malloc((size_t)n + 1, sizeof *acc);
    if (!acc) return VT_ERR_NOMEM;
    if ((st = qmm_acc(c, &p, acc)) == VT_OK)
        for (int64_t i = 0; i < n; i++) ((int32_t *)c->out[0]->data)[i] = acc_i32(acc[i]);
    free(acc);
    return st;
}

/* QLinearMatMul: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point. */
static vt_status qlinear_scales(const vt_opctx *c, int sa, int64_t na, int sb, int64_t nb, bool *pa, bool *pb)
{
    bool py;
    vt_status st = q_param(c, sa, true, na, pa);
    if (st == VT_OK) st = q_param(c, sb, true, nb, pb);
    if (st == VT_OK) st = q_param(c, 6, true, 0, &py);
    if (st == VT_OK) st = vt_need_input(c, 7);
    if (st == VT_OK) st = q_param(c, 7, false, 0, &py);
    return st;
}

static vt_status qlinearmatmul_infer(vt_opctx *c)
{
    qmm p = {.ia = 0, .iaz = 2, .ib = 3, .ibz = 5};
    int r;
    int64_t sh[VT_MAX_RANK];
    bool pa, pb;
    vt_status st = VT_OK;
    for (int k = 0; k < 8 && st == VT_OK; k++) st = vt_need_input(c, k);
    if (st == VT_OK) st = qmm_shape(c, &p, &r, sh);
    if (st == VT_OK) st = qmm_check_sizes(c, &p);
    if (st == VT_OK) st = qlinear_scales(c, 1, p.M, 4, p.N, &pa, &pb);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], c->in[7]->dtype, r, sh);
    return VT_OK;
}

static vt_status qlinearmatmul_run(vt_opctx *c)
{
    qmm p = {.ia = 0, .iaz = 2, .ib = 3, .ibz = 5};
    int r;
    int64_t sh[VT_MAX_RANK];
    bool pa, pb;
    vt_status st = qmm_shape(c, &p, &r, sh);
    if (st == VT_OK) st = qlinear_scales(c, 1, p.M, 4, p.N, &pa, &pb);
    if (st != VT_OK) return st;
    int64_t n = vt_tensor_numel(c->out[0]);
    double *acc = vt_malloc((size_t)n + 1, sizeof *acc);
    if (!acc) return VT_ERR_NOMEM;
    float ys = (float)q_param_at(c, 6, false, 0), yz = (float)q_param_at(c, 7, false, 0);
    if ((st = qmm_acc(c, &p, acc)) == VT_OK)
        for (int64_t i = 0; i < n; i++) {
            int64_t row = (i / p.N) % p.M, col = i % p.N;
            float mult = (float)q_param_at(c, 1, pa, row) * (float)q_param_at(c, 4, pb, col) / ys;
            q_store(c->out[0], i, nearbyintf((float)acc[i] * mult) + yz);
        }
    free(acc);
    return st;
}

/* ---- ConvInteger / QLinearConv: grouped N-D convolution of shifted integers, im2col + float64 GEMM ---- */

typedef struct qconv {
    int ix, ixz, iw, iwz; /* input slots of X, its zero point, W, its zero point */
    vt_window win;
    int64_t n, cin, cout, groups, cg, og, kprod, osp;
    bool w_per; /* W's zero point per output channel */
} qconv;

static vt_status qconv_shape(const vt_opctx *c, qconv *p)
{
    const vt_tensor *x = c->in[p->ix], *w = c->in[p->iw];
    if (!is_q8(x->dtype) || !is_q8(w->dtype))
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "X and W must be uint8 or int8, not %s and %s",
                            vt_dtype_name(x->dtype), vt_dtype_name(w->dtype));
    if (w->rank != x->rank) return vt_node_fail(c, VT_ERR_ARG, "W must have the rank of X");
    vt_status st = vt_window_of(c, x, w->shape + 2, false, &p->win);
    if (st != VT_OK) return st;
    p->n = x->shape[0], p->cin = x->shape[1], p->cout = w->shape[0];
    p->groups = vt_attr_int(c->node, "group", 1);
    if (p->groups < 1 || p->cin % p->groups || p->cout % p->groups || w->shape[1] * p->groups != p->cin)
        return vt_node_fail(c, VT_ERR_ARG, "channels (%lld in, %lld out) do not fit group %lld", (long long)p->cin,
                            (long long)p->cout, (long long)p->groups);
    p->cg = p->cin / p->groups, p->og = p->cout / p->groups;
    p->kprod = p->win.k[0] * p->win.k[1] * p->win.k[2];
    p->osp = p->win.out[0] * p->win.out[1] * p->win.out[2];
    bool px;
    if ((st = q_param(c, p->ixz, false, 0, &px)) == VT_OK) st = q_param(c, p->iwz, false, p->cout, &p->w_per);
    return st;
}

static void qconv_out_shape(const qconv *p, int64_t *sh)
{
    vt_window_shape(&p->win, p->n, p->cout, sh);
}

/* acc[n][cout][out spatial] = sum over the window of (x - x_zp)(w - w_zp); padding reads as x_zp. */
static vt_status qconv_acc(const vt_opctx *c, const qconv *p, double *acc)
{
    const vt_tensor *x = c->in[p->ix], *w = c->in[p->iw];
    const vt_window *q = &p->win;
    int64_t rows = p->cg * p->kprod, isp = q->in[0] * q->in[1] * q->in[2];
    double *col = vt_malloc((size_t)(rows * p->osp + p->cout * rows) + 1, sizeof *col);
    if (!col) return VT_ERR_NOMEM;
    double *wd = col + rows * p->osp;
    for (int64_t o = 0; o < p->cout; o++)
        for (int64_t j = 0; j < rows; j++)
            wd[o * rows + j] = q_at(w, o * rows + j) - q_param_at(c, p->iwz, p->w_per, o);
    double xz = q_param_at(c, p->ixz, false, 0);
    for (int64_t b = 0; b < p->n; b++)
        for (int64_t g = 0; g < p->groups; g++) {
#pragma omp parallel for schedule(static) if (rows * p->osp > 65536)
            for (int64_t r = 0; r < rows; r++) {
                int64_t ch = r / p->kprod, kk = r % p->kprod;
                int64_t kd = kk / (q->k[1] * q->k[2]), kh = kk / q->k[2] % q->k[1], kw = kk % q->k[2];
                int64_t base = (b * p->cin + g * p->cg + ch) * isp;
                for (int64_t s = 0; s < p->osp; s++) {
                    int64_t od = s / (q->out[1] * q->out[2]), oh = s / q->out[2] % q->out[1], ow = s % q->out[2];
                    int64_t id = od * q->s[0] - q->pb[0] + kd * q->d[0], ih = oh * q->s[1] - q->pb[1] + kh * q->d[1],
                            iw = ow * q->s[2] - q->pb[2] + kw * q->d[2];
                    bool in = id >= 0 && id < q->in[0] && ih >= 0 && ih < q->in[1] && iw >= 0 && iw < q->in[2];
                    col[r * p->osp + s] = in ? q_at(x, base + (id * q->in[1] + ih) * q->in[2] + iw) - xz : 0;
                }
            }
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p->og, (int)p->osp, (int)rows, 1.0,
                        wd + g * p->og * rows, (int)rows, col, (int)p->osp, 0.0,
                        acc + (b * p->cout + g * p->og) * p->osp, (int)p->osp);
        }
    free(col);
    return VT_OK;
}

static vt_status qconv_sizes(const vt_opctx *c, const qconv *p)
{
    if (p->cg * p->kprod > 1 << 30 || p->osp > 1 << 30 || p->og > 1 << 30)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "convolution dimensions beyond 2^30");
    return VT_OK;
}

static vt_status convinteger_infer(vt_opctx *c)
{
    qconv p = {.ix = 0, .ixz = 2, .iw = 1, .iwz = 3};
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK) st = vt_need_input(c, 1);
    if (st == VT_OK) st = qconv_shape(c, &p);
    if (st == VT_OK) st = qconv_sizes(c, &p);
    if (st != VT_OK) return st;
    int64_t sh[VT_MAX_RANK];
    qconv_out_shape(&p, sh);
    vt_out_set(c->out[0], VT_I32, c->in[0]->rank, sh);
    return VT_OK;
}

static vt_status convinteger_run(vt_opctx *c)
{
    qconv p = {.ix = 0, .ixz = 2, .iw = 1, .iwz = 3};
    vt_status st = qconv_shape(c, &p);
    if (st != VT_OK) return st;
    int64_t n = vt_tensor_numel(c->out[0]);
    double *acc = vt_malloc((size_t)n + 1, sizeof *acc);
    if (!acc) return VT_ERR_NOMEM;
    if ((st = qconv_acc(c, &p, acc)) == VT_OK)
        for (int64_t i = 0; i < n; i++) ((int32_t *)c->out[0]->data)[i] = acc_i32(acc[i]);
    free(acc);
    return st;
}

/* QLinearConv: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B (int32). */
static vt_status qlinearconv_check(vt_opctx *c, qconv *p, bool *pw)
{
    bool px;
    vt_status st = VT_OK;
    for (int k = 0; k < 8 && st == VT_OK; k++) st = vt_need_input(c, k);
    if (st == VT_OK) st = qconv_shape(c, p);
    if (st == VT_OK) st = qconv_sizes(c, p);
    if (st == VT_OK) st = qlinear_scales(c, 1, 0, 4, p->cout, &px, pw);
    if (st != VT_OK) return st;
    const vt_tensor *bias = c->n_in > 8 ? c->in[8] : NULL;
    if (bias && (bias->dtype != VT_I32 || vt_tensor_numel(bias) != p->cout))
        return vt_node_fail(c, VT_ERR_ARG, "B must be int32 with one value per output channel");
    return VT_OK;
}

static vt_status qlinearconv_infer(vt_opctx *c)
{
    qconv p = {.ix = 0, .ixz = 2, .iw = 3, .iwz = 5};
    bool pw;
    vt_status st = qlinearconv_check(c, &p, &pw);
    if (st != VT_OK) return st;
    int64_t sh[VT_MAX_RANK];
    qconv_out_shape(&p, sh);
    vt_out_set(c->out[0], c->in[7]->dtype, c->in[0]->rank, sh);
    return VT_OK;
}

static vt_status qlinearconv_run(vt_opctx *c)
{
    qconv p = {.ix = 0, .ixz = 2, .iw = 3, .iwz = 5};
    bool pw;
    vt_status st = qlinearconv_check(c, &p, &pw);
    if (st != VT_OK) return st;
    int64_t n = vt_tensor_numel(c->out[0]);
    double *acc = vt_malloc((size_t)n + 1, sizeof *acc);
    if (!acc) return VT_ERR_NOMEM;
    const vt_tensor *bias = c->n_in > 8 ? c->in[8] : NULL;
    float xs = (float)q_param_at(c, 1, false, 0), ys = (float)q_param_at(c, 6, false, 0);
    float yz = (float)q_param_at(c, 7, false, 0);
    if ((st = qconv_acc(c, &p, acc)) == VT_OK)
        for (int64_t i = 0; i < n; i++) {
            int64_t oc = (i / p.osp) % p.cout;
            double a = acc[i] + (bias ? ((const int32_t *)bias->data)[oc] : 0);
            float mult = xs * (float)q_param_at(c, 4, pw, oc) / ys;
            q_store(c->out[0], i, nearbyintf((float)a * mult) + yz);
        }
    free(acc);
    return st;
}

static const vt_op ops[] = {
    {.domain = "", .type = "QuantizeLinear", .since = 10, .infer = quantize_infer, .run = quantize_run},
    {.domain = "", .type = "DequantizeLinear", .since = 10, .infer = dequantize_infer, .run = dequantize_run},
    {.domain = "", .type = "MatMulInteger", .since = 10, .infer = matmulinteger_infer, .run = matmulinteger_run},
    {.domain = "", .type = "QLinearMatMul", .since = 10, .infer = qlinearmatmul_infer, .run = qlinearmatmul_run},
    {.domain = "", .type = "ConvInteger", .since = 10, .infer = convinteger_infer, .run = convinteger_run},
    {.domain = "", .type = "QLinearConv", .since = 10, .infer = qlinearconv_infer, .run = qlinearconv_run},
};

VT_OP_TABLE(vt_ops_quantize, ops);
