//! A file truncated by another process while `logpulse run` reads it mapped (logrotate's
//! `copytruncate` under a one-pass run): the run must end with an error that says so, never
//! die of the SIGBUS that reading a mapping past the file's end raises.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn a_file_truncated_while_mapped_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.tsv");
    let st = Command::new(bin())
        .args(["gen", "--lines", "2000000", "-o"])
        .arg(&log)
        .status()
        .expect("logpulse gen");
    assert!(st.success());
    // The JSON Lines output is a FIFO read only once the file is cut: the run blocks on its
    // first window result (back-pressure), with most of the file not yet read.
    let fifo = dir.path().join("windows.fifo");
    let c = std::ffi::CString::new(fifo.to_str().expect("utf-8 path")).expect("path");
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let child = Command::new(bin())
        .env("LOGPULSE_MMAP", "1")
        .arg("run")
        .arg(&log)
        .args([
            "--backend",
            "cpu",
            "--format",
            "nasa_tsv",
            "--batch-lines",
            "20000",
        ])
        .args(["-q", "--progress", "never", "--jsonl"])
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logpulse");
    let mut reader = std::fs::File::open(&fifo).expect("open the FIFO");
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open the log")
        .set_len(1 << 20)
        .expect("truncate");
    let drain = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    let out = child.wait_with_output().expect("wait logpulse");
    drain.join().expect("drain");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), None, "killed by a signal: {stderr}");
    assert!(!out.status.success(), "a truncated input must fail the run");
    assert!(
        stderr.contains("truncated while being read"),
        "the error says why: {stderr}"
    );
}
