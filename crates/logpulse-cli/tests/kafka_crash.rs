//! Kafka + checkpoints: `logpulse run --kafka-brokers ... --checkpoint` killed with SIGKILL at
//! many moments and restarted each time ends with the results of an uninterrupted run:
//! nothing lost, nothing counted twice. Offsets are committed only after the checkpoint that
//! covers them is saved, and a restart starts each partition at its checkpointed offset.
//!
//! Group joins: a killed member stays in the group until its session times out, and the next
//! start's join waits for that (librdkafka's default `session.timeout.ms` is 45 s). The runs here
//! pass a short session timeout through `--kafka-option` (see `JOIN_OPTIONS`) so that one
//! restart costs a few seconds, not a minute.

mod kafka_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_support::*;

/// Lines of the generated log, and one bad line every `BAD_EVERY`.
const LINES: u64 = 1_500_000;
const BAD_EVERY: u64 = 997;
/// Restarts killed with SIGKILL.
const KILLS: usize = 20;

/// Consumer settings that make the group join after a kill fast on the test broker.
const JOIN_OPTIONS: &[&str] = &["session.timeout.ms=1000", "heartbeat.interval.ms=200"];

fn job_flags(dir: &Path, name: &str) -> Vec<String> {
    let p = |n: &str| dir.join(n).display().to_string();
    [
        "--format",
        "nasa_tsv",
        "--window",
        "5m",
        "--lateness",
        "100000d",
        "--batch-lines",
        "4000",
        "--summary",
        &p(&format!("{name}.summary.json")),
        "--jsonl",
        &p(&format!("{name}.jsonl")),
    ]
    .map(String::from)
    .to_vec()
}

