/* GridSample (opset 16): samples a 4-D input (N x C x H x W) at the normalised (x, y) points of a grid
 * (N x Ho x Wo x 2) with bilinear, nearest or bicubic interpolation and zeros, border or reflection
 * padding, with or without align_corners. The spec defines it as torch.nn.functional.grid_sample, so
 * the arithmetic follows PyTorch's CPU kernel: coordinates are computed in float32 as it computes them
 * (their floors decide which pixels are read), nearest rounds half to even, bicubic uses A = -0.75 and
 * pads each of its 16 taps rather than the point. Products are accumulated in double. */
#include <math.h>
#include <string.h>

#include "nn/ops/ops.h"

typedef enum { GS_BILINEAR, GS_NEAREST, GS_BICUBIC } gs_mode;
typedef enum { GS_ZEROS, GS_BORDER, GS_REFLECTION } gs_padding;

typedef struct gs_plan {
    gs_mode mode;
    gs_padding pad;
    bool align;
} gs_plan;

static vt_status plan_of(const vt_opctx *c, gs_plan *p)
{
    static const char *const modes[] = {"bilinear", "nearest", "bicubic"};
    static const char *const pads[] = {"zeros", "border", "reflection"};
    const char *m = vt_attr_str(c->node, "mode", "bilinear"), *pm = vt_attr_str(c->node, "padding_mode", "zeros");
    int mi = -1, pi = -1;
    for (int i = 0; i < 3; i++) {
        if (!strcmp(m, modes[i])) mi = i;
        if (!strcmp(pm, pads[i])) pi = i;
    }
    if (mi < 0) return vt_node_fail(c, VT_ERR_ARG, "mode '%s' is not bilinear, nearest or bicubic", m);
    if (pi < 0) return vt_node_fail(c, VT_ERR_ARG, "padding_mode '%s' is not zeros, border or reflection", pm);
    p->mode = (gs_mode)mi;
    p->pad = (gs_padding)pi;
    p->align = vt_attr_int(c->node, "align_corners", 0) != 0;
    return VT_OK;
}

static vt_status gs_infer(vt_opctx *c)
{
    vt_status st = vt_need_f32(c, 0);
    if (st == VT_OK) st = vt_need_f32(c, 1);
    gs_plan p;
    if (st == VT_OK) st = plan_of(c, &p);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0], *grid = c->in[1];
    if (x->rank != 4)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input must be N x C x H x W (4-D), not %d-D", x->rank);
    if (grid->rank != 4 || grid->shape[0] != x->shape[0] || grid->shape[3] != 2)
        return vt_node_fail(c, VT_ERR_ARG, "grid must be N x H_out x W_out x 2 with the input's N");
    int64_t sh[4] = {x->shape[0], x->shape[1], grid->shape[1], grid->shape[2]};
    vt_out_set(c->out[0], VT_F32, 4, sh);
    return VT_OK;
}

/* The pixel coordinate of a normalised one in [-1, 1]. */
static float unnormalize(float v, int64_t size, bool align)
{
    return align ? (v + 1) / 2 * (float)(size - 1) : ((v + 1) * (float)size - 1) / 2;
}

/* Reflects v into [low, high] given as doubled bounds (so half-pixel bounds stay integers). */
static float reflect(float v, int64_t twice_low, int64_t twice_high)
{
    if (twice_low == twice_high) return 0;
    float lo = (float)twice_low / 2, span = (float)(twice_high - twice_low) / 2;
    v = fabsf(v - lo);
    float extra = fmodf(v, span);
    int64_t flips = (int64_t)floorf(v / span);
    return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

/* Applies the padding mode to a pixel coordinate (zeros: unchanged; out-of-range pixels then read as 0). */
static float padded(const gs_plan *p, float v, int64_t size)
{
    if (!isfinite(v)) return v;
    if (p->pad == GS_REFLECTION) v = p->align ? reflect(v, 0, 2 * (size - 1)) : reflect(v, -1, 2 * size - 1);
    if (p->pad != GS_ZEROS) v = fminf((float)(size - 1), fmaxf(v, 0));
    return v;
}

/* Pixel (ix, iy) of a plane, 0 outside it (and for non-finite coordinates). */
static double pixel(const float *plane, int64_t h, int64_t w, float fx, float fy)
{
    if (!(fx > -1 && fx < (float)w && fy > -1 && fy < (float)h)) return 0;
    int64_t ix = (int64_t)fx, iy = (int64_t)fy; /* truncation; callers pass integral values */
    if (ix < 0 || iy < 0) return 0;
    return plane[iy * w + ix];
}

static void cubic_weights(float t, double *wt)
{
    const double A = -0.75;
    double s = (double)t + 1, u = 1 - (double)t, v = 2 - (double)t;
    wt[0] = ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
    wt[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    wt[2] = ((A + 2) * u - (A + 3)) * u * u + 1;
    wt[3] = ((A * v - 5 * A) * v + 8 * A) * v - 4 * A;
}

static double sample(const gs_plan *p, const float *plane, int64_t h, int64_t w, float gx, float gy)
{
    float x = unnormalize(gx, w, p->align), y = unnormalize(gy, h, p->align);
    if (p->mode == GS_BICUBIC) {
        float x0 = floorf(x), y0 = floorf(y);
        double wx[4], wy[4], acc = 0;
        cubic_weights(x - x0, wx);
        cubic_weights(y - y0, wy);
        for (int j = 0; j < 4; j++) {
            double row = 0;
            float ty = padded(p, y0 - 1 + (float)j, h);
            for (int i = 0; i < 4; i++) row += wx[i] * pixel(plane, h, w, padded(p, x0 - 1 + (float)i, w), ty);
            acc += wy[j] * row;
        }
        return acc;
    }
    x = padded(p, x, w);
    y = padded(p, y, h);
    if (p->mode == GS_NEAREST) return pixel(plane, h, w, nearbyintf(x), nearbyintf(y));
    float x0 = floorf(x), y0 = floorf(y);
    double tx = (double)x - x0, ty = (double)y - y0;
    return (1 - ty) * ((1 - tx) * pixel(plane, h, w, x0, y0) + tx * pixel(plane, h, w, x0 + 1, y0)) +
           ty * ((1 - tx) * pixel(plane, h, w, x0, y0 + 1) + tx * pixel(plane, h, w, x0 + 1, y0 + 1));
}

static vt_status gs_run(vt_opctx *c)
{
    gs_plan p;
    vt_status st = plan_of(c, &p);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0], *grid = c->in[1];
    int64_t n = x->shape[0], ch = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t ho = grid->shape[1], wo = grid->shape[2];
    const float *xd = x->data, *gd = grid->data;
    float *yd = c->out[0]->data;
#pragma omp parallel for collapse(2) schedule(static) if (n * ch * ho * wo > 16384)
    for (int64_t b = 0; b < n; b++)
        for (int64_t k = 0; k < ch; k++) {
            const float *plane = xd + (b * ch + k) * h * w;
            float *out = yd + (b * ch + k) * ho * wo;
            for (int64_t q = 0; q < ho * wo; q++) {
                const float *g = gd + (b * ho * wo + q) * 2;
                out[q] = (float)sample(&p, plane, h, w, g[0], g[1]);
            }
        }
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "", .type = "GridSample", .since = 16, .infer = gs_infer, .run = gs_run},
};

VT_OP_TABLE(vt_ops_grid_sample, ops);
