/* Element-wise operators: unary activations and math (float32), numpy-broadcast binary
 * arithmetic and comparisons (float32/float64/int32/int64), variadic Sum/Max/Min/Mean, Where,
 * Cast, CastLike, Identity/Dropout (pass-through). Each output element is computed by one thread from
 * its inputs alone, so results never depend on the thread count. The float32 loops are vectorised
 * (exp, erf, tanh, sigmoid from vecmath.h; bit-identical to their scalar evaluation). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "nn/ops/vecmath.h"

/* ---- unary float32 ---- */

typedef enum {
    U_RELU,
    U_LEAKY,
    U_SIGMOID,
    U_TANH,
    U_ERF,
    U_EXP,
    U_LOG,
    U_SQRT,
    U_NEG,
    U_ABS,
    U_RECIP,
    U_FLOOR,
    U_CEIL,
    U_HSIGMOID,
    U_HSWISH,
    U_CLIP,
    U_ELU,
    U_SELU,
    U_SOFTPLUS,
    U_SOFTSIGN,
    U_SIN,
    U_COS,
    U_ROUND,
    U_SIGN,
    U_TAN,
    U_ASIN,
    U_ACOS,
    U_ATAN,
    U_SINH,
    U_COSH,
    U_ASINH,
    U_ACOSH,
    U_ATANH,
    U_CELU,
    U_THRESHOLDED,
    U_SHRINK
} unary_kind;

static unary_kind unary_of(const char *type)
{
    static const struct {
        const char *name;
        unary_kind k;
    } map[] = {{"Relu", U_RELU},
               {"LeakyRelu", U_LEAKY},
               {"Sigmoid", U_SIGMOID},
               {"Tanh", U_TANH},
               {"Erf", U_ERF},
               {"Exp", U_EXP},
               {"Log", U_LOG},
               {"Sqrt", U_SQRT},
               {"Neg", U_NEG},
               {"Abs", U_ABS},
               {"Reciprocal", U_RECIP},
               {"Floor", U_FLOOR},
               {"Ceil", U_CEIL},
               {"HardSigmoid", U_HSIGMOID},
               {"HardSwish", U_HSWISH},
               {"Clip", U_CLIP},
               {"Elu", U_ELU},
               {"Selu", U_SELU},
               {"Softplus", U_SOFTPLUS},
               {"Softsign", U_SOFTSIGN},
               {"Sin", U_SIN},
               {"Cos", U_COS},
               {"Round", U_ROUND},
               {"Sign", U_SIGN},
               {"Tan", U_TAN},
               {"Asin", U_ASIN},
               {"Acos", U_ACOS},
               {"Atan", U_ATAN},
               {"Sinh", U_SINH},
               {"Cosh", U_COSH},
               {"Asinh", U_ASINH},
               {"Acosh", U_ACOSH},
               {"Atanh", U_ATANH},
               {"Celu", U_CELU},
               {"ThresholdedRelu", U_THRESHOLDED},
               {"Shrink", U_SHRINK}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, type) == 0) return map[i].k;
    return U_RELU;
}

static vt_status unary_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    unary_kind k = unary_of(c->node->op_type);
    bool int_ok = k == U_RELU || k == U_NEG || k == U_ABS || k == U_CLIP || k == U_SIGN;
    vt_dtype dt = c->in[0]->dtype;
    bool is_int = !vt_dtype_is_float(dt) && dt != VT_BOOL && dt != VT_U64; /* computed in int64 */
    if (dt != VT_F32 && !(int_ok && is_int))
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input is %s; this op supports float32 only",
                            vt_dtype_name(c->in[0]->dtype));
    vt_out_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static float round_half_even(float x)
{
    float r = roundf(x);
    if (fabsf(x - truncf(x)) == 0.5f) r = 2.0f * roundf(x / 2.0f);
    return r;
}

static vt_status unary_int_run(vt_opctx *c, unary_kind k)
{
    const vt_tensor *x = c->in[0];
    int64_t n = vt_tensor_numel(x);
    double lo = -INFINITY, hi = INFINITY;
    if (k == U_CLIP) {
        if (c->n_in > 1 && c->in[1]) lo = vt_elem_f64(c->in[1], 0);
        if (c->n_in > 2 && c->in[2]) hi = vt_elem_f64(c->in[2], 0);
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t v = vt_elem_i64(x, i), r = v;
        switch (k) {
        case U_RELU: r = v > 0 ? v : 0; break;
        case U_NEG: r = -v; break;
        case U_ABS: r = v < 0 ? -v : v; break;
        case U_SIGN: r = (v > 0) - (v < 0); break;
        case U_CLIP: r = v < lo ? (int64_t)lo : v > hi ? (int64_t)hi : v; break;
        default: break;
        }
        vt_elem_set_i64(c->out[0], i, r);
    }
    return VT_OK;
}

/* Element-wise ops do not care about the layout: an NHWC input gives an NHWC output. */
static bool unary_accepts_nhwc(const vt_opctx *c)
{
    (void)c;
    return true;
}

typedef struct {
    float alpha, beta, gamma, lo, hi;
} unary_params;

