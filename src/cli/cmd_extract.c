/* ventral extract: model + stimuli → feature store (every selected layer, SRP-projected). */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/extract.h"

static const char usage[] =
    "usage: ventral extract MODEL.onnx --stimuli SOURCE --out F.h5 [--layers SPEC] [--eps 0.1 | -k K]\n"
    "                       [--transform torchvision|inception|clip|none] [--batch 16] [--seed 0]\n"
    "                       [--precision f32|bf16|f32-winograd] [--unprojected-rsm [--rsm-memory 64M]]\n"
    "  Runs the model over the stimuli (image folder or list, uint8 or float32 .npy, NSD HDF5 brick; for\n"
    "  video models float32 N x 3 x T x H x W clips in a .npy, used as they are),\n"
    "  captures the selected layers (default all; e.g. 'op:Conv,op:Relu', 'name:layer4*', 'index:10-20'),\n"
    "  projects each layer wider than k with sparse random projection (k from the JL bound with --eps, or\n"
    "  -k) and writes one dataset per layer (stimuli x k) into the HDF5 feature store F.h5.\n"
    "  --precision  f32 (default; bit-identical for any thread count), bf16, or f32-winograd (faster 3x3\n"
    "               convolutions whose last bits depend on the thread count); recorded in the store.\n"
    "  --unprojected-rsm  also store each layer's stimuli x stimuli Pearson RSM of its unprojected\n"
    "                     features (rsm/<layer>; what `ventral score --protocol conwell2024` uses for cRSA).\n"
    "                     Needs a temporary spill beside F.h5 of 4 x stimuli x (features of all layers)\n"
    "                     bytes, checked up front; --rsm-memory bounds the column panels (bytes, K/M/G).\n";

typedef struct progress {
    double t0;
    bool tty;
} progress;

static vt_status show_progress(void *user, int64_t done, int64_t total)
{
    progress *p = user;
    if (!p->tty) return VT_OK;
    double dt = omp_get_wtime() - p->t0, rate = dt > 0 ? done / dt : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int bar = (int)(30 * done / (total ? total : 1));
    fprintf(stderr, "\r  [%.*s%*s] %lld/%lld stimuli  %.1f/s  ETA %.0f s ", bar, "##############################",
            30 - bar, "", (long long)done, (long long)total, rate, eta);
    if (done == total) fprintf(stderr, "\n");
    return VT_OK;
}

/* A byte count with an optional K, M or G suffix (binary). */
static bool parse_bytes(const char *opt, const char *text, int64_t *out)
{
    char *end;
    double v = strtod(text, &end);
    double unit = *end == 'K' || *end == 'k'   ? 1024.0
                  : *end == 'M' || *end == 'm' ? 1048576.0
                  : *end == 'G' || *end == 'g' ? 1073741824.0
                                               : 1.0;
    if (unit > 1) end++;
    if (end == text || *end != '\0' || !(v >= 1) || v * unit > 9e18) {
        cli_usage_error("%s expects a positive byte count (e.g. 65536, 64M, 1G), not '%s'", opt, text);
        return false;
    }
    *out = (int64_t)(v * unit);
    return true;
}

int cmd_extract(int argc, char **argv)
{
    static const struct option opts[] = {{"stimuli", required_argument, 0, 's'},
                                         {"out", required_argument, 0, 'o'},
                                         {"layers", required_argument, 0, 'l'},
                                         {"eps", required_argument, 0, 'e'},
                                         {"transform", required_argument, 0, 't'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"seed", required_argument, 0, 'S'},
                                         {"precision", required_argument, 0, 'p'},
                                         {"unprojected-rsm", no_argument, 0, 'R'},
                                         {"rsm-memory", required_argument, 0, 'M'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    vt_extract_options opt;
    vt_extract_options_init(&opt);
    const char *stimuli = NULL, *out = NULL, *tname = "torchvision";
    int64_t seed = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': stimuli = optarg; break;
        case 'o': out = optarg; break;
        case 'l': opt.capture = optarg; break;
        case 't': tname = optarg; break;
        case 'e':
            if (!cli_parse_double("--eps", optarg, &opt.eps)) return CLI_USAGE;
            break;
        case 'k':
            if (!cli_parse_i64("-k", optarg, &opt.k) || opt.k < 1) return cli_usage_error("-k must be >= 1");
            break;
        case 'b':
            if (!cli_parse_i64("--batch", optarg, &opt.batch) || opt.batch < 1)
                return cli_usage_error("--batch must be >= 1");
            break;
        case 'S':
            if (!cli_parse_i64("--seed", optarg, &seed)) return CLI_USAGE;
            opt.seed = (uint64_t)seed;
            break;
        case 'p':
            if (vt_precision_parse(optarg, &opt.precision) != VT_OK) return cli_usage_error("%s", vt_last_error());
            break;
        case 'R': opt.unprojected_rsm = true; break;
        case 'M':
            if (!parse_bytes("--rsm-memory", optarg, &opt.rsm_memory)) return CLI_USAGE;
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 1) return cli_usage_error("expected one model file");
    if (!stimuli || !out) return cli_usage_error("--stimuli and --out are required");
    if (opt.rsm_memory > 0 && !opt.unprojected_rsm) return cli_usage_error("--rsm-memory goes with --unprojected-rsm");
    vt_transform tf;
    if (vt_transform_preset(tname, &tf) != VT_OK) return cli_usage_error("%s", vt_last_error());
    vt_stimuli *s;
    if (vt_stimuli_open(stimuli, &tf, &s) != VT_OK) return cli_fail_status();
    progress prog = {omp_get_wtime(), isatty(2)};
    opt.progress = show_progress;
    opt.progress_user = &prog;
    vt_extract_info info;
    vt_status st = vt_extract(argv[optind], s, out, &opt, &info);
    int64_t n = s->count;
    vt_stimuli_free(s);
    if (st != VT_OK) return cli_fail_status();
    fprintf(stderr, "ventral extract: %lld stimuli, %d layers (%d projected to k = %lld) -> %s in %.1f s\n",
            (long long)n, info.layers, info.projected, (long long)info.k, out, info.seconds);
    if (opt.unprojected_rsm)
        fprintf(stderr, "  with %d RSMs of unprojected features (%.1f s; temporary spill %.1f MB, removed)\n",
                info.rsms, info.rsm_seconds, (double)info.spill_bytes / 1e6);
    return CLI_OK;
}
