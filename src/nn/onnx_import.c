/* ONNX import: ModelProto (protobuf-c bindings generated from the system onnx.proto) into the
 * graph IR. Everything the graph needs is copied out, so the protobuf tree is freed at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "onnx/onnx.pb-c.h"
#include "ventral/onnx.h"

/* Default-domain opsets we read. Before opset 6 an op is run only where its registered implementation
 * starts at or before the model's opset (its since-version), so an op whose early form differs (Tile-1,
 * Upsample-1) is refused by name rather than run with later semantics. */
enum { OPSET_MIN = 1, OPSET_MAX = 18 };

static vt_status read_file(const char *path, uint8_t **data, size_t *len)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return vt_fail(VT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vt_status st = VT_OK;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) st = vt_fail(VT_ERR_IO, "%s: cannot determine its size", path);
    uint8_t *buf = st == VT_OK ? vt_malloc((size_t)size, 1) : NULL;
    if (st == VT_OK && !buf) st = VT_ERR_NOMEM;
    if (st == VT_OK && size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size)
        st = vt_fail(VT_ERR_IO, "%s: read failed", path);
    fclose(f);
    if (st != VT_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *len = (size_t)size;
    return VT_OK;
}

/* ONNX element type -> ventral dtype; float16 and bfloat16 are held in float32 (*narrow says which). */
static bool map_dtype(int32_t onnx_type, vt_dtype *out, vt_narrow *narrow)
{
    *narrow = VT_NARROW_NONE;
    switch (onnx_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        *narrow = VT_NARROW_F16;
        *out = VT_F32;
        return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
        *narrow = VT_NARROW_BF16;
        *out = VT_F32;
        return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: *out = VT_F32; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: *out = VT_F64; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: *out = VT_I64; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: *out = VT_I32; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: *out = VT_I16; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: *out = VT_I8; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: *out = VT_U8; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: *out = VT_U16; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: *out = VT_U32; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: *out = VT_U64; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: *out = VT_BOOL; return true;
    default: return false;
    }
}

static const char *onnx_type_name(int32_t t)
{
    static const char *names[] = {"undefined", "float",  "uint8",     "int8",       "uint16",  "int16",
                                  "int32",     "int64",  "string",    "bool",       "float16", "double",
                                  "uint32",    "uint64", "complex64", "complex128", "bfloat16"};
    return t >= 0 && t < (int32_t)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

/* External data: "location" relative to the model's folder, optional "offset" and "length". */
static vt_status read_external(const Onnx__TensorProto *tp, const char *dir, const char *what, void *dst, size_t nbytes)
{
    const char *location = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key || !e->value) continue;
        if (strcmp(e->key, "location") == 0)
            location = e->value;
        else if (strcmp(e->key, "offset") == 0)
            offset = atoll(e->value);
        else if (strcmp(e->key, "length") == 0)
            length = atoll(e->value);
    }
    if (!location || !location[0])
        return vt_fail(VT_ERR_FORMAT, "%s: tensor '%s' is external but names no location", what, tp->name);
    /* Only files beside the model: an absolute path or ".." could read anything on the machine. */
    if (location[0] == '/' || strstr(location, ".."))
        return vt_fail(VT_ERR_FORMAT,
                       "%s: tensor '%s': external location '%s' must be a relative path inside the "
                       "model's folder",
                       what, tp->name, location);
    if (length >= 0 && (size_t)length != nbytes)
        return vt_fail(VT_ERR_FORMAT, "%s: tensor '%s': external length %lld does not match its shape (%zu bytes)",
                       what, tp->name, length, nbytes);
    size_t plen = strlen(dir ? dir : ".") + strlen(location) + 2;
    char *path = vt_malloc(plen, 1);
    if (!path) return VT_ERR_NOMEM;
    snprintf(path, plen, "%s/%s", dir ? dir : ".", location);
    FILE *f = fopen(path, "rb");
    vt_status st = VT_OK;
    if (!f)
        st = vt_fail(VT_ERR_IO, "%s: tensor '%s': cannot open external data %s: %s", what, tp->name, path,
                     strerror(errno));
    else {
        if (fseek(f, (long)offset, SEEK_SET) != 0 || fread(dst, 1, nbytes, f) != nbytes)
            st = vt_fail(VT_ERR_FORMAT, "%s: tensor '%s': external data %s is shorter than offset %lld + %zu bytes",
                         what, tp->name, path, offset, nbytes);
        fclose(f);
    }
    free(path);
    return st;
}

