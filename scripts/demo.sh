#!/usr/bin/env bash
# Builds ventral (Release) and runs the main job on the bundled default data: `ventral demo`
# simulates subjects whose voxels read out one layer of a bundled model, benchmarks the five
# bundled models against them and writes an HTML report. Extra arguments go to `ventral demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
exec build/ventral demo --out ventral-demo "$@"
