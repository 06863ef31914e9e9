#!/usr/bin/env bash
# Installs what the anchor benchmarks need, idempotently, on a Debian machine (run as root or
# with sudo available): mawk, gawk, goaccess from Debian; polars, pyarrow, duckdb (pinned)
# from PyPI. Anything already present at the right version is left alone.
#
#   bash scripts/anchors/install.sh            # everything
#   ANCHOR_NO_APT=1 bash scripts/anchors/install.sh   # Python packages only
set -euo pipefail

POLARS=2.1.0
PYARROW=26.0.1
DUCKDB=2.0.1
PY=${PYTHON:-python3}

SUDO=""
if [[ $(id -u) -ne 0 ]] && command -v sudo > /dev/null; then SUDO=sudo; fi

# ---- Debian packages
if [[ -z ${ANCHOR_NO_APT:-} ]] && command -v apt-get > /dev/null; then
    missing=()
    for pkg in mawk gawk goaccess; do
        dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    command -v "$PY" > /dev/null || missing+=(python3)
    "$PY" -m pip --version > /dev/null 2>&1 || missing+=(python3-pip)
    if [[ ${#missing[@]} -gt 0 ]]; then
        echo "install.sh: apt-get install ${missing[*]}" >&2
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
    fi
fi

# ---- Python packages (pinned)
have() { # module version
    "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" 2> /dev/null
}
want=()
have polars "$POLARS" || want+=("polars==$POLARS")
have pyarrow "$PYARROW" || want+=("pyarrow==$PYARROW")
have duckdb "$DUCKDB" || want+=("duckdb==$DUCKDB")
if [[ ${#want[@]} -gt 0 ]]; then
    echo "install.sh: pip install ${want[*]}" >&2
    pipargs=(--quiet --disable-pip-version-check --root-user-action=ignore)
    # A Debian system Python is "externally managed" (PEP 668): pip needs the override there.
    if "$PY" -c 'import sys, sysconfig, os; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
        pipargs+=(--break-system-packages)
    fi
    "$PY" -m pip install "${pipargs[@]}" "${want[@]}"
fi

# ---- report
"$PY" - << 'EOF'
import importlib.metadata as m
print("install.sh: " + ", ".join(f"{p} {m.version(p)}" for p in ("polars", "pyarrow", "duckdb")))
EOF
for t in mawk gawk goaccess; do
    command -v "$t" > /dev/null && echo "install.sh: $t $(dpkg-query -W -f='${Version}' "$t" 2> /dev/null || echo '?')"
done
exit 0
