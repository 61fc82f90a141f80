#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "ventral/analysis.h"
#include "ventral/results.h"

static const char usage[] =
    "usage: ventral results <action> --db R.sqlite [options]\n"
    "  export  --format csv|json [--out FILE] [--run N]   every score joined with its model, layer, subject,\n"
    "                                                     ROI and metric (to stdout without --out)\n"
    "  import  [--csv FILE] [--rsms FILE [--embed]] [--batch N]\n"
    "                                                     scores in the export's CSV format (creates the\n"
    "                                                     database if missing; re-importing is idempotent);\n"
    "                                                     RSM vectors: CSV run_id,model,model_sha256,\n"
    "                                                     layer_index,kind,subject,roi,npy\n"
    "  summary [--run N] [--metric M] [--roi R] [--bootstrap N] [--seed S] [--level L] [--json] [--out FILE]\n"
    "                                                     per (metric, ROI): best-train-layer test scores, mean\n"
    "                                                     over subjects with bootstrap CIs, ranking, Spearman\n"
    "                                                     correlations, grouped comparisons\n"
    "  model-rsa --kind K --out M.npy [--subject S | --mean-subjects] [--roi R]\n"
    "            [--method pearson|spearman|kendall] [--run N]\n"
    "                                                     model x model correlations of the stored RSM vectors\n"
    "                                                     of kind K (e.g. crsa, versa), or their mean over\n"
    "                                                     subjects; prints the model order\n"
    "  select  [--run N]                                  recompute the selected-layer flags from train scores\n"
    "  info                                               row counts and runs\n"
    "  --run N: one run (default: the newest run with scores; export: every run).\n";

enum {
    O_DB = 1,
    O_FORMAT,
    O_OUT,
    O_RUN,
    O_CSV,
    O_RSMS,
    O_EMBED,
    O_BATCH,
    O_METRIC,
    O_ROI,
    O_BOOT,
    O_SEED,
    O_LEVEL,
    O_JSON,
    O_KIND,
    O_SUBJECT,
    O_METHOD,
    O_MEAN
};

typedef struct args {
    const char *db, *format, *out, *csv, *rsms, *metric, *roi, *kind, *subject, *method;
    int64_t run, batch, boot, seed;
    double level;
    bool run_given, embed, json, mean_subjects;
} args;

static int parse(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, O_DB},
        {"format", required_argument, 0, O_FORMAT},
        {"out", required_argument, 0, O_OUT},
        {"run", required_argument, 0, O_RUN},
        {"csv", required_argument, 0, O_CSV},
        {"rsms", required_argument, 0, O_RSMS},
        {"embed", no_argument, 0, O_EMBED},
        {"batch", required_argument, 0, O_BATCH},
        {"metric", required_argument, 0, O_METRIC},
        {"roi", required_argument, 0, O_ROI},
        {"bootstrap", required_argument, 0, O_BOOT},
        {"seed", required_argument, 0, O_SEED},
        {"level", required_argument, 0, O_LEVEL},
        {"json", no_argument, 0, O_JSON},
        {"kind", required_argument, 0, O_KIND},
        {"subject", required_argument, 0, O_SUBJECT},
        {"method", required_argument, 0, O_METHOD},
        {"mean-subjects", no_argument, 0, O_MEAN},
        {"help", no_argument, 0, 'h'},
        {0},
    };
    memset(a, 0, sizeof *a);
    a->batch = 1000;
    a->boot = 1000;
    a->level = 0.95;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_DB: a->db = optarg; break;
        case O_FORMAT: a->format = optarg; break;
        case O_OUT: a->out = optarg; break;
        case O_RUN:
            if (!cli_parse_i64("--run", optarg, &a->run)) return CLI_USAGE;
            if (a->run < 1) return cli_usage_error("--run expects a run id >= 1");
            a->run_given = true;
            break;
        case O_CSV: a->csv = optarg; break;
        case O_RSMS: a->rsms = optarg; break;
        case O_EMBED: a->embed = true; break;
        case O_BATCH:
            if (!cli_parse_i64("--batch", optarg, &a->batch)) return CLI_USAGE;
            if (a->batch < 0) return cli_usage_error("--batch expects a count >= 0");
            break;
        case O_METRIC: a->metric = optarg; break;
        case O_ROI: a->roi = optarg; break;
        case O_BOOT:
            if (!cli_parse_i64("--bootstrap", optarg, &a->boot)) return CLI_USAGE;
            if (a->boot < 0 || a->boot > 1000000) return cli_usage_error("--bootstrap expects 0..1000000 resamples");
            break;
        case O_SEED:
            if (!cli_parse_i64("--seed", optarg, &a->seed)) return CLI_USAGE;
            break;
        case O_LEVEL:
            if (!cli_parse_double("--level", optarg, &a->level)) return CLI_USAGE;
            if (!(a->level > 0 && a->level < 1)) return cli_usage_error("--level expects a number in (0, 1)");
            break;
        case O_JSON: a->json = true; break;
        case O_KIND: a->kind = optarg; break;
        case O_SUBJECT: a->subject = optarg; break;
        case O_METHOD: a->method = optarg; break;
        case O_MEAN: a->mean_subjects = true; break;
        case 'h': return printf("%s", usage), -1;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!a->db) return cli_usage_error("--db R.sqlite is required");
    return CLI_OK;
}