/* A float16 / bfloat16 TensorProto (raw_data, int32_data holding the bit patterns, or external data)
 * -> new float32 tensor of the same values. */
static vt_status narrow_from_proto(Onnx__TensorProto *tp, const char *dir, const char *what, vt_narrow narrow, int rank,
                                   const int64_t *shape, vt_tensor **out)
{
    const char *tname = tp->name ? tp->name : "";
    vt_tensor *t = vt_tensor_new(VT_F32, rank, shape);
    if (!t) return vt_fail_context(VT_ERR_NOMEM, "%s: tensor '%s': ", what, tname);
    int64_t n = vt_tensor_numel(t);
    size_t nbytes = 2 * (size_t)n;
    uint16_t *bits = NULL;
    vt_status st = VT_OK;
    bool external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external || tp->has_raw_data) {
        bits = vt_malloc(n ? (size_t)n : 1, sizeof *bits);
        if (!bits)
            st = VT_ERR_NOMEM;
        else if (external)
            st = read_external(tp, dir, what, bits, nbytes);
        else if (tp->raw_data.len != nbytes)
            st = vt_fail(VT_ERR_FORMAT, "%s: tensor '%s' holds %zu bytes of raw data, its shape needs %zu", what, tname,
                         tp->raw_data.len, nbytes);
        else if (nbytes)
            memcpy(bits, tp->raw_data.data, nbytes); /* little-endian host, as ONNX stores it */
    } else if (n > 0 && tp->n_int32_data != (size_t)n)
        st = vt_fail(VT_ERR_FORMAT, "%s: tensor '%s' holds %zu values, its shape needs %lld", what, tname,
                     tp->n_int32_data, (long long)n);
    float *y = t->data;
    for (int64_t i = 0; st == VT_OK && i < n; i++) {
        uint16_t b = bits ? bits[i] : (uint16_t)tp->int32_data[i];
        y[i] = narrow == VT_NARROW_F16 ? vt_f16_bits_to_f32(b) : vt_bf16_bits_to_f32(b);
    }
    free(bits);
    if (st != VT_OK) {
        vt_tensor_free(t);
        return st;
    }
    *out = t;
    return VT_OK;
}

/* TensorProto -> new owned tensor (raw_data, typed fields or external data). Raw data of the right
 * size is taken over rather than copied (protobuf-c allocates each bytes field on its own with
 * malloc), so a model's weights are held once, not twice, while it loads. Float16 and bfloat16
 * tensors come back as float32 with *narrow saying which (narrow may be NULL). */
