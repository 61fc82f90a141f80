/* Pillow-equal resampling and torchvision-equal crop/normalise (see transform.h for why). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ventral/transform.h"

enum { PRECISION_BITS = 32 - 8 - 2 };

static double bilinear(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double bicubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct taps {
    int ksize;
    int *bounds; /* per output sample: first input index, count */
    int32_t *k;  /* per output sample: ksize fixed-point weights */
} taps;

static void taps_free(taps *t)
{
    free(t->bounds);
    free(t->k);
}

/* Weights of one axis: normalised in double, then rounded half away from zero to fixed point. */
static vt_status taps_make(int in_size, int out_size, vt_interp interp, taps *t)
{
    double (*filter)(double) = interp == VT_INTERP_BICUBIC ? bicubic : bilinear;
    double support0 = interp == VT_INTERP_BICUBIC ? 2.0 : 1.0;
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = support0 * filterscale;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->bounds = vt_malloc((size_t)out_size * 2, sizeof *t->bounds);
    t->k = vt_calloc((size_t)out_size * (size_t)t->ksize, sizeof *t->k);
    double *w = vt_malloc((size_t)t->ksize, sizeof *w);
    if (!t->bounds || !t->k || !w) {
        taps_free(t);
        free(w);
        return VT_ERR_NOMEM;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; x++) {
            double kv = ww != 0.0 ? w[x] / ww : w[x];
            t->k[xx * t->ksize + x] =
                kv < 0 ? (int32_t)(-0.5 + kv * (1 << PRECISION_BITS)) : (int32_t)(0.5 + kv * (1 << PRECISION_BITS));
        }
        t->bounds[xx * 2] = xmin;
        t->bounds[xx * 2 + 1] = xmax;
    }
    free(w);
    return VT_OK;
}

