//! `--follow` keeps reading appended lines and survives both kinds of rotation: rename + new
//! file (logrotate's default) and truncation in place (copytruncate).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn line(i: usize, status: u16) -> String {
    format!(
        "host{} - - [01/Jul/1995:00:{:02}:{:02} -0400] \"GET /p{i} HTTP/1.0\" {status} 100\n",
        i % 7,
        (i / 60) % 60,
        i % 60
    )
}

fn append(path: &std::path::Path, lines: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in lines {
        f.write_all(line(i, if i % 10 == 0 { 503 } else { 200 }).as_bytes())
            .unwrap();
    }
    f.flush().unwrap();
}

/// Waits until the `--status` file shows `n` lines read.
fn wait_for_lines(status: &std::path::Path, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(status) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if v["lines"].as_u64() >= Some(n) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "logpulse did not read {n} lines in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn follows_appends_rename_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let summary = dir.path().join("summary.json");
    let status = dir.path().join("status.json");
    append(&log, 0..100);
    let child = spawn_follow(dir.path(), &[]);
    wait_for_lines(&status, 100);

    // Appended lines are picked up.
    append(&log, 100..250);
    wait_for_lines(&status, 250);

    // Rotation by rename: the old file gets a last write, then a new file appears.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, 250..260);
    std::thread::sleep(Duration::from_millis(300));
    append(&log, 260..400);
    wait_for_lines(&status, 400);

    // Rotation by truncation (copytruncate): same file, shorter.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    append(&log, 400..450);
    wait_for_lines(&status, 450);

    // Ctrl-C: stop, close windows, write the summary.
    stop_with(child, "-INT");
    assert_counted(&summary, 450);
}

/// Starts `logpulse run --follow` on `dir`/access.log, its summary and status files in `dir`,
/// with `extra` arguments.
fn spawn_follow(dir: &std::path::Path, extra: &[&std::ffi::OsStr]) -> std::process::Child {
    Command::new(bin())
        .args(["run", "--follow", "--format", "common", "--linger", "50ms"])
        .args(["-q", "--progress", "never"])
        .arg(dir.join("access.log"))
        .arg("--summary")
        .arg(dir.join("summary.json"))
        .arg("--status")
        .arg(dir.join("status.json"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends the run `signal` (as `kill` spells it) and waits for it to exit successfully.
fn stop_with(child: std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The summary counts `n` lines of [`append`], each once: all parsed, every tenth a 503.
fn assert_counted(summary: &std::path::Path, n: u64) {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    assert_eq!(
        (s["lines"].as_u64(), s["parsed"].as_u64()),
        (Some(n), Some(n))
    );
    let c = by_client(&s);
    assert_eq!(c.values().map(|v| v.0).sum::<u64>(), n);
    assert_eq!(c.values().map(|v| v.2).sum::<u64>(), n / 10);
}

/// A followed file's run killed (`kill -9`) and started again with the same checkpoint goes
/// on from the checkpointed position: lines read before the crash are not counted again, and
/// SIGTERM (how services are stopped) ends the run with its results written.
#[test]
fn a_killed_follow_resumes_from_its_checkpoint_and_sigterm_writes_results() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let summary = dir.path().join("summary.json");
    let status = dir.path().join("status.json");
    let checkpoint = dir.path().join("run.ckpt");
    let extra = [
        "--checkpoint-interval".as_ref(),
        "0".as_ref(),
        "--checkpoint".as_ref(),
        checkpoint.as_os_str(),
    ];
    let start = || spawn_follow(dir.path(), &extra);
    append(&log, 0..200);
    let mut first = start();
    wait_for_lines(&status, 200);
    // The checkpoint of the last batch is written with (or before) its status.
    std::thread::sleep(Duration::from_millis(300));
    first.kill().unwrap();
    let _ = first.wait();
    assert!(!summary.exists(), "a killed run writes no summary");

    append(&log, 200..300);
    let second = start();
    wait_for_lines(&status, 300);
    stop_with(second, "-TERM");
    assert_counted(&summary, 300);
}
