#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "ventral/fetch.h"
#include "ventral/nsd.h"

static const char usage[] =
    "usage: ventral data <verb> ...\n"
    "  make-tiny --to DIR [--seed S]   write a tiny NSD in the released layout and formats (2 subjects)\n"
    "  fetch DATASET --to DIR [--subjects 1,2,5,7] [--sessions N] [--base-url URL] [--retries N] [--timeout S]\n"
    "                                  download a release: DATASET is nsd, majajhong or a manifest file\n"
    "                                  (SIZE<TAB>SHA256<TAB>PATH lines, '# base_url: URL'); resumable,\n"
    "                                  size + SHA-256 verified, recorded in DIR/" VT_FETCH_LOCAL_MANIFEST "\n"
    "                                  credentials: VENTRAL_FETCH_TOKEN or VENTRAL_FETCH_USER/_PASSWORD\n"
    "  verify DIR                      re-hash every file recorded in DIR/" VT_FETCH_LOCAL_MANIFEST "\n"
    "  manifest DIR [-o FILE] [--base-url URL] [--dataset NAME]\n"
    "                                  describe the files under DIR (sizes, SHA-256) as a manifest\n";

static int make_tiny(int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, 0, 't'}, {"seed", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0}};
    const char *dir = NULL;
    int64_t seed = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 't')
            dir = optarg;
        else if (c == 's') {
            if (!cli_parse_i64("--seed", optarg, &seed) || seed < 0) return CLI_USAGE;
        } else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!dir) return cli_usage_error("--to DIR is required");
    if (vt_nsd_make_tiny(dir, (uint64_t)seed) != VT_OK) return cli_fail_status();
    printf("tiny NSD written to %s\n", dir);
    return CLI_OK;
}

/* A one-line progress bar on stderr, redrawn at most ~10 times a second. */
static void progress(void *ctx, const char *path, int64_t done, int64_t total)
{
    (void)ctx;
    static struct timespec last;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(now.tv_sec - last.tv_sec) + 1e-9 * (double)(now.tv_nsec - last.tv_nsec);
    if (dt < 0.1 && done != total) return;
    last = now;
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (total > 0) {
        int filled = (int)(30.0 * (double)done / (double)total);
        char bar[31];
        for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : ' ';
        bar[30] = '\0';
        fprintf(stderr, "\r  %-32.32s [%s] %5.1f%% %9.1f MB", name, bar, 100.0 * (double)done / (double)total,
                (double)done / 1e6);
    } else
        fprintf(stderr, "\r  %-32.32s %9.1f MB", name, (double)done / 1e6);
    fflush(stderr);
}

static void file_done(void *ctx, const char *path, const char *status, int64_t size)
{
    if (ctx) fprintf(stderr, "\r\033[K"); /* clear the progress line */
    printf("%-8s %s (%lld bytes)\n", status, path, (long long)size);
    fflush(stdout);
}

