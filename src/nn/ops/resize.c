/* Resize (opsets 10-18) and Upsample (7-9): nearest, n-linear and cubic interpolation over any axes,
 * every coordinate_transformation_mode of opset 18, nearest_mode, cubic_coeff_a, exclude_outside,
 * extrapolation_value, axes and keep_aspect_ratio_policy. The semantics are those of ONNX's reference
 * implementation: per axis, the output coordinate maps to an input coordinate x, the taps around x
 * are clamped to the edge (or, with exclude_outside, dropped and the weights renormalised), and axes
 * are interpolated one after the other (separably), innermost first. Scales and sizes must be
 * constants (they are, once shapes are static). antialias is not built. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

typedef enum { M_NEAREST, M_LINEAR, M_CUBIC } resize_mode;
typedef enum {
    T_HALF_PIXEL,
    T_PYTORCH_HALF_PIXEL,
    T_ALIGN_CORNERS,
    T_ASYMMETRIC,
    T_TF_HALF_PIXEL_FOR_NN,
    T_TF_CROP
} xform;
typedef enum { N_PREFER_FLOOR, N_PREFER_CEIL, N_FLOOR, N_CEIL } nearest_mode;

typedef struct resize_plan {
    resize_mode mode;
    xform xf;
    nearest_mode nm;
    double cubic_a, extrapolation;
    bool exclude_outside;
    int rank;
    int64_t out[VT_MAX_RANK];
    double scale[VT_MAX_RANK];                           /* output / input along each axis */
    double roi_start[VT_MAX_RANK], roi_end[VT_MAX_RANK]; /* tf_crop_and_resize, normalised */
} resize_plan;

static bool pick(const char *s, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return true;
        }
    return false;
}

