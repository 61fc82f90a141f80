/* Signal-processing ops of opset 17: DFT, STFT, the Hann / Hamming / Blackman windows and MelWeightMatrix.
 * Signals are [batch, ..., n, 1 or 2]: the last dim holds a real value or a (real, imaginary) pair; spectra
 * always carry both. Every transform is computed in double (a mixed-radix FFT over a table of exact
 * twiddles, so a prime length costs n^2 but never loses accuracy) and written in the signal's type. Lengths
 * (dft_length, frame_step, frame_length, window size, mel bins) decide shapes, so they must be known at
 * prepare: constants or graph inputs (integer graph inputs are folded). */
#include <math.h>
#include <stdlib.h>

#include "nn/ops/ops.h"

#define TWO_PI 6.28318530717958647692

typedef struct cplx {
    double re, im;
} cplx;

/* ---- FFT: out[k] = sum_j in[j] exp(-+2 pi i j k / n) ---- */

static int64_t smallest_factor(int64_t n)
{
    for (int64_t f = 2; f * f <= n; f++)
        if (n % f == 0) return f;
    return n;
}

/* Decimation in time: n = p * m splits into p interleaved sub-transforms of length m (read with stride
 * `stride * p`), then one p-point butterfly per k combines them. tw[t] = exp(-+2 pi i t / N) for the
 * top-level length N = n * tws: every twiddle is read from there, none accumulated. tmp holds one
 * butterfly's inputs (at most N of them, for a prime N). */
static void fft_rec(const cplx *tw, const cplx *in, int64_t stride, cplx *out, int64_t n, int64_t tws, cplx *tmp)
{
    if (n == 1) {
        out[0] = in[0];
        return;
    }
    int64_t p = smallest_factor(n), m = n / p;
    for (int64_t r = 0; r < p; r++) fft_rec(tw, in + r * stride, stride * p, out + r * m, m, tws * p, tmp);
    for (int64_t k = 0; k < m; k++) {
        for (int64_t r = 0; r < p; r++) tmp[r] = out[r * m + k];
        for (int64_t q = 0; q < p; q++) {
            int64_t bin = k + q * m;
            cplx s = tmp[0];
            for (int64_t r = 1; r < p; r++) {
                cplx w = tw[(r * bin % n) * tws];
                s.re += tmp[r].re * w.re - tmp[r].im * w.im;
                s.im += tmp[r].re * w.im + tmp[r].im * w.re;
            }
            out[bin] = s;
        }
    }
}

/* How an op reads its line number l into n complex values and writes that line's spectrum. */
typedef struct line_io {
    const void *op; /* the op's geometry */
    const vt_tensor *x;
    vt_tensor *y;
    void (*gather)(const struct line_io *io, int64_t l, cplx *line);
    void (*scatter)(const struct line_io *io, int64_t l, const cplx *spec);
} line_io;

/* Transforms `lines` independent lines of length n, in parallel: each line is computed alone, in the same
 * order of operations at any thread count. */
static vt_status transform_lines(const vt_opctx *c, int64_t n, bool inverse, int64_t lines, const line_io *io)
{
    cplx *tw = vt_malloc((size_t)n, sizeof *tw);
    if (!tw) return VT_ERR_NOMEM;
    double sign = inverse ? 1 : -1;
    for (int64_t t = 0; t < n; t++) {
        double a = TWO_PI * (double)t / (double)n;
        tw[t] = (cplx){cos(a), sign * sin(a)};
    }
    bool nomem = false;
#pragma omp parallel if (lines * n > 16384)
    {
        cplx *work = vt_malloc((size_t)n * 3, sizeof *work); /* line, spectrum, butterfly inputs */
        if (!work) {
#pragma omp atomic write
            nomem = true;
        }
#pragma omp for schedule(static)
        for (int64_t l = 0; l < lines; l++) {
            if (!work) continue;
            io->gather(io, l, work);
            fft_rec(tw, work, 1, work + n, n, 1, work + 2 * n);
            io->scatter(io, l, work + n);
        }
        free(work);
    }
    free(tw);
    /* a worker's failed allocation set its own thread's message: say it here */
    return nomem ? vt_node_fail(c, VT_ERR_NOMEM, "out of memory for the work buffers of %lld-point transforms",
                                (long long)n)
                 : VT_OK;
}

/* ---- reading signals, writing spectra ---- */

