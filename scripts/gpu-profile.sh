#!/usr/bin/env bash
# Where `logpulse run FILE --backend gpu` spends its time, on a CUDA machine (issue 4's
# page-cached read, as a user times it): wall clock against the run itself (the summary's
# GB/s), the start-up the backend line reports, CPU time, and the stage clock (--timings).
# Several binaries are run interleaved on the same inputs (A/B of a change).
# Usage here:   cargo build --release -p logpulse && mkdir -p .carry && cp target/release/logpulse .carry/
# On the device (run tool, carry [".carry"]):   bash scripts/gpu-profile.sh .carry/logpulse [OTHER_BIN...]
# LOGPULSE_PROFILE_LINES (default "10000000 40000000"), LOGPULSE_PROFILE_BACKENDS (default
# "gpu cpu"), LOGPULSE_PROFILE_REPS (default 2), LOGPULSE_PROFILE_ENVS (settings to sweep,
# each a comma-separated list of VAR=value, e.g. "LOGPULSE_FRAME_THREADS=4 LOGPULSE_FRAME_THREADS=8";
# default: none), LOGPULSE_PROFILE_ARGS (more `run` arguments, e.g. "--batch-lines 600000").
set -uo pipefail
BINS=("$@"); [ ${#BINS[@]} -gt 0 ] || BINS=(target/release/logpulse)
W=$(mktemp -d)
for n in ${LOGPULSE_PROFILE_LINES:-10000000 40000000}; do
  f="$W/p$n.clf"
  "${BINS[0]}" gen --lines "$n" --format clf -o "$f"
  cat "$f" > /dev/null
  echo "== $n CLF lines ($(du -m "$f" | cut -f1) MB), page cached"
  for b in ${LOGPULSE_PROFILE_BACKENDS:-gpu cpu}; do
    for rep in $(seq 1 ${LOGPULSE_PROFILE_REPS:-2}); do for e in ${LOGPULSE_PROFILE_ENVS:--}; do for bin in "${BINS[@]}"; do
      envs=(); [ "$e" != - ] && IFS=, read -ra envs <<< "$e"
      rm -f "$W/s.json"
      env "${envs[@]}" /usr/bin/time -f "wall %e s, user %U s, sys %S s, peak RSS %M KB" \
        "$bin" run "$f" --backend $b -q --progress never --timings --summary "$W/s.json" ${LOGPULSE_PROFILE_ARGS:-} \
        > /dev/null 2> "$W/err" || { echo "  $b rep $rep ${e/-/} $bin: FAILED"; grep -v "^  " "$W/err" | tail -5; continue; }
      gbs=$(python3 -c "import json,sys; print(f'{json.load(open(sys.argv[1])).get(\"gb_per_s\",0):.2f}')" "$W/s.json")
      echo "  $b rep $rep ${e/-/} $bin: $gbs GB/s in the run; $(tail -1 "$W/err")"
      grep -E "^logpulse: (stages|backend|framing|gpu [0-9]+: .* ready)" "$W/err" | sed 's/^/      /'
    done; done; done
  done
done
nproc
