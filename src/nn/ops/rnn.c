/* Recurrent layers: RNN, GRU and LSTM (opsets 7 and 14: forward, reverse and bidirectional, sequence_lens,
 * initial states, peepholes, clip, linear_before_reset, layout 0 = [seq, batch, ...] or 1 = [batch, seq, ...],
 * the activation functions the spec lists with their alpha/beta). Each hidden unit of each stimulus is
 * computed in double in a fixed order, so the result does not depend on threads or batch size.
 * Gate order in W, R and B: RNN i; GRU z, r, h; LSTM i, o, f, c (the spec's). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

typedef enum { K_RNN, K_GRU, K_LSTM } rnn_kind;

typedef enum {
    A_SIGMOID,
    A_TANH,
    A_RELU,
    A_HARDSIGMOID,
    A_LEAKYRELU,
    A_THRESHOLDEDRELU,
    A_SCALEDTANH,
    A_AFFINE,
    A_ELU,
    A_SOFTSIGN,
    A_SOFTPLUS
} act_kind;

typedef struct act_fn {
    act_kind k;
    double alpha, beta;
} act_fn;

typedef struct rnn_plan {
    rnn_kind kind;
    int gates, dirs, nact;
    int64_t seq, batch, in, hidden;
    bool layout1, reverse_only, lbr;
    double clip; /* 0: none */
    act_fn act[6];
} rnn_plan;

static const struct {
    const char *name;
    act_kind k;
    bool alpha, beta;
    double da, db;
} acts[] = {{"Sigmoid", A_SIGMOID, false, false, 0, 0},
            {"Tanh", A_TANH, false, false, 0, 0},
            {"Relu", A_RELU, false, false, 0, 0},
            {"HardSigmoid", A_HARDSIGMOID, true, true, 0.2, 0.5},
            {"LeakyRelu", A_LEAKYRELU, true, false, 0.01, 0},
            {"ThresholdedRelu", A_THRESHOLDEDRELU, true, false, 1.0, 0},
            {"ScaledTanh", A_SCALEDTANH, true, true, 1.0, 1.0},
            {"Affine", A_AFFINE, true, true, 1.0, 0},
            {"Elu", A_ELU, true, false, 1.0, 0},
            {"Softsign", A_SOFTSIGN, false, false, 0, 0},
            {"Softplus", A_SOFTPLUS, false, false, 0, 0}};

static double act_apply(const act_fn *f, double x)
{
    switch (f->k) {
    case A_SIGMOID: return 1 / (1 + exp(-x));
    case A_TANH: return tanh(x);
    case A_RELU: return x > 0 ? x : 0;
    case A_HARDSIGMOID: return fmax(0, fmin(1, f->alpha * x + f->beta));
    case A_LEAKYRELU: return x >= 0 ? x : f->alpha * x;
    case A_THRESHOLDEDRELU: return x > f->alpha ? x : 0;
    case A_SCALEDTANH: return f->alpha * tanh(f->beta * x);
    case A_AFFINE: return f->alpha * x + f->beta;
    case A_ELU: return x >= 0 ? x : f->alpha * (exp(x) - 1);
    case A_SOFTSIGN: return x / (1 + fabs(x));
    case A_SOFTPLUS: return log1p(exp(-fabs(x))) + fmax(x, 0);
    }
    return x;
}

