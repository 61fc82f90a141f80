/* Model → feature store, batch by batch (see extract.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cblas.h>

#include "bench/extract_internal.h"
#include "ventral/extract.h"
#include "ventral/hash.h"
#include "ventral/onnx.h"
#include "ventral/srp.h"

void vt_extract_options_init(vt_extract_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->capture = "all";
    opt->eps = 0.1;
    opt->batch = 16;
    opt->precision = VT_PRECISION_F32;
    opt->rsm_memory = 0;
}

#define RSM_MEMORY_DEFAULT ((int64_t)64 << 20)

/* A stimulus whose unprojected features have no Pearson correlation: NaN row and column. */
enum { ROW_OK = 0, ROW_CONSTANT = 1, ROW_NONFINITE = 2 };

/* Per-layer state, created when the layer first reaches the capture callback. */
typedef struct layer_state {
    int handle; /* feature store handle; -1 until first seen */
    vt_srp_plan *plan;
    bool owns_plan; /* false: plan is another layer's (see shared_plan) */
    /* unprojected RSM: the layer's rows in the spill at spill_off (n × p float32, row-major), and
     * per stimulus the float64 sum of its features and a ROW_* code */
    int64_t p, spill_off;
    double *sum;
    char *row_code;
} layer_state;

typedef struct extract_ctx {
    vt_features_writer *writer;
    layer_state *layers;
    int n_layers;
    int64_t k, batch, row0, valid; /* rows of this batch that are real stimuli (the rest pad the last batch) */
    uint64_t seed;
    float *z; /* projection output, batch × max width */
    int64_t z_cap;
    float *t; /* a layer with its batch axis moved first */
    int64_t t_cap;
    int projected;
    const char *model;
    /* unprojected RSMs */
    bool rsm;
    int spill_fd;                     /* unlinked temporary file, -1 when none */
    char *spill_path;                 /* its name while it existed, for messages */
    int64_t n, spill_end, spill_done; /* stimuli; bytes of spill laid out; bytes written */
} extract_ctx;

/* A plan already built for p features, or NULL. vt_srp_plan_new is a function of (p, k, seed) and k and
 * the seed are the run's, so layers of equal width share one plan: the same matrix, built and held once
 * (resnet50's 122 layers have 8 distinct widths; at k = 5920 their own plans took ~1.4 GiB). */
static vt_srp_plan *shared_plan(const extract_ctx *c, int64_t p)
{
    for (int i = 0; i < c->n_layers; i++) {
        const layer_state *o = &c->layers[i];
        if (o->owns_plan && o->plan && vt_srp_plan_in_dim(o->plan) == p) return o->plan;
    }
    return NULL;
}

static vt_status write_all(extract_ctx *c, const void *buf, int64_t bytes, int64_t offset)
{
    const char *p = buf;
    while (bytes > 0) {
        ssize_t w = pwrite(c->spill_fd, p, (size_t)(bytes < ((int64_t)1 << 30) ? bytes : ((int64_t)1 << 30)), offset);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return vt_fail(VT_ERR_IO, "%s: cannot write the temporary spill of unprojected features: %s", c->spill_path,
                           w < 0 ? strerror(errno) : "no progress");
        p += w, bytes -= w, offset += w;
    }
    return VT_OK;
}

/* 0, or the errno of a failed read (EIO for a short file). */
static int read_all(int fd, void *buf, int64_t bytes, int64_t offset)
{
    char *p = buf;
    while (bytes > 0) {
        ssize_t r = pread(fd, p, (size_t)bytes, offset);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno ? errno : EIO;
        if (r == 0) return EIO;
        p += r, bytes -= r, offset += r;
    }
    return 0;
}

/* Spills `rows` unprojected rows (rows × p, float32) of layer L starting at stimulus row0 and
 * records their sums and ROW_* codes. */
