/* The simulated world (see simulate.h): stimuli → planted layer features → voxel read-outs,
 * written as raw NSD files (DIR/nsd, the release layout) and assembled into brain stores by the
 * NSD assembler, the code path of `ventral nsd assemble`. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/extract_internal.h"
#include "io/atomic_file.h"
#include "io/h5util.h"
#include "io/nsd_internal.h"
#include "ventral/brain.h"
#include "ventral/extract.h"
#include "ventral/nsd.h"
#include "ventral/onnx.h"
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

/* ---- the world's geometry ------------------------------------------------------------------ */

/* Every subject has the same grid: NX × NY planes, as many as the voxels need. x = 0 and
 * x = NX − 1 lie outside the brain (nsdgeneral −1, betas zero, as in NSD's files); y = 0 is early
 * visual cortex (nsdgeneral 1, streams 1) and y = NY − 1 non-visual cortex (nsdgeneral 0), both
 * pure noise; the (NX − 2)(NY − 2) voxels between are the simulated units in flat order, the first
 * half in streams 'ventral' (5), the rest in 'lateral' (6), with a few floc patches so NSD's
 * default ROI set also assembles. Slots left over in the last plane are non-visual noise. */
enum { NX = 12, NY = 10, SLOTS = (NX - 2) * (NY - 2), N_VOL = 7 };
static const char *const volume_names[N_VOL] = {"brainmask",   "nsdgeneral",  "streams",   "floc-faces",
                                                "floc-bodies", "floc-places", "floc-words"};
#define SIM_ROIS "streams:ventral,streams:lateral"

typedef struct grid {
    int64_t dims[3], nvox, units;
    int64_t *unit_voxel; /* flat voxel index of unit u, ascending */
    int64_t *voxel_unit; /* unit of a flat voxel, −1 for the others */
    int16_t *vol;        /* N_VOL label volumes of nvox each */
} grid;

static void grid_free(grid *g)
{
    free(g->unit_voxel);
    free(g->voxel_unit);
    free(g->vol);
}

static vt_status grid_make(int64_t units, grid *g)
{
    memset(g, 0, sizeof *g);
    int64_t nz = (units + SLOTS - 1) / SLOTS;
    g->dims[0] = NX, g->dims[1] = NY, g->dims[2] = nz, g->nvox = NX * NY * nz, g->units = units;
    g->unit_voxel = vt_malloc((size_t)units, sizeof *g->unit_voxel);
    g->voxel_unit = vt_malloc((size_t)g->nvox, sizeof *g->voxel_unit);
    g->vol = vt_calloc((size_t)(g->nvox * N_VOL), sizeof *g->vol);
    if (!g->unit_voxel || !g->voxel_unit || !g->vol) {
        grid_free(g);
        return vt_fail(VT_ERR_NOMEM, "simulate: out of memory");
    }
    for (int64_t f = 0; f < g->nvox; f++) {
        int64_t x = f % NX, y = (f / NX) % NY, z = f / (NX * NY);
        int16_t *lab[N_VOL];
        for (int a = 0; a < N_VOL; a++) lab[a] = g->vol + a * g->nvox + f;
        g->voxel_unit[f] = -1;
        if (x == 0 || x == NX - 1) {
            *lab[1] = -1; /* outside the brain */
            continue;
        }
        *lab[0] = 1; /* brainmask */
        if (y == 0) {
            *lab[1] = 1, *lab[2] = 1; /* early visual */
            continue;
        }
        int64_t k = z * SLOTS + (y - 1) * (NX - 2) + (x - 1);
        if (y == NY - 1 || k >= units) continue; /* non-visual cortex */
        bool ventral = k < units / 2;
        g->voxel_unit[f] = k;
        g->unit_voxel[k] = f;
        *lab[1] = 1;
        *lab[2] = ventral ? 5 : 6;
        bool lo = x <= 3 && y <= 3, hi = x >= NX - 4 && y >= NY - 4;
        if (ventral) {
            *lab[3] = lo ? 2 : 0;                         /* FFA-1 */
            *lab[5] = hi ? 2 : 0;                         /* PPA */
            *lab[6] = x >= 5 && x <= 6 && y <= 2 ? 2 : 0; /* VWFA-1 */
        } else {
            *lab[4] = lo ? 1 : 0; /* EBA */
            *lab[5] = hi ? 1 : 0; /* OPA */
        }
    }
    return VT_OK;
}

