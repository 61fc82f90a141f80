#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/report.h"

static const char usage[] =
    "usage: ventral report --db R.sqlite --out DIR [--run N] [--bootstrap N] [--seed S] [--level L]\n"
    "                      [--title TEXT] [--rsm-method pearson|spearman|kendall]\n"
    "  Writes DIR/index.html (self-contained, relative links), DIR/figures/*.png and *.svg (model ranking with\n"
    "  the noise ceiling, metric vs metric, accuracy vs brain score, layer profiles, grouped comparisons,\n"
    "  model x model RSM heat maps), DIR/results.csv and DIR/analysis.json. Default run: the newest with scores.\n";

int cmd_report(int argc, char **argv)
{
    enum { O_DB = 1, O_OUT, O_RUN, O_BOOT, O_SEED, O_LEVEL, O_TITLE, O_METHOD };
    static const struct option opts[] = {
        {"db", required_argument, 0, O_DB},
        {"out", required_argument, 0, O_OUT},
        {"run", required_argument, 0, O_RUN},
        {"bootstrap", required_argument, 0, O_BOOT},
        {"seed", required_argument, 0, O_SEED},
        {"level", required_argument, 0, O_LEVEL},
        {"title", required_argument, 0, O_TITLE},
        {"rsm-method", required_argument, 0, O_METHOD},
        {"help", no_argument, 0, 'h'},
        {0},
    };
    const char *db_path = NULL, *out = NULL;
    vt_report_opts o = vt_report_opts_default();
    int64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_DB: db_path = optarg; break;
        case O_OUT: out = optarg; break;
        case O_RUN:
            if (!cli_parse_i64("--run", optarg, &o.run_id)) return CLI_USAGE;
            if (o.run_id < 1) return cli_usage_error("--run expects a run id >= 1");
            break;
        case O_BOOT:
            if (!cli_parse_i64("--bootstrap", optarg, &v)) return CLI_USAGE;
            if (v < 0 || v > 1000000) return cli_usage_error("--bootstrap expects 0..1000000 resamples");
            o.analysis.n_boot = (int)v;
            break;
        case O_SEED:
            if (!cli_parse_i64("--seed", optarg, &v)) return CLI_USAGE;
            o.analysis.seed = (uint64_t)v;
            break;
        case O_LEVEL:
            if (!cli_parse_double("--level", optarg, &o.analysis.level)) return CLI_USAGE;
            if (!(o.analysis.level > 0 && o.analysis.level < 1))
                return cli_usage_error("--level expects a number in (0, 1)");
            break;
        case O_TITLE: o.title = optarg; break;
        case O_METHOD: o.rsm_method = optarg; break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!db_path || !out) return cli_usage_error("--db R.sqlite and --out DIR are required");
    vt_results *db = NULL;
    if (vt_results_open(db_path, VT_RESULTS_READONLY, &db) != VT_OK) return cli_fail_status();
    cli_outdir od = {0};
    int n = 0;
    bool made = cli_outdir_make(&od, out);
    vt_status st = made ? vt_report_write(db, out, &o, &n) : VT_ERR_IO;
    vt_results_close(db);
    if (made && st != VT_OK) cli_fail_status();
    cli_outdir_close(&od, st != VT_OK);
    if (st != VT_OK) return CLI_FAIL;
    printf("%s/index.html (%d figures)\n", out, n);
    return CLI_OK;
}
