/* ventral score: a feature store against a brain store → scores in the results database. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/score.h"

static const char usage[] =
    "usage: ventral score --features F.h5 --brain B.h5 [--brain B2.h5 ...] --db results.sqlite\n"
    "                     [--protocol default|conwell2024]\n"
    "                     [--metrics crsa,versa,encoding,predictivity] [--folds 10 [--folds-out F.npy]] [--split "
    "random|odd-even] "
    "[--train-fraction 0.5]\n"
    "                     [--seed 0] [--bootstrap 1000] [--alphas a,b,...] [--layers all|second-half]\n"
    "                     [--crsa-features projected|unprojected]\n"
    "                     [--model-name NAME] [--family cnn|transformer|...] [--task T] [--training-data D]\n"
    "                     [--trained|--random] [--top1 PCT] [--params N]\n"
    "  Scores every layer of the feature store against the brain data (per ROI): cRSA, veRSA and voxel\n"
    "  encoding on a train and a test split, selects each metric's layer on the train split, and stores\n"
    "  all scores, the selected layers' test scores with bootstrap CIs and noise-ceiling-normalised values\n"
    "  in the SQLite results database. Prints the selected layers.\n"
    "  Under --protocol conwell2024, cRSA uses the RSMs of the unprojected features that\n"
    "  `ventral extract --unprojected-rsm` stores; a store without them is an error for projected layers.\n"
    "  --crsa-features overrides the protocol's choice (default protocol: projected).\n"
    "  Several --brain stores (subjects) are scored in one pass over the layers, one run each: every\n"
    "  layer is read once, and subjects with the same stimuli share its split features, model RSMs and\n"
    "  ridge decomposition. The results are those of separate calls; the stores are held in memory together.\n";

static bool parse_metrics(const char *text, unsigned *out)
{
    *out = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "crsa") == 0)
            *out |= VT_SCORE_CRSA;
        else if (strcmp(t, "versa") == 0)
            *out |= VT_SCORE_VERSA;
        else if (strcmp(t, "encoding") == 0)
            *out |= VT_SCORE_ENCODING;
        else if (strcmp(t, "predictivity") == 0)
            *out |= VT_SCORE_PREDICTIVITY;
        else {
            cli_usage_error("unknown metric '%s' (crsa, versa, encoding, predictivity)", t);
            free(copy);
            return false;
        }
    }
    free(copy);
    return *out != 0;
}

/* The run's configuration as JSON: what was asked, so a rerun with the same request resumes.
 * Returns a new string (free it), or NULL with the last error set when out of memory. */
static char *config_json(const char *features, const char *brain, const vt_score_options *o)
{
    char *qf = vt_json_quote(features), *qb = vt_json_quote(brain), *qp = vt_json_quote(o->protocol), *out = NULL;
    size_t cap = qf && qb && qp ? strlen(qf) + strlen(qb) + strlen(qp) + 512 : 0;
    if (cap && (out = vt_malloc(cap, 1)))
        snprintf(out, cap,
                 "{\"command\": \"score\", \"features\": %s, \"brain\": %s, \"protocol\": %s, \"metrics\": %u, "
                 "\"split\": \"%s\", \"train_fraction\": %g, \"seed\": %llu, \"bootstrap\": %lld, \"criterion\": %d, "
                 "\"standardize\": %d, \"second_half\": %d, \"encoding_summary\": \"%s\", \"n_alphas\": %d, "
                 "\"crsa_features\": \"%s\"}",
                 qf, qb, qp, o->metrics, o->split == VT_SPLIT_KIND_ODD_EVEN ? "odd-even" : "random", o->train_fraction,
                 (unsigned long long)o->seed, (long long)o->bootstrap, (int)o->criterion, o->standardize,
                 o->second_half, o->encoding_mean ? "mean" : "median", o->n_alphas,
                 o->crsa_unprojected ? "unprojected" : "stored");
    free(qf);
    free(qb);
    free(qp);
    return out;
}

static const char *basename_no_ext(const char *path, char *buf, size_t len)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(buf, len, "%s", b);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = '\0';
    return buf;
}

