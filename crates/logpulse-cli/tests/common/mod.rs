//! Helpers for end-to-end tests: run the real `logpulse` binary and read what it wrote.
#![allow(dead_code)]

pub mod serving;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_logpulse"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Decompressed bytes of a gzip file.
pub fn gunzip(path: &Path) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(f)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// Runs `logpulse run ARGS --summary <tmp> -q --progress never`; returns the summary JSON and the output.
pub fn run_summary(args: &[&str], stdin: Option<&[u8]>) -> (serde_json::Value, Output) {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = dir.path().join("summary.json");
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .args(args)
        .arg("--summary")
        .arg(&summary)
        .args(["-q", "--progress", "never"])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn logpulse");
    if let Some(input) = stdin {
        let mut si = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = si.write_all(&input);
        });
    }
    let out = child.wait_with_output().expect("wait logpulse");
    assert!(
        out.status.success(),
        "logpulse failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(&summary).expect("summary written");
    (serde_json::from_str(&text).expect("summary is JSON"), out)
}

/// Writes `bytes` to a temp file and returns (dir guard, path).
pub fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    (dir, p)
}

/// Per-client (requests, bytes, 5xx) from a summary's `by_client`.
pub fn by_client(
    summary: &serde_json::Value,
) -> std::collections::BTreeMap<String, (u64, u64, u64)> {
    summary["by_client"]
        .as_object()
        .expect("by_client")
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (
                    v["requests"].as_u64().unwrap_or(0),
                    v["bytes"].as_u64().unwrap_or(0),
                    v["s5xx"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

/// The `{"type":"window"}` lines of a `--jsonl` file, in order.
pub fn jsonl_windows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .filter(|v: &serde_json::Value| v["type"] == "window")
        .collect()
}
