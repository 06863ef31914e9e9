#!/usr/bin/env bash
# A/B of two logpulse binaries on the same generated inputs, runs interleaved (A, B, A, B...)
# so that a noisy machine hits both alike: `logpulse bench FILE --backend cpu` per format.
# Usage: scripts/bench-ab.sh OLD_BIN NEW_BIN [ROUNDS]
#   LOGPULSE_AB_FORMATS (default "tsv clf combined"), LOGPULSE_AB_LINES (default 10000000),
#   LOGPULSE_AB_ARGS (the bench arguments; default "--backend cpu").
set -uo pipefail
A="$1"; B="$2"; ROUNDS="${3:-3}"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for fmt in ${LOGPULSE_AB_FORMATS:-tsv clf combined}; do
  "$B" gen --lines "${LOGPULSE_AB_LINES:-10000000}" --format "$fmt" -o "$W/in.$fmt"
  for r in $(seq 1 "$ROUNDS"); do
    for bin in "$A" "$B"; do
      # shellcheck disable=SC2086
      line=$("$bin" bench "$W/in.$fmt" ${LOGPULSE_AB_ARGS:---backend cpu} 2>&1 | grep -E "^(pipeline|backend|latency)" | tr -s ' ' | tr '\n' ' ')
      echo "$fmt round $r $(basename "$bin"): $line"
    done
  done
  rm -f "$W/in.$fmt"
done
