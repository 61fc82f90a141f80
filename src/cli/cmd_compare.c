#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/bootstrap.h"
#include "ventral/compare.h"

static const char usage[] =
    "usage: ventral compare A.npy B.npy [--method pearson|spearman|kendall] [--json]\n"
    "                       [--bootstrap N [--seed S] [--ci-level L]]\n"
    "  Correlation of the strict upper triangles of two square matrices (RSMs/RDMs) of one size,\n"
    "  or of two 1-d vectors of one length; prints the coefficient alone (--json: more).\n"
    "  --method       pearson (default), spearman (average ranks for ties) or kendall (tau-b)\n"
    "  --bootstrap N  percentile confidence interval from N resamples of the stimuli (with\n"
    "                 replacement; pairs of a stimulus with its own copy are dropped)\n"
    "  --seed S       bootstrap seed (default 0); --ci-level L: interval level (default 0.95)\n"
    "  --bootstrap-samples-out F.npy, --bootstrap-indices-out F.npy: write every resample's\n"
    "                 statistic (NaN where undefined) and drawn stimulus indices (N x n int64)\n"
    "  At least 3 stimuli (2 values) are needed; constant inputs and NaN/Inf are errors.\n";

static void json_number(double v)
{
    if (isnan(v))
        printf("null");
    else
        printf("%.17g", v);
}

/* The drawn indices of every resample, exactly as vt_compare_bootstrap draws them. */
static int write_indices(const char *path, int64_t resamples, int64_t n, uint64_t seed)
{
    vt_npy_out *o;
    if (vt_npy_create(path, VT_I64, 2, (int64_t[]){resamples, n}, &o) != VT_OK) return cli_fail_status();
    int64_t *idx = vt_npy_out_tensor(o)->data;
    for (int64_t r = 0; r < resamples; r++) vt_bootstrap_draw(seed, r, n, idx + r * n);
    return vt_npy_commit(o) == VT_OK ? CLI_OK : cli_fail_status();
}

int cmd_compare(int argc, char **argv)
{
    enum { OPT_JSON = 1000, OPT_BOOT, OPT_SEED, OPT_LEVEL, OPT_SAMPLES, OPT_INDICES };
    static const struct option opts[] = {{"method", required_argument, 0, 'm'},
                                         {"json", no_argument, 0, OPT_JSON},
                                         {"bootstrap", required_argument, 0, OPT_BOOT},
                                         {"seed", required_argument, 0, OPT_SEED},
                                         {"ci-level", required_argument, 0, OPT_LEVEL},
                                         {"bootstrap-samples-out", required_argument, 0, OPT_SAMPLES},
                                         {"bootstrap-indices-out", required_argument, 0, OPT_INDICES},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *method_name = "pearson", *samples_path = NULL, *indices_path = NULL;
    int json = 0, c;
    int64_t resamples = 0, seed = 0;
    double level = 0.95;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': method_name = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_BOOT:
            if (!cli_parse_i64("--bootstrap", optarg, &resamples)) return CLI_USAGE;
            if (resamples < 1) return cli_usage_error("--bootstrap expects a positive number of resamples");
            break;
        case OPT_SEED:
            if (!cli_parse_i64("--seed", optarg, &seed)) return CLI_USAGE;
            if (seed < 0) return cli_usage_error("--seed expects a non-negative integer");
            break;
        case OPT_LEVEL:
            if (!cli_parse_double("--ci-level", optarg, &level)) return CLI_USAGE;
            if (!(level > 0 && level < 1)) return cli_usage_error("--ci-level expects a number between 0 and 1");
            break;
        case OPT_SAMPLES: samples_path = optarg; break;
        case OPT_INDICES: indices_path = optarg; break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 2) return cli_usage_error("expected two input files, got %d", argc - optind);
    if ((samples_path || indices_path) && !resamples)
        return cli_usage_error("--bootstrap-samples-out and --bootstrap-indices-out need --bootstrap N");
    vt_corr_method method;
    if (vt_corr_method_parse(method_name, &method) != VT_OK) return cli_usage_error("%s", vt_last_error());
    const char *path_a = argv[optind], *path_b = argv[optind + 1];
    /* Finiteness is checked on the triangles the comparison reads (diagonals may hold anything). */
    vt_tensor *a = cli_load(path_a, false, false);
    if (!a) return CLI_FAIL;
    vt_tensor *b = cli_load(path_b, false, false);
    if (!b) {
        vt_tensor_free(a);
        return CLI_FAIL;
    }
    vt_compare_pair *pair = NULL;
    vt_status st = vt_compare_pair_new(a, path_a, b, path_b, method, &pair);
    vt_tensor_free(a);
    vt_tensor_free(b);
    if (st != VT_OK) return cli_fail_status();

    int rc = CLI_OK;
    double r;
    vt_compare_pair_estimate(pair, &r);
    int64_t n = vt_compare_pair_stimuli(pair);
    vt_bootstrap_ci ci = {0};
    double *samples = NULL;
    if (resamples) {
        if (n == 0) {
            vt_compare_pair_free(pair);
            return cli_error("--bootstrap resamples stimuli: %s and %s must be square matrices, not 1-d vectors",
                             path_a, path_b);
        }
        samples = vt_malloc((size_t)resamples, sizeof *samples);
        vt_bootstrap_opts bo = {.resamples = resamples, .seed = (uint64_t)seed, .level = level};
        if (!samples || vt_compare_bootstrap(pair, &bo, &ci, samples) != VT_OK) rc = cli_fail_status();
        if (rc == CLI_OK && samples_path) {
            vt_tensor *t = vt_tensor_wrap(VT_F64, 1, &resamples, samples);
            if (!t || vt_npy_write(samples_path, t) != VT_OK) rc = cli_fail_status();
            vt_tensor_free(t);
        }
        if (rc == CLI_OK && indices_path) rc = write_indices(indices_path, resamples, n, (uint64_t)seed);
    }
    char *qa = NULL, *qb = NULL;
    if (rc == CLI_OK && json && (!(qa = vt_json_quote(path_a)) || !(qb = vt_json_quote(path_b))))
        rc = cli_fail_status(); /* out of memory: nothing printed */
    if (rc == CLI_OK && json) {
        printf("{\"a\": %s, \"b\": %s, \"method\": \"%s\", \"stimuli\": ", qa, qb, vt_corr_method_name(method));
        if (n)
            printf("%lld", (long long)n);
        else
            printf("null");
        printf(", \"values\": %lld, \"coefficient\": ", (long long)vt_compare_pair_values(pair));
        json_number(r);
        if (resamples) {
            printf(", \"bootstrap\": {\"resamples\": %lld, \"valid\": %lld, \"seed\": %lld, \"level\": %.10g, "
                   "\"ci_low\": ",
                   (long long)ci.resamples, (long long)ci.valid, (long long)seed, level);
            json_number(ci.low);
            printf(", \"ci_high\": ");
            json_number(ci.high);
            printf(", \"se\": ");
            json_number(ci.se);
            printf("}");
        }
        printf("}\n");
    } else if (rc == CLI_OK) {
        printf("%.17g\n", r);
    }
    free(qa);
    free(qb);
    free(samples);
    vt_compare_pair_free(pair);
    return rc;
}
