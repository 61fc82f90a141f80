/* The simulated world (see simulate.h): stimuli → planted layer features → voxel read-outs. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "io/h5util.h"
#include "ventral/brain.h"
#include "ventral/extract.h"
#include "ventral/rng.h"
#include "ventral/simulate.h"

void vt_sim_options_init(vt_sim_options *o)
{
    memset(o, 0, sizeof *o);
    o->n_stimuli = 240;
    o->size = 64;
    o->subjects = 2;
    o->voxels = 300;
    o->reps = 3;
    o->snr_low = 0.3;
    o->snr_high = 1.5;
    o->seed = 1;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static vt_status write_brick(const char *path, const vt_tensor *images)
{
    vt_h5_out o;
    vt_status st = vt_h5_create(&o, path);
    if (st != VT_OK) return st;
    int64_t chunk[4] = {1, images->shape[1], images->shape[2], 3};
    st = vt_h5_write(o.file, "imgBrick", VT_U8, 4, images->shape, images->data, chunk, -1, path);
    if (st == VT_OK) st = vt_h5_attr_write_str(o.file, "created_by", "ventral simulate", path);
    if (st != VT_OK) {
        vt_h5_abandon(&o);
        return st;
    }
    return vt_h5_commit(&o);
}

/* The planted layer's features (n × w, float64, columns standardised, constant ones dropped). */
static vt_status planted_features(const vt_sim_options *o, const char *brick, vt_tensor **out)
{
    *out = NULL;
    vt_transform tf;
    vt_stimuli *s = NULL;
    vt_features *f = NULL;
    vt_tensor *x = NULL;
    char *tmp = join(o->out_dir, ".planted-features.h5");
    char capture[512];
    snprintf(capture, sizeof capture, "name:%s", o->layer);
    vt_status st = tmp ? vt_transform_preset("none", &tf) : VT_ERR_NOMEM;
    if (st == VT_OK) st = vt_stimuli_open(brick, &tf, &s);
    if (st == VT_OK) {
        vt_extract_options eo;
        vt_extract_options_init(&eo);
        eo.capture = capture;
        eo.seed = o->seed;
        st = vt_extract(o->model, s, tmp, &eo, NULL);
        if (st != VT_OK && strstr(vt_last_error(), "no layer was captured"))
            st = vt_fail(VT_ERR_ARG, "%s: no layer named '%s' (see 'ventral layers %s')", o->model, o->layer, o->model);
    }
    if (st == VT_OK) st = vt_features_open(tmp, &f);
    if (st == VT_OK) st = vt_features_read_layer(f, 0, &x);
    if (st == VT_OK) {
        int64_t n = x->shape[0], w = x->shape[1], kept = 0;
        int64_t shape[2] = {n, w};
        vt_tensor *z = vt_tensor_new(VT_F64, 2, shape);
        if (!z) st = VT_ERR_NOMEM;
        for (int64_t j = 0; z && j < w; j++) {
            double mu = 0, var = 0;
            for (int64_t i = 0; i < n; i++) mu += vt_tensor_f32(x)[i * w + j];
            mu /= (double)n;
            for (int64_t i = 0; i < n; i++) var += pow(vt_tensor_f32(x)[i * w + j] - mu, 2);
            if (var <= 1e-12 * n) continue; /* a dead unit carries no signal */
            double sd = sqrt(var / (double)n);
            for (int64_t i = 0; i < n; i++) vt_tensor_f64(z)[i * w + kept] = (vt_tensor_f32(x)[i * w + j] - mu) / sd;
            kept++;
        }
        if (z && kept == 0) st = vt_fail(VT_ERR_ARG, "%s: layer '%s' is constant over the stimuli", o->model, o->layer);
        if (z) z->shape[1] = kept; /* columns were packed into the first `kept` of each row's slots */
        if (z && kept < w) {
            /* Re-pack rows to the reduced width. */
            double *d = vt_tensor_f64(z);
            for (int64_t i = 0; i < n; i++) memmove(d + i * kept, d + i * w, sizeof *d * (size_t)kept);
        }
        if (st == VT_OK)
            *out = z;
        else
            vt_tensor_free(z);
    }
    vt_tensor_free(x);
    vt_features_free(f);
    vt_stimuli_free(s);
    if (tmp) remove(tmp);
    free(tmp);
    return st;
}