static double load(const vt_tensor *t, int64_t i)
{
    return t->dtype == VT_F32 ? (double)((const float *)t->data)[i] : ((const double *)t->data)[i];
}

static void store(vt_tensor *t, int64_t i, double v)
{
    if (t->dtype == VT_F32)
        ((float *)t->data)[i] = (float)v;
    else
        ((double *)t->data)[i] = v;
}

static vt_status need_signal(const vt_opctx *c, int min_rank)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    if (x->dtype != VT_F32 && x->dtype != VT_F64)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "the signal must be float32 or float64, not %s",
                            vt_dtype_name(x->dtype));
    if (x->rank < min_rank)
        return vt_node_fail(c, VT_ERR_ARG, "the signal has rank %d; it needs at least %d ([batch, ..., n, 1 or 2])",
                            x->rank, min_rank);
    int64_t comps = x->shape[x->rank - 1];
    if (comps != 1 && comps != 2)
        return vt_node_fail(c, VT_ERR_ARG, "the signal's last dim is %lld; it must be 1 (real) or 2 (real, imaginary)",
                            (long long)comps);
    return VT_OK;
}

/* A positive scalar length input known at prepare (absent optional input: *v = dflt). */
static vt_status scalar_length(const vt_opctx *c, int k, const char *what, int64_t dflt, int64_t *v)
{
    *v = dflt;
    if (k >= c->n_in || !c->in[k]) return VT_OK;
    if (vt_tensor_numel(c->in[k]) != 1) return vt_node_fail(c, VT_ERR_ARG, "%s must be a scalar", what);
    int n;
    vt_status st = vt_need_known(c, k, what);
    if (st == VT_OK) st = vt_const_ints(c, k, v, 1, &n);
    if (st != VT_OK) return st;
    if (*v < 1) return vt_node_fail(c, VT_ERR_ARG, "%s is %lld; it must be at least 1", what, (long long)*v);
    return VT_OK;
}

/* ---- DFT (opset 17): a transform of every line along `axis` ---- */

typedef struct dft_geom {
    int axis;
    int64_t outer, len, inner, comps; /* input: outer x len x inner x comps */
    int64_t n, bins;                  /* transform length (dft_length, else len), bins written */
    bool inverse;
} dft_geom;

static vt_status dft_geometry(const vt_opctx *c, dft_geom *g)
{
    vt_status st = need_signal(c, 2);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    int64_t axis = vt_attr_int(c->node, "axis", 1);
    /* the last dim holds the components, so the signal axes are the others; negative counts from the back */
    if (!vt_axis(axis, x->rank, &g->axis) || g->axis == x->rank - 1)
        return vt_node_fail(c, VT_ERR_ARG,
                            "axis %lld is not a signal axis of a rank-%d input (the last dim holds "
                            "the real and imaginary parts)",
                            (long long)axis, x->rank);
    g->outer = 1;
    g->inner = 1;
    for (int d = 0; d < g->axis; d++) g->outer *= x->shape[d];
    for (int d = g->axis + 1; d < x->rank - 1; d++) g->inner *= x->shape[d];
    g->len = x->shape[g->axis];
    g->comps = x->shape[x->rank - 1];
    if ((st = scalar_length(c, 1, "dft_length", g->len, &g->n)) != VT_OK) return st;
    if (g->n < 1) return vt_node_fail(c, VT_ERR_ARG, "the signal axis is empty and no dft_length is given");
    g->inverse = vt_attr_int(c->node, "inverse", 0) != 0;
    /* onesided: the bins up to n/2, which determine the rest when the signal is real (conjugate symmetry) */
    g->bins = vt_attr_int(c->node, "onesided", 0) ? g->n / 2 + 1 : g->n;
    return VT_OK;
}

static vt_status dft_infer(vt_opctx *c)
{
    dft_geom g;
    vt_status st = dft_geometry(c, &g);
    if (st != VT_OK) return st;
    int64_t sh[VT_MAX_RANK];
    memcpy(sh, c->in[0]->shape, sizeof sh);
    sh[g.axis] = g.bins;
    sh[c->in[0]->rank - 1] = 2;
    vt_out_set(c->out[0], c->in[0]->dtype, c->in[0]->rank, sh);
    return VT_OK;
}