/* Sessions of equal length covering every trial (the assembler needs equal lengths): the
 * requested count, or the divisor of n_trials whose session length is nearest
 * min(750, n_trials / 4) — NSD's 750 trials per session, and at least ~4 sessions so that
 * repetitions mostly fall in different sessions, as in NSD. */
static vt_status plan_sessions(int64_t n_trials, int requested, int *sessions, int64_t *trials)
{
    if (requested > 0) {
        if (requested > 99 || n_trials % requested != 0)
            return vt_fail(VT_ERR_ARG, "simulate: %d sessions cannot split %lld trials evenly (at most 99 sessions)",
                           requested, (long long)n_trials);
        *sessions = requested, *trials = n_trials / requested;
        return VT_OK;
    }
    double target = fmin(750, fmax(1, n_trials / 4.0));
    int64_t best = n_trials;
    for (int64_t t = 1; t <= n_trials; t++) {
        if (n_trials % t || n_trials / t > 99) continue;
        if (fabs((double)t - target) < fabs((double)best - target) ||
            (fabs((double)t - target) == fabs((double)best - target) && t > best))
            best = t;
    }
    *sessions = (int)(n_trials / best), *trials = best;
    return VT_OK;
}

/* ---- stimuli and the planted features ---------------------------------------------------- */

static vt_status write_brick(const char *path, const vt_tensor *images)
{
    vt_h5_out o;
    vt_status st = vt_h5_create(&o, path);
    if (st != VT_OK) return st;
    int64_t chunk[4] = {1, images->shape[1], images->shape[2], 3};
    st = vt_h5_write(o.file, "imgBrick", VT_U8, 4, images->shape, images->data, chunk, -1, path);
    if (st != VT_OK) {
        vt_h5_abandon(&o);
        return st;
    }
    return vt_h5_commit(&o);
}

/* DIR/nsd_stimuli.hdf5: a relative symbolic link to the brick in the NSD layout (a copy where the
 * file system has no links), so configurations naming it keep working. */