void vt_clip_bounds(const vt_node *n, const vt_tensor *min, const vt_tensor *max, float *lo, float *hi)
{
    if (n->opset < 11) {
        *lo = vt_attr_float(n, "min", -INFINITY);
        *hi = vt_attr_float(n, "max", INFINITY);
        return;
    }
    *lo = min ? *(const float *)min->data : -INFINITY;
    *hi = max ? *(const float *)max->data : INFINITY;
}

/* y = f(x) over n contiguous floats. Loops marked simd use the vecmath.h functions (or plain arithmetic) and
 * are vectorised for the best instruction set at load time; the rest call libm per element. */
VT_CLONES static void unary_f32(unary_kind k, const unary_params *pr, const float *x, float *y, int64_t n)
{
    const float alpha = pr->alpha, beta = pr->beta, gamma = pr->gamma, lo = pr->lo, hi = pr->hi;
#define VLOOP(expr)                                                                                                    \
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                                                \
    {                                                                                                                  \
        float v = x[i];                                                                                                \
        y[i] = (expr);                                                                                                 \
    }                                                                                                                  \
    break
#define SLOOP(expr)                                                                                                    \
    for (int64_t i = 0; i < n; i++) {                                                                                  \
        float v = x[i];                                                                                                \
        y[i] = (expr);                                                                                                 \
    }                                                                                                                  \
    break
    switch (k) {
    case U_RELU: VLOOP(vt_sel(vt_mask(v > 0), v, 0.0f));
    case U_LEAKY: VLOOP(vt_sel(vt_mask(v >= 0), v, alpha * v));
    case U_SIGMOID: VLOOP(vt_vsigmoidf(v));
    case U_TANH: VLOOP(vt_vtanhf(v));
    case U_ERF: VLOOP(vt_verff(v));
    case U_EXP: VLOOP(vt_vexpf(v));
    case U_LOG: SLOOP(logf(v));
    case U_SQRT: SLOOP(sqrtf(v));
    case U_NEG: VLOOP(-v);
    case U_ABS: VLOOP(vt_vabsf(v));
    case U_RECIP: VLOOP(1.0f / v);
    case U_FLOOR: SLOOP(floorf(v));
    case U_CEIL: SLOOP(ceilf(v));
    case U_HSIGMOID: SLOOP(fmaxf(0.0f, fminf(1.0f, alpha * v + beta)));
    case U_HSWISH: SLOOP(v * fmaxf(0.0f, fminf(1.0f, v / 6.0f + 0.5f)));
    case U_CLIP: VLOOP(vt_sel(vt_mask(v < lo), lo, vt_sel(vt_mask(v > hi), hi, v)));
    /* expm1 of v where v <= 0 or NaN, of 0 elsewhere (that side is discarded). */
    case U_ELU: VLOOP(vt_sel(vt_mask(v >= 0), v, alpha * vt_vexpm1f_le88(vt_sel(vt_mask(v > 0), 0.0f, v))));
    case U_SELU:
        VLOOP(vt_sel(vt_mask(v > 0), gamma * v, gamma * (alpha * vt_vexpm1f_le88(vt_sel(vt_mask(v > 0), 0.0f, v)))));
    case U_SOFTPLUS: SLOOP(v > 20.0f ? v : log1pf(expf(v)));
    case U_SOFTSIGN: VLOOP(v / (1.0f + vt_vabsf(v)));
    case U_SIN: SLOOP(sinf(v));
    case U_COS: SLOOP(cosf(v));
    case U_ROUND: SLOOP(round_half_even(v));
    case U_SIGN: VLOOP((float)((v > 0) - (v < 0)));
    case U_TAN: SLOOP(tanf(v));
    case U_ASIN: SLOOP(asinf(v));
    case U_ACOS: SLOOP(acosf(v));
    case U_ATAN: SLOOP(atanf(v));
    case U_SINH: SLOOP(sinhf(v));
    case U_COSH: SLOOP(coshf(v));
    case U_ASINH: SLOOP(asinhf(v));
    case U_ACOSH: SLOOP(acoshf(v));
    case U_ATANH: SLOOP(atanhf(v));
    case U_CELU: SLOOP(fmaxf(0.0f, v) + fminf(0.0f, alpha * expm1f(v / alpha)));
    case U_THRESHOLDED: SLOOP(v > alpha ? v : 0.0f);
    case U_SHRINK: SLOOP(v < -alpha ? v + beta : v > alpha ? v - beta : 0.0f);
    }
#undef VLOOP
#undef SLOOP
}

/* Elements per work item of the element-wise ops: each item is computed by one thread. */
#define CHUNK 16384