/* Line l = o * inner + i: dft_length truncates the signal or pads it with zeros. */
static void dft_gather(const line_io *io, int64_t l, cplx *line)
{
    const dft_geom *g = io->op;
    int64_t o = l / g->inner, i = l % g->inner, used = g->len < g->n ? g->len : g->n;
    for (int64_t j = 0; j < g->n; j++) {
        int64_t e = ((o * g->len + j) * g->inner + i) * g->comps;
        line[j] = j < used ? (cplx){load(io->x, e), g->comps == 2 ? load(io->x, e + 1) : 0} : (cplx){0, 0};
    }
}

static void dft_scatter(const line_io *io, int64_t l, const cplx *spec)
{
    const dft_geom *g = io->op;
    int64_t o = l / g->inner, i = l % g->inner;
    double scale = g->inverse ? 1.0 / (double)g->n : 1.0;
    for (int64_t k = 0; k < g->bins; k++) {
        int64_t e = ((o * g->bins + k) * g->inner + i) * 2;
        store(io->y, e, spec[k].re * scale);
        store(io->y, e + 1, spec[k].im * scale);
    }
}

static vt_status dft_run(vt_opctx *c)
{
    dft_geom g;
    vt_status st = dft_geometry(c, &g);
    if (st != VT_OK) return st;
    line_io io = {.op = &g, .x = c->in[0], .y = c->out[0], .gather = dft_gather, .scatter = dft_scatter};
    return transform_lines(c, g.n, g.inverse, g.outer * g.inner, &io);
}

/* ---- STFT (opset 17): the DFT of windowed frames of [batch, length, 1 or 2] ---- */

typedef struct stft_geom {
    int64_t batch, len, comps, step, frame, frames, bins;
    const vt_tensor *window; /* NULL: a rectangular window */
} stft_geom;

static vt_status stft_geometry(const vt_opctx *c, stft_geom *g)
{
    vt_status st = need_signal(c, 3);
    if (st != VT_OK) return st;
    const vt_tensor *x = c->in[0];
    if (x->rank != 3) return vt_node_fail(c, VT_ERR_ARG, "the signal must be [batch, length, 1 or 2]");
    g->batch = x->shape[0];
    g->len = x->shape[1];
    g->comps = x->shape[2];
    if ((st = vt_need_input(c, 1)) != VT_OK) return st;
    if ((st = scalar_length(c, 1, "frame_step", 0, &g->step)) != VT_OK) return st;
    g->window = c->n_in > 2 ? c->in[2] : NULL;
    int64_t wlen = 0;
    if (g->window) {
        if (g->window->rank != 1) return vt_node_fail(c, VT_ERR_ARG, "the window must be 1-D");
        if (!vt_dtype_is_float(g->window->dtype))
            return vt_node_fail(c, VT_ERR_ARG, "the window must be a float tensor, not %s",
                                vt_dtype_name(g->window->dtype));
        wlen = g->window->shape[0];
    }
    if ((st = scalar_length(c, 3, "frame_length", wlen, &g->frame)) != VT_OK) return st;
    if (g->frame < 1) return vt_node_fail(c, VT_ERR_ARG, "neither a window nor a frame_length gives the frame length");
    if (g->window && wlen != g->frame)
        return vt_node_fail(c, VT_ERR_ARG, "the window has %lld values for frames of %lld", (long long)wlen,
                            (long long)g->frame);
    if (g->frame > g->len)
        return vt_node_fail(c, VT_ERR_ARG, "frames of %lld are longer than the signal (%lld)", (long long)g->frame,
                            (long long)g->len);
    g->frames = (g->len - g->frame) / g->step + 1;
    g->bins = vt_attr_int(c->node, "onesided", 1) ? g->frame / 2 + 1 : g->frame;
    return VT_OK;
}

static vt_status stft_infer(vt_opctx *c)
{
    stft_geom g;
    vt_status st = stft_geometry(c, &g);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], c->in[0]->dtype, 4, (int64_t[]){g.batch, g.frames, g.bins, 2});
    return VT_OK;
}

/* Line l = b * frames + f: frame f of batch b, times the window. */
static void stft_gather(const line_io *io, int64_t l, cplx *line)
{
    const stft_geom *g = io->op;
    int64_t b = l / g->frames, f = l % g->frames;
    for (int64_t j = 0; j < g->frame; j++) {
        int64_t e = (b * g->len + f * g->step + j) * g->comps;
        double w = g->window ? vt_elem_f64(g->window, j) : 1;
        line[j] = (cplx){w * load(io->x, e), g->comps == 2 ? w * load(io->x, e + 1) : 0};
    }
}