/* One subject: read-out weights, per-voxel SNR and noise from the subject's own RNG streams. */
static vt_status write_subject(const vt_sim_options *o, const vt_tensor *feat, int subj, const char *path,
                               double *snr_out)
{
    int64_t n = feat->shape[0], w = feat->shape[1], v = o->voxels;
    vt_brain *b = vt_brain_new(n, o->reps, v);
    double *signal = vt_malloc((size_t)(n * v), sizeof *signal);
    if (!b || !signal) {
        vt_brain_free(b);
        free(signal);
        return VT_ERR_NOMEM;
    }
    uint64_t seed = o->seed * 1000003u + (uint64_t)subj;
    vt_status st = VT_OK;
#pragma omp parallel for
    for (int64_t u = 0; u < v; u++) {
        vt_rng r = vt_rng_make(seed, (uint64_t)u);
        double *wt = malloc(sizeof *wt * (size_t)w);
        if (!wt) continue;
        for (int64_t j = 0; j < w; j++) wt[j] = vt_rng_normal(&r);
        double mu = 0, var = 0;
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t j = 0; j < w; j++) s += vt_tensor_f64(feat)[i * w + j] * wt[j];
            signal[i * v + u] = s;
            mu += s;
        }
        mu /= (double)n;
        for (int64_t i = 0; i < n; i++) var += pow(signal[i * v + u] - mu, 2);
        double sd = sqrt(var / (double)n);
        for (int64_t i = 0; i < n; i++) signal[i * v + u] = sd > 0 ? (signal[i * v + u] - mu) / sd : 0;
        snr_out[u] = o->snr_low + (o->snr_high - o->snr_low) * vt_rng_uniform(&r);
        float *resp = vt_tensor_f32(b->responses);
        for (int64_t i = 0; i < n; i++)
            for (int k = 0; k < o->reps; k++)
                resp[(i * o->reps + k) * v + u] = (float)(signal[i * v + u] + vt_rng_normal(&r) / snr_out[u]);
        free(wt);
    }
    char buf[128];
    b->unit_rois = vt_calloc((size_t)v, sizeof *b->unit_rois);
    b->unit_ids = vt_calloc((size_t)v, sizeof *b->unit_ids);
    b->unit_ncsnr = vt_calloc((size_t)v, sizeof *b->unit_ncsnr);
    if (!b->unit_rois || !b->unit_ids || !b->unit_ncsnr) st = VT_ERR_NOMEM;
    for (int64_t i = 0; st == VT_OK && i < n; i++) {
        snprintf(buf, sizeof buf, "%lld", (long long)(i + 1));
        if (!(b->stimulus_ids[i] = strdup(buf))) st = VT_ERR_NOMEM;
    }
    for (int64_t u = 0; st == VT_OK && u < v; u++) {
        snprintf(buf, sizeof buf, "v%05lld", (long long)u);
        b->unit_ids[u] = strdup(buf);
        b->unit_rois[u] = strdup(u < v / 2 ? "ventral" : "lateral");
        b->unit_ncsnr[u] = (float)snr_out[u];
        if (!b->unit_ids[u] || !b->unit_rois[u]) st = VT_ERR_NOMEM;
    }
    char prov[1024];
    snprintf(prov, sizeof prov,
             "{\"source\": \"ventral simulate\", \"planted_model\": \"%s\", \"planted_layer\": \"%s\", \"seed\": %llu, "
             "\"snr\": [%g, %g], \"repetitions\": %d}",
             o->model, o->layer, (unsigned long long)o->seed, o->snr_low, o->snr_high, o->reps);
    snprintf(buf, sizeof buf, "sim%02d", subj);
    b->subject = strdup(buf);
    b->source = strdup("simulate");
    b->provenance = strdup(prov);
    if (st == VT_OK && (!b->subject || !b->source || !b->provenance)) st = VT_ERR_NOMEM;
    if (st == VT_OK) st = vt_brain_write(path, b);
    vt_brain_free(b);
    free(signal);
    return st;
}