static inline uint8_t clip8(int32_t v)
{
    if (v >= (1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* One pass along x (step = 3 bytes) or y (step = a row), 3 channels, 8-bit output. */
static void resample_pass(const uint8_t *in, int in_w, uint8_t *out, int out_w, int out_h, const taps *t,
                          int horizontal)
{
#pragma omp parallel for if (out_h * out_w > 65536)
    for (int y = 0; y < out_h; y++)
        for (int x = 0; x < out_w; x++) {
            int o = horizontal ? x : y;
            int xmin = t->bounds[o * 2], n = t->bounds[o * 2 + 1];
            const int32_t *k = t->k + o * t->ksize;
            int32_t s[3] = {1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1)};
            for (int i = 0; i < n; i++) {
                const uint8_t *p =
                    horizontal ? in + ((size_t)y * in_w + xmin + i) * 3 : in + ((size_t)(xmin + i) * in_w + x) * 3;
                s[0] += p[0] * k[i];
                s[1] += p[1] * k[i];
                s[2] += p[2] * k[i];
            }
            uint8_t *q = out + ((size_t)y * out_w + x) * 3;
            q[0] = clip8(s[0]);
            q[1] = clip8(s[1]);
            q[2] = clip8(s[2]);
        }
}

vt_status vt_image_resize(const vt_image *in, int width, int height, vt_interp interp, vt_image **out)
{
    *out = NULL;
    if (width <= 0 || height <= 0) return vt_fail(VT_ERR_ARG, "resize: target size %dx%d is empty", width, height);
    vt_image *cur = NULL;
    vt_status st = vt_image_from_rgb(in->data, in->width, in->height, &cur);
    /* Pillow skips a pass whose size does not change; the skipped pass would be exact anyway. */
    if (st == VT_OK && width != cur->width) {
        taps t;
        vt_image *next = NULL;
        st = taps_make(cur->width, width, interp, &t);
        if (st == VT_OK) {
            uint8_t *buf = vt_malloc((size_t)width * (size_t)cur->height, 3);
            if (buf) {
                resample_pass(cur->data, cur->width, buf, width, cur->height, &t, 1);
                st = vt_image_from_rgb(buf, width, cur->height, &next);
                free(buf);
            } else
                st = VT_ERR_NOMEM;
            taps_free(&t);
        }
        vt_image_free(cur);
        cur = next;
    }
    if (st == VT_OK && height != cur->height) {
        taps t;
        vt_image *next = NULL;
        st = taps_make(cur->height, height, interp, &t);
        if (st == VT_OK) {
            uint8_t *buf = vt_malloc((size_t)cur->width * (size_t)height, 3);
            if (buf) {
                resample_pass(cur->data, cur->width, buf, cur->width, height, &t, 0);
                st = vt_image_from_rgb(buf, cur->width, height, &next);
                free(buf);
            } else
                st = VT_ERR_NOMEM;
            taps_free(&t);
        }
        vt_image_free(cur);
        cur = next;
    }
    if (st != VT_OK) {
        vt_image_free(cur);
        return st;
    }
    *out = cur;
    return VT_OK;
}

vt_status vt_transform_preset(const char *name, vt_transform *out)
{
    static const vt_transform presets[] = {
        {"torchvision", 256, VT_INTERP_BILINEAR, 224, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
        {"inception", 342, VT_INTERP_BILINEAR, 299, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
        {"clip",
         224,
         VT_INTERP_BICUBIC,
         224,
         {0.48145466f, 0.4578275f, 0.40821073f},
         {0.26862954f, 0.26130258f, 0.27577711f}},
        {"none", 0, VT_INTERP_BILINEAR, 0, {0, 0, 0}, {1, 1, 1}},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(name, presets[i].name) == 0) {
            *out = presets[i];
            return VT_OK;
        }
    return vt_fail(VT_ERR_ARG, "unknown transform '%s' (known: torchvision, inception, clip, none)", name);
}

/* torchvision's Resize(int): the shorter side becomes `size`, the longer one is truncated. */
static void resized_size(const vt_transform *tf, int w, int h, int *rw, int *rh)
{
    *rw = w;
    *rh = h;
    if (tf->resize <= 0) return;
    if (w <= h) {
        *rw = tf->resize;
        *rh = (int)((long long)tf->resize * h / w);
    } else {
        *rh = tf->resize;
        *rw = (int)((long long)tf->resize * w / h);
    }
}

void vt_transform_output_size(const vt_transform *tf, int width, int height, int *out_width, int *out_height)
{
    resized_size(tf, width, height, out_width, out_height);
    if (tf->crop > 0) *out_width = *out_height = tf->crop;
}

vt_status vt_transform_apply(const vt_transform *tf, const vt_image *in, float *chw)
{
    int rw, rh;
    resized_size(tf, in->width, in->height, &rw, &rh);
    vt_image *im = NULL;
    vt_status st = (rw != in->width || rh != in->height) ? vt_image_resize(in, rw, rh, tf->interp, &im)
                                                         : vt_image_from_rgb(in->data, in->width, in->height, &im);
    if (st != VT_OK) return st;
    int cw = tf->crop > 0 ? tf->crop : rw, ch = tf->crop > 0 ? tf->crop : rh;
    /* Python's round() rounds half to even; nearbyint does the same in the default rounding mode.
     * A crop larger than the image pads with zeros, as torchvision's center_crop does. */
    int top = rh >= ch ? (int)nearbyint((rh - ch) / 2.0) : -((ch - rh) / 2);
    int left = rw >= cw ? (int)nearbyint((rw - cw) / 2.0) : -((cw - rw) / 2);
    for (int c = 0; c < 3; c++) {
        float *plane = chw + (size_t)c * ch * cw;
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                int sy = y + top, sx = x + left;
                float v = 0.0f;
                if (sy >= 0 && sy < rh && sx >= 0 && sx < rw) v = im->data[((size_t)sy * rw + sx) * 3 + c] / 255.0f;
                plane[(size_t)y * cw + x] = (v - tf->mean[c]) / tf->std[c];
            }
    }
    vt_image_free(im);
    return VT_OK;
}
