#!/usr/bin/env bash
# Install the pruned CPU set of libtorch 2.11.0 (+cu130 wheel from PyPI) that tch/torch-sys 0.24.0
# expect. Idempotent. See ../shared/spec/build.md §4 (the `install` function below is that
# recipe verbatim).
#
# Usage: scripts/setup-libtorch.sh [DEST]      (DEST defaults to .libtorch)
#
# Shared cache (avoids a second 500 MB download per checkout/worktree): when DEST is not given
# explicitly and either MABTWIN_LIBTORCH_CACHE is set or the directory
# ${XDG_CACHE_HOME:-$HOME/.cache}/mabtwin/libtorch-2.11.0-cu130 already exists, libtorch is
# installed there (if missing) and `.libtorch` becomes a symlink to it. A real `.libtorch`
# directory is never replaced by a symlink. MABTWIN_LIBTORCH_CACHE=<dir> picks the cache path;
# create the default directory (mkdir -p) to opt in.
set -euo pipefail

install() {
TORCH_VERSION=2.11.0
DEST="${1:-.libtorch}"
[ "$(cat "$DEST/torch/build-version" 2>/dev/null)" = "${TORCH_VERSION}+cu130" ] && exit 0
DL="$DEST.dl"; TMP="$DEST.tmp"; rm -rf "$DL" "$TMP"; mkdir -p "$DL" "$TMP"
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$DL" \
  --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
  "torch==${TORCH_VERSION}"
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$DL" \
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
(cd "$DL" && sha256sum -c --quiet) <<'SUMS'
7aa2f9bbc6d4595ba72138026b2074be1233186150e9292865e04b7a63b8c67a  torch-2.11.0-cp311-cp311-manylinux_2_28_x86_64.whl
7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548  nvidia_cuda_runtime-13.0.96-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8  nvidia_cuda_cupti-13.0.85-py3-none-manylinux_2_25_x86_64.whl
SUMS
unzip -q "$DL"/torch-${TORCH_VERSION}-*.whl 'torch/include/*' torch/lib/libtorch_cpu.so \
  torch/lib/libtorch.so torch/lib/libc10.so torch/lib/libgomp.so.1 -d "$TMP"
unzip -q "$DL"/nvidia_cuda_runtime-*.whl nvidia/cu13/lib/libcudart.so.13 -d "$TMP"
unzip -q "$DL"/nvidia_cuda_cupti-*.whl nvidia/cu13/lib/libcupti.so.13 -d "$TMP"
echo "${TORCH_VERSION}+cu130" > "$TMP/torch/build-version"   # arms torch-sys's version check
rm -rf "$DEST" "$DL"; mv "$TMP" "$DEST"
}

if [ $# -ge 1 ]; then
  ( install "$1" )
  exit 0
fi

CACHE_DEFAULT="${XDG_CACHE_HOME:-$HOME/.cache}/mabtwin/libtorch-2.11.0-cu130"
CACHE="${MABTWIN_LIBTORCH_CACHE:-$CACHE_DEFAULT}"
if { [ -n "${MABTWIN_LIBTORCH_CACHE:-}" ] || [ -d "$CACHE" ]; } \
    && { [ -L .libtorch ] || [ ! -e .libtorch ]; }; then
  mkdir -p "$(dirname "$CACHE")"
  ( install "$CACHE" )
  ln -sfn "$CACHE" .libtorch
  echo "libtorch: .libtorch -> $CACHE"
else
  ( install .libtorch )
fi
