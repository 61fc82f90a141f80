/* NumPy .npy reader (versions 1.0-3.0, any supported dtype, C or Fortran order; float16 read as
 * float32) and an atomic writer. Format: "\x93NUMPY", major, minor, header length (uint16 for 1.x,
 * uint32 for 2.x/3.x), then a Python dict literal with 'descr', 'fortran_order', 'shape'. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"
#include "io/atomic_file.h"
#include "ventral/npy.h"

typedef struct npy_header {
    vt_dtype dtype;
    bool fortran;
    int rank;
    int64_t shape[VT_MAX_RANK];
    size_t data_offset;
    bool half; /* '<f2': read as uint16 bit patterns (dtype VT_U16), handed out as float32 */
} npy_header;

static const struct {
    const char *code; /* descr without its byte-order character */
    vt_dtype dtype;
} descr_table[] = {
    {"b1", VT_BOOL}, {"i1", VT_I8},  {"i2", VT_I16}, {"i4", VT_I32}, {"i8", VT_I64}, {"u1", VT_U8},
    {"u2", VT_U16},  {"u4", VT_U32}, {"u8", VT_U64}, {"f4", VT_F32}, {"f8", VT_F64},
};

/* Finds 'key' in the dict text and returns a pointer just past its colon. */
static const char *dict_value(const char *text, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(text, quoted);
    if (!p) {
        snprintf(quoted, sizeof quoted, "\"%s\"", key);
        p = strstr(text, quoted);
    }
    if (!p) return NULL;
    p += strlen(quoted);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static vt_status parse_descr(const char *path, const char *v, vt_dtype *dtype, bool *half)
{
    *half = false;
    if (*v != '\'' && *v != '"')
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: structured or non-string dtype descriptions are not supported", path);
    char quote = *v++;
    const char *end = strchr(v, quote);
    if (!end || end - v < 2 || end - v > 8) return vt_fail(VT_ERR_FORMAT, "%s: malformed 'descr' in header", path);
    char code[16];
    memcpy(code, v, (size_t)(end - v));
    code[end - v] = '\0';
    char order = code[0];
    if (order == '>')
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: big-endian data ('%s') is not supported; save it little-endian", path,
                       code);
    if (order != '<' && order != '|' && order != '=')
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: dtype '%s' is not supported", path, code);
    for (size_t i = 0; i < sizeof descr_table / sizeof descr_table[0]; i++)
        if (strcmp(code + 1, descr_table[i].code) == 0) {
            *dtype = descr_table[i].dtype;
            return VT_OK;
        }
    if (strcmp(code + 1, "f2") == 0) { /* float16: two bytes each, converted to float32 once read */
        *dtype = VT_U16;
        *half = true;
        return VT_OK;
    }
    return vt_fail(VT_ERR_UNSUPPORTED,
                   "%s: dtype '%s' is not supported (bool, int8-64, uint8-64, float16 (read as float32), float32, "
                   "float64 are)",
                   path, code);
}

static vt_status parse_shape(const char *path, const char *v, npy_header *h)
{
    if (*v != '(') return vt_fail(VT_ERR_FORMAT, "%s: malformed 'shape' in header", path);
    v++;
    h->rank = 0;
    for (;;) {
        while (*v == ' ' || *v == ',') v++;
        if (*v == ')') break;
        char *end;
        errno = 0;
        long long d = strtoll(v, &end, 10);
        if (end == v || errno || d < 0) return vt_fail(VT_ERR_FORMAT, "%s: malformed 'shape' in header", path);
        if (h->rank == VT_MAX_RANK)
            return vt_fail(VT_ERR_UNSUPPORTED, "%s: more than %d dimensions", path, VT_MAX_RANK);
        h->shape[h->rank++] = d;
        v = end;
        if (*v == 'L') v++; /* Python 2 longs */
    }
    return VT_OK;
}