static vt_status link_brick(const char *out_dir, const vt_tensor *images)
{
    char *path = join(out_dir, "nsd_stimuli.hdf5");
    if (!path) return vt_fail(VT_ERR_NOMEM, "simulate: out of memory");
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    vt_status st = VT_OK;
    if (!tmp) st = vt_fail(VT_ERR_NOMEM, "simulate: out of memory");
    if (!st) {
        snprintf(tmp, n, "%s.tmp-%ld", path, (long)getpid());
        unlink(tmp);
        if (symlink("nsd/" VT_NSD_STIMULI, tmp) != 0 || rename(tmp, path) != 0) {
            unlink(tmp);
            st = write_brick(path, images);
        }
    }
    free(tmp);
    free(path);
    return st;
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
    /* The layer by its exact name: a glob term with fnmatch's metacharacters escaped (a comma would
     * split the capture spec, so such a name cannot be selected this way). */
    char capture[1100];
    size_t len = (size_t)snprintf(capture, sizeof capture, "name:");
    vt_status st = VT_OK;
    for (const char *c = o->layer; *c; c++) {
        if (*c == ',' || len + 3 >= sizeof capture) {
            st = vt_fail(VT_ERR_UNSUPPORTED,
                         "--layer '%s': a layer name with a comma, or this long, cannot be selected", o->layer);
            break;
        }
        if (strchr("\\*?[", *c)) capture[len++] = '\\';
        capture[len++] = *c;
    }
    capture[len] = '\0';
    if (st == VT_OK) st = tmp ? vt_transform_preset("none", &tf) : VT_ERR_NOMEM;
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

/* ---- the design ------------------------------------------------------------------------------ */

typedef struct design {
    int64_t n_trials, trials; /* all trials; per session */
    int sessions;
    double *masterordering; /* n_trials, 1-based columns of subjectim */
    double *subjectim;      /* 8 × n_stimuli, 1-based ids */
    int64_t *trial_image;   /* n_trials: 0-based brick row shown (the same for every subject) */
} design;

static void design_free(design *d)
{
    free(d->masterordering);
    free(d->subjectim);
    free(d->trial_image);
}

/* NSD's scheme at the world's size: every image is shared (sharedix = all ids, ascending, so the
 * stores list the stimuli in brick order); subjectim's rows hold the same seeded permutation of
 * the ids (shared images sit in the same columns for every subject, as in NSD); masterordering
 * is one seeded shuffle of reps presentations of every column, cut into equal sessions. */
static vt_status design_make(const vt_sim_options *o, const char *root, design *d)
{
    int64_t n = o->n_stimuli;
    d->n_trials = n * o->reps;
    vt_status st = plan_sessions(d->n_trials, o->sessions, &d->sessions, &d->trials);
    if (st) return st;
    d->masterordering = vt_malloc((size_t)d->n_trials, sizeof *d->masterordering);
    d->subjectim = vt_malloc((size_t)(8 * n), sizeof *d->subjectim);
    d->trial_image = vt_malloc((size_t)d->n_trials, sizeof *d->trial_image);
    double *sharedix = vt_malloc((size_t)n, sizeof *sharedix);
    if (!d->masterordering || !d->subjectim || !d->trial_image || !sharedix) {
        free(sharedix);
        return vt_fail(VT_ERR_NOMEM, "simulate: out of memory");
    }
    vt_rng r = vt_rng_make(o->seed, UINT64_MAX - 1);
    for (int64_t i = 0; i < n; i++) sharedix[i] = (double)(i + 1), d->subjectim[i] = (double)(i + 1);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)vt_rng_below(&r, (uint64_t)i + 1);
        double t = d->subjectim[i];
        d->subjectim[i] = d->subjectim[j], d->subjectim[j] = t;
    }
    for (int s = 1; s < 8; s++) memcpy(d->subjectim + s * n, d->subjectim, sizeof *d->subjectim * (size_t)n);
    for (int64_t k = 0; k < d->n_trials; k++) d->masterordering[k] = (double)(k % n + 1);
    for (int64_t k = d->n_trials - 1; k > 0; k--) {
        int64_t j = (int64_t)vt_rng_below(&r, (uint64_t)k + 1);
        double t = d->masterordering[k];
        d->masterordering[k] = d->masterordering[j], d->masterordering[j] = t;
    }
    for (int64_t k = 0; k < d->n_trials; k++)
        d->trial_image[k] = (int64_t)d->subjectim[(int64_t)d->masterordering[k] - 1] - 1;
    st = vt_nsd_write_design(root, d->masterordering, d->n_trials, d->subjectim, 8, n, sharedix, n);
    free(sharedix);
    return st;
}

/* ---- one subject ------------------------------------------------------------------------------ */

/* What the subject's units are: planted SNR and the expected NCSNR after the assembler's
 * per-session z-scoring (see expected_ncsnr). */
typedef struct unit_truth {
    double snr, expected_ncsnr;
} unit_truth;

/* Betas are in percent signal change: beta = offset_s + gain_s · amp · (signal + noise / snr),
 * signal standardised over the stimuli, noise standard normal, amp = 2 / sqrt(1 + 1/snr²) (a
 * total sd of 2 %), offset_s ~ N(0, 1) % and gain_s ~ 1 + 0.3 U(0, 1) per session and voxel —
 * drifts that NSD's per-session z-scoring removes.
 *
 * z-scoring with a session's own mean and sd is not free: they are estimates from T trials, and
 * repetitions in different sessions get different estimates, which adds variance across
 * repetitions. In units of the voxel's total variance (= 1 after z-scoring), to first order in
 * 1/T, the added noise variance is
 *     eps = f · (1 + (kurt_x − 1)/4) / T · (N − T)/(N − 1)
 * where f = snr² / (1 + snr²) is the signal's share of the variance (only the signal's share
 * counts: a session's noise scales its own total and noise alike), 1/T is the variance of the
 * session mean, (kurt_x − 1)/(4T) that of the relative session sd (kurt_x, the kurtosis of one
 * trial's value, from the signal's kurtosis kurt_s and Gaussian noise), and (N − T)/(N − 1) the
 * chance that two repetitions fall in different sessions (N trials in all). int16 storage adds
 * (1/300)² / 12 per trial, scaled by 1/gain². So the noise share is 1/(1 + snr²) + eps + quant
 * and the expected NCSNR sqrt((1 − share) / share). Checked against a numpy simulation of the
 * same design (Gaussian signal; 60–180 trials per session; snr 0.3–4): within 0.5 %. Skewed,
 * heavy-tailed read-outs (those of ReLU layers) deviate more: the NCSNR estimated on tinycnn's
 * /Relu_3 worlds falls ~2 % below this at 30 trials per session; at 120–180 the two agree within
 * sampling error (≲ 1 %). */
