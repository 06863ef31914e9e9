#!/usr/bin/env bash
# Kernel variants of one gpu_bench binary timed against each other on a CUDA machine: each
# variant is a set of NVRTC macro definitions (LOGPULSE_GPU_NVRTC_DEFINES, see
# crates/logpulse-gpu/src/kernels.rs), the variants run interleaved ROUNDS times on the same
# generated inputs, kernels only (the batch already on the device), and their kernel lines are
# printed side by side. Each run also checks batch 0 against the CPU backend.
#
# Build here:   bash scripts/gpu-check.sh            (stages .carry/bin/gpu_bench)
# On the device (run tool, carry [".carry"]):
#   LOGPULSE_VARIANTS="LP_ASYNC_STAGE=0|-" bash scripts/gpu-variants.sh .carry/bin/gpu_bench 2
# Variants are separated by '|'; within one, definitions by spaces; '-' is the defaults.
# LOGPULSE_VARIANT_ARGS: gpu_bench arguments (default "--formats clf,nasa_tsv --lines 5000000").
set -uo pipefail
BIN="$1"; ROUNDS="${2:-2}"
OUT="${OUT:-.carry/out}"
mkdir -p "$OUT"
source "$(dirname "$0")/cuda-env.sh"
ARGS="${LOGPULSE_VARIANT_ARGS:---formats clf,nasa_tsv --lines 5000000}"
IFS='|' read -ra VARIANTS <<< "${LOGPULSE_VARIANTS:--}"
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!VARIANTS[@]}"; do
    v="${VARIANTS[$i]}"
    defs="$v"; [ "$v" = - ] && defs=""
    log="$OUT/variant_${i}_$r.err"
    # shellcheck disable=SC2086
    LOGPULSE_BENCH_KERNELS_ONLY=1 LOGPULSE_GPU_NVRTC_DEFINES="$defs" timeout 200 "$BIN" $ARGS \
      >"$OUT/variant_${i}_$r.txt" 2>"$log" || echo "[$v] round $r FAILED: $(tail -2 "$log")"
    grep -E "big batch kernels|kernels:|agrees|!=" "$log" | sed "s/^/[$v] r$r /"
  done
done
