//! Sessions per client on a real log (the NASA TSV sample: 9,999 requests, epoch-second
//! times), against sessions computed here another way: every client's active minutes sorted,
//! split where more than the gap lies between one minute's end and the next one's start.

mod common;

use std::collections::BTreeMap;

use common::*;

/// Sessions the slow way: (requests, span in seconds) of each session, and each client's
/// session count.
fn expected(text: &str, window: i64, gap: i64) -> (Vec<(u64, i64)>, BTreeMap<&str, u64>) {
    let mut by_client: BTreeMap<&str, BTreeMap<i64, u64>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let t: i64 = cols[2].parse().unwrap();
        *by_client
            .entry(cols[0])
            .or_default()
            .entry(t.div_euclid(window) * window)
            .or_default() += 1;
    }
    let mut sessions = Vec::new();
    let mut per_client = BTreeMap::new();
    for (&client, windows) in &by_client {
        let before = sessions.len();
        let mut current: Option<(i64, i64, u64)> = None; // first, last, requests
        for (&w, &n) in windows {
            current = match current {
                Some((first, last, req)) if w - (last + window) <= gap => Some((first, w, req + n)),
                Some((first, last, req)) => {
                    sessions.push((req, last + window - first));
                    Some((w, w, n))
                }
                None => Some((w, w, n)),
            };
        }
        if let Some((first, last, req)) = current {
            sessions.push((req, last + window - first));
        }
        per_client.insert(client, (sessions.len() - before) as u64);
    }
    (sessions, per_client)
}

fn check(gap_flag: &str, gap: i64, window_flag: &str, window: i64) {
    let path = repo().join("samples/nasa_19950701_first10000.tsv.gz");
    let text = String::from_utf8(gunzip(&path)).unwrap();
    let (want, want_per_client) = expected(&text, window, gap);
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("windows.jsonl");
    let (s, _) = run_summary(
        &[
            path.to_str().unwrap(),
            "--session-gap",
            gap_flag,
            "--window",
            window_flag,
            "--jsonl",
            jsonl.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        s["late"], 0,
        "no late records, so every request is in a session"
    );
    let got = &s["sessions"];
    let n = want.len() as u64;
    let requests: u64 = want.iter().map(|w| w.0).sum();
    let span: i64 = want.iter().map(|w| w.1).sum();
    assert_eq!(got["gap_s"], gap);
    assert_eq!(got["started"].as_u64(), Some(n), "{got}");
    assert_eq!(got["ended"].as_u64(), Some(n));
    assert_eq!(Some(requests), s["parsed"].as_u64());
    let close = |a: &serde_json::Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-9;
    assert!(
        close(&got["mean_requests"], requests as f64 / n as f64),
        "{got}"
    );
    assert!(close(&got["mean_span_s"], span as f64 / n as f64), "{got}");
    let by_client = s["by_client"].as_object().unwrap();
    let clients = by_client.len() as f64;
    assert_eq!(by_client.len(), want_per_client.len());
    for (client, n) in &want_per_client {
        assert_eq!(
            by_client[*client]["sessions"].as_u64(),
            Some(*n),
            "{client}"
        );
    }
    assert!(
        want_per_client.values().any(|&n| n > 1),
        "some client comes back after the gap"
    );
    assert!(close(&got["per_client"], n as f64 / clients), "{got}");
    assert_eq!(
        got["longest_span_s"].as_i64(),
        want.iter().map(|w| w.1).max()
    );
    assert_eq!(
        got["most_requests"].as_u64(),
        want.iter().map(|w| w.0).max()
    );

    // The windows' counts add up to the run's: started in full; ended, less those still open
    // at the end of input (the last window's `active`).
    let windows = jsonl_windows(&jsonl);
    let sum = |f: &str| -> u64 {
        windows
            .iter()
            .map(|w| w["sessions"][f].as_u64().unwrap())
            .sum()
    };
    let open_at_end = windows.last().unwrap()["sessions"]["active"]
        .as_u64()
        .unwrap();
    assert_eq!(sum("started"), n);
    assert_eq!(sum("ended") + open_at_end, n);
    assert!(sum("ended") > 0, "some sessions end within the sample");
}

#[test]
fn sessions_equal_sorting_each_clients_minutes() {
    check("30m", 1800, "1m", 60);
    check("5m", 300, "1m", 60);
    // Windows longer than the gap: only whole idle hours split sessions.
    check("10m", 600, "1h", 3600);
}

#[test]
fn session_gap_flag_errors_are_clear() {
    let path = repo().join("samples/nasa_jul95_first2000.log.gz");
    for (args, says) in [
        (
            vec!["--key", "path", "--session-gap", "10m"],
            "needs --key client",
        ),
        (
            vec!["--window", "batch", "--session-gap", "10m"],
            "event-time windows",
        ),
        (vec!["--session-gap", "0s"], "at least 1s"),
    ] {
        let out = std::process::Command::new(bin())
            .arg("run")
            .arg(&path)
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
    // `off`, and keys other than the client, track none.
    let (s, _) = run_summary(&[path.to_str().unwrap(), "--session-gap", "off"], None);
    assert!(s.get("sessions").is_none());
    let (s, _) = run_summary(&[path.to_str().unwrap(), "--key", "path"], None);
    assert!(s.get("sessions").is_none());
}