static vt_status tensor_from_proto(Onnx__TensorProto *tp, const char *dir, const char *what, vt_tensor **out,
                                   vt_narrow *narrow_out)
{
    *out = NULL;
    const char *tname = tp->name ? tp->name : "";
    vt_dtype dt;
    vt_narrow narrow;
    if (narrow_out) *narrow_out = VT_NARROW_NONE;
    if (!map_dtype(tp->data_type, &dt, &narrow))
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: tensor '%s' has element type %s, which ventral does not support", what,
                       tname, onnx_type_name(tp->data_type));
    if (tp->n_dims > VT_MAX_RANK)
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: tensor '%s' has rank %zu (at most %d)", what, tname, tp->n_dims,
                       VT_MAX_RANK);
    int64_t shape[VT_MAX_RANK];
    for (size_t d = 0; d < tp->n_dims; d++) {
        if (tp->dims[d] < 0) return vt_fail(VT_ERR_FORMAT, "%s: tensor '%s' has a negative dimension", what, tname);
        shape[d] = tp->dims[d];
    }
    if (narrow) {
        if (narrow_out) *narrow_out = narrow;
        return narrow_from_proto(tp, dir, what, narrow, (int)tp->n_dims, shape, out);
    }
    bool external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (!external && tp->has_raw_data && tp->raw_data.data && tp->raw_data.len > 0) {
        vt_tensor *t = vt_tensor_wrap(dt, (int)tp->n_dims, shape, tp->raw_data.data);
        if (!t) return vt_fail_context(VT_ERR_NOMEM, "%s: tensor '%s': ", what, tname);
        if (vt_tensor_nbytes(t) != tp->raw_data.len) {
            size_t need = vt_tensor_nbytes(t);
            t->data = NULL;
            vt_tensor_free(t);
            return vt_fail(VT_ERR_FORMAT, "%s: tensor '%s' holds %zu bytes of raw data, its shape needs %zu", what,
                           tname, tp->raw_data.len, need);
        }
        t->storage = VT_STORAGE_OWNED; /* little-endian host, as ONNX stores it */
        tp->raw_data.data = NULL;
        tp->raw_data.len = 0;
        *out = t;
        return VT_OK;
    }
    vt_tensor *t = vt_tensor_new(dt, (int)tp->n_dims, shape);
    if (!t) return vt_fail_context(VT_ERR_NOMEM, "%s: tensor '%s': ", what, tname);
    int64_t n = vt_tensor_numel(t);
    size_t nbytes = vt_tensor_nbytes(t);
    vt_status st = VT_OK;
    if (external) {
        st = read_external(tp, dir, what, t->data, nbytes);
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != nbytes)
            st = vt_fail(VT_ERR_FORMAT, "%s: tensor '%s' holds %zu bytes of raw data, its shape needs %zu", what, tname,
                         tp->raw_data.len, nbytes);
        else if (nbytes)
            memcpy(t->data, tp->raw_data.data, nbytes); /* little-endian host, as ONNX stores it */
    } else if (n > 0) {
        size_t have = 0;
        switch (dt) {
        case VT_F32:
            have = tp->n_float_data;
            if (have == (size_t)n) memcpy(t->data, tp->float_data, nbytes);
            break;
        case VT_F64:
            have = tp->n_double_data;
            if (have == (size_t)n) memcpy(t->data, tp->double_data, nbytes);
            break;
        case VT_I64:
            have = tp->n_int64_data;
            if (have == (size_t)n) memcpy(t->data, tp->int64_data, nbytes);
            break;
        case VT_U32:
        case VT_U64:
            have = tp->n_uint64_data;
            for (size_t i = 0; have == (size_t)n && i < have; i++) {
                if (dt == VT_U32)
                    ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i];
                else
                    ((uint64_t *)t->data)[i] = tp->uint64_data[i];
            }
            break;
        default: /* int32, int16, int8, uint8, uint16, bool: all in int32_data */
            have = tp->n_int32_data;
            for (size_t i = 0; have == (size_t)n && i < have; i++) {
                int32_t v = tp->int32_data[i];
                switch (dt) {
                case VT_I32: ((int32_t *)t->data)[i] = v; break;
                case VT_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
                case VT_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
                case VT_U8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
                case VT_U16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
                case VT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
                default: break;
                }
            }
            break;
        }
        if (have != (size_t)n)
            st = vt_fail(VT_ERR_FORMAT, "%s: tensor '%s' holds %zu values, its shape needs %lld", what, tname, have,
                         (long long)n);
    }
    if (st != VT_OK) {
        vt_tensor_free(t);
        return st;
    }
    *out = t;
    return VT_OK;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* One graph being imported: the model's, or a subgraph of a node of the enclosing one (up), which may read
 * the enclosing graphs' values by name. */
