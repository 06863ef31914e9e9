#!/usr/bin/env bash
# One device call that decides a kernel knob (an NVRTC define, off by default): the default
# against one or more settings of it in one binary, kernels alone (interleaved, twice) and end
# to end, then the GPU-vs-CPU tests on the default kernels and under each setting. Every step has
# its own time limit, so the whole fits a 10-minute call; logs under $OUT (or .carry/out).
#
# Build here: scripts/gpu-check.sh (stages .carry/). On the device (run tool, carry [".carry"]):
#   bash scripts/gpu-knob-check.sh LP_EPOCH_SLOTS=1 LP_EPOCH_SLOTS=2
# LOGPULSE_KNOB_STEPS picks steps (default "kernels e2e tests knob_tests";
# all four need more than one 10-minute call); a knob_tests step
# runs LOGPULSE_KNOB_TESTS (a test-name filter; default every gpu_vs_cpu test).
# Exits non-zero when a test step fails or a bench run reports a difference from the CPU.
set -uo pipefail
[ $# -gt 0 ] || { echo "usage: gpu-knob-check.sh DEFINE=VALUE[,DEFINE=VALUE] ..." >&2; exit 2; }
KNOBS=("$@")
OUT="${OUT:-.carry/out}"
mkdir -p "$OUT"
source "$(dirname "$0")/cuda-env.sh"
export LOGPULSE_DATA_DIR="$PWD/.carry/data" RUST_BACKTRACE=1
STEPS=" ${LOGPULSE_KNOB_STEPS:-kernels e2e tests knob_tests} "
BENCH=.carry/bin/gpu_bench
start=$SECONDS
status=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
echo "cores: $(nproc); settings: ${KNOBS[*]}"

# tests TAG LIMIT [DEFINES] : gpu_vs_cpu (filtered by LOGPULSE_KNOB_TESTS under a knob).
tests() {
  local tag=$1 limit=$2 defines=${3:-} filter=()
  [ -n "$defines" ] && [ -n "${LOGPULSE_KNOB_TESTS:-}" ] && filter=("$LOGPULSE_KNOB_TESTS")
  LOGPULSE_GPU_NVRTC_DEFINES="$defines" timeout "$limit" .carry/bin/test-gpu_vs_cpu \
    --test-threads=1 "${filter[@]}" >"$OUT/$tag.log" 2>&1
  local rc=$?
  echo "$tag: rc=$rc after $((SECONDS - start)) s; $(grep -E '^test result' "$OUT/$tag.log" | tail -1)"
  grep -E "^test .*FAILED|panicked|SKIPPED" "$OUT/$tag.log" | head -10
  [ $rc -eq 0 ] || status=1
}

# bench TAG LIMIT DEFINES ARGS... : one gpu_bench run; prints its summary rows.
bench() {
  local tag=$1 limit=$2 defines=$3
  shift 3
  LOGPULSE_GPU_NVRTC_DEFINES="$defines" timeout "$limit" "$BENCH" "$@" \
    >"$OUT/$tag.txt" 2>"$OUT/$tag.err" || { echo "$tag FAILED (rc $?)"; status=1; }
  grep -E "FAILED|differ" "$OUT/$tag.err" && status=1
  grep -E "kernels" "$OUT/$tag.err" | sed "s/^/$tag /"
  [ -n "${LOGPULSE_BENCH_KERNELS_ONLY:-}" ] || sed -n '/^format /,$p' "$OUT/$tag.txt" | sed "s/^/$tag /"
}

if [[ $STEPS == *" kernels "* ]]; then
  for r in 1 2; do
    LOGPULSE_BENCH_KERNELS_ONLY=1 bench "kernels_default_$r" 60 "" --formats clf,nasa_tsv
    for k in "${KNOBS[@]}"; do
      LOGPULSE_BENCH_KERNELS_ONLY=1 bench "kernels_${k//[^A-Za-z0-9]/_}_$r" 60 "$k" --formats clf,nasa_tsv
    done
  done
fi
if [[ $STEPS == *" e2e "* ]]; then
  bench e2e_default 100 "" --formats clf,nasa_tsv --depths 2 --reps 2
  for k in "${KNOBS[@]}"; do
    bench "e2e_${k//[^A-Za-z0-9]/_}" 90 "$k" --formats clf,nasa_tsv --depths 2 --reps 2
  done
fi
[[ $STEPS == *" tests "* ]] && tests tests_default 300
if [[ $STEPS == *" knob_tests "* ]]; then
  for k in "${KNOBS[@]}"; do tests "tests_${k//[^A-Za-z0-9]/_}" 300 "$k"; done
fi
echo "done after $((SECONDS - start)) s"
exit $status