static void stft_scatter(const line_io *io, int64_t l, const cplx *spec)
{
    const stft_geom *g = io->op;
    for (int64_t k = 0; k < g->bins; k++) {
        store(io->y, (l * g->bins + k) * 2, spec[k].re);
        store(io->y, (l * g->bins + k) * 2 + 1, spec[k].im);
    }
}

static vt_status stft_run(vt_opctx *c)
{
    stft_geom g;
    vt_status st = stft_geometry(c, &g);
    if (st != VT_OK) return st;
    line_io io = {.op = &g, .x = c->in[0], .y = c->out[0], .gather = stft_gather, .scatter = stft_scatter};
    return transform_lines(c, g.frame, false, g.batch * g.frames, &io);
}

/* ---- HannWindow, HammingWindow, BlackmanWindow: a0 - a1 cos(2 pi k / N) + a2 cos(4 pi k / N) ---- */

/* The output type an output_datatype attribute names (default float32). */
static vt_status output_datatype(const vt_opctx *c, vt_dtype *dt)
{
    int64_t t = vt_attr_int(c->node, "output_datatype", 1);
    if (!vt_onnx_dtype(t, dt) || *dt == VT_BOOL)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "output_datatype %lld is not a numeric type built here",
                            (long long)t);
    return VT_OK;
}

static vt_status window_size(const vt_opctx *c, int64_t *size)
{
    vt_status st = vt_need_input(c, 0);
    if (st != VT_OK) return st;
    if (vt_tensor_numel(c->in[0]) != 1) return vt_node_fail(c, VT_ERR_ARG, "size must be a scalar");
    int n;
    if ((st = vt_need_known(c, 0, "size")) != VT_OK || (st = vt_const_ints(c, 0, size, 1, &n)) != VT_OK) return st;
    if (*size < 0) return vt_node_fail(c, VT_ERR_ARG, "size is %lld", (long long)*size);
    return VT_OK;
}

static vt_status window_infer(vt_opctx *c)
{
    int64_t size;
    vt_dtype dt;
    vt_status st = window_size(c, &size);
    if (st == VT_OK) st = output_datatype(c, &dt);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], dt, 1, &size);
    return VT_OK;
}

static vt_status window_fill(vt_opctx *c, double a0, double a1, double a2)
{
    int64_t size;
    vt_status st = window_size(c, &size);
    if (st != VT_OK) return st;
    /* periodic: one period of a window of size + 1 (for spectral analysis); symmetric: both ends equal */
    int64_t N = vt_attr_int(c->node, "periodic", 1) ? size : size - 1;
    for (int64_t k = 0; k < size; k++) {
        double a = N > 0 ? TWO_PI * (double)k / (double)N : 0; /* a symmetric window of one point is its peak */
        double w = N > 0 ? a0 - a1 * cos(a) + a2 * cos(2 * a) : 1;
        vt_elem_set_f64(c->out[0], k, w);
    }
    return VT_OK;
}

static vt_status hann_run(vt_opctx *c)
{
    return window_fill(c, 0.5, 0.5, 0);
}

/* ONNX's Hamming coefficients are 25/46 and 21/46 (the equiripple choice), not numpy's rounded 0.54 / 0.46. */
static vt_status hamming_run(vt_opctx *c)
{
    return window_fill(c, 25.0 / 46.0, 21.0 / 46.0, 0);
}

static vt_status blackman_run(vt_opctx *c)
{
    return window_fill(c, 0.42, 0.5, 0.08);
}

/* ---- MelWeightMatrix: triangular filters, evenly spaced on the mel scale, over the onesided DFT bins ---- */

typedef struct mel_geom {
    int64_t mels, dft, bins; /* bins = dft / 2 + 1 */
} mel_geom;

static vt_status mel_geometry(const vt_opctx *c, mel_geom *g)
{
    for (int k = 0; k < 5; k++) {
        vt_status st = vt_need_input(c, k);
        if (st != VT_OK) return st;
    }
    vt_status st = scalar_length(c, 0, "num_mel_bins", 0, &g->mels);
    if (st == VT_OK) st = scalar_length(c, 1, "dft_length", 0, &g->dft);
    if (st != VT_OK) return st;
    if (vt_dtype_is_float(c->in[2]->dtype) || vt_tensor_numel(c->in[2]) != 1)
        return vt_node_fail(c, VT_ERR_ARG, "sample_rate must be an integer scalar");
    for (int k = 3; k < 5; k++)
        if (!vt_dtype_is_float(c->in[k]->dtype) || vt_tensor_numel(c->in[k]) != 1)
            return vt_node_fail(c, VT_ERR_ARG, "%s must be a float scalar",
                                k == 3 ? "lower_edge_hertz" : "upper_edge_hertz");
    g->bins = g->dft / 2 + 1;
    return VT_OK;
}

