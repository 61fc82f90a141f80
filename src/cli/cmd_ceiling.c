#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "ventral/brain.h"
#include "ventral/gsn.h"
#include "ventral/maps.h"
#include "ventral/reliability.h"

static const char usage[] =
    "usage: ventral ceiling --brain B.h5 --method ncsnr|split-half|gsn [-o DIR] [options]\n"
    "  Reliability and noise ceilings of a brain store's responses (stimuli x repetitions x units).\n"
    "  ncsnr       per-unit NCSNR and NSD noise ceiling (%% explainable variance of trial means,\n"
    "              mixed repetition counts handled): DIR/ncsnr.npy, DIR/noise_ceiling.npy\n"
    "  split-half  per-unit split-half reliability, Spearman-Brown corrected, mean over seeded\n"
    "              splits: DIR/split_half.npy, DIR/split_orders.npy (the splits)\n"
    "  gsn         GSN signal/noise covariances and the Monte-Carlo RSA noise ceiling (METHODS 8):\n"
    "              DIR/gsn_ncsnr.npy, DIR/ncdist.npy\n"
    "  Every method writes DIR/ceiling.json (summary) when -o is given and prints a summary line.\n"
    "  --splits S    split-half splits (default 100)       --seed N   random seed (default 0)\n"
    "  --sims N      gsn: ceiling simulations (default 50)\n"
    "  --scale MODE  gsn: auto (default: split-half when every trial is present, else variance),\n"
    "                split-half, variance or none\n"
    "  --roi LABEL   only units whose ROI label has this component (e.g. floc-faces:FFA-1, or an\n"
    "                atlas name such as floc-faces for any of its labels; IT for recordings)\n"
    "  --maps        split-half: use the store's spatial maps (per site: Spearman r between the\n"
    "                half-averaged maps of each image, mean over images, Spearman-Brown corrected)\n";

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the finite values of v[n] (NaN if none). */
static double median(const double *v, int64_t n)
{
    double *tmp = malloc(sizeof *tmp * (size_t)(n ? n : 1));
    if (!tmp) return NAN;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) tmp[m++] = v[i];
    qsort(tmp, (size_t)m, sizeof *tmp, compare_doubles);
    double r = m == 0 ? NAN : m % 2 ? tmp[m / 2] : (tmp[m / 2 - 1] + tmp[m / 2]) / 2;
    free(tmp);
    return r;
}

static void json_num(char *buf, size_t n, const char *key, double v)
{
    size_t len = strlen(buf);
    if (isfinite(v))
        snprintf(buf + len, n - len, ", \"%s\": %.17g", key, v);
    else
        snprintf(buf + len, n - len, ", \"%s\": null", key);
}

static bool save(const char *dir, const char *name, const vt_tensor *t)
{
    char *path = cli_join(dir, name);
    bool ok = path && vt_npy_write(path, t) == VT_OK;
    if (!ok) cli_fail_status();
    free(path);
    return ok;
}

static bool write_json(const char *dir, const char *text)
{
    char *path = cli_join(dir, "ceiling.json");
    vt_atomic_file af;
    bool ok = path && vt_atomic_open(&af, path) == VT_OK;
    if (ok && (vt_atomic_write(&af, text, strlen(text)) != VT_OK || vt_atomic_write(&af, "}\n", 2) != VT_OK)) {
        vt_atomic_abandon(&af);
        ok = false;
    } else if (ok)
        ok = vt_atomic_commit(&af) == VT_OK;
    if (!ok) cli_fail_status();
    free(path);
    return ok;
}

