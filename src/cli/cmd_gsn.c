#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "ventral/gsn.h"

static const char usage[] =
    "usage: ventral gsn DATA.npy -o DIR [--no-shrinkage] [--rsa-ceiling [--sims N] [--seed S]\n"
    "                  [--scale split-half|variance|none] [--conds N] [--trials R]]\n"
    "  GSN signal/noise covariance estimation (METHODS 8) on DATA (units x conditions x trials;\n"
    "  NaN marks a missing trial). Writes mnS, mnN, ncsnr, cS, cN, cSb, cNb (.npy) and gsn.json\n"
    "  (shrinkage levels, iterations) to DIR.\n"
    "  --no-shrinkage   use the raw covariances (no shrinkage toward the diagonal)\n"
    "  --rsa-ceiling    also the Monte-Carlo RSA noise ceiling (into gsn.json, and ncdist.npy)\n"
    "  --sims N         ceiling simulations (default 50)      --seed S   random seed (default 0)\n"
    "  --scale MODE     rescaling of the signal covariance (default split-half: match the data's\n"
    "                   split-half RDM reliability)\n"
    "  --conds N        simulated conditions (default 50)     --trials R trials averaged (default: DATA's)\n";

/* The shortest of %.15g..%.17g that reads back as exactly v (0.48, not 0.47999999999999998);
 * null for NaN/Inf, which JSON cannot represent. */