typedef struct scope {
    Onnx__ModelProto *m;
    const char *dir;
    int opset; /* the model's default-domain opset */
    const struct scope *up;
    vt_graph *g;
} scope;

/* What a declared type is when it is not a tensor (NULL for a tensor or no type at all). */
static const char *non_tensor(const Onnx__TypeProto *tp)
{
    if (!tp) return NULL;
    switch (tp->value_case) {
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: return "a sequence";
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: return "a map";
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: return "an optional";
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: return "a sparse tensor";
    default: return NULL;
    }
}

/* A new value of subgraph g standing for value `name` of an enclosing graph (its type comes from there). */
static int outer_value(vt_graph *g, const char *name)
{
    int v = vt_graph_add_value(g, name);
    if (v < 0) return -1;
    vt_value *val = &g->values[v];
    val->is_input = val->untyped = true;
    val->decl_rank = -1;
    return v;
}

/* The same, as a new last input of g. */
static int add_outer_input(vt_graph *g, const char *name)
{
    int v = outer_value(g, name);
    int *in = v < 0 ? NULL : realloc(g->inputs, sizeof *in * (size_t)(g->n_inputs + 1));
    if (!in) return vt_fail(VT_ERR_NOMEM, "out of memory"), -1;
    g->inputs = in;
    g->inputs[g->n_inputs++] = v;
    g->n_outer++;
    return v;
}

/* The value `name` as seen from graph s: its own, or one of an enclosing graph, which then becomes an outer
 * input of s (and of every graph in between); -1 when no graph defines it. */
static int resolve(const scope *s, const char *name)
{
    int v = vt_graph_find_value(s->g, name);
    if (v >= 0 || !s->up || resolve(s->up, name) < 0) return v;
    return add_outer_input(s->g, name);
}

static vt_status import_graph(const scope *s, const Onnx__GraphProto *gp);

/* A GRAPH attribute of a node (label: "node 'name'" or "node #i") in graph up, imported into a child graph. */
static vt_status import_sub(const scope *up, const Onnx__GraphProto *gp, const char *label, const char *op_type,
                            const char *attr, int opset, vt_graph **out)
{
    char what[512];
    snprintf(what, sizeof what, "%s: %s (%s, opset %d) %s", up->g->what, label, op_type, opset, attr);
    vt_graph *g = vt_graph_new(what);
    if (!g) return VT_ERR_NOMEM;
    g->is_sub = true;
    scope s = {.m = up->m, .dir = up->dir, .opset = up->opset, .up = up, .g = g};
    vt_status st = import_graph(&s, gp);
    if (st != VT_OK) {
        vt_graph_free(g);
        return st;
    }
    *out = g;
    return VT_OK;
}

