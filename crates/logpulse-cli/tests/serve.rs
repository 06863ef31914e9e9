//! `run --serve`: the Prometheus endpoint and the dashboard's JSON, from a real server over
//! real HTTP, against expectations computed another way (the input itself, the rejects file
//! and the JSON Lines windows of the same run).

mod common;

use std::collections::BTreeMap;

use common::serving::{metric, Serving};
use common::*;

/// The shipped sample with bad lines mixed in: (input, lines, 4xx, 5xx among the good lines).
fn input_with_bad_lines() -> (Vec<u8>, u64, u64, u64) {
    let sample = gunzip(&repo().join("samples/nasa_jul95_first2000.log.gz"));
    let bad: [&[u8]; 5] = [
        b"not a log line at all\n",
        b"\x00\x01\x02\x03 junk\n",
        b"1.2.3.4 - - [01/Jul/1995:00:00:09 -0400] \"GET / HTTP/1.0\" abc 100\n",
        b"1.2.3.4 - - [01/Jul/1995:00:00:09 -0400] \"GET / HTTP/1.0\" 200\n",
        b"1.2.3.4 - - [99/Jul/1995:00:00:09 -0400] \"GET / HTTP/1.0\" 200 5\n",
    ];
    let (mut out, mut lines, mut s4, mut s5) = (Vec::new(), 0, 0, 0);
    for (i, line) in sample.split_inclusive(|&b| b == b'\n').enumerate() {
        // The status is the next-to-last field of these CLF lines.
        let text = String::from_utf8_lossy(line);
        let status = text.split_whitespace().rev().nth(1).unwrap_or_default();
        s4 += u64::from(status.starts_with('4'));
        s5 += u64::from(status.starts_with('5'));
        out.extend_from_slice(line);
        lines += 1;
        if i % 400 == 7 {
            let b = bad[(i / 400) % bad.len()];
            out.extend_from_slice(b);
            lines += 1;
        }
    }
    (out, lines, s4, s5)
}

