#!/usr/bin/env bash
# Anchor benchmarks with awk (mawk, and gawk if present) and, for CLF, goaccess.
#
#   scripts/anchors/anchors-mawk.sh FILE tsv|clf
#
# Each awk computes the reference job over the whole (uncompressed) FILE:
#   traffic     requests per host
#   errors      requests per (host, status) for status >= 500, and 4xx per host
#   saturation  bytes per host, in MB (bytes / 1e6)
# and prints the totals of those tables. Timed with bash `time` (wall clock, the awk process
# from start to exit), best of ANCHOR_RUNS (default 3). One JSON line per tool on stdout,
# the same fields as anchors.py.
#
# Env: ANCHOR_TOOLS="mawk gawk goaccess" (default: those installed), ANCHOR_RUNS=3,
#      ANCHOR_SLOW_S=20 (a run slower than this is not repeated). Runs under LC_ALL=C.
# goaccess (CLF only) runs its own parser with only the hosts and status-codes panels kept;
# it accepts only IP addresses as %h (NASA host names are rejected), so its totals are for
# information: compare its speed on a file of IP clients (e.g. the apache sample).
set -euo pipefail

if [[ $# -ne 2 || ( "$2" != tsv && "$2" != clf ) ]]; then
    echo "usage: $0 FILE tsv|clf" >&2
    exit 2
fi
FILE=$(readlink -f "$1")
FMT=$2
RUNS=${ANCHOR_RUNS:-3}
[[ -r "$FILE" ]] || { echo "anchors-mawk: cannot read $FILE" >&2; exit 2; }
case "$FILE" in *.gz|*.zst|*.bz2|*.xz) echo "anchors-mawk: give an uncompressed file" >&2; exit 2;; esac

TOOLS=${ANCHOR_TOOLS:-mawk gawk goaccess}
SLOW_S=${ANCHOR_SLOW_S:-20} # a run longer than this is not repeated (keeps a tool under ~1 min)
# Byte semantics for the awks: logs are bytes, and a UTF-8 locale makes gawk ~3x slower.
export LC_ALL=C
SIZE=$(stat -c %s "$FILE")
LINES=$(wc -l < "$FILE")
[[ $SIZE -gt 0 && $(tail -c 1 "$FILE" | od -An -c | tr -d ' ') != '\n' ]] && LINES=$((LINES + 1))
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ---- the awk program (POSIX awk: mawk 1.3.4 has no {n} repetitions, so none are used)
# Aggregation and END block, shared by both formats. `acc(h, s, b)` adds one request.
AWK_AGG='
function acc(h, s, b) {
    req[h]++; by[h] += b
    if (s >= 500) e5[h SUBSEP s]++
    else if (s >= 400) e4[h]++
}
END {
    nh = 0; nr = 0; tb = 0; n5 = 0; n4 = 0
    for (h in req) { nh++; nr += req[h]; tb += by[h]; mb[h] = by[h] / 1e6 }
    for (k in e5) n5 += e5[k]
    for (h in e4) n4 += e4[h]
    printf "%d %.0f %.0f %.0f %.0f\n", nh, nr, tb, n5, n4
}'

# NASA TSV: host logname time method url status bytes [...]; header rows fail the status test.
AWK_TSV='
BEGIN { FS = "\t" }
NF >= 7 && $1 != "" && $6 ~ /^[0-9]+$/ && ($7 ~ /^[0-9]+$/ || $7 == "-") {
    s = $6 + 0
    if (s >= 100 && s <= 999) acc($1, s, ($7 == "-") ? 0 : $7 + 0)
}'

# CLF: split on the double quote. Fast path: $1 = `host ident user [time] `, $2 = the request
# (no backslash in it), $3 = ` status bytes[ ...]`. Anything else (escaped quotes, odd lines)
# goes through the full regex, the same one anchors.py uses.
AWK_CLF='
BEGIN { FS = "\"" }
{
    if (NF >= 3 && index($2, "\\") == 0 \
        && $1 ~ /^[^ ]+ [^ ]* [^ ]* \[[^]]*\] $/ \
        && $3 ~ /^ [0-9][0-9][0-9] ([0-9]+|-)( |\r?$)/) {
        split($3, a, " ")
        acc(substr($1, 1, index($1, " ") - 1), a[1] + 0, (a[2] ~ /^-/) ? 0 : a[2] + 0)
    } else if (match($0, /^[^ ]+ [^ ]* [^ ]* \[[^]]*\] "([^"\\]|\\.)*" [0-9][0-9][0-9] ([0-9]+|-)( |\r?$)/)) {
        t = substr($0, 1, RLENGTH)
        sub(/[ \r]+$/, "", t)
        n = split(t, a, " ")
        acc(substr($0, 1, index($0, " ") - 1), a[n - 1] + 0, (a[n] == "-") ? 0 : a[n] + 0)
    }
}'

if [[ $FMT == tsv ]]; then PROG="$AWK_TSV$AWK_AGG"; else PROG="$AWK_CLF$AWK_AGG"; fi

