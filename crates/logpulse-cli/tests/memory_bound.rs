//! Memory stays bounded whatever the input size: 2 GB generated on the fly into stdin.

mod common;

use std::process::{Command, Stdio};

use common::*;

#[test]
fn two_gigabytes_through_stdin_stay_under_the_memory_bound() {
    // ~82 bytes per TSV line: 25M lines is just over 2 GB.
    let lines: u64 = 25_000_000;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let mut gen = Command::new(bin())
        .args(["gen", "--format", "tsv", "--lines", &lines.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let gen_out = gen.stdout.take().unwrap();
    let run = Command::new(bin())
        .args([
            "run",
            "-",
            "--format",
            "nasa_tsv",
            "-q",
            "--progress",
            "never",
            "--summary",
        ])
        .arg(&summary)
        .stdin(Stdio::from(gen_out))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(gen.wait().unwrap().success());
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["parsed"].as_u64(), Some(lines));
    assert_eq!(s["directives"].as_u64(), Some(1));
    let input = s["input_bytes"].as_u64().unwrap();
    assert!(input > 2_000_000_000, "input was {input} bytes");
    let rss = s["peak_rss_bytes"]
        .as_u64()
        .expect("peak RSS known on Linux");
    assert!(rss < 1 << 30, "peak RSS {} MiB over 1 GiB", rss >> 20);
}
