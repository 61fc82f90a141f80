/* Brain store library: write/read round trip of every field, validation errors, trial counts,
 * grouping of presentations into stimuli x repetitions, and the tiny NSD assembled end to end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ventral/brain.h"
#include "ventral/maps.h"
#include "ventral/neural.h"
#include "ventral/nsd.h"
#include "vt_test.h"

static char tmpdir[256];

static const char *tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static vt_brain *sample(void)
{
    vt_brain *b = vt_brain_new(3, 2, 4);
    float *r = vt_tensor_f32(b->responses);
    for (int i = 0; i < 3 * 2 * 4; i++) r[i] = (float)i * 0.5f;
    for (int u = 0; u < 4; u++) r[(2 * 2 + 1) * 4 + u] = NAN; /* stimulus 2 has one trial */
    for (int s = 0; s < 3; s++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", s);
        b->stimulus_ids[s] = strdup(id);
    }
    b->unit_rois = calloc(4, sizeof *b->unit_rois);
    b->unit_ijk = calloc(12, sizeof *b->unit_ijk);
    b->unit_ncsnr = calloc(4, sizeof *b->unit_ncsnr);
    for (int u = 0; u < 4; u++) {
        b->unit_rois[u] = strdup(u < 2 ? "V4" : "IT");
        b->unit_ijk[3 * u + 2] = u;
        b->unit_ncsnr[u] = 0.25f * (float)u;
    }
    char **cat = calloc(3, sizeof *cat);
    for (int s = 0; s < 3; s++) cat[s] = strdup(s ? "face" : "body");
    vt_brain_add_meta(b, "category", cat);
    int64_t mshape[5] = {3, 2, 4, 2, 3};
    b->maps = vt_tensor_new(VT_F32, 5, mshape);
    for (int i = 0; i < 3 * 2 * 4 * 6; i++) vt_tensor_f32(b->maps)[i] = (float)i;
    b->subject = strdup("m1");
    b->source = strdup("test");
    b->provenance = strdup("{\"k\": 1}");
    return b;
}

static void test_round_trip(void)
{
    vt_brain *b = sample(), *c = NULL;
    CHECK(vt_brain_write(tmp("b.h5"), b) == VT_OK);
    CHECK(vt_brain_read(tmp("b.h5"), &c) == VT_OK);
    if (!c) return;
    CHECK(c->n_stimuli == 3 && c->n_reps == 2 && c->n_units == 4);
    const float *x = vt_tensor_f32(b->responses), *y = vt_tensor_f32(c->responses);
    int same = 1;
    for (int i = 0; i < 24; i++) same &= isnan(x[i]) ? isnan(y[i]) : x[i] == y[i];
    CHECK(same);
    CHECK(strcmp(c->stimulus_ids[2], "s2") == 0 && strcmp(c->unit_ids[3], "u3") == 0);
    CHECK(strcmp(c->unit_rois[3], "IT") == 0 && c->unit_ijk[3 * 3 + 2] == 3 && c->unit_ncsnr[2] == 0.5f);
    CHECK(vt_brain_meta(c, "category") && strcmp(vt_brain_meta(c, "category")[1], "face") == 0);
    CHECK(c->maps && c->maps->shape[4] == 3 && vt_tensor_f32(c->maps)[143] == 143.0f);
    CHECK(strcmp(c->subject, "m1") == 0 && strcmp(c->source, "test") == 0 && strcmp(c->provenance, "{\"k\": 1}") == 0);
    int32_t counts[3];
    vt_brain_trial_counts(c, counts);
    CHECK(counts[0] == 2 && counts[1] == 2 && counts[2] == 1);
    vt_brain_free(b);
    vt_brain_free(c);
}