/* Reads the attributes and the constant roi / scales / sizes inputs into p (shape inference and run). */
static vt_status plan_of(const vt_opctx *c, resize_plan *p)
{
    const vt_node *n = c->node;
    const vt_tensor *x = c->in[0];
    bool upsample = !strcmp(n->op_type, "Upsample"), v10 = upsample || n->opset < 11;
    memset(p, 0, sizeof *p);
    p->rank = x->rank;
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const xforms[] = {"half_pixel", "pytorch_half_pixel",   "align_corners",
                                         "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
    static const char *const nmodes[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    int m, t = T_ASYMMETRIC, nm = N_FLOOR;
    const char *ms = vt_attr_str(n, "mode", "nearest");
    if (!strcmp(ms, "bilinear")) ms = "linear"; /* Upsample-7's name */
    if (!pick(ms, modes, 3, &m) || (v10 && m == M_CUBIC)) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "mode '%s'", ms);
    /* Opset 10's Resize and Upsample: the asymmetric transform, nearest rounding down. */
    if (!v10) {
        const char *ts = vt_attr_str(n, "coordinate_transformation_mode", "half_pixel");
        const char *ns = vt_attr_str(n, "nearest_mode", "round_prefer_floor");
        if (!pick(ts, xforms, 6, &t))
            return vt_node_fail(c, VT_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s'", ts);
        if (!pick(ns, nmodes, 4, &nm)) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "nearest_mode '%s'", ns);
    }
    p->mode = (resize_mode)m;
    p->xf = (xform)t;
    p->nm = (nearest_mode)nm;
    p->cubic_a = vt_attr_float(n, "cubic_coeff_a", -0.75f);
    p->exclude_outside = vt_attr_int(n, "exclude_outside", 0) != 0;
    p->extrapolation = vt_attr_float(n, "extrapolation_value", 0.0f);
    if (vt_attr_int(n, "antialias", 0)) return vt_node_fail(c, VT_ERR_UNSUPPORTED, "antialias=1 is not supported");

    /* Which axes the scales / sizes name (opset 18 "axes"; all by default). */
    int axes[VT_MAX_RANK], na = x->rank;
    const int64_t *av;
    int nav = vt_attr_ints(n, "axes", &av);
    if (nav >= 0) {
        na = nav;
        bool seen[VT_MAX_RANK] = {0};
        for (int i = 0; i < nav; i++) {
            if (!vt_axis(av[i], x->rank, &axes[i]) || seen[axes[i]])
                return vt_node_fail(c, VT_ERR_ARG, "axes must be distinct and in range");
            seen[axes[i]] = true;
        }
    } else
        for (int i = 0; i < na; i++) axes[i] = i;
    for (int d = 0; d < x->rank; d++) {
        p->out[d] = x->shape[d];
        p->scale[d] = 1.0;
        p->roi_start[d] = 0.0;
        p->roi_end[d] = 1.0;
    }

    const vt_tensor *roi = NULL, *scales = NULL, *sizes = NULL;
    const float *fattr = NULL;
    if (upsample && n->opset < 9) {
        int nf = -1;
        for (int a = 0; a < n->n_attrs; a++)
            if (!strcmp(n->attrs[a].name, "scales") && n->attrs[a].type == VT_ATTR_FLOATS)
                fattr = n->attrs[a].floats, nf = n->attrs[a].n;
        if (nf != x->rank) return vt_node_fail(c, VT_ERR_ARG, "scales must have %d values", x->rank);
    } else if (v10)
        scales = c->n_in > 1 ? c->in[1] : NULL;
    else {
        roi = c->n_in > 1 ? c->in[1] : NULL;
        scales = c->n_in > 2 ? c->in[2] : NULL;
        sizes = c->n_in > 3 ? c->in[3] : NULL;
    }
    if (scales && vt_tensor_numel(scales) == 0) scales = NULL; /* an empty placeholder */
    if (roi && vt_tensor_numel(roi) == 0) roi = NULL;
    if ((scales && !scales->data) || (sizes && !sizes->data) || (roi && !roi->data && p->xf == T_TF_CROP))
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "roi, scales and sizes must be constants");
    if (!fattr && !scales == !sizes) return vt_node_fail(c, VT_ERR_ARG, "exactly one of scales and sizes is needed");
    if (fattr)
        for (int d = 0; d < x->rank; d++)
            p->scale[d] = fattr[d], p->out[d] = (int64_t)floor(x->shape[d] * (double)fattr[d]);
    else if (scales) {
        if (vt_tensor_numel(scales) != na) return vt_node_fail(c, VT_ERR_ARG, "scales must have %d values", na);
        for (int i = 0; i < na; i++) {
            int d = axes[i];
            p->scale[d] = vt_elem_f64(scales, i);
            p->out[d] = (int64_t)floor(x->shape[d] * p->scale[d]);
        }
    } else {
        if (vt_tensor_numel(sizes) != na) return vt_node_fail(c, VT_ERR_ARG, "sizes must have %d values", na);
        const char *policy = vt_attr_str(n, "keep_aspect_ratio_policy", "stretch");
        bool stretch = !strcmp(policy, "stretch"), larger = !strcmp(policy, "not_smaller");
        if (!stretch && !larger && strcmp(policy, "not_larger"))
            return vt_node_fail(c, VT_ERR_UNSUPPORTED, "keep_aspect_ratio_policy '%s'", policy);
        double keep = larger ? 0.0 : INFINITY;
        for (int i = 0; i < na; i++) {
            double s = (double)vt_elem_i64(sizes, i) / (double)x->shape[axes[i]];
            keep = larger ? fmax(keep, s) : fmin(keep, s);
        }
        for (int i = 0; i < na; i++) {
            int d = axes[i];
            if (stretch) {
                p->out[d] = vt_elem_i64(sizes, i);
                p->scale[d] = (double)p->out[d] / (double)x->shape[d];
            } else { /* one scale for every named axis, sizes rounded half up */
                p->scale[d] = keep;
                p->out[d] = (int64_t)floor(keep * (double)x->shape[d] + 0.5);
            }
        }
    }
    for (int d = 0; d < x->rank; d++)
        if (p->out[d] < 0 || !(p->scale[d] > 0) || (x->shape[d] == 0 && p->out[d] > 0))
            return vt_node_fail(c, VT_ERR_ARG, "scales and sizes must be positive (axis %d)", d);
    if (roi && p->xf == T_TF_CROP) {
        if (vt_tensor_numel(roi) != 2 * na) return vt_node_fail(c, VT_ERR_ARG, "roi must have %d values", 2 * na);
        for (int i = 0; i < na; i++) {
            p->roi_start[axes[i]] = vt_elem_f64(roi, i);
            p->roi_end[axes[i]] = vt_elem_f64(roi, i + na);
        }
    }
    return VT_OK;
}