#[test]
fn metrics_and_snapshot_count_every_line() {
    let (input, lines, s4, s5) = input_with_bad_lines();
    let (dir, log) = temp_file("access.log", &input);
    let rejects = dir.path().join("rejects.tsv");
    let jsonl = dir.path().join("windows.jsonl");
    let server = Serving::start(&[
        log.to_str().unwrap(),
        "--format",
        "common",
        "--rejects",
        rejects.to_str().unwrap(),
        "--jsonl",
        jsonl.to_str().unwrap(),
    ]);
    let snap = server.wait_done();
    let (code, ctype, m) = server.get("/metrics");
    assert_eq!(code, 200);
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(m.trim_end().ends_with("# EOF"), "{m}");
    let get = |name: &str| metric(&m, name).unwrap_or_else(|| panic!("no {name} in\n{m}"));

    // Every line is counted: records + rejected = the input's lines.
    assert_eq!(get("logpulse_lines_total"), lines as f64);
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for row in std::fs::read_to_string(&rejects).unwrap().lines() {
        let reason = row.split('\t').nth(3).expect("reason column");
        *by_reason.entry(reason.to_string()).or_default() += 1;
    }
    assert!(by_reason.len() >= 3, "{by_reason:?}");
    let mut rejected = 0;
    for (reason, n) in &by_reason {
        let name = format!("logpulse_rejected_lines_total{{reason=\"{reason}\"}}");
        assert_eq!(get(&name), *n as f64, "{name}");
        rejected += n;
    }
    assert_eq!(
        get("logpulse_records_total") + rejected as f64,
        lines as f64
    );

    // Request counters equal the JSON Lines windows of the same run, and the input's statuses.
    let windows = jsonl_windows(&jsonl);
    let sum = |f: &str| {
        windows
            .iter()
            .map(|w| w["totals"][f].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(get("logpulse_windows_closed_total"), windows.len() as f64);
    assert_eq!(get("logpulse_requests_total"), sum("requests") as f64);
    assert_eq!(
        get("logpulse_requests_total"),
        get("logpulse_records_total")
    );
    assert_eq!(get("logpulse_sent_bytes_total"), sum("bytes") as f64);
    assert_eq!(get("logpulse_responses_total{class=\"4xx\"}"), s4 as f64);
    assert_eq!(get("logpulse_responses_total{class=\"5xx\"}"), s5 as f64);

    // The newest closed window: its gauges and busiest keys.
    let last = windows.last().expect("a window");
    assert_eq!(
        get("logpulse_last_window_requests"),
        last["totals"]["requests"].as_f64().unwrap()
    );
    assert_eq!(
        get("logpulse_last_window_distinct_keys"),
        last["distinct_keys"].as_f64().unwrap()
    );
    let groups = last["groups"].as_array().unwrap();
    let mut shown = 0;
    for g in groups {
        let name = format!(
            "logpulse_last_window_top_requests{{key=\"{}\"}}",
            g["key"].as_str().unwrap()
        );
        if let Some(v) = metric(&m, &name) {
            assert_eq!(v, g["requests"].as_f64().unwrap(), "{name}");
            shown += 1;
        }
    }
    assert_eq!(shown, groups.len().min(logpulse_web::TOP_KEYS));
    let busiest = format!(
        "logpulse_last_window_top_requests{{key=\"{}\"}}",
        groups[0]["key"].as_str().unwrap()
    );
    assert!(metric(&m, &busiest).is_some(), "{busiest} missing");

    // Sessions: begun in the windows, all ended by the end of input, none open after it.
    let sessions: u64 = windows
        .iter()
        .map(|w| w["sessions"]["started"].as_u64().unwrap())
        .sum();
    assert!(sessions > 0);
    assert_eq!(get("logpulse_sessions_started_total"), sessions as f64);
    assert_eq!(get("logpulse_sessions_ended_total"), sessions as f64);
    assert_eq!(
        get("logpulse_sessions_active"),
        last["sessions"]["active"].as_f64().unwrap()
    );
    assert_eq!(snap["totals"]["sessions"]["started"], sessions);

    // The dashboard's JSON says the same.
    assert_eq!(snap["totals"]["lines"], lines);
    assert_eq!(snap["totals"]["rejected"], rejected);
    assert_eq!(snap["format"], "common");
    assert_eq!(snap["key"], "client");
    let kept = snap["windows"].as_array().unwrap();
    assert_eq!(kept.len(), windows.len().min(120));
    assert_eq!(kept.last().unwrap()["start"], last["start"]);

    assert_eq!(server.get("/healthz").2, "ok");
    let (code, ctype, page) = server.get("/");
    assert_eq!(code, 200);
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(page.contains("EventSource(\"/events\")"));
    assert_eq!(server.get("/no-such-page").0, 404);
}

#[test]
fn events_stream_sends_totals() {
    let sample = repo().join("samples/nasa_jul95_first2000.log.gz");
    let server = Serving::start(&[sample.to_str().unwrap()]);
    server.wait_done();
    // The stream never ends: read its first event off a raw connection.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        s,
        "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while !got.contains("\n\n") || !got.contains("event: totals") {
        let n = s.read(&mut buf).expect("an event in time");
        assert!(n > 0, "stream closed: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.contains("text/event-stream"), "{got}");
    let data = got
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data line");
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["done"], true);
    assert_eq!(v["totals"]["lines"], 2000);
}

#[test]
fn a_bad_or_taken_address_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let sample = repo().join("samples/nasa_jul95_first2000.log.gz");
    for bad in [addr.as_str(), "not-an-address", "127.0.0.1:99999"] {
        let out = std::process::Command::new(bin())
            .args(["run", sample.to_str().unwrap(), "--serve", bad, "-q"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad}: {err}");
        assert!(err.contains("--serve") && err.contains(bad), "{bad}: {err}");
    }
}

/// A format that logs latency: the newest window's quantiles as gauges, equal to its JSON
/// Lines record.
#[test]
fn latency_quantiles_of_the_newest_window() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("caddy.log");
    let jsonl = dir.path().join("windows.jsonl");
    let gen = std::process::Command::new(bin())
        .args(["gen", "--lines", "20000", "--format", "caddy-json", "-o"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(gen.status.success(), "{gen:?}");
    let server = Serving::start(&[log.to_str().unwrap(), "--jsonl", jsonl.to_str().unwrap()]);
    server.wait_done();
    let m = server.get("/metrics").2;
    let last: serde_json::Value = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .rev()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "window")
        .expect("a window");
    let lat = &last["latency_us"];
    assert!(lat["count"].as_u64().unwrap() > 0, "{last}");
    for (q, field) in [("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99")] {
        let name = format!("logpulse_last_window_latency_microseconds{{quantile=\"{q}\"}}");
        assert_eq!(metric(&m, &name), lat[field].as_f64(), "{name}");
    }
    // The dashboard's copy of that window carries them too.
    let snap = server.json("/api/snapshot");
    let shown = snap["windows"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(shown["latency_us"], *lat);
}