static vt_status unary_run(vt_opctx *c)
{
    unary_kind k = unary_of(c->node->op_type);
    c->out_nhwc[0] = c->in_nhwc[0];
    if (c->in[0]->dtype != VT_F32) return unary_int_run(c, k);
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    int64_t n = vt_tensor_numel(c->in[0]);
    const vt_node *nd = c->node;
    unary_params pr = {.lo = -INFINITY, .hi = INFINITY};
    switch (k) {
    case U_LEAKY: pr.alpha = vt_attr_float(nd, "alpha", 0.01f); break;
    case U_HSIGMOID:
        pr.alpha = vt_attr_float(nd, "alpha", 0.2f);
        pr.beta = vt_attr_float(nd, "beta", 0.5f);
        break;
    case U_ELU:
    case U_CELU:
    case U_THRESHOLDED: pr.alpha = vt_attr_float(nd, "alpha", 1.0f); break;
    case U_SHRINK:
        pr.alpha = vt_attr_float(nd, "lambd", 0.5f);
        pr.beta = vt_attr_float(nd, "bias", 0.0f);
        break;
    case U_SELU:
        pr.alpha = vt_attr_float(nd, "alpha", 1.67326319217681884765625f);
        pr.gamma = vt_attr_float(nd, "gamma", 1.05070102214813232421875f);
        break;
    case U_CLIP:
        vt_clip_bounds(nd, c->n_in > 1 ? c->in[1] : NULL, c->n_in > 2 ? c->in[2] : NULL, &pr.lo, &pr.hi);
        break;
    default: break;
    }
    int64_t items = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t it = 0; it < items; it++) {
        int64_t i0 = it * CHUNK, len = n - i0 < CHUNK ? n - i0 : CHUNK;
        unary_f32(k, &pr, x + i0, y + i0, len);
    }
    return VT_OK;
}

/* ---- binary with broadcasting ---- */

typedef enum {
    B_ADD,
    B_SUB,
    B_MUL,
    B_DIV,
    B_POW,
    B_MOD,
    B_MAX,
    B_MIN,
    B_EQ,
    B_LT,
    B_GT,
    B_LE,
    B_GE,
    B_AND,
    B_OR,
    B_XOR,
    B_PRELU,
    B_SHIFT,   /* BitShift: direction LEFT or RIGHT, unsigned types only */
    B_ADD_RELU /* Add with the ReLU of the one Relu reading it fused in (vt_opctx.fuse; float32 only) */
} binary_kind;

static binary_kind binary_of(const char *t)
{
    static const struct {
        const char *name;
        binary_kind k;
    } map[] = {{"Add", B_ADD},  {"Sub", B_SUB}, {"Mul", B_MUL},    {"Div", B_DIV},        {"Pow", B_POW},
               {"Mod", B_MOD},  {"Max", B_MAX}, {"Min", B_MIN},    {"Sum", B_ADD},        {"Mean", B_ADD},
               {"Equal", B_EQ}, {"Less", B_LT}, {"Greater", B_GT}, {"LessOrEqual", B_LE}, {"GreaterOrEqual", B_GE},
               {"And", B_AND},  {"Or", B_OR},   {"Xor", B_XOR},    {"PRelu", B_PRELU},    {"BitShift", B_SHIFT}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, t) == 0) return map[i].k;
    return B_ADD;
}

static bool is_compare(binary_kind k)
{
    return k >= B_EQ && k <= B_XOR;
}

/* The second operand as the op reads it. Before opset 7, B broadcasts (broadcast=1) with its dims aligned at
 * `axis` of A (default: trailing, as numpy), and PRelu's C slopes apply along dim 1 (the channels). Both are
 * numpy broadcasts once B has trailing 1s, so this returns a header over B's data with those appended in
 * *tmp, or B itself; NULL when the axis leaves no room for B. */
static const vt_tensor *operand_b(const vt_opctx *c, vt_tensor *tmp)
{
    const vt_tensor *x = c->in[0], *s = c->in[1];
    if (c->node->opset >= 7) return s;
    int tail = 0;
    if (strcmp(c->node->op_type, "PRelu") == 0) {
        if (s->rank == 1 && x->rank >= 3 && s->shape[0] == x->shape[1] && s->shape[0] != x->shape[x->rank - 1])
            tail = x->rank - 2;
    } else if (vt_attr_int(c->node, "broadcast", 0) != 0 && vt_attr_get(c->node, "axis")) {
        int64_t axis = vt_attr_int(c->node, "axis", 0);
        if (axis < 0) axis += x->rank;
        if (axis < 0 || axis + s->rank > x->rank) return NULL;
        tail = x->rank - (int)axis - s->rank;
    }
    if (tail == 0) return s;
    *tmp = *s;
    for (int d = 0; d < tail; d++) tmp->shape[s->rank + d] = 1;
    tmp->rank = s->rank + tail;
    return tmp;
}

