//! `logpulse run --config FILE`: a TOML file stands for the flags it names, and the command
//! line's flags win over it.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;

/// The shipped sample (2,000 NASA requests, common format).
fn sample() -> std::path::PathBuf {
    repo().join("samples/nasa_jul95_first2000.log.gz")
}

/// Requests of the sample whose status is at least 400, counted from the raw lines (the
/// status is the second-to-last space-separated field).
fn sample_status_at_least_400() -> u64 {
    let text = String::from_utf8(gunzip(&sample())).expect("sample is text");
    text.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f[f.len() - 2].parse::<u16>().expect("status") >= 400
        })
        .count() as u64
}

fn logpulse_run(args: &[&str]) -> Output {
    Command::new(bin())
        .arg("run")
        .args(args)
        .args(["--progress", "never"])
        .stdin(Stdio::null())
        .output()
        .expect("spawn logpulse")
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "logpulse failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The window objects of a JSON Lines output, and its summary without run-time fields.
fn results(jsonl: &Path) -> (Vec<Value>, Value) {
    let text = std::fs::read_to_string(jsonl).expect("jsonl written");
    let mut windows = Vec::new();
    let mut summary = Value::Null;
    for line in text.lines() {
        let mut v: Value = serde_json::from_str(line).expect("JSON line");
        match v["type"].as_str() {
            Some("window") => windows.push(v),
            Some("summary") => {
                let o = v.as_object_mut().expect("summary object");
                for k in ["elapsed_s", "gb_per_s", "peak_rss_bytes"] {
                    o.remove(k);
                }
                summary = v;
            }
            _ => {}
        }
    }
    (windows, summary)
}

fn window_seconds(w: &Value) -> i64 {
    let t = |k: &str| w[k].as_str().expect("RFC 3339 bound").to_string();
    let secs = |s: String| {
        // 1995-07-01T04:05:00Z: minutes and hours are enough within one day.
        let h: i64 = s[11..13].parse().expect("hour");
        let m: i64 = s[14..16].parse().expect("minute");
        h * 3600 + m * 60
    };
    secs(t("end")) - secs(t("start"))
}

#[test]
fn a_config_file_gives_the_same_run_as_its_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let sample = sample();
    let flags_out = d.join("flags.jsonl");
    ok(logpulse_run(&[
        sample.to_str().unwrap(),
        "--window",
        "5m",
        "--filter",
        "status<400",
        "--filter",
        "bytes>=0",
        "--top",
        "5",
        "--threshold-requests",
        "20",
        "--jsonl",
        flags_out.to_str().unwrap(),
        "-q",
    ]));
    let config = d.join("job.toml");
    let file_out = d.join("file.jsonl");
    std::fs::write(
        &config,
        format!(
            "# the same job as the flags above\n\
             inputs = [{sample:?}]\n\
             window = \"5m\"\n\
             filter = [\"status<400\", \"bytes>=0\"]\n\
             top = 5\n\
             threshold_requests = 20\n\
             jsonl = {file_out:?}\n\
             quiet = true\n"
        ),
    )
    .expect("write config");
    let out = ok(logpulse_run(&["--config", config.to_str().unwrap()]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("settings from"));

    let (fw, fs) = results(&flags_out);
    let (cw, cs) = results(&file_out);
    assert_eq!(cs, fs, "summaries");
    assert_eq!(cw, fw, "windows");
    // The settings took effect: 5-minute windows, at most 5 groups each, the 4xx/5xx lines
    // filtered out, alerts above 20 requests.
    assert_eq!(cs["filtered"], sample_status_at_least_400());
    assert!(sample_status_at_least_400() > 0);
    assert!(cw.iter().all(|w| window_seconds(w) == 300));
    assert!(cw
        .iter()
        .all(|w| w["groups"].as_array().unwrap().len() <= 5));
    assert!(cs["alerts"].as_u64().unwrap() > 0);
}

#[test]
fn command_line_flags_replace_the_files_settings() {
    let (dir, config) = temp_file(
        "job.toml",
        format!(
            "inputs = [{:?}]\nwindow = \"5m\"\nfilter = [\"status>=400\"]\n",
            sample()
        )
        .as_bytes(),
    );
    let jsonl = dir.path().join("out.jsonl");
    ok(logpulse_run(&[
        "--config",
        config.to_str().unwrap(),
        "--window",
        "1m",
        "--filter",
        "status<400",
        "--jsonl",
        jsonl.to_str().unwrap(),
        "-q",
    ]));
    let (windows, summary) = results(&jsonl);
    assert!(windows.iter().all(|w| window_seconds(w) == 60));
    // Only the command line's filter applies (both together would leave nothing).
    assert_eq!(summary["filtered"], sample_status_at_least_400());
    assert_eq!(summary["lines"], 2000);

    // Input files on the command line replace the file's: an empty file reads nothing.
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, b"").expect("empty file");
    let (s, _) = run_summary(
        &[
            "--config",
            config.to_str().unwrap(),
            "--format",
            "common",
            empty.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(s["lines"], 0);
}

#[test]
fn mistakes_in_the_file_are_errors_that_name_them() {
    for (text, says) in [
        ("windw = \"5m\"\n", "unknown key `windw`"),
        ("window = \n", "not valid TOML"),
        ("quiet = 1\n", "`quiet` is a switch"),
        ("window = [\"1m\", \"5m\"]\n", "`window` takes one value"),
        ("top = \"many\"\n", "--top"),
    ] {
        let (_dir, config) = temp_file("job.toml", text.as_bytes());
        let out = logpulse_run(&[config_arg(&config).as_str(), sample().to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {err}");
        assert!(err.contains(says), "{text:?}: {err}");
    }
    let out = logpulse_run(&["--config", "/nonexistent/job.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/job.toml"));
}

fn config_arg(path: &Path) -> String {
    format!("--config={}", path.display())
}