static vt_status mel_infer(vt_opctx *c)
{
    mel_geom g;
    vt_dtype dt;
    vt_status st = mel_geometry(c, &g);
    if (st == VT_OK) st = output_datatype(c, &dt);
    if (st != VT_OK) return st;
    vt_out_set(c->out[0], dt, 2, (int64_t[]){g.bins, g.mels});
    return VT_OK;
}

static double hz_to_mel(double f)
{
    return 2595 * log10(1 + f / 700);
}

/* The spec's filter edges: mels + 2 points evenly spaced in mel (the step divides the range by their count,
 * as the reference does), mapped back to hertz and then to the DFT bin floor((dft + 1) f / rate). */
static vt_status mel_edges(const vt_opctx *c, const mel_geom *g, int64_t *edge)
{
    double lo = vt_elem_f64(c->in[3], 0), hi = vt_elem_f64(c->in[4], 0);
    int64_t rate = vt_elem_i64(c->in[2], 0);
    if (rate < 1) return vt_node_fail(c, VT_ERR_ARG, "sample_rate is %lld", (long long)rate);
    if (!(lo >= 0 && hi > lo))
        return vt_node_fail(c, VT_ERR_ARG, "the band [%g, %g] Hz must satisfy 0 <= lower_edge_hertz < upper_edge_hertz",
                            lo, hi);
    double mlo = hz_to_mel(lo), step = (hz_to_mel(hi) - mlo) / (double)(g->mels + 2);
    for (int64_t k = 0; k < g->mels + 2; k++) {
        double hz = 700 * (pow(10, (mlo + (double)k * step) / 2595) - 1);
        edge[k] = (int64_t)floor((double)(g->dft + 1) * hz / (double)rate);
    }
    return VT_OK;
}

static vt_status mel_run(vt_opctx *c)
{
    mel_geom g;
    vt_status st = mel_geometry(c, &g);
    if (st != VT_OK) return st;
    int64_t *edge = vt_malloc((size_t)(g.mels + 2), sizeof *edge);
    if (!edge) return VT_ERR_NOMEM;
    if ((st = mel_edges(c, &g, edge)) != VT_OK) {
        free(edge);
        return st;
    }
    vt_tensor *y = c->out[0];
    for (int64_t e = 0; e < g.bins * g.mels; e++) vt_elem_set_f64(y, e, 0);
    for (int64_t m = 0; m < g.mels && st == VT_OK; m++) {
        int64_t left = edge[m], center = edge[m + 1], right = edge[m + 2];
        if (center >= g.bins) {
            st = vt_node_fail(c, VT_ERR_ARG,
                              "upper_edge_hertz puts filter %lld's peak at bin %lld, past the %lld bins of a "
                              "%lld-point DFT",
                              (long long)m, (long long)center, (long long)g.bins, (long long)g.dft);
            break;
        }
        /* rising edge from left to the peak (a filter of zero width is its peak alone), falling to right */
        if (center == left) vt_elem_set_f64(y, center * g.mels + m, 1);
        for (int64_t j = left; j <= center && center > left; j++)
            vt_elem_set_f64(y, j * g.mels + m, (double)(j - left) / (double)(center - left));
        for (int64_t j = center; j < right && j < g.bins; j++) /* a falling edge past the last bin is cut */
            vt_elem_set_f64(y, j * g.mels + m, (double)(right - j) / (double)(right - center));
    }
    free(edge);
    return st;
}

static const vt_op ops[] = {
    {.domain = "", .type = "DFT", .since = 17, .infer = dft_infer, .run = dft_run},
    {.domain = "", .type = "STFT", .since = 17, .infer = stft_infer, .run = stft_run},
    {.domain = "", .type = "HannWindow", .since = 17, .infer = window_infer, .run = hann_run},
    {.domain = "", .type = "HammingWindow", .since = 17, .infer = window_infer, .run = hamming_run},
    {.domain = "", .type = "BlackmanWindow", .since = 17, .infer = window_infer, .run = blackman_run},
    {.domain = "", .type = "MelWeightMatrix", .since = 17, .infer = mel_infer, .run = mel_run},
};

VT_OP_TABLE(vt_ops_signal, ops);
