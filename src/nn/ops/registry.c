/* The operator registry: (domain, op type, since-version) -> implementation. For a model's opset
 * the entry with the highest since-version <= opset wins, as ONNX versioning defines; an op
 * whose oldest entry is newer than the model's opset is unsupported for that model. Also the
 * helpers shared by the op families. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

static const vt_op_table *const tables[] = {
    &vt_ops_elementwise, &vt_ops_shape,  &vt_ops_reduce,  &vt_ops_conv,   &vt_ops_pool,        &vt_ops_norm,
    &vt_ops_matmul,      &vt_ops_resize, &vt_ops_einsum,  &vt_ops_index,  &vt_ops_grid_sample, &vt_ops_quantize,
    &vt_ops_rnn,         &vt_ops_loss,   &vt_ops_control, &vt_ops_select, &vt_ops_detect,      &vt_ops_signal};

const vt_op *vt_op_find(const char *domain, const char *type, int opset)
{
    const vt_op *best = NULL;
    if (!domain) domain = "";
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (int i = 0; i < tables[t]->n; i++) {
            const vt_op *op = &tables[t]->ops[i];
            if (strcmp(op->type, type) != 0 || strcmp(op->domain, domain) != 0 || op->since > opset) continue;
            if (!best || op->since > best->since) best = op;
        }
    return best;
}

bool vt_broadcast_shape(int ra, const int64_t *a, int rb, const int64_t *b, int *ro, int64_t *out)
{
    int64_t ca[VT_MAX_RANK], cb[VT_MAX_RANK]; /* out may alias a or b */
    memcpy(ca, a, sizeof *a * (size_t)ra);
    memcpy(cb, b, sizeof *b * (size_t)rb);
    a = ca;
    b = cb;
    int r = ra > rb ? ra : rb;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - ra), ib = i - (r - rb);
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        out[i] = da == 1 ? db : da;
    }
    *ro = r;
    return true;
}

void vt_broadcast_strides(int ro, const int64_t *oshape, int ri, const int64_t *ishape, int64_t *strides)
{
    (void)oshape; /* part of the contract: strides are per output dim */
    int64_t s = 1;
    for (int i = ro - 1; i >= 0; i--) {
        int ii = i - (ro - ri);
        int64_t d = ii >= 0 ? ishape[ii] : 1;
        strides[i] = d == 1 ? 0 : s; /* a size-1 dim never advances */
        s *= d;
    }
}

vt_status vt_need_input(const vt_opctx *c, int k)
{
    if (k >= c->n_in || !c->in[k]) return vt_node_fail(c, VT_ERR_FORMAT, "input %d is required", k);
    return VT_OK;
}

vt_status vt_need_f32(const vt_opctx *c, int k)
{
    vt_status st = vt_need_input(c, k);
    if (st != VT_OK) return st;
    if (c->in[k]->dtype != VT_F32)
        return vt_node_fail(c, VT_ERR_UNSUPPORTED, "input %d is %s; this op supports float32 only", k,
                            vt_dtype_name(c->in[k]->dtype));
    return VT_OK;
}

vt_status vt_need_known(const vt_opctx *c, int k, const char *what)
{
    if (c->in[k]->data) return VT_OK;
    return vt_node_fail(c, VT_ERR_UNSUPPORTED,
                        "%s decides the output shape, so it must be a constant or a graph input, not computed by the "
                        "graph",
                        what);
}

double vt_elem_f64(const vt_tensor *t, int64_t i)
{
    return vt_tensor_get(t, i);
}

int64_t vt_elem_i64(const vt_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case VT_I64: return ((const int64_t *)t->data)[i];
    case VT_I32: return ((const int32_t *)t->data)[i];
    case VT_U64: return (int64_t)((const uint64_t *)t->data)[i];
    default: return (int64_t)vt_tensor_get(t, i);
    }
}

void vt_elem_set_f64(vt_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case VT_F32: ((float *)t->data)[i] = (float)v; break;
    case VT_F64: ((double *)t->data)[i] = v; break;
    case VT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: vt_elem_set_i64(t, i, (int64_t)v); break;
    }
}

void vt_elem_set_i64(vt_tensor *t, int64_t i, int64_t v)
{
    switch (t->dtype) {
    case VT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    case VT_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case VT_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    case VT_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case VT_I64: ((int64_t *)t->data)[i] = v; break;
    case VT_U8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case VT_U16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
    case VT_U32: ((uint32_t *)t->data)[i] = (uint32_t)v; break;
    case VT_U64: ((uint64_t *)t->data)[i] = (uint64_t)v; break;
    case VT_F32: ((float *)t->data)[i] = (float)v; break;
    case VT_F64: ((double *)t->data)[i] = (double)v; break;
    default: break;
    }
}

vt_status vt_copy_data(vt_tensor *dst, const vt_tensor *src)
{
    size_t n = vt_tensor_nbytes(src);
    if (n != vt_tensor_nbytes(dst)) return vt_fail(VT_ERR_INTERNAL, "copy between tensors of different sizes");
    if (n && dst->data != src->data) memcpy(dst->data, src->data, n);
    return VT_OK;
}

bool vt_onnx_dtype(int64_t t, vt_dtype *out)
{
    switch (t) {
    case 1: *out = VT_F32; return true;
    case 2: *out = VT_U8; return true;
    case 3: *out = VT_I8; return true;
    case 4: *out = VT_U16; return true;
    case 5: *out = VT_I16; return true;
    case 6: *out = VT_I32; return true;
    case 7: *out = VT_I64; return true;
    case 9: *out = VT_BOOL; return true;
    case 11: *out = VT_F64; return true;
    case 12: *out = VT_U32; return true;
    case 13: *out = VT_U64; return true;
    default: return false;
    }
}
