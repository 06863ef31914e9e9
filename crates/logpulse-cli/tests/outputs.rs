//! The outputs: per-batch (notebook) mode with its three files, JSON Lines windows and alerts.

mod common;

use common::*;

/// 300 requests from one host in one batch (> 200: a traffic alert), 3 x 503 from another.
fn input() -> String {
    let mut s = String::new();
    for i in 0..300 {
        s.push_str(&format!(
            "busy.example - - [01/Jul/1995:00:00:{:02} -0400] \"GET /big HTTP/1.0\" 200 500000\n",
            i % 60
        ));
    }
    for _ in 0..3 {
        s.push_str("sad.example - - [01/Jul/1995:00:00:30 -0400] \"GET /x HTTP/1.0\" 503 -\n");
    }
    s
}

#[test]
fn per_batch_mode_writes_the_notebooks_three_files() {
    let (dir, path) = temp_file("in.log", input().as_bytes());
    let nb = dir.path().join("nb");
    let (s, _) = run_summary(
        &[
            path.to_str().unwrap(),
            "--window",
            "batch",
            "--notebook-dir",
            nb.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(s["windows"], 1);
    // traffic (300 > 200), MB (150 MB > 120) and one error alert.
    assert_eq!(s["alerts"], 3);
    let traffic = std::fs::read_to_string(nb.join("traffic.csv")).unwrap();
    let lines: Vec<&str> = traffic.lines().collect();
    assert!(
        lines[0].starts_with("# window batch 0; written "),
        "{}",
        lines[0]
    );
    assert_eq!(&lines[1..], ["client,requests", "busy.example,300"]);
    let mb = std::fs::read_to_string(nb.join("mb_sent.csv")).unwrap();
    assert_eq!(mb.lines().nth(2), Some("busy.example,150.000000"));
    let errors = std::fs::read_to_string(nb.join("errors.csv")).unwrap();
    assert_eq!(
        &errors.lines().skip(1).collect::<Vec<_>>(),
        &["client,status,count", "sad.example,503,3"]
    );
}

#[test]
fn json_lines_windows_follow_the_documented_schema() {
    let (dir, path) = temp_file("in.log", input().as_bytes());
    let out = dir.path().join("w.jsonl");
    run_summary(
        &[
            path.to_str().unwrap(),
            "--jsonl",
            out.to_str().unwrap(),
            "--threshold-mb",
            "1000",
        ],
        None,
    );
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let w = &rows[0];
    assert_eq!(w["type"], "window");
    assert_eq!(w["mode"], "event_time");
    assert_eq!(w["start"], "1995-07-01T04:00:00Z");
    assert_eq!(w["end"], "1995-07-01T04:01:00Z");
    assert_eq!(w["totals"]["requests"], 303);
    assert_eq!(w["totals"]["s5xx"], 3);
    assert_eq!(w["groups"][0]["key"], "busy.example");
    assert_eq!(w["groups"][0]["mb_sent"], 150.0);
    assert_eq!(w["groups"][1]["errors"]["503"], 3);
    let kinds: Vec<&str> = w["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["traffic", "error"]);
    let last = rows.last().unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["lines"], 303);
}
