#!/usr/bin/env bash
# Installs NVIDIA's run-time CUDA compiler (NVRTC, from PyPI's nvidia-cuda-nvrtc wheel) so the
# kernels can be compiled on machines without a GPU: the test `nvrtc_compile` then builds the
# kernels of every preset and key for real instead of skipping. Prints the library folder on
# stdout (the last line); put it on LD_LIBRARY_PATH.
#
# Idempotent. Where: $LOGPULSE_NVRTC_DIR, default <repo>/target/nvrtc (ignored by git).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${LOGPULSE_NVRTC_DIR:-$REPO/target/nvrtc}"
PKG="nvidia-cuda-nvrtc==13.0.88"

find_lib() {
    find "$DIR/site" -name 'libnvrtc.so.1*' -not -name '*builtins*' 2>/dev/null | sort | head -n 1
}

lib="$(find_lib || true)"
if [[ -z "$lib" ]]; then
    mkdir -p "$DIR"
    PY="$(command -v python3 || command -v python || true)"
    [[ -n "$PY" ]] || { echo "install-nvrtc: python3 not found (needed for pip)" >&2; exit 1; }
    "$PY" -m pip install --disable-pip-version-check --quiet --no-deps \
        --target "$DIR/site" "$PKG" >&2
    lib="$(find_lib || true)"
    [[ -n "$lib" ]] || { echo "install-nvrtc: no libnvrtc in $PKG under $DIR/site" >&2; exit 1; }
fi
libdir="$(dirname "$lib")"
# cudarc looks for the unversioned name too.
ln -sf "$(basename "$lib")" "$libdir/libnvrtc.so"
echo "$libdir"
