/* ventral stimuli: decode a folder or list of images and apply a model's test-time transform,
 * writing the N × 3 × H × W float32 batch that `ventral run` / `extract` consume, plus the ids. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/atomic_file.h"
#include "ventral/transform.h"

static const char usage[] =
    "usage: ventral stimuli (DIR | LIST.txt) -o X.npy [--transform torchvision|inception|clip|none] [--ids IDS.txt]\n"
    "  Decodes JPEG/PNG images (a folder, sorted by file name, or a text file with one path per line)\n"
    "  and applies the test-time transform (default: torchvision = Resize(256) CenterCrop(224) ImageNet\n"
    "  normalisation, equal to torchvision on PIL images). Writes float32 N x 3 x H x W and, with --ids,\n"
    "  the stimulus ids (file names without extension) one per line.\n";

typedef struct path_list {
    char **items;
    int count, cap;
} path_list;

static int list_add(path_list *l, char *s)
{
    if (l->count == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        char **grown = realloc(l->items, sizeof *grown * (size_t)cap);
        if (!grown) return 0;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count++] = s;
    return 1;
}

static void list_free(path_list *l)
{
    for (int i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static int collect(const char *src, path_list *out)
{
    struct stat sb;
    if (stat(src, &sb) != 0) return cli_error("%s: cannot open: %s", src, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(src);
        if (!d) return cli_error("%s: cannot read directory: %s", src, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' && is_image_name(e->d_name)) {
                char *p = cli_join(src, e->d_name);
                if (!p || !list_add(out, p)) {
                    free(p);
                    closedir(d);
                    return cli_error("out of memory");
                }
            }
        closedir(d);
        qsort(out->items, (size_t)out->count, sizeof *out->items, by_name);
    } else {
        FILE *f = fopen(src, "r");
        if (!f) return cli_error("%s: cannot open: %s", src, strerror(errno));
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (!line[0]) continue;
            char *p = strdup(line);
            if (!p || !list_add(out, p)) {
                free(p);
                fclose(f);
                return cli_error("out of memory");
            }
        }
        fclose(f);
    }
    if (out->count == 0) return cli_error("%s: no .jpg/.jpeg/.png images found", src);
    return CLI_OK;
}

static int write_ids(const char *path, const path_list *l)
{
    vt_atomic_file af;
    if (vt_atomic_open(&af, path) != VT_OK) return cli_fail_status();
    for (int i = 0; i < l->count; i++) {
        const char *base = strrchr(l->items[i], '/');
        base = base ? base + 1 : l->items[i];
        const char *dot = strrchr(base, '.');
        int n = dot ? (int)(dot - base) : (int)strlen(base);
        fprintf(af.f, "%.*s\n", n, base);
    }
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
    if (argc - optind != 1) return cli_usage_error("expected one image folder or list file");
    if (!out) return cli_usage_error("-o X.npy is required");
    vt_transform tf;
    if (vt_transform_preset(tname, &tf) != VT_OK) return cli_usage_error("%s", vt_last_error());
    path_list paths = {0};
    int rc = collect(argv[optind], &paths);
    vt_npy_out *o = NULL;
    int ow = 0, oh = 0;
    for (int i = 0; rc == CLI_OK && i < paths.count; i++) {
        vt_image *im;
        if (vt_image_read(paths.items[i], &im) != VT_OK) {
            rc = cli_fail_status();
            break;
        }
        int w, h;
        vt_transform_output_size(&tf, im->width, im->height, &w, &h);
        if (!o) {
            int64_t shape[4] = {paths.count, 3, h, w};
            ow = w, oh = h;
            if (vt_npy_create(out, VT_F32, 4, shape, &o) != VT_OK) rc = cli_fail_status();
        } else if (w != ow || h != oh) {
            rc = cli_error("%s: transformed size %dx%d differs from the first image's %dx%d (use a cropping transform)",
                           paths.items[i], w, h, ow, oh);
        }
        if (rc == CLI_OK) {
            float *dst = vt_tensor_f32(vt_npy_out_tensor(o)) + (size_t)i * 3 * (size_t)oh * (size_t)ow;
            if (vt_transform_apply(&tf, im, dst) != VT_OK) rc = cli_error("%s: %s", paths.items[i], vt_last_error());
        }
        vt_image_free(im);
    }
    if (rc == CLI_OK && ids) rc = write_ids(ids, &paths);
    if (rc == CLI_OK && vt_npy_commit(o) != VT_OK)
        rc = cli_fail_status();
    else if (rc != CLI_OK)
        vt_npy_abandon(o);
    if (rc == CLI_OK)
        fprintf(stderr, "ventral stimuli: %d images -> %s (3x%dx%d, transform %s)\n", paths.count, out, oh, ow,
                tf.name);
    list_free(&paths);
    return rc;
}
