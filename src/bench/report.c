/* The HTML report and its figures. Each figure is one draw function rendered twice through
 * cairo, onto an image surface (PNG) and an SVG surface, so both files show the same drawing;
 * both are streamed into temporary files that are renamed into place. */
#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/results_internal.h"
#include "io/atomic_file.h"
#include "ventral/npy.h"
#include "ventral/report.h"

vt_report_opts vt_report_opts_default(void)
{
    vt_report_opts o = {0};
    o.analysis = vt_analysis_opts_default();
    o.title = "ventral report";
    o.rsm_method = "pearson";
    return o;
}

/* ---- drawing helpers ---- */

static const double palette[10][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741},
    {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812},
};

static void set_color(cairo_t *cr, int i)
{
    if (i < 0)
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
    else
        cairo_set_source_rgb(cr, palette[i % 10][0], palette[i % 10][1], palette[i % 10][2]);
}

static void font(cairo_t *cr, double size, bool bold)
{
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Text anchored at (x, y): ha 0 left, 0.5 centre, 1 right; y is the vertical centre. */
static void text(cairo_t *cr, double x, double y, double ha, const char *s)
{
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    cairo_move_to(cr, x - ha * text_width(cr, s), y + (fe.ascent - fe.descent) / 2);
    cairo_show_text(cr, s);
}

static void text_rotated(cairo_t *cr, double x, double y, double angle, double ha, const char *s)
{
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    text(cr, 0, 0, ha, s);
    cairo_restore(cr);
}

static void background(cairo_t *cr, double w, double h)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, 0, 0, w, h);
    cairo_fill(cr);
}

/* A plot box in pixels and the data range it shows. */
typedef struct frame {
    double l, r, t, b;
    double x0, x1, y0, y1;
} frame;

static double fx(const frame *f, double x)
{
    return f->l + (x - f->x0) / (f->x1 - f->x0) * (f->r - f->l);
}

static double fy(const frame *f, double y)
{
    return f->b - (y - f->y0) / (f->y1 - f->y0) * (f->b - f->t);
}

/* Widens [lo, hi] by 5 % each side (a unit around a single value). */
static void pad_range(double *lo, double *hi)
{
    if (!isfinite(*lo) || !isfinite(*hi)) *lo = 0, *hi = 1;
    double span = *hi - *lo;
    if (span <= 1e-12) span = fabs(*hi) > 0 ? fabs(*hi) : 1;
    *lo -= 0.05 * span;
    *hi += 0.05 * span;
}

static double tick_step(double lo, double hi, int target)
{
    double raw = (hi - lo) / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/* Frame, grid, ticks and axis labels. */
static void axes(cairo_t *cr, const frame *f, const char *xlabel, const char *ylabel, bool xticks, bool yticks)
{
    font(cr, 11, false);
    cairo_set_line_width(cr, 1);
    char buf[32];
    if (xticks) {
        double st = tick_step(f->x0, f->x1, 6);
        for (double v = ceil(f->x0 / st) * st; v <= f->x1 + 1e-9 * st; v += st) {
            double x = fx(f, v), vv = fabs(v) < 1e-9 * st ? 0 : v;
            cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
            cairo_move_to(cr, x, f->t), cairo_line_to(cr, x, f->b), cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            snprintf(buf, sizeof buf, "%g", vv);
            text(cr, x, f->b + 12, 0.5, buf);
        }
    }
    if (yticks) {
        double st = tick_step(f->y0, f->y1, 5);
        for (double v = ceil(f->y0 / st) * st; v <= f->y1 + 1e-9 * st; v += st) {
            double y = fy(f, v), vv = fabs(v) < 1e-9 * st ? 0 : v;
            cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
            cairo_move_to(cr, f->l, y), cairo_line_to(cr, f->r, y), cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            snprintf(buf, sizeof buf, "%g", vv);
            text(cr, f->l - 6, y, 1, buf);
        }
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, f->l, f->t, f->r - f->l, f->b - f->t);
    cairo_stroke(cr);
    font(cr, 12, false);
    if (xlabel) text(cr, (f->l + f->r) / 2, f->b + 32, 0.5, xlabel);
    if (ylabel) text_rotated(cr, f->l - 48, (f->t + f->b) / 2, -M_PI / 2, 0.5, ylabel);
}

static void title(cairo_t *cr, double w, const char *s)
{
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    font(cr, 14, true);
    text(cr, w / 2, 18, 0.5, s);
}

static void dot(cairo_t *cr, double x, double y, double r)
{
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, r, 0, 2 * M_PI);
    cairo_fill(cr);
}

/* ---- colours by architecture family ---- */

typedef struct families {
    const char *name[10];
    int n;
} families;

static int family_index(families *fam, const char *f)
{
    if (!f) return -1;
    for (int i = 0; i < fam->n; i++)
        if (strcmp(fam->name[i], f) == 0) return i;
    if (fam->n == 10) return -1;
    fam->name[fam->n] = f;
    return fam->n++;
}

static int cmp_str(const void *pa, const void *pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* Families of a ranking in sorted order, so colours do not depend on ranking order. */
static families families_of(const vt_ranking *r)
{
    families fam = {{0}, 0};
    const char *names[64];
    int n = 0;
    for (size_t i = 0; i < r->n && n < 64; i++)
        if (r->models[i].family) names[n++] = r->models[i].family;
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) family_index(&fam, names[i]);
    return fam;
}

static void family_legend(cairo_t *cr, const families *fam, double x, double y)
{
    font(cr, 11, false);
    for (int i = 0; i < fam->n; i++) {
        set_color(cr, i);
        dot(cr, x + 5, y + 16 * i, 4);
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        text(cr, x + 14, y + 16 * i, 0, fam->name[i]);
    }
}

/* ---- figures ---- */

typedef struct ranking_fig {
    const vt_ranking *r;
    const char *title;
} ranking_fig;

static double ranking_height(const vt_ranking *r)
{
    return 110 + 24.0 * (double)r->n;
}

