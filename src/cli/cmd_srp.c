#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/srp.h"

static const char usage[] =
    "usage: ventral srp X.npy -o Z.npy (-k K | --eps E) [--seed S] [--batch B]\n"
    "  Very sparse random projection of the stimuli x features array X (float32 stays float32).\n"
    "  -k K        number of components\n"
    "  --eps E     choose k by the Johnson-Lindenstrauss bound for X's number of rows, 0 < E < 1\n"
    "  --seed S    seed of the projection matrix (default 0); R depends only on (S, features, k)\n"
    "  --batch B   rows projected per step (default 1024); the output does not depend on it\n"
    "  When X has no more features than k, the features are copied unprojected (a note says so).\n";

int cmd_srp(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {"eps", required_argument, 0, 'e'},
                                         {"seed", required_argument, 0, 's'},   {"batch", required_argument, 0, 'b'},
                                         {"help", no_argument, 0, 'h'},         {0}};
    const char *out_path = NULL;
    int64_t k = 0, seed = 0, batch = 1024;
    double eps = 0;
    bool have_k = false, have_eps = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'k':
            if (!cli_parse_i64("-k", optarg, &k)) return CLI_USAGE;
            have_k = true;
            break;
        case 'e':
            if (!cli_parse_double("--eps", optarg, &eps)) return CLI_USAGE;
            have_eps = true;
            break;
        case 's':
            if (!cli_parse_i64("--seed", optarg, &seed)) return CLI_USAGE;
            break;
        case 'b':
            if (!cli_parse_i64("--batch", optarg, &batch)) return CLI_USAGE;
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 1) return cli_usage_error("expected one input file, got %d", argc - optind);
    if (!out_path) return cli_usage_error("the output file is required (-o Z.npy)");
    if (have_k == have_eps) return cli_usage_error("give exactly one of -k K and --eps E");
    if (have_k && k <= 0) return cli_usage_error("-k must be a positive integer, got %lld", (long long)k);
    if (have_eps && !(eps > 0 && eps < 1)) return cli_usage_error("--eps must lie in (0, 1), got %g", eps);
    if (seed < 0) return cli_usage_error("--seed must be a non-negative integer, got %lld", (long long)seed);
    if (batch <= 0) return cli_usage_error("--batch must be a positive integer, got %lld", (long long)batch);

    const char *path = argv[optind];
    vt_tensor *x = cli_load(path, false, false);
    if (!x) return CLI_FAIL;
    char shape[96];
    if (x->rank != 2) {
        int rc = cli_error("%s: expected a 2-d array (stimuli x features), got shape %s", path,
                           vt_tensor_shape_str(x, shape, sizeof shape));
        vt_tensor_free(x);
        return rc;
    }
    if (!vt_dtype_is_float(x->dtype)) { /* integer inputs are projected in float64 */
        vt_tensor *f = NULL;
        vt_status st = vt_tensor_convert(x, VT_F64, &f);
        vt_tensor_free(x);
        if (st != VT_OK) return cli_error("%s: %s", path, vt_last_error());
        x = f;
    }
    int64_t n = x->shape[0], p = x->shape[1];
    if (n < 1 || p < 1) {
        int rc = cli_error("%s: needs at least one row and one column, got shape %s", path,
                           vt_tensor_shape_str(x, shape, sizeof shape));
        vt_tensor_free(x);
        return rc;
    }
    if (have_eps && vt_srp_jl_min_dim(n, eps, &k) != VT_OK) {
        vt_tensor_free(x);
        return cli_error("%s: %s", path, vt_last_error());
    }
    vt_srp_plan *plan = NULL;
    if (vt_srp_plan_new(p, k, (uint64_t)seed, &plan) != VT_OK) {
        vt_tensor_free(x);
        return cli_fail_status();
    }
    if (!vt_srp_plan_projects(plan))
        fprintf(stderr,
                "ventral srp: note: %s has %lld features, not more than k = %lld: features copied unprojected\n", path,
                (long long)p, (long long)k);

    int64_t out_dim = vt_srp_plan_out_dim(plan), out_shape[2] = {n, out_dim};
    vt_npy_out *o = NULL;
    vt_status st = vt_npy_create(out_path, x->dtype, 2, out_shape, &o);
    size_t es = vt_dtype_size(x->dtype);
    /* Stream the rows through the plan as a layer's activations would arrive: views, no copies. */
    for (int64_t r0 = 0; st == VT_OK && r0 < n; r0 += batch) {
        int64_t rows = n - r0 < batch ? n - r0 : batch;
        int64_t xs[2] = {rows, p}, zs[2] = {rows, out_dim};
        vt_tensor *xb = vt_tensor_wrap(x->dtype, 2, xs, (char *)x->data + (size_t)r0 * (size_t)p * es);
        vt_tensor *zb =
            vt_tensor_wrap(x->dtype, 2, zs, (char *)vt_npy_out_tensor(o)->data + (size_t)r0 * (size_t)out_dim * es);
        st = xb && zb ? vt_srp_apply(plan, xb, zb) : VT_ERR_NOMEM;
        if (st != VT_OK && xb && zb)
            vt_fail_context(st, "%s: rows %lld-%lld: ", path, (long long)r0, (long long)(r0 + rows - 1));
        vt_tensor_free(xb);
        vt_tensor_free(zb);
    }
    if (st == VT_OK)
        st = vt_npy_commit(o);
    else
        vt_npy_abandon(o);
    vt_srp_plan_free(plan);
    vt_tensor_free(x);
    return st == VT_OK ? CLI_OK : cli_fail_status();
}
