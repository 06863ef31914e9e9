#!/usr/bin/env python3
"""Anchor benchmarks for logpulse: other tools computing the same three metrics on the same file.

The reference job (the RAPIDS notebook over NASA HTTP logs), over a whole file:
  traffic     requests per client host
  errors      requests per (host, status) for status >= 500, and 4xx requests per host
  saturation  bytes sent per host, in MB (bytes / 1e6)

Each tool reads the (uncompressed) file, parses host / status / bytes out of every line,
builds the three per-host tables in memory, and is timed over read + parse + aggregate
(wall clock, best of --runs, interpreter start-up and imports excluded). The totals printed
(hosts, requests, total_bytes, s5xx, s4xx) are computed from the result tables, so a tool
cannot skip the work, and they let us cross-check every tool against each other and
against logpulse.

Usage:
  python3 scripts/anchors/anchors.py --format tsv|clf FILE [--tools polars,pyarrow,duckdb,mawk,gawk,goaccess]

One JSON line per tool on stdout; warnings (tool missing, totals disagree) go to stderr.

What a line must look like to count as a request (everything else is rejected, as logpulse
rejects it):
  tsv  host<TAB>logname<TAB>time<TAB>method<TAB>url<TAB>status<TAB>bytes[<TAB>...]; the
       `host<TAB>logname...` header line (anywhere) is not a request; status must be an
       integer, bytes an integer or `-` (= 0).
  clf  host ident user [time] "request" status bytes[ anything]  (common, combined, and
       combined with extra trailing fields); `\\"` inside the request is honoured; status
       three digits; bytes digits or `-` (= 0).
The anchors do not convert the timestamp (the three metrics do not need it), which favours
the anchors over logpulse, whose pipeline parses every timestamp.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# One regex for every regex engine used here (Rust regex in polars, RE2 in pyarrow and duckdb).
CLF_RE = (
    r'^(?P<host>[^ ]+) [^ ]* [^ ]* \[[^\]]*\] "(?:[^"\\]|\\.)*" '
    r'(?P<status>[0-9]{3}) (?P<bytes>[0-9]+|-)(?: |\r?$)'
)
TSV_NAMES = ["host", "logname", "time", "method", "url", "status", "bytes"]

ALL_TOOLS = ["polars", "pyarrow", "duckdb", "mawk", "gawk", "goaccess"]


# --------------------------------------------------------------------------- helpers


def count_lines(path: str) -> int:
    """Lines in the file (a last line without newline counts). Done once, outside timing."""
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while True:
            buf = f.read(1 << 24)
            if not buf:
                break
            n += buf.count(b"\n")
            last = buf[-1:]
    if last != b"\n":
        n += 1
    return n


def best_of(fn, runs: int, slow_s: float):
    """Runs fn() `runs` times (stopping after a run slower than slow_s); returns
    (best seconds, all seconds, last result)."""
    times = []
    res = None
    for _ in range(runs):
        res = None
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
        if times[-1] > slow_s:
            break
    return min(times), times, res


# --------------------------------------------------------------------------- polars


def polars_job(path: str, fmt: str):
    import polars as pl

    if fmt == "tsv":
        schema = {n: pl.String for n in TSV_NAMES}
        schema["status"] = pl.Int32
        lf = pl.scan_csv(
            path,
            separator="\t",
            has_header=False,  # the header row fails the status cast and is dropped below
            quote_char=None,
            schema=schema,
            extra_columns="ignore",  # data rows carry 2 trailing empty fields
            missing_columns="insert",
            ignore_errors=True,  # a non-integer status becomes null -> rejected
            encoding="utf8-lossy",
        ).select("host", "status", "bytes")
    else:
        lf = (
            pl.scan_csv(
                path,
                separator="\x1f",  # one string column per line (no real log holds 0x1f)
                has_header=False,
                quote_char=None,
                schema={"line": pl.String},
                extra_columns="ignore",
                encoding="utf8-lossy",
            )
            .select(pl.col("line").str.extract_groups(CLF_RE).alias("m"))
            .unnest("m")
        )
    b = pl.col("bytes")
    recs = (
        lf.with_columns(
            pl.when(b == "-").then(pl.lit(0, pl.Int64)).otherwise(b.cast(pl.Int64, strict=False)).alias("bytes"),
            pl.col("status").cast(pl.Int32, strict=False),
        )
        .filter(
            pl.col("host").is_not_null()
            & pl.col("status").is_between(100, 999)
            & pl.col("bytes").is_not_null()
        )
    )
    per_host = recs.group_by("host").agg(
        pl.len().alias("requests"),
        pl.col("bytes").sum().alias("bytes"),
        (pl.col("bytes").sum() / 1e6).alias("mb"),
        pl.col("status").is_between(400, 499).sum().alias("n4xx"),
    )
    errors = recs.filter(pl.col("status") >= 500).group_by("host", "status").agg(pl.len().alias("n"))
    per_host, errors = pl.collect_all([per_host, errors])  # one scan, shared by both plans
    return per_host, errors


def polars_totals(res):
    per_host, errors = res
    return {
        "hosts": per_host.height,
        "requests": int(per_host["requests"].sum()),
        "total_bytes": int(per_host["bytes"].sum()),
        "s5xx": int(errors["n"].sum()),
        "s4xx": int(per_host["n4xx"].sum()),
    }


def polars_version():
    import polars as pl

    return pl.__version__, pl.thread_pool_size()


# --------------------------------------------------------------------------- pyarrow


def pyarrow_job(path: str, fmt: str):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if fmt == "tsv":
        ncols = tsv_field_count(path)
        names = TSV_NAMES + [f"x{i}" for i in range(len(TSV_NAMES), ncols)]
        tbl = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names[:ncols], block_size=1 << 24),
            # Rows with another field count than the data rows are skipped (and so rejected).
            parse_options=pacsv.ParseOptions(
                delimiter="\t", quote_char=False, escape_char=False, invalid_row_handler=lambda row: "skip"
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=["host", "status", "bytes"],
                column_types={"host": pa.string(), "status": pa.string(), "bytes": pa.string()},
                strings_can_be_null=False,
                check_utf8=False,
            ),
        )
        host, status, nbytes = tbl["host"], tbl["status"], tbl["bytes"]
        ok = pc.and_(
            pc.and_(pc.not_equal(host, ""), pc.ascii_is_decimal(status)),  # non-empty, digits only
            pc.or_(pc.ascii_is_decimal(nbytes), pc.equal(nbytes, "-")),
        )
    else:
        tbl = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=["line"], block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter="\x1f", quote_char=False, escape_char=False, invalid_row_handler=lambda row: "skip"
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={"line": pa.string()}, strings_can_be_null=False, check_utf8=False
            ),
        )
        m = pc.extract_regex(tbl["line"], CLF_RE)  # null where the line does not match
        ok = pc.is_valid(m)
        host, status, nbytes = (pc.struct_field(m, [i]) for i in range(3))
    host = pc.filter(host, ok)
    status = pc.filter(status, ok)
    nbytes = pc.filter(nbytes, ok)
    status = pc.cast(status, pa.int32())
    nbytes = pc.cast(pc.if_else(pc.equal(nbytes, "-"), "0", nbytes), pa.int64())
    keep = pc.and_(pc.greater_equal(status, 100), pc.less_equal(status, 999))
    recs = pa.table({"host": host, "status": status, "bytes": nbytes}).filter(keep)
    st = recs["status"]
    recs = recs.append_column("is4xx", pc.cast(pc.and_(pc.greater_equal(st, 400), pc.less(st, 500)), pa.int64()))
    per_host = recs.group_by("host").aggregate([("host", "count"), ("bytes", "sum"), ("is4xx", "sum")])
    per_host = per_host.append_column("mb", pc.divide(pc.cast(per_host["bytes_sum"], pa.float64()), 1e6))
    errors = recs.filter(pc.greater_equal(st, 500)).group_by(["host", "status"]).aggregate([("host", "count")])
    return per_host, errors


def pyarrow_totals(res):
    import pyarrow.compute as pc

    per_host, errors = res
    return {
        "hosts": per_host.num_rows,
        "requests": int(pc.sum(per_host["host_count"]).as_py() or 0),
        "total_bytes": int(pc.sum(per_host["bytes_sum"]).as_py() or 0),
        "s5xx": int(pc.sum(errors["host_count"]).as_py() or 0),
        "s4xx": int(pc.sum(per_host["is4xx_sum"]).as_py() or 0),
    }


def pyarrow_version():
    import pyarrow as pa

    return pa.__version__, pa.cpu_count()


def tsv_field_count(path: str) -> int:
    """Field count of the first data row (the header row has 7, data rows 9)."""
    with open(path, "rb") as f:
        for line in f:
            if not line.startswith(b"host\tlogname\t"):
                return line.rstrip(b"\r\n").count(b"\t") + 1
    return len(TSV_NAMES)


# --------------------------------------------------------------------------- duckdb

_duck = None


def duckdb_con():
    global _duck
    if _duck is None:
        import duckdb

        _duck = duckdb.connect(":memory:")
    return _duck


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _arrow(con, query: str):
    rel = con.sql(query)
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def duckdb_job(path: str, fmt: str):
    con = duckdb_con()
    p = _sql_str(path)
    # `src` yields host, status (INTEGER or NULL), bytes (BIGINT or NULL) for every line, with no
    # WHERE: DuckDB pushes a filter on regexp_extract's fields below the projection and then
    # runs the regex once per predicate. Rejected lines are dropped after the aggregation.
    if fmt == "tsv":
        ncols = tsv_field_count(path)
        names = TSV_NAMES + [f"x{i}" for i in range(len(TSV_NAMES), ncols)]
        cols = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names[:ncols]) + "}"
        src = f"""
          SELECT host, TRY_CAST(status AS INTEGER) AS status,
                 CASE WHEN bytes = '-' THEN 0 ELSE TRY_CAST(bytes AS BIGINT) END AS bytes
          FROM read_csv({p}, delim='\t', quote='', escape='', header=false, auto_detect=false,
                        columns={cols}, null_padding=true, ignore_errors=true)
        """
    else:
        src = f"""
          SELECT host, TRY_CAST(status AS INTEGER) AS status,
                 CASE WHEN bytes = '-' THEN 0 ELSE TRY_CAST(bytes AS BIGINT) END AS bytes
          FROM (SELECT unnest(regexp_extract(line, {_sql_str(CLF_RE)}, ['host', 'status', 'bytes']))
                FROM read_csv({p}, delim='\x1f', quote='', escape='', header=false, auto_detect=false,
                              columns={{'line': 'VARCHAR'}}, ignore_errors=true, strict_mode=false))
        """
    # One scan: aggregate by (host, status) into a small temp table, then roll it up per host
    # (DuckDB has no multi-output plan; scanning and parsing the file twice would be unfair to it).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE hs AS
            SELECT host, status, bytes IS NULL AS bad, count(*) AS n, sum(bytes) AS b
            FROM ({src}) GROUP BY ALL"""
    )
    con.execute(
        """DELETE FROM hs WHERE bad OR host IS NULL OR host = '' OR status IS NULL
                                OR status NOT BETWEEN 100 AND 999"""
    )
    per_host = _arrow(
        con,
        """SELECT host, sum(n) AS requests, sum(b) AS bytes, sum(b) / 1e6 AS mb,
                  coalesce(sum(n) FILTER (WHERE status BETWEEN 400 AND 499), 0) AS n4xx
           FROM hs GROUP BY host""",
    )
    errors = _arrow(con, "SELECT host, status, n FROM hs WHERE status >= 500")
    con.execute("DROP TABLE hs")
    return per_host, errors