static vt_status copy_attr(const scope *sc, Onnx__AttributeProto *ap, const char *label, const char *op_type, int opset,
                           vt_attr *a)
{
    const char *dir = sc->dir, *what = sc->g->what;
    memset(a, 0, sizeof *a);
    a->name = dup_or_empty(ap->name);
    if (!a->name) return vt_fail(VT_ERR_NOMEM, "out of memory");
    switch (ap->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: a->type = VT_ATTR_FLOAT, a->f = ap->f; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: a->type = VT_ATTR_INT, a->i = ap->i; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->type = VT_ATTR_STRING;
        a->s = vt_malloc(ap->s.len + 1, 1);
        if (!a->s) return VT_ERR_NOMEM;
        if (ap->s.len) memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = '\0';
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        a->type = VT_ATTR_TENSOR;
        if (!ap->t) return vt_fail(VT_ERR_FORMAT, "%s: attribute '%s' has no tensor", what, a->name);
        return tensor_from_proto(ap->t, dir, what, &a->t, &a->t_narrow);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->type = VT_ATTR_FLOATS;
        a->n = (int)ap->n_floats;
        a->floats = vt_malloc(ap->n_floats, sizeof(float));
        if (!a->floats) return VT_ERR_NOMEM;
        if (ap->n_floats) memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->type = VT_ATTR_INTS;
        a->n = (int)ap->n_ints;
        a->ints = vt_malloc(ap->n_ints, sizeof(int64_t));
        if (!a->ints) return VT_ERR_NOMEM;
        if (ap->n_ints) memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        a->type = VT_ATTR_STRINGS;
        a->strings = vt_calloc(ap->n_strings, sizeof(char *));
        if (!a->strings) return VT_ERR_NOMEM;
        for (size_t i = 0; i < ap->n_strings; i++) {
            a->strings[i] = vt_malloc(ap->strings[i].len + 1, 1);
            if (!a->strings[i]) return VT_ERR_NOMEM;
            if (ap->strings[i].len) memcpy(a->strings[i], ap->strings[i].data, ap->strings[i].len);
            a->strings[i][ap->strings[i].len] = '\0';
            a->n = (int)i + 1;
        }
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
        a->type = VT_ATTR_GRAPH;
        if (!ap->g) return vt_fail(VT_ERR_FORMAT, "%s: attribute '%s' has no graph", what, a->name);
        return import_sub(sc, ap->g, label, op_type, a->name, opset, &a->sub);
    default: a->type = VT_ATTR_OTHER; break;
    }
    return VT_OK;
}

static bool is_default_domain(const char *d)
{
    return !d || !d[0] || strcmp(d, "ai.onnx") == 0;
}

static int opset_of(const Onnx__ModelProto *m, const char *domain)
{
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        bool dflt = is_default_domain(o->domain);
        if ((dflt && is_default_domain(domain)) || (!dflt && domain && o->domain && strcmp(o->domain, domain) == 0))
            return o->has_version ? (int)o->version : 1;
    }
    return -1;
}

/* Gives node n (in graph s) its outer-scope inputs: the enclosing values its subgraphs read, in the order of
 * first use, and makes each subgraph's outer inputs that same list (a branch then also has those its sibling
 * reads, unused), so that the op maps them by position. */
static vt_status add_node_outer(const scope *s, vt_node *n)
{
    const char *names[VT_NN_MAX_IO];
    int count = 0;
    for (int a = 0; a < n->n_attrs; a++) {
        const vt_graph *sub = n->attrs[a].sub;
        for (int j = sub ? sub->n_inputs - sub->n_outer : 0; sub && j < sub->n_inputs; j++) {
            const char *name = sub->values[sub->inputs[j]].name;
            bool seen = false;
            for (int k = 0; k < count && !seen; k++) seen = !strcmp(names[k], name);
            if (seen) continue;
            if (n->n_in + count >= VT_NN_MAX_IO)
                return vt_fail(VT_ERR_UNSUPPORTED, "%s: node '%s' (%s): its subgraphs read more than %d outer values",
                               s->g->what, n->name, n->op_type, VT_NN_MAX_IO - n->n_in);
            names[count++] = name;
        }
    }
    if (!count) return VT_OK;
    for (int a = 0; a < n->n_attrs; a++) {
        vt_graph *sub = n->attrs[a].sub;
        if (!sub) continue;
        int decl = sub->n_inputs - sub->n_outer;
        int *in = vt_calloc((size_t)(decl + count), sizeof *in);
        if (!in) return VT_ERR_NOMEM;
        memcpy(in, sub->inputs, sizeof *in * (size_t)decl);
        for (int k = 0; k < count; k++) {
            int v = vt_graph_find_value(sub, names[k]);
            if (v >= 0 && !sub->values[v].is_input) {
                free(in);
                return vt_fail(VT_ERR_FORMAT, "%s: '%s' is defined in the subgraph and outside it", sub->what,
                               names[k]);
            }
            if (v < 0) v = outer_value(sub, names[k]); /* one its sibling reads */
            if (v < 0) {
                free(in);
                return VT_ERR_NOMEM;
            }
            in[decl + k] = v;
        }
        free(sub->inputs);
        sub->inputs = in;
        sub->n_inputs = decl + count;
        sub->n_outer = count;
    }
    int *in = realloc(n->in, sizeof *in * (size_t)(n->n_in + count + 1));
    if (!in) return VT_ERR_NOMEM;
    n->in = in;
    for (int k = 0; k < count; k++) n->in[n->n_in + k] = vt_graph_find_value(s->g, names[k]);
    n->n_in += count;
    n->n_outer = count;
    return VT_OK;
}