static vt_status spill_rows(extract_ctx *c, layer_state *L, const vt_layer_info *layer, const float *data, int64_t rows,
                            int64_t p)
{
    if (!L->sum) {
        L->sum = vt_calloc((size_t)c->n, sizeof *L->sum);
        L->row_code = vt_calloc((size_t)c->n, 1);
        if (!L->sum || !L->row_code) return vt_fail(VT_ERR_NOMEM, "out of memory for layer '%s'", layer->name);
        L->p = p;
        L->spill_off = c->spill_end;
        c->spill_end += 4 * c->n * p;
    } else if (L->p != p) {
        return vt_fail(VT_ERR_INTERNAL, "%s: layer '%s' changed from %lld to %lld features per stimulus", c->model,
                       layer->name, (long long)L->p, (long long)p);
    }
    vt_status st = write_all(c, data, 4 * rows * p, L->spill_off + 4 * c->row0 * p);
    if (st != VT_OK) return st;
    c->spill_done += 4 * rows * p;
#pragma omp parallel for schedule(static) if (rows * p > 65536)
    for (int64_t i = 0; i < rows; i++) {
        const float *r = data + i * p;
        float lo = r[0], hi = r[0];
        double sum = 0;
        for (int64_t k = 0; k < p; k++) {
            sum += (double)r[k];
            lo = r[k] < lo ? r[k] : lo;
            hi = r[k] > hi ? r[k] : hi;
        }
        /* float32 values sum to a finite double unless one is NaN or ±Inf. Exact equality, not a
         * small variance: that is the only case where the correlation is undefined. */
        L->sum[c->row0 + i] = sum;
        L->row_code[c->row0 + i] = !isfinite(sum) ? ROW_NONFINITE : lo == hi ? ROW_CONSTANT : ROW_OK;
    }
    return VT_OK;
}

static vt_status on_layer(void *user, const vt_layer_info *layer, const vt_tensor *t)
{
    extract_ctx *c = user;
    if (layer->index < 0 || layer->index >= c->n_layers)
        return vt_fail(VT_ERR_INTERNAL, "%s: layer index %d out of range", c->model, layer->index);
    if (t->dtype != VT_F32 || t->rank < 1) return VT_OK; /* integer/bool layers (masks, indices) carry no features */
    layer_state *L = &c->layers[layer->index];
    /* Where the stimuli are (the engine locates them at prepare): a dim of its own, or merged with
     * a factor k into one dim — (stimulus, k) or (k, stimulus). Either way the tensor is
     * outer × b × inner, and each stimulus's features are its inner rows in C order. */
    int64_t b = c->batch, outer = 1, inner = 1, k = 1;
    int axis = layer->batch_axis >= 0 ? layer->batch_axis : layer->merged_axis;
    if (axis < 0 || axis >= t->rank) return VT_OK; /* does not depend on the stimuli: no features */
    if (layer->batch_axis < 0) {
        if (t->shape[axis] % b) return VT_OK;
        k = t->shape[axis] / b;
    } else if (t->shape[axis] != b) {
        return vt_fail(VT_ERR_INTERNAL, "%s: layer '%s' holds %lld stimuli on its batch axis, expected %lld", c->model,
                       layer->name, (long long)t->shape[axis], (long long)b);
    }
    for (int d = 0; d < axis; d++) outer *= t->shape[d];
    for (int d = axis + 1; d < t->rank; d++) inner *= t->shape[d];
    if (layer->batch_axis < 0 && layer->merged_outer)
        inner *= k;
    else if (layer->batch_axis < 0)
        outer *= k;
    int64_t p = outer * inner;
    const float *data = t->data;
    if (outer > 1) {
        if (b * p > c->t_cap) {
            float *grown = realloc(c->t, sizeof *grown * (size_t)(b * p));
            if (!grown) return vt_fail(VT_ERR_NOMEM, "out of memory for layer '%s'", layer->name);
            c->t = grown;
            c->t_cap = b * p;
        }
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < b; i++)
                memcpy(c->t + i * p + o * inner, data + (o * b + i) * inner, sizeof *data * (size_t)inner);
        data = c->t;
    }
    if (L->handle < 0) {
        vt_status st = VT_OK;
        L->plan = shared_plan(c, p > 0 ? p : 1);
        L->owns_plan = !L->plan;
        if (!L->plan) st = vt_srp_plan_new(p > 0 ? p : 1, c->k, c->seed, &L->plan);
        if (st != VT_OK) return vt_fail_context(st, "%s: layer '%s': ", c->model, layer->name);
        bool projects = vt_srp_plan_projects(L->plan);
        /* The stored shape is per stimulus: the batch axis removed, so it does not depend on --batch. */
        vt_layer_info per_stimulus = *layer;
        int64_t shape[VT_MAX_RANK];
        per_stimulus.rank = 0;
        for (int d = 0; d < layer->rank; d++)
            if (d != axis)
                shape[per_stimulus.rank++] = layer->shape[d];
            else if (layer->batch_axis < 0)
                shape[per_stimulus.rank++] = k;
        per_stimulus.shape = shape;
        st = vt_features_add_layer(c->writer, &per_stimulus, p, vt_srp_plan_out_dim(L->plan), projects, &L->handle);
        if (st != VT_OK) return st;
        c->projected += projects;
    }
    int64_t width = vt_srp_plan_out_dim(L->plan), rows = c->valid < b ? c->valid : b;
    if (c->rsm && p > 0) {
        vt_status st = spill_rows(c, L, layer, data, rows, p);
        if (st != VT_OK) return st;
    }
    int64_t xs[2] = {rows, p}, zs[2] = {rows, width};
    vt_tensor *x = vt_tensor_wrap(VT_F32, 2, xs, (void *)data);
    if (!x) return VT_ERR_NOMEM;
    if (rows * width > c->z_cap) {
        float *grown = realloc(c->z, sizeof *grown * (size_t)(rows * width));
        if (!grown) {
            vt_tensor_free(x);
            return vt_fail(VT_ERR_NOMEM, "out of memory for layer '%s'", layer->name);
        }
        c->z = grown;
        c->z_cap = rows * width;
    }
    vt_tensor *z = vt_tensor_wrap(VT_F32, 2, zs, c->z);
    vt_status st = z ? vt_srp_apply(L->plan, x, z) : VT_ERR_NOMEM;
    if (st != VT_OK) st = vt_fail_context(st, "%s: layer '%s': ", c->model, layer->name);
    if (st == VT_OK) st = vt_features_write_rows(c->writer, L->handle, c->row0, z);
    vt_tensor_free(x);
    vt_tensor_free(z);
    return st;
}

