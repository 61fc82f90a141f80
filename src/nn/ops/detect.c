/* Detection ops: NonMaxSuppression (opsets 10/11) and RoiAlign (opsets 10 and 16).
 *
 * NonMaxSuppression's output length depends on the values of all its inputs, so like NonZero (select.c)
 * it runs only on values known at prepare: constants, or graph inputs that prepare folds together with what
 * is computed from them (decides_length in graph.c). Boxes are compared in float32, as onnxruntime and
 * torchvision compare them, so a box exactly at the threshold is decided the same way.
 *
 * RoiAlign samples each bin of a region at a regular grid of bilinearly interpolated points; the
 * coordinates are computed in float32 (their floors decide which pixels are read), the sums in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

/* ---- NonMaxSuppression ---- */

typedef struct nms_params {
    int64_t max_per_class;
    float iou, score;
    bool by_score; /* a score_threshold was given: boxes scoring at or below it are never selected */
    bool center;   /* boxes are [x_center, y_center, width, height], else two corners [y1, x1, y2, x2] */
} nms_params;

/* Optional scalar input k (a scalar or one element) as a double; *has false when absent. */
static vt_status scalar_input(const vt_opctx *c, int k, const char *what, bool *has, double *v)
{
    *has = k < c->n_in && c->in[k];
    if (!*has) return VT_OK;
    vt_status st = vt_need_known(c, k, what);
    if (st != VT_OK) return st;
    if (vt_tensor_numel(c->in[k]) != 1)
        return vt_node_fail(c, VT_ERR_ARG, "%s must be a single value, not %lld", what,
                            (long long)vt_tensor_numel(c->in[k]));
    *v = vt_elem_f64(c->in[k], 0);
    return VT_OK;
}

static vt_status nms_params_of(const vt_opctx *c, nms_params *p)
{
    bool has;
    double v = 0;
    vt_status st = scalar_input(c, 2, "max_output_boxes_per_class", &has, &v);
    if (st != VT_OK) return st;
    if (has && vt_dtype_is_float(c->in[2]->dtype))
        return vt_node_fail(c, VT_ERR_ARG, "max_output_boxes_per_class must be int64, not %s",
                            vt_dtype_name(c->in[2]->dtype));
    p->max_per_class = has ? vt_elem_i64(c->in[2], 0) : 0; /* absent: 0, no box is selected */
    if (p->max_per_class < 0) p->max_per_class = 0;
    if ((st = scalar_input(c, 3, "iou_threshold", &has, &v)) != VT_OK) return st;
    if (has && !(v >= 0 && v <= 1)) return vt_node_fail(c, VT_ERR_ARG, "iou_threshold %g is not in [0, 1]", v);
    p->iou = has ? (float)v : 0;
    if ((st = scalar_input(c, 4, "score_threshold", &p->by_score, &v)) != VT_OK) return st;
    p->score = (float)v;
    int64_t cpb = vt_attr_int(c->node, "center_point_box", 0);
    if (cpb != 0 && cpb != 1)
        return vt_node_fail(c, VT_ERR_ARG, "center_point_box is %lld, not 0 or 1", (long long)cpb);
    p->center = cpb == 1;
    return VT_OK;
}

static vt_status nms_check(const vt_opctx *c)
{
    for (int k = 0; k < 2; k++) {
        vt_status st = vt_need_f32(c, k);
        if (st == VT_OK) st = vt_need_known(c, k, k ? "scores" : "boxes");
        if (st != VT_OK) return st;
    }
    const vt_tensor *b = c->in[0], *s = c->in[1];
    if (b->rank != 3 || b->shape[2] != 4)
        return vt_node_fail(c, VT_ERR_ARG, "boxes must be num_batches x spatial_dimension x 4");
    if (s->rank != 3 || s->shape[0] != b->shape[0] || s->shape[2] != b->shape[1])
        return vt_node_fail(c, VT_ERR_ARG,
                            "scores must be num_batches x num_classes x spatial_dimension with the boxes' "
                            "num_batches (%lld) and spatial_dimension (%lld)",
                            (long long)b->shape[0], (long long)b->shape[1]);
    return VT_OK;
}

