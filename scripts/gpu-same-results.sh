#!/usr/bin/env bash
# The CLI's summaries from the GPU backend, twice (the second run's kernels come from the
# on-disk kernel cache, a fresh one made for this check), against the CPU backend's, on files
# of the shared data sets: everything but timings and memory must be equal. Prints each run's
# start-up line and one verdict per file; exits non-zero on any difference.
# Usage on a CUDA machine: bash scripts/gpu-same-results.sh BIN [FILE...]
# (default files: every .carry/data/*.gz, as staged by scripts/gpu-check.sh).
set -uo pipefail
BIN=${1:?usage: gpu-same-results.sh BIN [FILE...]}
shift
FILES=("$@")
[ ${#FILES[@]} -gt 0 ] || FILES=(.carry/data/*.gz)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export LOGPULSE_KERNEL_CACHE="$W/kernels"
status=0
for f in "${FILES[@]}"; do
  for run in gpu1 gpu2 cpu; do
    "$BIN" run "$f" --backend "${run%[12]}" -q --progress never --summary "$W/$run.json" \
      > /dev/null 2> "$W/$run.err" || { echo "$f: $run FAILED"; tail -3 "$W/$run.err"; status=1; }
    grep -E "ready after" "$W/$run.err" | sed "s|^|  $run: |"
  done
  python3 - "$f" "$W" <<'PY' || status=1
import json, sys
f, w = sys.argv[1], sys.argv[2]
skip = {"elapsed_s", "gb_per_s", "peak_rss_bytes"}
load = lambda n: {k: v for k, v in json.load(open(f"{w}/{n}.json")).items() if k not in skip}
cpu = load("cpu")
bad = [n for n in ("gpu1", "gpu2") if load(n) != cpu]
print(f"{f}: {'DIFFERENT: ' + ', '.join(bad) if bad else 'same results'} "
      f"({cpu.get('lines')} lines, {cpu.get('windows')} windows, {cpu.get('rejected')} rejected)")
sys.exit(1 if bad else 0)
PY
done
exit $status
