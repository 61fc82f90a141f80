/* ventral bench CONFIG.yaml: many models against brain data, resumable. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/bench.h"

static const char usage[] =
    "usage: ventral bench CONFIG.yaml [--jobs N]\n"
    "  Extracts every model's features (cached by content), scores them against every brain store\n"
    "  (cRSA, veRSA, encoding; layer chosen on the train split) and records the results in the\n"
    "  configuration's SQLite database. Rerunning an interrupted benchmark resumes it; finished work\n"
    "  is skipped. --jobs N runs N models at a time (N processes sharing the threads). The format of\n"
    "  CONFIG.yaml is described in docs/bench.md.\n";

static void log_line(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "ventral bench: %s\n", line);
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {{"jobs", required_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0}};
    int64_t jobs = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
        if (c == 'j') {
            if (!cli_parse_i64("--jobs", optarg, &jobs) || jobs < 1) return cli_usage_error("--jobs must be >= 1");
        } else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (argc - optind != 1) return cli_usage_error("expected one configuration file");
    vt_bench_config *cfg;
    if (vt_bench_config_load(argv[optind], &cfg) != VT_OK) return cli_fail_status();
    vt_bench_info info;
    vt_status st = vt_bench_run(cfg, (int)jobs, log_line, NULL, &info);
    if (st == VT_OK)
        printf("run %lld finished: %d models extracted, %d from the cache; %d (model, subject) pairs scored, %d "
               "skipped -> %s\n",
               (long long)info.run_id, info.extracted, info.cached, info.scored, info.skipped, cfg->db);
    vt_bench_config_free(cfg);
    return st == VT_OK ? CLI_OK : cli_fail_status();
}
