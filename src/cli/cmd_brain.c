#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "ventral/brain.h"

static const char usage[] =
    "usage: ventral brain info B.h5 [--json]\n"
    "       ventral brain export B.h5 --to DIR [--roi LABEL]\n"
    "  info    reads a brain store (docs/brain_store.md), checks it and prints its sizes, trial counts\n"
    "          and metadata; --json: one JSON object instead of text\n"
    "  export  writes the store as plain files for the .npy commands (reliability, rsm, ridge, ...):\n"
    "          DIR/responses.npy (float32 stimuli x repetitions x units, NaN = missing), DIR/mean.npy\n"
    "          (float64 stimuli x units, mean of the present trials), DIR/stimulus_ids.txt,\n"
    "          DIR/units.tsv (id, roi, i, j, k, ncsnr), DIR/stimuli.tsv (metadata columns) and\n"
    "          DIR/maps.npy when the store has maps; --roi keeps the units of one ROI\n";

/* Writes `"key": <v as a JSON string literal or null><sep>` to f; false (last error set) when out of memory. */
static bool json_str(FILE *f, const char *key, const char *v, const char *sep)
{
    char *qk = vt_json_quote(key), *qv = vt_json_quote(v);
    if (qk && qv) fprintf(f, "%s: %s%s", qk, qv, sep);
    bool ok = qk && qv;
    free(qk);
    free(qv);
    return ok;
}

static int info(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0}};
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (argc - optind != 1) return cli_usage_error("expected one brain store, got %d arguments", argc - optind);
    const char *path = argv[optind];
    vt_brain *b = NULL;
    if (vt_brain_read(path, &b) != VT_OK) return cli_fail_status();
    int32_t *counts = calloc((size_t)b->n_stimuli, sizeof *counts);
    if (!counts) {
        vt_brain_free(b);
        return cli_error("out of memory");
    }
    vt_brain_trial_counts(b, counts);
    int64_t hist[4] = {0}, missing = 0, total = vt_tensor_numel(b->responses);
    for (int64_t s = 0; s < b->n_stimuli; s++) hist[counts[s] > 3 ? 3 : counts[s]]++;
    const float *r = vt_tensor_f32(b->responses);
    for (int64_t i = 0; i < total; i++) missing += isnan(r[i]);
    bool ok = true;
    if (json) {
        /* Built in memory and printed whole, so that a failure prints no half object. */
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        ok = f != NULL;
        if (ok) {
            fprintf(f, "{");
            ok = json_str(f, "file", path, ", ") && json_str(f, "subject", b->subject, ", ") &&
                 json_str(f, "source", b->source, ", ");
            fprintf(f, "\"stimuli\": %lld, \"repetitions\": %lld, \"units\": %lld, \"missing_values\": %lld, ",
                    (long long)b->n_stimuli, (long long)b->n_reps, (long long)b->n_units, (long long)missing);
            fprintf(f, "\"stimuli_with_trials\": [%lld, %lld, %lld, %lld], ", (long long)hist[0], (long long)hist[1],
                    (long long)hist[2], (long long)hist[3]);
            ok = ok && json_str(f, "first_stimulus", b->stimulus_ids[0], ", ");
            fprintf(f, "\"meta\": [");
            for (int m = 0; m < b->n_meta && ok; m++) {
                char *q = vt_json_quote(b->meta_names[m]);
                if (q) fprintf(f, "%s%s", m ? ", " : "", q);
                ok = q != NULL;
                free(q);
            }
            fprintf(f, "], \"has_rois\": %s, \"has_ijk\": %s, \"has_ncsnr\": %s, ", b->unit_rois ? "true" : "false",
                    b->unit_ijk ? "true" : "false", b->unit_ncsnr ? "true" : "false");
            if (b->maps)
                fprintf(f, "\"maps\": [%lld, %lld], ", (long long)b->maps->shape[3], (long long)b->maps->shape[4]);
            else
                fprintf(f, "\"maps\": null, ");
            ok = ok && json_str(f, "provenance", b->provenance, "}\n");
            if (fclose(f) != 0 && ok) {
                vt_fail(VT_ERR_NOMEM, "out of memory");
                ok = false;
            }
        } else
            vt_fail(VT_ERR_NOMEM, "out of memory");
        if (ok) fputs(text, stdout);
        free(text);
    } else {
        printf("%s: %lld stimuli x %lld repetitions x %lld units (%s, subject %s)\n", path, (long long)b->n_stimuli,
               (long long)b->n_reps, (long long)b->n_units, b->source ? b->source : "unknown source",
               b->subject ? b->subject : "-");
        printf("stimuli with 0/1/2/3+ trials: %lld/%lld/%lld/%lld; missing values "
               "%lld of %lld\n",
               (long long)hist[0], (long long)hist[1], (long long)hist[2], (long long)hist[3], (long long)missing,
               (long long)total);
        for (int m = 0; m < b->n_meta; m++) printf("stimulus metadata: %s\n", b->meta_names[m]);
        if (b->maps)
            printf("spatial maps: %lld x %lld per trial\n", (long long)b->maps->shape[3], (long long)b->maps->shape[4]);
    }
    free(counts);
    vt_brain_free(b);
    return ok ? CLI_OK : cli_fail_status();
}