def duckdb_totals(res):
    import pyarrow.compute as pc

    per_host, errors = res
    return {
        "hosts": per_host.num_rows,
        "requests": int(pc.sum(per_host["requests"]).as_py() or 0),
        "total_bytes": int(pc.sum(per_host["bytes"]).as_py() or 0),
        "s5xx": int(pc.sum(errors["n"]).as_py() or 0),
        "s4xx": int(pc.sum(per_host["n4xx"]).as_py() or 0),
    }


def duckdb_version():
    import duckdb

    threads = duckdb_con().execute("SELECT current_setting('threads')").fetchone()[0]
    return duckdb.__version__, int(threads)


# --------------------------------------------------------------------------- awk / goaccess


def shell_tool(tool: str, path: str, fmt: str, runs: int, slow_s: float):
    """Runs anchors-mawk.sh (mawk, gawk, goaccess) and returns its JSON record."""
    script = os.path.join(HERE, "anchors-mawk.sh")
    env = dict(os.environ, ANCHOR_TOOLS=tool, ANCHOR_RUNS=str(runs), ANCHOR_SLOW_S=str(slow_s))
    out = subprocess.run(["bash", script, path, fmt], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or f"{script} exited {out.returncode}")
    recs = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    recs = [r for r in recs if r.get("tool") == tool]
    if not recs:
        raise RuntimeError(f"{tool}: no result ({out.stderr.strip()})")
    return recs[0]


