#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/nsd.h"

static const char usage[] =
    "usage: ventral nsd assemble --root DIR --subject N --out B.h5 [options]\n"
    "  Assembles one NSD subject's responses (images x repetitions x voxels) from the released files\n"
    "  under DIR into a brain store: betas z-scored per session and voxel, voxels restricted to an ROI\n"
    "  set and selected by NCSNR, read session by session (memory ~ the output).\n"
    "  --rois LIST       comma list of ATLAS:LABEL (label name or number) or ATLAS (any label > 0),\n"
    "                    or 'all'; default: the occipitotemporal set\n"
    "                    " VT_NSD_DEFAULT_ROIS "\n"
    "  --within ATLAS    mask every voxel must lie in (default nsdgeneral; 'none' to skip)\n"
    "  --ncsnr T         keep voxels with ncsnr.nii.gz > T (default 0.2; 'none' to skip)\n"
    "  --images SET      'shared' (sharedix, default), 'all' (every image the subject saw), or a file\n"
    "                    of 1-based NSD image ids (one per line; or F.h5:DATASET), kept in its order\n"
    "  --format F        betas from 'hdf5' (default) or 'nifti' (.nii.gz)\n"
    "  --space S         func1pt8mm (default) or func1mm\n"
    "  --betas NAME      betas version (default betas_fithrf_GLMdenoise_RR)\n"
    "  --sessions N      read only sessions 1..N (default: every session present)\n";

static void progress(void *ctx, int done, int total)
{
    (void)ctx;
    fprintf(stderr, "\r  reading session %d of %d", done + 1, total);
    fflush(stderr);
}

static int assemble(int argc, char **argv)
{
    enum { O_ROOT = 1, O_SUBJ, O_OUT, O_ROIS, O_WITHIN, O_NCSNR, O_IMAGES, O_FORMAT, O_SPACE, O_BETAS, O_SESS };
    static const struct option opts[] = {{"root", required_argument, 0, O_ROOT},
                                         {"subject", required_argument, 0, O_SUBJ},
                                         {"out", required_argument, 0, O_OUT},
                                         {"rois", required_argument, 0, O_ROIS},
                                         {"within", required_argument, 0, O_WITHIN},
                                         {"ncsnr", required_argument, 0, O_NCSNR},
                                         {"images", required_argument, 0, O_IMAGES},
                                         {"format", required_argument, 0, O_FORMAT},
                                         {"space", required_argument, 0, O_SPACE},
                                         {"betas", required_argument, 0, O_BETAS},
                                         {"sessions", required_argument, 0, O_SESS},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    vt_nsd_assemble_options o;
    vt_nsd_assemble_defaults(&o);
    o.subject = 0;
    const char *out = NULL;
    int c;
    int64_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case O_ROOT: o.root = optarg; break;
        case O_SUBJ:
            if (!cli_parse_i64("--subject", optarg, &v)) return CLI_USAGE;
            if (v < 1 || v > 8) return cli_usage_error("--subject must be 1..8, got %s", optarg);
            o.subject = (int)v;
            break;
        case 'o':
        case O_OUT: out = optarg; break;
        case O_ROIS: o.rois = optarg; break;
        case O_WITHIN: o.within = strcmp(optarg, "none") == 0 ? "" : optarg; break;
        case O_NCSNR:
            if (strcmp(optarg, "none") == 0)
                o.ncsnr = NAN;
            else if (!cli_parse_double("--ncsnr", optarg, &o.ncsnr))
                return CLI_USAGE;
            break;
        case O_IMAGES: o.images = optarg; break;
        case O_FORMAT: o.format = optarg; break;
        case O_SPACE: o.space = optarg; break;
        case O_BETAS: o.betas = optarg; break;
        case O_SESS:
            if (!cli_parse_i64("--sessions", optarg, &v)) return CLI_USAGE;
            if (v < 1 || v > 99) return cli_usage_error("--sessions must be 1..99, got %s", optarg);
            o.max_sessions = (int)v;
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.root || !o.subject || !out) return cli_usage_error("--root, --subject and --out are required");
    bool tty = isatty(STDERR_FILENO);
    if (tty) o.progress = progress;
    vt_brain *b = NULL;
    vt_status ast = vt_nsd_assemble(&o, &b);
    if (tty) fprintf(stderr, "\r\033[K");
    if (ast != VT_OK) return cli_fail_status();
    vt_status st = vt_brain_write(out, b);
    if (st == VT_OK)
        printf("subj%02d: %lld images x %lld repetitions x %lld voxels -> %s\n", o.subject, (long long)b->n_stimuli,
               (long long)b->n_reps, (long long)b->n_units, out);
    vt_brain_free(b);
    return st == VT_OK ? CLI_OK : cli_fail_status();
}

int cmd_nsd(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("%s", usage);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "assemble") == 0) {
        cli_command = "nsd assemble";
        return assemble(argc - 1, argv + 1);
    }
    return cli_usage_error("unknown sub-command '%s' (expected: assemble)", argv[1]);
}