/* Box i of a batch as its corners with the lower coordinate first: (lo_a, lo_b, hi_a, hi_b). */
static void box_corners(const float *box, bool center, float *q)
{
    if (center) {
        float hw = box[2] / 2, hh = box[3] / 2;
        q[0] = box[0] - hw, q[1] = box[1] - hh, q[2] = box[0] + hw, q[3] = box[1] + hh;
    } else {
        q[0] = fminf(box[0], box[2]), q[1] = fminf(box[1], box[3]);
        q[2] = fmaxf(box[0], box[2]), q[3] = fmaxf(box[1], box[3]);
    }
    if (q[0] > q[2]) { /* a negative width or height in the centre form */
        float t = q[0];
        q[0] = q[2], q[2] = t;
    }
    if (q[1] > q[3]) {
        float t = q[1];
        q[1] = q[3], q[3] = t;
    }
}

/* Whether two boxes overlap by more than the threshold; an empty box overlaps nothing. */
static bool suppresses(const float *a, const float *b, float threshold)
{
    float area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if (area_a <= 0 || area_b <= 0) return false;
    float w = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), h = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (w <= 0 || h <= 0) return false;
    float inter = w * h;
    return inter / (area_a + area_b - inter) > threshold;
}

typedef struct nms_candidate {
    float score;
    int64_t box;
} nms_candidate;

/* Higher scores first, equal scores by lower box index (the order the suite's identical boxes expect). */
static int candidate_cmp(const void *pa, const void *pb)
{
    const nms_candidate *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->box > b->box) - (a->box < b->box);
}

/* Selects the boxes of one batch and class into sel (box numbers, in order of selection); returns the count. */
static int64_t select_class(const nms_params *p, const float *corners, const float *scores, int64_t n,
                            nms_candidate *cand, int64_t *sel)
{
    int64_t m = 0, k = 0;
    for (int64_t i = 0; i < n; i++)
        if (!p->by_score || scores[i] > p->score) cand[m++] = (nms_candidate){scores[i], i};
    qsort(cand, (size_t)m, sizeof *cand, candidate_cmp);
    for (int64_t i = 0; i < m && k < p->max_per_class; i++) {
        const float *q = corners + 4 * cand[i].box;
        bool kept = true;
        for (int64_t j = 0; j < k && kept; j++) kept = !suppresses(corners + 4 * sel[j], q, p->iou);
        if (kept) sel[k++] = cand[i].box;
    }
    return k;
}

/* The selected (batch, class, box) triples, in batch, then class, then selection order; *out is NULL
 * when only the count is wanted. */
static vt_status nms_compute(const vt_opctx *c, int64_t *count, int64_t *out)
{
    nms_params p;
    vt_status st = nms_check(c);
    if (st == VT_OK) st = nms_params_of(c, &p);
    if (st != VT_OK) return st;
    const vt_tensor *b = c->in[0], *s = c->in[1];
    int64_t nb = b->shape[0], nc = s->shape[1], n = b->shape[1];
    size_t cap = (size_t)(n ? n : 1);
    float *corners = vt_malloc(cap * 4, sizeof *corners);
    nms_candidate *cand = vt_malloc(cap, sizeof *cand);
    int64_t *sel = vt_malloc(cap, sizeof *sel);
    if (!corners || !cand || !sel) {
        free(corners), free(cand), free(sel);
        return VT_ERR_NOMEM;
    }
    const float *bd = b->data, *sd = s->data;
    *count = 0;
    for (int64_t bi = 0; bi < nb; bi++) {
        for (int64_t i = 0; i < n; i++) box_corners(bd + (bi * n + i) * 4, p.center, corners + 4 * i);
        for (int64_t k = 0; k < nc; k++) {
            int64_t m = select_class(&p, corners, sd + (bi * nc + k) * n, n, cand, sel);
            for (int64_t j = 0; out && j < m; j++) {
                int64_t *t = out + 3 * (*count + j);
                t[0] = bi, t[1] = k, t[2] = sel[j];
            }
            *count += m;
        }
    }
    free(corners), free(cand), free(sel);
    return VT_OK;
}

static vt_status nms_infer(vt_opctx *c)
{
    int64_t count;
    vt_status st = nms_compute(c, &count, NULL);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], VT_I64, 2, (int64_t[]){count, 3});
    return VT_OK;
}

