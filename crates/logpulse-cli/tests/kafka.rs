//! Kafka end to end, against a real broker (tansu; `scripts/kafka/install-broker.sh` installs
//! it) and the real client: the shared data sets and a generated 1M-line log are produced to
//! 4-partition topics, and what `logpulse run --kafka-brokers ...` computes must equal
//! `logpulse run FILES`.
//!
//! Every window is kept open to the end (`--lateness 100000d`): with several partitions read
//! in parallel, lines reach the window operator in another order than from the files, so the
//! watermark would close different windows early. What is compared is then independent of
//! order: every window's groups and totals, the whole-run summary, the rejects.

mod kafka_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kafka_support::*;
use serde_json::Value;

/// Flags shared by the Kafka and the file runs.
fn job_flags(format: &str, dir: &Path, name: &str) -> Vec<String> {
    let s = |x: &str| x.to_string();
    vec![
        s("--format"),
        s(format),
        s("--window"),
        s("5m"),
        s("--lateness"),
        s("100000d"),
        s("--summary"),
        dir.join(format!("{name}.summary.json"))
            .display()
            .to_string(),
        s("--jsonl"),
        dir.join(format!("{name}.jsonl")).display().to_string(),
    ]
}

/// Runs `logpulse run FILES` with the same flags: the reference.
fn file_run(files: &[&Path], format: &str, dir: &Path, name: &str) {
    let mut args: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(job_flags(format, dir, name));
    wait(spawn(&args, dir, name), dir, name, Duration::from_secs(120));
}

fn assert_same_results(dir: &Path, kafka: &str, files: &str) {
    let k = comparable_summary(&dir.join(format!("{kafka}.summary.json")));
    let f = comparable_summary(&dir.join(format!("{files}.summary.json")));
    assert!(
        f["lines"].as_u64().unwrap_or(0) > 0,
        "reference read nothing"
    );
    assert_same(&k, &f, &format!("summary of {kafka} vs {files}"));
    let kw = windows(&dir.join(format!("{kafka}.jsonl")));
    let fw = windows(&dir.join(format!("{files}.jsonl")));
    assert_eq!(kw.len(), fw.len(), "window count of {kafka}");
    for (i, (a, b)) in kw.iter().zip(&fw).enumerate() {
        assert_same(a, b, &format!("window {i} of {kafka} vs {files}"));
    }
}

/// Equal JSON objects; on a difference, names the first differing fields (not whole dumps).
fn assert_same(a: &Value, b: &Value, what: &str) {
    if a == b {
        return;
    }
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        panic!("{what}: {a} != {b}");
    };
    let mut diffs = Vec::new();
    for (k, v) in ao {
        if bo.get(k) != Some(v) {
            let short =
                |x: Option<&Value>| x.map(|x| x.to_string().chars().take(300).collect::<String>());
            diffs.push(format!(
                "{k}: {:?} vs {:?}",
                short(Some(v)),
                short(bo.get(k))
            ));
        }
    }
    for k in bo.keys().filter(|k| !ao.contains_key(*k)) {
        diffs.push(format!("{k}: missing on the left"));
    }
    panic!("{what} differ:\n{}", diffs.join("\n"));
}

/// A 1M-line generated TSV log (the `logpulse gen` default layout).
fn generated(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("gen.tsv");
    let args = ["gen", "--lines", "1000000", "--bad-every", "5000", "-o"];
    let st = std::process::Command::new(bin())
        .args(args)
        .arg(&p)
        .status()
        .expect("logpulse gen");
    assert!(st.success());
    p
}

fn gunzip(p: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(p).expect("open"))
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn as_paths(v: &[std::path::PathBuf]) -> Vec<&Path> {
    v.iter().map(|p| p.as_path()).collect()
}

