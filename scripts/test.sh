#!/usr/bin/env bash
# Builds ventral and runs the whole test suite (C unit tests + reference tests against
# numpy/scipy/scikit-learn). `scripts/test.sh --sanitize` does the same in an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build=build-sanitize
  flags=(-DCMAKE_BUILD_TYPE=Debug -DVENTRAL_SANITIZE=ON)
  # OpenBLAS and libgomp keep thread pools alive at exit; those are not our leaks.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # Tests labelled heavy (ref_test_onnx_bf16_full) are DISABLED in this build by tests/CMakeLists.txt.
fi
jobs=$(nproc)
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
