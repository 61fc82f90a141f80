/* ventral demo: simulate a ground-truth world, benchmark the bundled models on it, write the
 * report, and print a short table — README command 1. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "ventral/analysis.h"
#include "ventral/bench.h"
#include "ventral/report.h"
#include "ventral/simulate.h"

static const char usage[] =
    "usage: ventral demo [--out DIR] [--stimuli 240] [--subjects 2] [--voxels 300] [--jobs 1]\n"
    "  Simulates subjects (1..8, in the NSD layout under DIR/world/nsd, assembled into brain stores) whose\n"
    "  voxels read out one layer of one bundled model (tinycnn, /Relu_3), benchmarks\n"
    "  the five bundled models against them (cRSA, veRSA, encoding), writes DIR/report/index.html and prints\n"
    "  the ranking. Default DIR: ./ventral-demo. The bundled models are looked up in $VENTRAL_DATA/models,\n"
    "  the installed data folder, then the source tree.\n";

static const char *const planted_model = "tinycnn", *const planted_layer = "/Relu_3";
static const char *const shown_roi = "streams:ventral"; /* the stores' ROIs: streams:ventral, streams:lateral */

static void log_line(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "  %s\n", line);
}

static bool models_dir(char *out, size_t len)
{
    const char *env = getenv("VENTRAL_DATA");
    const char *roots[] = {env, VENTRAL_DATA_INSTALLED, VENTRAL_DATA_SOURCE};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        if (!roots[i]) continue;
        snprintf(out, len, "%s/models/models.yaml", roots[i]);
        if (access(out, R_OK) == 0) {
            snprintf(out, len, "%s/models", roots[i]);
            return true;
        }
    }
    return false;
}

static int write_config(const char *path, const char *models, int subjects)
{
    vt_atomic_file af;
    if (vt_atomic_open(&af, path) != VT_OK) return cli_fail_status();
    fprintf(af.f,
            "# Written by `ventral demo`: the bundled models against the simulated subjects.\n"
            "name: demo\ndb: results.sqlite\ncache: feature-cache\nstimuli: world/nsd_stimuli.hdf5\n"
            "transform: none\nprotocol: default\nbootstrap: 200\nseed: 0\nmetrics: [crsa, versa, encoding]\nbrain:\n");
    for (int s = 1; s <= subjects; s++) fprintf(af.f, "  - world/subj%02d.h5\n", s);
    fprintf(af.f, "models: %s/models.yaml\n", models);
    return vt_atomic_commit(&af) == VT_OK ? CLI_OK : cli_fail_status();
}