def logpulse_record(summary_path: str, path: str, fmt: str, size: int, lines: int) -> dict:
    """The totals of a logpulse `--summary` JSON (per-client table), in the anchors' fields.
    Its time is logpulse's own `elapsed_s`, not measured here."""
    with open(summary_path) as f:
        s = json.load(f)
    by = s["by_client"]
    sec = float(s.get("elapsed_s") or 0)
    return {
        "tool": "logpulse",
        "version": s.get("version", ""),
        "format": fmt,
        "file": path,
        "bytes": size,
        "lines": lines,
        "seconds": round(sec, 4),
        "gb_per_s": round(size / sec / 1e9, 4) if sec > 0 else None,
        "lines_per_s": round(lines / sec) if sec > 0 else None,
        "hosts": len(by),
        "requests": sum(v["requests"] for v in by.values()),
        "total_bytes": sum(v["bytes"] for v in by.values()),
        "s5xx": sum(v["s5xx"] for v in by.values()),
        "s4xx": sum(v["s4xx"] for v in by.values()),
        "approach": f"from {os.path.basename(summary_path)} (logpulse's own elapsed_s, format {s.get('format')})",
    }


PY_TOOLS = {
    "polars": (polars_job, polars_totals, polars_version, "polars"),
    "pyarrow": (pyarrow_job, pyarrow_totals, pyarrow_version, "pyarrow"),
    "duckdb": (duckdb_job, duckdb_totals, duckdb_version, "duckdb"),
}
SHELL_TOOLS = {"mawk": "mawk", "gawk": "gawk", "goaccess": "goaccess"}

