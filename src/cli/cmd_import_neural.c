#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/neural.h"

static const char usage[] =
    "usage: ventral import-neural --out B.h5 --netcdf X.nc [--variable NAME] [--time-bin K] [options]\n"
    "       ventral import-neural --out B.h5 --responses R --stimulus-ids IDS [--per-presentation\n"
    "                             [--repetitions REP]] [options]\n"
    "  Imports neural recordings into a brain store (docs/brain_store.md).\n"
    "  --netcdf X.nc       a Brain-Score assembly (Majaj-Hong layout): data over presentation x neuroid\n"
    "                      (optionally x time_bin), stimulus_id and repetition on presentation, other\n"
    "                      presentation coordinates (object_name, category_name, ...) kept as stimulus\n"
    "                      metadata, neuroid_id and region on neuroid\n"
    "  --responses R       R.npy or R.h5:DATASET: stimuli x repetitions x units, stimuli x units, or\n"
    "                      with --per-presentation presentations x units (NaN = missing)\n"
    "  --stimulus-ids IDS  text file (one id per line) or F.h5:DATASET; one per stimulus (per\n"
    "                      presentation with --per-presentation)\n"
    "  --repetitions REP   with --per-presentation: repetition number per presentation (.npy)\n"
    "  --categories FILE   one category label per stimulus (stored as stimulus metadata 'category')\n"
    "  --maps M.npy        spatial maps, stimuli x repetitions x units x H x W (METHODS 11)\n"
    "  --subject S         subject / animal name        --region LABEL   label for every unit\n";

static char **repeat_label(const char *label, int64_t n)
{
    char **s = calloc((size_t)n, sizeof *s);
    for (int64_t i = 0; s && i < n; i++)
        if (!(s[i] = strdup(label))) {
            for (int64_t j = 0; j < i; j++) free(s[j]);
            free(s);
            return NULL;
        }
    return s;
}