static vt_status plan_of(const vt_opctx *c, rnn_plan *p)
{
    const vt_node *n = c->node;
    memset(p, 0, sizeof *p);
    p->kind = !strcmp(n->op_type, "GRU") ? K_GRU : !strcmp(n->op_type, "LSTM") ? K_LSTM : K_RNN;
    p->gates = p->kind == K_GRU ? 3 : p->kind == K_LSTM ? 4 : 1;
    for (int k = 0; k < 3; k++) {
        vt_status st = vt_need_f32(c, k);
        if (st != VT_OK) return st;
    }
    const char *dir = vt_attr_str(n, "direction", "forward");
    if (strcmp(dir, "forward") && strcmp(dir, "reverse") && strcmp(dir, "bidirectional"))
        return vt_node_fail(c, VT_ERR_ARG, "direction '%s' is not forward, reverse or bidirectional", dir);
    p->dirs = strcmp(dir, "bidirectional") ? 1 : 2;
    p->reverse_only = !strcmp(dir, "reverse");
    p->layout1 = vt_attr_int(n, "layout", 0) != 0;
    p->lbr = vt_attr_int(n, "linear_before_reset", 0) != 0;
    p->clip = vt_attr_get(n, "clip") ? vt_attr_float(n, "clip", 0) : 0;
    if (p->kind == K_LSTM && vt_attr_int(n, "input_forget", 0))
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input_forget=1 is not supported");
    const vt_tensor *x = c->in[0], *w = c->in[1], *r = c->in[2];
    if (x->rank != 3) return vt_node_fail(c, VT_ERR_ARG, "X must be 3-D");
    p->seq = x->shape[p->layout1 ? 1 : 0], p->batch = x->shape[p->layout1 ? 0 : 1], p->in = x->shape[2];
    p->hidden = vt_attr_int(n, "hidden_size", r->rank == 3 ? r->shape[2] : -1);
    int64_t gh = p->gates * p->hidden;
    if (w->rank != 3 || w->shape[0] != p->dirs || w->shape[1] != gh || w->shape[2] != p->in)
        return vt_node_fail(c, VT_ERR_ARG, "W must be [%d, %lld, %lld]", p->dirs, (long long)gh, (long long)p->in);
    if (r->rank != 3 || r->shape[0] != p->dirs || r->shape[1] != gh || r->shape[2] != p->hidden)
        return vt_node_fail(c, VT_ERR_ARG, "R must be [%d, %lld, %lld]", p->dirs, (long long)gh, (long long)p->hidden);
    const vt_tensor *b = c->n_in > 3 ? c->in[3] : NULL, *lens = c->n_in > 4 ? c->in[4] : NULL;
    if (b && (b->dtype != VT_F32 || vt_tensor_numel(b) != p->dirs * 2 * gh))
        return vt_node_fail(c, VT_ERR_ARG, "B must be float32 [%d, %lld]", p->dirs, (long long)(2 * gh));
    if (lens && ((lens->dtype != VT_I32 && lens->dtype != VT_I64) || vt_tensor_numel(lens) != p->batch))
        return vt_node_fail(c, VT_ERR_ARG, "sequence_lens must be int32 with one length per batch row");
    int n_states = p->kind == K_LSTM ? 2 : 1;
    for (int s = 0; s < n_states; s++) {
        const vt_tensor *h0 = c->n_in > 5 + s ? c->in[5 + s] : NULL;
        if (h0 && (h0->dtype != VT_F32 || vt_tensor_numel(h0) != p->dirs * p->batch * p->hidden))
            return vt_node_fail(c, VT_ERR_ARG, "initial state %d must be float32 [%d, %lld, %lld]", s, p->dirs,
                                (long long)p->batch, (long long)p->hidden);
    }
    const vt_tensor *peep = p->kind == K_LSTM && c->n_in > 7 ? c->in[7] : NULL;
    if (peep && (peep->dtype != VT_F32 || vt_tensor_numel(peep) != p->dirs * 3 * p->hidden))
        return vt_node_fail(c, VT_ERR_ARG, "P must be float32 [%d, %lld]", p->dirs, (long long)(3 * p->hidden));
    /* Activations: f, g (GRU, LSTM), h (LSTM) per direction; the spec's defaults. */
    int per = p->kind == K_LSTM ? 3 : p->kind == K_GRU ? 2 : 1;
    p->nact = per * p->dirs;
    char *const *names = NULL;
    const vt_attr *an = vt_attr_get(n, "activations");
    const vt_attr *aa = vt_attr_get(n, "activation_alpha"), *ab = vt_attr_get(n, "activation_beta");
    if (an && an->type == VT_ATTR_STRINGS) {
        if (an->n != p->nact)
            return vt_node_fail(c, VT_ERR_ARG, "activations lists %d functions, %d expected", an->n, p->nact);
        names = an->strings;
    }
    int ia = 0, ib = 0;
    for (int i = 0; i < p->nact; i++) {
        const char *want = names ? names[i] : (i % per == 0 && p->kind != K_RNN) ? "Sigmoid" : "Tanh";
        int j = -1;
        for (size_t q = 0; q < sizeof acts / sizeof acts[0]; q++)
            if (!strcmp(acts[q].name, want)) j = (int)q;
        if (j < 0) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "activation '%s' is not supported", want);
        p->act[i].k = acts[j].k;
        p->act[i].alpha = acts[j].da, p->act[i].beta = acts[j].db;
        /* alpha and beta values are consumed in order by the functions that take them */
        if (acts[j].alpha && aa && aa->type == VT_ATTR_FLOATS && ia < aa->n) p->act[i].alpha = aa->floats[ia++];
        if (acts[j].beta && ab && ab->type == VT_ATTR_FLOATS && ib < ab->n) p->act[i].beta = ab->floats[ib++];
    }
    if (p->seq < 1 || p->hidden < 1) return vt_node_fail(c, VT_ERR_ARG, "empty sequence or hidden size");
    return VT_OK;
}

