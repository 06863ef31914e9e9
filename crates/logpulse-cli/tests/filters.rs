//! `--filter`: only records that pass are aggregated, the rest are counted as `filtered`;
//! figures compared with a count written another way here (splitting the NASA CLF sample's
//! lines by hand, no logpulse code).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;

type PerClient = BTreeMap<String, (u64, u64, u64)>;

/// (host, path, status, bytes) of each line of the CLF sample, read by hand.
fn lines() -> Vec<(String, String, u64, u64)> {
    let text =
        String::from_utf8(gunzip(&repo().join("samples/nasa_jul95_first2000.log.gz"))).unwrap();
    text.lines()
        .map(|line| {
            let host = line.split(' ').next().unwrap().to_string();
            let request = line.split('"').nth(1).unwrap_or("");
            let path = request.split(' ').nth(1).unwrap_or("");
            let path = path.split('?').next().unwrap().to_string();
            let mut rev = line.rsplit(' ');
            let bytes = rev.next().unwrap().parse().unwrap_or(0);
            let status = rev.next().unwrap().parse().unwrap();
            (host, path, status, bytes)
        })
        .collect()
}

fn expected(keep: impl Fn(&str, u64) -> bool) -> (PerClient, u64) {
    let mut m = PerClient::new();
    let mut left_out = 0;
    for (host, path, status, bytes) in lines() {
        if !keep(&path, status) {
            left_out += 1;
            continue;
        }
        let e = m.entry(host).or_default();
        e.0 += 1;
        e.1 += bytes;
        e.2 += (500..600).contains(&status) as u64;
    }
    (m, left_out)
}

fn sample() -> String {
    repo()
        .join("samples/nasa_jul95_first2000.log.gz")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_status_filter_keeps_only_matching_records() {
    let (s, _) = run_summary(&[&sample(), "--filter", "status>=300"], None);
    let (want, left_out) = expected(|_, status| status >= 300);
    assert!(
        left_out > 0 && !want.is_empty(),
        "the sample has both kinds"
    );
    assert_eq!(by_client(&s), want);
    assert_eq!(s["filtered"].as_u64(), Some(left_out));
    assert_eq!(
        s["parsed"].as_u64(),
        Some(2000),
        "filtered records are parsed"
    );
    assert_eq!(s["lines"].as_u64(), Some(2000));
}

#[test]
fn filters_on_the_request_path_combine_with_and() {
    // The key is the client, so only the filter reads the path: the parser must split it.
    let (s, _) = run_summary(
        &[
            &sample(),
            "--filter",
            "path^=/images/",
            "--filter",
            "status=200",
        ],
        None,
    );
    let (want, left_out) = expected(|path, status| path.starts_with("/images/") && status == 200);
    assert!(!want.is_empty() && left_out > 0);
    assert_eq!(by_client(&s), want);
    assert_eq!(s["filtered"].as_u64(), Some(left_out));
}

#[test]
fn no_filter_counts_nothing_as_filtered() {
    let (s, _) = run_summary(&[&sample()], None);
    assert_eq!(s["filtered"].as_u64(), Some(0));
    assert_eq!(by_client(&s), expected(|_, _| true).0);
}

#[test]
fn a_bad_filter_is_a_clear_error() {
    for (expr, says) in [
        ("colour=red", "unknown field"),
        ("path>3", "compares text"),
        ("status~5", "is a number"),
        ("status 500", "expected FIELD OP VALUE"),
    ] {
        let out = Command::new(bin())
            .args([
                "run",
                &sample(),
                "-q",
                "--progress",
                "never",
                "--filter",
                expr,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{expr} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{expr}: {err}");
    }
}