static double expected_ncsnr(double snr, double kurt_s, double inv_gain2, int64_t n_trials, int64_t trials, double amp)
{
    double b2 = 1 / (snr * snr), tot = 1 + b2;
    double kurt_x = (kurt_s + 6 * b2 + 3 * b2 * b2) / (tot * tot);
    double f = 1 / tot;
    double eps = n_trials > 1 ? f * (1 + (kurt_x - 1) / 4) / (double)trials * (double)(n_trials - trials) /
                                    (double)(n_trials - 1)
                              : 0;
    double quant = (1.0 / 300) * (1.0 / 300) / 12 * inv_gain2 / (amp * amp * tot);
    double share = b2 / tot + eps + quant;
    return share >= 1 ? 0 : sqrt((1 - share) / share);
}

static vt_status simulate_subject(const vt_sim_options *o, const vt_tensor *feat, const design *d, const grid *g,
                                  int subj, const char *root, unit_truth *truth)
{
    int64_t n = feat->shape[0], w = feat->shape[1], v = o->voxels, nvox = g->nvox, T = d->trials;
    int S = d->sessions;
    uint64_t seed = o->seed * 1000003u + (uint64_t)subj;
    double *signal = vt_malloc((size_t)(n * v), sizeof *signal);
    double *drift = vt_malloc((size_t)(nvox * S * 2), sizeof *drift); /* offset, gain per voxel and session */
    int16_t *betas = vt_malloc((size_t)(T * nvox), sizeof *betas);
    float *ncsnr = vt_calloc((size_t)nvox, sizeof *ncsnr);
    double *amp = vt_malloc((size_t)v, sizeof *amp), *kurt = vt_malloc((size_t)v, sizeof *kurt);
    vt_status st = VT_OK;
    if (!signal || !drift || !betas || !ncsnr || !amp || !kurt) {
        st = vt_fail(VT_ERR_NOMEM, "simulate: out of memory");
        goto done;
    }
    /* Units: read-out weights, signal and SNR from the unit's own stream (noise continues it). */
    int failed = 0;
#pragma omp parallel for reduction(| : failed)
    for (int64_t u = 0; u < v; u++) {
        vt_rng r = vt_rng_make(seed, (uint64_t)u);
        double *wt = malloc(sizeof *wt * (size_t)w);
        if (!wt) {
            failed = 1;
            continue;
        }
        for (int64_t j = 0; j < w; j++) wt[j] = vt_rng_normal(&r);
        double mu = 0, var = 0, m4 = 0;
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t j = 0; j < w; j++) s += vt_tensor_f64(feat)[i * w + j] * wt[j];
            signal[i * v + u] = s;
            mu += s;
        }
        mu /= (double)n;
        for (int64_t i = 0; i < n; i++) var += pow(signal[i * v + u] - mu, 2);
        double sd = sqrt(var / (double)n);
        for (int64_t i = 0; i < n; i++) {
            double s = sd > 0 ? (signal[i * v + u] - mu) / sd : 0;
            signal[i * v + u] = s;
            m4 += s * s * s * s;
        }
        double snr = o->snr_low + (o->snr_high - o->snr_low) * vt_rng_uniform(&r);
        truth[u].snr = snr;
        kurt[u] = m4 / (double)n;
        amp[u] = 2 / sqrt(1 + 1 / (snr * snr));
        ncsnr[g->unit_voxel[u]] = (float)snr;
        free(wt);
    }
    if (failed) {
        st = vt_fail(VT_ERR_NOMEM, "simulate: out of memory");
        goto done;
    }
    /* Session drifts of every brain voxel, from streams of their own. */
    for (int64_t f = 0; f < nvox; f++) {
        vt_rng r = vt_rng_make(seed, (2ull << 40) + (uint64_t)f);
        for (int s = 0; s < S; s++) {
            drift[(f * S + s) * 2] = vt_rng_normal(&r);
            drift[(f * S + s) * 2 + 1] = 1 + 0.3 * vt_rng_uniform(&r);
        }
    }
    for (int64_t u = 0; u < v; u++) {
        double inv_g2 = 0;
        for (int s = 0; s < S; s++) inv_g2 += 1 / pow(drift[(g->unit_voxel[u] * S + s) * 2 + 1], 2);
        truth[u].expected_ncsnr = expected_ncsnr(truth[u].snr, kurt[u], inv_g2 / S, d->n_trials, T, amp[u]);
    }
    const int16_t *vols[N_VOL];
    for (int a = 0; a < N_VOL; a++) vols[a] = g->vol + a * nvox;
    if ((st = vt_nsd_write_volumes(root, subj, g->dims, N_VOL, volume_names, vols, ncsnr))) goto done;

    /* The sessions: unit u's noise for trial k is draw 2w + 1 + 2k of its stream (after its weights
     * and SNR), other brain voxels' from streams of their own; zero outside the brain. */
    uint64_t noise_at = 2 * (uint64_t)w + 1;
    for (int s = 0; s < S && !st; s++) {
#pragma omp parallel for
        for (int64_t f = 0; f < nvox; f++) {
            int64_t u = g->voxel_unit[f];
            bool brain = g->vol[f] != 0;
            double off = drift[(f * S + s) * 2], gain = drift[(f * S + s) * 2 + 1];
            for (int64_t t = 0; t < T; t++) {
                int64_t k = s * T + t;
                double beta = 0;
                if (u >= 0) {
                    vt_rng r = {seed, (uint64_t)u, noise_at + 2 * (uint64_t)k};
                    double x = signal[d->trial_image[k] * v + u] + vt_rng_normal(&r) / truth[u].snr;
                    beta = off + gain * amp[u] * x;
                } else if (brain) {
                    vt_rng r = {seed, (1ull << 40) + (uint64_t)f, 2 * (uint64_t)k};
                    beta = off + gain * 2 * vt_rng_normal(&r);
                }
                betas[t * nvox + f] = vt_nsd_beta_i16(beta);
            }
        }
        st = vt_nsd_write_session(root, subj, s + 1, g->dims, T, betas, true);
    }
    if (!st) st = vt_nsd_trim_sessions(root, subj, S);