static vt_status rnn_infer(vt_opctx *c)
{
    rnn_plan p;
    vt_status st = plan_of(c, &p);
    if (st != VT_OK) return st;
    int64_t y[4] = {p.seq, p.dirs, p.batch, p.hidden}, h[3] = {p.dirs, p.batch, p.hidden};
    if (p.layout1) {
        y[0] = p.batch, y[1] = p.seq, y[2] = p.dirs;
        h[0] = p.batch, h[1] = p.dirs;
    }
    if (c->n_out > 0 && c->out[0]) vt_out_set(c->out[0], VT_F32, 4, y);
    for (int k = 1; k < c->n_out && k < 3; k++)
        if (c->out[k]) vt_out_set(c->out[k], VT_F32, 3, h);
    return VT_OK;
}

static double clipped(const rnn_plan *p, double v)
{
    return p->clip > 0 ? fmax(-p->clip, fmin(p->clip, v)) : v;
}

/* One direction over one batch row: h (and c) updated in place, outputs written to y (stride per step). */
static void run_row(const rnn_plan *p, const vt_opctx *c, int dir, int64_t b, double *h, double *cs, double *pre,
                    double *tmp)
{
    const float *x = c->in[0]->data, *W = c->in[1]->data, *R = c->in[2]->data;
    const vt_tensor *bt = c->n_in > 3 ? c->in[3] : NULL, *lens = c->n_in > 4 ? c->in[4] : NULL;
    const vt_tensor *peep = p->kind == K_LSTM && c->n_in > 7 ? c->in[7] : NULL;
    int64_t H = p->hidden, G = p->gates * H, len = lens ? vt_elem_i64(lens, b) : p->seq;
    if (len > p->seq) len = p->seq;
    if (len < 0) len = 0;
    const float *w = W + dir * G * p->in, *r = R + dir * G * H;
    const float *wb = bt ? (const float *)bt->data + dir * 2 * G : NULL, *rb = wb ? wb + G : NULL;
    const float *pp = peep ? (const float *)peep->data + dir * 3 * H : NULL;
    const act_fn *f = &p->act[dir * (p->nact / p->dirs)], *g = f + 1, *hf = f + 2;
    bool backward = p->reverse_only || dir == 1;
    float *y = c->n_out > 0 && c->out[0] && c->out[0]->rank == 4 ? c->out[0]->data : NULL; /* absent: rank 1 */
    for (int64_t s = 0; s < p->seq; s++) {
        int64_t t = backward ? len - 1 - s : s;
        int64_t yo = p->layout1 ? ((b * p->seq + s) * p->dirs + dir) * H : ((s * p->dirs + dir) * p->batch + b) * H;
        if (s >= len) { /* past this row's length: zeros in Y, the state stays */
            if (y) memset(y + yo, 0, sizeof *y * (size_t)H);
            continue;
        }
        if (backward)
            yo = p->layout1 ? ((b * p->seq + t) * p->dirs + dir) * H : ((t * p->dirs + dir) * p->batch + b) * H;
        const float *xt = x + (p->layout1 ? (b * p->seq + t) : (t * p->batch + b)) * p->in;
        /* pre[j] = x_t W_j + Wb_j (+ Rb_j, and h R_j, except GRU's hidden gate, done below) */
        for (int64_t j = 0; j < G; j++) {
            double a = wb ? (double)wb[j] : 0;
            for (int64_t k = 0; k < p->in; k++) a += (double)xt[k] * w[j * p->in + k];
            double rr = rb ? (double)rb[j] : 0;
            for (int64_t k = 0; k < H; k++) rr += h[k] * r[j * H + k];
            pre[j] = a, tmp[j] = rr; /* tmp: the recurrent part, kept apart for GRU */
        }
        if (p->kind == K_RNN) {
            for (int64_t j = 0; j < H; j++) h[j] = act_apply(f, clipped(p, pre[j] + tmp[j]));
        } else if (p->kind == K_GRU) {
            double *zv = tmp + G, *rv = zv + H;
            for (int64_t j = 0; j < H; j++) {
                zv[j] = act_apply(f, clipped(p, pre[j] + tmp[j]));
                rv[j] = act_apply(f, clipped(p, pre[H + j] + tmp[H + j]));
            }
            for (int64_t j = 0; j < H; j++) {
                double hh;
                if (p->lbr) /* r (.) (h R_h + Rb_h) */
                    hh = pre[2 * H + j] + rv[j] * tmp[2 * H + j];
                else { /* (r (.) h) R_h + Rb_h */
                    double a = rb ? (double)rb[2 * H + j] : 0;
                    for (int64_t k = 0; k < H; k++) a += rv[k] * h[k] * r[(2 * H + j) * H + k];
                    hh = pre[2 * H + j] + a;
                }
                pre[j] = (1 - zv[j]) * act_apply(g, clipped(p, hh)) + zv[j] * h[j]; /* z's slot is free now */
            }
            for (int64_t j = 0; j < H; j++) h[j] = pre[j];
        } else {
            for (int64_t j = 0; j < H; j++) {
                double cprev = cs[j];
                double i = act_apply(f, clipped(p, pre[j] + tmp[j] + (pp ? pp[j] * cprev : 0)));
                double fg =
                    act_apply(f, clipped(p, pre[2 * H + j] + tmp[2 * H + j] + (pp ? pp[2 * H + j] * cprev : 0)));
                double cc = act_apply(g, clipped(p, pre[3 * H + j] + tmp[3 * H + j]));
                double cn = fg * cprev + i * cc;
                double o = act_apply(f, clipped(p, pre[H + j] + tmp[H + j] + (pp ? pp[H + j] * cn : 0)));
                tmp[G + j] = cn, tmp[G + H + j] = o * act_apply(hf, cn);
            }
            for (int64_t j = 0; j < H; j++) cs[j] = tmp[G + j], h[j] = tmp[G + H + j];
        }
        if (y)
            for (int64_t j = 0; j < H; j++) y[yo + j] = (float)h[j];
    }
}