static vt_status binary_infer(vt_opctx *c)
{
    binary_kind k = binary_of(c->node->op_type);
    if (c->n_in < 1) return vt_node_fail(c, VT_ERR_FORMAT, "needs at least one input");
    vt_tensor b_tmp;
    if (c->n_in == 2 && c->in[0] && c->in[1] && !(c->in[1] = operand_b(c, &b_tmp)))
        return vt_node_fail(c, VT_ERR_ARG, "axis %lld leaves no room for B",
                            (long long)vt_attr_int(c->node, "axis", 0));
    int rank = 0;
    int64_t shape[VT_MAX_RANK];
    vt_dtype dt = VT_F32;
    for (int i = 0; i < c->n_in; i++) {
        vt_status st = vt_need_input(c, i);
        if (st != VT_OK) return st;
        const vt_tensor *t = c->in[i];
        if (i == 0) {
            dt = t->dtype;
            rank = t->rank;
            memcpy(shape, t->shape, sizeof shape);
            continue;
        }
        if (t->dtype != dt && k != B_POW)
            return vt_node_fail(c, VT_ERR_ARG, "inputs have different types (%s, %s)", vt_dtype_name(dt),
                                vt_dtype_name(t->dtype));
        if (!vt_broadcast_shape(rank, shape, t->rank, t->shape, &rank, shape)) {
            char a[96], b[96];
            vt_tensor h = {.rank = rank};
            memcpy(h.shape, shape, sizeof h.shape);
            return vt_node_fail(c, VT_ERR_ARG, "input shapes %s and %s do not broadcast",
                                vt_tensor_shape_str(&h, a, sizeof a), vt_tensor_shape_str(t, b, sizeof b));
        }
    }
    /* Integers of every width (uint64 on its unsigned values, the others computed in int64); results wrap to
     * the type as numpy's do. */
    bool ok = dt == VT_F32 || dt == VT_F64 || (dt != VT_BOOL && !vt_dtype_is_float(dt));
    if (dt == VT_U64 && (k == B_PRELU || k == B_ADD_RELU)) ok = false;
    if (k >= B_AND && k <= B_XOR) ok = dt == VT_BOOL;
    if (k == B_SHIFT) {
        const char *dir = vt_attr_str(c->node, "direction", "");
        ok = dt == VT_U8 || dt == VT_U16 || dt == VT_U32 || dt == VT_U64;
        if (ok && strcmp(dir, "LEFT") && strcmp(dir, "RIGHT"))
            return vt_node_fail(c, VT_ERR_ARG, "direction '%s' is not LEFT or RIGHT", dir);
    }
    if (k == B_EQ && dt == VT_BOOL) ok = true;
    if (!ok) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "element type %s is not supported", vt_dtype_name(dt));
    vt_out_set(c->out[0], is_compare(k) ? VT_BOOL : dt, rank, shape);
    return VT_OK;
}

static inline double apply_f(binary_kind k, double a, double b, bool fmod_mode)
{
    switch (k) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return pow(a, b);
    case B_MOD: {
        double r = fmod(a, b);
        if (!fmod_mode && r != 0 && ((r < 0) != (b < 0))) r += b;
        return r;
    }
    case B_MAX: return a > b || a != a ? a : b;
    case B_MIN: return a < b || a != a ? a : b;
    case B_EQ: return a == b;
    case B_LT: return a < b;
    case B_GT: return a > b;
    case B_LE: return a <= b;
    case B_GE: return a >= b;
    case B_AND: return (a != 0) && (b != 0);
    case B_OR: return (a != 0) || (b != 0);
    case B_XOR: return (a != 0) != (b != 0);
    case B_PRELU: return a < 0 ? a * b : a;
    case B_ADD_RELU: return a + b > 0 ? a + b : 0;
    case B_SHIFT: return 0; /* unsigned integers only: apply_i */
    }
    return 0;
}

static inline int64_t apply_i(binary_kind k, int64_t a, int64_t b, bool fmod_mode)
{
    switch (k) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return b ? a / b : 0;
    case B_POW: {
        int64_t r = 1;
        for (int64_t e = 0; e < b; e++) r *= a;
        return r;
    }
    case B_MOD: {
        if (!b) return 0;
        int64_t r = a % b;
        if (!fmod_mode && r != 0 && ((r < 0) != (b < 0))) r += b;
        return r;
    }
    case B_MAX: return a > b ? a : b;
    case B_MIN: return a < b ? a : b;
    case B_PRELU: return a < 0 ? a * b : a;
    case B_ADD_RELU: return a + b > 0 ? a + b : 0;
    case B_SHIFT: { /* on the unsigned bits (uint8-uint32 here; uint64 goes to apply_u); past the width: 0 */
        uint64_t u = (uint64_t)a, s = (uint64_t)b;
        return s >= 64 ? 0 : (int64_t)(fmod_mode ? u << s : u >> s);
    }
    /* comparisons exactly, not through double (which merges integers above 2^53) */
    case B_EQ: return a == b;
    case B_LT: return a < b;
    case B_GT: return a > b;
    case B_LE: return a <= b;
    case B_GE: return a >= b;
    default: return (int64_t)apply_f(k, (double)a, (double)b, fmod_mode);
    }
}

/* uint64 (op) uint64 on the unsigned values; wrapping as numpy, x / 0 = 0 as for the other integers. */
static inline uint64_t apply_u(binary_kind k, uint64_t a, uint64_t b, bool fmod_mode)
{
    switch (k) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return b ? a / b : 0;
    case B_MOD: return b ? a % b : 0;
    case B_POW: {
        uint64_t r = 1;
        for (uint64_t e = 0; e < b; e++) r *= a;
        return r;
    }
    case B_MAX: return a > b ? a : b;
    case B_MIN: return a < b ? a : b;
    case B_EQ: return a == b;
    case B_LT: return a < b;
    case B_GT: return a > b;
    case B_LE: return a <= b;
    case B_GE: return a >= b;
    case B_SHIFT: return b >= 64 ? 0 : fmod_mode ? a << b : a >> b;
    default: return 0; /* refused at infer */
    }
}

