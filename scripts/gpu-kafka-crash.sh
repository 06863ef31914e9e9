#!/usr/bin/env bash
# Issue 6 (c) with the GPU backend: the Kafka kill -9 test (tests/kafka_crash.rs: 20 SIGKILLs of
# a `--checkpoint` run reading a 4-partition topic, restarts, final results == an uninterrupted
# CPU run over the file) with `--backend gpu` for the Kafka runs, on a CUDA machine that has no
# Rust toolchain and no network.
#
# Here:   bash scripts/gpu-kafka-crash.sh stage     # builds, stages .carry-kafka/ (git-ignored)
# Device: bash scripts/gpu-kafka-crash.sh run       # run tool, carry [".carry-kafka"]
# (LOGPULSE_TEST_BACKEND=cpu runs the same test with the CPU backend, as a control; the full
# log is $OUT/kafka_crash.log.)
set -euo pipefail
cd "$(dirname "$0")/.."
C=.carry-kafka
case "${1:-}" in
stage)
    bash scripts/kafka/install-broker.sh >/dev/null
    cargo build --release -p logpulse
    exe=$(cargo test -p logpulse --test kafka_crash --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "kafka_crash" and m.get("executable"):
        print(m["executable"])')
    rm -rf "$C" && mkdir -p "$C"
    cp target/release/logpulse "$exe" "$C/"
    mv "$C/$(basename "$exe")" "$C/kafka_crash"
    strip "$C/logpulse" "$C/kafka_crash"
    # The broker (40 MB) compressed, to stay under the device tool's 64 MiB carry limit.
    gzip -9 -c "$(readlink -f target/kafka-broker/tansu)" >"$C/tansu.gz"
    du -sh "$C"
    ;;
run)
    gunzip -c "$C/tansu.gz" >/tmp/tansu && chmod +x /tmp/tansu
    source scripts/cuda-env.sh
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
    # On this 16-core host a 10 ms checkpoint interval covers half the stream (see the test).
    OUT="${OUT:-/tmp}"
    rc=0
    LOGPULSE_TANSU=/tmp/tansu LOGPULSE_BIN="$PWD/$C/logpulse" \
        LOGPULSE_TEST_BACKEND="${LOGPULSE_TEST_BACKEND:-gpu}" \
        LOGPULSE_TEST_CKPT_INTERVAL="${LOGPULSE_TEST_CKPT_INTERVAL:-1ms}" \
        timeout "${LOGPULSE_TEST_TIMEOUT:-540}" "$C/kafka_crash" --nocapture >"$OUT/kafka_crash.log" 2>&1 || rc=$?
    grep -E "^restart|kills|test result|panicked" "$OUT/kafka_crash.log" | tail -30
    exit $rc
    ;;
*) echo "usage: $0 stage|run" >&2; exit 2 ;;
esac
