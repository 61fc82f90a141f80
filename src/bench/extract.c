/* Model → feature store, batch by batch (see extract.h). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
}

/* Per-layer state, created when the layer first reaches the capture callback. */
typedef struct layer_state {
    int handle; /* feature store handle; -1 until first seen */
    vt_srp_plan *plan;
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
} extract_ctx;

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
        vt_status st = vt_srp_plan_new(p > 0 ? p : 1, c->k, c->seed, &L->plan);
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

static vt_status check_input(const char *model, vt_graph *g, const vt_stimuli *s, vt_shape *shape, int64_t batch)
{
    if (vt_graph_input_count(g) != 1)
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: extract needs a model with one image input, this one has %d", model,
                       vt_graph_input_count(g));
    const char *name;
    vt_dtype dtype;
    vt_status st = vt_graph_input(g, 0, &name, &dtype, shape);
    if (st != VT_OK) return st;
    if (dtype != VT_F32 || shape->rank != 4)
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: input '%s' is not a float32 N x C x H x W image batch", model, name);
    int64_t want[4] = {batch, 3, s->height, s->width};
    for (int d = 1; d < 4; d++)
        if (shape->dims[d] > 0 && shape->dims[d] != want[d])
            return vt_fail(VT_ERR_ARG, "%s: input '%s' expects dimension %d = %lld, the stimuli give %lld", model, name,
                           d, (long long)shape->dims[d], (long long)want[d]);
    if (shape->dims[0] > 0 && shape->dims[0] != batch)
        return vt_fail(VT_ERR_ARG, "%s: input '%s' has a fixed batch size %lld; use --batch %lld", model, name,
                       (long long)shape->dims[0], (long long)shape->dims[0]);
    for (int d = 0; d < 4; d++) shape->dims[d] = want[d];
    return VT_OK;
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
    extract_ctx c = {.k = k, .seed = opt->seed, .model = model_path};
    float *x = NULL;
    vt_shape shape;
    if ((st = vt_onnx_load(model_path, &g)) != VT_OK) goto done;
    if ((st = check_input(model_path, g, stimuli, &shape, batch)) != VT_OK) goto done;
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
                                   .seed = opt->seed,
                                   .eps = opt->k > 0 ? 0 : opt->eps,
                                   .k = k};
    if ((st = vt_features_create(out_path, stimuli->count, stimuli->ids, &prov, &c.writer)) != VT_OK) goto done;
    int64_t xs[4] = {batch, 3, stimuli->height, stimuli->width};
    vt_tensor *xt = vt_tensor_wrap(VT_F32, 4, xs, x);
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
        if (st == VT_OK && opt->progress) st = opt->progress(opt->progress_user, start + c.valid, stimuli->count);
    }
    vt_tensor_free(xt);
    if (st == VT_OK) {
        int layers = vt_features_layer_count(c.writer);
        st = vt_features_commit(c.writer);
        c.writer = NULL;
        if (st == VT_OK && info) {
            info->layers = layers;
            info->projected = c.projected;
            info->k = k;
            info->seconds = omp_get_wtime() - t0;
        }
    }
done:
    vt_features_abandon(c.writer);
    for (int i = 0; c.layers && i < c.n_layers; i++) vt_srp_plan_free(c.layers[i].plan);
    free(c.layers);
    free(c.z);
    free(c.t);
    free(x);
    vt_capture_free(sel);
    vt_graph_free(g);
    return st;
}