/* po[i] = pa[i * ia] (op) pb[i * ib] over n floats, ia and ib in {0, 1} (0: one value broadcast). po may be pa
 * (the variadic ops fold into their output). */
VT_CLONES static void binary_f32(binary_kind k, const float *pa, int64_t ia, const float *pb, int64_t ib, float *po,
                                 int64_t n, bool fmod_mode)
{
#define BLOOP(expr)                                                                                                    \
    if (ia && ib) {                                                                                                    \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                                            \
        {                                                                                                              \
            float a = pa[i], b = pb[i];                                                                                \
            po[i] = (expr);                                                                                            \
        }                                                                                                              \
    } else if (ia) {                                                                                                   \
        const float b = pb[0];                                                                                         \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                                            \
        {                                                                                                              \
            float a = pa[i];                                                                                           \
            po[i] = (expr);                                                                                            \
        }                                                                                                              \
    } else if (ib) {                                                                                                   \
        const float a = pa[0];                                                                                         \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                                            \
        {                                                                                                              \
            float b = pb[i];                                                                                           \
            po[i] = (expr);                                                                                            \
        }                                                                                                              \
    } else {                                                                                                           \
        const float a = pa[0], b = pb[0], r = (expr);                                                                  \
        for (int64_t i = 0; i < n; i++) po[i] = r;                                                                     \
    }                                                                                                                  \
    break
    switch (k) {
    case B_ADD: BLOOP(a + b);
    case B_ADD_RELU: BLOOP(vt_sel(vt_mask(a + b > 0), a + b, 0.0f)); /* the Relu op's expression on a + b */
    case B_SUB: BLOOP(a - b);
    case B_MUL: BLOOP(a * b);
    case B_DIV: BLOOP(a / b);
    case B_MAX: BLOOP(vt_sel(vt_mask(a > b || a != a), a, b));
    case B_MIN: BLOOP(vt_sel(vt_mask(a < b || a != a), a, b));
    case B_PRELU: BLOOP(vt_sel(vt_mask(a < 0), a * b, a));
    case B_POW:
        if (ib == 0 && pb[0] == 2.0f) { /* LayerNorm decompositions square: x * x is what powf returns */
            if (ia) {
#pragma omp simd
                for (int64_t i = 0; i < n; i++) po[i] = pa[i] * pa[i];
            } else
                for (int64_t i = 0; i < n; i++) po[i] = pa[0] * pa[0];
            break;
        }
        if (ib == 0 && pb[0] == 1.0f) {
            for (int64_t i = 0; i < n; i++) po[i] = pa[i * ia];
            break;
        }
        if (ib == 0 && pb[0] == 0.5f) {
            for (int64_t i = 0; i < n; i++) po[i] = sqrtf(pa[i * ia]);
            break;
        }
        for (int64_t i = 0; i < n; i++) po[i] = powf(pa[i * ia], pb[i * ib]);
        break;
    default:
        for (int64_t i = 0; i < n; i++) po[i] = (float)apply_f(k, pa[i * ia], pb[i * ib], fmod_mode);
        break;
    }
#undef BLOOP
}

/* out = a (op) b with broadcasting; out has the broadcast shape. The walk is collapsed into contiguous inner
 * runs (over which each input is either contiguous or one broadcast value), and long runs are cut into
 * chunks, so that a tensor (op) scalar still spreads over the threads. */
static void binary_apply(binary_kind k, const vt_tensor *a, const vt_tensor *b, vt_tensor *out, bool fmod_mode)
{
    int ro = out->rank;
    int64_t sa[VT_MAX_RANK], sb[VT_MAX_RANK];
    vt_broadcast_strides(ro, out->shape, a->rank, a->shape, sa);
    vt_broadcast_strides(ro, out->shape, b->rank, b->shape, sb);
    /* Inner run: the longest suffix of dims over which each input is either contiguous or fully
     * broadcast; the walk then divides only over the outer dims. */
    int64_t inner = 1;
    int ia = -1, ib = -1, d = ro - 1;
    for (; d >= 0; d--) {
        if (out->shape[d] == 1) continue;
        int ca = sa[d] != 0, cb = sb[d] != 0;
        if (ia < 0) ia = ca, ib = cb;
        if (ca != ia || cb != ib || (ca && sa[d] != inner) || (cb && sb[d] != inner)) break;
        inner *= out->shape[d];
    }
    if (ia < 0) ia = ib = 0;
    int outer_rank = d + 1;
    int64_t n = vt_tensor_numel(out);
    int64_t outer = inner ? n / inner : 0;
    int64_t pieces = inner > CHUNK ? (inner + CHUNK - 1) / CHUNK : 1, plen = pieces > 1 ? CHUNK : inner;
    bool fa = a->dtype == VT_F32 && b->dtype == VT_F32 && out->dtype == VT_F32;
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t it = 0; it < outer * pieces; it++) {
        int64_t o = it / pieces, i0 = (it % pieces) * plen, len = inner - i0 < plen ? inner - i0 : plen;
        int64_t rem = o, oa = 0, ob = 0;
        for (int j = outer_rank - 1; j >= 0; j--) {
            int64_t idx = rem % out->shape[j];
            rem /= out->shape[j];
            oa += idx * sa[j];
            ob += idx * sb[j];
        }
        int64_t base = o * inner;
        if (fa) {
            binary_f32(k, (const float *)a->data + oa + i0 * ia, ia, (const float *)b->data + ob + i0 * ib, ib,
                       (float *)out->data + base + i0, len, fmod_mode);
            continue;
        }
        for (int64_t i = i0; i < i0 + len; i++) {
            int64_t xa = oa + i * ia, xb = ob + i * ib;
            if (out->dtype == VT_F32 || out->dtype == VT_F64 ||
                ((a->dtype == VT_F32 || a->dtype == VT_F64) && is_compare(k))) {
                double r = apply_f(k, vt_elem_f64(a, xa), vt_elem_f64(b, xb), fmod_mode);
                vt_elem_set_f64(out, base + i, r);
            } else if (a->dtype == VT_U64 && b->dtype == VT_U64) {
                uint64_t r = apply_u(k, ((const uint64_t *)a->data)[xa], ((const uint64_t *)b->data)[xb], fmod_mode);
                if (out->dtype == VT_U64)
                    ((uint64_t *)out->data)[base + i] = r;
                else
                    vt_elem_set_i64(out, base + i, (int64_t)r); /* a comparison's bool */
            } else if (k == B_POW && (b->dtype == VT_F32 || b->dtype == VT_F64)) {
                /* an integer base to a float power: computed in double and truncated, as numpy's cast */
                vt_elem_set_i64(out, base + i, (int64_t)pow(vt_elem_f64(a, xa), vt_elem_f64(b, xb)));
            } else
                vt_elem_set_i64(out, base + i, apply_i(k, vt_elem_i64(a, xa), vt_elem_i64(b, xb), fmod_mode));
        }
    }
}

