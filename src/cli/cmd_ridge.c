#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/ridge.h"

static const char usage[] =
    "usage: ventral ridge --x-train XTR.npy --y-train YTR.npy [--x-test XTE.npy [--y-test YTE.npy]]\n"
    "                     [--alphas a,b,...] [--criterion mse|loo-pearson] --out DIR\n"
    "  Ridge regression of every column of Y (stimuli x targets) on X (stimuli x features), with the\n"
    "  penalty alpha chosen per target by efficient leave-one-out cross-validation (GCV).\n"
    "  Writes DIR/alpha.npy (v), coef.npy (p x v), intercept.npy (v), loo.npy (n x v leave-one-out\n"
    "  predictions at the chosen alpha); with --x-test pred.npy (n_test x v); with --y-test score.npy\n"
    "  (v, Pearson r of pred and Y_test). Outputs are float32 when X and Y are, float64 otherwise.\n"
    "options:\n"
    "  --alphas LIST        comma-separated penalties > 0 (default: 20 log-spaced, 1e-1 .. 1e7)\n"
    "  --criterion C        mse: smallest squared LOO error (scikit-learn RidgeCV, default);\n"
    "                       loo-pearson: largest Pearson r between LOO predictions and Y (DeepNSD)\n"
    "  --sweep mixed|double alpha sweep in float32 with float64 re-checks of near ties (default),\n"
    "                       or entirely in float64\n"
    "  --margin M           mixed sweep: relative score margin re-checked in float64 (default 1e-3)\n"
    "  --block B            targets per block (default: automatic)\n"
    "  --quiet              print nothing on success\n"
    "  --stats              print what the fit did (form, timings, flops) as one JSON line\n";

enum { O_XTR = 256, O_YTR, O_XTE, O_YTE, O_ALPHAS, O_OUT, O_CRIT, O_SWEEP, O_MARGIN, O_BLOCK, O_QUIET, O_STATS };

typedef struct outfile {
    const char *name;
    vt_npy_out *big;  /* mapped output (coef, loo, pred) */
    vt_tensor *small; /* in-memory output (alpha, intercept, score) */
    vt_tensor *view;  /* what the library writes into: the tensor itself or a 2-d view of it */
} outfile;

/* A 2-d (rows × 1) view when the targets came as a 1-d vector, else the tensor itself. */
static vt_tensor *view2d(vt_tensor *t, int as_column)
{
    if (!as_column) return t;
    int64_t shape[2] = {t->shape[0], 1};
    return vt_tensor_wrap(t->dtype, 2, shape, t->data);
}

static int open_big(outfile *o, const char *dir, const char *name, vt_dtype dt, int64_t rows, int64_t v, int vec)
{
    o->name = name;
    char *path = cli_join(dir, name);
    if (!path) return cli_error("out of memory");
    int64_t shape[2] = {rows, v};
    vt_status st = vt_npy_create(path, dt, vec ? 1 : 2, shape, &o->big);
    free(path);
    if (st != VT_OK) return cli_fail_status();
    vt_tensor *t = vt_npy_out_tensor(o->big);
    if (vec) {
        int64_t s2[2] = {rows, 1};
        o->view = vt_tensor_wrap(dt, 2, s2, t->data);
        if (!o->view) return cli_fail_status();
    } else
        o->view = t;
    return CLI_OK;
}

static int open_small(outfile *o, const char *name, vt_dtype dt, int64_t v)
{
    o->name = name;
    o->small = vt_tensor_new(dt, 1, &v);
    if (!o->small) return cli_fail_status();
    o->view = o->small;
    return CLI_OK;
}

static void close_out(outfile *o)
{
    if (o->big) {
        if (o->view != vt_npy_out_tensor(o->big)) vt_tensor_free(o->view);
        vt_npy_abandon(o->big);
    }
    vt_tensor_free(o->small);
    memset(o, 0, sizeof *o);
}