vt_status vt_extract_image_input(const char *model, vt_graph *g, int frames, int height, int width, int64_t batch,
                                 vt_shape *shape)
{
    if (vt_graph_input_count(g) != 1)
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: extract needs a model with one image input, this one has %d", model,
                       vt_graph_input_count(g));
    const char *name;
    vt_dtype dtype;
    vt_status st = vt_graph_input(g, 0, &name, &dtype, shape);
    if (st != VT_OK) return st;
    int rank = frames ? 5 : 4;
    if (dtype != VT_F32 || shape->rank != rank)
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: input '%s' is not a float32 %s batch%s", model, name,
                       frames ? "N x C x T x H x W clip" : "N x C x H x W image",
                       shape->rank == 5 && !frames  ? " (a video model: give it N x 3 x T x H x W clips in a .npy)"
                       : shape->rank == 4 && frames ? " (an image model: the stimuli are clips)"
                                                    : "");
    int64_t want[5] = {batch, 3};
    if (frames) want[2] = frames;
    want[rank - 2] = height;
    want[rank - 1] = width;
    for (int d = 1; d < rank; d++)
        if (shape->dims[d] > 0 && shape->dims[d] != want[d])
            return vt_fail(VT_ERR_ARG, "%s: input '%s' expects dimension %d = %lld, the stimuli give %lld", model, name,
                           d, (long long)shape->dims[d], (long long)want[d]);
    if (shape->dims[0] > 0 && shape->dims[0] != batch)
        return vt_fail(VT_ERR_ARG, "%s: input '%s' has a fixed batch size %lld; use --batch %lld", model, name,
                       (long long)shape->dims[0], (long long)shape->dims[0]);
    for (int d = 0; d < rank; d++) shape->dims[d] = want[d];
    return VT_OK;
}