/* Same-shape inputs all in NHWC (a residual Add between two convolution branches) stay NHWC. */
static bool binary_accepts_nhwc(const vt_opctx *c)
{
    for (int k = 0; k < c->n_in; k++) {
        const vt_tensor *t = c->in[k];
        if (!t || !c->in_nhwc[k] || t->rank != 4 || memcmp(t->shape, c->in[0]->shape, sizeof t->shape[0] * 4) != 0)
            return false;
    }
    return strcmp(c->node->op_type, "PRelu") != 0;
}

static vt_status binary_run(vt_opctx *c)
{
    c->out_nhwc[0] = c->in_nhwc[0];
    binary_kind k = binary_of(c->node->op_type);
    /* fmod_mode: Mod's fmod attribute; for BitShift, whether it shifts LEFT */
    bool fmod_mode =
        k == B_SHIFT ? !strcmp(vt_attr_str(c->node, "direction", ""), "LEFT") : vt_attr_int(c->node, "fmod", 0) != 0;
    vt_tensor *out = c->out[0];
    if (c->n_in == 1) return vt_copy_data(out, c->in[0]);
    vt_tensor *conv = NULL, b_tmp;
    const vt_tensor *b = operand_b(c, &b_tmp);
    bool int_base_float_exp =
        (c->in[0]->dtype != VT_F32 && c->in[0]->dtype != VT_F64) && (b->dtype == VT_F32 || b->dtype == VT_F64);
    if (b->dtype != c->in[0]->dtype && !int_base_float_exp) { /* Pow with an integer exponent */
        vt_status st = vt_tensor_convert(b, c->in[0]->dtype, &conv);
        if (st != VT_OK) return st;
        b = conv;
    }
    /* A two-input float32 Add may apply the ReLU of its only reader (the residual Add + ReLU of a
     * ResNet block) in the same pass; the values are the same bits as Add then Relu. */
    if (k == B_ADD && c->fuse.kind == VT_ACT_RELU && c->n_in == 2 && !strcmp(c->node->op_type, "Add") &&
        c->in[0]->dtype == VT_F32 && b->dtype == VT_F32 && out->dtype == VT_F32) {
        k = B_ADD_RELU;
        c->fused = true;
    }
    binary_apply(k, c->in[0], b, out, fmod_mode);
    vt_tensor_free(conv);
    /* Variadic Sum/Max/Min/Mean: fold the rest into the output (same shape by construction). */
    for (int i = 2; i < c->n_in; i++) binary_apply(k, out, c->in[i], out, fmod_mode);
    if (strcmp(c->node->op_type, "Mean") == 0 && out->dtype == VT_F32) {
        float *y = out->data;
        int64_t n = vt_tensor_numel(out);
        for (int64_t i = 0; i < n; i++) y[i] /= (float)c->n_in;
    }
    return VT_OK;
}

/* In-place broadcast for variadic ops needs out shape >= every input: binary_apply reads `out`
 * as input a with its own (full) shape, which is safe element by element. */

/* ---- Not, Where ---- */