/* Writes text to dir/name atomically; prints the error and returns false on
 * failure. */
static bool write_text(const char *dir, const char *name, char *text, size_t len)
{
    char *path = cli_join(dir, name);
    vt_atomic_file af;
    bool ok = path && vt_atomic_open(&af, path) == VT_OK;
    if (ok && vt_atomic_write(&af, text, len) != VT_OK)
        vt_atomic_abandon(&af), ok = false;
    else if (ok)
        ok = vt_atomic_commit(&af) == VT_OK;
    if (!ok) cli_fail_status();
    free(path);
    return ok;
}

static bool write_npy(const char *dir, const char *name, const vt_tensor *t)
{
    char *path = cli_join(dir, name);
    bool ok = path && vt_npy_write(path, t) == VT_OK;
    if (!ok) cli_fail_status();
    free(path);
    return ok;
}

static int export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, 0, 't'}, {"roi", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0}};
    const char *dir = NULL, *roi = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 't')
            dir = optarg;
        else if (c == 'r')
            roi = optarg;
        else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (argc - optind != 1) return cli_usage_error("expected one brain store");
    if (!dir) return cli_usage_error("--to DIR is required");
    const char *path = argv[optind];
    vt_brain *b = NULL;
    if (vt_brain_read(path, &b) != VT_OK) return cli_fail_status();
    if (roi && vt_brain_select_roi(b, roi) != VT_OK) {
        vt_brain_free(b);
        return cli_error("%s: %s", path, vt_last_error());
    }
    vt_tensor *mean = NULL;
    bool ok = cli_mkdir(dir) && write_npy(dir, "responses.npy", b->responses);
    if (ok && vt_brain_trial_mean(b, &mean) != VT_OK) ok = cli_fail_status() && false;
    ok = ok && write_npy(dir, "mean.npy", mean) && (!b->maps || write_npy(dir, "maps.npy", b->maps));
    char *text = NULL;
    size_t len = 0;
    FILE *f = ok ? open_memstream(&text, &len) : NULL;
    if (ok && f) {
        for (int64_t s = 0; s < b->n_stimuli; s++) fprintf(f, "%s\n", b->stimulus_ids[s]);
        fclose(f);
        ok = write_text(dir, "stimulus_ids.txt", text, len);
        free(text), text = NULL;
    }
    if (ok && (f = open_memstream(&text, &len))) {
        fprintf(f, "id\troi\ti\tj\tk\tncsnr\n");
        for (int64_t u = 0; u < b->n_units; u++) {
            if (b->unit_ids)
                fprintf(f, "%s", b->unit_ids[u]);
            else
                fprintf(f, "u%lld", (long long)u);
            fprintf(f, "\t%s", b->unit_rois ? b->unit_rois[u] : "");
            if (b->unit_ijk)
                fprintf(f, "\t%d\t%d\t%d", b->unit_ijk[3 * u], b->unit_ijk[3 * u + 1], b->unit_ijk[3 * u + 2]);
            else
                fprintf(f, "\t\t\t");
            if (b->unit_ncsnr)
                fprintf(f, "\t%.9g\n", b->unit_ncsnr[u]);
            else
                fprintf(f, "\t\n");
        }
        fclose(f);
        ok = write_text(dir, "units.tsv", text, len);
        free(text), text = NULL;
    }
    if (ok && (f = open_memstream(&text, &len))) {
        fprintf(f, "stimulus_id");
        for (int m = 0; m < b->n_meta; m++) fprintf(f, "\t%s", b->meta_names[m]);
        fprintf(f, "\n");
        for (int64_t s = 0; s < b->n_stimuli; s++) {
            fprintf(f, "%s", b->stimulus_ids[s]);
            for (int m = 0; m < b->n_meta; m++) fprintf(f, "\t%s", b->meta[m][s]);
            fprintf(f, "\n");
        }
        fclose(f);
        ok = write_text(dir, "stimuli.tsv", text, len);
        free(text);
    }
    if (ok)
        printf("%s: %lld stimuli x %lld repetitions x %lld units -> %s\n", path, (long long)b->n_stimuli,
               (long long)b->n_reps, (long long)b->n_units, dir);
    vt_tensor_free(mean);
    vt_brain_free(b);
    return ok ? CLI_OK : CLI_FAIL;
}

int cmd_brain(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("%s", usage);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "info") == 0) {
        cli_command = "brain info";
        return info(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "export") == 0) {
        cli_command = "brain export";
        return export(argc - 1, argv + 1);
    }
    return cli_usage_error("unknown sub-command '%s' (expected: info, export)", argv[1]);
}
