//! kill -9 at 20 moments spread over the input, restart from the checkpoint each time: the final results equal an
//! uninterrupted run's — nothing lost, nothing counted twice, no output written twice.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Restarts killed with SIGKILL.
const KILLS: usize = 20;

/// Input bytes the checkpoint says were read (0 before the first checkpoint). The checkpoint
/// is replaced atomically (rename), so a read sees a whole one.
fn checkpointed_bytes(ckpt: &Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(ckpt) else {
        return 0;
    };
    let v: serde_json::Value = serde_json::from_str(&text).expect("checkpoint JSON");
    v["sources"]
        .as_object()
        .map(|o| o.values().filter_map(|p| p["offset"].as_u64()).sum())
        .unwrap_or(0)
}

fn job_args(input: &Path, dir: &Path) -> Vec<String> {
    let p = |n: &str| dir.join(n).display().to_string();
    vec![
        "run".into(),
        input.display().to_string(),
        "--format".into(),
        "nasa_tsv".into(),
        "--batch-lines".into(),
        "20000".into(),
        "--jsonl".into(),
        p("windows.jsonl"),
        "--rejects".into(),
        p("rejects.tsv"),
        "--summary".into(),
        p("summary.json"),
        "-q".into(),
        "--progress".into(),
        "never".into(),
    ]
}

/// The summary without what legitimately differs between runs (timing, batch count).
fn stable_summary(dir: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for k in ["elapsed_s", "gb_per_s", "peak_rss_bytes", "batches"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

fn windows(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("windows.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"type\":\"window\""))
        .map(String::from)
        .collect()
}

#[test]
fn kill_dash_nine_twenty_times_then_resume_equals_an_uninterrupted_run() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.tsv");
    let gen = Command::new(bin())
        .args([
            "gen",
            "--lines",
            "3000000",
            "--format",
            "tsv",
            "--bad-every",
            "997",
            "-o",
        ])
        .arg(&input)
        .status()
        .unwrap();
    assert!(gen.success());

    let reference = work.path().join("reference");
    std::fs::create_dir(&reference).unwrap();
    let st = Command::new(bin())
        .args(job_args(&input, &reference))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());

    let crashed = work.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    let mut args = job_args(&input, &crashed);
    args.extend([
        "--checkpoint".into(),
        crashed.join("ckpt.json").display().to_string(),
    ]);
    args.extend(["--checkpoint-interval".into(), "0".into()]);
    // 20 kill moments spread over the whole input whatever the machine's speed: restart `i`
    // is killed once the checkpoint passed `(i + 1) / 23` of the input's bytes (the last
    // leaving ~13% to read, so that a fast restart cannot finish before its kill), plus a
    // deterministic "random" 0-10 ms (mid-batch, mid-save, between two saves, ...; short
    // enough that a fast machine does not run past the next moments meanwhile).
    let total = std::fs::metadata(&input).unwrap().len();
    let ckpt = crashed.join("ckpt.json");
    let mut seed: u64 = 0x5eed;
    let mut kills = 0;
    let mut finished_early = 0;
    let t_all = Instant::now();
    for i in 0..KILLS {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = Duration::from_millis((seed >> 33) % 10);
        let done = checkpointed_bytes(&ckpt);
        if done >= total {
            break; // a checkpoint covered everything: the rest is the last run's
        }
        let target = (total * (i as u64 + 1) / (KILLS as u64 + 3)).max(done + 1);
        let mut child = Command::new(bin())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while checkpointed_bytes(&ckpt) < target && child.try_wait().unwrap().is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "restart {i} did not reach byte {target}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(after);
        match child.try_wait().unwrap() {
            Some(_) => finished_early += 1,
            None => {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
        }
        let _ = child.wait();
        eprintln!(
            "restart {i}: killed {after:?} after the checkpoint passed byte {target}, at {}",
            checkpointed_bytes(&ckpt)
        );
    }
    eprintln!(
        "{kills} kills, {finished_early} finished first, {:?}",
        t_all.elapsed()
    );
    assert!(
        kills >= KILLS - 2,
        "only {kills} of {KILLS} runs were killed mid-way ({finished_early} finished first)"
    );
    // Let the last restart finish.
    let st = Command::new(bin())
        .args(&args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());

    assert_eq!(stable_summary(&crashed), stable_summary(&reference));
    assert_eq!(windows(&crashed), windows(&reference));
    assert_eq!(
        std::fs::read(crashed.join("rejects.tsv")).unwrap(),
        std::fs::read(reference.join("rejects.tsv")).unwrap()
    );
}