static vt_status not_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    if (c->in[0]->dtype != VT_BOOL) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input must be bool");
    vt_out_set(c->out[0], VT_BOOL, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status not_run(vt_opctx *c)
{
    const uint8_t *x = c->in[0]->data;
    uint8_t *y = c->out[0]->data;
    int64_t n = vt_tensor_numel(c->in[0]);
    for (int64_t i = 0; i < n; i++) y[i] = !x[i];
    return VT_OK;
}

/* IsNaN, IsInf (detect_negative / detect_positive): float32 -> bool. */
static vt_status isclass_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], VT_BOOL, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status isclass_run(vt_opctx *c)
{
    const float *x = c->in[0]->data;
    uint8_t *y = c->out[0]->data;
    int64_t n = vt_tensor_numel(c->in[0]);
    bool nan = !strcmp(c->node->op_type, "IsNaN");
    bool neg = vt_attr_int(c->node, "detect_negative", 1) != 0, pos = vt_attr_int(c->node, "detect_positive", 1) != 0;
    for (int64_t i = 0; i < n; i++) y[i] = nan ? isnan(x[i]) : isinf(x[i]) && ((x[i] > 0 && pos) || (x[i] < 0 && neg));
    return VT_OK;
}

static vt_status where_infer(vt_opctx *c)
{
    for (int i = 0; i < 3; i++) {
        vt_status st = vt_need_input(c, i);
        if (st != VT_OK) return st;
    }
    if (c->in[0]->dtype != VT_BOOL) return vt_node_fail(c, VT_ERR_ARG, "condition must be bool");
    if (c->in[1]->dtype != c->in[2]->dtype) return vt_node_fail(c, VT_ERR_ARG, "X and Y have different types");
    int r;
    int64_t s[VT_MAX_RANK];
    if (!vt_broadcast_shape(c->in[0]->rank, c->in[0]->shape, c->in[1]->rank, c->in[1]->shape, &r, s) ||
        !vt_broadcast_shape(r, s, c->in[2]->rank, c->in[2]->shape, &r, s))
        return vt_node_fail(c, VT_ERR_ARG, "input shapes do not broadcast");
    vt_out_set(c->out[0], c->in[1]->dtype, r, s);
    return VT_OK;
}

static vt_status where_run(vt_opctx *c)
{
    vt_tensor *out = c->out[0];
    int ro = out->rank;
    int64_t st[3][VT_MAX_RANK];
    for (int i = 0; i < 3; i++) vt_broadcast_strides(ro, out->shape, c->in[i]->rank, c->in[i]->shape, st[i]);
    int64_t n = vt_tensor_numel(out);
    size_t es = vt_dtype_size(out->dtype);
    const uint8_t *cond = c->in[0]->data;
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off[3] = {0, 0, 0};
        for (int j = ro - 1; j >= 0; j--) {
            int64_t idx = rem % out->shape[j];
            rem /= out->shape[j];
            for (int q = 0; q < 3; q++) off[q] += idx * st[q][j];
        }
        const vt_tensor *src = cond[off[0]] ? c->in[1] : c->in[2];
        int64_t so = cond[off[0]] ? off[1] : off[2];
        memcpy((char *)out->data + (size_t)i * es, (const char *)src->data + (size_t)so * es, es);
    }
    return VT_OK;
}

/* ---- Cast, Identity, Dropout ---- */

static vt_status cast_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    vt_dtype to = VT_F32;
    int64_t t = vt_attr_int(c->node, "to", -1);
    const vt_attr *a = vt_attr_get(c->node, "to");
    if (a && a->type == VT_ATTR_STRING) { /* Cast-1 names the type: "FLOAT", "INT64", ... */
        static const char *const names[] = {"UNDEFINED", "FLOAT",  "UINT8", "INT8",    "UINT16", "INT16",  "INT32",
                                            "INT64",     "STRING", "BOOL",  "FLOAT16", "DOUBLE", "UINT32", "UINT64"};
        for (int i = 1; i < (int)(sizeof names / sizeof names[0]); i++)
            if (!strcmp(a->s, names[i])) t = i;
        if (t < 0) return vt_node_fail(c, VT_ERR_ARG, "cast to unknown type '%s'", a->s);
    }
    /* To float16 / bfloat16 (ONNX types 10 and 16): float32 rounded to it (narrow.h). */
    c->narrow_set = true;
    c->out_narrow[0] = t == 10 ? VT_NARROW_F16 : t == 16 ? VT_NARROW_BF16 : VT_NARROW_NONE;
    if (!c->out_narrow[0] && !vt_onnx_dtype(t, &to))
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "cast to ONNX type %lld", (long long)t);
    vt_out_set(c->out[0], to, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

/* CastLike: to the element type of input 1 (float16 / bfloat16 included). */
static vt_status castlike_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st == VT_OK) st = vt_need_input(c, 1);
    if (st != VT_OK) return st;
    c->narrow_set = true;
    c->out_narrow[0] = c->in[1]->dtype == VT_F32 ? c->in_narrow[1] : VT_NARROW_NONE;
    vt_out_set(c->out[0], c->in[1]->dtype, c->in[0]->rank, c->in[0]->shape);
    return VT_OK;
}

static vt_status cast_run(vt_opctx *c)
{
    const vt_tensor *x = c->in[0];
    vt_tensor *y = c->out[0];
    if (x->dtype == y->dtype) return vt_copy_data(y, x);
    int64_t n = vt_tensor_numel(x);
    bool from_float = vt_dtype_is_float(x->dtype), to_float = vt_dtype_is_float(y->dtype);
    for (int64_t i = 0; i < n; i++) {
        if (from_float || to_float) {
            double v = vt_elem_f64(x, i);
            if (!to_float && y->dtype != VT_BOOL) v = trunc(v);
            vt_elem_set_f64(y, i, v);
        } else
            vt_elem_set_i64(y, i, vt_elem_i64(x, i));
    }
    return VT_OK;
}

