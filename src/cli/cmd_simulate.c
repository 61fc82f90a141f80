/* ventral simulate: the ground-truth world (procedural stimuli + simulated subjects). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/simulate.h"

static const char usage[] =
    "usage: ventral simulate --out DIR --model M.onnx --layer NAME [--stimuli 240] [--size 64] [--subjects 2]\n"
    "                        [--voxels 300] [--reps 3] [--sessions auto] [--snr 0.3,1.5] [--seed 1]\n"
    "       ventral simulate --images-only N -o X.npy [--size 64] [--seed 1] [--labels L.npy]\n"
    "  Writes a ground-truth world in the NSD release layout under DIR/nsd: procedurally generated stimuli\n"
    "  (a shape of 4 classes on a textured gradient) as the stimulus brick, the experiment design, and per\n"
    "  subject (1..8) the single-trial betas of every session, ROI volumes and ncsnr.nii.gz, whose voxels are\n"
    "  noisy linear read-outs of the planted layer of the planted model, with per-voxel SNR uniform in the\n"
    "  --snr range and --reps repetitions spread over --sessions sessions. Then assembles each subject\n"
    "  with the NSD assembler into DIR/subjNN.h5 (ROIs streams:ventral and streams:lateral; the same as\n"
    "  `ventral nsd assemble --root DIR/nsd --subject N --rois streams:ventral,streams:lateral --ncsnr none`).\n"
    "  DIR/nsd_stimuli.hdf5 links to the brick; DIR/truth.json and DIR/truth_subjNN.tsv record the planted\n"
    "  model and layer, the SNRs and the noise ceilings expected after per-session z-scoring.\n"
    "  --images-only writes just the images (uint8 N x size x size x 3), e.g. to train the bundled models.\n";

int cmd_simulate(int argc, char **argv)
{
    enum {
        O_OUT = 256,
        O_MODEL,
        O_LAYER,
        O_STIM,
        O_SIZE,
        O_SUBJ,
        O_VOX,
        O_REPS,
        O_SESS,
        O_SNR,
        O_SEED,
        O_IMAGES,
        O_LABELS
    };
    static const struct option opts[] = {{"out", required_argument, 0, O_OUT},
                                         {"model", required_argument, 0, O_MODEL},
                                         {"layer", required_argument, 0, O_LAYER},
                                         {"stimuli", required_argument, 0, O_STIM},
                                         {"size", required_argument, 0, O_SIZE},
                                         {"subjects", required_argument, 0, O_SUBJ},
                                         {"voxels", required_argument, 0, O_VOX},
                                         {"reps", required_argument, 0, O_REPS},
                                         {"sessions", required_argument, 0, O_SESS},
                                         {"snr", required_argument, 0, O_SNR},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"images-only", required_argument, 0, O_IMAGES},
                                         {"labels", required_argument, 0, O_LABELS},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    vt_sim_options o;
    vt_sim_options_init(&o);
    int64_t v, images_only = 0;
    const char *out_npy = NULL, *labels_npy = NULL;
    double snr[2];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case O_OUT: o.out_dir = optarg; break;
        case 'o': out_npy = optarg; break;
        case O_MODEL: o.model = optarg; break;
        case O_LAYER: o.layer = optarg; break;
        case O_LABELS: labels_npy = optarg; break;
        case O_STIM:
            if (!cli_parse_i64("--stimuli", optarg, &o.n_stimuli)) return CLI_USAGE;
            break;
        case O_IMAGES:
            if (!cli_parse_i64("--images-only", optarg, &images_only) || images_only < 1)
                return cli_usage_error("--images-only needs a positive count");
            break;
        case O_SIZE:
            if (!cli_parse_i64("--size", optarg, &v)) return CLI_USAGE;
            o.size = (int)v;
            break;
        case O_SUBJ:
            if (!cli_parse_i64("--subjects", optarg, &v)) return CLI_USAGE;
            o.subjects = (int)v;
            break;
        case O_VOX:
            if (!cli_parse_i64("--voxels", optarg, &o.voxels)) return CLI_USAGE;
            break;
        case O_REPS:
            if (!cli_parse_i64("--reps", optarg, &v)) return CLI_USAGE;
            o.reps = (int)v;
            break;
        case O_SESS:
            if (strcmp(optarg, "auto") == 0)
                o.sessions = 0;
            else if (!cli_parse_i64("--sessions", optarg, &v) || v < 1 || v > 99)
                return cli_usage_error("--sessions is auto or 1..99");
            else
                o.sessions = (int)v;
            break;
        case O_SNR:
            if (cli_parse_doubles(optarg, snr, 2) != 2) return cli_usage_error("--snr expects LOW,HIGH");
            o.snr_low = snr[0], o.snr_high = snr[1];
            break;
        case O_SEED:
            if (!cli_parse_i64("--seed", optarg, &v)) return CLI_USAGE;
            o.seed = (uint64_t)v;
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (images_only) {
        if (!out_npy) return cli_usage_error("--images-only needs -o X.npy");
        vt_tensor *images;
        int32_t *labels = vt_malloc((size_t)images_only, sizeof *labels);
        if (!labels || vt_sim_stimuli(images_only, o.size, o.seed, &images, labels) != VT_OK) {
            free(labels);
            return cli_fail_status();
        }
        vt_tensor *lt = vt_tensor_wrap(VT_I32, 1, &images_only, labels);
        int rc = vt_npy_write(out_npy, images) == VT_OK ? CLI_OK : cli_fail_status();
        if (rc == CLI_OK && labels_npy && vt_npy_write(labels_npy, lt) != VT_OK) rc = cli_fail_status();
        vt_tensor_free(lt);
        vt_tensor_free(images);
        free(labels);
        return rc;
    }
    if (!o.out_dir || !o.model || !o.layer) return cli_usage_error("--out, --model and --layer are required");
    if (vt_simulate(&o) != VT_OK) return cli_fail_status();
    fprintf(stderr,
            "ventral simulate: %lld stimuli, %d subjects x %lld voxels (planted %s : %s) -> %s/nsd, %s/subj*.h5\n",
            (long long)o.n_stimuli, o.subjects, (long long)o.voxels, o.model, o.layer, o.out_dir, o.out_dir);
    return CLI_OK;
}
