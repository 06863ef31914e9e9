#!/usr/bin/env bash
# A/B of the GPU kernels on a CUDA machine: two gpu_bench binaries run interleaved (A, B, A, B)
# on the same generated inputs, so a noisy machine hits both alike; prints their kernel and
# end-to-end lines side by side. Optionally profiles B's big-batch kernels with ncu.
#
# Build here: keep the old binary first, e.g.
#   cargo build --release -p logpulse-gpu --example gpu_bench
#   mkdir -p .carry/base && cp target/release/examples/gpu_bench .carry/base/ && strip .carry/base/gpu_bench
# then change the kernels and run scripts/gpu-check.sh (stages the new one in .carry/bin).
# On the device (run tool, carry [".carry"]):
#   bash scripts/gpu-ab.sh .carry/base/gpu_bench .carry/bin/gpu_bench [ROUNDS]
# LOGPULSE_AB_ARGS: gpu_bench arguments (default "--formats clf,nasa_tsv --depths 2 --reps 2").
# LOGPULSE_AB_ENVS: settings to sweep, each a comma-separated list of VAR=value (e.g.
# "LOGPULSE_GPU_STAGE_PCT=150 LOGPULSE_GPU_STAGE_PCT=125"); LOGPULSE_BENCH_KERNELS_ONLY=1 in the
# environment makes gpu_bench time the kernels alone (seconds a run).
# LOGPULSE_AB_B_ENVS: settings only B knows, run for B alone after each round's A and B (e.g.
# "LOGPULSE_GPU_BUILD_THREADS=8 LOGPULSE_GPU_BUILD_THREADS=4"), as BENCHMARKS.md's 2026-12-07
# build-thread rows were made.
# LOGPULSE_AB_NCU=1: afterwards, ncu (--clock-control none) on B's kernels-only mode, CLF, the
# kernels of the big batch's first timed launch (summary per kernel); LOGPULSE_AB_NCU_FORMAT picks another format.
set -uo pipefail
A="$1"; B="$2"; ROUNDS="${3:-1}"
OUT="${OUT:-.carry/out}"
mkdir -p "$OUT"
source "$(dirname "$0")/cuda-env.sh"
ARGS="${LOGPULSE_AB_ARGS:---formats clf,nasa_tsv --depths 2 --reps 2}"
# One gpu_bench run: TAG BINARY SETTING (a comma-separated VAR=value list, or '-' for none);
# logs under $OUT/ab_TAG.*, its kernel and end-to-end lines printed with TAG in front.
bench() {
  local tag=$1 bin=$2 e=$3 envs=()
  [ "$e" != - ] && IFS=, read -ra envs <<< "$e"
  local log="$OUT/ab_${tag//[^A-Za-z0-9]/_}"
  # shellcheck disable=SC2086
  env "${envs[@]}" timeout 200 "$bin" $ARGS >"$log.txt" 2>"$log.err" || echo "$tag FAILED"
  grep -E "kernels|run \(depth 2, readback pinned\)|agrees" "$log.err" | sed "s/^/$tag /"
  # The summary table's rows (e2e, kernels, batch latency p50/p99/max a format).
  sed -n '/^format /,/^per-batch latency/p' "$log.txt" | grep -v "^format \|^per-batch" | sed "s/^/$tag table /"
}
for r in $(seq 1 "$ROUNDS"); do
  for e in ${LOGPULSE_AB_ENVS:--}; do
    bench "A$r${e/-/}" "$A" "$e"
    bench "B$r${e/-/}" "$B" "$e"
  done
  for e in ${LOGPULSE_AB_B_ENVS:-}; do
    bench "B$r$e" "$B" "$e"
  done
done
if [ -n "${LOGPULSE_AB_NCU:-}" ]; then
  # Kernels-only mode: the spot check (1 launch), batch 0 (1 + 50), the big batch (1 + 10). Skip
  # 53 launches of each kernel: the profiled one is the big batch's first timed launch.
  for k in lp_line_index lp_parse_aggregate lp_compact_groups lp_compact_counts; do
    LOGPULSE_BENCH_KERNELS_ONLY=1 timeout 120 ncu --clock-control none -k "$k" --launch-skip 53 --launch-count 1 \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      "$B" --formats "${LOGPULSE_AB_NCU_FORMAT:-clf}" --lines 10000000 >"$OUT/ncu_$k.txt" 2>&1 || echo "ncu $k FAILED"
    grep -E "Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|Compute \(SM\) Throughput|Memory Throughput|Warp Cycles Per Issued|Grid Size|Block Size|Stall" "$OUT/ncu_$k.txt" | sed "s/^/ncu $k /" | head -14
  done
fi