static vt_status nms_run(vt_opctx *c)
{
    int64_t count;
    return nms_compute(c, &count, c->out[0]->data);
}

/* ---- RoiAlign ---- */

typedef struct roi_plan {
    bool max;        /* mode max, else avg */
    bool half_pixel; /* shift the scaled region by -0.5 (opset 16's default); else clamp its size to >= 1 */
    int64_t oh, ow, ratio;
    float scale;
} roi_plan;

static vt_status roi_plan_of(const vt_opctx *c, roi_plan *p)
{
    const char *mode = vt_attr_str(c->node, "mode", "avg");
    if (strcmp(mode, "avg") && strcmp(mode, "max"))
        return vt_node_fail(c, VT_ERR_ARG, "mode '%s' is not avg or max", mode);
    p->max = !strcmp(mode, "max");
    /* Opset 10 has no coordinate_transformation_mode: its behaviour is output_half_pixel. */
    const char *ctm = c->node->op->since >= 16 ? vt_attr_str(c->node, "coordinate_transformation_mode", "half_pixel")
                                               : "output_half_pixel";
    if (strcmp(ctm, "half_pixel") && strcmp(ctm, "output_half_pixel"))
        return vt_node_fail(c, VT_ERR_ARG, "coordinate_transformation_mode '%s' is not half_pixel or output_half_pixel",
                            ctm);
    p->half_pixel = !strcmp(ctm, "half_pixel");
    p->oh = vt_attr_int(c->node, "output_height", 1);
    p->ow = vt_attr_int(c->node, "output_width", 1);
    p->ratio = vt_attr_int(c->node, "sampling_ratio", 0);
    p->scale = vt_attr_float(c->node, "spatial_scale", 1.0f);
    if (p->oh < 1 || p->ow < 1)
        return vt_node_fail(c, VT_ERR_ARG, "output_height and output_width must be at least 1, not %lld x %lld",
                            (long long)p->oh, (long long)p->ow);
    if (p->ratio < 0)
        return vt_node_fail(c, VT_ERR_ARG, "sampling_ratio %lld is negative (0 chooses it per region)",
                            (long long)p->ratio);
    return VT_OK;
}

/* Region r's batch index, checked against the input's batch size. */
static vt_status roi_batch(const vt_opctx *c, int64_t r, int64_t *b)
{
    *b = vt_elem_i64(c->in[2], r);
    if (*b < 0 || *b >= c->in[0]->shape[0])
        return vt_node_fail(c, VT_ERR_ARG, "batch_indices[%lld] is %lld, outside the input's batch of %lld",
                            (long long)r, (long long)*b, (long long)c->in[0]->shape[0]);
    return VT_OK;
}

static vt_status roi_infer(vt_opctx *c)
{
    roi_plan p;
    vt_status st = vt_need_f32(c, 0);
    if (st == VT_OK) st = vt_need_f32(c, 1);
    if (st == VT_OK) st = vt_need_input(c, 2);
    if (st == VT_OK) st = roi_plan_of(c, &p);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0], *rois = c->in[1], *bi = c->in[2];
    if (x->rank != 4) return vt_node_fail(c, VT_ERR_ARG, "X must be N x C x H x W (4-D), not %d-D", x->rank);
    if (rois->rank != 2 || rois->shape[1] != 4) return vt_node_fail(c, VT_ERR_ARG, "rois must be num_rois x 4");
    if (bi->rank != 1 || bi->shape[0] != rois->shape[0] || vt_dtype_is_float(bi->dtype))
        return vt_node_fail(c, VT_ERR_ARG, "batch_indices must be %lld integers, one per region",
                            (long long)rois->shape[0]);
    /* batch_indices are checked at run: prepare may see the input at a probe batch size smaller than the run's */
    vt_out_set(c->out[0], VT_F32, 4, (int64_t[]){rois->shape[0], x->shape[1], p.oh, p.ow});
    return VT_OK;
}

/* The bilinear sample of a plane at (y, x): pixels outside the plane by more than one pixel give 0,
 * coordinates within it are clamped to its edge pixels. In max mode the largest of the four weighted
 * pixels, as the ONNX reference and onnxruntime define max pooling, else their sum. */
