//! The July 1995 NASA CLF sample and the TSV sample hold the same first 2,000 requests: both
//! paths must give the same per-client figures, and those must equal a computation written
//! another way here (split on whitespace / tabs, no logpulse code).

mod common;

use std::collections::BTreeMap;

use common::*;

type PerClient = BTreeMap<String, (u64, u64, u64)>;

/// Independent CLF reading: host is the first token; status and bytes are the last two.
fn clf_expected(text: &str) -> PerClient {
    let mut m = PerClient::new();
    for line in text.lines() {
        let host = line.split(' ').next().unwrap();
        let mut rev = line.rsplit(' ');
        let bytes = rev.next().unwrap();
        let status: u64 = rev.next().unwrap().parse().unwrap();
        let e = m.entry(host.to_string()).or_default();
        e.0 += 1;
        e.1 += bytes.parse::<u64>().unwrap_or(0);
        e.2 += (500..600).contains(&status) as u64;
    }
    m
}

/// Independent TSV reading: columns host, logname, time, method, url, response, bytes.
fn tsv_expected(text: &str) -> PerClient {
    let mut m = PerClient::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let status: u64 = cols[5].parse().unwrap();
        let e = m.entry(cols[0].to_string()).or_default();
        e.0 += 1;
        e.1 += cols[6].parse::<u64>().unwrap();
        e.2 += (500..600).contains(&status) as u64;
    }
    m
}

/// The TSV sample's header and first 2,000 rows: the same requests as the CLF sample.
fn tsv_first_2000() -> String {
    let full = String::from_utf8(gunzip(
        &repo().join("samples/nasa_19950701_first10000.tsv.gz"),
    ))
    .unwrap();
    full.lines().take(2001).map(|l| format!("{l}\n")).collect()
}

#[test]
fn clf_and_tsv_samples_agree_with_each_other_and_with_an_independent_count() {
    let clf_path = repo().join("samples/nasa_jul95_first2000.log.gz");
    let clf_text = String::from_utf8(gunzip(&clf_path)).unwrap();
    let tsv_text = tsv_first_2000();
    let (_d, tsv_path) = temp_file("nasa2000.tsv", tsv_text.as_bytes());

    let (clf, out) = run_summary(&[clf_path.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("parse as common"),
        "auto-detection says what it picked: {stderr}"
    );
    let (tsv, _) = run_summary(&[tsv_path.to_str().unwrap()], None);

    assert_eq!(clf["format"], "common");
    assert_eq!(tsv["format"], "nasa_tsv");
    assert_eq!(
        (clf["lines"].as_u64(), clf["parsed"].as_u64()),
        (Some(2000), Some(2000))
    );
    assert_eq!(clf["rejected"]["total"], 0);
    assert_eq!(
        (
            tsv["lines"].as_u64(),
            tsv["parsed"].as_u64(),
            tsv["directives"].as_u64()
        ),
        (Some(2001), Some(2000), Some(1))
    );

    let expected = clf_expected(&clf_text);
    assert_eq!(expected.len(), by_client(&clf).len());
    assert_eq!(by_client(&clf), expected, "CLF vs independent count");
    assert_eq!(
        tsv_expected(&tsv_text),
        expected,
        "the two samples hold the same requests"
    );
    assert_eq!(by_client(&tsv), expected, "TSV vs independent count");
    // Same windows too: the TSV's epoch seconds are the CLF's -0400 times.
    assert_eq!(clf["windows"], tsv["windows"]);
}

#[test]
fn window_results_agree_between_formats() {
    let dir = tempfile::tempdir().unwrap();
    let clf_path = repo().join("samples/nasa_jul95_first2000.log.gz");
    let tsv_text = tsv_first_2000();
    let tsv_path = dir.path().join("t.tsv");
    std::fs::write(&tsv_path, tsv_text).unwrap();
    let mut windows = Vec::new();
    for input in [clf_path, tsv_path] {
        let jsonl = dir.path().join("w.jsonl");
        run_summary(
            &[
                input.to_str().unwrap(),
                "--window",
                "5m",
                "--jsonl",
                jsonl.to_str().unwrap(),
            ],
            None,
        );
        let text = std::fs::read_to_string(&jsonl).unwrap();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["type"] == "window")
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("key");
                v
            })
            .collect();
        windows.push(rows);
    }
    assert!(windows[0].len() >= 7, "2,000 NASA lines span 34 minutes");
    assert_eq!(windows[0], windows[1]);
    assert_eq!(windows[0][0]["start"], "1995-07-01T04:00:00Z");
}
