#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/rsm.h"

static const char usage[] =
    "usage: ventral rsm X.npy -o R.npy [--metric pearson|spearman|cosine]\n"
    "  Similarity matrix (n x n) between the rows of X (n stimuli x p features).\n"
    "  pearson (default): correlation of rows; spearman: correlation of the rows' average ranks;\n"
    "  cosine: cosine of the angle between rows. The RDM is 1 - R. float32 X gives a float32 R\n"
    "  (float32 GEMMs summed in float64), any other dtype a float64 R. A constant row (all-zero\n"
    "  for cosine) has no defined similarity and is an error naming the row.\n";

int cmd_rsm(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"metric", required_argument, 0, 'm'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *out_path = NULL, *metric_name = "pearson";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        if (c == 'o')
            out_path = optarg;
        else if (c == 'm')
            metric_name = optarg;
        else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (argc - optind != 1) return cli_usage_error("expected one input file, got %d", argc - optind);
    if (!out_path) return cli_usage_error("missing -o R.npy (the output file)");
    vt_rsm_metric metric;
    if (vt_rsm_metric_parse(metric_name, &metric) != VT_OK) return cli_usage_error("%s", vt_last_error());
    const char *path = argv[optind];
    /* NaN/Inf are found by the library's own check (one read of X, not two). */
    vt_tensor *x = cli_load(path, false, false);
    if (!x) return CLI_FAIL;
    if (x->dtype != VT_F32 && x->dtype != VT_F64) {
        /* Integer and boolean features are computed in float64. */
        vt_tensor *c64;
        vt_status st = vt_tensor_convert(x, VT_F64, &c64);
        vt_tensor_free(x);
        if (st != VT_OK) return cli_error("%s: %s", path, vt_last_error());
        x = c64;
    }
    if (x->rank != 2) {
        char buf[64];
        int rc = cli_error("%s: expected a 2-d array (stimuli x features), got shape %s", path,
                           vt_tensor_shape_str(x, buf, sizeof buf));
        vt_tensor_free(x);
        return rc;
    }
    /* The output is written in place into a mapped temporary file, renamed on success. */
    vt_npy_out *o;
    if (vt_npy_create(out_path, x->dtype, 2, (int64_t[]){x->shape[0], x->shape[0]}, &o) != VT_OK) {
        vt_tensor_free(x);
        return cli_fail_status();
    }
    vt_status st = vt_rsm_into(x, metric, vt_npy_out_tensor(o));
    vt_tensor_free(x);
    if (st != VT_OK) {
        vt_npy_abandon(o);
        return cli_error("%s: %s", path, vt_last_error());
    }
    if (vt_npy_commit(o) != VT_OK) return cli_fail_status();
    return CLI_OK;
}
