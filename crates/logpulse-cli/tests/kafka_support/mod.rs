//! Kafka test support: a real broker (tansu, see scripts/kafka/install-broker.sh), a real
//! producer to fill topics, a reader for output topics, and `logpulse run` processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use logpulse_io::kafka::test_broker::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

pub const PARTITIONS: i32 = 4;

/// Starts a broker; a missing broker binary fails the test with the install instructions.
pub fn broker() -> TestBroker {
    match TestBroker::start() {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

/// Creates topics of [`PARTITIONS`] partitions.
pub fn topics(b: &TestBroker, names: &[&str]) {
    for n in names {
        b.create_topic(n, PARTITIONS as u32).expect("create topic");
    }
}

/// The lines of `bytes` (without their newlines; a missing final newline is fine).
pub fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = bytes.split(|&c| c == b'\n').collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Produces `lines` to `topic`, `per_msg` lines per message, messages dealt round-robin over
/// the partitions. Waits until every message is acknowledged.
pub fn produce(bootstrap: &str, topic: &str, lines: &[&[u8]], per_msg: usize) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "2000000")
        .create()
        .expect("producer");
    let mut msg = Vec::new();
    for (i, chunk) in lines.chunks(per_msg.max(1)).enumerate() {
        msg.clear();
        for l in chunk {
            msg.extend_from_slice(l);
            msg.push(b'\n');
        }
        // One-line messages go without their newline: the source must add it.
        if per_msg == 1 {
            msg.pop();
        }
        let part = (i % PARTITIONS as usize) as i32;
        loop {
            match p.send(
                BaseRecord::<(), [u8]>::to(topic)
                    .partition(part)
                    .payload(&msg),
            ) {
                Ok(()) => break,
                Err((e, _)) => {
                    assert!(
                        matches!(
                            e,
                            rdkafka::error::KafkaError::MessageProduction(
                                rdkafka::types::RDKafkaErrorCode::QueueFull
                            )
                        ),
                        "produce: {e}"
                    );
                    p.poll(Duration::from_millis(10));
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(60)).expect("flush");
}

/// Every message of `topic` (all partitions, from the start) as (key, payload).
pub fn read_all(bootstrap: &str, topic: &str) -> Vec<(String, Vec<u8>)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "logpulse-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    let mut high = Vec::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
        let (_, h) = c
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("watermarks");
        high.push(h);
    }
    c.assign(&tpl).expect("assign");
    let mut pos = vec![0i64; PARTITIONS as usize];
    let mut out = Vec::new();
    let t0 = Instant::now();
    let mut last = Instant::now();
    // tansu 0.6 reports the high watermark as the last record batch's base offset + 1, so it
    // only bounds from below: read on until nothing comes for a while.
    while pos.iter().zip(&high).any(|(p, h)| p < h) || last.elapsed() < Duration::from_secs(2) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "reading {topic} timed out"
        );
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            last = Instant::now();
            let m = m.expect("message");
            pos[m.partition() as usize] = m.offset() + 1;
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
            out.push((key, m.payload().unwrap_or_default().to_vec()));
        }
    }
    out
}

/// The `logpulse` binary: `LOGPULSE_BIN` if set (the test binary run on another machine, as
/// `scripts/gpu-kafka-crash.sh` does on a CUDA machine), else the one cargo built.
pub fn bin() -> PathBuf {
    std::env::var_os("LOGPULSE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_logpulse")))
}

/// The real data sets: `LOGPULSE_DATA_DIR`, else the copies shipped in `samples/`.
pub fn data(name: &str) -> PathBuf {
    let dir = std::env::var_os("LOGPULSE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples"));
    let p = dir.join(name);
    assert!(p.exists(), "{} missing", p.display());
    p
}

/// Starts `logpulse run ARGS -q --progress never` with stderr captured to `dir/<name>.err`.
pub fn spawn(args: &[String], dir: &Path, name: &str) -> Child {
    let err = std::fs::File::create(dir.join(format!("{name}.err"))).expect("stderr file");
    Command::new(bin())
        .arg("run")
        .args(args)
        .args(["-q", "--progress", "never"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn logpulse")
}

/// Waits for `child` (at most `limit`), asserting success; returns its stderr.
pub fn wait(mut child: Child, dir: &Path, name: &str, limit: Duration) -> String {
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name} still running after {limit:?}:\n{}",
                std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let err = std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap_or_default();
    assert!(status.success(), "{name} failed:\n{err}");
    err
}

/// Kafka flags for a run reading `topic` in `group`, with `--backend $LOGPULSE_TEST_BACKEND`
/// when that is set (the GPU backend on a CUDA machine; the reference runs stay on the CPU).
pub fn kafka_args(bootstrap: &str, topic: &str, group: &str) -> Vec<String> {
    let backend = std::env::var("LOGPULSE_TEST_BACKEND").ok();
    let backend = backend.iter().flat_map(|b| ["--backend", b.as_str()]);
    [
        "--kafka-brokers",
        bootstrap,
        "--topic",
        topic,
        "--group",
        group,
        "--kafka-exit-idle",
        "3s",
        "--linger",
        "200ms",
    ]
    .into_iter()
    .chain(backend)
    .map(|s| s.to_string())
    .collect()
}

/// The parts of a summary that must not depend on how the input was read.
pub fn comparable_summary(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    comparable(serde_json::from_str(&text).expect("summary JSON"))
}

/// Drops what depends on timing, batching or framing (not on the data).
fn comparable(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        for k in [
            "batches",
            "elapsed_s",
            "gb_per_s",
            "input_bytes",
            "peak_rss_bytes",
        ] {
            o.remove(k);
        }
    }
    v
}

/// Window results of a JSON Lines file, one JSON value each.
pub fn windows(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| comparable(serde_json::from_str(l).expect("JSON line")))
        .collect()
}