static void test_validation(void)
{
    vt_brain *b = sample();
    free(b->stimulus_ids[1]);
    b->stimulus_ids[1] = strdup("s0");
    CHECK(vt_brain_write(tmp("dup.h5"), b) == VT_ERR_ARG && strstr(vt_last_error(), "more than once"));
    struct stat sb;
    CHECK(stat(tmp("dup.h5"), &sb) != 0); /* nothing written on failure */
    free(b->stimulus_ids[1]);
    b->stimulus_ids[1] = NULL;
    CHECK(vt_brain_validate(b) == VT_ERR_ARG && strstr(vt_last_error(), "no id"));
    b->stimulus_ids[1] = strdup("s1");
    vt_tensor_f32(b->responses)[5] = INFINITY;
    CHECK(vt_brain_validate(b) == VT_ERR_ARG && strstr(vt_last_error(), "infinite"));
    vt_brain_free(b);
    CHECK(vt_brain_new(0, 1, 1) == NULL);
    vt_brain *c = NULL;
    CHECK(vt_brain_read(tmp("nope.h5"), &c) == VT_ERR_IO && c == NULL && strstr(vt_last_error(), "nope.h5"));
}

static void test_presentations(void)
{
    /* 5 presentations of 2 stimuli, scrambled repetition numbers. */
    double x[5 * 2] = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50};
    int64_t shape[2] = {5, 2};
    vt_tensor *t = vt_tensor_wrap(VT_F64, 2, shape, x);
    char *ids[5] = {"b", "a", "b", "b", "a"};
    double rep[5] = {2, 1, 0, 1, 0};
    vt_brain *b = NULL;
    CHECK(vt_neural_from_presentations(t, ids, rep, &b) == VT_OK);
    if (b) {
        const float *r = vt_tensor_f32(b->responses);
        CHECK(b->n_stimuli == 2 && b->n_reps == 3 && strcmp(b->stimulus_ids[0], "b") == 0);
        /* b: reps 0,1,2 = presentations 2,3,0; a: reps 0,1 = presentations 4,1; a's third is NaN. */
        CHECK(r[0] == 3 && r[2] == 4 && r[4] == 1 && r[6] == 5 && r[8] == 2 && isnan(r[10]) && r[7] == 50);
    }
    vt_brain_free(b);
    vt_tensor_free(t);
}

static void test_tiny_nsd(void)
{
    CHECK(vt_nsd_make_tiny(tmp("tiny"), 3) == VT_OK);
    vt_nsd_assemble_options o;
    vt_nsd_assemble_defaults(&o);
    o.root = tmp("tiny");
    o.subject = 2;
    vt_brain *h = NULL, *n = NULL;
    CHECK(vt_nsd_assemble(&o, &h) == VT_OK);
    o.format = "nifti";
    CHECK(vt_nsd_assemble(&o, &n) == VT_OK);
    if (h && n) {
        CHECK(h->n_units == n->n_units && h->n_stimuli == n->n_stimuli && h->n_reps == 3);
        const float *a = vt_tensor_f32(h->responses), *c = vt_tensor_f32(n->responses);
        int same = 1;
        for (int64_t i = 0; i < vt_tensor_numel(h->responses); i++) same &= isnan(a[i]) ? isnan(c[i]) : a[i] == c[i];
        CHECK(same);
        /* z-scored per session: every selected voxel's values are finite where present. */
        int32_t *counts = calloc((size_t)h->n_stimuli, sizeof *counts);
        vt_brain_trial_counts(h, counts);
        int mixed = 0;
        for (int64_t s = 0; s < h->n_stimuli; s++) mixed |= counts[s] < 3;
        CHECK(mixed); /* subject 2 stopped after 2 of 3 sessions */
        free(counts);
    }
    vt_brain_free(h);
    vt_brain_free(n);
    o.subject = 3;
    CHECK(vt_nsd_assemble(&o, &h) != VT_OK && strstr(vt_last_error(), "subject 3"));
}

