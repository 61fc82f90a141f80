#!/usr/bin/env bash
# Installs every Debian 12 package ventral needs to build, test and benchmark.
# Idempotent: apt-get skips what is already installed. Runs apt-get as root, through sudo otherwise.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang-format
  # linear algebra: the OpenMP build of OpenBLAS, so BLAS and our loops share one GNU OpenMP pool
  libopenblas-openmp-dev liblapacke-dev libgomp1
  # neural-network engine: oneDNN, ONNX schema + protobuf-c code generator, conformance test data
  libdnnl-dev libonnx-dev libonnx-testdata protobuf-c-compiler libprotobuf-c-dev
  # data formats and I/O
  libhdf5-dev libmatio-dev libnifti2-dev libnetcdf-dev libcurl4-openssl-dev
  libjpeg62-turbo-dev libpng-dev libcjson-dev libsqlite3-dev libyaml-dev libcairo2-dev zlib1g-dev nettle-dev
  # reference implementations used by the test suite (Debian's own python3)
  python3 python3-numpy python3-scipy python3-sklearn python3-h5py python3-nibabel python3-netcdf4
  python3-torch python3-torchvision python3-onnx
  # report: the font the figures are drawn with; headless Chromium to check that the HTML report loads
  fonts-dejavu-core chromium
)

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
# Pin the OpenMP OpenBLAS build as the system BLAS/LAPACK so one thread setting rules every library.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  target=/usr/lib/x86_64-linux-gnu/openblas-openmp/${alt%%-x86_64*}
  if [ -e "$target" ]; then "${SUDO[@]}" update-alternatives --set "$alt" "$target" >/dev/null || true; fi
done
echo "setup: all ${#packages[@]} packages present"
