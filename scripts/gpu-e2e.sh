#!/usr/bin/env bash
# End-to-end checks of the `logpulse` binary with the GPU backend, on a CUDA machine:
#  1. every shared log, as is and under --filter: `run --backend gpu` summary == `--backend cpu`;
#  2. kill -9 at 20 moments with --backend gpu and --checkpoint: final results == uninterrupted;
#  3. `logpulse bench --backend gpu` vs `--backend cpu` on generated TSV, CLF, combined and
#     Caddy JSON (the whole CLI pipeline from memory);
#  4. `logpulse run FILE --backend gpu` from the page cache (issue 4's cuDF-like read), reading
#     with one thread and with the default thread count (LOGPULSE_FRAME_THREADS);
#  5. `logpulse bench --backend gpu` with and without --filter;
#  6. the CPU backend's layouts (--cpu-workers 0, 1, 2, 4).
# Usage here:   cargo build --release -p logpulse && mkdir -p .carry && cp target/release/logpulse .carry/
# On the device (run tool, carry [".carry"]):   bash scripts/gpu-e2e.sh .carry/logpulse
# LOGPULSE_E2E_STEPS="3 4" runs only those steps (default: all).
set -uo pipefail
BIN="${1:-target/release/logpulse}"
STEPS="${LOGPULSE_E2E_STEPS:-1 2 3 4 5 6}"
step() { [[ " $STEPS " == *" $1 "* ]]; }
OUT="${OUT:-/tmp/gpu-e2e}"; mkdir -p "$OUT"
W=$(mktemp -d)
strip() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); [d.pop(k,None) for k in ('elapsed_s','gb_per_s','peak_rss_bytes','batches')]; print(json.dumps(d,sort_keys=True))" "$1"; }
if step 1; then
echo "== 1. GPU == CPU on the real logs"
# Each log twice: as is, and under filters on a number and a request part.
for f in samples/*.gz; do for filt in none "status<400 path~/"; do
  fargs=(); [ "$filt" != none ] && for x in $filt; do fargs+=(--filter "$x"); done
  for b in cpu gpu; do "$BIN" run "$f" --backend $b "${fargs[@]}" -q --progress never --summary "$W/$b.json" > /dev/null 2> "$W/$b.err"; echo $? > "$W/$b.rc"; done
  what="$(basename $f) (filters: $filt)"
  if [ "$(cat $W/gpu.rc)" != 0 ]; then echo "  $what: gpu refused: $(tail -1 $W/gpu.err)"; continue; fi
  if [ "$(strip $W/cpu.json)" == "$(strip $W/gpu.json)" ]; then echo "  $what: identical"; else echo "  $what: DIFFERENT"; fi
done; done
fi
if step 2; then
echo "== 2. kill -9 x20 with --backend gpu, resume from checkpoint"
"$BIN" gen --lines 3000000 --format clf --bad-every 997 -o "$W/in.log"
args=(run "$W/in.log" --format common --backend gpu --batch-lines 50000 -q --progress never)
"$BIN" "${args[@]}" --jsonl "$W/ref.jsonl" --summary "$W/ref.json" > /dev/null 2>&1
kills=0
for i in $(seq 1 20); do
  "$BIN" "${args[@]}" --jsonl "$W/crash.jsonl" --summary "$W/crash.json" --checkpoint "$W/ckpt" --checkpoint-interval 0 > /dev/null 2>&1 &
  pid=$!; sleep 0.$((RANDOM % 6 + 2)); if kill -9 $pid 2>/dev/null; then kills=$((kills+1)); fi; wait $pid 2>/dev/null
done
"$BIN" "${args[@]}" --jsonl "$W/crash.jsonl" --summary "$W/crash.json" --checkpoint "$W/ckpt" --checkpoint-interval 0 > /dev/null 2>&1
if [ "$(strip $W/ref.json)" == "$(strip $W/crash.json)" ] && cmp -s <(grep '"type":"window"' $W/ref.jsonl) <(grep '"type":"window"' $W/crash.jsonl); then echo "  $kills kills: results identical to the uninterrupted run"; else echo "  $kills kills: DIFFERENT"; fi
fi
if step 3; then
echo "== 3. logpulse bench (CLI pipeline from memory)"
for fmt in ${LOGPULSE_E2E_FORMATS:-tsv clf combined caddy-json}; do
  "$BIN" gen --lines ${LOGPULSE_E2E_LINES:-10000000} --format $fmt -o "$W/b.$fmt"
  for b in cpu gpu; do echo "-- $fmt $b"; "$BIN" bench "$W/b.$fmt" --backend $b --repeat 3 2>&1 | grep -E "backend|pipeline|latency|memory|stages"; done
done
fi
if step 4; then
echo "== 4. run from a page-cached file (wall clock; GB/s of the summary)"
"$BIN" gen --lines ${LOGPULSE_E2E_LINES:-10000000} --format clf -o "$W/p.clf"
cat "$W/p.clf" > /dev/null
for t in ${LOGPULSE_E2E_THREADS:-1 default}; do for b in gpu cpu; do
  s=$(date +%s.%N)
  LOGPULSE_FRAME_THREADS=$t "$BIN" run "$W/p.clf" --backend $b -q --progress never --timings --summary "$W/p.json" > /dev/null 2> "$W/p.err"
  e=$(date +%s.%N)
  grep -E "stages" "$W/p.err" | sed 's/^/    /'
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f'  {sys.argv[2]:>3} frame threads {sys.argv[3] or \"default\"}: {d.get(\"gb_per_s\",0):.2f} GB/s in the run, {float(sys.argv[5])-float(sys.argv[4]):.2f} s wall incl. start-up')" "$W/p.json" $b "$t" $s $e
done; done
fi
if step 5; then
echo "== 5. logpulse bench --backend gpu with filters (kernels with lp_filters_pass), combined"
"$BIN" gen --lines ${LOGPULSE_E2E_LINES:-10000000} --format combined -o "$W/f.log"
for filt in none "status>=400" "path^=/images bytes>1000"; do
  fargs=(); [ "$filt" != none ] && for x in $filt; do fargs+=(--filter "$x"); done
  echo "-- filters: $filt"; "$BIN" bench "$W/f.log" --backend gpu "${fargs[@]}" --repeat 3 2>&1 | grep -E "pipeline|backend "
done
fi
if step 6; then
echo "== 6. CPU backend layouts (--cpu-workers: 0 = one per thread for files, 1, 2), CLF"
"$BIN" gen --lines ${LOGPULSE_E2E_LINES:-10000000} --format clf -o "$W/w.log"
for w in 0 1 2 4; do echo "-- --cpu-workers $w"; "$BIN" bench "$W/w.log" --backend cpu --cpu-workers $w --repeat 3 2>&1 | grep -E "backend cpu|pipeline|latency"; done
fi
rm -rf "$W"
