/* Classification losses, as evaluation graphs (and the harmonizer's objective) contain them:
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opsets 12/13) over inputs N x C x d1 x ... with
 * int32/int64 targets N x d1 x ..., optional class weights, ignore_index and reduction none / sum / mean
 * (mean divides by the summed weights of the targets not ignored, as the spec's function does).
 * Computed in double in a fixed order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

typedef enum { R_NONE, R_SUM, R_MEAN } loss_reduction;

typedef struct loss_plan {
    bool sce;
    loss_reduction red;
    int64_t n, classes, inner; /* scores N x C x inner */
    bool has_ignore;
    int64_t ignore;
} loss_plan;

static vt_status plan_of(const vt_opctx *c, loss_plan *p)
{
    memset(p, 0, sizeof *p);
    p->sce = !strcmp(c->node->op_type, "SoftmaxCrossEntropyLoss");
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK) st = vt_need_input(c, 1);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0], *t = c->in[1], *w = c->n_in > 2 ? c->in[2] : NULL;
    if (x->dtype != VT_F32 && x->dtype != VT_F64)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input is %s; float32 and float64 are supported",
                            vt_dtype_name(x->dtype));
    if (t->dtype != VT_I64 && t->dtype != VT_I32) return vt_node_fail(c, VT_ERR_ARG, "target must be int32 or int64");
    if (x->rank < 2 || t->rank != x->rank - 1 || t->shape[0] != x->shape[0])
        return vt_node_fail(c, VT_ERR_ARG, "input must be N x C x d1 ... and target N x d1 ...");
    for (int d = 2; d < x->rank; d++)
        if (t->shape[d - 1] != x->shape[d]) return vt_node_fail(c, VT_ERR_ARG, "target dimension %d differs", d - 1);
    p->n = x->shape[0], p->classes = x->shape[1], p->inner = vt_shape_numel(x->rank - 2, x->shape + 2);
    if (w && (w->dtype != x->dtype || vt_tensor_numel(w) != p->classes))
        return vt_node_fail(c, VT_ERR_ARG, "weight must hold one value per class, in the input's type");
    const char *r = vt_attr_str(c->node, "reduction", "mean");
    p->red = !strcmp(r, "none") ? R_NONE : !strcmp(r, "sum") ? R_SUM : R_MEAN;
    if (strcmp(r, "none") && strcmp(r, "sum") && strcmp(r, "mean"))
        return vt_node_fail(c, VT_ERR_ARG, "reduction '%s' is not none, sum or mean", r);
    p->has_ignore = vt_attr_get(c->node, "ignore_index") != NULL;
    p->ignore = vt_attr_int(c->node, "ignore_index", 0);
    return VT_OK;
}

static vt_status loss_infer(vt_opctx *c)
{
    loss_plan p;
    vt_status st = plan_of(c, &p);
    if (st != VT_OK) return st;
    const vt_tensor *t = c->in[1];
    if (p.red == R_NONE)
        vt_out_set(c->out[0], c->in[0]->dtype, t->rank, t->shape);
    else
        vt_out_set(c->out[0], c->in[0]->dtype, 0, NULL);
    if (p.sce && c->n_out > 1 && c->out[1]) vt_out_set(c->out[1], c->in[0]->dtype, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status loss_run(vt_opctx *c)
{
    loss_plan p;
    vt_status st = plan_of(c, &p);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0], *t = c->in[1], *w = c->n_in > 2 ? c->in[2] : NULL;
    int64_t C = p.classes, I = p.inner, rows = p.n * I;
    /* log-probabilities: the input itself (NLL), or its log-softmax over the classes (SCE) */
    double *lp = vt_malloc((size_t)(p.n * C * I) + 1, sizeof *lp);
    double *loss = vt_malloc((size_t)rows + 1, sizeof *loss);
    if (!lp || !loss) {
        free(lp), free(loss);
        return VT_ERR_NOMEM;
    }
    for (int64_t i = 0; i < p.n * C * I; i++) lp[i] = vt_elem_f64(x, i);
    if (p.sce)
        for (int64_t r = 0; r < rows; r++) {
            int64_t b = r / I, q = r % I;
            double mx = -INFINITY, sum = 0;
            for (int64_t k = 0; k < C; k++) mx = fmax(mx, lp[(b * C + k) * I + q]);
            for (int64_t k = 0; k < C; k++) sum += exp(lp[(b * C + k) * I + q] - mx);
            double lse = mx + log(sum);
            for (int64_t k = 0; k < C; k++) lp[(b * C + k) * I + q] -= lse;
        }
    double total = 0, wsum = 0;
    for (int64_t r = 0; r < rows && st == VT_OK; r++) {
        int64_t b = r / I, q = r % I, k = vt_elem_i64(t, r);
        if (p.has_ignore && k == p.ignore) {
            loss[r] = 0;
            continue;
        }
        if (k < 0 || k >= C) {
            st = vt_node_fail(c, VT_ERR_ARG, "target %lld is not a class in [0, %lld)", (long long)k, (long long)C);
            break;
        }
        double wk = w ? vt_elem_f64(w, k) : 1;
        loss[r] = -lp[(b * C + k) * I + q] * wk;
        total += loss[r];
        wsum += wk;
    }
    if (st == VT_OK) {
        if (p.red == R_NONE)
            for (int64_t r = 0; r < rows; r++) vt_elem_set_f64(c->out[0], r, loss[r]);
        else
            vt_elem_set_f64(c->out[0], 0, p.red == R_SUM ? total : total / wsum);
        if (p.sce && c->n_out > 1 && c->out[1] && c->out[1]->rank == x->rank)
            for (int64_t i = 0; i < p.n * C * I; i++) vt_elem_set_f64(c->out[1], i, lp[i]);
    }
    free(lp);
    free(loss);
    return st;
}

static const vt_op ops[] = {
    {.domain = "", .type = "NegativeLogLikelihoodLoss", .since = 12, .infer = loss_infer, .run = loss_run},
    {.domain = "", .type = "SoftmaxCrossEntropyLoss", .since = 12, .infer = loss_infer, .run = loss_run},
};

VT_OP_TABLE(vt_ops_loss, ops);
