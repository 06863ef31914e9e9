//! Every bad-input class gives counted rejects with a reason, the right totals, and the rejected
//! line in the rejects file — never a crash, a hang or unbounded memory.

mod common;

use common::*;

const GOOD: &str =
    "199.72.81.55 - - [01/Jul/1995:00:00:01 -0400] \"GET /history/apollo/ HTTP/1.0\" 200 6245\n";
const GOOD_5XX: &str =
    "unicomp6.unicomp.net - - [01/Jul/1995:00:00:06 -0400] \"GET /cgi-bin/x HTTP/1.0\" 503 -\n";

/// Runs `--format common` over `input` (via a file) and returns the summary and rejects file.
fn run(input: &[u8]) -> (serde_json::Value, String) {
    let (dir, path) = temp_file("in.log", input);
    let rejects = dir.path().join("rejects.tsv");
    let (summary, _) = run_summary(
        &[
            path.to_str().unwrap(),
            "--format",
            "common",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
        None,
    );
    let rej = String::from_utf8_lossy(&std::fs::read(&rejects).unwrap()).into_owned();
    (summary, rej)
}

fn with_bad(bad: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(GOOD.as_bytes());
    v.extend_from_slice(bad);
    v.extend_from_slice(GOOD_5XX.as_bytes());
    v
}

/// Asserts: 3 lines, 2 parsed, 1 rejected for `reason`, good lines counted right.
fn check_one_reject(bad: &[u8], reason: &str) -> String {
    let (s, rej) = run(&with_bad(bad));
    let r = &s["rejected"];
    assert_eq!(s["lines"], 3, "{r}");
    assert_eq!(s["parsed"], 2, "{r}");
    assert_eq!(r["total"], 1, "{r}");
    assert_eq!(r["by_reason"][reason], 1, "{r}");
    let c = by_client(&s);
    assert_eq!(c["199.72.81.55"], (1, 6245, 0));
    assert_eq!(c["unicomp6.unicomp.net"], (1, 0, 1));
    let fields: Vec<&str> = rej
        .lines()
        .next()
        .expect("one reject")
        .splitn(5, '\t')
        .collect();
    assert_eq!(fields[1], "2", "line number");
    assert_eq!(fields[2], GOOD.len().to_string(), "byte offset");
    assert_eq!(fields[3], reason);
    rej
}

#[test]
fn binary_bytes() {
    let rej = check_one_reject(b"\x00\x01\x02\x03\xff\xfe junk\n", "binary_data");
    assert!(rej.contains("junk"));
}

#[test]
fn invalid_utf8_in_the_key() {
    check_one_reject(
        b"bad\xff\xfehost - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1\n",
        "invalid_utf8",
    );
}

#[test]
fn truncated_line() {
    check_one_reject(b"truncated.host - - [01/Jul/1995:00:0\n", "truncated");
    check_one_reject(
        b"h - - [01/Jul/1995:00:0] \"GET / HTTP/1.0\" 200 1\n",
        "bad_time",
    );
    check_one_reject(
        b"truncated.host - - [01/Jul/1995:00:00:01 -0400] \"GET / HTT\n",
        "truncated",
    );
}

#[test]
fn empty_line_and_wrong_fields() {
    check_one_reject(b"\n", "empty_line");
    check_one_reject(
        b"h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 2x0 1\n",
        "bad_status",
    );
    check_one_reject(
        b"h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1x\n",
        "bad_bytes",
    );
}

#[test]
fn one_megabyte_line_is_rejected_without_buffering_it() {
    let mut bad = vec![b'x'; 1 << 20];
    bad.push(b'\n');
    let rej = check_one_reject(&bad, "line_too_long");
    // Only the start of the line is kept.
    assert!(
        rej.len() < 8192,
        "reject keeps a bounded prefix ({} bytes)",
        rej.len()
    );
}

#[test]
fn crlf_line_endings() {
    let input = with_bad(b"")
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect::<Vec<u8>>();
    let (s, _) = run(&input);
    assert_eq!(
        (s["lines"].as_u64(), s["parsed"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(by_client(&s)["199.72.81.55"], (1, 6245, 0));
}

#[test]
fn no_final_newline() {
    let input = format!("{GOOD}{}", GOOD_5XX.trim_end());
    let (s, _) = run(input.as_bytes());
    assert_eq!(
        (s["lines"].as_u64(), s["parsed"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(by_client(&s)["unicomp6.unicomp.net"], (1, 0, 1));
}

#[test]
fn empty_file() {
    let (s, _) = run(b"");
    assert_eq!(
        (
            s["lines"].as_u64(),
            s["parsed"].as_u64(),
            s["rejected"]["total"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    // Auto-detection on an empty input is not an error either.
    let (_d, p) = temp_file("empty.log", b"");
    let (s, _) = run_summary(&[p.to_str().unwrap()], None);
    assert_eq!(s["lines"], 0);
}

#[test]
fn wrong_format_is_counted_when_forced_and_a_clear_error_when_detected() {
    let tsv =
        "host\tlogname\ttime\tmethod\turl\tresponse\tbytes\nh\t-\t804571201\tGET\t/\t200\t1\t\t\n";
    let (s, _) = run(tsv.as_bytes());
    assert_eq!(s["lines"], 2);
    assert_eq!(s["parsed"], 0);
    assert_eq!(s["rejected"]["total"], 2);
    let (_d, p) = temp_file("junk.log", b"this is not a log\nnor is this\n");
    let out = std::process::Command::new(bin())
        .args(["run", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not detect the log format"), "{err}");
}

#[test]
fn generated_input_with_injected_bad_lines_accounts_for_every_line() {
    let out = std::process::Command::new(bin())
        .args([
            "gen",
            "--lines",
            "60000",
            "--format",
            "clf",
            "--bad-every",
            "100",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (s, _) = run_summary(
        &["-", "--format", "common", "--batch-lines", "7000"],
        Some(&out.stdout),
    );
    assert_eq!(s["lines"], 60000);
    assert_eq!(s["rejected"]["total"], 600);
    assert_eq!(s["parsed"], 59400);
    // The six classes rotate: 100 of each.
    for reason in [
        "binary_data",
        "invalid_utf8",
        "truncated",
        "empty_line",
        "format_mismatch",
        "bad_status",
    ] {
        assert_eq!(
            s["rejected"]["by_reason"][reason], 100,
            "{reason}: {}",
            s["rejected"]
        );
    }
    let requests: u64 = by_client(&s).values().map(|v| v.0).sum();
    assert_eq!(requests, 59400);
}

#[test]
fn a_truncated_gzip_file_is_one_clear_error() {
    let gz = std::fs::read(repo().join("samples/nasa_jul95_first2000.log.gz")).unwrap();
    let (_d, p) = temp_file("cut.log.gz", &gz[..gz.len() / 2]);
    let out = std::process::Command::new(bin())
        .args(["run", p.to_str().unwrap(), "--format", "common", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.log.gz"), "{err}");
    // The cause once, not once per error type that carries it.
    assert_eq!(err.matches("deflate stream").count(), 1, "{err}");
}

#[test]
fn rejects_not_kept_are_said_to_be_so() {
    let (dir, path) = temp_file("in.log", &with_bad(b"\x00\x01binary\n"));
    let p = path.to_str().unwrap();
    let (_, out) = run_summary(&[p, "--format", "common"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 rejected lines were counted but not kept; --rejects FILE"),
        "{err}"
    );
    let rejects = dir.path().join("r.tsv");
    let (_, out) = run_summary(
        &[
            p,
            "--format",
            "common",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("not kept"), "{err}");
}