done:
    free(signal);
    free(drift);
    free(betas);
    free(ncsnr);
    free(amp);
    free(kurt);
    return st;
}

/* The subject's brain store, by the NSD assembler: the options `ventral nsd assemble --root
 * DIR/nsd --subject N --rois streams:ventral,streams:lateral --ncsnr none` gives. */
static vt_status assemble_subject(const vt_sim_options *o, const char *root, int subj)
{
    vt_nsd_assemble_options ao;
    vt_nsd_assemble_defaults(&ao);
    ao.root = root;
    ao.subject = subj;
    ao.rois = SIM_ROIS;
    ao.ncsnr = NAN; /* every unit of the ROIs, whatever its SNR */
    vt_brain *b = NULL;
    vt_status st = vt_nsd_assemble(&ao, &b);
    if (!st && (b->n_units != o->voxels || b->n_stimuli != o->n_stimuli || b->n_reps != o->reps))
        st = vt_fail(VT_ERR_INTERNAL, "simulate: subject %d assembled to %lld x %lld x %lld, expected %lld x %d x %lld",
                     subj, (long long)b->n_stimuli, (long long)b->n_reps, (long long)b->n_units,
                     (long long)o->n_stimuli, o->reps, (long long)o->voxels);
    char name[32];
    snprintf(name, sizeof name, "subj%02d.h5", subj);
    char *path = st ? NULL : join(o->out_dir, name);
    if (!st) st = path ? vt_brain_write(path, b) : vt_fail(VT_ERR_NOMEM, "simulate: out of memory");
    free(path);
    vt_brain_free(b);
    return st;
}

/* ---- ground truth ---------------------------------------------------------------------------- */

static double noise_ceiling(double ncsnr, int reps)
{
    return 100 * ncsnr * ncsnr / (ncsnr * ncsnr + 1.0 / reps);
}