/* Output to --out (atomically) or stdout. */
typedef struct sink {
    vt_atomic_file af;
    FILE *f;
} sink;

static int sink_open(sink *s, const char *out)
{
    memset(s, 0, sizeof *s);
    if (!out) {
        s->f = stdout;
        return CLI_OK;
    }
    if (vt_atomic_open(&s->af, out) != VT_OK) return cli_fail_status();
    s->f = s->af.f;
    return CLI_OK;
}

static int sink_close(sink *s, vt_status st)
{
    if (s->f == stdout) return st == VT_OK ? (fflush(stdout), CLI_OK) : cli_fail_status();
    if (st != VT_OK) {
        vt_atomic_abandon(&s->af);
        return cli_fail_status();
    }
    return vt_atomic_commit(&s->af) == VT_OK ? CLI_OK : cli_fail_status();
}

static int resolve_run(vt_results *db, args *a)
{
    if (a->run_given) return CLI_OK;
    if (vt_results_latest_run(db, &a->run) != VT_OK) return cli_fail_status();
    if (a->run == 0) return cli_error("%s: the database holds no scores", a->db);
    return CLI_OK;
}

static int do_export(vt_results *db, args *a)
{
    vt_results_format fmt;
    if (!a->format) return cli_usage_error("export needs --format csv|json");
    if (strcmp(a->format, "csv") == 0)
        fmt = VT_RESULTS_CSV;
    else if (strcmp(a->format, "json") == 0)
        fmt = VT_RESULTS_JSON;
    else
        return cli_usage_error("--format must be csv or json, got '%s'", a->format);
    sink s;
    if (sink_open(&s, a->out) != CLI_OK) return CLI_FAIL;
    return sink_close(&s, vt_results_export(db, a->run, fmt, s.f));
}

static int do_import(vt_results *db, args *a)
{
    if (!a->csv && !a->rsms) return cli_usage_error("import needs --csv FILE and/or --rsms FILE");
    int64_t n = 0, nr = 0;
    if (a->csv && vt_results_import_csv(db, a->csv, a->batch, &n) != VT_OK) return cli_fail_status();
    if (a->rsms && vt_results_import_rsms(db, a->rsms, a->embed, &nr) != VT_OK) return cli_fail_status();
    if (a->csv) printf("imported %lld score rows from %s\n", (long long)n, a->csv);
    if (a->rsms) printf("imported %lld RSM vectors from %s\n", (long long)nr, a->rsms);
    return CLI_OK;
}