/* The folder of `path` ("." when it names none) into buf. */
static void folder_of(const char *path, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, len, ".");
    else if (slash == path)
        snprintf(buf, len, "/");
    else
        snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* Once the first batch has shown every layer: is there room for the rest of the spill, the RSMs
 * and the rest of the features? */
static vt_status check_disk(const extract_ctx *c, const char *out_path)
{
    int64_t spill = c->spill_end - c->spill_done, rsms = 0, features = 0, rows_left = c->n - c->valid;
    for (int i = 0; i < c->n_layers; i++) {
        const layer_state *L = &c->layers[i];
        if (L->handle < 0) continue;
        if (L->sum) rsms += 8 * c->n * c->n; /* float64 */
        features += 4 * rows_left * vt_srp_plan_out_dim(L->plan);
    }
    int64_t need = spill + rsms + features;
    char dir[4096];
    folder_of(out_path, dir, sizeof dir);
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0) return VT_OK; /* unknown: let the writes tell */
    int64_t avail = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    if (avail >= need) return VT_OK;
    return vt_fail(VT_ERR_IO,
                   "%s: not enough free disk for the unprojected RSMs: %lld bytes needed (temporary spill %lld, RSMs "
                   "%lld, features %lld), %lld free in %s",
                   out_path, (long long)need, (long long)spill, (long long)rsms, (long long)features, (long long)avail,
                   dir);
}

/* Pearson RSM of layer L's unprojected rows from the spill: G = Z Zᵀ of the mean-centred rows
 * accumulated in float64 with dsyrk over column panels of at most `width` columns, then
 * R_ij = G_ij / √(G_ii G_jj), diagonal 1, clipped to [−1, 1]; NaN row and column for a stimulus
 * whose features are constant or not finite (as numpy.corrcoef). acc: n × n float64, receives R;
 * panel: n × width float64 workspace; diag: n doubles. */
static vt_status layer_rsm(const extract_ctx *c, const layer_state *L, double *acc, double *panel, int64_t width,
                           double *diag)
{
    int64_t n = c->n, p = L->p;
    width = width < p ? width : p;
    int read_errno = 0;
    for (int64_t j0 = 0; j0 < p; j0 += width) {
        int64_t w = p - j0 < width ? p - j0 : width;
#pragma omp parallel
        {
            float *buf = malloc(sizeof *buf * (size_t)w);
#pragma omp for schedule(dynamic, 4)
            for (int64_t i = 0; i < n; i++) {
                double *z = panel + i * w;
                int err = L->row_code[i] != ROW_OK ? 0
                          : !buf                   ? ENOMEM
                                                   : read_all(c->spill_fd, buf, 4 * w, L->spill_off + 4 * (i * p + j0));
                if (L->row_code[i] != ROW_OK || err) {
                    if (err) {
#pragma omp critical(vt_extract_rsm_read)
                        read_errno = err;
                    }
                    memset(z, 0, sizeof *z * (size_t)w);
                    continue;
                }
                double mean = L->sum[i] / (double)p;
                for (int64_t k = 0; k < w; k++) z[k] = (double)buf[k] - mean;
            }
            free(buf);
        }
        if (read_errno)
            return vt_fail(read_errno == ENOMEM ? VT_ERR_NOMEM : VT_ERR_IO,
                           "%s: cannot read back the temporary spill of unprojected features: %s", c->spill_path,
                           strerror(read_errno));
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)w, 1.0, panel, (int)w, j0 ? 1.0 : 0.0, acc,
                    (int)n);
    }
    for (int64_t i = 0; i < n; i++) diag[i] = acc[i * n + i];
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            double r;
            if (L->row_code[i] != ROW_OK || L->row_code[j] != ROW_OK)
                r = NAN;
            else if (i == j)
                r = 1;
            else
                r = acc[i * n + j] / sqrt(diag[i] * diag[j]);
            r = r > 1 ? 1 : r < -1 ? -1 : r;
            acc[i * n + j] = acc[j * n + i] = r;
        }
    return VT_OK;
}