static void test_select_roi(void)
{
    vt_brain *b = sample();
    free(b->unit_rois[1]);
    b->unit_rois[1] = strdup("streams:ventral+floc-faces:FFA-1");
    CHECK(vt_brain_select_roi(b, "floc-faces") == VT_OK && b->n_units == 1);
    CHECK(strcmp(b->unit_rois[0], "streams:ventral+floc-faces:FFA-1") == 0 && b->unit_ijk[2] == 1);
    CHECK(vt_tensor_f32(b->responses)[1] == 2.5f && vt_tensor_f32(b->maps)[5] == 11.0f); /* old unit 1 */
    CHECK(vt_brain_write(tmp("sel.h5"), b) == VT_OK);
    CHECK(vt_brain_select_roi(b, "floc") == VT_ERR_ARG); /* a prefix of an atlas name is not a match */
    vt_brain_free(b);
    b = sample();
    vt_tensor *u = NULL;
    CHECK(vt_brain_units_first(b, &u) == VT_OK && u->shape[0] == 4 && u->shape[1] == 3 && u->shape[2] == 2);
    CHECK(vt_tensor_f64(u)[(3 * 3 + 1) * 2 + 1] == vt_tensor_f32(b->responses)[(1 * 2 + 1) * 4 + 3]);
    vt_tensor_free(u);
    vt_brain_free(b);
}

static void test_maps(void)
{
    /* Spearman with a tie; reference value from scipy.stats.spearmanr([1,2,3,4,5], [2,1,4,4,6]). */
    double a[5] = {1, 2, 3, 4, 5}, c[5] = {2, 1, 4, 4, 6}, scratch[10];
    CHECK_CLOSE(vt_maps_spearman(a, c, 5, scratch), 0.8720815992723809, 1e-12, 0);
    double k[5] = {3, 3, 3, 3, 3};
    CHECK(isnan(vt_maps_spearman(a, k, 5, scratch)));
    /* Model maps equal to the trial-mean neural maps score 1 at every site. */
    int64_t shape[5] = {4, 2, 3, 2, 3}, mshape[4] = {4, 3, 2, 3}, sites = 3;
    vt_tensor *m = vt_tensor_new(VT_F32, 5, shape), *model = vt_tensor_new(VT_F64, 4, mshape);
    vt_tensor *out = vt_tensor_new(VT_F64, 1, &sites);
    for (int64_t i = 0; i < vt_tensor_numel(m); i++) vt_tensor_f32(m)[i] = (float)((i * 7919) % 23);
    for (int64_t s = 0; s < 4; s++)
        for (int64_t u = 0; u < 3; u++)
            for (int64_t p = 0; p < 6; p++)
                vt_tensor_f64(model)[(s * 3 + u) * 6 + p] = ((double)vt_tensor_f32(m)[((s * 2 + 0) * 3 + u) * 6 + p] +
                                                             vt_tensor_f32(m)[((s * 2 + 1) * 3 + u) * 6 + p]) /
                                                            2;
    CHECK(vt_maps_score(model, m, out) == VT_OK);
    CHECK_CLOSE(vt_tensor_f64(out)[0], 1, 1e-12, 0);
    CHECK_CLOSE(vt_tensor_f64(out)[2], 1, 1e-12, 0);
    CHECK(vt_maps_split_half(m, 3, 1, out) == VT_OK);
    vt_tensor_f32(m)[7] = NAN; /* a NaN inside a present map */
    CHECK(vt_maps_split_half(m, 3, 1, out) == VT_ERR_ARG && strstr(vt_last_error(), "NaN"));
    vt_tensor_free(m);
    vt_tensor_free(model);
    vt_tensor_free(out);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vt-test-brain-%ld", (long)getpid());
    mkdir(tmpdir, 0777);
    RUN(test_round_trip);
    RUN(test_validation);
    RUN(test_presentations);
    RUN(test_tiny_nsd);
    RUN(test_select_roi);
    RUN(test_maps);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return vt_test_summary();
}
