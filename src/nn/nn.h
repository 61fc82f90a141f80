/* Internal graph IR and operator interface of the nn module (not installed).
 *
 * A graph owns values (named tensors: graph inputs, initializers, node outputs) and nodes (one
 * ONNX operator each, attributes copied out of the protobuf so the model file can be dropped).
 * Every op implements two phases over a vt_opctx:
 *   infer: from the inputs' dtype/shape (and data, when an input is constant) set each output's
 *          dtype and shape. Never allocates output data.
 *   run:   compute the preallocated outputs from the inputs.
 * Ops with backend state (oneDNN primitives) keep it in node->state, created lazily by run
 * and dropped by release when shapes change.
 */
#ifndef VT_NN_H
#define VT_NN_H

#include <stdbool.h>

#include "nn/narrow.h"
#include "ventral/graph.h"

#define VT_NN_SCRATCH 4
#define VT_NN_MAX_IO  64 /* inputs or outputs of one node (Concat/Sum/Split beyond this are refused) */

typedef enum vt_attr_type {
    VT_ATTR_FLOAT,
    VT_ATTR_INT,
    VT_ATTR_STRING,
    VT_ATTR_TENSOR,
    VT_ATTR_FLOATS,
    VT_ATTR_INTS,
    VT_ATTR_STRINGS,
    VT_ATTR_GRAPH, /* a subgraph (If's branches, Loop's and Scan's body) */
    VT_ATTR_OTHER  /* lists of graphs, sparse tensors, type protos: kept by name only */
} vt_attr_type;

typedef struct vt_attr {
    char *name;
    vt_attr_type type;
    float f;
    int64_t i;
    char *s;
    vt_tensor *t;
    vt_narrow t_narrow; /* TENSOR: a float16/bfloat16 tensor, held in float32 */
    int n;              /* FLOATS / INTS / STRINGS */
    float *floats;
    int64_t *ints;
    char **strings;
    vt_graph *sub; /* GRAPH (owned) */
} vt_attr;

typedef struct vt_value {
    char *name;
    vt_dtype dtype;
    int rank; /* -1: not inferred yet */
    int64_t shape[VT_MAX_RANK];
    vt_tensor *init;   /* initializer (owned; lives as long as the graph) */
    vt_tensor *folded; /* folded constant of the last prepare (owned) */
    int producer;      /* node index, -1 for inputs and initializers */
    int last_use;      /* last runtime node reading it (prepare), -1 if none */
    int readers;       /* runtime node inputs reading it (prepare; a node reading it twice counts twice) */
    bool is_input;     /* a graph input to be fed */
    bool is_output;    /* a graph output */
    bool untyped;      /* a subgraph input declared without element type: the enclosing node's decides */
    /* A float16/bfloat16 value of the model, held in float32 (narrow.h): as declared (graph inputs and
     * initializers), and as prepared (every value; node outputs follow their inputs or the op). */
    vt_narrow decl_narrow, narrow;
    /* Declared type of a graph input: */
    vt_dtype decl_dtype;
    int decl_rank;
    int64_t decl_shape[VT_MAX_RANK];
} vt_value;

struct vt_op;

typedef struct vt_node {
    char *name, *op_type, *domain;
    int opset; /* the model's opset for the node's domain */
    int n_in, n_out;
    int *in, *out; /* value indices; -1 = absent optional input/output */
    /* The last n_outer inputs are not the ONNX node's own: values of this graph that its subgraphs read
     * by name (outer scope), listed so that they stay alive until the node has run and count in
     * prepare's bookkeeping (constness, last use). Each subgraph has them, in this order, as its last
     * n_outer graph inputs (vt_graph.n_outer). */
    int n_outer;
    int n_attrs;
    vt_attr *attrs;
    const struct vt_op *op;
    bool folded;     /* constant at the last prepare: not a layer */
    void *state;     /* backend state (owned, freed by op->release) */
    int first_layer; /* layer index of its first output at the last prepare, -1 if folded */
    double seconds;  /* run time accumulated since the last prepare (profiling) */
    bool fused;      /* the last run applied it inside its producer (see vt_opctx.fuse) */
} vt_node;

typedef struct vt_layer {
    int node, out_slot, value;
    int batch_axis;   /* see vt_layer_info */
    int merged_axis;  /* see vt_layer_info */
    int merged_outer; /* 1: stimulus outer in merged_axis, 0: inner, -1: unknown */
    const char *name;
} vt_layer;

/* Freed activation buffers kept for the next batch: the same sizes recur every run, and reusing
 * them avoids the page faults of fresh large allocations (measured: a third of the time). */
typedef struct vt_pool_entry {
    size_t bytes;
    void *data;
} vt_pool_entry;

