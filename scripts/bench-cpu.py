#!/usr/bin/env python3
"""CPU benchmark: `logpulse run FILE` end to end (best of N wall-clock runs, file in page cache)
and `logpulse bench` (pipeline from memory, backend alone, per-batch latency), on generated
NASA-like TSV, CLF and combined files, with the anchors (polars, pyarrow, duckdb, mawk, gawk,
goaccess) timed on the same files in the same run. Prints a Markdown table.

    python3 scripts/bench-cpu.py [--lines-tsv 5000000] [--runs 3] [--no-anchors]
"""
import argparse, json, os, subprocess, sys, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target/release/logpulse")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines-tsv", type=int, default=5_000_000)
    ap.add_argument("--lines-clf", type=int, default=4_000_000)
    ap.add_argument("--lines-combined", type=int, default=4_500_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/logpulse-bench")
    ap.add_argument("--no-anchors", action="store_true")
    a = ap.parse_args()
    run(["cargo", "build", "--release", "-q", "-p", "logpulse"], cwd=REPO)
    os.makedirs(a.dir, exist_ok=True)
    rows = []
    for layout, lines, anchor_fmt in [("tsv", a.lines_tsv, "tsv"), ("clf", a.lines_clf, "clf"), ("combined", a.lines_combined, "clf")]:
        path = os.path.join(a.dir, f"{layout}-{lines}.log")
        if not os.path.exists(path):
            run([BIN, "gen", "--format", layout, "--lines", str(lines), "-o", path])
        size = os.path.getsize(path)
        summary = os.path.join(a.dir, f"{layout}.summary.json")
        best = min(timed([BIN, "run", path, "-q", "--progress", "never", "--summary", summary]) for _ in range(a.runs))
        s = json.load(open(summary))
        bench = json.loads(run([BIN, "bench", path, "--repeat", str(a.runs), "--json"]).stdout)
        lat = bench["batch_latency_ms"]
        rows.append((layout, "logpulse run (cpu, 2 threads)", size, best, f"peak RSS {s['peak_rss_bytes'] >> 20} MiB; bench: pipeline {bench['pipeline_gb_per_s_best']:.2f} GB/s, backend {bench['backend_gb_per_s_best']:.2f} GB/s, batch p50/p99 {lat['p50']:.0f}/{lat['p99']:.0f} ms"))
        if not a.no_anchors:
            out = subprocess.run([sys.executable, os.path.join(REPO, "scripts/anchors/anchors.py"), "--format", anchor_fmt, path, "--runs", str(a.runs)], capture_output=True, text=True)
            for line in out.stdout.splitlines():
                if line.startswith("{"):
                    r = json.loads(line)
                    rows.append((layout, f"{r['tool']} {r['version']}", size, r["seconds"], f"{r['threads']} threads"))
    print("| input | tool | MB | best s | GB/s | notes |\n|---|---|---|---|---|---|")
    for layout, tool, size, secs, note in rows:
        print(f"| {layout} | {tool} | {size / 1e6:.0f} | {secs:.3f} | {size / secs / 1e9:.3f} | {note} |")


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