static vt_status resize_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st != VT_OK) return st;
    resize_plan p;
    if ((st = plan_of(c, &p)) != VT_OK) return st;
    vt_out_set(c->out[0], VT_F32, p.rank, p.out);
    return VT_OK;
}

/* The input coordinate of output index o along an axis of input length in; *outside for a
 * tf_crop_and_resize coordinate outside the input (the output is then extrapolation_value). */
static double coordinate(const resize_plan *p, int d, int64_t o, int64_t in, bool *outside)
{
    double s = p->scale[d], ow = s * (double)in; /* the reference uses the scaled length, not the rounded one */
    double x;
    *outside = false;
    switch (p->xf) {
    case T_ALIGN_CORNERS: x = ow == 1 ? 0.0 : (double)o * (double)(in - 1) / (ow - 1); break;
    case T_ASYMMETRIC: x = (double)o / s; break;
    case T_PYTORCH_HALF_PIXEL: x = ow == 1 ? -0.5 : ((double)o + 0.5) / s - 0.5; break;
    case T_TF_HALF_PIXEL_FOR_NN: x = ((double)o + 0.5) / s; break;
    case T_TF_CROP: {
        double a = p->roi_start[d], b = p->roi_end[d];
        x = ow == 1 ? (b - a) * (double)(in - 1) / 2 : (double)o * (b - a) * (double)(in - 1) / (ow - 1);
        x += a * (double)(in - 1);
        *outside = x < 0 || x > (double)(in - 1);
        break;
    }
    default: x = ((double)o + 0.5) / s - 0.5; break;
    }
    return x;
}