/* The index of the first node of gp that reads value `name`, or gp->n_node. */
static size_t first_reader(const Onnx__GraphProto *gp, const char *name)
{
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t k = 0; k < gp->node[i]->n_input; k++)
            if (gp->node[i]->input[k] && !strcmp(gp->node[i]->input[k], name) && gp->node[i]->op_type) return i;
    return gp->n_node;
}

/* Initializers, inputs, nodes and outputs of graph proto gp into s->g. */
static vt_status import_graph(const scope *s, const Onnx__GraphProto *gp)
{
    vt_graph *g = s->g;
    Onnx__ModelProto *m = s->m;
    const char *what = g->what, *dir = s->dir;
    int opset = s->opset;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        Onnx__TensorProto *tp = gp->initializer[i];
        int v = vt_graph_add_value(g, tp->name ? tp->name : "");
        if (v < 0) return VT_ERR_NOMEM;
        vt_tensor_free(g->values[v].init);
        vt_status st = tensor_from_proto(tp, dir, what, &g->values[v].init, &g->values[v].decl_narrow);
        if (st != VT_OK) return st;
    }
    g->inputs = vt_calloc(gp->n_input + 1, sizeof(int));
    g->outputs = vt_calloc(gp->n_output + 1, sizeof(int));
    if (!g->inputs || !g->outputs) return VT_ERR_NOMEM;
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = vi->name ? vi->name : "";
        int v = vt_graph_find_value(g, name);
        if (v >= 0 && g->values[v].init) continue; /* an initializer listed as input (IR < 4): a constant */
        if (v < 0) v = vt_graph_add_value(g, name);
        if (v < 0) return VT_ERR_NOMEM;
        vt_value *val = &g->values[v];
        const Onnx__TypeProto *tp = vi->type;
        const char *kind = non_tensor(tp);
        if (kind) {
            char reader[160] = "";
            size_t r = first_reader(gp, name);
            if (r < gp->n_node && gp->node[r]->name && gp->node[r]->name[0])
                snprintf(reader, sizeof reader, ", read by node '%s' (%s)", gp->node[r]->name, gp->node[r]->op_type);
            else if (r < gp->n_node)
                snprintf(reader, sizeof reader, ", read by node #%zu (%s)", r, gp->node[r]->op_type);
            return vt_fail(VT_ERR_UNSUPPORTED, "%s: input '%s' is %s, not a tensor%s; ventral supports tensors only",
                           what, name, kind, reader);
        }
        bool tensor = tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type;
        if (!tensor && !g->is_sub) return vt_fail(VT_ERR_UNSUPPORTED, "%s: input '%s' is not a tensor", what, name);
        /* A subgraph's input may leave its type to the enclosing node. */
        bool typed = tensor && (!g->is_sub || tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED);
        val->untyped = !typed;
        if (typed && !map_dtype(tp->tensor_type->elem_type, &val->decl_dtype, &val->decl_narrow))
            return vt_fail(VT_ERR_UNSUPPORTED, "%s: input '%s' has element type %s, which ventral does not support",
                           what, name, onnx_type_name(tp->tensor_type->elem_type));
        const Onnx__TensorShapeProto *sp = typed ? tp->tensor_type->shape : NULL;
        val->decl_rank = sp ? (int)sp->n_dim : -1;
        if (val->decl_rank > VT_MAX_RANK)
            return vt_fail(VT_ERR_UNSUPPORTED, "%s: input '%s' has rank %d (at most %d)", what, name, val->decl_rank,
                           VT_MAX_RANK);
        for (int d = 0; d < val->decl_rank; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = sp->dim[d];
            val->decl_shape[d] =
                dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dim->dim_value >= 0
                    ? dim->dim_value
                    : -1;
        }
        val->is_input = true;
        g->inputs[g->n_inputs++] = v;
    }
    for (size_t i = 0; g->is_sub && i < gp->n_output; i++) {
        const char *kind = non_tensor(gp->output[i]->type);
        if (kind)
            return vt_fail(VT_ERR_UNSUPPORTED, "%s: output '%s' is %s; ventral's If, Loop and Scan take tensors only",
                           what, gp->output[i]->name ? gp->output[i]->name : "", kind);
    }

    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        const char *op_type = np->op_type ? np->op_type : "";
        const char *domain = is_default_domain(np->domain) ? "" : np->domain;
        int node_opset = opset_of(m, domain);
        if (!domain[0] && node_opset < 0) node_opset = opset;
        const vt_op *op = vt_op_find(domain, op_type, node_opset);
        char label[64];
        if (!np->name || !np->name[0]) snprintf(label, sizeof label, "#%zu", i);
        const char *shown = np->name && np->name[0] ? np->name : label;
        char who[160]; /* as vt_node_fail names it */
        snprintf(who, sizeof who, np->name && np->name[0] ? "node '%s'" : "node %s", shown);
        if (!op)
            return vt_fail(VT_ERR_UNSUPPORTED, "%s: node '%s' (%s, domain %s, opset %d): operator not supported", what,
                           shown, op_type, domain[0] ? domain : "ai.onnx", node_opset);
        if (np->n_input > VT_NN_MAX_IO || np->n_output > VT_NN_MAX_IO)
            return vt_fail(VT_ERR_UNSUPPORTED, "%s: node '%s' (%s) has more than %d inputs or outputs", what,
                           np->name ? np->name : "", op_type, VT_NN_MAX_IO);
        vt_node *n = vt_graph_add_node(g);
        if (!n) return VT_ERR_NOMEM;
        n->name = dup_or_empty(np->name);
        n->op_type = strdup(op_type);
        n->domain = strdup(domain);
        n->opset = node_opset;
        n->op = op;
        n->in = vt_calloc(np->n_input + 1, sizeof(int));
        n->out = vt_calloc(np->n_output + 1, sizeof(int));
        n->attrs = vt_calloc(np->n_attribute + 1, sizeof(vt_attr));
        if (!n->name || !n->op_type || !n->domain || !n->in || !n->out || !n->attrs) return VT_ERR_NOMEM;
        for (size_t k = 0; k < np->n_attribute; k++) {
            /* A subgraph adds values (outer inputs) to g, never nodes: n stays valid. */
            vt_status st = copy_attr(s, np->attribute[k], who, op_type, node_opset, &n->attrs[k]);
            n->n_attrs = (int)k + 1;
            if (st != VT_OK) return st;
        }
        for (size_t k = 0; k < np->n_input; k++) {
            const char *name = np->input[k];
            n->in[k] = -1;
            if (name && name[0]) {
                int v = resolve(s, name);
                if (v < 0)
                    return vt_fail(VT_ERR_FORMAT,
                                   "%s: node '%s' (%s) reads '%s', which no earlier node, input or "
                                   "initializer defines",
                                   what, n->name, op_type, name);
                n->in[k] = v;
            }
            n->n_in = (int)k + 1;
        }
        vt_status st = add_node_outer(s, n);
        if (st != VT_OK) return st;
        for (size_t k = 0; k < np->n_output; k++) {
            const char *name = np->output[k];
            n->out[k] = -1;
            if (name && name[0]) {
                if (vt_graph_find_value(g, name) >= 0)
                    return vt_fail(VT_ERR_FORMAT, "%s: value '%s' is defined twice (node '%s')", what, name, n->name);
                int v = vt_graph_add_value(g, name);
                if (v < 0) return VT_ERR_NOMEM;
                g->values[v].producer = g->n_nodes - 1;
                n->out[k] = v;
            }
            n->n_out = (int)k + 1;
        }
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        int v = resolve(s, name);
        if (v < 0) return vt_fail(VT_ERR_FORMAT, "%s: graph output '%s' is not defined by any node", what, name);
        g->values[v].is_output = true;
        g->outputs[g->n_outputs++] = v;
    }
    return VT_OK;
}

