# ONNX import and the neural-network engine (src/nn): protobuf-c bindings generated at build time
# from the system's onnx.proto (Debian libonnx-dev) with protoc-c, and oneDNN as the compute backend.
find_program(PROTOC_C protoc-c REQUIRED)
find_path(ONNX_PROTO_DIR onnx/onnx.proto PATHS /usr/include REQUIRED)
find_library(PROTOBUF_C_LIB protobuf-c REQUIRED)
find_path(PROTOBUF_C_INCLUDE protobuf-c/protobuf-c.h REQUIRED)
find_library(DNNL_LIB dnnl REQUIRED)
find_path(DNNL_INCLUDE oneapi/dnnl/dnnl.h REQUIRED)

set(VENTRAL_ONNX_GEN_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated)
set(VENTRAL_ONNX_PB_C ${VENTRAL_ONNX_GEN_DIR}/onnx/onnx.pb-c.c)
set(VENTRAL_ONNX_PB_H ${VENTRAL_ONNX_GEN_DIR}/onnx/onnx.pb-c.h)
add_custom_command(
  OUTPUT ${VENTRAL_ONNX_PB_C} ${VENTRAL_ONNX_PB_H}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${VENTRAL_ONNX_GEN_DIR}
  COMMAND ${PROTOC_C} --c_out=${VENTRAL_ONNX_GEN_DIR} -I${ONNX_PROTO_DIR} onnx/onnx.proto
  DEPENDS ${ONNX_PROTO_DIR}/onnx/onnx.proto
  COMMENT "Generating protobuf-c bindings for onnx.proto"
  VERBATIM)
add_custom_target(ventral_onnx_proto DEPENDS ${VENTRAL_ONNX_PB_C} ${VENTRAL_ONNX_PB_H})
# Generated code is not ours to keep warning-free.
set_source_files_properties(${VENTRAL_ONNX_PB_C} PROPERTIES GENERATED TRUE COMPILE_OPTIONS "-w")

list(APPEND VENTRAL_GENERATED_SOURCES ${VENTRAL_ONNX_PB_C})
list(APPEND VENTRAL_GENERATED_TARGETS ventral_onnx_proto)
list(APPEND VENTRAL_EXTRA_INCLUDES ${PROTOBUF_C_INCLUDE} ${DNNL_INCLUDE})
list(APPEND VENTRAL_PRIVATE_LIBS ${PROTOBUF_C_LIB} ${DNNL_LIB})