static void draw_ranking(cairo_t *cr, double w, double h, const void *ctx)
{
    const ranking_fig *c = ctx;
    const vt_ranking *r = c->r;
    background(cr, w, h);
    title(cr, w, c->title);
    font(cr, 11, false);
    double name_w = 0, lo = 0, hi = 0, nc_lo = INFINITY, nc_hi = -INFINITY, nc_sum = 0;
    int nc_n = 0;
    for (size_t i = 0; i < r->n; i++) {
        const vt_model_score *m = &r->models[i];
        double tw = text_width(cr, m->model);
        name_w = tw > name_w ? tw : name_w;
        lo = fmin(lo, isfinite(m->ci_low) ? m->ci_low : m->mean);
        hi = fmax(hi, isfinite(m->ci_high) ? m->ci_high : m->mean);
        if (isfinite(m->ceiling_mean)) {
            for (size_t k = 0; k < m->n_subjects; k++) {
                nc_lo = fmin(nc_lo, m->ceiling[k]);
                nc_hi = fmax(nc_hi, m->ceiling[k]);
            }
            nc_sum += m->ceiling_mean;
            nc_n++;
        }
    }
    if (nc_n) hi = fmax(hi, nc_hi);
    pad_range(&lo, &hi);
    frame f = {fmin(name_w + 20, w * 0.45), w - 150, 40, h - 60, lo, hi, 0, (double)r->n};
    if (nc_n) { /* the noise ceiling: band from the lowest to the highest subject's, line at the mean */
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        double x0 = fx(&f, nc_lo), x1 = fx(&f, nc_hi);
        cairo_rectangle(cr, x0 - 1, f.t, x1 - x0 + 2, f.b - f.t);
        cairo_fill(cr);
    }
    axes(cr, &f, "test score of the best train layer (mean over subjects)", NULL, true, false);
    if (nc_n) {
        cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
        double dash[] = {4, 3};
        cairo_set_dash(cr, dash, 2, 0);
        double x = fx(&f, nc_sum / nc_n);
        cairo_move_to(cr, x, f.t), cairo_line_to(cr, x, f.b), cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        font(cr, 10, false);
        text(cr, x, f.t - 7, 0.5, "noise ceiling");
    }
    if (lo < 0 && hi > 0) {
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        cairo_move_to(cr, fx(&f, 0), f.t), cairo_line_to(cr, fx(&f, 0), f.b), cairo_stroke(cr);
    }
    families fam = families_of(r);
    for (size_t i = 0; i < r->n; i++) {
        const vt_model_score *m = &r->models[i];
        double y = f.t + (f.b - f.t) * ((double)i + 0.5) / (double)r->n;
        font(cr, 11, false);
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        text(cr, f.l - 8, y, 1, m->model);
        set_color(cr, family_index(&fam, m->family));
        if (isfinite(m->ci_low)) {
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, fx(&f, m->ci_low), y), cairo_line_to(cr, fx(&f, m->ci_high), y), cairo_stroke(cr);
        }
        dot(cr, fx(&f, m->mean), y, 4.5);
    }
    family_legend(cr, &fam, f.r + 15, f.t + 10);
}

typedef struct scatter_fig {
    size_t n;
    const double *x, *y, *xlo, *xhi, *ylo, *yhi; /* intervals may be NULL */
    const char *const *label;
    const int *color;
    const families *fam;
    const char *title, *xlabel, *ylabel, *note;
    bool diagonal;
} scatter_fig;

static void draw_scatter(cairo_t *cr, double w, double h, const void *ctx)
{
    const scatter_fig *c = ctx;
    background(cr, w, h);
    title(cr, w, c->title);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < c->n; i++) {
        if (!isfinite(c->x[i]) || !isfinite(c->y[i])) continue;
        x0 = fmin(x0, c->xlo && isfinite(c->xlo[i]) ? c->xlo[i] : c->x[i]);
        x1 = fmax(x1, c->xhi && isfinite(c->xhi[i]) ? c->xhi[i] : c->x[i]);
        y0 = fmin(y0, c->ylo && isfinite(c->ylo[i]) ? c->ylo[i] : c->y[i]);
        y1 = fmax(y1, c->yhi && isfinite(c->yhi[i]) ? c->yhi[i] : c->y[i]);
    }
    if (c->diagonal) x0 = y0 = fmin(x0, y0), x1 = y1 = fmax(x1, y1);
    pad_range(&x0, &x1);
    pad_range(&y0, &y1);
    frame f = {80, w - 150, 40, h - 60, x0, x1, y0, y1};
    axes(cr, &f, c->xlabel, c->ylabel, true, true);
    cairo_save(cr);
    cairo_rectangle(cr, f.l, f.t, f.r - f.l, f.b - f.t);
    cairo_clip(cr);
    if (c->diagonal) {
        cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
        double dash[] = {4, 3};
        cairo_set_dash(cr, dash, 2, 0);
        cairo_move_to(cr, fx(&f, x0), fy(&f, x0)), cairo_line_to(cr, fx(&f, x1), fy(&f, x1)), cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    for (size_t i = 0; i < c->n; i++) {
        if (!isfinite(c->x[i]) || !isfinite(c->y[i])) continue;
        double px = fx(&f, c->x[i]), py = fy(&f, c->y[i]);
        set_color(cr, c->color[i]);
        cairo_set_line_width(cr, 1.2);
        if (c->xlo && isfinite(c->xlo[i]))
            cairo_move_to(cr, fx(&f, c->xlo[i]), py), cairo_line_to(cr, fx(&f, c->xhi[i]), py), cairo_stroke(cr);
        if (c->ylo && isfinite(c->ylo[i]))
            cairo_move_to(cr, px, fy(&f, c->ylo[i])), cairo_line_to(cr, px, fy(&f, c->yhi[i])), cairo_stroke(cr);
        dot(cr, px, py, 4.5);
        font(cr, 9, false);
        cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
        text(cr, px + 6, py - 7, 0, c->label[i]);
    }
    cairo_restore(cr);
    if (c->note) {
        font(cr, 11, false);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text(cr, f.l + 8, f.t + 12, 0, c->note);
    }
    family_legend(cr, c->fam, f.r + 15, f.t + 10);
}

