#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/dim.h"

static const char usage[] = "usage: ventral dim X.npy [--json]\n"
                            "  Effective dimensionality (participation ratio) of the stimuli x features array X.\n";

int cmd_dim(int argc, char **argv)
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
    if (argc - optind != 1) return cli_usage_error("expected one input file, got %d", argc - optind);
    const char *path = argv[optind];
    vt_tensor *x = cli_load(path, false, true);
    if (!x) return CLI_FAIL;
    double ed;
    vt_status st = vt_dim_participation_ratio(x, &ed);
    vt_tensor_free(x);
    if (st != VT_OK) return cli_error("%s: %s", path, vt_last_error());
    if (!json) return printf("%.10g\n", ed), CLI_OK;
    char *qpath = vt_json_quote(path);
    if (!qpath) return cli_fail_status();
    printf("{\"file\": %s, \"participation_ratio\": %.17g}\n", qpath, ed);
    free(qpath);
    return CLI_OK;
}
