/* Procedural stimuli: a shape of one of four classes over a textured colour gradient. Each image
 * draws from its own RNG stream, so any subset is generated identically and in parallel. */
#include <math.h>
#include <stdlib.h>

#include "ventral/rng.h"
#include "ventral/simulate.h"

typedef struct scene {
    double bg0[3], bg1[3], angle;        /* background gradient */
    double tex_freq, tex_angle, tex_amp; /* sinusoidal texture */
    double cx, cy, radius, rot, fg[3];   /* the shape */
    int shape;
} scene;

static void draw_scene(vt_rng *r, int shape, scene *s)
{
    for (int c = 0; c < 3; c++) {
        s->bg0[c] = vt_rng_uniform(r);
        s->bg1[c] = vt_rng_uniform(r);
    }
    s->angle = 2 * M_PI * vt_rng_uniform(r);
    s->tex_freq = 2 + 10 * vt_rng_uniform(r);
    s->tex_angle = M_PI * vt_rng_uniform(r);
    s->tex_amp = 0.05 + 0.15 * vt_rng_uniform(r);
    s->cx = 0.3 + 0.4 * vt_rng_uniform(r);
    s->cy = 0.3 + 0.4 * vt_rng_uniform(r);
    s->radius = 0.15 + 0.15 * vt_rng_uniform(r);
    s->rot = 2 * M_PI * vt_rng_uniform(r);
    /* A foreground colour far from the background's mean keeps the shape visible. */
    for (int c = 0; c < 3; c++) {
        double mean = 0.5 * (s->bg0[c] + s->bg1[c]);
        s->fg[c] = mean < 0.5 ? 0.6 + 0.4 * vt_rng_uniform(r) : 0.4 * vt_rng_uniform(r);
    }
    s->shape = shape;
}

/* Whether the point (u, v) in shape coordinates (centred, rotated, unit radius) is inside. */
static int inside(int shape, double u, double v)
{
    switch (shape) {
    case 0: return u * u + v * v <= 1.0;                                                      /* circle */
    case 1: return fabs(u) <= 0.8 && fabs(v) <= 0.8;                                          /* square */
    case 2: return v >= -0.5 && v <= 1.0 && fabs(u) <= (1.0 - v) * 0.58 * 1.5;                /* triangle */
    default: return (fabs(u) <= 0.3 && fabs(v) <= 1.0) || (fabs(v) <= 0.3 && fabs(u) <= 1.0); /* cross */
    }
}

static void render(const scene *s, int size, uint8_t *out)
{
    double ca = cos(s->angle), sa = sin(s->angle), ct = cos(s->tex_angle), st = sin(s->tex_angle);
    double cr = cos(s->rot), sr = sin(s->rot);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            double acc[3] = {0, 0, 0};
            /* 2 × 2 supersampling smooths the shape's edges. */
            for (int sy = 0; sy < 2; sy++)
                for (int sx = 0; sx < 2; sx++) {
                    double px = (x + 0.25 + 0.5 * sx) / size, py = (y + 0.25 + 0.5 * sy) / size;
                    double t = 0.5 + 0.5 * ((px - 0.5) * ca + (py - 0.5) * sa) * 1.4;
                    double tex = s->tex_amp * sin(2 * M_PI * s->tex_freq * (px * ct + py * st));
                    double dx = (px - s->cx) / s->radius, dy = (py - s->cy) / s->radius;
                    double u = dx * cr + dy * sr, v = -dx * sr + dy * cr;
                    int in = inside(s->shape, u, v);
                    for (int c = 0; c < 3; c++) acc[c] += in ? s->fg[c] : (1 - t) * s->bg0[c] + t * s->bg1[c] + tex;
                }
            for (int c = 0; c < 3; c++) {
                double v = acc[c] / 4;
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                out[((size_t)y * size + x) * 3 + c] = (uint8_t)lround(v * 255);
            }
        }
}

vt_status vt_sim_stimuli(int64_t n, int size, uint64_t seed, vt_tensor **images, int32_t *labels)
{
    *images = NULL;
    if (n < 1 || size < 8 || size > 4096)
        return vt_fail(VT_ERR_ARG, "simulate: need n >= 1 images of 8..4096 pixels, got %lld of %d", (long long)n,
                       size);
    int64_t shape[4] = {n, size, size, 3};
    vt_tensor *t = vt_tensor_new_uninit(VT_U8, 4, shape);
    if (!t) return VT_ERR_NOMEM;
    uint8_t *px = t->data;
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < n; i++) {
        vt_rng r = vt_rng_make(seed, (uint64_t)i);
        /* Classes are balanced: image i shows shape (i + offset) mod 4 with a seeded offset. */
        int shape_id = (int)((i + (int64_t)(vt_rng_u64_at(seed, UINT64_MAX, 0) % VT_SIM_CLASSES)) % VT_SIM_CLASSES);
        scene s;
        draw_scene(&r, shape_id, &s);
        render(&s, size, px + (size_t)i * size * size * 3);
        if (labels) labels[i] = shape_id;
    }
    *images = t;
    return VT_OK;
}