typedef struct profile_fig {
    const vt_layer_profile *p;
    size_t n;
    const char *title;
} profile_fig;

static void draw_profiles(cairo_t *cr, double w, double h, const void *ctx)
{
    const profile_fig *c = ctx;
    background(cr, w, h);
    title(cr, w, c->title);
    double y0 = INFINITY, y1 = -INFINITY;
    for (size_t m = 0; m < c->n; m++)
        for (size_t i = 0; i < c->p[m].n; i++)
            if (isfinite(c->p[m].test[i])) y0 = fmin(y0, c->p[m].test[i]), y1 = fmax(y1, c->p[m].test[i]);
    pad_range(&y0, &y1);
    frame f = {80, w - 200, 40, h - 60, -0.02, 1.02, y0, y1};
    axes(cr, &f, "relative depth (layer index / (layers - 1))", "test score (mean over subjects)", true, true);
    for (size_t m = 0; m < c->n; m++) {
        const vt_layer_profile *p = &c->p[m];
        set_color(cr, (int)m);
        cairo_set_line_width(cr, 1.6);
        bool pen = false;
        for (size_t i = 0; i < p->n; i++) {
            if (!isfinite(p->test[i])) {
                pen = false;
                continue;
            }
            double x = fx(&f, p->depth[i]), y = fy(&f, p->test[i]);
            if (pen)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
            pen = true;
        }
        cairo_stroke(cr);
        for (size_t i = 0; i < p->n; i++)
            if (isfinite(p->test[i])) dot(cr, fx(&f, p->depth[i]), fy(&f, p->test[i]), 2.5);
        if (m < 30) {
            double ly = f.t + 10 + 16 * (double)m;
            cairo_move_to(cr, f.r + 12, ly), cairo_line_to(cr, f.r + 30, ly), cairo_stroke(cr);
            font(cr, 10, false);
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            text(cr, f.r + 36, ly, 0, p->model);
        }
    }
}

typedef struct groups_fig {
    vt_group_comparison *const *g;
    int n;
    const char *title;
} groups_fig;

static void draw_groups(cairo_t *cr, double w, double h, const void *ctx)
{
    const groups_fig *c = ctx;
    background(cr, w, h);
    title(cr, w, c->title);
    double y0 = 0, y1 = 0;
    for (int k = 0; k < c->n; k++)
        for (size_t i = 0; i < c->g[k]->n_groups; i++) {
            const vt_group *g = &c->g[k]->groups[i];
            y0 = fmin(y0, isfinite(g->ci_low) ? g->ci_low : g->mean);
            y1 = fmax(y1, isfinite(g->ci_high) ? g->ci_high : g->mean);
        }
    pad_range(&y0, &y1);
    double panel = (w - 90) / c->n;
    for (int k = 0; k < c->n; k++) {
        const vt_group_comparison *gc = c->g[k];
        frame f = {80 + panel * k + 10, 80 + panel * (k + 1) - 10, 50, h - 80, 0, (double)gc->n_groups, y0, y1};
        axes(cr, &f, NULL, k == 0 ? "mean test score over models" : NULL, false, k == 0);
        font(cr, 12, true);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text(cr, (f.l + f.r) / 2, f.t - 12, 0.5, gc->attribute);
        double bw = (f.r - f.l) / (double)gc->n_groups;
        for (size_t i = 0; i < gc->n_groups; i++) {
            const vt_group *g = &gc->groups[i];
            double x = f.l + bw * ((double)i + 0.5);
            set_color(cr, (int)i);
            double ya = fy(&f, 0 > y0 ? 0 : y0), yb = fy(&f, g->mean);
            cairo_rectangle(cr, x - bw * 0.3, fmin(ya, yb), bw * 0.6, fabs(ya - yb));
            cairo_fill(cr);
            if (isfinite(g->ci_low)) {
                cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
                cairo_set_line_width(cr, 1.5);
                double ylo = fy(&f, g->ci_low), yhi = fy(&f, g->ci_high);
                cairo_move_to(cr, x, ylo), cairo_line_to(cr, x, yhi);
                cairo_move_to(cr, x - 5, ylo), cairo_line_to(cr, x + 5, ylo);
                cairo_move_to(cr, x - 5, yhi), cairo_line_to(cr, x + 5, yhi);
                cairo_stroke(cr);
            }
            char label[96];
            snprintf(label, sizeof label, "%s (%zu)", g->value, g->n_models);
            font(cr, 10, false);
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            text_rotated(cr, x, f.b + 8, M_PI / 6, 0, label);
        }
    }
}

typedef struct heat_fig {
    const double *m;
    size_t n;
    char **names;
    const char *title;
} heat_fig;

/* Diverging map: blue (−1), white (0), red (+1). */
static void heat_color(cairo_t *cr, double v)
{
    v = fmax(-1, fmin(1, v));
    if (v >= 0)
        cairo_set_source_rgb(cr, 1, 1 - 0.8 * v, 1 - 0.85 * v);
    else
        cairo_set_source_rgb(cr, 1 + 0.85 * v, 1 + 0.6 * v, 1);
}