struct vt_graph {
    char *what; /* file name for messages */
    int n_values, cap_values;
    vt_value *values;
    int n_nodes, cap_nodes;
    vt_node *nodes;
    int n_inputs, n_outputs;
    int *inputs, *outputs; /* value indices */
    /* A subgraph (vt_attr.sub): its last n_outer inputs are the enclosing graph's values it reads by name
     * (the owning node's last n_outer inputs), and every input fed at prepare (vt_graph_prepare_sub) is a
     * constant of the enclosing graph, folded. */
    int n_outer;
    bool is_sub;
    bool prepared;
    vt_shape prepared_shapes[VT_NN_MAX_IO];
    int n_layers;
    vt_layer *layers;
    vt_precision precision;
    bool reference;  /* run the naive reference kernels only (test oracle) */
    bool plain_only; /* VENTRAL_NN_PLAIN=1: keep every activation NCHW (no NHWC between oneDNN ops) */
    bool no_fusion;  /* VENTRAL_NN_NO_FUSION=1: run every Relu and Clip itself (see vt_opctx.fuse) */
    bool any_matmul; /* VENTRAL_NN_ANY_MATMUL=1: oneDNN's float32 matmul even where it is not batch-invariant
                        (to measure what ops/sgemm.c costs; results then depend on the batch size) */
    bool no_probe;   /* vt_graph_set_locate_stimuli(g, false) */
    bool probing;    /* inside the stimulus probe of a prepare: a fixed dim 0 of an input may change */
    int n_pool, cap_pool;
    vt_pool_entry *pool;
    /* During a prepare called by run: the fed inputs. Integer inputs (shape-like: Reshape targets,
     * Slice bounds) and the float inputs that define shapes (Resize scales) are then treated as
     * constants so the shapes they define are static. */
    const vt_tensor *const *feed;
    bool int_feed;                /* the last prepare folded integer inputs: re-prepare on every run */
    void *scratch[VT_NN_SCRATCH]; /* layout-conversion buffers shared by all nodes (see ops.h) */
    size_t scratch_bytes[VT_NN_SCRATCH];
};

/* A new owned tensor whose data may come from the graph's pool (64-byte aligned). */
vt_tensor *vt_pool_tensor(vt_graph *g, vt_dtype dtype, int rank, const int64_t *shape);
/* Frees the header and keeps the data for reuse (a tensor from vt_pool_tensor or vt_tensor_new). */
void vt_pool_release(vt_graph *g, vt_tensor *t);
/* Frees every pooled buffer. */
void vt_pool_clear(vt_graph *g);

/* An activation that the producer of its input may apply as it writes (see vt_opctx.fuse). */
typedef enum vt_act_kind { VT_ACT_NONE = 0, VT_ACT_RELU, VT_ACT_CLIP } vt_act_kind;
typedef struct vt_act {
    vt_act_kind kind;
    float lo, hi; /* VT_ACT_CLIP: x < lo ? lo : x > hi ? hi : x, as the Clip op (lo <= hi) */
} vt_act;

static inline bool vt_act_equal(vt_act a, vt_act b)
{
    return a.kind == b.kind && (a.kind != VT_ACT_CLIP || (a.lo == b.lo && a.hi == b.hi));
}

/* The context one op call sees. Inputs are headers: at infer time `in[k]->data` is NULL unless
 * the input is constant; at run time every present input has data. Absent optional inputs are
 * NULL. Outputs: infer sets dtype/rank/shape of out[k]; run fills out[k]->data. */
typedef struct vt_opctx {
    vt_graph *g;
    vt_node *node;
    int n_in, n_out;
    const vt_tensor *in[VT_NN_MAX_IO];
    vt_tensor *out[VT_NN_MAX_IO];
    /* Physical layout of 4-D activations: false = NCHW (the tensor's shape order), true = NHWC with the
     * same logical shape. Only ops whose accepts_nhwc says yes ever see NHWC inputs; an op that writes
     * an output in NHWC sets out_nhwc. Captured layers and graph outputs are always handed out NCHW. */
    bool in_nhwc[VT_NN_MAX_IO], out_nhwc[VT_NN_MAX_IO];
    /* An output is captured or a graph output: produce NCHW directly (converting afterwards would
     * cost a layout change per layer, more than the oneDNN reorders it saves). */
    bool want_plain_out;
    /* Activation fusion: fuse (set by the executor; kind VT_ACT_NONE otherwise) says output 0 is read
     * only by a Relu or Clip node and is itself never observed (not captured, not a graph output), so
     * the op may apply that activation as it writes; an op that does so sets fused, and the executor
     * then hands the activation's node this buffer instead of running it. Both activations are exact
     * (comparisons and selections), so the values are the same bits either way. */
    vt_act fuse;
    bool fused;
    /* Float16/bfloat16 values (narrow.h), at infer time: in_narrow of each input; an op that decides its
     * outputs' narrow type itself (Cast) sets out_narrow and narrow_set. Otherwise a float32 output is
     * as narrow as the node's first narrow float input, or as its "value" tensor attribute. */
    vt_narrow in_narrow[VT_NN_MAX_IO], out_narrow[VT_NN_MAX_IO];
    bool narrow_set;
} vt_opctx;

