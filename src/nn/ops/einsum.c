/* Einsum (opset 12+): explicit ("ij,jk->ik") and implicit output, ellipsis broadcasting, repeated labels
 * within an operand (diagonals), labels summed away. Float32 with two operands reduces to one batched matrix
 * product (batch labels x kept-left x contracted, contracted x kept-right) run by the MatMul kernel (oneDNN,
 * or the reference), with the operands and the result permuted around it; one operand is a permutation with
 * sums. Three or more operands, and float64, run the direct sum of products in double. Every output
 * element's sums run in a fixed order, so results do not depend on the thread count or on how many stimuli
 * a batch holds. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

#define MAX_LABELS 64 /* a-z, A-Z, and the dims an ellipsis stands for */
#define MAX_TERM   (VT_MAX_RANK + 2)
#define MAX_OPS    8 /* operands */

typedef struct term {
    int n;               /* labels, one per dim */
    int label[MAX_TERM]; /* 0-51 letters, 52+ the ellipsis dims (right-aligned) */
} term;

typedef struct einsum_plan {
    int n_in;
    term in[MAX_OPS], out;
    int64_t size[MAX_LABELS]; /* every label's extent (broadcast ellipsis dims: the largest) */
} einsum_plan;

static int letter(char ch)
{
    return ch >= 'a' && ch <= 'z' ? ch - 'a' : ch >= 'A' && ch <= 'Z' ? 26 + ch - 'A' : -1;
}

/* One term of the equation, s[0..len), for an operand of rank `rank` (-1: the output, whose ellipsis
 * stands for `ell` dims). */
static bool parse_term(const char *s, size_t len, int rank, int ell, term *t, int *ell_out)
{
    t->n = 0;
    int letters = 0, dots = -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (dots >= 0 || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.') return false;
            dots = letters;
            i += 2;
        } else if (letter(s[i]) >= 0)
            letters++;
        else if (!isspace((unsigned char)s[i]))
            return false;
    }
    int n_ell = rank >= 0 ? (dots >= 0 ? rank - letters : 0) : (dots >= 0 ? ell : 0);
    if (n_ell < 0 || (rank >= 0 && dots < 0 && letters != rank) || letters + n_ell > MAX_TERM) return false;
    if (ell_out) *ell_out = n_ell;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            for (int k = 0; k < n_ell; k++) t->label[t->n++] = MAX_LABELS - n_ell + k; /* right-aligned */
            i += 2;
        } else if (letter(s[i]) >= 0)
            t->label[t->n++] = letter(s[i]);
    }
    return true;
}

static bool has(const term *t, int l)
{
    for (int i = 0; i < t->n; i++)
        if (t->label[i] == l) return true;
    return false;
}