/* Up to 4 taps (input indices, weights) for input coordinate x along an axis of length in. */
static int taps(const resize_plan *p, double x, int64_t in, int64_t *idx, double *w)
{
    if (p->mode == M_NEAREST) {
        double f = floor(x), r = x - f;
        double v;
        switch (p->nm) {
        case N_PREFER_CEIL: v = r >= 0.5 ? f + 1 : f; break;
        case N_FLOOR: v = f; break;
        case N_CEIL: v = r > 0 ? f + 1 : f; break;
        default: v = r > 0.5 ? f + 1 : f; break;
        }
        idx[0] = v < 0 ? 0 : v > (double)(in - 1) ? in - 1 : (int64_t)v;
        w[0] = 1.0;
        return 1;
    }
    int64_t i0 = (int64_t)floor(x);
    double r = x - (double)i0;
    int n, first;
    if (p->mode == M_LINEAR) {
        n = 2, first = 0;
        w[0] = 1 - r, w[1] = r;
    } else {
        double A = p->cubic_a, s = r + 1, t = 1 - r, u = 2 - r;
        n = 4, first = -1;
        w[0] = ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
        w[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
        w[2] = ((A + 2) * t - (A + 3)) * t * t + 1;
        w[3] = ((A * u - 5 * A) * u + 8 * A) * u - 4 * A;
    }
    double sum = 0;
    for (int k = 0; k < n; k++) {
        int64_t i = i0 + first + k;
        if (p->exclude_outside && (i < 0 || i >= in)) w[k] = 0;
        sum += w[k];
        idx[k] = i < 0 ? 0 : i >= in ? in - 1 : i;
    }
    if (p->exclude_outside && sum != 0)
        for (int k = 0; k < n; k++) w[k] /= sum;
    return n;
}

/* One axis: src (outer x in x inner) -> dst (outer x out x inner). */
static vt_status resize_axis(const resize_plan *p, int d, const float *src, float *dst, int64_t outer, int64_t in,
                             int64_t out, int64_t inner)
{
    int64_t *idx = vt_malloc((size_t)(out > 0 ? out : 1) * 4, sizeof *idx);
    double *w = vt_malloc((size_t)(out > 0 ? out : 1) * 4, sizeof *w);
    int *nt = vt_malloc((size_t)(out > 0 ? out : 1), sizeof *nt);
    if (!idx || !w || !nt) {
        free(idx);
        free(w);
        free(nt);
        return vt_fail(VT_ERR_NOMEM, "out of memory");
    }
    for (int64_t o = 0; o < out; o++) {
        bool outside;
        double x = coordinate(p, d, o, in, &outside);
        nt[o] = outside ? 0 : taps(p, x, in, idx + 4 * o, w + 4 * o);
    }
    float extra = (float)p->extrapolation;
#pragma omp parallel for collapse(2) schedule(static) if (outer * out * inner > 65536)
    for (int64_t a = 0; a < outer; a++)
        for (int64_t o = 0; o < out; o++) {
            float *y = dst + (a * out + o) * inner;
            const float *s = src + a * in * inner;
            if (!nt[o]) {
                for (int64_t i = 0; i < inner; i++) y[i] = extra;
                continue;
            }
            for (int64_t i = 0; i < inner; i++) {
                double acc = 0;
                for (int k = 0; k < nt[o]; k++) acc += w[4 * o + k] * s[idx[4 * o + k] * inner + i];
                y[i] = (float)acc;
            }
        }
    free(idx);
    free(w);
    free(nt);
    return VT_OK;
}

static vt_status resize_run(vt_opctx *c)
{
    resize_plan p;
    vt_status st = plan_of(c, &p);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int64_t cur[VT_MAX_RANK];
    memcpy(cur, x->shape, sizeof cur);
    /* Axes whose length and transform leave every coordinate on its own sample are skipped. */
    int todo[VT_MAX_RANK], nt = 0;
    for (int d = x->rank - 1; d >= 0; d--)
        if (p.out[d] != x->shape[d] || p.scale[d] != 1.0 || p.xf == T_TF_CROP || p.xf == T_TF_HALF_PIXEL_FOR_NN ||
            (p.xf == T_PYTORCH_HALF_PIXEL && x->shape[d] == 1))
            todo[nt++] = d;
    if (nt == 0) return vt_copy_data(c->out[0], x);
    const float *src = x->data;
    float *bufs[2] = {NULL, NULL};
    for (int k = 0; k < nt && st == VT_OK; k++) {
        int d = todo[k];
        int64_t outer = 1, inner = 1;
        for (int e = 0; e < d; e++) outer *= cur[e];
        for (int e = d + 1; e < x->rank; e++) inner *= cur[e];
        float *dst = c->out[0]->data;
        if (k + 1 < nt) {
            free(bufs[k & 1]);
            bufs[k & 1] =
                vt_malloc((size_t)(outer * p.out[d] * inner > 0 ? outer * p.out[d] * inner : 1), sizeof(float));
            if (!(dst = bufs[k & 1])) st = VT_ERR_NOMEM;
        }
        if (st == VT_OK) st = resize_axis(&p, d, src, dst, outer, cur[d], p.out[d], inner);
        cur[d] = p.out[d];
        src = dst;
    }
    free(bufs[0]);
    free(bufs[1]);
    return st;
}

static const vt_op ops[] = {
    {.domain = "", .type = "Resize", .since = 10, .infer = resize_infer, .run = resize_run},
    {.domain = "", .type = "Upsample", .since = 7, .infer = resize_infer, .run = resize_run},
};

VT_OP_TABLE(vt_ops_resize, ops);
