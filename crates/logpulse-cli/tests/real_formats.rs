//! The nine real access logs of ../shared/data: the auto-detected format, the exact line
//! accounting (parsed + rejected + directives = lines), and per-client requests / bytes / 5xx
//! equal to an independent computation written here with regexes, splits and serde_json.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use regex::Regex;

type PerClient = BTreeMap<String, (u64, u64, u64)>;

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("LOGPULSE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/data"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: shared data not found at {} (set LOGPULSE_DATA_DIR)",
            dir.display()
        );
        None
    }
}

fn add(m: &mut PerClient, client: &str, status: u64, bytes: u64) {
    let e = m.entry(client.to_string()).or_default();
    e.0 += 1;
    e.1 += bytes;
    e.2 += (500..600).contains(&status) as u64;
}

fn num(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// NCSA common / combined / nginx: a regex over the line start.
fn ncsa(text: &str) -> PerClient {
    let re = Regex::new(r#"^(\S+) \S+ \S+ \[[^\]]+\] "(?:[^"\\]|\\.)*" (\d{3}) (\d+|-)"#).unwrap();
    let mut m = PerClient::new();
    for line in text.lines() {
        let c = re
            .captures(line)
            .unwrap_or_else(|| panic!("independent regex failed on {line}"));
        add(&mut m, &c[1], num(&c[2]), num(&c[3]));
    }
    m
}

fn tsv(text: &str) -> PerClient {
    let mut m = PerClient::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        add(&mut m, c[0], num(c[5]), num(c[6]));
    }
    m
}

fn haproxy(text: &str) -> PerClient {
    let re =
        Regex::new(r"haproxy\[\d+\]: ([0-9a-fA-F.:]+):\d+ \[[^\]]+\] \S+ \S+ \S+ (\d{3}) (\d+) ")
            .unwrap();
    let mut m = PerClient::new();
    for line in text.lines() {
        let c = re
            .captures(line)
            .unwrap_or_else(|| panic!("independent regex failed on {line}"));
        add(&mut m, &c[1], num(&c[2]), num(&c[3]));
    }
    m
}

fn iis(text: &str) -> PerClient {
    let mut m = PerClient::new();
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#Fields: ") {
            names = f.split(' ').map(String::from).collect();
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let col = |n: &str| names.iter().position(|x| x == n);
        let v: Vec<&str> = line.split(' ').collect();
        let bytes = col("sc-bytes").map_or(0, |i| num(v[i]));
        add(
            &mut m,
            v[col("c-ip").unwrap()],
            num(v[col("sc-status").unwrap()]),
            bytes,
        );
    }
    m
}

fn elb(text: &str) -> PerClient {
    let mut m = PerClient::new();
    for line in text.lines() {
        let v: Vec<&str> = line.split(' ').collect();
        let client = v[2].rsplit_once(':').unwrap().0;
        add(&mut m, client, num(v[7]), num(v[10]));
    }
    m
}

fn caddy_console(text: &str) -> PerClient {
    let mut m = PerClient::new();
    for line in text.lines() {
        let json = line.splitn(5, '\t').nth(4).unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let client = v["request"]["client_ip"]
            .as_str()
            .or(v["request"]["remote_ip"].as_str())
            .unwrap();
        add(
            &mut m,
            client,
            v["status"].as_u64().unwrap(),
            v["size"].as_u64().unwrap(),
        );
    }
    m
}

struct Case {
    file: &'static str,
    format: &'static str,
    lines: u64,
    parsed: u64,
    directives: u64,
    expected: fn(&str) -> PerClient,
}