static void free_strings(char **s, int64_t n)
{
    if (!s) return;
    for (int64_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

int cmd_import_neural(int argc, char **argv)
{
    enum { O_OUT = 1, O_NC, O_VAR, O_TB, O_RESP, O_IDS, O_PER, O_REP, O_CAT, O_MAPS, O_SUBJ, O_REGION };
    static const struct option opts[] = {{"out", required_argument, 0, O_OUT},
                                         {"netcdf", required_argument, 0, O_NC},
                                         {"variable", required_argument, 0, O_VAR},
                                         {"time-bin", required_argument, 0, O_TB},
                                         {"responses", required_argument, 0, O_RESP},
                                         {"stimulus-ids", required_argument, 0, O_IDS},
                                         {"per-presentation", no_argument, 0, O_PER},
                                         {"repetitions", required_argument, 0, O_REP},
                                         {"categories", required_argument, 0, O_CAT},
                                         {"maps", required_argument, 0, O_MAPS},
                                         {"subject", required_argument, 0, O_SUBJ},
                                         {"region", required_argument, 0, O_REGION},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *out = NULL, *netcdf = NULL, *resp = NULL, *idspec = NULL, *repspec = NULL, *cats = NULL,
               *mapspec = NULL, *subject = NULL, *region = NULL;
    vt_neural_netcdf_options nco = {NULL, -1};
    bool per = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
        case O_OUT: out = optarg; break;
        case O_NC: netcdf = optarg; break;
        case O_VAR: nco.variable = optarg; break;
        case O_TB:
            if (!cli_parse_i64("--time-bin", optarg, &nco.time_bin)) return CLI_USAGE;
            break;
        case O_RESP: resp = optarg; break;
        case O_IDS: idspec = optarg; break;
        case O_PER: per = true; break;
        case O_REP: repspec = optarg; break;
        case O_CAT: cats = optarg; break;
        case O_MAPS: mapspec = optarg; break;
        case O_SUBJ: subject = optarg; break;
        case O_REGION: region = optarg; break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!out) return cli_usage_error("--out is required");
    if (!netcdf == !resp) return cli_usage_error("give exactly one of --netcdf and --responses");
    if (resp && !idspec) return cli_usage_error("--responses needs --stimulus-ids");
    if (repspec && !per) return cli_usage_error("--repetitions goes with --per-presentation");

    vt_brain *b = NULL;
    vt_status st = VT_OK;
    if (netcdf)
        st = vt_neural_from_netcdf(netcdf, &nco, &b);
    else {
        vt_tensor *x = NULL, *rep = NULL, *rep64 = NULL;
        char **ids = NULL;
        int64_t n = 0;
        if (!(st = vt_neural_read_array(resp, &x)) && !(st = vt_neural_read_ids(idspec, &ids, &n))) {
            if (n != x->shape[0])
                st = vt_fail(VT_ERR_ARG, "%s has %lld ids but %s has %lld %s", idspec, (long long)n, resp,
                             (long long)x->shape[0], per ? "presentations" : "stimuli");
            else if (per && x->rank != 2)
                st = vt_fail(VT_ERR_ARG, "%s: --per-presentation expects presentations x units, got rank %d", resp,
                             x->rank);
            else if (per && repspec) {
                if (!(st = vt_npy_read(repspec, &rep)) && !(st = vt_tensor_convert(rep, VT_F64, &rep64)) &&
                    vt_tensor_numel(rep64) != n)
                    st = vt_fail(VT_ERR_ARG, "%s has %lld values, expected one per presentation (%lld)", repspec,
                                 (long long)vt_tensor_numel(rep64), (long long)n);
                if (!st) st = vt_neural_from_presentations(x, ids, vt_tensor_f64(rep64), &b);
            } else if (per)
                st = vt_neural_from_presentations(x, ids, NULL, &b);
            else
                st = vt_neural_from_array(x, ids, &b);
            if (st && !strstr(vt_last_error(), resp) && !strstr(vt_last_error(), idspec))
                vt_fail_context(st, "%s: ", resp);
        }
        free_strings(ids, n);
        vt_tensor_free(x);
        vt_tensor_free(rep);
        vt_tensor_free(rep64);
        if (!st && b) {
            /* The input specs go in as JSON string literals (a path may hold '"' or '\\'). */
            char *qresp = vt_json_quote(resp), *qids = vt_json_quote(idspec);
            size_t cap = qresp && qids ? strlen(qresp) + strlen(qids) + strlen(vt_version()) + 256 : 0;
            if (cap && (b->provenance = malloc(cap)))
                snprintf(b->provenance, cap,
                         "{\"source\": \"array\", \"responses\": %s, \"stimulus_ids\": %s, \"per_presentation\": %s, "
                         "\"ventral\": \"%s\"}",
                         qresp, qids, per ? "true" : "false", vt_version());
            free(qresp);
            free(qids);
            b->source = strdup(strstr(resp, ".h5:") || strstr(resp, ".hdf5:") ? "hdf5" : "npy");
            if (!b->provenance || !b->source) goto nomem;
        }
    }
    if (st) return cli_fail_status();
    if (cats) {
        char **labels = NULL;
        int64_t n = 0;
        if ((st = vt_neural_read_ids(cats, &labels, &n))) goto fail;
        if (n != b->n_stimuli) {
            free_strings(labels, n);
            st = vt_fail(VT_ERR_ARG, "%s has %lld labels but there are %lld stimuli", cats, (long long)n,
                         (long long)b->n_stimuli);
            goto fail;
        }
        if ((st = vt_brain_add_meta(b, "category", labels))) goto fail;
    }
    if (mapspec) {
        vt_tensor *m = NULL;
        if ((st = vt_neural_read_array(mapspec, &m))) goto fail;
        if (m->rank != 5 || m->shape[0] != b->n_stimuli || m->shape[1] != b->n_reps || m->shape[2] != b->n_units) {
            st = vt_fail(VT_ERR_ARG, "%s: maps must be %lld x %lld x %lld x H x W (stimuli x repetitions x units)",
                         mapspec, (long long)b->n_stimuli, (long long)b->n_reps, (long long)b->n_units);
            vt_tensor_free(m);
            goto fail;
        }
        b->maps = m;
    }
    if (subject && !(b->subject = strdup(subject))) goto nomem;
    if (region) {
        free_strings(b->unit_rois, b->n_units);
        if (!(b->unit_rois = repeat_label(region, b->n_units))) goto nomem;
    }
    if ((st = vt_brain_write(out, b))) goto fail;
    printf("%lld stimuli x %lld repetitions x %lld units -> %s\n", (long long)b->n_stimuli, (long long)b->n_reps,
           (long long)b->n_units, out);
    vt_brain_free(b);
    return CLI_OK;
nomem:
    vt_fail(VT_ERR_NOMEM, "out of memory");
fail:
    vt_brain_free(b);
    return cli_fail_status();
}