/* DIR/truth_subjNN.tsv: one row per unit, in the store's order. */
static vt_status write_unit_truth(const vt_sim_options *o, const grid *g, int subj, const unit_truth *t)
{
    char name[32];
    snprintf(name, sizeof name, "truth_subj%02d.tsv", subj);
    char *path = join(o->out_dir, name);
    if (!path) return vt_fail(VT_ERR_NOMEM, "simulate: out of memory");
    vt_atomic_file af;
    vt_status st = vt_atomic_open(&af, path);
    free(path);
    if (st) return st;
    fprintf(af.f, "unit\troi\tsnr\texpected_ncsnr\tnoise_ceiling\texpected_noise_ceiling\n");
    for (int64_t u = 0; u < o->voxels; u++)
        fprintf(af.f, "v%lld\t%s\t%.9g\t%.9g\t%.9g\t%.9g\n", (long long)g->unit_voxel[u],
                g->vol[2 * g->nvox + g->unit_voxel[u]] == 5 ? "streams:ventral" : "streams:lateral", t[u].snr,
                t[u].expected_ncsnr, noise_ceiling(t[u].snr, o->reps), noise_ceiling(t[u].expected_ncsnr, o->reps));
    return vt_atomic_commit(&af);
}

static vt_status write_truth(const vt_sim_options *o, const design *d, const unit_truth *t)
{
    /* Quoted before the file is opened: out of memory leaves no file behind. */
    char *qmodel = vt_json_quote(o->model), *qlayer = qmodel ? vt_json_quote(o->layer) : NULL;
    char *path = qlayer ? join(o->out_dir, "truth.json") : NULL;
    if (!path) {
        /* vt_json_quote recorded its own message; join records none */
        vt_status nomem = qlayer ? vt_fail(VT_ERR_NOMEM, "simulate: out of memory") : VT_ERR_NOMEM;
        free(qmodel);
        free(qlayer);
        return nomem;
    }
    vt_atomic_file af;
    vt_status st = vt_atomic_open(&af, path);
    free(path);
    if (st != VT_OK) {
        free(qmodel);
        free(qlayer);
        return st;
    }
    fprintf(af.f, "{\n  \"planted_model\": %s,\n  \"planted_layer\": %s", qmodel, qlayer);
    free(qmodel);
    free(qlayer);
    fprintf(af.f,
            ",\n  \"stimuli\": %lld,\n  \"image_size\": %d,\n"
            "  \"repetitions\": %d,\n  \"seed\": %llu,\n  \"snr\": [%.17g, %.17g],\n  \"nsd_root\": \"nsd\",\n"
            "  \"sessions\": %d,\n  \"trials_per_session\": %lld,\n"
            "  \"assemble\": {\"rois\": \"%s\", \"within\": \"nsdgeneral\", \"ncsnr\": null, \"images\": \"shared\"},\n"
            "  \"zscore\": \"expected_* values include the per-session z-scoring of the NSD assembler (first order in "
            "1/trials_per_session) and int16 storage; see docs/bench.md\",\n  \"subjects\": [\n",
            (long long)o->n_stimuli, o->size, o->reps, (unsigned long long)o->seed, o->snr_low, o->snr_high,
            d->sessions, (long long)d->trials, SIM_ROIS);
    for (int s = 0; s < o->subjects; s++) {
        /* The NSD noise ceiling for r repetitions: 100 ncsnr² / (ncsnr² + 1/r), per voxel. */
        double mean_snr = 0, mean_nc = 0, mean_e = 0, mean_enc = 0;
        for (int64_t u = 0; u < o->voxels; u++) {
            const unit_truth *x = &t[s * o->voxels + u];
            mean_snr += x->snr;
            mean_nc += noise_ceiling(x->snr, o->reps);
            mean_e += x->expected_ncsnr;
            mean_enc += noise_ceiling(x->expected_ncsnr, o->reps);
        }
        double nv = (double)o->voxels;
        fprintf(af.f,
                "    {\"subject\": \"subj%02d\", \"file\": \"subj%02d.h5\", \"units\": \"truth_subj%02d.tsv\", "
                "\"voxels\": %lld, \"mean_snr\": %.6f, \"mean_noise_ceiling\": %.6f, \"expected_mean_ncsnr\": %.6f, "
                "\"expected_mean_noise_ceiling\": %.6f}%s\n",
                s + 1, s + 1, s + 1, (long long)o->voxels, mean_snr / nv, mean_nc / nv, mean_e / nv, mean_enc / nv,
                s + 1 < o->subjects ? "," : "");
    }
    fprintf(af.f, "  ]\n}\n");
    return vt_atomic_commit(&af);
}