#[test]
fn nine_real_files_are_detected_accounted_and_counted_exactly() {
    let Some(dir) = data_dir() else { return };
    let cases = [
        Case {
            file: "nasa_jul95_first2000.log.gz",
            format: "common",
            lines: 2000,
            parsed: 2000,
            directives: 0,
            expected: ncsa,
        },
        Case {
            file: "nasa_jul95_random_sample.log.gz",
            format: "common",
            lines: 558,
            parsed: 558,
            directives: 0,
            expected: ncsa,
        },
        Case {
            file: "nasa_19950701_first10000.tsv.gz",
            format: "nasa_tsv",
            lines: 10000,
            parsed: 9999,
            directives: 1,
            expected: tsv,
        },
        Case {
            file: "apache_combined_semicomplete_2015.log.gz",
            format: "combined",
            lines: 10000,
            parsed: 10000,
            directives: 0,
            expected: ncsa,
        },
        Case {
            file: "nginx_combined_elb_2021.log.gz",
            format: "combined",
            lines: 9245,
            parsed: 9245,
            directives: 0,
            expected: ncsa,
        },
        Case {
            file: "haproxy_http_2012.log.gz",
            format: "haproxy_http",
            lines: 17211,
            parsed: 17211,
            directives: 0,
            expected: haproxy,
        },
        Case {
            file: "iis_w3c_webknowit_2015-2016.log.gz",
            format: "iis_w3c",
            lines: 31070,
            parsed: 14318,
            directives: 16752,
            expected: iis,
        },
        Case {
            file: "aws_elb_classic_2015.log.gz",
            format: "elb_classic",
            lines: 4999,
            parsed: 4999,
            directives: 0,
            expected: elb,
        },
        Case {
            file: "caddy_console_dev_2024.log.gz",
            format: "caddy_console",
            lines: 433,
            parsed: 433,
            directives: 0,
            expected: caddy_console,
        },
    ];
    for c in cases {
        let path = dir.join(c.file);
        let (s, out) = run_summary(&[path.to_str().unwrap(), "--batch-lines", "3000"], None);
        let note = String::from_utf8_lossy(&out.stderr);
        assert_eq!(s["format"], c.format, "{}: {note}", c.file);
        assert!(
            note.contains(&format!("parse as {}", c.format)),
            "{}: detection explains itself: {note}",
            c.file
        );
        let rejected = s["rejected"]["total"].as_u64().unwrap();
        assert_eq!(s["lines"].as_u64(), Some(c.lines), "{}", c.file);
        assert_eq!(
            s["parsed"].as_u64(),
            Some(c.parsed),
            "{}: {}",
            c.file,
            s["rejected"]
        );
        assert_eq!(s["directives"].as_u64(), Some(c.directives), "{}", c.file);
        assert_eq!(
            c.parsed + rejected + c.directives,
            c.lines,
            "{}: every line accounted",
            c.file
        );
        let text = String::from_utf8(gunzip(&path))
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let expected = (c.expected)(&text);
        let got = by_client(&s);
        assert_eq!(got.len(), expected.len(), "{}: distinct clients", c.file);
        assert_eq!(got, expected, "{}: per-client requests, bytes, 5xx", c.file);
    }
}

#[test]
fn format_strings_parse_the_real_files_like_the_presets() {
    let Some(dir) = data_dir() else { return };
    let apache = dir.join("apache_combined_semicomplete_2015.log.gz");
    let (preset, _) = run_summary(&[apache.to_str().unwrap(), "--format", "combined"], None);
    let (lf, _) = run_summary(
        &[
            apache.to_str().unwrap(),
            "--log-format",
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#,
        ],
        None,
    );
    assert_eq!(by_client(&lf), by_client(&preset));
    let nginx = dir.join("nginx_combined_elb_2021.log.gz");
    let (preset, _) = run_summary(&[nginx.to_str().unwrap(), "--format", "combined"], None);
    let (ng, _) = run_summary(
        &[
            nginx.to_str().unwrap(),
            "--nginx-format",
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
        ],
        None,
    );
    assert_eq!(ng["parsed"], 9245);
    assert_eq!(by_client(&ng), by_client(&preset));
}

#[test]
fn latency_percentiles_come_from_the_logs_own_timers() {
    let Some(dir) = data_dir() else { return };
    let path = dir.join("haproxy_http_2012.log.gz");
    let text = String::from_utf8(gunzip(&path)).unwrap();
    // Independent: HAProxy's Tt is the fifth of the slash-separated timers, -1 when unknown.
    let re = Regex::new(r"\] \S+ \S+ -?\d+/-?\d+/-?\d+/-?\d+/\+?(-?\d+) ").unwrap();
    let mut tts: Vec<i64> = text
        .lines()
        .map(|l| re.captures(l).unwrap()[1].parse().unwrap())
        .collect();
    tts.retain(|&t| t >= 0);
    let (dir_out, _) = temp_file("x", b"");
    let jsonl = dir_out.path().join("w.jsonl");
    run_summary(
        &[
            path.to_str().unwrap(),
            "--window",
            "1h",
            "--lateness",
            "1000d",
            "--jsonl",
            jsonl.to_str().unwrap(),
        ],
        None,
    );
    let windows: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "window")
        .collect();
    let counted: u64 = windows
        .iter()
        .map(|w| w["latency_us"]["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, tts.len() as u64);
    // The whole file's median Tt, against the busiest window's p50 bounds: same order of size.
    let busiest = windows
        .iter()
        .max_by_key(|w| w["totals"]["requests"].as_u64())
        .unwrap();
    let (p50, p99) = (
        busiest["latency_us"]["p50"].as_u64().unwrap(),
        busiest["latency_us"]["p99"].as_u64().unwrap(),
    );
    assert!(p50 <= p99, "{p50} <= {p99}");
    let max_tt_us = *tts.iter().max().unwrap() as u64 * 1000;
    assert!(
        p99 <= max_tt_us,
        "p99 {p99} within the largest Tt {max_tt_us}"
    );
}
