//! Reading a plain file on several threads (`LOGPULSE_FRAME_THREADS`) gives exactly what one
//! thread gives: summary, every window result and every rejected line, on generated logs with
//! bad lines, over-long lines, small batches and buffers (many read rounds), and a missing
//! final newline; and so does framing it through a mapping of the file (`LOGPULSE_MMAP=1`).

mod common;

use std::process::Command;

use common::*;

/// Runs `logpulse run FILE ARGS` with `threads` frame threads, the file mapped or read;
/// returns (summary without timings, window lines of the JSON Lines output, rejects file).
fn run(
    path: &str,
    args: &[&str],
    threads: usize,
    mapped: bool,
) -> (serde_json::Value, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (summary, jsonl, rejects) = (
        dir.path().join("s.json"),
        dir.path().join("w.jsonl"),
        dir.path().join("r.tsv"),
    );
    let out = Command::new(bin())
        .env("LOGPULSE_FRAME_THREADS", threads.to_string())
        .env("LOGPULSE_MMAP", if mapped { "1" } else { "0" })
        .env("LOGPULSE_FRAME_TIMES", "1")
        .args(["run", path, "-q", "--progress", "never"])
        .args(args)
        .arg("--summary")
        .arg(&summary)
        .arg("--jsonl")
        .arg(&jsonl)
        .arg("--rejects")
        .arg(&rejects)
        .output()
        .expect("run logpulse");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "logpulse failed: {stderr}");
    // The mapped framer says how many batches it framed (the file's last buffer-full is
    // always the one-thread framer's).
    let views = stderr
        .split_once(" mapped: ")
        .and_then(|(_, r)| r.split(' ').next()?.parse::<u64>().ok());
    assert_eq!(views.is_some(), mapped, "mapped framer ran: {stderr}");
    let small_batches = args.contains(&"--batch-mib");
    if mapped && small_batches {
        assert!(views.is_some_and(|n| n > 5), "few mapped batches: {stderr}");
    }
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    if let Some(o) = s.as_object_mut() {
        for k in ["elapsed_s", "gb_per_s", "peak_rss_bytes", "batches"] {
            o.remove(k);
        }
    }
    let windows: String = std::fs::read_to_string(&jsonl)
        .expect("jsonl")
        .lines()
        .filter(|l| l.contains("\"type\":\"window\""))
        .collect::<Vec<_>>()
        .join("\n");
    let rej = String::from_utf8_lossy(&std::fs::read(&rejects).expect("rejects")).into_owned();
    (s, windows, rej)
}

#[test]
fn several_reading_threads_equal_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gen = dir.path().join("gen.log");
    let st = Command::new(bin())
        .args([
            "gen",
            "--lines",
            "300000",
            "--format",
            "clf",
            "--bad-every",
            "997",
            "-o",
        ])
        .arg(&gen)
        .status()
        .expect("gen");
    assert!(st.success());
    let mut bytes = std::fs::read(&gen).expect("read gen");
    // Over-long lines (past 2 KiB) at two places, and no final newline.
    let long = vec![b'x'; 5000];
    let at = bytes.len() / 3;
    let at = at
        + bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("newline")
        + 1;
    bytes.splice(at..at, long.iter().copied().chain([b'\n']));
    let at2 = 2 * bytes.len() / 3;
    let at2 = at2
        + bytes[at2..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("newline")
        + 1;
    bytes.splice(at2..at2, long.iter().copied().chain([b'\n']));
    bytes.pop();
    let input = dir.path().join("in.log");
    std::fs::write(&input, &bytes).expect("write");
    let path = input.to_str().expect("path");
    for args in [
        &[
            "--format",
            "common",
            "--batch-lines",
            "7000",
            "--batch-mib",
            "1",
        ][..],
        &[
            "--format",
            "common",
            "--max-line-kib",
            "2",
            "--batch-mib",
            "1",
        ][..],
        &["--format", "common"][..],
    ] {
        let one = run(path, args, 1, false);
        assert!(one.0["lines"].as_u64().unwrap_or(0) > 300_000, "{args:?}");
        for (threads, mapped) in [(2, false), (4, false), (1, true), (4, true)] {
            let many = run(path, args, threads, mapped);
            let what = format!("{args:?}, {threads} threads, mapped {mapped}");
            assert_eq!(many.0, one.0, "{what}: summary");
            assert!(many.1 == one.1, "{what}: window results");
            assert!(many.2 == one.2, "{what}: rejects");
        }
    }
}