static void draw_heat(cairo_t *cr, double w, double h, const void *ctx)
{
    const heat_fig *c = ctx;
    background(cr, w, h);
    title(cr, w, c->title);
    font(cr, 10, false);
    double name_w = 0;
    for (size_t i = 0; i < c->n; i++) name_w = fmax(name_w, text_width(cr, c->names[i]));
    name_w = fmin(name_w, 220);
    double l = name_w + 16, t = 40, size = fmin(w - l - 110, h - t - name_w * 0.75 - 20), cell = size / (double)c->n;
    for (size_t i = 0; i < c->n; i++)
        for (size_t j = 0; j < c->n; j++) {
            heat_color(cr, c->m[i * c->n + j]);
            cairo_rectangle(cr, l + cell * (double)j, t + cell * (double)i, cell + 0.5, cell + 0.5);
            cairo_fill(cr);
        }
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    for (size_t i = 0; i < c->n; i++) {
        text(cr, l - 6, t + cell * ((double)i + 0.5), 1, c->names[i]);
        text_rotated(cr, l + cell * ((double)i + 0.5), t + size + 6, M_PI / 4, 0, c->names[i]);
    }
    if (c->n <= 12) {
        font(cr, 9, false);
        for (size_t i = 0; i < c->n; i++)
            for (size_t j = 0; j < c->n; j++) {
                char v[16];
                snprintf(v, sizeof v, "%.2f", c->m[i * c->n + j]);
                cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
                text(cr, l + cell * ((double)j + 0.5), t + cell * ((double)i + 0.5), 0.5, v);
            }
    }
    double bx = l + size + 30, bh = size;
    for (int k = 0; k < 100; k++) {
        heat_color(cr, 1 - 2.0 * k / 99);
        cairo_rectangle(cr, bx, t + bh * k / 100.0, 18, bh / 100.0 + 0.5);
        cairo_fill(cr);
    }
    font(cr, 10, false);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    text(cr, bx + 24, t, 0, "1");
    text(cr, bx + 24, t + bh / 2, 0, "0");
    text(cr, bx + 24, t + bh, 0, "-1");
}

/* ---- rendering to files ---- */

typedef void (*draw_fn)(cairo_t *cr, double w, double h, const void *ctx);

