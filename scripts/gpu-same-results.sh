#!/usr/bin/env bash
# The CLI's results from the GPU backend against the CPU backend's, on a CUDA machine: every
# window record (`--jsonl`), every rejected line (`--rejects`) and the run summary must be equal,
# timings and memory aside. Each given file is run twice on the GPU: the second run always
# loads its kernels from the on-disk kernel cache (a fresh one made for this check and shared by
# all inputs, so the first run compiles with NVRTC only for kernels no earlier input needed);
# generated inputs (issue 4's 10M+ lines with injected bad lines) once. Prints each GPU run's
# start-up line and one verdict per input; exits non-zero on any difference.
#
# Usage on a CUDA machine: bash scripts/gpu-same-results.sh BIN [FILE...]
#   LOGPULSE_SAME_GEN="clf:12000000 tsv:12000000" (FORMAT:LINES ..., formats of `logpulse gen`)
#   adds generated inputs with a bad line every LOGPULSE_SAME_BAD_EVERY (default 997) lines;
#   with neither files nor LOGPULSE_SAME_GEN: every .carry/data/*.gz (scripts/gpu-check.sh
#   stages them); LOGPULSE_SAME_ARGS: more `run` arguments for every run (e.g. "--key path").
set -uo pipefail
BIN=${1:?usage: gpu-same-results.sh BIN [FILE...]}
shift
FILES=("$@")
if [ ${#FILES[@]} -eq 0 ] && [ -z "${LOGPULSE_SAME_GEN:-}" ]; then
  shopt -s nullglob
  FILES=(.carry/data/*.gz)
  shopt -u nullglob
  [ ${#FILES[@]} -gt 0 ] || { echo "no inputs: give files, set LOGPULSE_SAME_GEN or stage .carry/data" >&2; exit 2; }
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export LOGPULSE_KERNEL_CACHE="$W/kernels"
status=0

# compare INPUT RUN... : each run's outputs against the CPU run's.
compare() {
  python3 - "$W" "$@" <<'PY'
import itertools, json, sys
w, name, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
volatile = {"elapsed_s", "gb_per_s", "peak_rss_bytes"}
def records(run):
    # Window records, then the summary line, each without what depends on the machine.
    with open(f"{w}/{run}.jsonl") as f:
        for line in f:
            yield {k: v for k, v in json.loads(line).items() if k not in volatile}
def rejects(run):
    with open(f"{w}/{run}.rejects", "rb") as f:
        return f.read()
def summary(run):
    return {k: v for k, v in json.load(open(f"{w}/{run}.json")).items() if k not in volatile}
cpu_summary, cpu_rejects = summary("cpu"), rejects("cpu")
windows = None  # the CPU's window records, counted by the first comparison that reads them all
bad = []
for run in runs:
    what = []
    mine = summary(run)
    if mine != cpu_summary:
        keys = sorted(k for k in mine.keys() | cpu_summary.keys() if mine.get(k) != cpu_summary.get(k))
        what.append(f"summary ({', '.join(keys)})")
    if rejects(run) != cpu_rejects:
        what.append("rejects")
    n = counted = 0
    for a, b in itertools.zip_longest(records(run), records("cpu")):
        if a is None or b is None:
            what.append(f"number of window records (differ from record {n})")
            break
        if a != b:
            keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            what.append(f"window record {n} ({a.get('start', a.get('type'))}: {', '.join(keys)})")
            break
        counted += b.get("type") == "window"
        n += 1
    else:
        windows = counted
    if what:
        bad.append(f"{run}: {', '.join(what)}")
if windows is None:
    windows = sum(1 for r in records("cpu") if r.get("type") == "window")
s = cpu_summary
print(f"{name}: {'DIFFERENT: ' + '; '.join(bad) if bad else 'same results'} "
      f"({s.get('lines')} lines, {(s.get('rejected') or {}).get('total')} rejected, "
      f"{windows} window records)")
sys.exit(1 if bad else 0)
PY
}

# check INPUT RUN... : runs each backend over INPUT (gpu1, gpu2: GPU; cpu), then compares.
check() {
  local f=$1; shift
  rm -f "$W"/gpu1.* "$W"/gpu2.* "$W"/cpu.*
  for run in "$@" cpu; do
    # shellcheck disable=SC2086
    "$BIN" run "$f" --backend "${run%[12]}" -q --progress never --summary "$W/$run.json" \
      --jsonl "$W/$run.jsonl" --rejects "$W/$run.rejects" ${LOGPULSE_SAME_ARGS:-} \
      > /dev/null 2> "$W/$run.err" || { echo "$f: $run FAILED"; tail -3 "$W/$run.err"; status=1; return; }
    grep -E "ready after" "$W/$run.err" | sed "s|^|  $run: |"
  done
  compare "$f" "$@" || status=1
}

for f in ${FILES[@]+"${FILES[@]}"}; do
  check "$f" gpu1 gpu2
done
for spec in ${LOGPULSE_SAME_GEN:-}; do
  fmt=${spec%%:*}; lines=${spec##*:}
  f="$W/gen_${fmt}_$lines.log"
  "$BIN" gen --format "$fmt" --lines "$lines" --bad-every "${LOGPULSE_SAME_BAD_EVERY:-997}" -o "$f" \
    || { echo "gen $spec FAILED"; status=1; continue; }
  check "$f" gpu1
  rm -f "$f"
done
exit $status