static int fetch(int argc, char **argv)
{
    enum { O_TO = 1, O_SUBJ, O_SESS, O_BASE, O_RETRY, O_TIMEOUT };
    static const struct option opts[] = {{"to", required_argument, 0, O_TO},
                                         {"subjects", required_argument, 0, O_SUBJ},
                                         {"sessions", required_argument, 0, O_SESS},
                                         {"base-url", required_argument, 0, O_BASE},
                                         {"retries", required_argument, 0, O_RETRY},
                                         {"timeout", required_argument, 0, O_TIMEOUT},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *dir = NULL, *subjects = NULL;
    int64_t sessions = 0, v;
    vt_fetch_options o;
    vt_fetch_options_default(&o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_TO: dir = optarg; break;
        case O_SUBJ: subjects = optarg; break;
        case O_SESS:
            if (!cli_parse_i64("--sessions", optarg, &sessions) || sessions < 1) return CLI_USAGE;
            break;
        case O_BASE: o.base_url = optarg; break;
        case O_RETRY:
            if (!cli_parse_i64("--retries", optarg, &v) || v < 0 || v > 100) return CLI_USAGE;
            o.retries = (int)v;
            break;
        case O_TIMEOUT:
            if (!cli_parse_i64("--timeout", optarg, &v) || v < 1) return CLI_USAGE;
            o.timeout_s = (long)v;
            break;
        case 'h': return printf("%s", usage), CLI_OK;
        default: return cli_usage_error("unknown option");
        }
    }
    if (argc - optind != 1) return cli_usage_error("expected one dataset name or manifest file");
    if (!dir) return cli_usage_error("--to DIR is required");
    const char *dataset = argv[optind];
    int subj[8], n_subj = 0;
    if (subjects) {
        double d[8];
        int n = cli_parse_doubles(subjects, d, 8);
        if (n < 0) return CLI_USAGE;
        for (int i = 0; i < n; i++) {
            if (d[i] != (int)d[i] || d[i] < 1 || d[i] > 8) return cli_usage_error("--subjects takes NSD subjects 1..8");
            subj[n_subj++] = (int)d[i];
        }
    }
    struct stat sb;
    vt_manifest *m = NULL;
    vt_status st = stat(dataset, &sb) == 0 && S_ISREG(sb.st_mode)
                       ? vt_manifest_read(dataset, &m)
                       : vt_manifest_builtin(dataset, n_subj ? subj : NULL, n_subj, (int)sessions, &m);
    if (st) return cli_fail_status();
    bool tty = isatty(STDERR_FILENO);
    if (tty) o.progress = progress;
    o.file_done = file_done;
    o.progress_ctx = tty ? (void *)1 : NULL;
    st = vt_fetch(m, dir, &o);
    int64_t n = m->n;
    vt_manifest_free(m);
    if (tty) fprintf(stderr, "\r\033[K");
    if (st) return cli_fail_status();
    printf("%lld files in %s (recorded in %s)\n", (long long)n, dir, VT_FETCH_LOCAL_MANIFEST);
    return CLI_OK;
}

static int verify(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) return printf("%s", usage), CLI_OK;
    if (argc != 2) return cli_usage_error("expected one directory");
    int64_t ok, bad;
    if (vt_fetch_verify(argv[1], &ok, &bad) != VT_OK) return cli_fail_status();
    printf("%s: all %lld files verified (size and SHA-256)\n", argv[1], (long long)ok);
    return CLI_OK;
}

static int manifest(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"base-url", required_argument, 0, 'b'},
                                         {"dataset", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0}};
    const char *out = NULL, *base = NULL, *name = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 'b')
            base = optarg;
        else if (c == 'd')
            name = optarg;
        else if (c == 'h')
            return printf("%s", usage), CLI_OK;
        else
            return cli_usage_error("unknown option");
    }
    if (argc - optind != 1) return cli_usage_error("expected one directory");
    vt_manifest *m = NULL;
    if (vt_manifest_from_dir(argv[optind], &m) != VT_OK) return cli_fail_status();
    m->base_url = base ? strdup(base) : NULL;
    m->dataset = name ? strdup(name) : NULL;
    vt_status st = VT_OK;
    if (out)
        st = vt_manifest_write(out, m);
    else {
        printf("# ventral manifest: SIZE<TAB>SHA256<TAB>PATH ('-' = unknown)\n");
        if (m->dataset) printf("# dataset: %s\n", m->dataset);
        if (m->base_url) printf("# base_url: %s\n", m->base_url);
        for (int64_t i = 0; i < m->n; i++)
            printf("%lld\t%s\t%s\n", (long long)m->entries[i].size, m->entries[i].sha256, m->entries[i].path);
    }
    vt_manifest_free(m);
    return st ? cli_fail_status() : CLI_OK;
}

int cmd_data(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("%s", usage);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    static const struct {
        const char *verb, *label;
        int (*run)(int, char **);
    } verbs[] = {{"make-tiny", "data make-tiny", make_tiny},
                 {"fetch", "data fetch", fetch},
                 {"verify", "data verify", verify},
                 {"manifest", "data manifest", manifest}};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(argv[1], verbs[i].verb) == 0) {
            cli_command = verbs[i].label;
            return verbs[i].run(argc - 1, argv + 1);
        }
    return cli_usage_error("unknown sub-command '%s' (expected: make-tiny, fetch, verify, manifest)", argv[1]);
}