int cmd_ceiling(int argc, char **argv)
{
    enum { O_BRAIN = 1, O_METHOD, O_SPLITS, O_SEED, O_SIMS, O_SCALE, O_MAPS, O_ROI };
    static const struct option opts[] = {{"brain", required_argument, 0, O_BRAIN},
                                         {"method", required_argument, 0, O_METHOD},
                                         {"splits", required_argument, 0, O_SPLITS},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"sims", required_argument, 0, O_SIMS},
                                         {"scale", required_argument, 0, O_SCALE},
                                         {"maps", no_argument, 0, O_MAPS},
                                         {"roi", required_argument, 0, O_ROI},
                                         {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *brain = NULL, *method = NULL, *dir = NULL, *scale = "auto", *roi = NULL;
    int64_t splits = 100, seed = 0, sims = 50;
    bool maps = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case O_BRAIN: brain = optarg; break;
        case O_METHOD: method = optarg; break;
        case O_SPLITS:
            if (!cli_parse_i64("--splits", optarg, &splits)) return CLI_USAGE;
            if (splits < 1) return cli_usage_error("--splits must be >= 1");
            break;
        case O_SEED:
            if (!cli_parse_i64("--seed", optarg, &seed)) return CLI_USAGE;
            break;
        case O_SIMS:
            if (!cli_parse_i64("--sims", optarg, &sims)) return CLI_USAGE;
            if (sims < 1) return cli_usage_error("--sims must be >= 1");
            break;
        case O_SCALE: scale = optarg; break;
        case O_MAPS: maps = true; break;
        case O_ROI: roi = optarg; break;
        case 'o': dir = optarg; break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!brain || !method) return cli_usage_error("--brain and --method are required");
    bool m_ncsnr = strcmp(method, "ncsnr") == 0, m_split = strcmp(method, "split-half") == 0,
         m_gsn = strcmp(method, "gsn") == 0;
    if (!m_ncsnr && !m_split && !m_gsn)
        return cli_usage_error("--method must be ncsnr, split-half or gsn, got '%s'", method);
    if (maps && !m_split) return cli_usage_error("--maps goes with --method split-half");
    vt_gsn_scale gscale = VT_GSN_SCALE_SPLIT_HALF;
    bool auto_scale = strcmp(scale, "auto") == 0;
    if (strcmp(scale, "variance") == 0)
        gscale = VT_GSN_SCALE_VARIANCE;
    else if (strcmp(scale, "none") == 0)
        gscale = VT_GSN_SCALE_NONE;
    else if (!auto_scale && strcmp(scale, "split-half") != 0)
        return cli_usage_error("--scale must be auto, split-half, variance or none, got '%s'", scale);
    vt_brain *b = NULL;
    if (vt_brain_read(brain, &b) != VT_OK) return cli_fail_status();
    if (maps && !b->maps) {
        vt_brain_free(b);
        return cli_error("%s: the store has no spatial maps ('maps' dataset)", brain);
    }
    if (roi && vt_brain_select_roi(b, roi) != VT_OK) {
        vt_brain_free(b);
        return cli_error("%s: %s", brain, vt_last_error());
    }
    cli_outdir od = {0};
    int rc = !dir || cli_outdir_make(&od, dir) ? CLI_OK : CLI_FAIL;
    /* The summary JSON: the brain path and ROI label as escaped string literals, then fixed-size numbers. */
    char *qbrain = vt_json_quote(brain), *qroi = roi ? vt_json_quote(roi) : NULL, *json = NULL;
    size_t jcap = qbrain && (qroi || !roi) ? strlen(qbrain) + (qroi ? strlen(qroi) : 0) + 4096 : 0;
    if (jcap && (json = vt_malloc(jcap, 1))) {
        snprintf(json, jcap,
                 "{\"brain\": %s, \"method\": \"%s\", \"stimuli\": %lld, \"repetitions\": %lld, \"units\": %lld",
                 qbrain, method, (long long)b->n_stimuli, (long long)b->n_reps, (long long)b->n_units);
        if (qroi) snprintf(json + strlen(json), jcap - strlen(json), ", \"roi\": %s", qroi);
    }
    free(qbrain);
    free(qroi);
    int64_t units = b->n_units;
    bool go = rc == CLI_OK && json;
    vt_tensor *a = go ? vt_tensor_new(VT_F64, 1, &units) : NULL, *nc = go ? vt_tensor_new(VT_F64, 1, &units) : NULL;
    if (!a || !nc) {
        if (rc == CLI_OK) rc = cli_fail_status();
    } else if (m_ncsnr) {
        if (vt_reliability_ncsnr(b->responses, a, nc, NULL, NULL) != VT_OK)
            rc = cli_error("%s: %s", brain, vt_last_error());
        else {
            double mn = median(vt_tensor_f64(a), units), mc = median(vt_tensor_f64(nc), units);
            json_num(json, jcap, "median_ncsnr", mn);
            json_num(json, jcap, "median_noise_ceiling", mc);
            if (dir && (!save(dir, "ncsnr.npy", a) || !save(dir, "noise_ceiling.npy", nc))) rc = CLI_FAIL;
            printf("%s: %lld units, median ncsnr %.4g, median noise ceiling %.4g%%\n", brain, (long long)units, mn, mc);
        }
    } else if (m_split) {
        vt_status st = maps ? vt_maps_split_half(b->maps, splits, (uint64_t)seed, a)
                            : vt_reliability_split_half(b->responses, splits, (uint64_t)seed, a);
        if (st != VT_OK)
            rc = cli_error("%s: %s", brain, vt_last_error());
        else {
            double m = median(vt_tensor_f64(a), units);
            json_num(json, jcap, "median_split_half", m);
            size_t len = strlen(json);
            snprintf(json + len, jcap - len, ", \"splits\": %lld, \"seed\": %lld, \"maps\": %s", (long long)splits,
                     (long long)seed, maps ? "true" : "false");
            vt_tensor *orders = NULL; /* the splits used, so that others can reproduce the numbers */
            if (dir &&
                (!save(dir, maps ? "maps_split_half.npy" : "split_half.npy", a) ||
                 vt_reliability_split_orders(splits, b->n_stimuli, b->n_reps, (uint64_t)seed, &orders) != VT_OK ||
                 !save(dir, "split_orders.npy", orders)))
                rc = CLI_FAIL;
            vt_tensor_free(orders);
            printf("%s: %lld %s, median split-half reliability %.4g (%lld splits)\n", brain, (long long)units,
                   maps ? "sites (maps)" : "units", m, (long long)splits);
        }
    } else {
        vt_tensor *data = NULL;
        vt_brain_units_first(b, &data);
        vt_gsn_result *g = NULL;
        vt_gsn_rsa_result *res = NULL;
        bool complete = true;
        const float *r = vt_tensor_f32(b->responses);
        for (int64_t i = 0, n = vt_tensor_numel(b->responses); i < n && complete; i++) complete = !isnan(r[i]);
        if (auto_scale) gscale = complete ? VT_GSN_SCALE_SPLIT_HALF : VT_GSN_SCALE_VARIANCE;
        vt_gsn_rsa_options ro;
        vt_gsn_rsa_options_default(&ro);
        ro.seed = (uint64_t)seed;
        ro.ncsims = (int)sims;
        ro.scale = gscale;
        if (!data)
            rc = cli_fail_status();
        else if (vt_gsn_perform(data, NULL, &g) != VT_OK || vt_gsn_rsa_noise_ceiling(data, g, &ro, &res) != VT_OK)
            rc = cli_error("%s: GSN: %s", brain, vt_last_error());
        else {
            const char *names[] = {"none", "split-half", "variance"};
            json_num(json, jcap, "rsa_noise_ceiling", res->nc);
            json_num(json, jcap, "scale", res->sc);
            json_num(json, jcap, "data_split_half_rdm_r", res->splitr);
            json_num(json, jcap, "shrinklevel_noise", g->shrinklevelN);
            json_num(json, jcap, "shrinklevel_data", g->shrinklevelD);
            json_num(json, jcap, "median_gsn_ncsnr", median(vt_tensor_f64(g->ncsnr), units));
            size_t len = strlen(json);
            snprintf(json + len, jcap - len, ", \"scale_mode\": \"%s\", \"sims\": %lld, \"seed\": %lld", names[gscale],
                     (long long)sims, (long long)seed);
            if (dir && (!save(dir, "gsn_ncsnr.npy", g->ncsnr) || !save(dir, "ncdist.npy", res->ncdist))) rc = CLI_FAIL;
            printf("%s: %lld units, GSN RSA noise ceiling %.4g (scale %.2g, %s)\n", brain, (long long)units, res->nc,
                   res->sc, names[gscale]);
        }
        vt_gsn_rsa_result_free(res);
        vt_gsn_result_free(g);
        vt_tensor_free(data);
    }
    if (rc == CLI_OK && dir && !write_json(dir, json)) rc = CLI_FAIL;
    cli_outdir_close(&od, rc != CLI_OK);
    free(json);
    vt_tensor_free(a);
    vt_tensor_free(nc);
    vt_brain_free(b);
    return rc;
}
