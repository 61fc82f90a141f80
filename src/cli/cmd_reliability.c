#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/reliability.h"

static const char usage[] =
    "usage: ventral reliability R.npy -o DIR [--splits S] [--seed SEED]\n"
    "  Reliability of each unit of R (stimuli x repetitions x units; NaN = missing repetition).\n"
    "  Writes DIR/ncsnr.npy, DIR/noise_ceiling.npy (percent, NSD formula with mixed trial counts),\n"
    "  DIR/split_half.npy (Spearman-Brown corrected, mean over S seeded splits; default S = 10) and\n"
    "  DIR/split_orders.npy (int32 S x stimuli x repetitions: the repetition order of each split;\n"
    "  the first floor(t/2) available trials form one half, the rest the other).\n"
    "  Undefined values (constant units, no stimulus with 2 trials) are NaN.\n";

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the non-NaN values (NaN if there are none), for the summary line. */
static double median(const vt_tensor *v)
{
    int64_t n = 0, len = v->shape[0];
    double *tmp = malloc(sizeof *tmp * (size_t)(len ? len : 1));
    if (!tmp) return NAN;
    for (int64_t i = 0; i < len; i++)
        if (!isnan(vt_tensor_f64(v)[i])) tmp[n++] = vt_tensor_f64(v)[i];
    qsort(tmp, (size_t)n, sizeof *tmp, compare_doubles);
    double m = n == 0 ? NAN : n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
    free(tmp);
    return m;
}

static bool write_output(const char *dir, const char *name, const vt_tensor *t)
{
    char *path = cli_join(dir, name);
    if (!path) return cli_error("out of memory"), false;
    vt_status st = vt_npy_write(path, t);
    free(path);
    if (st != VT_OK) cli_fail_status();
    return st == VT_OK;
}

int cmd_reliability(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"splits", required_argument, 0, 'S'},
                                         {"seed", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *dir = NULL;
    int64_t splits = 10, seed = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'S':
            if (!cli_parse_i64("--splits", optarg, &splits)) return CLI_USAGE;
            break;
        case 's':
            if (!cli_parse_i64("--seed", optarg, &seed)) return CLI_USAGE;
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 1) return cli_usage_error("expected one input file, got %d", argc - optind);
    if (!dir) return cli_usage_error("the output directory is required (-o DIR)");
    if (splits < 1) return cli_usage_error("--splits must be a positive integer, got %lld", (long long)splits);
    if (seed < 0) return cli_usage_error("--seed must be a non-negative integer, got %lld", (long long)seed);

    const char *path = argv[optind];
    vt_tensor *r = cli_load(path, false, false);
    if (!r) return CLI_FAIL;
    if (!vt_dtype_is_float(r->dtype)) { /* integer responses have no NaN; compute in float64 */
        vt_tensor *f = NULL;
        vt_status st = vt_tensor_convert(r, VT_F64, &f);
        vt_tensor_free(r);
        if (st != VT_OK) return cli_error("%s: %s", path, vt_last_error());
        r = f;
    }
    int64_t units = r->rank == 3 ? r->shape[2] : 0;
    vt_tensor *ncsnr = vt_tensor_new(VT_F64, 1, &units), *nc = vt_tensor_new(VT_F64, 1, &units);
    vt_tensor *sh = vt_tensor_new(VT_F64, 1, &units), *orders = NULL;
    vt_status st = ncsnr && nc && sh ? VT_OK : VT_ERR_NOMEM;
    if (st == VT_OK) st = vt_reliability_ncsnr(r, ncsnr, nc, NULL, NULL);
    if (st == VT_OK) st = vt_reliability_split_orders(splits, r->shape[0], r->shape[1], (uint64_t)seed, &orders);
    if (st == VT_OK) st = vt_reliability_split_half_orders(r, orders, sh);
    int rc = CLI_OK;
    if (st != VT_OK) rc = cli_error("%s: %s", path, vt_last_error());
    /* The directory appears only once everything is computed: bad input leaves nothing behind. */
    else if (!cli_mkdir(dir) || !write_output(dir, "ncsnr.npy", ncsnr) || !write_output(dir, "noise_ceiling.npy", nc) ||
             !write_output(dir, "split_half.npy", sh) || !write_output(dir, "split_orders.npy", orders))
        rc = CLI_FAIL;
    else
        printf("%lld units: median ncsnr %.4g, median noise ceiling %.4g%%, median split-half %.4g (%lld splits); "
               "wrote %s/{ncsnr,noise_ceiling,split_half,split_orders}.npy\n",
               (long long)units, median(ncsnr), median(nc), median(sh), (long long)splits, dir);
    vt_tensor_free(ncsnr);
    vt_tensor_free(nc);
    vt_tensor_free(sh);
    vt_tensor_free(orders);
    vt_tensor_free(r);
    return rc;
}