static vt_status read_header(const char *path, FILE *f, npy_header *h)
{
    unsigned char pre[10];
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return vt_fail(VT_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    int major = pre[6];
    size_t hlen, prelen;
    if (major == 1) {
        if (fread(pre + 8, 1, 2, f) != 2) return vt_fail(VT_ERR_FORMAT, "%s: truncated header", path);
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        prelen = 10;
    } else if (major == 2 || major == 3) {
        unsigned char l[4];
        if (fread(l, 1, 4, f) != 4) return vt_fail(VT_ERR_FORMAT, "%s: truncated header", path);
        hlen = (size_t)l[0] | (size_t)l[1] << 8 | (size_t)l[2] << 16 | (size_t)l[3] << 24;
        prelen = 12;
        if (hlen > (1u << 24)) return vt_fail(VT_ERR_FORMAT, "%s: implausible header length %zu", path, hlen);
    } else {
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported (1.0-3.0 are)", path, major,
                       pre[7]);
    }
    char *text = vt_malloc(hlen + 1, 1);
    if (!text) return VT_ERR_NOMEM;
    if (fread(text, 1, hlen, f) != hlen) {
        free(text);
        return vt_fail(VT_ERR_FORMAT, "%s: truncated header (expected %zu bytes)", path, hlen);
    }
    text[hlen] = '\0';
    vt_status st = VT_OK;
    const char *descr = dict_value(text, "descr"), *fortran = dict_value(text, "fortran_order"),
               *shape = dict_value(text, "shape");
    if (!descr || !fortran || !shape)
        st = vt_fail(VT_ERR_FORMAT, "%s: header lacks 'descr', 'fortran_order' or 'shape'", path);
    if (st == VT_OK) st = parse_descr(path, descr, &h->dtype, &h->half);
    if (st == VT_OK) {
        if (strncmp(fortran, "True", 4) == 0)
            h->fortran = true;
        else if (strncmp(fortran, "False", 5) == 0)
            h->fortran = false;
        else
            st = vt_fail(VT_ERR_FORMAT, "%s: malformed 'fortran_order' in header", path);
    }
    if (st == VT_OK) st = parse_shape(path, shape, h);
    h->data_offset = prelen + hlen;
    free(text);
    return st;
}