static cairo_status_t write_cb(void *closure, const unsigned char *data, unsigned int len)
{
    return vt_atomic_write(closure, data, len) == VT_OK ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

static vt_status cairo_check(cairo_status_t cs, const char *path)
{
    if (cs == CAIRO_STATUS_SUCCESS) return VT_OK;
    return vt_fail(cs == CAIRO_STATUS_NO_MEMORY ? VT_ERR_NOMEM : VT_ERR_IO, "%s: cairo: %s", path,
                   cairo_status_to_string(cs));
}

static vt_status render(const char *dir, const char *name, double w, double h, draw_fn draw, const void *ctx)
{
    char path[4096];
    vt_atomic_file af;
    snprintf(path, sizeof path, "%s/figures/%s.png", dir, name);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
    cairo_t *cr = cairo_create(s);
    draw(cr, w, h, ctx);
    vt_status st = cairo_check(cairo_status(cr), path);
    cairo_destroy(cr);
    if (st == VT_OK) st = vt_atomic_open(&af, path);
    if (st == VT_OK) {
        st = cairo_check(cairo_surface_write_to_png_stream(s, write_cb, &af), path);
        if (st == VT_OK)
            st = vt_atomic_commit(&af);
        else
            vt_atomic_abandon(&af);
    }
    cairo_surface_destroy(s);
    if (st != VT_OK) return st;

    snprintf(path, sizeof path, "%s/figures/%s.svg", dir, name);
    if ((st = vt_atomic_open(&af, path)) != VT_OK) return st;
    s = cairo_svg_surface_create_for_stream(write_cb, &af, w, h);
    cr = cairo_create(s);
    draw(cr, w, h, ctx);
    st = cairo_check(cairo_status(cr), path);
    cairo_destroy(cr);
    cairo_surface_finish(s);
    if (st == VT_OK) st = cairo_check(cairo_surface_status(s), path);
    cairo_surface_destroy(s);
    if (st != VT_OK) {
        vt_atomic_abandon(&af);
        return st;
    }
    return vt_atomic_commit(&af);
}

/* ---- HTML ---- */

static void html_escape(FILE *f, const char *s)
{
    if (!s) {
        fputs("&ndash;", f);
        return;
    }
    for (; *s; s++) switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
}

static void html_num(FILE *f, double v, const char *fmt)
{
    if (isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("&ndash;", f);
}

static void html_interval(FILE *f, double mean, double lo, double hi)
{
    html_num(f, mean, "%.4f");
    if (isfinite(lo)) fprintf(f, " <span class=ci>[%.4f, %.4f]</span>", lo, hi);
}

/* A file-name-safe version of s (letters, digits, '-', '_'; others become '_'). */
static void safe_name(char *out, size_t len, const char *s)
{
    size_t k = 0;
    for (; *s && k + 1 < len && k < 40; s++) {
        char ch = *s;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
        out[k++] = ok ? ch : '_';
    }
    out[k] = '\0';
}

static void html_figure(FILE *f, const char *name, const char *caption)
{
    fprintf(f, "<figure><a href=\"figures/%s.svg\"><img src=\"figures/%s.png\" alt=\"", name, name);
    html_escape(f, caption);
    fputs("\"></a><figcaption>", f);
    html_escape(f, caption);
    fprintf(f, " (<a href=\"figures/%s.svg\">SVG</a>)</figcaption></figure>\n", name);
}

static const char html_head_start[] = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>";
static const char html_head_end[] =
    "</title>\n<style>\n"
    "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\n"
    "table{border-collapse:collapse;margin:0.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th{background:#f2f2f2}td.l,th.l{text-align:left}.ci{color:#777;font-size:0.9em}\n"
    "figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:0.9em}\n"
    "pre{background:#f7f7f7;padding:0.5em;overflow-x:auto}h2{border-bottom:1px solid #ddd;padding-bottom:0.2em}\n"
    "</style>\n</head>\n<body>\n";

/* The run's provenance as a table. */
static vt_status html_run(FILE *f, vt_results *db, int64_t run_id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        vt_results_handle(db), "SELECT started, finished, ventral_version, status, config_json FROM runs WHERE id = ?1",
        -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? vt_fail(VT_ERR_ARG, "%s: no run %lld", vt_results_path(db), (long long)run_id)
                                 : vt_results_fail_sqlite(db, rc, "cannot read the run");
    }
    fprintf(f, "<table><tr><th class=l>run</th><td class=l>%lld</td></tr>\n", (long long)run_id);
    static const char *const labels[] = {"started", "finished", "ventral version", "status"};
    for (int i = 0; i < 4; i++) {
        fprintf(f, "<tr><th class=l>%s</th><td class=l>", labels[i]);
        html_escape(f, (const char *)sqlite3_column_text(st, i));
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<details><summary>configuration</summary><pre>", f);
    html_escape(f, (const char *)sqlite3_column_text(st, 4));
    fputs("</pre></details>\n", f);
    sqlite3_finalize(st);
    return VT_OK;
}

static void html_ranking(FILE *f, const vt_ranking *r)
{
    fputs("<table><tr><th>rank</th><th class=l>model</th><th class=l>family</th><th class=l>task</th>"
          "<th class=l>training data</th><th>trained</th><th>subjects</th><th>depth</th><th>score [CI]</th>"
          "<th>normalised [CI]</th><th>noise ceiling</th></tr>\n",
          f);
    for (size_t i = 0; i < r->n; i++) {
        const vt_model_score *m = &r->models[i];
        fprintf(f, "<tr><td>%d</td><td class=l>", m->rank);
        html_escape(f, m->model);
        fputs("</td><td class=l>", f);
        html_escape(f, m->family);
        fputs("</td><td class=l>", f);
        html_escape(f, m->task);
        fputs("</td><td class=l>", f);
        html_escape(f, m->training_data);
        fprintf(f, "</td><td>%s</td><td>%zu</td><td>",
                m->trained == 1   ? "yes"
                : m->trained == 0 ? "no"
                                  : "&ndash;",
                m->n_subjects);
        html_num(f, m->depth, "%.2f");
        fputs("</td><td>", f);
        html_interval(f, m->mean, m->ci_low, m->ci_high);
        fputs("</td><td>", f);
        html_interval(f, m->norm_mean, m->norm_ci_low, m->norm_ci_high);
        fputs("</td><td>", f);
        html_num(f, m->ceiling_mean, "%.4f");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void html_stats(FILE *f, const vt_correlation *corr, vt_group_comparison *const *g)
{
    fputs("<table><tr><th class=l>Spearman correlation of the score with</th><th>rho</th><th>p</th><th>models</th>"
          "</tr>\n",
          f);
    for (int k = 0; k < VT_ANALYSIS_CORR_COUNT; k++) {
        fprintf(f, "<tr><td class=l>%s</td><td>", vt_analysis_corr_names[k]);
        html_num(f, corr[k].rho, "%.4f");
        fputs("</td><td>", f);
        html_num(f, corr[k].p, "%.3g");
        fprintf(f, "</td><td>%zu</td></tr>\n", corr[k].n);
    }
    fputs("</table>\n<table><tr><th class=l>grouped by</th><th class=l>group</th><th>models</th>"
          "<th>mean score [CI]</th></tr>\n",
          f);
    for (int a = 0; a < 4; a++) {
        for (size_t i = 0; i < g[a]->n_groups; i++) {
            fprintf(f, "<tr><td class=l>%s</td><td class=l>", g[a]->attribute);
            html_escape(f, g[a]->groups[i].value);
            fprintf(f, "</td><td>%zu</td><td>", g[a]->groups[i].n_models);
            html_interval(f, g[a]->groups[i].mean, g[a]->groups[i].ci_low, g[a]->groups[i].ci_high);
            fputs("</td></tr>\n", f);
        }
        if (g[a]->n_groups == 2) {
            fprintf(f, "<tr><td class=l>%s</td><td class=l>difference (", g[a]->attribute);
            html_escape(f, g[a]->groups[0].value);
            fputs(" &minus; ", f);
            html_escape(f, g[a]->groups[1].value);
            fputs(")</td><td></td><td>", f);
            html_interval(f, g[a]->diff, g[a]->diff_ci_low, g[a]->diff_ci_high);
            fputs("</td></tr>\n", f);
        }
    }
    fputs("</table>\n", f);
}

/* ---- the report ---- */

typedef struct report {
    vt_results *db;
    const char *dir;
    const vt_report_opts *o;
    int64_t run;
    int64_t n_scores;
    FILE *html;
    int figures;
} report;

/* Figures and tables of one (metric, ROI) cell. */
static vt_status report_cell(report *rp, size_t index, const vt_analysis_cell *cell)
{
    vt_ranking *r = NULL;
    vt_group_comparison *g[4] = {NULL};
    vt_layer_profile *prof = NULL;
    size_t n_prof = 0;
    vt_correlation corr[VT_ANALYSIS_CORR_COUNT];
    vt_results_table *t = NULL; /* this cell's scores only: memory bounded by the largest cell */
    vt_status s = vt_results_scores_of(rp->db, rp->run, cell->metric, cell->roi, &t);
    if (s == VT_OK) s = vt_analysis_ranking(t, cell->metric, cell->roi, &rp->o->analysis, &r);
    for (int a = 0; s == VT_OK && a < 4; a++)
        s = vt_analysis_groups(r, vt_analysis_attributes[a], &rp->o->analysis, &g[a]);
    if (s == VT_OK) s = vt_analysis_profiles(t, cell->metric, cell->roi, &prof, &n_prof);
    if (s != VT_OK) goto done;
    vt_analysis_correlations(r, corr);
    char sm[48], sr[48], name[160], caption[512];
    safe_name(sm, sizeof sm, cell->metric);
    safe_name(sr, sizeof sr, cell->roi);
    FILE *f = rp->html;
    fprintf(f, "<h2 id=\"cell%zu\">", index);
    html_escape(f, cell->metric);
    fputs(" &middot; ", f);
    html_escape(f, cell->roi);
    fputs("</h2>\n", f);

    snprintf(name, sizeof name, "ranking_%zu_%s_%s", index, sm, sr);
    snprintf(caption, sizeof caption,
             "Model ranking, %s in %s: test score of the layer chosen on the train split, "
             "mean over subjects with %g%% bootstrap CI; grey band: the subjects' noise ceilings (dashed: their mean)",
             cell->metric, cell->roi, 100 * rp->o->analysis.level);
    char ttl[256];
    snprintf(ttl, sizeof ttl, "%s, %s: model ranking", cell->metric, cell->roi);
    ranking_fig rf = {r, ttl};
    if ((s = render(rp->dir, name, 900, ranking_height(r), draw_ranking, &rf)) != VT_OK) goto done;
    html_figure(f, name, caption);
    rp->figures++;
    html_ranking(f, r);

    /* accuracy vs brain score */
    double *buf = vt_malloc(r->n ? 5 * r->n : 1, sizeof *buf);
    const char **labels = vt_malloc(r->n ? r->n : 1, sizeof *labels);
    int *colors = vt_malloc(r->n ? r->n : 1, sizeof *colors);
    if (!buf || !labels || !colors) {
        free(buf), free(labels), free(colors);
        s = VT_ERR_NOMEM;
        goto done;
    }
    families fam = families_of(r);
    for (size_t i = 0; i < r->n; i++) {
        buf[i] = r->models[i].top1;
        buf[r->n + i] = r->models[i].mean;
        buf[2 * r->n + i] = r->models[i].ci_low;
        buf[3 * r->n + i] = r->models[i].ci_high;
        labels[i] = r->models[i].model;
        colors[i] = family_index(&fam, r->models[i].family);
    }
    char note[128];
    snprintf(note, sizeof note, "Spearman rho = %.3f (p = %.3g, n = %zu)", corr[VT_ANALYSIS_TOP1].rho,
             corr[VT_ANALYSIS_TOP1].p, corr[VT_ANALYSIS_TOP1].n);
    snprintf(ttl, sizeof ttl, "%s, %s: ImageNet accuracy vs brain score", cell->metric, cell->roi);
    scatter_fig sf = {r->n,
                      buf,
                      buf + r->n,
                      NULL,
                      NULL,
                      buf + 2 * r->n,
                      buf + 3 * r->n,
                      labels,
                      colors,
                      &fam,
                      ttl,
                      "ImageNet top-1 accuracy (%)",
                      "test score",
                      corr[VT_ANALYSIS_TOP1].n >= 3 ? note : NULL,
                      false};
    if (corr[VT_ANALYSIS_TOP1].n >= 1) {
        snprintf(name, sizeof name, "accuracy_%zu_%s", index, sr);
        snprintf(caption, sizeof caption,
                 "ImageNet top-1 accuracy against the %s score in %s (models of unknown "
                 "accuracy left out)",
                 cell->metric, cell->roi);
        s = render(rp->dir, name, 900, 560, draw_scatter, &sf);
        if (s == VT_OK) html_figure(f, name, caption), rp->figures++;
    }
    free(buf), free(labels), free(colors);
    if (s != VT_OK) goto done;

    snprintf(name, sizeof name, "profiles_%zu_%s", index, sr);
    snprintf(caption, sizeof caption,
             "Layer profiles, %s in %s: every layer's test score (mean over subjects) "
             "against relative depth",
             cell->metric, cell->roi);
    snprintf(ttl, sizeof ttl, "%s, %s: layer profiles", cell->metric, cell->roi);
    profile_fig pf = {prof, n_prof, ttl};
    if ((s = render(rp->dir, name, 900, 520, draw_profiles, &pf)) != VT_OK) goto done;
    html_figure(f, name, caption);
    rp->figures++;

    vt_group_comparison *shown[4];
    int n_shown = 0;
    for (int a = 0; a < 4; a++)
        if (g[a]->n_groups >= 2) shown[n_shown++] = g[a];
    if (n_shown) {
        snprintf(name, sizeof name, "groups_%zu_%s", index, sr);
        snprintf(caption, sizeof caption,
                 "Grouped comparisons, %s in %s: mean over models with %g%% bootstrap CI "
                 "(models and subjects resampled)",
                 cell->metric, cell->roi, 100 * rp->o->analysis.level);
        snprintf(ttl, sizeof ttl, "%s, %s: grouped comparisons", cell->metric, cell->roi);
        groups_fig gf = {shown, n_shown, ttl};
        if ((s = render(rp->dir, name, 900, 460, draw_groups, &gf)) != VT_OK) goto done;
        html_figure(f, name, caption);
        rp->figures++;
    }
    html_stats(f, corr, g);
done:
    vt_layer_profiles_free(prof, n_prof);
    for (int a = 0; a < 4; a++) vt_group_comparison_free(g[a]);
    vt_ranking_free(r);
    vt_results_table_free(t);
    return s;
}

/* Per ROI: the first two metrics (cRSA and veRSA when both exist) against each other. */
static vt_status report_metric_pairs(report *rp, const vt_analysis_cell *cells, size_t nc)
{
    for (size_t i = 0; i < nc; i++) {
        bool seen = false; /* cells are sorted by metric: find each ROI's first cell */
        for (size_t k = 0; k < i; k++) seen = seen || strcmp(cells[k].roi, cells[i].roi) == 0;
        if (seen) continue;
        const char *roi = cells[i].roi, *ma = NULL, *mb = NULL;
        for (size_t k = 0; k < nc; k++) {
            if (strcmp(cells[k].roi, roi) != 0) continue;
            if (strcmp(cells[k].metric, "crsa") == 0) ma = cells[k].metric;
            if (strcmp(cells[k].metric, "versa") == 0) mb = cells[k].metric;
        }
        if (!ma || !mb) {
            ma = mb = NULL;
            for (size_t k = 0; k < nc; k++)
                if (strcmp(cells[k].roi, roi) == 0) {
                    if (!ma)
                        ma = cells[k].metric;
                    else if (!mb)
                        mb = cells[k].metric;
                }
        }
        if (!ma || !mb) continue;
        vt_ranking *ra = NULL, *rb = NULL;
        vt_results_table *ta = NULL, *tb = NULL;
        vt_status s = vt_results_scores_of(rp->db, rp->run, ma, roi, &ta);
        if (s == VT_OK) s = vt_results_scores_of(rp->db, rp->run, mb, roi, &tb);
        if (s == VT_OK) s = vt_analysis_ranking(ta, ma, roi, &rp->o->analysis, &ra);
        if (s == VT_OK) s = vt_analysis_ranking(tb, mb, roi, &rp->o->analysis, &rb);
        double *buf = s == VT_OK ? vt_malloc(ra->n ? 6 * ra->n : 1, sizeof *buf) : NULL;
        const char **labels = s == VT_OK ? vt_malloc(ra->n ? ra->n : 1, sizeof *labels) : NULL;
        int *colors = s == VT_OK ? vt_malloc(ra->n ? ra->n : 1, sizeof *colors) : NULL;
        if (s == VT_OK && (!buf || !labels || !colors)) s = VT_ERR_NOMEM;
        size_t n = 0;
        families fam = s == VT_OK ? families_of(ra) : (families){{0}, 0};
        for (size_t a = 0; s == VT_OK && a < ra->n; a++)
            for (size_t b = 0; b < rb->n; b++) {
                if (ra->models[a].model_id != rb->models[b].model_id) continue;
                size_t N = ra->n;
                buf[n] = ra->models[a].mean, buf[N + n] = rb->models[b].mean;
                buf[2 * N + n] = ra->models[a].ci_low, buf[3 * N + n] = ra->models[a].ci_high;
                buf[4 * N + n] = rb->models[b].ci_low, buf[5 * N + n] = rb->models[b].ci_high;
                labels[n] = ra->models[a].model;
                colors[n] = family_index(&fam, ra->models[a].family);
                n++;
            }
        if (s == VT_OK && n > 0) {
            size_t N = ra->n;
            vt_correlation c = vt_analysis_spearman(buf, buf + N, n);
            char name[160], caption[512], ttl[256], xl[128], yl[128], sr[48], note[96];
            safe_name(sr, sizeof sr, roi);
            snprintf(name, sizeof name, "metrics_%zu_%s", i, sr);
            snprintf(caption, sizeof caption, "%s against %s in %s, one point per model, with CIs over subjects", ma,
                     mb, roi);
            snprintf(ttl, sizeof ttl, "%s: %s vs %s", roi, ma, mb);
            snprintf(xl, sizeof xl, "%s score", ma);
            snprintf(yl, sizeof yl, "%s score", mb);
            snprintf(note, sizeof note, "Spearman rho = %.3f (n = %zu)", c.rho, c.n);
            scatter_fig sf = {n,      buf,    buf + N, buf + 2 * N, buf + 3 * N, buf + 4 * N, buf + 5 * N,
                              labels, colors, &fam,    ttl,         xl,          yl,          c.n >= 3 ? note : NULL,
                              true};
            s = render(rp->dir, name, 900, 620, draw_scatter, &sf);
            if (s == VT_OK) {
                fprintf(rp->html, "<h2>%s vs %s &middot; ", ma, mb);
                html_escape(rp->html, roi);
                fputs("</h2>\n", rp->html);
                html_figure(rp->html, name, caption);
                rp->figures++;
            }
        }
        free(buf), free(labels), free(colors);
        vt_ranking_free(ra);
        vt_ranking_free(rb);
        vt_results_table_free(ta);
        vt_results_table_free(tb);
        if (s != VT_OK) return s;
    }
    return VT_OK;
}

/* One heat map per stored RSM kind (and subject / ROI it belongs to). */
/* One heat map per stored RSM kind and ROI, averaged over the subjects that have them. */
static vt_status report_model_rsms(report *rp, int64_t run_id)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(vt_results_handle(rp->db),
                                "SELECT DISTINCT x.kind, r.name FROM rsms x LEFT JOIN rois r ON r.id = x.roi_id "
                                "WHERE x.run_id = ?1 ORDER BY 1, 2",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return vt_results_fail_sqlite(rp->db, rc, "cannot list RSMs");
    }
    vt_status s = VT_OK;
    int k = 0;
    while (s == VT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 0), *roi = (const char *)sqlite3_column_text(st, 1);
        char **names = NULL;
        vt_tensor *m = NULL;
        size_t n_subj = 0;
        char ttl[256], where[200], name[160], caption[600], sk[48];
        if (k == 0) fputs("<h2>Model-to-model RSA</h2>\n", rp->html);
        vt_status ms = vt_analysis_model_rsm_mean(rp->db, run_id, kind, roi, rp->o->rsm_method, &names, &m, &n_subj);
        if (ms == VT_ERR_NOMEM) {
            s = ms;
            break;
        }
        if (ms != VT_OK) {
            /* Not drawable (one model only, sizes differ): say why on the page instead. */
            fputs("<p>", rp->html);
            html_escape(rp->html, vt_last_error());
            fputs("</p>\n", rp->html);
            k++;
            continue;
        }
        snprintf(where, sizeof where, "%s%s%s", roi ? ", " : "", roi ? roi : "",
                 n_subj > 1 ? ", mean over subjects" : "");
        size_t n = (size_t)m->shape[0];
        safe_name(sk, sizeof sk, kind);
        snprintf(name, sizeof name, "model_rsm_%d_%s", k, sk);
        snprintf(ttl, sizeof ttl, "model x model RSA: %s RSMs%s", kind, where);
        snprintf(caption, sizeof caption, "Model-by-model %s correlation of the stored %s RSMs%s (%zu subject%s)",
                 rp->o->rsm_method ? rp->o->rsm_method : "pearson", kind, roi ? (where) : "", n_subj,
                 n_subj == 1 ? "" : "s");
        heat_fig hf = {vt_tensor_f64(m), n, names, ttl};
        double side = 420 + 26.0 * (double)(n > 20 ? 20 : n);
        s = render(rp->dir, name, side + 240, side + 140, draw_heat, &hf);
        if (s == VT_OK) {
            html_figure(rp->html, name, caption);
            char npy[4096];
            snprintf(npy, sizeof npy, "%s/figures/%s.npy", rp->dir, name);
            s = vt_npy_write(npy, m);
            fprintf(rp->html, "<p>Matrix: <a href=\"figures/%s.npy\">%s.npy</a>; model order: ", name, name);
            for (size_t i = 0; i < n; i++) {
                if (i) fputs(", ", rp->html);
                html_escape(rp->html, names[i]);
            }
            fputs("</p>\n", rp->html);
            rp->figures++;
        }
        vt_analysis_names_free(names, n);
        vt_tensor_free(m);
        k++;
    }
    if (s == VT_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) s = vt_results_fail_sqlite(rp->db, rc, "cannot list RSMs");
    sqlite3_finalize(st);
    return s;
}

static vt_status make_dir(const char *dir)
{
    struct stat sb;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return vt_fail(VT_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return vt_fail(VT_ERR_IO, "%s: not a directory", dir);
    return VT_OK;
}

vt_status vt_report_write(vt_results *db, const char *dir, const vt_report_opts *o, int *n_figures)
{
    vt_report_opts def = vt_report_opts_default();
    if (!o) o = &def;
    if (n_figures) *n_figures = 0;
    char path[4096];
    vt_status s = VT_OK;
    int64_t run = o->run_id;
    if (run == 0 && (s = vt_results_latest_run(db, &run)) != VT_OK) return s;
    if (run == 0) return vt_fail(VT_ERR_ARG, "%s: the database holds no scores", vt_results_path(db));
    vt_analysis_cell *cells = NULL;
    size_t nc = 0;
    if ((s = vt_analysis_db_cells(db, run, &cells, &nc)) != VT_OK) return s;
    if (nc == 0) {
        vt_analysis_db_cells_free(cells, nc);
        return vt_fail(VT_ERR_ARG, "%s: run %lld has no scores", vt_results_path(db), (long long)run);
    }
    /* The directories only once there is something to draw: a database without scores leaves nothing. */
    s = make_dir(dir);
    snprintf(path, sizeof path, "%s/figures", dir);
    if (s == VT_OK) s = make_dir(path);
    if (s != VT_OK) {
        vt_analysis_db_cells_free(cells, nc);
        return s;
    }
    report rp = {db, dir, o, run, 0, NULL, 0};
    sqlite3_stmt *cnt = NULL;
    if (sqlite3_prepare_v2(vt_results_handle(db), "SELECT count(*) FROM scores WHERE run_id = ?1", -1, &cnt, NULL) ==
            SQLITE_OK &&
        sqlite3_bind_int64(cnt, 1, run) == SQLITE_OK && sqlite3_step(cnt) == SQLITE_ROW)
        rp.n_scores = sqlite3_column_int64(cnt, 0);
    sqlite3_finalize(cnt);
    char *body = NULL;
    size_t body_len = 0;
    rp.html = open_memstream(&body, &body_len);
    if (!rp.html) s = vt_fail(VT_ERR_NOMEM, "out of memory");
    if (s == VT_OK) {
        fputs(html_head_start, rp.html);
        html_escape(rp.html, o->title ? o->title : "ventral report");
        fputs(html_head_end, rp.html);
        fputs("<h1>", rp.html);
        html_escape(rp.html, o->title ? o->title : "ventral report");
        fputs("</h1>\n", rp.html);
        s = html_run(rp.html, db, run);
    }
    if (s == VT_OK) {
        fprintf(
            rp.html,
            "<p>Scores of %lld rows; per (model, metric, ROI, subject) the layer with the best train score is "
            "selected and its test score reported; means over subjects with %d bootstrap resamples "
            "(seed %llu). Data: <a href=\"results.csv\">results.csv</a>, "
            "<a href=\"analysis.json\">analysis.json</a>.</p>\n<p id=\"status\">figures: not yet loaded</p>\n<ul>\n",
            (long long)rp.n_scores, o->analysis.n_boot, (unsigned long long)o->analysis.seed);
        for (size_t i = 0; i < nc; i++) {
            fprintf(rp.html, "<li><a href=\"#cell%zu\">", i);
            html_escape(rp.html, cells[i].metric);
            fputs(" &middot; ", rp.html);
            html_escape(rp.html, cells[i].roi);
            fputs("</a></li>\n", rp.html);
        }
        fputs("</ul>\n", rp.html);
    }
    for (size_t i = 0; s == VT_OK && i < nc; i++) s = report_cell(&rp, i, &cells[i]);
    if (s == VT_OK) s = report_metric_pairs(&rp, cells, nc);
    if (s == VT_OK) s = report_model_rsms(&rp, run);
    if (rp.html) {
        /* Marks the page loaded and counts the figures that decoded: a headless browser's check. */
        fputs("<script>window.addEventListener('load',function(){var im=document.images,ok=0;"
              "for(var i=0;i<im.length;i++)if(im[i].complete&&im[i].naturalWidth>0)ok++;"
              "document.getElementById('status').textContent='figures loaded: '+ok+' of '+im.length;});</script>\n"
              "</body>\n</html>\n",
              rp.html);
        fclose(rp.html);
    }
    if (s == VT_OK) {
        snprintf(path, sizeof path, "%s/results.csv", dir);
        s = vt_results_export_path(db, run, VT_RESULTS_CSV, path);
    }
    vt_atomic_file af;
    if (s == VT_OK) {
        snprintf(path, sizeof path, "%s/analysis.json", dir);
        s = vt_atomic_open(&af, path);
        if (s == VT_OK) {
            s = vt_analysis_write_db(db, run, NULL, NULL, &o->analysis, true, af.f);
            if (s == VT_OK)
                s = vt_atomic_commit(&af);
            else
                vt_atomic_abandon(&af);
        }
    }
    if (s == VT_OK) {
        snprintf(path, sizeof path, "%s/index.html", dir);
        s = vt_atomic_open(&af, path);
        if (s == VT_OK) s = vt_atomic_write(&af, body, body_len);
        if (s == VT_OK)
            s = vt_atomic_commit(&af);
        else if (af.f)
            vt_atomic_abandon(&af);
    }
    free(body);
    vt_analysis_db_cells_free(cells, nc);
    if (s == VT_OK && n_figures) *n_figures = rp.figures;
    return s;
}