static int commit_out(outfile *o, const char *dir)
{
    if (o->small) {
        char *path = cli_join(dir, o->name);
        if (!path) return cli_error("out of memory");
        vt_status st = vt_npy_write(path, o->small);
        free(path);
        if (st != VT_OK) return cli_fail_status();
        vt_tensor_free(o->small);
    }
    if (o->big) {
        if (o->view != vt_npy_out_tensor(o->big)) vt_tensor_free(o->view);
        vt_status st = vt_npy_commit(o->big);
        o->big = NULL;
        if (st != VT_OK) return cli_fail_status();
    }
    memset(o, 0, sizeof *o);
    return CLI_OK;
}

int cmd_ridge(int argc, char **argv)
{
    static const struct option opts[] = {{"x-train", required_argument, 0, O_XTR},
                                         {"y-train", required_argument, 0, O_YTR},
                                         {"x-test", required_argument, 0, O_XTE},
                                         {"y-test", required_argument, 0, O_YTE},
                                         {"alphas", required_argument, 0, O_ALPHAS},
                                         {"out", required_argument, 0, O_OUT},
                                         {"criterion", required_argument, 0, O_CRIT},
                                         {"sweep", required_argument, 0, O_SWEEP},
                                         {"margin", required_argument, 0, O_MARGIN},
                                         {"block", required_argument, 0, O_BLOCK},
                                         {"quiet", no_argument, 0, O_QUIET},
                                         {"stats", no_argument, 0, O_STATS},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *xtr = NULL, *ytr = NULL, *xte = NULL, *yte = NULL, *dir = NULL, *alpha_text = NULL;
    vt_ridge_options opt;
    vt_ridge_options_init(&opt);
    int quiet = 0, stats = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_XTR: xtr = optarg; break;
        case O_YTR: ytr = optarg; break;
        case O_XTE: xte = optarg; break;
        case O_YTE: yte = optarg; break;
        case O_OUT: dir = optarg; break;
        case O_ALPHAS: alpha_text = optarg; break;
        case O_QUIET: quiet = 1; break;
        case O_STATS: stats = 1; break;
        case O_CRIT:
            if (strcmp(optarg, "mse") == 0)
                opt.criterion = VT_RIDGE_MSE;
            else if (strcmp(optarg, "loo-pearson") == 0)
                opt.criterion = VT_RIDGE_LOO_PEARSON;
            else
                return cli_usage_error("--criterion expects mse or loo-pearson, got '%s'", optarg);
            break;
        case O_SWEEP:
            if (strcmp(optarg, "mixed") == 0)
                opt.sweep = VT_RIDGE_SWEEP_MIXED;
            else if (strcmp(optarg, "double") == 0)
                opt.sweep = VT_RIDGE_SWEEP_DOUBLE;
            else
                return cli_usage_error("--sweep expects mixed or double, got '%s'", optarg);
            break;
        case O_MARGIN:
            if (!cli_parse_double("--margin", optarg, &opt.margin)) return CLI_USAGE;
            break;
        case O_BLOCK:
            if (!cli_parse_i64("--block", optarg, &opt.block)) return CLI_USAGE;
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!xtr || !ytr || !dir) return cli_usage_error("--x-train, --y-train and --out are required");
    if (yte && !xte) return cli_usage_error("--y-test needs --x-test");
    double *alphas = NULL;
    if (alpha_text) {
        alphas = malloc(sizeof *alphas * 4096);
        if (!alphas) return cli_error("out of memory");
        int na = cli_parse_doubles(alpha_text, alphas, 4096);
        if (na < 0) return free(alphas), CLI_USAGE;
        if (na == 0) return free(alphas), cli_usage_error("--alphas is empty");
        for (int a = 0; a < na; a++)
            if (!(alphas[a] > 0) || alphas[a] > 1e308) {
                int rc = cli_error("--alphas: every alpha must be finite and > 0, got %g", alphas[a]);
                free(alphas);
                return rc;
            }
        opt.alphas = alphas, opt.n_alphas = na;
    }

    int rc = CLI_FAIL;
    vt_tensor *x = NULL, *y = NULL, *xt = NULL, *ytst = NULL, *y2 = NULL, *yt2 = NULL;
    outfile o[6];
    memset(o, 0, sizeof o);
    cli_outdir od = {0};
    if (!(x = cli_load(xtr, false, true)) || !(y = cli_load(ytr, false, true))) goto done;
    if (xte && !(xt = cli_load(xte, false, true))) goto done;
    if (yte && !(ytst = cli_load(yte, false, true))) goto done;
    if (x->rank != 2) {
        cli_error("%s: X must be a 2-d array (stimuli x features), got %d-d", xtr, x->rank);
        goto done;
    }
    if (y->rank != 1 && y->rank != 2) {
        cli_error("%s: Y must be a 1-d or 2-d array (stimuli x targets), got %d-d", ytr, y->rank);
        goto done;
    }
    if (xt && (xt->rank != 2 || xt->shape[1] != x->shape[1])) {
        cli_error("%s: X_test must be 2-d with %lld features like %s", xte, (long long)x->shape[1], xtr);
        goto done;
    }
    if (ytst && ytst->rank != y->rank) {
        cli_error("%s: Y_test must be %d-d like %s", yte, y->rank, ytr);
        goto done;
    }
    int vec = y->rank == 1;
    if (!(y2 = view2d(y, vec)) || (ytst && !(yt2 = view2d(ytst, vec)))) {
        cli_fail_status();
        goto done;
    }
    int64_t n = x->shape[0], p = x->shape[1], v = y2->shape[1];
    vt_dtype dt = x->dtype == VT_F32 && y->dtype == VT_F32 ? VT_F32 : VT_F64;
    if (!cli_outdir_make(&od, dir)) goto done;
    if (open_small(&o[0], "alpha.npy", dt, v) || open_big(&o[1], dir, "coef.npy", dt, p, v, vec) ||
        open_small(&o[2], "intercept.npy", dt, v) || open_big(&o[3], dir, "loo.npy", dt, n, v, vec))
        goto done;
    if (xt && open_big(&o[4], dir, "pred.npy", dt, xt->shape[0], v, vec)) goto done;
    if (ytst && open_small(&o[5], "score.npy", dt, v)) goto done;
    vt_ridge_outputs out = {o[0].view, o[1].view, o[2].view, o[3].view, o[4].view, o[5].view, NULL, NULL};
    vt_ridge_info info;
    vt_status st = vt_ridge_fit(x, y2, xt, yt2, &opt, &out, &info);
    if (st != VT_OK) {
        cli_error("%s, %s: %s", xtr, ytr, vt_last_error());
        goto done;
    }
    for (int i = 0; i < 6; i++)
        if (commit_out(&o[i], dir) != CLI_OK) goto done;
    if (stats)
        printf(
            "{\"kernel_form\": %d, \"rank\": %lld, \"block\": %lld, \"refined\": %lld, \"refined_pairs\": %lld, "
            "\"triangular_sweep\": %d, \"seconds_decompose\": %.6f, \"seconds_sweep\": %.6f, \"seconds_refine\": %.6f, "
            "\"seconds_solve\": %.6f, \"flops_f32\": %.6g, \"flops_f64\": %.6g}\n",
            info.kernel_form, (long long)info.rank, (long long)info.block, (long long)info.refined,
            (long long)info.refined_pairs, info.triangular_sweep, info.seconds_decompose, info.seconds_sweep,
            info.seconds_refine, info.seconds_solve, info.flops_f32, info.flops_f64);
    else if (!quiet)
        printf("ridge: %lld stimuli, %lld features, %lld targets; %s form (rank %lld); %lld targets re-checked "
               "in float64; wrote %s\n",
               (long long)n, (long long)p, (long long)v, info.kernel_form ? "kernel" : "svd", (long long)info.rank,
               (long long)info.refined, dir);
    rc = CLI_OK;
done:
    for (int i = 0; i < 6; i++) close_out(&o[i]);
    cli_outdir_close(&od, rc != CLI_OK);
    if (y2 != y) vt_tensor_free(y2);
    if (yt2 != ytst) vt_tensor_free(yt2);
    vt_tensor_free(x);
    vt_tensor_free(y);
    vt_tensor_free(xt);
    vt_tensor_free(ytst);
    free(alphas);
    return rc;
}
