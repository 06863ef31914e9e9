#!/usr/bin/env bash
# A settings sweep of `logpulse run FILE --backend gpu` on one page-cached generated CLF file:
# each setting in LOGPULSE_SWEEP_ENVS (space-separated; each a comma-separated VAR=value list,
# `-` for the defaults) runs LOGPULSE_SWEEP_REPS times, interleaved, and prints the run's GB/s
# and its stage clock; the first run's whole --timings report is printed once.
# Usage here:   cargo build --release -p logpulse && mkdir -p .carry && cp target/release/logpulse .carry/
# On the device (run tool, carry [".carry"]):   bash scripts/gpu-sweep.sh .carry/logpulse
set -uo pipefail
BIN=${1:-target/release/logpulse}
LINES=${LOGPULSE_SWEEP_LINES:-120000000}
W=$(mktemp -d)
f="$W/s.clf"
"$BIN" gen --lines "$LINES" --format clf -o "$f"
cat "$f" > /dev/null
echo "== $LINES CLF lines ($(du -m "$f" | cut -f1) MB), page cached, $(nproc) cores"
first=1
for rep in $(seq 1 "${LOGPULSE_SWEEP_REPS:-3}"); do
  for e in ${LOGPULSE_SWEEP_ENVS:--}; do
    envs=(); [ "$e" != - ] && IFS=, read -ra envs <<< "$e"
    env "${envs[@]}" "$BIN" run "$f" --backend gpu -q --progress never --timings \
      --summary "$W/s.json" > /dev/null 2> "$W/err" || { echo "  $e: FAILED"; tail -5 "$W/err"; continue; }
    gbs=$(python3 -c "import json,sys; print(f'{json.load(open(sys.argv[1]))[\"gb_per_s\"]:.2f}')" "$W/s.json")
    echo "  rep $rep $e: $gbs GB/s"
    if [ $first = 1 ]; then sed 's/^/      /' "$W/err"; first=0
    else grep -E "^logpulse: stages" "$W/err" | sed 's/^/      /'; fi
  done
done