/* Before anything is written: the model takes the simulated images in the batches the planted layer's
 * extraction will use and has that layer, so that the common mistakes (another model's layer name, a
 * model of another input) leave no half-built world behind. */
static vt_status check_model(const vt_sim_options *o)
{
    vt_extract_options eo;
    vt_extract_options_init(&eo);
    vt_graph *g = NULL;
    vt_shape in;
    vt_status st = vt_onnx_load(o->model, &g);
    if (st == VT_OK)
        st = vt_extract_image_input(o->model, g, 0, o->size, o->size, eo.batch < o->n_stimuli ? eo.batch : o->n_stimuli,
                                    &in);
    if (st == VT_OK) {
        vt_graph_set_locate_stimuli(g, false);
        st = vt_graph_prepare(g, 1, &in);
    }
    bool found = false;
    for (int i = 0; st == VT_OK && !found && i < vt_graph_layer_count(g); i++) {
        vt_layer_info l;
        st = vt_graph_layer(g, i, &l);
        found = st == VT_OK && strcmp(l.name, o->layer) == 0;
    }
    if (st == VT_OK && !found)
        st = vt_fail(VT_ERR_ARG, "%s: no layer named '%s' (see 'ventral layers %s')", o->model, o->layer, o->model);
    vt_graph_free(g);
    return st;
}

vt_status vt_simulate(const vt_sim_options *o)
{
    if (!o->out_dir || !o->model || !o->layer)
        return vt_fail(VT_ERR_ARG, "simulate: out_dir, model and layer are required");
    if (o->subjects < 1 || o->subjects > 8 || o->voxels < 2 || o->reps < 2 || o->n_stimuli < 2 || o->sessions < 0 ||
        !(o->snr_low > 0) || o->snr_high < o->snr_low || !isfinite(o->snr_high))
        return vt_fail(VT_ERR_ARG, "simulate: need 1..8 subjects (NSD's design has 8), >= 2 stimuli, >= 2 voxels, "
                                   ">= 2 repetitions and 0 < snr_low <= snr_high");
    int sessions;
    int64_t trials;
    vt_status st = plan_sessions(o->n_stimuli * o->reps, o->sessions, &sessions, &trials);
    if (!st) st = check_model(o);
    if (!st) st = vt_mkdirs(o->out_dir);
    if (st != VT_OK) return st;
    vt_h5_quiet();
    vt_tensor *images = NULL, *feat = NULL;
    char *root = join(o->out_dir, "nsd"), *brick = join(o->out_dir, "nsd/" VT_NSD_STIMULI);
    unit_truth *truth = vt_calloc((size_t)(o->subjects * o->voxels), sizeof *truth);
    design d = {0};
    grid g = {0};
    if (!root || !brick || !truth) st = vt_fail(VT_ERR_NOMEM, "simulate: out of memory");
    if (!st) st = vt_sim_stimuli(o->n_stimuli, o->size, o->seed, &images, NULL);
    if (!st) st = vt_nsd_write_stimuli(root, images);
    if (!st) st = link_brick(o->out_dir, images);
    if (!st) st = planted_features(o, brick, &feat);
    if (!st) st = design_make(o, root, &d);
    if (!st) st = grid_make(o->voxels, &g);
    for (int s = 0; !st && s < o->subjects; s++) {
        unit_truth *t = truth + s * o->voxels;
        st = simulate_subject(o, feat, &d, &g, s + 1, root, t);
        if (!st) st = assemble_subject(o, root, s + 1);
        if (!st) st = write_unit_truth(o, &g, s + 1, t);
    }
    if (!st) st = write_truth(o, &d, truth);
    design_free(&d);
    grid_free(&g);
    vt_tensor_free(images);
    vt_tensor_free(feat);
    free(root);
    free(brick);
    free(truth);
    return st;
}