# best_time CMD...: runs CMD RUNS times (stdout to $TMP/out), prints best and all wall seconds.
best_time() {
    local best="" all="" t
    for ((i = 0; i < RUNS; i++)); do
        TIMEFORMAT=%3R
        { time "$@" > "$TMP/out" 2> "$TMP/err"; } 2> "$TMP/time" || {
            cat "$TMP/err" >&2
            return 1
        }
        t=$(tail -n 1 "$TMP/time")
        all="${all:+$all, }$t"
        if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
        if awk -v a="$t" -v b="$SLOW_S" 'BEGIN { exit !(a > b) }'; then break; fi
    done
    echo "$best [$all]"
}

emit() { # tool version seconds runs hosts requests total_bytes s5xx s4xx approach
    awk -v tool="$1" -v ver="$2" -v fmt="$FMT" -v file="$FILE" -v size="$SIZE" -v lines="$LINES" \
        -v sec="$3" -v runs="$4" -v hosts="$5" -v req="$6" -v tb="$7" -v s5="$8" -v s4="$9" \
        -v appr="${10}" 'BEGIN {
        gsub(/\\/, "\\\\", file); gsub(/"/, "\\\"", file)
        if (sec <= 0) sec = 0.001
        printf "{\"tool\": \"%s\", \"version\": \"%s\", \"format\": \"%s\", \"file\": \"%s\", ", tool, ver, fmt, file
        printf "\"bytes\": %d, \"lines\": %d, \"seconds\": %.3f, \"gb_per_s\": %.4f, \"lines_per_s\": %.0f, ", size, lines, sec, size / sec / 1e9, lines / sec
        printf "\"hosts\": %d, \"requests\": %d, \"total_bytes\": %.0f, \"s5xx\": %d, \"s4xx\": %d, ", hosts, req, tb, s5, s4
        printf "\"threads\": 1, \"runs_s\": %s, \"approach\": \"%s\"}\n", runs, appr
    }'
}

run_awk() { # awk binary
    local awk=$1 ver r best runs
    case $awk in
        mawk) ver=$(mawk -W version 2>&1 | awk 'NR == 1 { print $2 }') ;;
        gawk) ver=$(gawk --version | awk 'NR == 1 { sub(/,$/, "", $3); print $3 }') ;;
    esac
    r=$(best_time "$awk" "$PROG" "$FILE") || { echo "anchors-mawk: $awk failed" >&2; return 0; }
    best=${r%% *}
    runs=${r#* }
    read -r hosts req tb s5 s4 < "$TMP/out"
    if [[ $FMT == tsv ]]; then
        appr="FS=TAB, field tests, hash tables per host and (host,status)"
    else
        appr="FS=quote fast path + full regex fallback, hash tables per host and (host,status)"
    fi
    emit "$awk" "$ver" "$best" "$runs" "$hosts" "$req" "$tb" "$s5" "$s4" "$appr"
}

run_goaccess() {
    local ver r best runs
    if [[ $FMT != clf ]]; then
        echo "anchors-mawk: goaccess reads only CLF here, skipped for tsv" >&2
        return 0
    fi
    ver=$(goaccess --version 2>&1 | awk 'NR == 1 { sub(/\.$/, "", $3); print $3 }')
    local panels=""
    for p in VISITORS REQUESTS REQUESTS_STATIC NOT_FOUND OS BROWSERS VISIT_TIMES REFERRERS \
        REFERRING_SITES KEYPHRASES GEO_LOCATION REMOTE_USER CACHE_STATUS VIRTUAL_HOSTS MIME_TYPE TLS_TYPE; do
        panels="$panels --ignore-panel=$p"
    done
    # goaccess reads %b up to the next format token: a combined line needs a token after it, and
    # a common line must not have one. The first line decides (a mixed file loses the others).
    local logfmt='%h %^ %^ [%d:%t %^] "%r" %s %b'
    if awk -F'"' 'NR == 1 { exit !(NF > 3) }' "$FILE"; then logfmt="$logfmt %^"; fi
    # shellcheck disable=SC2086
    r=$(best_time goaccess "$FILE" --no-global-config $panels \
        --log-format="$logfmt" --date-format=%d/%b/%Y --time-format=%T \
        -o "$TMP/ga.json") || { echo "anchors-mawk: goaccess failed" >&2; return 0; }
    best=${r%% *}
    runs=${r#* }
    read -r hosts req tb s5 s4 < <(python3 - "$TMP/ga.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
g = d["general"]
def by_class(prefix):
    return sum(x["hits"]["count"] for x in d.get("status_codes", {}).get("data", []) if x["data"].startswith(prefix))
hosts = d.get("hosts", {}).get("metadata", {}).get("data", {}).get("total", {}).get("value", 0)
print(hosts, g["valid_requests"], g["bandwidth"], by_class("5"), by_class("4"))
PY
)
    emit goaccess "$ver" "$best" "$runs" "$hosts" "$req" "$tb" "$s5" "$s4" \
        "own C parser (COMMON layout, date and time parsed), hosts + status-code panels only, JSON report to a temp file; %h must be an IP"
}

for tool in $TOOLS; do
    if ! command -v "$tool" > /dev/null 2>&1; then
        echo "anchors-mawk: $tool not installed, skipped" >&2
        continue
    fi
    case $tool in
        mawk | gawk) run_awk "$tool" ;;
        goaccess) run_goaccess ;;
        *) echo "anchors-mawk: unknown tool $tool" >&2 ;;
    esac
done