static vt_status build_graph(Onnx__ModelProto *m, const char *dir, vt_graph *g)
{
    const char *what = g->what;
    const Onnx__GraphProto *gp = m->graph;
    if (!gp) return vt_fail(VT_ERR_FORMAT, "%s: the model has no graph", what);
    int opset = opset_of(m, "");
    if (opset < 0 && m->n_opset_import == 0) opset = OPSET_MIN; /* very old files without opset_import */
    if (opset < 0) /* only other domains: the training suite's ai.onnx.preview.training models, say */
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: the model imports no default-domain (ai.onnx) opset, only '%s'", what,
                       m->opset_import[0]->domain ? m->opset_import[0]->domain : "");
    if (opset < OPSET_MIN || opset > OPSET_MAX)
        return vt_fail(VT_ERR_UNSUPPORTED, "%s: default-domain opset %d is outside the supported %d-%d", what, opset,
                       OPSET_MIN, OPSET_MAX);
    scope top = {.m = m, .dir = dir, .opset = opset, .g = g};
    return import_graph(&top, gp);
}

vt_status vt_onnx_load_buffer(const void *data, size_t len, const char *dir, const char *what, vt_graph **out)
{
    *out = NULL;
    if (!what) what = "model";
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, data);
    if (!m) return vt_fail(VT_ERR_FORMAT, "%s: not an ONNX model (corrupt or truncated protobuf)", what);
    vt_graph *g = vt_graph_new(what);
    vt_status st = g ? build_graph(m, dir, g) : VT_ERR_NOMEM;
    onnx__model_proto__free_unpacked(m, NULL);
    if (st != VT_OK) {
        vt_graph_free(g);
        return st;
    }
    *out = g;
    return VT_OK;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 2);
    if (!d) return NULL;
    memcpy(d, path, n ? n : 1);
    d[n ? n : 1] = '\0';
    return d;
}

vt_status vt_onnx_load(const char *path, vt_graph **out)
{
    *out = NULL;
    if (!path) return vt_fail(VT_ERR_ARG, "model path is NULL");
    uint8_t *data;
    size_t len;
    vt_status st = read_file(path, &data, &len);
    if (st != VT_OK) return st;
    char *dir = dir_of(path);
    st = dir ? vt_onnx_load_buffer(data, len, dir, path, out) : vt_fail(VT_ERR_NOMEM, "out of memory");
    free(dir);
    free(data);
    return st;
}

vt_status vt_onnx_read_tensor(const char *path, vt_tensor **out)
{
    *out = NULL;
    uint8_t *data;
    size_t len;
    vt_status st = read_file(path, &data, &len);
    if (st != VT_OK) return st;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, data);
    free(data);
    if (!tp) return vt_fail(VT_ERR_FORMAT, "%s: not a serialized ONNX tensor (corrupt or truncated)", path);
    char *dir = dir_of(path);
    st = dir ? tensor_from_proto(tp, dir, path, out, NULL) : vt_fail(VT_ERR_NOMEM, "out of memory");
    free(dir);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}
