# Benchmark configuration files (YAML via libyaml) and the location of the bundled demo models.
pkg_check_modules(VT_YAML REQUIRED yaml-0.1)
list(APPEND VENTRAL_EXTRA_INCLUDES ${VT_YAML_INCLUDE_DIRS})
list(APPEND VENTRAL_PRIVATE_LIBS ${VT_YAML_LINK_LIBRARIES})
# `ventral demo` finds its bundled models in the installed data folder, else in the source tree.
add_compile_definitions(VENTRAL_DATA_INSTALLED="${CMAKE_INSTALL_FULL_DATADIR}/ventral"
                        VENTRAL_DATA_SOURCE="${CMAKE_CURRENT_SOURCE_DIR}/examples")
install(DIRECTORY examples/models DESTINATION ${CMAKE_INSTALL_DATADIR}/ventral FILES_MATCHING PATTERN "*.onnx"
        PATTERN "*.yaml")