/// Produces `files` in order (as one stream of lines) to `topic`.
fn produce_files(bootstrap: &str, topic: &str, files: &[&Path], per_msg: usize) {
    let mut all = Vec::new();
    for f in files {
        let bytes = if f.extension().is_some_and(|e| e == "gz") {
            gunzip(f)
        } else {
            std::fs::read(f).expect("read")
        };
        all.extend_from_slice(&bytes);
        if all.last() != Some(&b'\n') {
            all.push(b'\n');
        }
    }
    produce(bootstrap, topic, &lines(&all), per_msg);
}

/// (a) One consumer per topic; three topics (common, combined, TSV + 1M generated lines) read
/// at once. Also checks the results and dead-letter topics.
#[test]
fn one_consumer_equals_file_run() {
    let b = broker();
    let bs = b.bootstrap();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    topics(&b, &["clf", "combined", "tsv", "results", "dlq"]);
    let clf = [
        data("nasa_jul95_first2000.log.gz"),
        data("nasa_jul95_random_sample.log.gz"),
    ];
    let bad = dir.join("bad.log");
    std::fs::write(
        &bad,
        b"1.2.3.4 - - [06/May/2021:00:00:11 +0000] \"GET / HTTP/1.1\" 200\nnot a log line\n\x00\x01binary\n",
    )
    .expect("bad.log");
    let combined = [
        data("apache_combined_semicomplete_2015.log.gz"),
        data("nginx_combined_elb_2021.log.gz"),
        bad,
    ];
    let gen = generated(dir);
    let tsv = [data("nasa_19950701_first10000.tsv.gz"), gen];

    produce_files(&bs, "clf", &as_paths(&clf), 1);
    produce_files(&bs, "combined", &as_paths(&combined), 7);
    produce_files(&bs, "tsv", &as_paths(&tsv), 1000);

    let mut runs = Vec::new();
    for (topic, format) in [
        ("clf", "common"),
        ("combined", "combined"),
        ("tsv", "nasa_tsv"),
    ] {
        let name = format!("k-{topic}");
        let mut args = if topic == "combined" {
            // This one takes its Kafka settings from a config file (`run --config`).
            config_file(dir, &bs, topic)
        } else {
            kafka_args(&bs, topic, &format!("g-{topic}"))
        };
        args.extend(job_flags(format, dir, &name));
        runs.push((name.clone(), spawn(&args, dir, &name)));
    }
    file_run(&as_paths(&clf), "common", dir, "f-clf");
    file_run(&as_paths(&combined), "combined", dir, "f-combined");
    file_run(&as_paths(&tsv), "nasa_tsv", dir, "f-tsv");
    for (name, child) in runs {
        wait(child, dir, &name, Duration::from_secs(150));
    }
    for t in ["clf", "combined", "tsv"] {
        assert_same_results(dir, &format!("k-{t}"), &format!("f-{t}"));
    }
    check_output_topics(&bs, dir);
}

/// `--config FILE` for a run of `topic` with its results and dead letters in the `results`
/// and `dlq` topics: the same settings as `kafka_args` plus those, as TOML.
fn config_file(dir: &Path, bootstrap: &str, topic: &str) -> Vec<String> {
    let path = dir.join(format!("{topic}.toml"));
    let text = format!(
        "kafka-brokers = \"{bootstrap}\"\n\
         topic = \"{topic}\"\n\
         group = \"g-{topic}\"\n\
         kafka_exit_idle = \"3s\"\n\
         linger = \"200ms\"\n\
         kafka-out-topic = \"results\"\n\
         kafka-dlq-topic = \"dlq\"\n\
         [kafka-option]\n\
         \"client.id\" = \"logpulse-config-test\"\n"
    );
    std::fs::write(&path, text).expect("write config file");
    vec!["--config".into(), path.display().to_string()]
}