static vt_status plan_of(const vt_opctx *c, einsum_plan *p)
{
    const char *eq = vt_attr_str(c->node, "equation", NULL);
    if (!eq) return vt_node_fail(c, VT_ERR_ARG, "the equation attribute is missing");
    memset(p, 0, sizeof *p);
    p->n_in = c->n_in;
    if (c->n_in < 1 || c->n_in > MAX_OPS)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "Einsum with %d operands (1 to %d are supported)", c->n_in, MAX_OPS);
    const char *arrow = strstr(eq, "->"), *end = arrow ? arrow : eq + strlen(eq);
    const char *s = eq;
    int max_ell = 0;
    for (int k = 0; k < c->n_in; k++) {
        vt_status st = vt_need_input(c, k);
        if (st != VT_OK) return st;
        if (c->in[k]->dtype != VT_F64 && (st = vt_need_f32(c, k)) != VT_OK) return st;
        if (c->in[k]->dtype != c->in[0]->dtype)
            return vt_node_fail(c, VT_ERR_ARG, "operands of different types (%s, %s)", vt_dtype_name(c->in[0]->dtype),
                                vt_dtype_name(c->in[k]->dtype));
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        if ((k + 1 < c->n_in) != (comma != NULL))
            return vt_node_fail(c, VT_ERR_ARG, "equation '%s' does not have %d operand terms", eq, c->n_in);
        int ell;
        if (!parse_term(s, (size_t)(stop - s), c->in[k]->rank, 0, &p->in[k], &ell))
            return vt_node_fail(c, VT_ERR_ARG, "equation '%s': term %d does not fit an operand of rank %d", eq, k,
                                c->in[k]->rank);
        if (ell > max_ell) max_ell = ell;
        s = stop + 1;
    }
    /* Sizes: a label's extent must agree between operands (ellipsis dims broadcast from 1). */
    for (int l = 0; l < MAX_LABELS; l++) p->size[l] = -1;
    for (int k = 0; k < c->n_in; k++)
        for (int i = 0; i < p->in[k].n; i++) {
            int l = p->in[k].label[i];
            int64_t d = c->in[k]->shape[i];
            if (p->size[l] < 0 || (l >= 52 && p->size[l] == 1))
                p->size[l] = d;
            else if (p->size[l] != d && !(l >= 52 && d == 1))
                return vt_node_fail(c, VT_ERR_ARG, "equation '%s': a label spans %lld and %lld", eq,
                                    (long long)p->size[l], (long long)d);
        }
    if (arrow) {
        if (!parse_term(arrow + 2, strlen(arrow + 2), -1, max_ell, &p->out, NULL))
            return vt_node_fail(c, VT_ERR_ARG, "equation '%s': malformed output term", eq);
        for (int i = 0; i < p->out.n; i++)
            if (p->size[p->out.label[i]] < 0)
                return vt_node_fail(c, VT_ERR_ARG, "equation '%s': output label not in any operand", eq);
        for (int i = 0; i < p->out.n; i++)
            for (int j = i + 1; j < p->out.n; j++)
                if (p->out.label[i] == p->out.label[j])
                    return vt_node_fail(c, VT_ERR_ARG, "equation '%s': an output label repeats", eq);
    } else { /* implicit: the ellipsis dims, then the labels used once, alphabetically */
        int count[MAX_LABELS] = {0};
        for (int k = 0; k < c->n_in; k++)
            for (int i = 0; i < p->in[k].n; i++) count[p->in[k].label[i]]++;
        for (int l = 52; l < MAX_LABELS; l++)
            if (count[l]) p->out.label[p->out.n++] = l;
        static const char order[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for (int i = 0; order[i]; i++) {
            int l = letter(order[i]);
            if (count[l] == 1) p->out.label[p->out.n++] = l;
        }
    }
    if (p->out.n > VT_MAX_RANK) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "output rank %d", p->out.n);
    return VT_OK;
}

static vt_status einsum_infer(vt_opctx *c)
{
    einsum_plan p;
    vt_status st = plan_of(c, &p);
    if (st != VT_OK) return st;
    int64_t sh[VT_MAX_RANK];
    for (int i = 0; i < p.out.n; i++) sh[i] = p.size[p.out.label[i]];
    vt_out_set(c->out[0], c->in[0]->dtype, p.out.n, sh);
    return VT_OK;
}

/* Per label, the element stride in a C-order operand of shape `shape` and labels `t` (summed over a repeated
 * label's dims, which walks the diagonal; 0 where an ellipsis dim of extent 1 broadcasts). */
static void label_strides(const einsum_plan *p, const int64_t *shape, const term *t, int64_t *lstride)
{
    int64_t acc = 1;
    memset(lstride, 0, sizeof(int64_t) * MAX_LABELS);
    for (int i = t->n - 1; i >= 0; i--) {
        if (!(shape[i] == 1 && p->size[t->label[i]] != 1)) lstride[t->label[i]] += acc;
        acc *= shape[i];
    }
}