static vt_status identity_infer(vt_opctx *c)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, c->in[0]->shape);
    if (c->n_out > 1) vt_out_set(c->out[1], VT_BOOL, c->in[0]->rank, c->in[0]->shape); /* Dropout mask */
    return VT_OK;
}

static vt_status identity_run(vt_opctx *c)
{
    c->out_nhwc[0] = c->in_nhwc[0];
    if (c->n_out > 1) memset(c->out[1]->data, 1, vt_tensor_nbytes(c->out[1]));
    return vt_copy_data(c->out[0], c->in[0]);
}

static vt_status dropout_infer(vt_opctx *c)
{
    /* Before opset 7, is_test=0 (the default) asked for training-mode dropout; onnx's version converter
     * refuses to carry such a node forward, and so does ventral. */
    if (c->node->opset < 7 && vt_attr_int(c->node, "is_test", 0) == 0)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                            "is_test=0 (training mode) is not supported at opset %d; set is_test=1 for inference",
                            c->node->opset);
    /* Inference semantics: training_mode (input 2, opset >= 12) must be absent or false. */
    bool training = c->n_in > 2 && c->in[2] && (!c->in[2]->data || ((const uint8_t *)c->in[2]->data)[0]);
    /* Training mode with ratio 0 (what F.dropout(p=0, training=True) exports) is still the identity. */
    bool zero_ratio = c->n_in > 1 && c->in[1] && c->in[1]->data && vt_elem_f64(c->in[1], 0) == 0.0;
    if (training && !zero_ratio)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "training-mode Dropout is not supported (inference only)");
    return identity_infer(c);
}

#define UN(op_name)                                                                                                    \
    {                                                                                                                  \
        .domain = "", .type = op_name, .since = 1, .infer = unary_infer, .run = unary_run,                             \
        .accepts_nhwc = unary_accepts_nhwc                                                                             \
    }
#define BIN(op_name, op_since)                                                                                         \
    {                                                                                                                  \
        .domain = "", .type = op_name, .since = op_since, .infer = binary_infer, .run = binary_run,                    \
        .accepts_nhwc = binary_accepts_nhwc                                                                            \
    }

static const vt_op ops[] = {
    UN("Relu"),
    UN("LeakyRelu"),
    UN("Sigmoid"),
    UN("Tanh"),
    UN("Erf"),
    UN("Exp"),
    UN("Log"),
    UN("Sqrt"),
    UN("Neg"),
    UN("Abs"),
    UN("Reciprocal"),
    UN("Floor"),
    UN("Ceil"),
    UN("HardSigmoid"),
    UN("HardSwish"),
    UN("Clip"),
    UN("Elu"),
    UN("Selu"),
    UN("Softplus"),
    UN("Softsign"),
    UN("Sin"),
    UN("Cos"),
    UN("Round"),
    UN("Sign"),
    UN("Tan"),
    UN("Asin"),
    UN("Acos"),
    UN("Atan"),
    UN("Sinh"),
    UN("Cosh"),
    UN("Asinh"),
    UN("Acosh"),
    UN("Atanh"),
    UN("Celu"),
    UN("ThresholdedRelu"),
    UN("Shrink"),
    BIN("Add", 1),
    BIN("Sub", 1),
    BIN("Mul", 1),
    BIN("Div", 1),
    BIN("Pow", 1),
    BIN("Mod", 10),
    BIN("Max", 1),
    BIN("Min", 1),
    BIN("Sum", 1),
    BIN("Mean", 1),
    BIN("Equal", 1),
    BIN("Less", 1),
    BIN("Greater", 1),
    BIN("LessOrEqual", 12),
    BIN("GreaterOrEqual", 12),
    BIN("And", 1),
    BIN("Or", 1),
    BIN("Xor", 1),
    BIN("BitShift", 11),
    BIN("PRelu", 1),
    {.domain = "", .type = "Not", .since = 1, .infer = not_infer, .run = not_run},
    {.domain = "", .type = "IsNaN", .since = 9, .infer = isclass_infer, .run = isclass_run},
    {.domain = "", .type = "IsInf", .since = 10, .infer = isclass_infer, .run = isclass_run},
    {.domain = "", .type = "Where", .since = 9, .infer = where_infer, .run = where_run},
    {.domain = "", .type = "Cast", .since = 1, .infer = cast_infer, .run = cast_run},
    {.domain = "", .type = "CastLike", .since = 15, .infer = castlike_infer, .run = cast_run},
    {.domain = "",
     .type = "Identity",
     .since = 1,
     .infer = identity_infer,
     .run = identity_run,
     .accepts_nhwc = unary_accepts_nhwc,
     .view = true},
    {.domain = "",
     .type = "Dropout",
     .since = 1,
     .infer = dropout_infer,
     .run = identity_run,
     .accepts_nhwc = unary_accepts_nhwc,
     .view = true},
};

VT_OP_TABLE(vt_ops_elementwise, ops);