/// Messages the checkpoint says were read (sum of the partitions' next offsets).
fn checkpointed_messages(dir: &Path) -> i64 {
    let Ok(text) = std::fs::read_to_string(dir.join("ckpt.json")) else {
        return 0;
    };
    let v: serde_json::Value = serde_json::from_str(&text).expect("checkpoint JSON");
    v["sources"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.starts_with("kafka:crash/"))
                .filter_map(|(_, p)| p["offset"].as_i64())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn kafka_run_killed_at_many_moments_resumes_exactly() {
    let b = broker();
    let bs = b.bootstrap();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    topics(&b, &["crash"]);
    let input = dir.join("gen.tsv");
    let st = Command::new(bin())
        .args(["gen", "--lines", &LINES.to_string(), "--format", "tsv"])
        .args(["--bad-every", &BAD_EVERY.to_string(), "-o"])
        .arg(&input)
        .status()
        .expect("logpulse gen");
    assert!(st.success());
    let bytes = std::fs::read(&input).expect("read");
    produce(&bs, "crash", &lines(&bytes), 50);

    // The reference: an uninterrupted run over the same lines (the file; the Kafka tests in
    // kafka.rs hold Kafka runs equal to file runs).
    let mut args = vec![input.display().to_string()];
    args.extend(job_flags(dir, "ref"));
    wait(
        spawn(&args, dir, "ref"),
        dir,
        "ref",
        Duration::from_secs(120),
    );

    let mut args = kafka_args(&bs, "crash", "g-crash");
    for o in JOIN_OPTIONS {
        args.extend(["--kafka-option".to_string(), o.to_string()]);
    }
    args.extend(job_flags(dir, "crashed"));
    let ckpt = dir.join("ckpt.json").display().to_string();
    args.extend(["--checkpoint", &ckpt, "--checkpoint-interval"].map(String::from));
    // Every other restart checkpoints at most every 10 ms rather than after every batch:
    // merged batches then wait in memory for the next checkpoint, and committing their
    // offsets before it (as a run without checkpoints does) would lose them in a crash.
    let with_interval = |interval: &str| {
        let mut a = args.clone();
        a.push(interval.to_string());
        a
    };
    // (Not much longer: a restart reads ~100,000 lines in 10-20 ms here, so a longer interval
    // makes the checkpoint jump past the next kill moments, and the kills bunch up. A faster
    // machine covers more of the stream in 10 ms: `LOGPULSE_TEST_CKPT_INTERVAL` shortens it
    // there, e.g. 1ms on the 16-core GPU host, where 10 ms jumped 15,000 of 30,000 messages.)
    let interval = std::env::var("LOGPULSE_TEST_CKPT_INTERVAL").unwrap_or_else(|_| "10ms".into());
    let (every_batch, every_interval) = (with_interval("0"), with_interval(&interval));

    // Kill moments spread over the whole stream whatever the machine's speed: restart `i` is
    // killed once the checkpoint passed `(i + 1) / (KILLS + 1)` of the messages, plus a
    // deterministic "random" 0-10 ms (mid-batch, mid-save, between save and commit, ...).
    let messages = LINES.div_ceil(50) as i64;
    let mut seed: u64 = 0x6b61666b61;
    let (mut kills, mut finished_early) = (0, 0);
    let t_all = Instant::now();
    let mut progress = Vec::new();
    for i in 0..KILLS {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = Duration::from_millis((seed >> 33) % 10);
        // Each restart gets at least one checkpoint further.
        let done = checkpointed_messages(dir);
        if done >= messages {
            break; // a checkpoint covered everything: the rest is the last run's
        }
        let target = (messages * (i as i64 + 1) / (KILLS as i64 + 1)).max(done + 1);
        let name = format!("crashed{i}");
        let args = if i % 2 == 0 {
            &every_batch
        } else {
            &every_interval
        };
        let mut child = spawn(args, dir, &name);
        let t0 = Instant::now();
        while checkpointed_messages(dir) < target && child.try_wait().expect("wait").is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "restart {i} did not reach message {target}:\n{}",
                std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let reached = t0.elapsed();
        std::thread::sleep(after);
        match child.try_wait().expect("wait") {
            Some(_) => finished_early += 1,
            None => {
                child.kill().expect("SIGKILL");
                kills += 1;
            }
        }
        let _ = child.wait();
        let read = checkpointed_messages(dir);
        progress.push(read);
        eprintln!(
            "restart {i}: checkpoint passed {target} after {reached:?}, killed {after:?} later at {read}"
        );
    }
    eprintln!(
        "{kills} kills, {finished_early} finished first, {:?}",
        t_all.elapsed()
    );
    assert!(
        kills >= KILLS * 2 / 3,
        "only {kills} runs were killed mid-way ({finished_early} finished first): {progress:?}"
    );
    // The last restart reads to the end and exits (`--kafka-exit-idle`).
    let err = wait(
        spawn(&every_batch, dir, "last"),
        dir,
        "last",
        Duration::from_secs(180),
    );
    assert!(err.contains("resuming"), "the last run resumed:\n{err}");

    let k = comparable_summary(&dir.join("crashed.summary.json"));
    let f = comparable_summary(&dir.join("ref.summary.json"));
    assert!(f["lines"].as_u64() >= Some(LINES), "reference: {f}");
    assert!(
        f["rejected"]
            .as_object()
            .is_some_and(|o| o.values().any(|v| v.as_u64() > Some(0))),
        "the log has bad lines"
    );
    for field in ["lines", "parsed", "rejected", "late", "windows", "alerts"] {
        assert_eq!(
            k[field], f[field],
            "{field} after {kills} kills vs an uninterrupted run"
        );
    }
    assert!(k == f, "summary (by_client) after {kills} kills differs");
    // Summary records are cumulative snapshots written at the end of each run. A restart
    // killed after the stream's end (its summary written, its final checkpoint saved) leaves
    // its summary in the output, and the next run (a new run, over nothing new) writes its own:
    // each must equal the reference's. Window records must match one for one.
    let is_summary = |v: &serde_json::Value| v["type"] == "summary";
    let (ks, kw): (Vec<_>, Vec<_>) = windows(&dir.join("crashed.jsonl"))
        .into_iter()
        .partition(is_summary);
    let (fs, fw): (Vec<_>, Vec<_>) = windows(&dir.join("ref.jsonl"))
        .into_iter()
        .partition(is_summary);
    assert_eq!(fs.len(), 1, "the reference run writes one summary record");
    assert!(
        !ks.is_empty() && ks.iter().all(|s| s == &fs[0]),
        "{} summary records after {kills} kills, not all equal to the reference's",
        ks.len()
    );
    let kinds = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .map(|l| format!("{} {} {}", l["type"], l["start"], l["totals"]))
            .collect()
    };
    assert_eq!(
        kw.len(),
        fw.len(),
        "window count after {kills} kills: {:?} vs uninterrupted {:?}",
        kinds(&kw),
        kinds(&fw)
    );
    for (i, (a, b)) in kw.iter().zip(&fw).enumerate() {
        assert!(a == b, "window {i} differs");
    }

    // Offsets were committed after the last checkpoint: a run of the same group without a
    // checkpoint finds nothing left to read.
    let mut args = kafka_args(&bs, "crash", "g-crash");
    args.extend(job_flags(dir, "after"));
    wait(
        spawn(&args, dir, "after"),
        dir,
        "after",
        Duration::from_secs(120),
    );
    let after = comparable_summary(&dir.join("after.summary.json"));
    assert_eq!(after["lines"].as_u64(), Some(0), "committed to the end");
}