static vt_status rnn_run(vt_opctx *c)
{
    rnn_plan p;
    vt_status st = plan_of(c, &p);
    if (st != VT_OK) return st;
    int64_t H = p.hidden, G = p.gates * H;
    const vt_tensor *h0 = c->n_in > 5 ? c->in[5] : NULL, *c0 = p.kind == K_LSTM && c->n_in > 6 ? c->in[6] : NULL;
    int64_t rows = p.dirs * p.batch;
    double *buf = vt_malloc((size_t)(rows * (2 * H + 2 * G + 2 * H)), sizeof *buf);
    if (!buf) return VT_ERR_NOMEM;
#pragma omp parallel for schedule(dynamic, 1) if (rows > 1 && p.seq * G * (p.in + H) > 65536)
    for (int64_t q = 0; q < rows; q++) {
        int dir = (int)(q / p.batch);
        int64_t b = q % p.batch;
        double *h = buf + q * (2 * H + 2 * G + 2 * H), *cs = h + H, *pre = cs + H, *tmp = pre + G;
        for (int64_t j = 0; j < H; j++) {
            int64_t at = (dir * p.batch + b) * H + j;
            if (p.layout1) at = (b * p.dirs + dir) * H + j;
            h[j] = h0 ? ((const float *)h0->data)[at] : 0;
            cs[j] = c0 ? ((const float *)c0->data)[at] : 0;
        }
        run_row(&p, c, dir, b, h, cs, pre, tmp);
        for (int k = 1; k < c->n_out && k < 3; k++) {
            if (!c->out[k] || c->out[k]->rank != 3) continue; /* an absent output is a rank-1 placeholder */
            int64_t at = p.layout1 ? (b * p.dirs + dir) * H : (dir * p.batch + b) * H;
            for (int64_t j = 0; j < H; j++) ((float *)c->out[k]->data)[at + j] = (float)(k == 1 ? h[j] : cs[j]);
        }
    }
    free(buf);
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "", .type = "RNN", .since = 7, .infer = rnn_infer, .run = rnn_run},
    {.domain = "", .type = "GRU", .since = 7, .infer = rnn_infer, .run = rnn_run},
    {.domain = "", .type = "LSTM", .since = 7, .infer = rnn_infer, .run = rnn_run},
};

VT_OP_TABLE(vt_ops_rnn, ops);