static int do_summary(vt_results *db, args *a)
{
    if (resolve_run(db, a) != CLI_OK) return CLI_FAIL;
    vt_analysis_opts o = {.n_boot = (int)a->boot, .seed = (uint64_t)a->seed, .level = a->level};
    sink s;
    if (sink_open(&s, a->out) != CLI_OK) return CLI_FAIL;
    if (!a->json) fprintf(s.f, "run %lld of %s\n\n", (long long)a->run, a->db);
    return sink_close(&s, vt_analysis_write_db(db, a->run, a->metric, a->roi, &o, a->json, s.f));
}

static int do_model_rsa(vt_results *db, args *a)
{
    if (!a->kind || !a->out) return cli_usage_error("model-rsa needs --kind K and --out M.npy");
    if (resolve_run(db, a) != CLI_OK) return CLI_FAIL;
    char **names = NULL;
    vt_tensor *m = NULL;
    if (a->mean_subjects && a->subject) return cli_usage_error("--subject and --mean-subjects exclude each other");
    vt_status ms = a->mean_subjects
                       ? vt_analysis_model_rsm_mean(db, a->run, a->kind, a->roi, a->method, &names, &m, NULL)
                       : vt_analysis_model_rsm(db, a->run, a->kind, a->subject, a->roi, a->method, &names, &m);
    if (ms != VT_OK) return cli_fail_status();
    vt_status st = vt_npy_write(a->out, m);
    size_t n = (size_t)m->shape[0];
    if (st == VT_OK)
        for (size_t i = 0; i < n; i++) printf("%s\n", names[i]);
    vt_analysis_names_free(names, n);
    vt_tensor_free(m);
    return st == VT_OK ? CLI_OK : cli_fail_status();
}

static int do_info(vt_results *db, args *a)
{
    static const char *const tables[] = {"runs", "models", "layers", "subjects", "rois", "metrics", "scores", "rsms"};
    printf("%s (schema version %d)\n", a->db, VT_RESULTS_SCHEMA_VERSION);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        int64_t n;
        if (vt_results_count(db, tables[i], &n) != VT_OK) return cli_fail_status();
        printf("  %-9s %lld\n", tables[i], (long long)n);
    }
    vt_results_run *runs = NULL;
    size_t nr = 0;
    if (vt_results_runs(db, &runs, &nr) != VT_OK) return cli_fail_status();
    for (size_t i = 0; i < nr; i++)
        printf("run %lld: %s, started %s, finished %s, ventral %s\n", (long long)runs[i].id, runs[i].status,
               runs[i].started, runs[i].finished ? runs[i].finished : "-", runs[i].ventral_version);
    vt_results_runs_free(runs, nr);
    return CLI_OK;
}

int cmd_results(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc < 2) return cli_usage_error("expected an action: export, import, summary, model-rsa, select or info");
        return printf("%s", usage), CLI_OK;
    }
    const char *action = argv[1];
    int (*run)(vt_results *, args *) = NULL;
    int flags = VT_RESULTS_READONLY;
    if (strcmp(action, "export") == 0)
        run = do_export;
    else if (strcmp(action, "import") == 0)
        run = do_import, flags = VT_RESULTS_CREATE;
    else if (strcmp(action, "summary") == 0)
        run = do_summary;
    else if (strcmp(action, "info") == 0)
        run = do_info;
    else if (strcmp(action, "model-rsa") == 0)
        run = do_model_rsa;
    else if (strcmp(action, "select") != 0)
        return cli_usage_error("unknown action '%s' (export, import, summary, model-rsa, select, info)", action);
    else
        flags = VT_RESULTS_WRITE;
    args a;
    int rc = parse(argc - 1, argv + 1, &a);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    vt_results *db = NULL;
    if (vt_results_open(a.db, flags, &db) != VT_OK) return cli_fail_status();
    if (run)
        rc = run(db, &a);
    else
        rc = vt_results_mark_selected(db, a.run) == VT_OK ? CLI_OK : cli_fail_status();
    vt_results_close(db);
    return rc;
}
