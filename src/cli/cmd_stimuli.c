/* ventral stimuli: read a stimulus source and apply a model's test-time transform, writing the
 * N × 3 × H × W float32 batch that `ventral run` consumes, plus the stimulus ids. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "ventral/stimuli.h"

static const char usage[] =
    "usage: ventral stimuli SOURCE -o X.npy [--transform torchvision|inception|clip|none] [--ids IDS.txt]\n"
    "  SOURCE: a folder of JPEG/PNG images (sorted by name), a text file with one image path per line,\n"
    "  a uint8 N x H x W x 3 .npy, or an NSD-style HDF5 brick (imgBrick); a float32 N x 3 x H x W or\n"
    "  N x 3 x T x H x W (video clips) .npy is taken as already transformed. Applies the test-time transform\n"
    "  (default torchvision = Resize(256) CenterCrop(224) ImageNet normalisation, equal to torchvision on\n"
    "  PIL images) and writes float32 N x 3 x H x W; --ids writes the stimulus ids, one per line.\n";

static int write_ids(const char *path, const vt_stimuli *s)
{
    vt_atomic_file af;
    if (vt_atomic_open(&af, path) != VT_OK) return cli_fail_status();
    for (int64_t i = 0; i < s->count; i++) fprintf(af.f, "%s\n", s->ids[i]);
    if (ferror(af.f)) {
        vt_atomic_abandon(&af);
        return cli_error("%s: write failed", path);
    }
    return vt_atomic_commit(&af) == VT_OK ? CLI_OK : cli_fail_status();
}

int cmd_stimuli(int argc, char **argv)
{
    static const struct option opts[] = {{"transform", required_argument, 0, 't'},
                                         {"ids", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *out = NULL, *ids = NULL, *tname = "torchvision";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 't')
            tname = optarg;
        else if (c == 'i')
            ids = optarg;
        else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (argc - optind != 1) return cli_usage_error("expected one stimulus source");
    if (!out) return cli_usage_error("-o X.npy is required");
    vt_transform tf;
    if (vt_transform_preset(tname, &tf) != VT_OK) return cli_usage_error("%s", vt_last_error());
    vt_stimuli *s;
    if (vt_stimuli_open(argv[optind], &tf, &s) != VT_OK) return cli_fail_status();
    int64_t shape[5];
    int rank = vt_stimuli_input_shape(s, s->count, shape);
    vt_npy_out *o = NULL;
    int rc = vt_npy_create(out, VT_F32, rank, shape, &o) == VT_OK ? CLI_OK : cli_fail_status();
    if (rc == CLI_OK && vt_stimuli_read(s, 0, s->count, vt_tensor_f32(vt_npy_out_tensor(o))) != VT_OK)
        rc = cli_fail_status();
    if (rc == CLI_OK && ids) rc = write_ids(ids, s);
    if (rc == CLI_OK)
        rc = vt_npy_commit(o) == VT_OK ? CLI_OK : cli_fail_status();
    else
        vt_npy_abandon(o);
    if (rc == CLI_OK) {
        char frames[32] = "";
        if (s->frames) snprintf(frames, sizeof frames, "%dx", s->frames);
        fprintf(stderr, "ventral stimuli: %lld stimuli -> %s (3x%s%dx%d, transform %s)\n", (long long)s->count, out,
                frames, s->height, s->width, s->pretransformed ? "none (already transformed)" : tf.name);
    }
    vt_stimuli_free(s);
    return rc;
}