/* The terminal table: per metric, ROI 'ventral', the ranking with the selected layers. */
static int print_table(const char *db_path, const char *report)
{
    vt_results *db = NULL;
    vt_results_table *t = NULL;
    int64_t run = 0;
    if (vt_results_open(db_path, VT_RESULTS_READONLY, &db) != VT_OK || vt_results_latest_run(db, &run) != VT_OK ||
        vt_results_scores(db, run, &t) != VT_OK) {
        vt_results_close(db);
        return cli_fail_status();
    }
    vt_analysis_opts ao = {1000, 0, 0.95};
    static const char *const metrics[] = {"versa", "crsa", "encoding"};
    int rc = CLI_OK;
    printf("\nventral demo: planted layer %s of %s; ROI '%s', test scores (mean over subjects, 95%% CI)\n",
           planted_layer, planted_model, shown_roi);
    for (size_t m = 0; m < 3 && rc == CLI_OK; m++) {
        vt_ranking *r = NULL;
        if (vt_analysis_ranking(t, metrics[m], shown_roi, &ao, &r) != VT_OK) {
            rc = cli_fail_status();
            break;
        }
        printf("\n%-9s %-16s %-9s %-22s %-12s %s\n", metrics[m], "model", "score", "95% CI", "/ ceiling",
               "selected layer (subject 1)");
        for (size_t i = 0; i < r->n; i++) {
            const vt_model_score *s = &r->models[i];
            const char *layer = "";
            for (size_t k = 0; k < t->n; k++)
                if (t->rows[k].model_id == s->model_id && s->n_subjects && t->rows[k].layer_index == s->layer_index[0])
                    layer = t->rows[k].layer_name;
            char ci[64];
            /* An interval over subjects needs two of them; with one, say so rather than print [x, x]. */
            if (s->n_subjects > 1)
                snprintf(ci, sizeof ci, "[%6.3f, %6.3f]", s->ci_low, s->ci_high);
            else
                snprintf(ci, sizeof ci, "(one subject)");
            printf("%-9s %-16s %9.3f %-19s   %9.3f   %s\n", i ? "" : "", s->model, s->mean, ci, s->norm_mean, layer);
        }
        vt_ranking_free(r);
    }
    printf("\nreport: %s\n", report);
    vt_results_table_free(t);
    vt_results_close(db);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    enum { O_OUT = 256, O_STIM, O_SUBJ, O_VOX, O_JOBS };
    static const struct option opts[] = {{"out", required_argument, 0, O_OUT},
                                         {"stimuli", required_argument, 0, O_STIM},
                                         {"subjects", required_argument, 0, O_SUBJ},
                                         {"voxels", required_argument, 0, O_VOX},
                                         {"jobs", required_argument, 0, O_JOBS},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *out = "ventral-demo";
    int64_t stimuli = 240, subjects = 2, voxels = 300, jobs = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_OUT: out = optarg; break;
        case O_STIM:
            if (!cli_parse_i64("--stimuli", optarg, &stimuli) || stimuli < 20)
                return cli_usage_error("--stimuli >= 20");
            break;
        case O_SUBJ:
            if (!cli_parse_i64("--subjects", optarg, &subjects) || subjects < 1 || subjects > 8)
                return cli_usage_error("--subjects is 1..8 (NSD's design has 8 subjects)");
            break;
        case O_VOX:
            if (!cli_parse_i64("--voxels", optarg, &voxels) || voxels < 4) return cli_usage_error("--voxels >= 4");
            break;
        case O_JOBS:
            if (!cli_parse_i64("--jobs", optarg, &jobs) || jobs < 1) return cli_usage_error("--jobs >= 1");
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    char models[4096], model_path[4200], path[4400], world[4200], report[4200], db[4200];
    if (!models_dir(models, sizeof models))
        return cli_error("bundled models not found (set VENTRAL_DATA to the folder holding models/models.yaml)");
    if (!cli_mkdir(out)) return CLI_FAIL;
    snprintf(model_path, sizeof model_path, "%s/%s.onnx", models, planted_model);
    snprintf(world, sizeof world, "%s/world", out);
    snprintf(path, sizeof path, "%s/bench.yaml", out);
    snprintf(report, sizeof report, "%s/report", out);
    snprintf(db, sizeof db, "%s/results.sqlite", out);
    vt_sim_options so;
    vt_sim_options_init(&so);
    so.out_dir = world;
    so.model = model_path;
    so.layer = planted_layer;
    so.n_stimuli = stimuli;
    so.subjects = (int)subjects;
    so.voxels = voxels;
    fprintf(stderr, "ventral demo: 1/3 simulating %lld stimuli, %lld subjects x %lld voxels in %s\n",
            (long long)stimuli, (long long)subjects, (long long)voxels, world);
    if (vt_simulate(&so) != VT_OK) return cli_fail_status();
    if (write_config(path, models, (int)subjects) != CLI_OK) return CLI_FAIL;
    fprintf(stderr, "ventral demo: 2/3 benchmarking the bundled models (%s)\n", path);
    vt_bench_config *cfg;
    if (vt_bench_config_load(path, &cfg) != VT_OK) return cli_fail_status();
    vt_status st = vt_bench_run(cfg, (int)jobs, log_line, NULL, NULL);
    vt_bench_config_free(cfg);
    if (st != VT_OK) return cli_fail_status();
    fprintf(stderr, "ventral demo: 3/3 writing the report\n");
    vt_results *rdb;
    if (vt_results_open(db, VT_RESULTS_READONLY, &rdb) != VT_OK) return cli_fail_status();
    vt_report_opts ro = vt_report_opts_default();
    ro.title = "ventral demo: bundled models vs simulated subjects";
    int figures = 0;
    st = vt_report_write(rdb, report, &ro, &figures);
    vt_results_close(rdb);
    if (st != VT_OK) return cli_fail_status();
    snprintf(path, sizeof path, "%s/index.html", report);
    return print_table(db, path);
}
