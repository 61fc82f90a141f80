/* ventral: a thin command-line front end over libventral. Each subcommand lives in its own
 * file (cmd_<name>.c); this file only dispatches and applies the global --threads setting. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/core.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"dim", cmd_dim, "effective dimensionality (participation ratio)"},
    {"layers", cmd_layers, "list an ONNX model's layers: name, op, output shape, features"},
    {"run", cmd_run, "run an ONNX model over stimuli, writing every captured layer as .npy"},
    {"rsm", cmd_rsm, "similarity matrix (Pearson, Spearman, cosine) between stimuli"},
    {"compare", cmd_compare, "correlate two RSMs' upper triangles, with bootstrap CIs"},
    {"gsn", cmd_gsn, "GSN signal/noise covariances and RSA noise ceiling"},
    {"stimuli", cmd_stimuli, "decode images and apply a model's test-time transform"},
    {"extract", cmd_extract, "run a model over stimuli and store every layer's projected features"},
    {"demo", cmd_demo, "simulate a world, benchmark the bundled models on it and write the report"},
    {"bench", cmd_bench, "benchmark many models against brain data from a YAML configuration (resumable)"},
    {"simulate", cmd_simulate, "write a ground-truth world: procedural stimuli and simulated subjects"},
    {"score", cmd_score, "score every layer against brain data (cRSA, veRSA, encoding) into a results database"},
    {"srp", cmd_srp, "very sparse random projection of stimuli x features"},
    {"reliability", cmd_reliability, "NCSNR, noise ceiling and split-half reliability of repeated trials"},
    {"ridge", cmd_ridge, "ridge regression per target with alphas chosen by leave-one-out GCV"},
    {"nsd", cmd_nsd, "assemble an NSD subject's responses into a brain store"},
    {"data", cmd_data, "tiny NSD dataset; fetch and verify releases"},
    {"brain", cmd_brain, "inspect a brain store (responses, ids, units, provenance)"},
    {"ceiling", cmd_ceiling, "noise ceilings of a brain store: ncsnr, split-half, gsn"},
    {"import-neural", cmd_import_neural, "neural recordings (npy/h5 + ids, Brain-Score NetCDF) into a brain store"},
    {"results", cmd_results, "results database: export, import, summary (ranking, CIs, correlations)"},
    {"report", cmd_report, "HTML report with PNG/SVG figures from a results database"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ventral [--threads N] <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'ventral <command> --help' describes a command. Threads: --threads N or VENTRAL_THREADS "
                 "(default: all cores).\n");
}

/* Removes "--threads N" / "--threads=N" wherever it appears and applies it. */
static int take_threads(int *argc, char **argv)
{
    vt_threads_init();
    for (int i = 1; i < *argc; i++) {
        const char *value = NULL;
        int width = 0;
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < *argc)
            value = argv[i + 1], width = 2;
        else if (strncmp(argv[i], "--threads=", 10) == 0)
            value = argv[i] + 10, width = 1;
        if (!value) continue;
        int64_t n;
        if (!cli_parse_i64("--threads", value, &n) || n < 0) return CLI_USAGE;
        vt_threads_set((int)n);
        memmove(argv + i, argv + i + width, sizeof *argv * (size_t)(*argc - i - width + 1));
        *argc -= width;
        i--;
    }
    return CLI_OK;
}

/* Scoring and extraction free and allocate buffers of the same large sizes for every layer or batch
 * (ridge blocks, activations). glibc serves blocks above its mmap threshold (at most 32 MiB by
 * default) by mmap and unmaps them on free, so every reuse faulted in freshly zeroed pages: a tenth
 * of `ventral score`'s wall time on the resnet50 benchmark, in the kernel. Keeping such blocks in
 * the heap for reuse removes that; peak memory is unchanged (measured). A process-wide policy, so it
 * belongs to the program, not the library. */
static void reuse_large_blocks(void)
{
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

int main(int argc, char **argv)
{
    reuse_large_blocks();
    cli_command = "";
    if (take_threads(&argc, argv) != CLI_OK) return CLI_USAGE;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ventral %s\n", vt_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            cli_command = commands[i].name;
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "ventral: error: unknown command '%s' (see 'ventral --help')\n", argv[1]);
    return CLI_USAGE;
}