int cmd_score(int argc, char **argv)
{
    enum {
        O_FEAT = 256,
        O_BRAIN,
        O_DB,
        O_PROTO,
        O_METRICS,
        O_SPLIT,
        O_FRAC,
        O_SEED,
        O_BOOT,
        O_ALPHAS,
        O_LAYERS,
        O_NAME,
        O_FAMILY,
        O_TASK,
        O_DATA,
        O_TRAINED,
        O_RANDOM,
        O_TOP1,
        O_PARAMS,
        O_FOLDS,
        O_FOLDS_OUT,
        O_CRSA_FEATURES
    };
    static const struct option opts[] = {{"features", required_argument, 0, O_FEAT},
                                         {"brain", required_argument, 0, O_BRAIN},
                                         {"db", required_argument, 0, O_DB},
                                         {"protocol", required_argument, 0, O_PROTO},
                                         {"metrics", required_argument, 0, O_METRICS},
                                         {"split", required_argument, 0, O_SPLIT},
                                         {"train-fraction", required_argument, 0, O_FRAC},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"bootstrap", required_argument, 0, O_BOOT},
                                         {"alphas", required_argument, 0, O_ALPHAS},
                                         {"layers", required_argument, 0, O_LAYERS},
                                         {"model-name", required_argument, 0, O_NAME},
                                         {"family", required_argument, 0, O_FAMILY},
                                         {"task", required_argument, 0, O_TASK},
                                         {"training-data", required_argument, 0, O_DATA},
                                         {"trained", no_argument, 0, O_TRAINED},
                                         {"random", no_argument, 0, O_RANDOM},
                                         {"top1", required_argument, 0, O_TOP1},
                                         {"params", required_argument, 0, O_PARAMS},
                                         {"folds", required_argument, 0, O_FOLDS},
                                         {"folds-out", required_argument, 0, O_FOLDS_OUT},
                                         {"crsa-features", required_argument, 0, O_CRSA_FEATURES},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    enum { MAX_BRAINS = 64 };
    const char *brain_paths[MAX_BRAINS];
    int n_brain = 0;
    const char *features = NULL, *dbpath = NULL, *protocol = "default", *folds_out = NULL;
    /* The protocol sets defaults; explicit options override them, so they are applied after. */
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--protocol") == 0)
            protocol = argv[i + 1];
        else if (strncmp(argv[i], "--protocol=", 11) == 0)
            protocol = argv[i] + 11;
    vt_score_options opt;
    if (vt_score_protocol(protocol, &opt) != VT_OK) return cli_usage_error("%s", vt_last_error());
    vt_results_model model = vt_results_model_init();
    static double alphas[64];
    int64_t i64;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_FEAT: features = optarg; break;
        case O_BRAIN:
            if (n_brain == MAX_BRAINS) return cli_usage_error("at most %d --brain stores", MAX_BRAINS);
            brain_paths[n_brain++] = optarg;
            break;
        case O_DB: dbpath = optarg; break;
        case O_PROTO: break;
        case O_METRICS:
            if (!parse_metrics(optarg, &opt.metrics)) return CLI_USAGE;
            break;
        case O_SPLIT:
            if (strcmp(optarg, "random") == 0)
                opt.split = VT_SPLIT_KIND_RANDOM;
            else if (strcmp(optarg, "odd-even") == 0)
                opt.split = VT_SPLIT_KIND_ODD_EVEN;
            else
                return cli_usage_error("--split is random or odd-even, not '%s'", optarg);
            break;
        case O_FRAC:
            if (!cli_parse_double("--train-fraction", optarg, &opt.train_fraction)) return CLI_USAGE;
            break;
        case O_SEED:
            if (!cli_parse_i64("--seed", optarg, &i64)) return CLI_USAGE;
            opt.seed = (uint64_t)i64;
            break;
        case O_BOOT:
            if (!cli_parse_i64("--bootstrap", optarg, &opt.bootstrap) || opt.bootstrap < 0)
                return cli_usage_error("--bootstrap must be >= 0");
            break;
        case O_ALPHAS: {
            int n = cli_parse_doubles(optarg, alphas, 64);
            if (n <= 0) return CLI_USAGE;
            for (int i = 0; i < n; i++)
                if (!(alphas[i] > 0) || !isfinite(alphas[i])) return cli_usage_error("alphas must be positive");
            opt.alphas = alphas;
            opt.n_alphas = n;
            break;
        }
        case O_LAYERS:
            if (strcmp(optarg, "all") == 0)
                opt.second_half = false;
            else if (strcmp(optarg, "second-half") == 0)
                opt.second_half = true;
            else
                return cli_usage_error("--layers is all or second-half, not '%s'", optarg);
            break;
        case O_NAME: model.name = optarg; break;
        case O_FAMILY: model.family = optarg; break;
        case O_TASK: model.task = optarg; break;
        case O_DATA: model.training_data = optarg; break;
        case O_TRAINED: model.trained = 1; break;
        case O_RANDOM: model.trained = 0; break;
        case O_TOP1:
            if (!cli_parse_double("--top1", optarg, &model.top1)) return CLI_USAGE;
            break;
        case O_PARAMS:
            if (!cli_parse_i64("--params", optarg, &model.n_params)) return CLI_USAGE;
            break;
        case O_FOLDS_OUT: folds_out = optarg; break;
        case O_CRSA_FEATURES:
            if (strcmp(optarg, "projected") == 0)
                opt.crsa_unprojected = false;
            else if (strcmp(optarg, "unprojected") == 0)
                opt.crsa_unprojected = true;
            else
                return cli_usage_error("--crsa-features is projected or unprojected, not '%s'", optarg);
            break;
        case O_FOLDS:
            if (!cli_parse_i64("--folds", optarg, &i64) || i64 < 2) return cli_usage_error("--folds must be >= 2");
            opt.folds = (int)i64;
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (!features || !n_brain || !dbpath) return cli_usage_error("--features, --brain and --db are required");
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (folds_out && n_brain > 1) return cli_usage_error("--folds-out takes one --brain");
    vt_features *f = NULL;
    vt_brain *b[MAX_BRAINS] = {0};
    vt_results *db = NULL;
    int rc = CLI_OK;
    if (vt_features_open(features, &f) != VT_OK) rc = cli_fail_status();
    for (int k = 0; rc == CLI_OK && k < n_brain; k++)
        if (vt_brain_read(brain_paths[k], &b[k]) != VT_OK) rc = cli_fail_status();
    /* The same store twice would score it twice, into two runs: a mistake in the command line. */
    char *real[MAX_BRAINS] = {0};
    for (int k = 0; rc == CLI_OK && k < n_brain; k++) {
        real[k] = realpath(brain_paths[k], NULL);
        for (int j = 0; real[k] && j < k; j++)
            if (real[j] && !strcmp(real[j], real[k])) {
                rc = cli_error("%s is given twice as --brain (also as %s): give each store once", brain_paths[k],
                               brain_paths[j]);
                break;
            }
    }
    for (int k = 0; k < n_brain; k++) free(real[k]);
    for (int k = 0; rc == CLI_OK && k < n_brain; k++)
        if (vt_score_check_stimuli(f, b[k]) != VT_OK) rc = cli_error("%s: %s", brain_paths[k], vt_last_error());
    if (rc == CLI_OK && vt_results_open(dbpath, VT_RESULTS_CREATE, &db) != VT_OK) rc = cli_fail_status();
    char name[256];
    int64_t run[MAX_BRAINS] = {0};
    vt_score_summary sum[MAX_BRAINS];
    memset(sum, 0, sizeof sum);
    if (rc == CLI_OK) {
        if (!model.name) model.name = basename_no_ext(f->model && f->model[0] ? f->model : features, name, sizeof name);
        model.sha256 = f->model_sha256;
        model.transform = f->transform;
    }
    for (int k = 0; rc == CLI_OK && k < n_brain; k++) {
        char *config = config_json(features, brain_paths[k], &opt);
        if (!config || vt_results_run_start(db, config, true, &run[k], NULL) != VT_OK) rc = cli_fail_status();
        free(config);
    }
    int32_t *folds = NULL;
    if (rc == CLI_OK && folds_out && !(opt.folds_out = folds = vt_calloc((size_t)b[0]->n_stimuli, sizeof *folds)))
        rc = cli_fail_status();
    if (rc == CLI_OK && vt_score_many(f, n_brain, (const vt_brain *const *)b, &opt, db, run, &model, sum) != VT_OK) {
        rc = cli_fail_status();
        for (int k = 0; k < n_brain; k++) vt_results_run_finish(db, run[k], "failed");
    }
    for (int k = 0; rc == CLI_OK && k < n_brain; k++)
        if (vt_results_run_finish(db, run[k], "finished") != VT_OK) rc = cli_fail_status();
    for (int k = 0; rc == CLI_OK && k < n_brain; k++) {
        printf("%s%s vs %s: %lld layers, %lld train / %lld test stimuli, %lld units (run %lld in %s)\n", k ? "\n" : "",
               model.name, b[k]->subject ? b[k]->subject : brain_paths[k], (long long)sum[k].layers_scored,
               (long long)sum[k].n_train, (long long)sum[k].n_test, (long long)sum[k].n_units, (long long)run[k],
               dbpath);
        printf("%-16s %-9s %-28s %8s %8s %19s %8s\n", "roi", "metric", "selected layer", "train", "test", "95% CI",
               "/ceiling");
        for (int i = 0; i < sum[k].n_picks; i++) {
            const vt_score_pick *p = &sum[k].picks[i];
            char ci[40] = "";
            if (isfinite(p->ci_low)) snprintf(ci, sizeof ci, "[%.3f, %.3f]", p->ci_low, p->ci_high);
            printf("%-16s %-9s %-28.28s %8.3f %8.3f %19s %8.3f\n", p->roi, p->metric, p->layer_name, p->train, p->test,
                   ci, p->normalised);
        }
    }
    if (rc == CLI_OK && folds) {
        /* The predictivity folds of each brain stimulus, for independent re-computation. */
        vt_tensor *ft = vt_tensor_wrap(VT_I32, 1, &b[0]->n_stimuli, folds);
        if (!ft || vt_npy_write(folds_out, ft) != VT_OK) rc = cli_fail_status();
        vt_tensor_free(ft);
    }
    free(folds);
    for (int k = 0; k < n_brain; k++) {
        vt_score_summary_free(&sum[k]);
        vt_brain_free(b[k]);
    }
    vt_results_close(db);
    vt_features_free(f);
    return rc;
}