static vt_status write_truth(const vt_sim_options *o, const double *snr)
{
    char *path = join(o->out_dir, "truth.json");
    if (!path) return VT_ERR_NOMEM;
    vt_atomic_file af;
    vt_status st = vt_atomic_open(&af, path);
    free(path);
    if (st != VT_OK) return st;
    fprintf(
        af.f,
        "{\n  \"planted_model\": \"%s\",\n  \"planted_layer\": \"%s\",\n  \"stimuli\": %lld,\n  \"image_size\": %d,\n"
        "  \"repetitions\": %d,\n  \"seed\": %llu,\n  \"subjects\": [\n",
        o->model, o->layer, (long long)o->n_stimuli, o->size, o->reps, (unsigned long long)o->seed);
    for (int s = 0; s < o->subjects; s++) {
        /* The NSD noise ceiling for r repetitions: 100 snr² / (snr² + 1/r), per voxel. */
        double mean_snr = 0, mean_nc = 0;
        for (int64_t u = 0; u < o->voxels; u++) {
            double x = snr[s * o->voxels + u];
            mean_snr += x;
            mean_nc += 100 * x * x / (x * x + 1.0 / o->reps);
        }
        fprintf(af.f,
                "    {\"subject\": \"sim%02d\", \"file\": \"subj%02d.h5\", \"voxels\": %lld, \"mean_snr\": %.6f, "
                "\"mean_noise_ceiling\": %.6f}%s\n",
                s + 1, s + 1, (long long)o->voxels, mean_snr / o->voxels, mean_nc / o->voxels,
                s + 1 < o->subjects ? "," : "");
    }
    fprintf(af.f, "  ]\n}\n");
    return vt_atomic_commit(&af);
}

vt_status vt_simulate(const vt_sim_options *o)
{
    if (!o->out_dir || !o->model || !o->layer)
        return vt_fail(VT_ERR_ARG, "simulate: out_dir, model and layer are required");
    if (o->subjects < 1 || o->voxels < 2 || o->reps < 2 || !(o->snr_low > 0) || o->snr_high < o->snr_low)
        return vt_fail(VT_ERR_ARG,
                       "simulate: need >= 1 subject, >= 2 voxels, >= 2 repetitions and 0 < snr_low <= snr_high");
    vt_status made = vt_mkdirs(o->out_dir);
    if (made != VT_OK) return made;
    vt_tensor *images = NULL, *feat = NULL;
    char *brick = join(o->out_dir, "nsd_stimuli.hdf5");
    double *snr = vt_malloc((size_t)(o->subjects * o->voxels), sizeof *snr);
    vt_status st = brick && snr ? vt_sim_stimuli(o->n_stimuli, o->size, o->seed, &images, NULL) : VT_ERR_NOMEM;
    if (st == VT_OK) st = write_brick(brick, images);
    if (st == VT_OK) st = planted_features(o, brick, &feat);
    for (int s = 0; st == VT_OK && s < o->subjects; s++) {
        char name[32];
        snprintf(name, sizeof name, "subj%02d.h5", s + 1);
        char *path = join(o->out_dir, name);
        st = path ? write_subject(o, feat, s + 1, path, snr + s * o->voxels) : VT_ERR_NOMEM;
        free(path);
    }
    if (st == VT_OK) st = write_truth(o, snr);
    vt_tensor_free(images);
    vt_tensor_free(feat);
    free(brick);
    free(snr);
    return st;
}