static double roi_sample(const float *plane, int64_t h, int64_t w, float y, float x, bool max)
{
    if (h <= 0 || w <= 0 || y < -1.0f || y > (float)h || x < -1.0f || x > (float)w) return 0;
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1 = y0 + 1, x1 = x0 + 1;
    if (y0 >= h - 1) y0 = y1 = h - 1, y = (float)y0;
    if (x0 >= w - 1) x0 = x1 = w - 1, x = (float)x0;
    float ly = y - (float)y0, lx = x - (float)x0, hy = 1 - ly, hx = 1 - lx;
    double v[4] = {(double)(hy * hx) * plane[y0 * w + x0], (double)(hy * lx) * plane[y0 * w + x1],
                   (double)(ly * hx) * plane[y1 * w + x0], (double)(ly * lx) * plane[y1 * w + x1]};
    if (!max) return v[0] + v[1] + v[2] + v[3];
    return fmax(fmax(v[0], v[1]), fmax(v[2], v[3]));
}

/* One region's output for one channel: oh x ow bins, each pooled over a grid of gh x gw samples. */
static void roi_pool(const roi_plan *p, const float *plane, int64_t h, int64_t w, const float *roi, float *out)
{
    float off = p->half_pixel ? 0.5f : 0.0f;
    float x0 = roi[0] * p->scale - off, y0 = roi[1] * p->scale - off;
    float rw = roi[2] * p->scale - off - x0, rh = roi[3] * p->scale - off - y0;
    if (!p->half_pixel) rw = fmaxf(rw, 1), rh = fmaxf(rh, 1);
    float bh = rh / (float)p->oh, bw = rw / (float)p->ow;
    int64_t gh = p->ratio > 0 ? p->ratio : (int64_t)ceilf(rh / (float)p->oh);
    int64_t gw = p->ratio > 0 ? p->ratio : (int64_t)ceilf(rw / (float)p->ow);
    int64_t n = gh * gw > 0 ? gh * gw : 1;
    for (int64_t ph = 0; ph < p->oh; ph++)
        for (int64_t pw = 0; pw < p->ow; pw++) {
            double acc = p->max && gh > 0 && gw > 0 ? -INFINITY : 0;
            for (int64_t iy = 0; iy < gh; iy++) {
                float y = y0 + (float)ph * bh + ((float)iy + 0.5f) * bh / (float)gh;
                for (int64_t ix = 0; ix < gw; ix++) {
                    float x = x0 + (float)pw * bw + ((float)ix + 0.5f) * bw / (float)gw;
                    double s = roi_sample(plane, h, w, y, x, p->max);
                    acc = p->max ? fmax(acc, s) : acc + s;
                }
            }
            out[ph * p->ow + pw] = (float)(p->max ? acc : acc / (double)n);
        }
}

static vt_status roi_run(vt_opctx *c)
{
    roi_plan p;
    vt_status st = roi_plan_of(c, &p);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int64_t nr = c->in[1]->shape[0], ch = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t *batch = vt_malloc((size_t)(nr ? nr : 1), sizeof *batch);
    if (!batch) return VT_ERR_NOMEM;
    for (int64_t r = 0; r < nr; r++)
        if ((st = roi_batch(c, r, &batch[r])) != VT_OK) {
            free(batch);
            return st;
        }
    const float *xd = x->data, *rd = c->in[1]->data;
    float *yd = c->out[0]->data;
#pragma omp parallel for collapse(2) schedule(static) if (nr * ch * p.oh * p.ow > 4096)
    for (int64_t r = 0; r < nr; r++)
        for (int64_t k = 0; k < ch; k++)
            roi_pool(&p, xd + (batch[r] * ch + k) * h * w, h, w, rd + 4 * r, yd + (r * ch + k) * p.oh * p.ow);
    free(batch);
    return VT_OK;
}

static const vt_op ops[] = {
    {.domain = "", .type = "NonMaxSuppression", .since = 10, .infer = nms_infer, .run = nms_run},
    {.domain = "", .type = "RoiAlign", .since = 10, .infer = roi_infer, .run = roi_run},
    {.domain = "", .type = "RoiAlign", .since = 16, .infer = roi_infer, .run = roi_run},
};

VT_OP_TABLE(vt_ops_detect, ops);
