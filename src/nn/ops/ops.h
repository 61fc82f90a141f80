/* Shared pieces of the operator families (the files in ops/): each family exports a table of vt_op entries
 * that ops/registry.c merges; helpers for broadcasting, axes and dtype checks. */
#ifndef VT_NN_OPS_H
#define VT_NN_OPS_H

#include <string.h>

#include "nn/nn.h"

typedef struct vt_op_table {
    const vt_op *ops;
    int n;
} vt_op_table;

extern const vt_op_table vt_ops_elementwise, vt_ops_shape, vt_ops_reduce, vt_ops_conv, vt_ops_pool, vt_ops_norm,
    vt_ops_matmul, vt_ops_resize, vt_ops_einsum, vt_ops_index, vt_ops_grid_sample, vt_ops_quantize, vt_ops_rnn,
    vt_ops_loss, vt_ops_control, vt_ops_select, vt_ops_detect, vt_ops_signal;

/* C[b] = A[b] (M x K) x B[b] (K x N) over `batch` contiguous products, through node c's cached oneDNN matmul
 * (or the reference kernel): for ops that reduce to a batched matrix product (Einsum). Input 1 of the node
 * being a graph constant means B is the same every run (it is then packed once). vt_matmul_release frees
 * the cached primitive (the op's release). */
vt_status vt_matmul_batched(vt_opctx *c, const float *A, const float *B, float *C, int64_t batch, int64_t M, int64_t K,
                            int64_t N);
void vt_matmul_release(vt_node *n);

/* A float32 product C[b] = A[b] . B[b] (+ bias, then act) whose every element is one fused multiply-add
 * chain in ascending k (ops/sgemm.c): bit-identical for any batch size, blocking and thread count. Where
 * oneDNN's float32 matmul is not (its jit sgemm, below AVX-512), the MatMul/Gemm ops run this instead. */
typedef struct vt_sgemm {
    int64_t nbatch, M, K, N;
    const float *A, *B;           /* product b reads A + a_off[b] and B + b_off[b] */
    const int64_t *a_off, *b_off; /* nbatch element offsets (broadcast batches repeat one) */
    bool ta, tb;                  /* A stored K x M, B stored N x K */
    float *C;                     /* nbatch x M x N, contiguous */
    const float *bias;            /* NULL, or element (i, j) at bias[i * bias_rs + j * bias_cs] */
    int64_t bias_rs, bias_cs;
    vt_act act;
    float *packed; /* vt_sgemm_packed_floats(p) floats: B in the kernel's panels, by vt_sgemm_pack */
} vt_sgemm;
size_t vt_sgemm_packed_floats(const vt_sgemm *p);
/* Packs B into p->packed (once for a constant B; again whenever B changes). */
void vt_sgemm_pack(const vt_sgemm *p);
/* Computes C from A and p->packed. */
vt_status vt_sgemm_run(const vt_sgemm *p);

#define VT_OP_TABLE(name, array) const vt_op_table name = {array, (int)(sizeof array / sizeof array[0])}

/* Numpy-style broadcast of two shapes into out; false when they do not broadcast. */
bool vt_broadcast_shape(int ra, const int64_t *a, int rb, const int64_t *b, int *ro, int64_t *out);

/* Offsets of an n-ary broadcast walk: for output shape `oshape` and an input of shape `ishape`
 * (right-aligned), the element strides (0 along broadcast dims). */
void vt_broadcast_strides(int ro, const int64_t *oshape, int ri, const int64_t *ishape, int64_t *strides);

/* Normalises an axis in [-rank, rank) to [0, rank); false if out of range. */
static inline bool vt_axis(int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank) return false;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

/* C-order element strides of a shape. */
static inline void vt_contiguous_strides(int rank, const int64_t *shape, int64_t *str)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        str[i] = s;
        s *= shape[i];
    }
}

/* The input must be present and float32 (most compute ops are float32-only). */
vt_status vt_need_f32(const vt_opctx *c, int k);
/* Input k's values must be known at prepare (a constant or a graph input) because `what` decides an output
 * shape; a value computed by the graph is VT_ERR_UNSUPPORTED, said in one line. */
vt_status vt_need_known(const vt_opctx *c, int k, const char *what);
/* The input must be present. */
vt_status vt_need_input(const vt_opctx *c, int k);

/* Element access of numeric tensors as double / int64 (slow path for shape-sized data). */
double vt_elem_f64(const vt_tensor *t, int64_t i);
int64_t vt_elem_i64(const vt_tensor *t, int64_t i);
void vt_elem_set_f64(vt_tensor *t, int64_t i, double v);
void vt_elem_set_i64(vt_tensor *t, int64_t i, int64_t v);

