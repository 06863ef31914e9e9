#!/usr/bin/env bash
# Two processes on one GPU: the GPU-vs-CPU tests while gpu_bench runs beside them, again and
# again, as two jobs of a user would share a device. Once (2026-12-07) a new slot's first batch
# had its results erased in this setting (device buffers were cleared on the legacy default
# stream, unordered with the slots' streams; fixed, see crates/logpulse-gpu/NOTES.md); this
# reruns that setting on purpose.
# Build here: scripts/gpu-check.sh (stages .carry/). On the device (run tool, carry [".carry"]):
#   bash scripts/gpu-shared.sh [ROUNDS]
# A round takes the tests' time (~4 min): one or two rounds fit a 10-minute device call.
# Logs under $OUT (or .carry/out); exits non-zero when a round's tests or a bench run fail.
set -uo pipefail
ROUNDS="${1:-1}"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive number, not '$ROUNDS'" >&2; exit 2; }
OUT="${OUT:-.carry/out}"
mkdir -p "$OUT"
source "$(dirname "$0")/cuda-env.sh"
export LOGPULSE_DATA_DIR="$PWD/.carry/data"
status=0
for r in $(seq 1 "$ROUNDS"); do
  timeout 540 .carry/bin/test-gpu_vs_cpu --test-threads=1 >"$OUT/shared_tests_$r.log" 2>&1 &
  tests=$!
  runs=0
  failed_runs=0
  while kill -0 "$tests" 2>/dev/null; do
    timeout 300 .carry/bin/gpu_bench --formats clf,nasa_tsv --depths 2 --reps 2 >>"$OUT/shared_bench_$r.txt" 2>&1 ||
      { failed_runs=$((failed_runs + 1)); status=1; }
    runs=$((runs + 1))
  done
  if wait "$tests"; then res=ok; else res=FAILED; status=1; fi
  echo "round $r: gpu_vs_cpu $res beside $runs gpu_bench runs ($failed_runs failed): $(grep -E '^test result' "$OUT/shared_tests_$r.log" | tail -1)"
  [ "$res" = FAILED ] && grep -E "panicked" -A2 "$OUT/shared_tests_$r.log" | head -12
done
exit $status
