#!/usr/bin/env bash
# Builds the GPU backend's tests and benchmark here (release, x86-64) and stages them, with the
# shared data sets, in .carry/ (git-ignored) for a CUDA machine that has no Rust toolchain.
#
# Usage, on the build machine:
#   scripts/gpu-check.sh            # build + stage into .carry/
# then run on the device (the `run` tool of this workplace), in one call:
#   command: bash .carry/run.sh
#   carry:   [".carry"]
#   kind:    nvidia-h100-x1 (or nvidia-h200)
# .carry/run.sh runs every GPU test binary (data from .carry/data via LOGPULSE_DATA_DIR), then
# the benchmark, writes full logs to $OUT (or .carry/out when $OUT is unset) and prints one
# summary. On a machine with CUDA and cargo, `cargo test --release -p logpulse-gpu` and
# `cargo run --release -p logpulse-gpu --example gpu_bench` do the same directly.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR="${LOGPULSE_DATA_DIR:-../shared/data}"
CARRY=.carry
rm -rf "$CARRY/bin" "$CARRY/data"
mkdir -p "$CARRY/bin" "$CARRY/data"

json=$(mktemp)
trap 'rm -f "$json"' EXIT
cargo test --release -p logpulse-gpu --no-run --message-format=json >"$json"
cargo build --release -p logpulse-gpu --examples --message-format=json >>"$json"
# The criterion benches too (host_build: the host's side of a batch, on the device host's cores;
# run e.g. `.carry/bin/bench-host_build --bench 67000_groups`; run.sh does not run them).
cargo bench -p logpulse-gpu --benches --no-run --message-format=json >>"$json"

# Every executable cargo reported for logpulse-gpu: test binaries, examples and benches.
python3 - "$json" "$CARRY/bin" <<'PY'
import json, shutil, sys, os
src, dst = sys.argv[1], sys.argv[2]
for line in open(src):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    exe = m.get("executable")
    if m.get("reason") != "compiler-artifact" or not exe or "logpulse-gpu" not in m.get("package_id", "") and "logpulse_gpu" not in m.get("package_id", ""):
        continue
    kind = m["target"]["kind"][0]
    name = m["target"]["name"]
    prefix = "bench-" if kind == "bench" else "test-" if m["profile"]["test"] else ""
    out = os.path.join(dst, prefix + name)
    shutil.copy(exe, out)
    print(f"staged {kind:8} {out}")
PY

# Debug info is most of their size, and the device tool carries at most 64 MiB.
strip "$CARRY"/bin/* 2>/dev/null || true
cp "$DATA_DIR"/*.gz "$CARRY/data/"
cat >"$CARRY/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs on the CUDA machine from the repository root (staged as .carry/run.sh by gpu-check.sh):
# every GPU test binary, then the benchmark; logs under $OUT; one summary at the end.
set -uo pipefail
OUT="${OUT:-.carry/out}"
mkdir -p "$OUT"
export LOGPULSE_DATA_DIR="$PWD/.carry/data"
source scripts/cuda-env.sh
export RUST_BACKTRACE=1
{
    date -u +%FT%TZ
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
    ldconfig -p | grep -E "libcuda.so|libnvrtc" || true
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

summary=()
status=0
for t in .carry/bin/test-${LOGPULSE_TESTS:-*}; do
    name=$(basename "$t")
    if timeout "${LOGPULSE_TEST_TIMEOUT:-540}" "$t" --test-threads=1 --nocapture >"$OUT/$name.log" 2>&1; then
        res="ok"
    else
        res="FAILED"
        status=1
    fi
    skips=$(grep -c "SKIPPED" "$OUT/$name.log" || true)
    line=$(grep -E "^test result" "$OUT/$name.log" | tail -1)
    summary+=("$name: $res ${line#test result: } (skips: $skips)")
    [ "$res" = "FAILED" ] && grep -E "panicked|assert|Error|error" "$OUT/$name.log" | head -20
done

[ -n "${LOGPULSE_SKIP_BENCH:-}" ] || timeout 240 .carry/bin/gpu_bench "$@" >"$OUT/bench.txt" 2>"$OUT/bench.err" || { echo "bench FAILED"; status=1; }
[ -f "$OUT/bench.err" ] && tail -30 "$OUT/bench.err"

# Extra bench passes: LOGPULSE_BENCH_RUNS="--batch-lines 1000000;--devices 0,1 --lines 100000000"
# (';' between passes), each logged to $OUT/bench_N.*; their summaries are printed below.
extra=()
[ -n "${LOGPULSE_BENCH_RUNS:-}" ] && IFS=';' read -ra extra <<<"$LOGPULSE_BENCH_RUNS"
k=0
for args in "${extra[@]}"; do
    k=$((k + 1))
    # shellcheck disable=SC2086
    timeout 300 .carry/bin/gpu_bench $args >"$OUT/bench_$k.txt" 2>"$OUT/bench_$k.err" || { echo "bench $k ($args) FAILED"; status=1; }
    tail -8 "$OUT/bench_$k.err"
done

echo "== tests =="
printf '%s\n' "${summary[@]}"
[ -f "$OUT/bench.txt" ] && cat "$OUT/bench.txt"
# The copy ceiling: the run's buffers uploaded back to back, beside host memory traffic.
[ -f "$OUT/bench.err" ] && grep -E "ceiling: all" "$OUT/bench.err"
k=0
for args in "${extra[@]}"; do
    k=$((k + 1))
    echo "== gpu_bench $args =="
    cat "$OUT/bench_$k.txt"
done
exit $status
RUN
du -sh "$CARRY"
echo "now run on the device: command 'bash .carry/run.sh', carry ['.carry']"
