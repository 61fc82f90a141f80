/* vt_graph: a neural network as a list of pure operator nodes over named values, with an
 * executor that runs a batch and hands every selected layer's output to a callback.
 *
 *   vt_graph *g;
 *   if (vt_onnx_load("resnet18.onnx", &g) != VT_OK) ...          // ventral/onnx.h
 *   vt_capture *sel;
 *   vt_capture_parse("op:Conv,op:Relu", &sel);                     // or "all", "name:layer1*", "index:3-9"
 *   vt_tensor *x = ...;                                            // float32 N x 3 x 224 x 224
 *   vt_graph_run(g, 1, (const vt_tensor *const[]){x}, sel, on_layer, user, NULL);
 *   ...
 *   static vt_status on_layer(void *user, const vt_layer_info *layer, const vt_tensor *t)
 *   { ... t is valid only during the call (borrowed) ... return VT_OK; }
 *
 * Phases, as in small C ONNX engines: load resolves every node to an operator (refusing unknown
 * ops there, naming op, domain and opset); vt_graph_prepare infers every value's static shape
 * for given input shapes and folds the nodes whose inputs are all constant (the shape-computing
 * subgraphs of transformer exports); run executes the remaining nodes ("layers") in order and
 * frees each intermediate after its last consumer. Nodes are pure functions of their inputs and
 * explicit attributes, so a reverse-mode pass can later be added as a graph transformation.
 *
 * A graph is not thread-safe: one run at a time (the ops themselves use all vt_threads_get()
 * threads). float32 results do not depend on the thread count or the batch size.
 */
#ifndef VENTRAL_GRAPH_H
#define VENTRAL_GRAPH_H

#include "ventral/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vt_graph vt_graph;

/* Compute precision of the heavy ops (convolution, matmul). VT_PRECISION_BF16 runs them in
 * bfloat16 where the CPU has native support (AVX512-BF16 / AMX); layers are still handed out
 * as float32. VT_PRECISION_F32_WINOGRAD is float32 with oneDNN's Winograd algorithm for 3×3,
 * stride-1 convolutions where it has one (AVX-512): faster, but the last bits of a result then
 * depend on the thread count (the default F32 is bit-identical for any thread count). */
typedef enum vt_precision { VT_PRECISION_F32, VT_PRECISION_BF16, VT_PRECISION_F32_WINOGRAD } vt_precision;

/* "f32", "bf16", "f32-winograd"; and back (VT_ERR_ARG naming the accepted values). */
const char *vt_precision_name(vt_precision precision);
vt_status vt_precision_parse(const char *name, vt_precision *out);

/* A shape for vt_graph_prepare. */
typedef struct vt_shape {
    int rank;
    int64_t dims[VT_MAX_RANK];
} vt_shape;

/* One layer: a runtime (non-constant) node output. Pointers are borrowed from the graph and
 * valid until the next vt_graph_prepare or vt_graph_free. */
typedef struct vt_layer_info {
    int index;          /* 0-based position among the layers, in execution order */
    const char *name;   /* node name, or its output's name when the node is unnamed or has several */
    const char *op;     /* ONNX op type, e.g. "Conv" */
    const char *output; /* name of the output value */
    vt_dtype dtype;
    const char *model_type; /* the element type the model gives it: vt_dtype_name(dtype), or "float16" /
                             * "bfloat16" for such values, which ventral holds (and hands out) in float32 */
    int rank;
    const int64_t *shape; /* shape[0] is the batch size for batched inputs */
    double seconds;       /* time spent in the layer's node over all runs since the last prepare */
    bool fused;           /* a Relu or Clip that the last run applied inside its producer (the Conv, MatMul,
                           * Gemm, or for a Relu also BatchNormalization or Add, before it, whose own output
                           * was not captured) */
    int batch_axis;       /* the dim holding the stimuli (its size is the batch and follows it); -1 when the
                           * batch is merged with another dim (e.g. a flattened sequence-first [T*N, D]
                           * attention tensor) or the layer does not depend on the batch */
    int merged_axis;      /* batch_axis -1: the dim that holds the stimuli merged with another factor k (its
                           * size is batch * k), or -1 */
    bool merged_outer;    /* that dim is (stimulus, k) in C order (e.g. [N*heads, T, T] attention weights);
                           * false: (k, stimulus) (e.g. a sequence-first [T*N, D] projection). Known only when
                           * merged_axis >= 0 */
} vt_layer_info;

