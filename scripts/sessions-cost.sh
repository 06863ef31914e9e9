#!/usr/bin/env bash
# What sessions per client cost: the windows stage alone (examples/windows_stage.rs, sessions off
# and on, interleaved) and whole runs of `logpulse run` with `--session-gap off` and the default,
# interleaved, on a generated CLF file in memory (/dev/shm). Prints one line per run.
#
# Usage: scripts/sessions-cost.sh [LOGPULSE_BIN] [WINDOWS_STAGE_BIN]
#   defaults: target/release/logpulse, target/release/examples/windows_stage (build them with
#   `cargo build --release -p logpulse && cargo build --release -p logpulse-core --examples`);
#   on the device: scripts/sessions-cost.sh .carry/logpulse .carry/bin/windows_stage
# LOGPULSE_COST_LINES (default 12000000), LOGPULSE_COST_REPS (3), LOGPULSE_COST_BACKEND (auto).
set -uo pipefail
BIN=${1:-target/release/logpulse}
STAGE=${2:-target/release/examples/windows_stage}
LINES=${LOGPULSE_COST_LINES:-12000000}
REPS=${LOGPULSE_COST_REPS:-3}
BACKEND=${LOGPULSE_COST_BACKEND:-auto}
DIR=$(mktemp -d /dev/shm/lp-sessions.XXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$DIR"' EXIT
echo "cores: $(nproc); merge threads: ${LOGPULSE_MERGE_THREADS:-default}"

if [ -x "$STAGE" ]; then
  "$STAGE" 3000000 "$REPS" clf 2>&1 | grep -E "sessions" | sed 's/^/windows_stage: /'
fi

"$BIN" gen --format clf --lines "$LINES" -o "$DIR/clf.log" || exit 1
ls -l "$DIR/clf.log" | awk '{print "input: " $5 " bytes"}'
for r in $(seq "$REPS"); do
  for gap in off 30m; do
    "$BIN" run "$DIR/clf.log" --format common --backend "$BACKEND" --session-gap "$gap" -q \
      --progress never --summary "$DIR/s.json" >/dev/null 2>"$DIR/err" || { cat "$DIR/err"; exit 1; }
    python3 - "$DIR/s.json" "$gap" "$r" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ses = s.get("sessions", {})
print(f"run {sys.argv[3]} sessions {sys.argv[2]:>3}: {s['gb_per_s']:.2f} GB/s, {s['elapsed_s']:.2f} s, "
      f"{s['lines']} lines, sessions {ses.get('started', '-')}")
PY
  done
done
