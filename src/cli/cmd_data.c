#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/nsd.h"

static const char usage[] =
    "usage: ventral data <verb> ...\n"
    "  make-tiny --to DIR [--seed S]   write a tiny NSD in the released layout and formats (2 subjects)\n";

static int make_tiny(int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, 0, 't'}, {"seed", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0}};
    const char *dir = NULL;
    int64_t seed = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 't')
            dir = optarg;
        else if (c == 's') {
            if (!cli_parse_i64("--seed", optarg, &seed) || seed < 0) return CLI_USAGE;
        } else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!dir) return cli_usage_error("--to DIR is required");
    if (vt_nsd_make_tiny(dir, (uint64_t)seed) != VT_OK) return cli_fail_status();
    printf("tiny NSD written to %s\n", dir);
    return CLI_OK;
}

int cmd_data(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("%s", usage);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "make-tiny") == 0) {
        cli_command = "data make-tiny";
        return make_tiny(argc - 1, argv + 1);
    }
    return cli_usage_error("unknown sub-command '%s' (expected: make-tiny)", argv[1]);
}