typedef struct vt_op {
    const char *domain; /* "" = ai.onnx */
    const char *type;
    int since; /* first opset whose semantics this entry implements */
    vt_status (*infer)(vt_opctx *c);
    vt_status (*run)(vt_opctx *c);
    void (*release)(vt_node *n);
    /* May this node receive its NHWC inputs as they are (c->in/in_nhwc filled)? NULL: no, the
     * executor converts them to NCHW first. */
    bool (*accepts_nhwc)(const vt_opctx *c);
    bool no_fold;    /* never constant-fold (none today; random ops would be) */
    bool shape_only; /* the output depends on the input shapes only (Shape, Size): always folded */
    bool view;       /* output 0 is input 0's data unchanged (Reshape, Flatten, ...): when the node is the
                        input's last reader, the executor hands it the input's buffer and run copies nothing */
} vt_op;

/* A Clip node's bounds (ops/elementwise.c): attributes min/max before opset 11, else inputs 1 and 2
 * (float32 scalars with data; NULL when absent); an absent bound is -inf / +inf. */
void vt_clip_bounds(const vt_node *n, const vt_tensor *min, const vt_tensor *max, float *lo, float *hi);

/* Op registry (ops/registry.c): the entry with the highest `since` <= opset, or NULL. */
const vt_op *vt_op_find(const char *domain, const char *type, int opset);

/* Attribute lookup with defaults. */
const vt_attr *vt_attr_get(const vt_node *n, const char *name);
int64_t vt_attr_int(const vt_node *n, const char *name, int64_t dflt);
float vt_attr_float(const vt_node *n, const char *name, float dflt);
const char *vt_attr_str(const vt_node *n, const char *name, const char *dflt);
/* INTS attribute: count (or -1 when absent) and pointer. */
int vt_attr_ints(const vt_node *n, const char *name, const int64_t **v);

/* Fails with "<what>: node '<name>' (<op>): <message>". */
vt_status vt_node_fail(const vt_opctx *c, vt_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Shape helpers. */
int64_t vt_shape_numel(int rank, const int64_t *shape);
void vt_out_set(vt_tensor *out, vt_dtype dtype, int rank, const int64_t *shape);
/* Reads a constant integer input (int64/int32) of at most `cap` elements; VT_ERR_UNSUPPORTED when
 * the input is not constant at prepare time. Returns the count in *n. */
vt_status vt_const_ints(const vt_opctx *c, int k, int64_t *v, int cap, int *n);

/* Graph building (graph.c), used by the importer. */
vt_graph *vt_graph_new(const char *what);
int vt_graph_add_value(vt_graph *g, const char *name); /* existing index or new; -1 on no memory */
int vt_graph_find_value(const vt_graph *g, const char *name);
vt_node *vt_graph_add_node(vt_graph *g);
void vt_attr_clear(vt_attr *a);

/* Prepares a subgraph (is_sub) for inputs of the given types and shapes, without the stimulus probes of
 * vt_graph_prepare (a subgraph exposes no layers): the dtype of each input is set, and feed (NULL or one
 * entry per input, NULL for a value known only at run time) names the inputs that are constants. */
vt_status vt_graph_prepare_sub(vt_graph *g, const vt_dtype *dtypes, const vt_narrow *narrow, const vt_shape *shapes,
                               const vt_tensor *const *feed);

/* Runs the prepared graph (inputs must match the prepared shapes). */
vt_status vt_graph_run_prepared(vt_graph *g, const vt_tensor *const *inputs, const vt_capture *sel, vt_capture_fn fn,
                                void *user, vt_tensor ***outputs);

/* NHWC <-> NCHW for a 4-D tensor whose logical shape is N x C x H x W. */
void vt_nhwc_to_nchw(const vt_tensor *src, vt_tensor *dst);

/* Selects the kernel path: true when oneDNN should be used for this graph. */
static inline bool vt_nn_fast(const vt_graph *g)
{
    return !g->reference;
}

/* Reference-mode switch for tests (internal; the oracle of the oneDNN kernels). */
void vt_graph_set_reference(vt_graph *g, bool reference);

#endif
