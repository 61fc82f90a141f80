/* Stimulus sources: image folders and lists, uint8/float32 .npy arrays, NSD HDF5 bricks. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "io/h5util.h"
#include "ventral/npy.h"
#include "ventral/stimuli.h"

typedef enum { SRC_FILES, SRC_NPY_U8, SRC_NPY_F32, SRC_BRICK } source_kind;

typedef struct impl {
    source_kind kind;
    char **paths;     /* SRC_FILES */
    bool listed;      /* SRC_FILES: the paths came from a list file (its name prefixes their errors) */
    vt_tensor *npy;   /* SRC_NPY_*: mapped */
    hid_t file, dset; /* SRC_BRICK */
    int src_h, src_w; /* raw image size for npy/brick */
    uint8_t *row;     /* one raw image (brick) */
} impl;

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *id_of_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return strndup(base, dot ? (size_t)(dot - base) : strlen(base));
}

static vt_status push(char ***items, int64_t *n, int64_t *cap, char *s)
{
    if (!s) return vt_fail(VT_ERR_NOMEM, "out of memory");
    if (*n == *cap) {
        int64_t c = *cap ? *cap * 2 : 64;
        char **grown = realloc(*items, sizeof *grown * (size_t)c);
        if (!grown) {
            free(s);
            return vt_fail(VT_ERR_NOMEM, "out of memory");
        }
        *items = grown;
        *cap = c;
    }
    (*items)[(*n)++] = s;
    return VT_OK;
}

