#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/brain.h"

static const char usage[] =
    "usage: ventral brain info B.h5 [--json]\n"
    "  Reads a brain store (docs/brain_store.md), checks it and prints its sizes, trial counts and\n"
    "  metadata. --json: one JSON object instead of text.\n";

static void json_str(const char *key, const char *v, const char *sep)
{
    printf("\"%s\": ", key);
    if (!v) {
        printf("null%s", sep);
        return;
    }
    putchar('"');
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if ((unsigned char)*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    printf("\"%s", sep);
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
    if (json) {
        printf("{");
        json_str("file", path, ", ");
        json_str("subject", b->subject, ", ");
        json_str("source", b->source, ", ");
        printf("\"stimuli\": %lld, \"repetitions\": %lld, \"units\": %lld, \"missing_values\": %lld, ",
               (long long)b->n_stimuli, (long long)b->n_reps, (long long)b->n_units, (long long)missing);
        printf("\"stimuli_with_trials\": [%lld, %lld, %lld, %lld], ", (long long)hist[0], (long long)hist[1],
               (long long)hist[2], (long long)hist[3]);
        json_str("first_stimulus", b->stimulus_ids[0], ", ");
        printf("\"meta\": [");
        for (int m = 0; m < b->n_meta; m++) printf("%s\"%s\"", m ? ", " : "", b->meta_names[m]);
        printf("], \"has_rois\": %s, \"has_ijk\": %s, \"has_ncsnr\": %s, ", b->unit_rois ? "true" : "false",
               b->unit_ijk ? "true" : "false", b->unit_ncsnr ? "true" : "false");
        if (b->maps)
            printf("\"maps\": [%lld, %lld], ", (long long)b->maps->shape[3], (long long)b->maps->shape[4]);
        else
            printf("\"maps\": null, ");
        json_str("provenance", b->provenance, "}\n");
    } else {
        printf("%s: %lld stimuli x %lld repetitions x %lld units (%s, subject %s)\n", path, (long long)b->n_stimuli,
               (long long)b->n_reps, (long long)b->n_units, b->source ? b->source : "unknown source",
               b->subject ? b->subject : "-");
        printf("stimuli with 0/1/2/3+ trials: %lld/%lld/%lld/%lld; missing values %lld of %lld\n", (long long)hist[0],
               (long long)hist[1], (long long)hist[2], (long long)hist[3], (long long)missing, (long long)total);
        for (int m = 0; m < b->n_meta; m++) printf("stimulus metadata: %s\n", b->meta_names[m]);
        if (b->maps)
            printf("spatial maps: %lld x %lld per trial\n", (long long)b->maps->shape[3], (long long)b->maps->shape[4]);
    }
    free(counts);
    vt_brain_free(b);
    return CLI_OK;
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
    return cli_usage_error("unknown sub-command '%s' (expected: info)", argv[1]);
}