/* Fortran order → C order: reverse the axes' roles with an n-d index walk. */
static void fortran_to_c(const void *src, void *dst, const vt_tensor *t)
{
    size_t es = vt_dtype_size(t->dtype);
    int64_t n = vt_tensor_numel(t), idx[VT_MAX_RANK] = {0};
    int64_t fstride[VT_MAX_RANK];
    int64_t s = 1;
    for (int d = 0; d < t->rank; d++) {
        fstride[d] = s;
        s *= t->shape[d];
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int d = 0; d < t->rank; d++) off += idx[d] * fstride[d];
        memcpy((char *)dst + (size_t)i * es, (const char *)src + (size_t)off * es, es);
        for (int d = t->rank - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

static vt_status open_npy(const char *path, FILE **f, npy_header *h, size_t *nbytes)
{
    *f = fopen(path, "rb");
    if (!*f) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vt_status st = read_header(path, *f, h);
    if (st == VT_OK) {
        struct stat sb;
        vt_tensor probe = {.dtype = h->dtype, .rank = h->rank};
        memcpy(probe.shape, h->shape, sizeof h->shape);
        *nbytes = vt_tensor_nbytes(&probe);
        if (fstat(fileno(*f), &sb) != 0)
            st = vt_fail(VT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        else if ((size_t)sb.st_size < h->data_offset + *nbytes)
            st = vt_fail(VT_ERR_FORMAT, "%s: truncated: header promises %zu data bytes, file holds %lld", path, *nbytes,
                         (long long)sb.st_size - (long long)h->data_offset);
    }
    if (st != VT_OK) {
        fclose(*f);
        *f = NULL;
    }
    return st;
}

static vt_status validate_bools(const char *path, vt_tensor *t)
{
    if (t->dtype != VT_BOOL) return VT_OK;
    const uint8_t *b = t->data;
    int64_t n = vt_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (b[i] > 1)
            return vt_fail(VT_ERR_FORMAT, "%s: bool array holds byte %u at index %lld", path, b[i], (long long)i);
    return VT_OK;
}

vt_status vt_npy_read(const char *path, vt_tensor **out)
{
    *out = NULL;
    FILE *f;
    npy_header h;
    size_t nbytes;
    vt_status st = open_npy(path, &f, &h, &nbytes);
    if (st != VT_OK) return st;
    vt_tensor *t = vt_tensor_new_uninit(h.dtype, h.rank, h.shape);
    if (!t) {
        fclose(f);
        return vt_fail_context(VT_ERR_NOMEM, "%s: ", path);
    }
    void *buf = t->data;
    if (h.fortran && h.rank > 1) {
        buf = vt_malloc(nbytes, 1);
        if (!buf) st = VT_ERR_NOMEM;
    }
    if (st == VT_OK && fread(buf, 1, nbytes, f) != nbytes)
        st = vt_fail(VT_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    if (st == VT_OK && buf != t->data) fortran_to_c(buf, t->data, t);
    if (buf != t->data) free(buf);
    fclose(f);
    if (st == VT_OK) st = validate_bools(path, t);
    if (st == VT_OK && h.half) {
        vt_tensor *f32 = vt_tensor_new_uninit(VT_F32, t->rank, t->shape);
        if (!f32)
            st = vt_fail_context(VT_ERR_NOMEM, "%s: ", path);
        else {
            const uint16_t *b = t->data;
            float *y = f32->data;
            for (int64_t i = 0, n = vt_tensor_numel(t); i < n; i++) y[i] = vt_f16_bits_to_f32(b[i]);
            vt_tensor_free(t);
            t = f32;
        }
    }
    if (st != VT_OK) {
        vt_tensor_free(t);
        return st;
    }
    *out = t;
    return VT_OK;
}

vt_status vt_npy_map(const char *path, vt_tensor **out)
{
    *out = NULL;
    FILE *f;
    npy_header h;
    size_t nbytes;
    vt_status st = open_npy(path, &f, &h, &nbytes);
    if (st != VT_OK) return st;
    if ((h.fortran && h.rank > 1) || nbytes == 0 || h.dtype == VT_BOOL || h.half) {
        fclose(f);
        return vt_npy_read(path, out);
    }
    size_t len = h.data_offset + nbytes;
    void *base = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    fclose(f);
    if (base == MAP_FAILED) return vt_npy_read(path, out);
    vt_tensor *t = vt_tensor_wrap(h.dtype, h.rank, h.shape, (char *)base + h.data_offset);
    if (!t) {
        munmap(base, len);
        return VT_ERR_NOMEM;
    }
    t->storage = VT_STORAGE_MAPPED;
    t->map_base = base;
    t->map_len = len;
    *out = t;
    return VT_OK;
}

/* Builds the header (magic through padding) for a C-order little-endian array. */
static size_t make_header(vt_dtype dtype, int rank, const int64_t *shape, char *buf, size_t cap)
{
    char dict[512], shp[256];
    size_t used = 0;
    shp[0] = '\0';
    for (int d = 0; d < rank; d++)
        used +=
            (size_t)snprintf(shp + used, sizeof shp - used, "%lld,%s", (long long)shape[d], d + 1 < rank ? " " : "");
    if (rank > 1) shp[used - 1] = '\0'; /* numpy writes (3,) for rank 1, (3, 4) otherwise */
    const char *code = NULL;
    for (size_t i = 0; i < sizeof descr_table / sizeof descr_table[0]; i++)
        if (descr_table[i].dtype == dtype) code = descr_table[i].code;
    char order = vt_dtype_size(dtype) == 1 ? '|' : '<';
    int dlen =
        snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (%s), }", order, code, shp);
    /* Pad with spaces so the data start is 64-byte aligned, ending with '\n'. */
    size_t prelen = 10, total = prelen + (size_t)dlen + 1;
    total = (total + 63) / 64 * 64;
    size_t hlen = total - prelen;
    if (total > cap) return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + prelen, dict, (size_t)dlen);
    memset(buf + prelen + dlen, ' ', hlen - (size_t)dlen - 1);
    buf[total - 1] = '\n';
    return total;
}

vt_status vt_npy_write(const char *path, const vt_tensor *t)
{
    char head[1024];
    size_t hl = make_header(t->dtype, t->rank, t->shape, head, sizeof head);
    if (!hl) return vt_fail(VT_ERR_ARG, "%s: header too long", path);
    vt_atomic_file af;
    vt_status st = vt_atomic_open(&af, path);
    if (st != VT_OK) return st;
    st = vt_atomic_write(&af, head, hl);
    if (st == VT_OK) st = vt_atomic_write(&af, t->data, vt_tensor_nbytes(t));
    if (st != VT_OK) {
        vt_atomic_abandon(&af);
        return st;
    }
    return vt_atomic_commit(&af);
}

struct vt_npy_out {
    vt_atomic_file file;
    vt_tensor *tensor;
};

vt_status vt_npy_create(const char *path, vt_dtype dtype, int rank, const int64_t *shape, vt_npy_out **out)
{
    *out = NULL;
    char head[1024];
    size_t hl = make_header(dtype, rank, shape, head, sizeof head);
    if (!hl) return vt_fail(VT_ERR_ARG, "%s: header too long", path);
    vt_npy_out *o = vt_calloc(1, sizeof *o);
    if (!o) return VT_ERR_NOMEM;
    o->tensor = vt_tensor_wrap(dtype, rank, shape, NULL);
    if (!o->tensor) {
        free(o);
        return VT_ERR_NOMEM;
    }
    size_t nbytes = vt_tensor_nbytes(o->tensor), len = hl + nbytes;
    vt_status st = vt_atomic_open(&o->file, path);
    if (st == VT_OK) st = vt_atomic_write(&o->file, head, hl);
    if (st == VT_OK && ftruncate(fileno(o->file.f), (off_t)len) != 0)
        st = vt_fail(VT_ERR_IO, "%s: cannot size output to %zu bytes: %s", path, len, strerror(errno));
    /* Reserve the blocks now: a full disk is then a clear error here rather than a SIGBUS when the
     * mapping is written, and the writes fault in no block allocations (measured: ventral ridge's
     * 480 MB coef.npy in bench_ridge.py, 3.87 -> 3.53 s). File systems without fallocate keep the
     * sparse file. */
    if (st == VT_OK && nbytes > 0 && fallocate(fileno(o->file.f), 0, 0, (off_t)len) != 0 && errno != EOPNOTSUPP &&
        errno != ENOSYS)
        st = vt_fail(VT_ERR_IO, "%s: cannot reserve %zu bytes on disk: %s", path, len, strerror(errno));
    if (st == VT_OK && nbytes > 0) {
        fflush(o->file.f);
        void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fileno(o->file.f), 0);
        if (base == MAP_FAILED)
            st = vt_fail(VT_ERR_IO, "%s: cannot map output: %s", path, strerror(errno));
        else {
            o->tensor->storage = VT_STORAGE_MAPPED;
            o->tensor->map_base = base;
            o->tensor->map_len = len;
            o->tensor->data = (char *)base + hl;
        }
    }
    if (st != VT_OK) {
        vt_npy_abandon(o);
        return st;
    }
    *out = o;
    return VT_OK;
}

vt_tensor *vt_npy_out_tensor(vt_npy_out *o)
{
    return o->tensor;
}

vt_status vt_npy_commit(vt_npy_out *o)
{
    vt_tensor_free(o->tensor); /* unmaps: the kernel writes the pages back */
    vt_status st = vt_atomic_commit(&o->file);
    free(o);
    return st;
}

void vt_npy_abandon(vt_npy_out *o)
{
    if (!o) return;
    vt_tensor_free(o->tensor);
    vt_atomic_abandon(&o->file);
    free(o);
}