/* After the last batch: every spilled layer's RSM into the store. */
static vt_status write_rsms(extract_ctx *c, int64_t memory, int *count)
{
    int64_t n = c->n, max_p = 0;
    for (int i = 0; i < c->n_layers; i++)
        if (c->layers[i].sum && c->layers[i].p > max_p) max_p = c->layers[i].p;
    *count = 0;
    if (max_p == 0) return VT_OK;
    if (n > INT_MAX) return vt_fail(VT_ERR_ARG, "unprojected RSMs: %lld stimuli exceed BLAS's limit", (long long)n);
    int64_t width = memory / (8 * n);
    width = width < 1 ? 1 : width > max_p ? max_p : width;
    width = width > INT_MAX ? INT_MAX : width;
    int64_t shape[2] = {n, n};
    vt_tensor *out = vt_tensor_new_uninit(VT_F64, 2, shape);
    double *panel = vt_malloc((size_t)(n * width), sizeof *panel), *diag = vt_malloc((size_t)n, sizeof *diag);
    vt_status st = out && panel && diag ? VT_OK : vt_fail(VT_ERR_NOMEM, "out of memory for the unprojected RSMs");
    for (int i = 0; st == VT_OK && i < c->n_layers; i++) {
        layer_state *L = &c->layers[i];
        if (!L->sum) continue;
        st = layer_rsm(c, L, vt_tensor_f64(out), panel, width, diag);
        if (st == VT_OK) st = vt_features_write_rsm(c->writer, L->handle, out);
        if (st == VT_OK) (*count)++;
    }
    vt_tensor_free(out);
    free(panel);
    free(diag);
    return st;
}