/* dst (labels `to`, contiguous, extents from p->size) = src (labels `from`, C-order shape `shape`) summed
 * over the labels of `from` missing from `to`; a label repeated in `from` walks its diagonal; an ellipsis
 * dim of extent 1 in src broadcasts. Each destination element sums its terms in index order (double). */
static vt_status gather(const einsum_plan *p, const float *src, const int64_t *shape, const term *from, const term *to,
                        float *dst)
{
    int64_t lstride[MAX_LABELS];
    label_strides(p, shape, from, lstride);
    int sum_l[MAX_TERM], ns = 0;
    for (int i = 0; i < from->n; i++) {
        int l = from->label[i];
        bool seen = has(to, l);
        for (int j = 0; j < ns && !seen; j++) seen = sum_l[j] == l;
        if (!seen) sum_l[ns++] = l;
    }
    int64_t nout = 1, nsum = 1;
    for (int i = 0; i < to->n; i++) nout *= p->size[to->label[i]];
    for (int j = 0; j < ns; j++) nsum *= p->size[sum_l[j]];
#pragma omp parallel for schedule(static) if (nout * nsum > 65536)
    for (int64_t o = 0; o < nout; o++) {
        int64_t base = 0, r = o;
        for (int i = to->n - 1; i >= 0; i--) {
            int l = to->label[i];
            base += (r % p->size[l]) * lstride[l];
            r /= p->size[l];
        }
        if (ns == 0) {
            dst[o] = src[base];
            continue;
        }
        double sum = 0;
        for (int64_t q = 0; q < nsum; q++) {
            int64_t off = base, rq = q;
            for (int j = ns - 1; j >= 0; j--) {
                off += (rq % p->size[sum_l[j]]) * lstride[sum_l[j]];
                rq /= p->size[sum_l[j]];
            }
            sum += src[off];
        }
        dst[o] = (float)sum;
    }
    return VT_OK;
}

/* The direct form: each output element is the sum over the summed labels (in index order) of the product of
 * the operands (left to right), in double. */
static vt_status einsum_direct(vt_opctx *c, const einsum_plan *p)
{
    int64_t(*ls)[MAX_LABELS] = vt_malloc(MAX_OPS, sizeof *ls); /* filled here, read-only in the loop */
    if (!ls) return VT_ERR_NOMEM;
    bool used[MAX_LABELS] = {0};
    int sum_l[MAX_LABELS], ns = 0;
    for (int k = 0; k < p->n_in; k++) {
        label_strides(p, c->in[k]->shape, &p->in[k], ls[k]);
        for (int i = 0; i < p->in[k].n; i++) used[p->in[k].label[i]] = true;
    }
    for (int l = 0; l < MAX_LABELS; l++)
        if (used[l] && !has(&p->out, l)) sum_l[ns++] = l;
    int64_t nout = vt_tensor_numel(c->out[0]), nsum = 1;
    for (int j = 0; j < ns; j++) nsum *= p->size[sum_l[j]];
    vt_tensor *y = c->out[0];
#pragma omp parallel for schedule(static) if (nout * nsum * p->n_in > 65536)
    for (int64_t o = 0; o < nout; o++) {
        int64_t base[MAX_OPS] = {0}, r = o;
        for (int i = p->out.n - 1; i >= 0; i--) {
            int l = p->out.label[i];
            int64_t idx = r % p->size[l];
            r /= p->size[l];
            for (int k = 0; k < p->n_in; k++) base[k] += idx * ls[k][l];
        }
        double sum = 0;
        for (int64_t q = 0; q < nsum; q++) {
            int64_t off[MAX_OPS], rq = q;
            memcpy(off, base, sizeof off);
            for (int j = ns - 1; j >= 0; j--) {
                int l = sum_l[j];
                int64_t idx = rq % p->size[l];
                rq /= p->size[l];
                for (int k = 0; k < p->n_in; k++) off[k] += idx * ls[k][l];
            }
            double prod = 1;
            for (int k = 0; k < p->n_in; k++) prod *= vt_elem_f64(c->in[k], off[k]);
            sum += prod;
        }
        vt_elem_set_f64(y, o, sum);
    }
    free(ls);
    return VT_OK;
}