/* Copies the input into an output of the same size (used by the view-like ops). */
vt_status vt_copy_data(vt_tensor *dst, const vt_tensor *src);

/* Maps an ONNX TensorProto data type number to a vt_dtype; false when unsupported. */
bool vt_onnx_dtype(int64_t onnx_type, vt_dtype *out);

/* Geometry of a sliding window over 1-D, 2-D or 3-D spatial dims (Conv, ConvTranspose, pooling).
 * Axes are (d, h, w); lower-rank inputs are aligned to the right: 2-D has d = 1, 1-D also h = 1. */
#define VT_WINDOW_AXES 3
typedef struct vt_window {
    int nsp;                                                         /* spatial rank of the node: 1, 2 or 3 */
    int64_t in[VT_WINDOW_AXES], out[VT_WINDOW_AXES];                 /* spatial sizes (d, h, w) */
    int64_t k[VT_WINDOW_AXES], s[VT_WINDOW_AXES], d[VT_WINDOW_AXES]; /* kernel, stride, dilation */
    int64_t pb[VT_WINDOW_AXES], pe[VT_WINDOW_AXES];                  /* padding at the beginning / end */
} vt_window;

/* Reads kernel_shape (or `kernel` when given), strides, dilations, pads and auto_pad of the node
 * for input spatial sizes taken from `x` (N, C, spatial...), and computes the output size
 * (floor, or ceil_mode with PyTorch's rule that the last window must start inside the input). */
vt_status vt_window_of(const vt_opctx *c, const vt_tensor *x, const int64_t *kernel, bool ceil_mode, vt_window *w);

/* The output shape of a windowed op: (n, c, then the node's spatial output sizes). */
void vt_window_shape(const vt_window *w, int64_t n, int64_t c, int64_t *shape);

/* ---- oneDNN glue (ops/dnnl.c) ---- */
#include <oneapi/dnnl/dnnl.h>

/* The process-wide CPU engine and stream (created on first use); NULL with the error set on failure. */
dnnl_engine_t vt_dnnl_engine(void);
dnnl_stream_t vt_dnnl_stream(void);
/* VT_OK for dnnl_success, else a node failure naming the oneDNN call. */
vt_status vt_dnnl_check(const vt_opctx *c, dnnl_status_t s, const char *what);
/* Plain (C-order) f32/bf16 memory descriptor for dims. */
dnnl_status_t vt_dnnl_plain_md(dnnl_memory_desc_t *md, int ndims, const int64_t *dims, dnnl_data_type_t dt);
/* An argument that may need a layout change: the user's plain memory and, when the primitive
 * wants another layout, the primitive's memory plus the reorder between them. The primitive-layout
 * buffer is either owned (weights, reordered once) or borrowed per run from the graph's scratch
 * (activations: one buffer shared by all nodes, as they run one at a time). */
typedef struct vt_dnnl_arg {
    dnnl_memory_t user, prim;
    dnnl_primitive_t reorder;
    size_t prim_bytes;
} vt_dnnl_arg;
/* Sets up `a` for a user md and the primitive's wanted md (to_prim: reorder user -> prim, else prim -> user). */
dnnl_status_t vt_dnnl_arg_init(vt_dnnl_arg *a, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
                               bool to_prim, bool own_buffer);
void vt_dnnl_arg_free(vt_dnnl_arg *a);
/* The memory the primitive reads/writes; runs the input reorder (to_prim) after setting the user
 * handle. `scratch` (at least a->prim_bytes) backs a borrowed primitive-layout buffer. */
dnnl_status_t vt_dnnl_arg_in(vt_dnnl_arg *a, const void *data, void *scratch, dnnl_memory_t *out);
dnnl_status_t vt_dnnl_arg_out_prepare(vt_dnnl_arg *a, void *data, void *scratch, dnnl_memory_t *out);
dnnl_status_t vt_dnnl_arg_out_finish(vt_dnnl_arg *a);
/* Scratch buffer `slot` (0..3) of the graph, grown to at least `bytes`; NULL on no memory. */
void *vt_graph_scratch(vt_graph *g, int slot, size_t bytes);
/* Executes a primitive and waits. */
dnnl_status_t vt_dnnl_exec(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args);
/* Primitive attributes for the graph's precision (bf16 => fpmath mode bf16, scratchpad user-less),
 * with the activation `act` (vt_opctx.fuse) as an eltwise post-op. */
dnnl_status_t vt_dnnl_attr(const vt_graph *g, vt_act act, dnnl_primitive_attr_t *attr);

#endif