/// The results topic holds every window, group and alert of the JSON Lines output; the
/// dead-letter topic every rejected line.
fn check_output_topics(bs: &str, dir: &Path) {
    let jsonl = windows(&dir.join("k-combined.jsonl"));
    let summary = comparable_summary(&dir.join("k-combined.summary.json"));
    let msgs = read_all(bs, "results");
    let mut by_type: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for (k, v) in &msgs {
        let v: Value = serde_json::from_slice(v).expect("results message is JSON");
        by_type
            .entry(v["type"].as_str().unwrap_or("?").to_string())
            .or_default()
            .push((k.clone(), v));
    }
    let jsonl: Vec<Value> = jsonl
        .into_iter()
        .filter(|w| w["type"] == "window")
        .collect();
    let win = by_type.remove("window").unwrap_or_default();
    let starts: std::collections::BTreeSet<String> = win.iter().map(|(k, _)| k.clone()).collect();
    let missing: Vec<String> = jsonl
        .iter()
        .filter_map(|w| w["start"].as_str())
        .filter(|s| !starts.contains(*s))
        .take(5)
        .map(String::from)
        .collect();
    assert_eq!(
        win.len(),
        jsonl.len(),
        "one window message per window; missing e.g. {missing:?}; {} messages in all",
        msgs.len()
    );
    let groups = by_type.remove("group").unwrap_or_default();
    let expected_groups: usize = jsonl
        .iter()
        .map(|w| w["groups"].as_array().map_or(0, |g| g.len()))
        .sum();
    assert_eq!(
        groups.len(),
        expected_groups,
        "one group message per (window, key)"
    );
    for (k, g) in &groups {
        let want = format!(
            "{}|{}",
            g["start"].as_str().unwrap_or(""),
            g["key"].as_str().unwrap_or("")
        );
        assert_eq!(k, &want, "group message key is window start | group key");
    }
    let req: u64 = groups
        .iter()
        .map(|(_, g)| g["requests"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        req,
        summary["parsed"].as_u64().unwrap_or(0),
        "group requests add up to the records"
    );
    let alerts = by_type.remove("alert").unwrap_or_default();
    let expected_alerts: usize = jsonl
        .iter()
        .map(|w| w["alerts"].as_array().map_or(0, |a| a.len()))
        .sum();
    assert_eq!(alerts.len(), expected_alerts);
    let dlq = read_all(bs, "dlq");
    let rejected: u64 = summary["rejected"]
        .as_object()
        .map(|o| o.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    assert!(
        rejected > 0,
        "the nginx file has lines the combined format rejects"
    );
    assert_eq!(
        dlq.len() as u64,
        rejected,
        "every reject in the dead-letter topic"
    );
    for (_, m) in &dlq {
        let v: Value = serde_json::from_slice(m).expect("dlq JSON");
        assert_eq!(v["type"], "reject");
        assert!(v["reason"].is_string() && v["line"].is_string());
    }
}

/// (b) Three workers in one consumer group share the partitions and publish partials; one
/// merger combines them: the merged results equal one process reading the files.
#[test]
fn three_consumers_merged_equal_file_run() {
    let b = broker();
    let bs = b.bootstrap();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    topics(&b, &["logs", "partials"]);
    let files = [data("nasa_19950701_first10000.tsv.gz"), generated(dir)];
    produce_files(&bs, "logs", &as_paths(&files), 500);

    let workers: Vec<_> = (0..3)
        .map(|i| {
            let name = format!("worker{i}");
            let mut args = kafka_args(&bs, "logs", "workers");
            args.extend(["--format", "nasa_tsv", "--window", "5m"].map(String::from));
            args.extend(["--kafka-partials-topic", "partials", "--summary"].map(String::from));
            args.push(
                dir.join(format!("{name}.summary.json"))
                    .display()
                    .to_string(),
            );
            (name.clone(), spawn(&args, dir, &name))
        })
        .collect();
    file_run(&as_paths(&files), "nasa_tsv", dir, "f-tsv");
    let mut shares = Vec::new();
    for (name, child) in workers {
        let err = wait(child, dir, &name, Duration::from_secs(150));
        let s = comparable_summary(&dir.join(format!("{name}.summary.json")));
        shares.push(s["lines"].as_u64().unwrap_or(0));
        assert!(err.contains("assigned partitions"), "{name}:\n{err}");
    }
    let total: u64 = shares.iter().sum();
    let reference = comparable_summary(&dir.join("f-tsv.summary.json"));
    assert_eq!(
        total,
        reference["lines"].as_u64().unwrap_or(0),
        "worker shares {shares:?}"
    );
    assert!(
        shares.iter().filter(|&&n| n > 0).count() >= 2,
        "the group shared the work: {shares:?}"
    );

    let mut args = kafka_args(&bs, "partials", "merger");
    args.push("--kafka-merge".into());
    args.extend(job_flags("nasa_tsv", dir, "k-merged"));
    wait(
        spawn(&args, dir, "k-merged"),
        dir,
        "k-merged",
        Duration::from_secs(150),
    );
    assert_same_results(dir, "k-merged", "f-tsv");
}

/// Reads the `lines` counter of a `--status` file (0 while it does not exist yet).
fn status_lines(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["lines"].as_u64())
        .unwrap_or(0)
}

fn wait_lines(path: &Path, want: u64, limit: Duration) {
    let t0 = std::time::Instant::now();
    while status_lines(path) < want {
        assert!(
            t0.elapsed() < limit,
            "consumer reached {} of {want} lines",
            status_lines(path)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (d) The broker frozen (SIGSTOP) for 30 s, then resumed (SIGCONT): the run says so while it
/// lasts, loses nothing and counts nothing twice.
#[test]
fn broker_paused_30s_is_survived_without_loss() {
    let b = broker();
    let bs = b.bootstrap();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    topics(&b, &["paused"]);
    let file = data("nasa_19950701_first10000.tsv.gz");
    let all = gunzip(&file);
    let lines_all = lines(&all);
    let (first, second) = lines_all.split_at(lines_all.len() / 2);

    let status = dir.join("status.json");
    let mut args: Vec<String> = [
        "--kafka-brokers",
        &bs,
        "--topic",
        "paused",
        "--group",
        "g-paused",
        "--linger",
        "200ms",
        "--status",
    ]
    .map(String::from)
    .to_vec();
    args.push(status.display().to_string());
    args.extend(job_flags("nasa_tsv", dir, "k-paused"));
    let child = spawn(&args, dir, "k-paused");
    produce(&bs, "paused", first, 10);
    wait_lines(&status, first.len() as u64, Duration::from_secs(90));

    let pid = b.pid().to_string();
    let signal = |s: &str| {
        let st = std::process::Command::new("kill")
            .args([s, &pid])
            .status()
            .expect("kill");
        assert!(st.success(), "kill {s}");
    };
    signal("-STOP");
    // Messages produced while the broker is frozen wait in the producer and land on resume.
    let (bs2, rest) = (
        bs.clone(),
        second.iter().map(|l| l.to_vec()).collect::<Vec<_>>(),
    );
    let producer = std::thread::spawn(move || {
        let refs: Vec<&[u8]> = rest.iter().map(|l| l.as_slice()).collect();
        produce(&bs2, "paused", &refs, 10);
    });
    std::thread::sleep(Duration::from_secs(30));
    signal("-CONT");
    producer.join().expect("producer");
    wait_lines(&status, lines_all.len() as u64, Duration::from_secs(120));
    // Ctrl-C: the run stops reading, closes its windows and writes its outputs.
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(st.success());
    let err = wait(child, dir, "k-paused", Duration::from_secs(60));
    assert!(
        err.contains("brokers are down")
            || err.contains("not answering")
            || err.contains("timed out"),
        "the stalled broker was reported:\n{err}"
    );
    file_run(&[file.as_path()], "nasa_tsv", dir, "f-paused");
    assert_same_results(dir, "k-paused", "f-paused");
}
