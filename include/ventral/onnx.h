/* ONNX import: a .onnx file (protobuf ModelProto, opsets 1-18 of the default domain) into a vt_graph.
 *
 *   vt_graph *g;
 *   if (vt_onnx_load("model.onnx", &g) != VT_OK)
 *       fprintf(stderr, "%s\n", vt_last_error());   // e.g. "model.onnx: node 'x' (NonZero, domain ai.onnx,
 *                                                   //  opset 13): operator not supported"
 *
 * Initializers are read from typed fields or raw_data; tensors stored in external-data files
 * (data_location = EXTERNAL) are read relative to the model's folder. Every node is resolved to an
 * operator at load: an unknown op, domain or opset is refused here, not halfway through a run.
 * Corrupt or truncated files give VT_ERR_FORMAT naming the file.
 */
#ifndef VENTRAL_ONNX_H
#define VENTRAL_ONNX_H

#include "ventral/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads a model file into a new graph (free with vt_graph_free). */
vt_status vt_onnx_load(const char *path, vt_graph **out);

/* The same from a buffer; `dir` (may be NULL) is where external-data files are looked up and
 * `what` names the model in error messages. */
vt_status vt_onnx_load_buffer(const void *data, size_t len, const char *dir, const char *what, vt_graph **out);

/* Reads a serialized TensorProto (the test_data_set_N/input_K.pb files of the ONNX test suite)
 * into a new owned tensor. */
vt_status vt_onnx_read_tensor(const char *path, vt_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