APPROACH = {
    ("polars", "tsv"): "scan_csv sep=TAB, 7-col schema (extra cols ignored) + group_by, collect_all",
    ("polars", "clf"): "scan_csv one string column + str.extract_groups(regex) + group_by, collect_all",
    ("pyarrow", "tsv"): "pyarrow.csv sep=TAB strings + digit checks + casts + Table.group_by",
    ("pyarrow", "clf"): "pyarrow.csv one string column + compute.extract_regex (RE2) + Table.group_by",
    ("duckdb", "tsv"): "read_csv sep=TAB VARCHAR + TRY_CAST, GROUP BY host,status into temp table, rolled up per host",
    ("duckdb", "clf"): "read_csv one VARCHAR column + regexp_extract (RE2), GROUP BY host,status into temp table, rolled up per host",
}


def installed(tool: str) -> bool:
    if tool in PY_TOOLS:
        try:
            __import__(PY_TOOLS[tool][3])
            return True
        except ImportError:
            return False
    return shutil.which(SHELL_TOOLS[tool]) is not None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", help="uncompressed log file")
    ap.add_argument("--format", required=True, choices=["tsv", "clf"])
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma list (default: all installed)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool; the best counts (default 3)")
    ap.add_argument(
        "--logpulse-summary",
        metavar="JSON",
        help="a `logpulse run --summary JSON` file for the same input: its totals join the cross-check",
    )
    ap.add_argument("--slow-s", type=float, default=20.0, help="a run slower than this is not repeated (default 20)")
    args = ap.parse_args()

    path = os.path.abspath(args.file)
    if path.endswith((".gz", ".zst", ".bz2", ".xz")):
        print(f"anchors: {path} looks compressed; give an uncompressed file", file=sys.stderr)
        return 2
    size = os.path.getsize(path)
    lines = count_lines(path)  # also warms the page cache for every tool alike

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in PY_TOOLS and t not in SHELL_TOOLS]
    if unknown:
        print(f"anchors: unknown tool(s) {unknown}; known: {ALL_TOOLS}", file=sys.stderr)
        return 2

    results = []
    for tool in tools:
        if not installed(tool):
            print(f"anchors: {tool} not installed, skipped (scripts/anchors/install.sh)", file=sys.stderr)
            continue
        if tool == "goaccess" and args.format != "clf":
            print("anchors: goaccess reads only CLF here, skipped for tsv", file=sys.stderr)
            continue
        try:
            if tool in SHELL_TOOLS:
                rec = shell_tool(tool, path, args.format, args.runs, args.slow_s)
            else:
                job, totals, version, _ = PY_TOOLS[tool]
                ver, threads = version()
                best, times, res = best_of(lambda: job(path, args.format), args.runs, args.slow_s)
                tot = totals(res)
                del res
                rec = {
                    "tool": tool,
                    "version": ver,
                    "format": args.format,
                    "file": path,
                    "bytes": size,
                    "lines": lines,
                    "seconds": round(best, 4),
                    "gb_per_s": round(size / best / 1e9, 4),
                    "lines_per_s": round(lines / best),
                    **tot,
                    "threads": threads,
                    "runs_s": [round(t, 4) for t in times],
                    "approach": APPROACH[(tool, args.format)],
                }
        except Exception as e:  # one tool failing must not hide the others
            print(f"anchors: {tool} failed: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        print(json.dumps(rec), flush=True)
        results.append(rec)

    if args.logpulse_summary:
        try:
            rec = logpulse_record(args.logpulse_summary, path, args.format, size, lines)
            print(json.dumps(rec), flush=True)
            results.append(rec)
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"anchors: cannot read logpulse summary {args.logpulse_summary}: {e}", file=sys.stderr)

    # Cross-check: every tool must find the same hosts / requests / bytes / 5xx.
    rc = 0
    keys = ["hosts", "requests", "total_bytes", "s5xx"]
    comparable = [r for r in results if r.get("tool") != "goaccess"]
    for k in keys:
        vals = {r["tool"]: r.get(k) for r in comparable}
        if len(set(vals.values())) > 1:
            print(f"WARNING: tools disagree on {k} for {path}: {json.dumps(vals)}", file=sys.stderr)
            rc = 1
    ga = [r for r in results if r.get("tool") == "goaccess"]
    if ga and comparable:
        ref = comparable[0]
        for k in keys:
            if ga[0].get(k) != ref.get(k):
                print(
                    f"note: goaccess {k}={ga[0].get(k)} vs {ref['tool']} {ref.get(k)} "
                    "(goaccess applies its own validity rules; informational only)",
                    file=sys.stderr,
                )
    return rc


if __name__ == "__main__":
    sys.exit(main())