void vt_graph_free(vt_graph *g);

/* Graph inputs that must be fed (declared inputs without an initializer). */
int vt_graph_input_count(const vt_graph *g);
/* Name, element type and declared shape (dims < 0 are symbolic, e.g. the batch) of input i. */
vt_status vt_graph_input(const vt_graph *g, int i, const char **name, vt_dtype *dtype, vt_shape *shape);
int vt_graph_output_count(const vt_graph *g);
const char *vt_graph_output_name(const vt_graph *g, int i);
/* The element type the model gives output i, as vt_layer_info.model_type (after prepare). */
const char *vt_graph_output_type(const vt_graph *g, int i);

/* Static shape inference and constant folding for these input shapes (NULL: the declared
 * shapes, with symbolic dims set to 1). VT_ERR_ARG names the node whose shapes do not agree;
 * VT_ERR_UNSUPPORTED names a node whose attributes or dtypes ventral does not handle. */
vt_status vt_graph_prepare(vt_graph *g, int n_inputs, const vt_shape *shapes);
/* As vt_graph_prepare for these inputs' shapes, and for their values where the graph's shapes depend on
 * input values (integer inputs such as Reshape targets, Resize scales, lengths that NonZero, Unique or a Loop
 * decide): a graph that vt_graph_prepare cannot shape without its inputs. vt_graph_run prepares this way. */
vt_status vt_graph_prepare_inputs(vt_graph *g, int n_inputs, const vt_tensor *const *inputs);

/* Layers of the last prepare (0 before any). */
int vt_graph_layer_count(const vt_graph *g);
vt_status vt_graph_layer(const vt_graph *g, int index, vt_layer_info *info);

/* Whether vt_graph_prepare also locates the stimuli inside merged dims (merged_axis / merged_outer of
 * vt_layer_info) by running the graph once on two identical stimuli; on by default. Off makes
 * prepare shape-only (what `ventral layers` needs), and merged layers then report merged_axis -1. */
void vt_graph_set_locate_stimuli(vt_graph *g, bool on);

/* Sets the precision of later runs (default float32). VT_ERR_UNSUPPORTED, with a sentence
 * saying why, when the CPU lacks native bf16. */
vt_status vt_graph_set_precision(vt_graph *g, vt_precision precision);

/* Which layers to capture. A spec is a comma-separated list of terms; a layer is captured if
 * any term matches: "all", "op:TYPE" (e.g. op:Conv), "name:GLOB" (fnmatch over the layer name
 * and its output name), "index:A-B" or "index:A" (inclusive, 0-based), "none". */
typedef struct vt_capture vt_capture;
vt_status vt_capture_parse(const char *spec, vt_capture **out);
void vt_capture_free(vt_capture *c);
bool vt_capture_matches(const vt_capture *c, const vt_layer_info *layer);

/* Called once per captured layer and batch. `t` is borrowed (float32 for float layers, always
 * C-contiguous NCHW-style plain layout) and valid only during the call. A status other than
 * VT_OK stops the run and is returned by vt_graph_run. */
typedef vt_status (*vt_capture_fn)(void *user, const vt_layer_info *layer, const vt_tensor *t);

/* Runs one batch. inputs[i] feeds vt_graph_input(i) (re-preparing when the shapes differ
 * from the last prepare). `sel` may be NULL (capture nothing). When `outputs` is not NULL it
 * receives vt_graph_output_count() new owned tensors (caller frees each and the array). */
vt_status vt_graph_run(vt_graph *g, int n_inputs, const vt_tensor *const *inputs, const vt_capture *sel,
                       vt_capture_fn fn, void *user, vt_tensor ***outputs);

#ifdef __cplusplus
}
#endif
#endif