static vt_status einsum_run(vt_opctx *c)
{
    einsum_plan p;
    vt_status st = plan_of(c, &p);
    if (st != VT_OK) return st;
    if (p.n_in > 2 || c->in[0]->dtype == VT_F64) return einsum_direct(c, &p);
    float *y = c->out[0]->data;
    if (p.n_in == 1) return gather(&p, c->in[0]->data, c->in[0]->shape, &p.in[0], &p.out, y);
    /* Two operands: batch labels (both operands and the output), m (left and output), k (both, not the
     * output: contracted), n (right and output); labels of one operand alone not in the output are summed
     * away when it is laid out. */
    const term *a = &p.in[0], *b = &p.in[1];
    term ta = {0}, tb = {0}, tr = {0};
    int64_t B = 1, M = 1, K = 1, N = 1;
    int batch[MAX_TERM], nbatch = 0, ms[MAX_TERM], nm = 0, ks[MAX_TERM], nk = 0, ns[MAX_TERM], nn = 0;
    bool done[MAX_LABELS] = {0};
    for (int pass = 0; pass < 2; pass++) {
        const term *t = pass ? b : a;
        for (int i = 0; i < t->n; i++) {
            int l = t->label[i];
            if (done[l]) continue;
            done[l] = true;
            bool in_a = has(a, l), in_b = has(b, l), in_o = has(&p.out, l);
            if (in_a && in_b && in_o)
                batch[nbatch++] = l, B *= p.size[l];
            else if (in_a && in_b)
                ks[nk++] = l, K *= p.size[l];
            else if (in_a && in_o)
                ms[nm++] = l, M *= p.size[l];
            else if (in_b && in_o)
                ns[nn++] = l, N *= p.size[l];
        }
    }
    for (int i = 0; i < nbatch; i++) ta.label[ta.n++] = tb.label[tb.n++] = tr.label[tr.n++] = batch[i];
    for (int i = 0; i < nm; i++) ta.label[ta.n++] = tr.label[tr.n++] = ms[i];
    for (int i = 0; i < nk; i++) ta.label[ta.n++] = ks[i];
    for (int i = 0; i < nk; i++) tb.label[tb.n++] = ks[i];
    for (int i = 0; i < nn; i++) tb.label[tb.n++] = tr.label[tr.n++] = ns[i];
    float *A = vt_malloc((size_t)(B * M * K > 0 ? B * M * K : 1), sizeof(float));
    float *Bm = vt_malloc((size_t)(B * K * N > 0 ? B * K * N : 1), sizeof(float));
    float *R = vt_malloc((size_t)(B * M * N > 0 ? B * M * N : 1), sizeof(float));
    if (!A || !Bm || !R)
        st = vt_fail(VT_ERR_NOMEM, "out of memory");
    else {
        gather(&p, c->in[0]->data, c->in[0]->shape, a, &ta, A);
        gather(&p, c->in[1]->data, c->in[1]->shape, b, &tb, Bm);
        if (K == 0)
            memset(R, 0, sizeof(float) * (size_t)(B * M * N));
        else if (B * M * N > 0)
            st = vt_matmul_batched(c, A, Bm, R, B, M, K, N);
        int64_t rshape[MAX_TERM];
        for (int i = 0; i < tr.n; i++) rshape[i] = p.size[tr.label[i]];
        if (st == VT_OK) st = gather(&p, R, rshape, &tr, &p.out, y);
    }
    free(A);
    free(Bm);
    free(R);
    return st;
}

static const vt_op ops[] = {
    {.domain = "",
     .type = "Einsum",
     .since = 12,
     .infer = einsum_infer,
     .run = einsum_run,
     .release = vt_matmul_release},
};

VT_OP_TABLE(vt_ops_einsum, ops);