static vt_status list_files(const char *source, bool is_dir, char ***paths, int64_t *n)
{
    int64_t cap = 0;
    vt_status st = VT_OK;
    *paths = NULL;
    *n = 0;
    if (is_dir) {
        DIR *d = opendir(source);
        if (!d) return vt_fail(VT_ERR_IO, "%s: cannot read directory: %s", source, strerror(errno));
        struct dirent *e;
        while (st == VT_OK && (e = readdir(d)))
            if (e->d_name[0] != '.' && is_image_name(e->d_name)) {
                size_t len = strlen(source) + strlen(e->d_name) + 2;
                char *p = malloc(len);
                if (p) snprintf(p, len, "%s/%s", source, e->d_name);
                st = push(paths, n, &cap, p);
            }
        closedir(d);
        if (st == VT_OK) qsort(*paths, (size_t)*n, sizeof **paths, by_name);
    } else {
        FILE *f = fopen(source, "r");
        if (!f) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", source, strerror(errno));
        char line[4096];
        for (int64_t no = 1; st == VT_OK && fgets(line, sizeof line, f); no++) {
            size_t len = strcspn(line, "\r\n");
            bool text = len + 1 < sizeof line || line[len] != '\0';
            for (size_t i = 0; text && i < len; i++) text = (unsigned char)line[i] >= 0x20 || line[i] == '\t';
            /* A binary file (a model, an archive) given where a list was meant: say so, not "cannot open <bytes>". */
            if (!text) {
                st = vt_fail(VT_ERR_FORMAT,
                             "%s: line %lld is not an image path: a stimulus list is a text file of one path per "
                             "line (or give a folder, a .npy array or an NSD .hdf5 brick)",
                             source, (long long)no);
                break;
            }
            line[len] = '\0';
            if (line[0]) st = push(paths, n, &cap, strdup(line));
        }
        fclose(f);
    }
    if (st == VT_OK && *n == 0) st = vt_fail(VT_ERR_ARG, "%s: no .jpg/.jpeg/.png images found", source);
    return st;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* ids "first", "first + 1", ...: NSD names images by their 1-based 73k id. */
static vt_status numbered_ids(vt_stimuli *s, int64_t first)
{
    s->ids = vt_calloc((size_t)s->count, sizeof *s->ids);
    if (!s->ids) return VT_ERR_NOMEM;
    for (int64_t i = 0; i < s->count; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%lld", (long long)(first + i));
        if (!(s->ids[i] = strdup(buf))) return vt_fail(VT_ERR_NOMEM, "out of memory");
    }
    return VT_OK;
}

static vt_status open_npy(vt_stimuli *s, impl *im)
{
    vt_status st = vt_npy_map(s->source, &im->npy);
    if (st != VT_OK) return st;
    vt_tensor *t = im->npy;
    char shape[128];
    if (t->rank == 4 && t->dtype == VT_U8 && t->shape[3] == 3) {
        im->kind = SRC_NPY_U8;
        im->src_h = (int)t->shape[1];
        im->src_w = (int)t->shape[2];
        vt_transform_output_size(&s->transform, im->src_w, im->src_h, &s->width, &s->height);
    } else if ((t->rank == 4 || t->rank == 5) && t->dtype == VT_F32 && t->shape[1] == 3) {
        /* Model inputs as they are: images, or clips (N x 3 x T x H x W) for video models. */
        im->kind = SRC_NPY_F32;
        s->pretransformed = true;
        s->frames = t->rank == 5 ? (int)t->shape[2] : 0;
        s->height = (int)t->shape[t->rank - 2];
        s->width = (int)t->shape[t->rank - 1];
        for (int d = 2; d < t->rank; d++)
            if (t->shape[d] < 1 || t->shape[d] > INT32_MAX)
                return vt_fail(VT_ERR_ARG, "%s: dimension %d is %lld", s->source, d, (long long)t->shape[d]);
        if ((st = vt_tensor_check_finite(t, s->source)) != VT_OK) return st;
    } else {
        return vt_fail(VT_ERR_ARG,
                       "%s: stimuli must be uint8 N x H x W x 3 images, float32 N x 3 x H x W inputs or float32 "
                       "N x 3 x T x H x W clips, got %s %s",
                       s->source, vt_dtype_name(t->dtype), vt_tensor_shape_str(t, shape, sizeof shape));
    }
    s->count = t->shape[0];
    if (s->count < 1) return vt_fail(VT_ERR_ARG, "%s: no stimuli", s->source);
    return numbered_ids(s, 0);
}

static vt_status open_brick(vt_stimuli *s, impl *im)
{
    vt_status st = vt_h5_open(s->source, &im->file);
    if (st != VT_OK) return st;
    im->kind = SRC_BRICK;
    int rank;
    int64_t shape[8];
    if ((st = vt_h5_shape(im->file, "imgBrick", s->source, &rank, shape)) != VT_OK) return st;
    if (rank != 4 || shape[3] != 3)
        return vt_fail(VT_ERR_FORMAT, "%s: imgBrick must be N x H x W x 3 uint8", s->source);
    im->dset = H5Dopen2(im->file, "imgBrick", H5P_DEFAULT);
    if (im->dset < 0) return vt_fail(VT_ERR_FORMAT, "%s: cannot open imgBrick", s->source);
    s->count = shape[0];
    im->src_h = (int)shape[1];
    im->src_w = (int)shape[2];
    im->row = vt_malloc((size_t)im->src_h * (size_t)im->src_w, 3);
    if (!im->row) return VT_ERR_NOMEM;
    vt_transform_output_size(&s->transform, im->src_w, im->src_h, &s->width, &s->height);
    return numbered_ids(s, 1);
}

static vt_status open_files(vt_stimuli *s, impl *im, bool is_dir)
{
    int64_t n;
    vt_status st = list_files(s->source, is_dir, &im->paths, &n);
    s->count = n;
    if (st != VT_OK) return st;
    im->kind = SRC_FILES;
    im->listed = !is_dir;
    s->ids = vt_calloc((size_t)n, sizeof *s->ids);
    if (!s->ids) return VT_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        if (!(s->ids[i] = id_of_path(im->paths[i]))) return vt_fail(VT_ERR_NOMEM, "out of memory");
    /* The input size comes from the first image; later ones must transform to the same size. */
    vt_image *first;
    if ((st = vt_image_read(im->paths[0], &first)) != VT_OK)
        return im->listed ? vt_fail_context(st, "%s: ", s->source) : st;
    vt_transform_output_size(&s->transform, first->width, first->height, &s->width, &s->height);
    vt_image_free(first);
    return VT_OK;
}

vt_status vt_stimuli_open(const char *source, const vt_transform *tf, vt_stimuli **out)
{
    *out = NULL;
    vt_stimuli *s = vt_calloc(1, sizeof *s);
    impl *im = vt_calloc(1, sizeof *im);
    if (!s || !im) {
        free(s);
        free(im);
        return VT_ERR_NOMEM;
    }
    s->impl = im;
    im->file = im->dset = H5I_INVALID_HID;
    s->source = strdup(source);
    vt_status st = VT_OK;
    if (tf)
        s->transform = *tf;
    else
        st = vt_transform_preset("torchvision", &s->transform);
    struct stat sb;
    if (st == VT_OK && stat(source, &sb) != 0) st = vt_fail(VT_ERR_IO, "%s: cannot open: %s", source, strerror(errno));
    if (st == VT_OK) {
        if (S_ISDIR(sb.st_mode))
            st = open_files(s, im, true);
        else if (has_suffix(source, ".npy"))
            st = open_npy(s, im);
        else if (has_suffix(source, ".hdf5") || has_suffix(source, ".h5"))
            st = open_brick(s, im);
        else
            st = open_files(s, im, false);
    }
    if (st != VT_OK) {
        vt_stimuli_free(s);
        return st;
    }
    *out = s;
    return VT_OK;
}

void vt_stimuli_free(vt_stimuli *s)
{
    if (!s) return;
    impl *im = s->impl;
    if (im) {
        if (im->paths)
            for (int64_t i = 0; i < s->count; i++) free(im->paths[i]);
        free(im->paths);
        vt_tensor_free(im->npy);
        if (im->dset >= 0) H5Dclose(im->dset);
        if (im->file >= 0) H5Fclose(im->file);
        free(im->row);
        free(im);
    }
    if (s->ids)
        for (int64_t i = 0; i < s->count; i++) free(s->ids[i]);
    free(s->ids);
    free(s->source);
    free(s);
}

/* Transforms one decoded image into `dst`, refusing a size that differs from the batch's. */
static vt_status transform_into(const vt_stimuli *s, const vt_image *image, const char *what, float *dst)
{
    int w, h;
    vt_transform_output_size(&s->transform, image->width, image->height, &w, &h);
    if (w != s->width || h != s->height)
        return vt_fail(VT_ERR_ARG,
                       "%s: transformed size %dx%d differs from the first stimulus's %dx%d (use a cropping transform)",
                       what, w, h, s->width, s->height);
    vt_status st = vt_transform_apply(&s->transform, image, dst);
    return st == VT_OK ? st : vt_fail_context(st, "%s: ", what);
}

vt_status vt_stimuli_read(vt_stimuli *s, int64_t start, int64_t n, float *out)
{
    impl *im = s->impl;
    if (start < 0 || n < 0 || start + n > s->count)
        return vt_fail(VT_ERR_ARG, "%s: stimuli %lld..%lld out of range (%lld)", s->source, (long long)start,
                       (long long)(start + n), (long long)s->count);
    int64_t item = vt_stimuli_item_floats(s);
    for (int64_t i = 0; i < n; i++) {
        float *dst = out + i * item;
        int64_t idx = start + i;
        vt_status st = VT_OK;
        vt_image *image = NULL;
        char what[64];
        snprintf(what, sizeof what, "stimulus %lld", (long long)idx);
        switch (im->kind) {
        case SRC_NPY_F32: memcpy(dst, vt_tensor_f32(im->npy) + idx * item, sizeof *dst * (size_t)item); break;
        case SRC_FILES:
            st = vt_image_read(im->paths[idx], &image);
            if (st == VT_OK) st = transform_into(s, image, im->paths[idx], dst);
            if (st != VT_OK && im->listed) st = vt_fail_context(st, "%s: ", s->source);
            break;
        case SRC_NPY_U8: {
            size_t bytes = (size_t)im->src_h * (size_t)im->src_w * 3;
            st = vt_image_from_rgb((const uint8_t *)im->npy->data + (size_t)idx * bytes, im->src_w, im->src_h, &image);
            if (st == VT_OK) st = transform_into(s, image, what, dst);
            break;
        }
        case SRC_BRICK: {
            hsize_t off[4] = {(hsize_t)idx, 0, 0, 0}, cnt[4] = {1, (hsize_t)im->src_h, (hsize_t)im->src_w, 3};
            hid_t fspace = H5Dget_space(im->dset);
            H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL);
            hid_t mspace = H5Screate_simple(4, cnt, NULL);
            herr_t rc = H5Dread(im->dset, H5T_NATIVE_UINT8, mspace, fspace, H5P_DEFAULT, im->row);
            H5Sclose(mspace);
            H5Sclose(fspace);
            if (rc < 0) st = vt_fail(VT_ERR_FORMAT, "%s: cannot read imgBrick row %lld", s->source, (long long)idx);
            if (st == VT_OK) st = vt_image_from_rgb(im->row, im->src_w, im->src_h, &image);
            if (st == VT_OK) st = transform_into(s, image, what, dst);
            break;
        }
        }
        vt_image_free(image);
        if (st != VT_OK) return st;
    }
    return VT_OK;
}