static void json_value(FILE *f, double v)
{
    if (!isfinite(v)) {
        fprintf(f, "null");
        return;
    }
    char buf[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fprintf(f, "%s", buf);
}

static void json_num(FILE *f, const char *key, double v, const char *sep)
{
    fprintf(f, "\"%s\": ", key);
    json_value(f, v);
    fprintf(f, "%s", sep);
}

static const char *const scale_names[] = {
    [VT_GSN_SCALE_NONE] = "none", [VT_GSN_SCALE_SPLIT_HALF] = "split-half", [VT_GSN_SCALE_VARIANCE] = "variance"};
_Static_assert(sizeof scale_names / sizeof scale_names[0] == VT_GSN_SCALE_COUNT, "one name per scale mode");

static int write_json(const char *path, const char *input, const vt_gsn_result *g, const vt_gsn_rsa_result *nc,
                      const vt_gsn_rsa_options *ro)
{
    char *qinput = vt_json_quote(input);
    if (!qinput) return cli_fail_status();
    vt_atomic_file af;
    if (vt_atomic_open(&af, path) != VT_OK) {
        free(qinput);
        return cli_fail_status();
    }
    FILE *f = af.f;
    fprintf(f, "{\n  \"file\": %s", qinput);
    free(qinput);
    fprintf(f, ",\n  \"units\": %lld, \"conditions\": %lld, \"trials\": %lld, \"uneven\": %s,\n  ",
            (long long)g->nunits, (long long)g->nconds, (long long)g->ntrials, g->uneven ? "true" : "false");
    json_num(f, "shrinklevelN", g->shrinklevelN, ", ");
    json_num(f, "shrinklevelD", g->shrinklevelD, ", ");
    fprintf(f, "\"numiters\": %d, ", g->numiters);
    json_num(f, "ntrial", g->ntrial, ", ");
    json_num(f, "ntrial_bc", g->ntrial_bc, "");
    if (nc) {
        fprintf(f, ",\n  \"rsa_ceiling\": {");
        json_num(f, "nc", nc->nc, ", ");
        json_num(f, "sc", nc->sc, ", ");
        fprintf(f, "\"scale\": \"%s\", \"ncsims\": %d, \"ncconds\": %d, \"seed\": %llu, ", scale_names[ro->scale],
                ro->ncsims, ro->ncconds, (unsigned long long)ro->seed);
        json_num(f, "nctrials", ro->nctrials > 0 ? ro->nctrials : (double)g->ntrials, "");
        if (ro->scale == VT_GSN_SCALE_SPLIT_HALF) {
            fprintf(f, ",\n    ");
            json_num(f, "splitr", nc->splitr, ", ");
            fprintf(f, "\"splitnum\": %d, \"split_exhaustive\": %s, \"nsplitsims\": %d, \"splitr_out_of_range\": %s",
                    nc->splitnum, nc->split_exhaustive ? "true" : "false", nc->nsplitsims,
                    nc->splitr_out_of_range ? "true" : "false");
            const char *names[3] = {"scs", "model_splitr", "r2"};
            const vt_tensor *arrs[3] = {nc->scs, nc->model_splitr, nc->r2};
            for (int a = 0; a < 3; a++) {
                fprintf(f, ",\n    \"%s\": [", names[a]);
                for (int64_t i = 0; i < arrs[a]->shape[0]; i++) {
                    fprintf(f, "%s", i ? ", " : "");
                    json_value(f, vt_tensor_f64(arrs[a])[i]);
                }
                fprintf(f, "]");
            }
        }
        fprintf(f, "}");
    }
    fprintf(f, "\n}\n");
    if (ferror(f)) {
        vt_atomic_abandon(&af);
        return cli_error("%s: write failed", path);
    }
    if (vt_atomic_commit(&af) != VT_OK) return cli_fail_status();
    return CLI_OK;
}

static int save(const char *dir, const char *name, const vt_tensor *t)
{
    char *p = cli_join(dir, name);
    if (!p) return cli_error("out of memory");
    vt_status st = vt_npy_write(p, t);
    free(p);
    return st == VT_OK ? CLI_OK : cli_fail_status();
}

int cmd_gsn(int argc, char **argv)
{
    enum { OPT_NOSHRINK = 256, OPT_RSA, OPT_SIMS, OPT_SEED, OPT_SCALE, OPT_CONDS, OPT_TRIALS };
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"no-shrinkage", no_argument, 0, OPT_NOSHRINK},
                                         {"rsa-ceiling", no_argument, 0, OPT_RSA},
                                         {"sims", required_argument, 0, OPT_SIMS},
                                         {"seed", required_argument, 0, OPT_SEED},
                                         {"scale", required_argument, 0, OPT_SCALE},
                                         {"conds", required_argument, 0, OPT_CONDS},
                                         {"trials", required_argument, 0, OPT_TRIALS},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    vt_gsn_options go;
    vt_gsn_options_default(&go);
    vt_gsn_rsa_options ro;
    vt_gsn_rsa_options_default(&ro);
    const char *outdir = NULL;
    bool rsa = false;
    int64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case OPT_NOSHRINK: go.want_shrinkage = false; break;
        case OPT_RSA: rsa = true; break;
        case OPT_SIMS:
            if (!cli_parse_i64("--sims", optarg, &v)) return CLI_USAGE;
            if (v < 1 || v > 10000000) return cli_usage_error("--sims must be in 1..10000000, got %lld", (long long)v);
            ro.ncsims = (int)v;
            break;
        case OPT_SEED:
            if (!cli_parse_i64("--seed", optarg, &v)) return CLI_USAGE;
            if (v < 0) return cli_usage_error("--seed must be >= 0, got %lld", (long long)v);
            ro.seed = (uint64_t)v;
            break;
        case OPT_SCALE:
            if (strcmp(optarg, "split-half") == 0)
                ro.scale = VT_GSN_SCALE_SPLIT_HALF;
            else if (strcmp(optarg, "variance") == 0)
                ro.scale = VT_GSN_SCALE_VARIANCE;
            else if (strcmp(optarg, "none") == 0)
                ro.scale = VT_GSN_SCALE_NONE;
            else
                return cli_usage_error("--scale expects split-half, variance or none, got '%s'", optarg);
            break;
        case OPT_CONDS:
            if (!cli_parse_i64("--conds", optarg, &v)) return CLI_USAGE;
            if (v < 3 || v > 100000) return cli_usage_error("--conds must be in 3..100000, got %lld", (long long)v);
            ro.ncconds = (int)v;
            break;
        case OPT_TRIALS:
            if (!cli_parse_double("--trials", optarg, &ro.nctrials)) return CLI_USAGE;
            if (!(ro.nctrials > 0) || !isfinite(ro.nctrials))
                return cli_usage_error("--trials must be a positive number, got '%s'", optarg);
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 1) return cli_usage_error("expected one input file, got %d", argc - optind);
    if (!outdir) return cli_usage_error("-o DIR is required");
    const char *path = argv[optind];
    /* NaN is allowed (missing trials); the library rejects Inf with the offending index. */
    vt_tensor *x = cli_load(path, true, false);
    if (!x) return CLI_FAIL;
    vt_gsn_result *g = NULL;
    vt_gsn_rsa_result *nc = NULL;
    int rc = CLI_OK;
    if (vt_gsn_perform(x, &go, &g) != VT_OK) rc = cli_error("%s: %s", path, vt_last_error());
    if (rc == CLI_OK && rsa && vt_gsn_rsa_noise_ceiling(x, g, &ro, &nc) != VT_OK)
        rc = cli_error("%s: %s", path, vt_last_error());
    if (rc == CLI_OK && !cli_mkdir(outdir)) rc = CLI_FAIL;
    const char *names[] = {"mnS.npy", "mnN.npy", "ncsnr.npy", "cS.npy", "cN.npy", "cSb.npy", "cNb.npy"};
    const vt_tensor *arrs[] = {g ? g->mnS : NULL, g ? g->mnN : NULL, g ? g->ncsnr : NULL, g ? g->cS : NULL,
                               g ? g->cN : NULL,  g ? g->cSb : NULL, g ? g->cNb : NULL};
    for (size_t i = 0; rc == CLI_OK && i < sizeof names / sizeof names[0]; i++) rc = save(outdir, names[i], arrs[i]);
    if (rc == CLI_OK && nc) rc = save(outdir, "ncdist.npy", nc->ncdist);
    if (rc == CLI_OK) {
        char *jp = cli_join(outdir, "gsn.json");
        rc = jp ? write_json(jp, path, g, nc, &ro) : cli_error("out of memory");
        free(jp);
    }
    if (rc == CLI_OK) {
        printf("gsn: %lld units x %lld conditions x %lld trials; shrinkage noise %.2f, data %.2f; %d biconvex "
               "iterations\n",
               (long long)g->nunits, (long long)g->nconds, (long long)g->ntrials, g->shrinklevelN, g->shrinklevelD,
               g->numiters);
        if (nc) printf("rsa noise ceiling: %.4f (scale %.2f, %d simulations)\n", nc->nc, nc->sc, ro.ncsims);
    }
    vt_gsn_rsa_result_free(nc);
    vt_gsn_result_free(g);
    vt_tensor_free(x);
    return rc;
}