vt_status vt_extract(const char *model_path, vt_stimuli *stimuli, const char *out_path, const vt_extract_options *opt,
                     vt_extract_info *info)
{
    vt_extract_options defaults;
    if (!opt) {
        vt_extract_options_init(&defaults);
        opt = &defaults;
    }
    double t0 = omp_get_wtime();
    if (opt->batch < 1) return vt_fail(VT_ERR_ARG, "batch size must be positive, got %lld", (long long)opt->batch);
    int64_t k = opt->k;
    if (k <= 0) {
        vt_status st = vt_srp_jl_min_dim(stimuli->count, opt->eps, &k);
        if (st != VT_OK) return st;
    }
    int64_t batch = opt->batch < stimuli->count ? opt->batch : stimuli->count;
    char sha[VT_SHA256_HEX];
    vt_status st = vt_sha256_file(model_path, sha);
    if (st != VT_OK) return st;
    vt_graph *g = NULL;
    vt_capture *sel = NULL;
    extract_ctx c = {.k = k, .seed = opt->seed, .model = model_path, .rsm = opt->unprojected_rsm, .spill_fd = -1};
    c.n = stimuli->count;
    float *x = NULL;
    vt_shape shape;
    if ((st = vt_onnx_load(model_path, &g)) != VT_OK) goto done;
    if ((st = vt_extract_image_input(model_path, g, stimuli->frames, stimuli->height, stimuli->width, batch, &shape)) !=
        VT_OK)
        goto done;
    vt_shape declared;
    bool fixed_batch =
        vt_graph_input(g, 0, NULL, NULL, &declared) == VT_OK && declared.rank > 0 && declared.dims[0] > 0;
    if ((st = vt_graph_prepare(g, 1, &shape)) != VT_OK) goto done;
    c.batch = batch;
    c.n_layers = vt_graph_layer_count(g);
    c.layers = vt_calloc((size_t)(c.n_layers ? c.n_layers : 1), sizeof *c.layers);
    if (!c.layers) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < c.n_layers; i++) c.layers[i].handle = -1;
    if (opt->precision != VT_PRECISION_F32 && (st = vt_graph_set_precision(g, opt->precision)) != VT_OK) goto done;
    if ((st = vt_capture_parse(opt->capture ? opt->capture : "all", &sel)) != VT_OK) goto done;
    x = vt_malloc((size_t)(batch * vt_stimuli_item_floats(stimuli)), sizeof *x);
    if (!x) {
        st = VT_ERR_NOMEM;
        goto done;
    }
    vt_features_provenance prov = {.model = model_path,
                                   .model_sha256 = sha,
                                   .transform = stimuli->pretransformed ? "none" : stimuli->transform.name,
                                   .stimuli = stimuli->source,
                                   .capture = opt->capture ? opt->capture : "all",
                                   .precision = vt_precision_name(opt->precision),
                                   .seed = opt->seed,
                                   .eps = opt->k > 0 ? 0 : opt->eps,
                                   .k = k};
    if ((st = vt_features_create(out_path, stimuli->count, stimuli->ids, &prov, &c.writer)) != VT_OK) goto done;
    if (c.rsm) {
        /* The spill lives beside the output and is unlinked at once: the open descriptor keeps it
         * until we close it, and no exit path (a kill included) can leave it behind. */
        size_t len = strlen(out_path) + 40;
        c.spill_path = vt_malloc(len, 1);
        if (!c.spill_path) {
            st = VT_ERR_NOMEM;
            goto done;
        }
        snprintf(c.spill_path, len, "%s.spill-%ld", out_path, (long)getpid());
        c.spill_fd = open(c.spill_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (c.spill_fd < 0) {
            st = vt_fail(VT_ERR_IO, "%s: cannot create the temporary spill of unprojected features: %s", c.spill_path,
                         strerror(errno));
            goto done;
        }
        unlink(c.spill_path);
    }
    int64_t xs[5];
    int xrank = vt_stimuli_input_shape(stimuli, batch, xs);
    vt_tensor *xt = vt_tensor_wrap(VT_F32, xrank, xs, x);
    for (int64_t start = 0; st == VT_OK && start < stimuli->count; start += batch) {
        /* The last batch is padded with zeros to the full batch size, so the engine never
         * re-prepares; only its real rows are written. */
        c.row0 = start;
        c.valid = stimuli->count - start < batch ? stimuli->count - start : batch;
        if (c.valid < batch)
            memset(x + c.valid * vt_stimuli_item_floats(stimuli), 0,
                   sizeof *x * (size_t)((batch - c.valid) * vt_stimuli_item_floats(stimuli)));
        st = vt_stimuli_read(stimuli, start, c.valid, x);
        if (st == VT_OK) st = vt_graph_run(g, 1, (const vt_tensor *const *)&xt, sel, on_layer, &c, NULL);
        if (st == VT_OK && c.rsm && start == 0) st = check_disk(&c, out_path);
        if (st == VT_OK && opt->progress) st = opt->progress(opt->progress_user, start + c.valid, stimuli->count);
    }
    vt_tensor_free(xt);
    double t_rsm = omp_get_wtime();
    int rsms = 0;
    if (st == VT_OK && c.rsm) st = write_rsms(&c, opt->rsm_memory > 0 ? opt->rsm_memory : RSM_MEMORY_DEFAULT, &rsms);
    t_rsm = omp_get_wtime() - t_rsm;
    if (st == VT_OK && vt_features_layer_count(c.writer) == 0 && fixed_batch)
        st = vt_fail(VT_ERR_UNSUPPORTED,
                     "%s: no layer's stimulus axis could be located: the model fixes its batch size, and its graph "
                     "depends on it; export it with a symbolic batch dimension (torch.onnx.export(dynamic_axes=...))",
                     model_path);
    if (st == VT_OK) {
        int layers = vt_features_layer_count(c.writer);
        st = vt_features_commit(c.writer);
        c.writer = NULL;
        if (st == VT_OK && info) {
            info->layers = layers;
            info->projected = c.projected;
            info->k = k;
            info->seconds = omp_get_wtime() - t0;
            info->rsms = rsms;
            info->spill_bytes = c.spill_end;
            info->rsm_seconds = c.rsm ? t_rsm : 0;
        }
    }
done:
    vt_features_abandon(c.writer);
    if (c.spill_fd >= 0) close(c.spill_fd);
    free(c.spill_path);
    for (int i = 0; c.layers && i < c.n_layers; i++) {
        if (c.layers[i].owns_plan) vt_srp_plan_free(c.layers[i].plan);
        free(c.layers[i].sum);
        free(c.layers[i].row_code);
    }
    free(c.layers);
    free(c.z);
    free(c.t);
    free(x);
    vt_capture_free(sel);
    vt_graph_free(g);
    return st;
}
