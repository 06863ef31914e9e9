//! Kafka benchmark against a real broker (tansu, `scripts/kafka/install-broker.sh`):
//!
//! 1. lines/s consumed and aggregated by logpulse from a 4-partition topic whose messages carry
//!    1000 lines each;
//! 2. the same with one line per message, next to a bare rdkafka consumer (poll loop, no
//!    processing) reading the same topic: the ratio is the cost of logpulse's consumer path;
//! 3. produce -> window result latency (per-batch windows, 50 ms linger), p50/p99.
//!
//! Parts (second argument, default `batched,single,latency`) also take the experiments `batch`
//! (a bare consumer taking messages a burst at a time, as logpulse's source does), `like` and
//! `null`.
//!
//! Timings run from the first message received to the last line merged, so the consumer
//! group's join (about 20 s on tansu) is not counted.
//!
//! `cargo run --release -p logpulse-io --example kafka_bench [-- LINES]`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logpulse_core::agg::Partial;
use logpulse_core::backend::BackendError;
use logpulse_core::batch::Batch;
use logpulse_core::framer::FramerConfig;
use logpulse_core::gen::{GenConfig, Generator};
use logpulse_core::pipeline::{self, BatchStats, PipelineConfig, Sink};
use logpulse_core::plan::{Plan, WindowSpec};
use logpulse_core::window::{RunTotals, WindowResult};
use logpulse_core::{Backend, BufferPool, CpuBackend, Format};
use logpulse_io::kafka::queue::{MessageQueue, Messages};
use logpulse_io::kafka::test_broker::TestBroker;
use logpulse_io::kafka::{KafkaConfig, KafkaJob};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientContext;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn produce(
    bs: &str,
    topic: &str,
    lines: &[&[u8]],
    per_msg: usize,
    pace: Option<&[Instant]>,
) -> Res<Vec<Instant>> {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("linger.ms", if pace.is_some() { "0" } else { "20" })
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "2000000")
        .create()?;
    let mut sent = Vec::new();
    let mut msg = Vec::new();
    for (i, chunk) in lines.chunks(per_msg).enumerate() {
        if let Some(at) = pace {
            let now = Instant::now();
            if at[i] > now {
                std::thread::sleep(at[i] - now);
            }
        }
        msg.clear();
        for l in chunk {
            msg.extend_from_slice(l);
            msg.push(b'\n');
        }
        if per_msg == 1 {
            msg.pop();
        }
        let part = (i % 4) as i32;
        loop {
            match p.send(
                BaseRecord::<(), [u8]>::to(topic)
                    .partition(part)
                    .payload(&msg),
            ) {
                Ok(()) => break,
                Err((e, _)) => {
                    if !matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ) {
                        return Err(e.into());
                    }
                    p.poll(Duration::from_millis(5));
                }
            }
        }
        sent.push(Instant::now());
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(120))?;
    Ok(sent)
}

/// Counts librdkafka's "Fetch backoff" debug lines (with `debug=fetch`): each one is a
/// partition whose fetching pauses for `fetch.queue.backoff.ms`.
#[derive(Default)]
struct BareContext {
    backoffs: AtomicU64,
}

impl ClientContext for BareContext {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, message: &str) {
        if fac == "BACKOFF" && message.contains("Fetch backoff") {
            self.backoffs.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ConsumerContext for BareContext {}

/// The bare consumer's properties: librdkafka's defaults but for the group and offsets.
fn bare_config(bs: &str, group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bs)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("queued.max.messages.kbytes", "262144");
    c
}

/// Messages/s of a bare consumer (poll, touch the payload, count) with properties `c` plus
/// `extra`, and how many fetch back-offs librdkafka logged (with `debug=fetch` in `extra`).
fn bare(
    mut c: ClientConfig,
    topic: &str,
    lines: u64,
    extra: &[(String, String)],
) -> Res<(f64, u64)> {
    for (k, v) in extra {
        c.set(k, v);
        if k == "debug" {
            c.set_log_level(RDKafkaLogLevel::Debug);
        }
    }
    let c: BaseConsumer<BareContext> = c.create_with_context(BareContext::default())?;
    c.subscribe(&[topic])?;
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut t0 = None;
    while n < lines {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m?;
            t0.get_or_insert_with(Instant::now);
            bytes += m.payload().map_or(0, |p| p.len() as u64);
            n += 1;
        }
    }
    let secs = t0.map_or(1.0, |t| t.elapsed().as_secs_f64());
    if let Some(t) = t0 {
        mark(&format!("bare {topic}: first message"), t);
        mark(&format!("bare {topic}: last message"), Instant::now());
    }
    std::hint::black_box(bytes);
    Ok((
        n as f64 / secs,
        c.context().backoffs.load(Ordering::Relaxed),
    ))
}

/// Forwards each assigned partition's messages to an application queue (experiment `batch`),
/// as logpulse's source does.
#[derive(Default)]
struct ForwardContext {
    queue: std::sync::OnceLock<std::sync::Weak<MessageQueue>>,
}

impl ClientContext for ForwardContext {}

impl ConsumerContext for ForwardContext {
    fn pre_rebalance(&self, c: &BaseConsumer<Self>, r: &rdkafka::consumer::Rebalance<'_>) {
        let (rdkafka::consumer::Rebalance::Assign(tpl), Some(q)) =
            (r, self.queue.get().and_then(|w| w.upgrade()))
        else {
            return;
        };
        for e in tpl.elements() {
            q.forward(c, e.topic(), e.partition());
        }
    }
}

/// Messages/s of a bare consumer that takes messages a burst at a time from a queue its
/// partitions forward to (logpulse's `MessageQueue`), with the bare poll loop's properties.
fn bare_batch(mut c: ClientConfig, topic: &str, lines: u64) -> Res<f64> {
    c.set("fetch.queue.backoff.ms", "10");
    let c: BaseConsumer<ForwardContext> = c.create_with_context(ForwardContext::default())?;
    let q = Arc::new(MessageQueue::new(&c).ok_or("no queue")?);
    let _ = c.context().queue.set(Arc::downgrade(&q));
    c.subscribe(&[topic])?;
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut t0 = None;
    let mut msgs = Messages::default();
    while n < lines {
        if let Some(m) = c.poll(Duration::ZERO) {
            let m = m?;
            t0.get_or_insert_with(Instant::now);
            bytes += m.payload().map_or(0, |p| p.len() as u64);
            n += 1;
        }
        if q.take(Duration::from_millis(100), 1024, &mut msgs) > 0 {
            t0.get_or_insert_with(Instant::now);
        }
        for (_, _, payload) in msgs.iter().flatten() {
            bytes += payload.len() as u64;
            n += 1;
        }
    }
    let secs = t0.map_or(1.0, |t| t.elapsed().as_secs_f64());
    std::hint::black_box(bytes);
    drop(msgs);
    drop(q); // before the consumer
    Ok(n as f64 / secs)
}

/// Counts merged lines and notes when the last one arrived; per-batch window results feed the
/// latency measurement (group key = message number).
struct Meter {
    want: u64,
    done_at: Arc<Mutex<Option<Instant>>>,
    sent: Option<Arc<Vec<Instant>>>,
    latencies: Vec<Duration>,
}

impl Sink for Meter {
    fn window(&mut self, w: &WindowResult) -> std::io::Result<()> {
        if let Some(sent) = &self.sent {
            let now = Instant::now();
            for (k, _) in w.groups_unordered() {
                if let Some(i) = k.strip_prefix('m').and_then(|i| i.parse::<usize>().ok()) {
                    if let Some(t) = sent.get(i) {
                        self.latencies.push(now.saturating_duration_since(*t));
                    }
                }
            }
        }
        Ok(())
    }
    fn batch(&mut self, _: &BatchStats, t: &RunTotals) -> std::io::Result<()> {
        if t.lines >= self.want {
            self.done_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(Instant::now);
        }
        Ok(())
    }
}

/// Experiment: a backend that parses nothing (each line counted as a record), to tell the
/// consumer path's cost from parsing's and from the CPU the parsing threads take on 2 cores.
struct NullBackend {
    pool: BufferPool,
}

impl Backend for NullBackend {
    fn describe(&self) -> String {
        "null".into()
    }
    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }
    fn process(&mut self, batch: Batch) -> Result<Partial, BackendError> {
        let mut p = Partial::new(batch.seq, batch.origin.source.clone());
        p.input_bytes = batch.buf.len() as u64;
        p.lines = batch.lines;
        p.records = batch.lines;
        Ok(p)
    }
}

/// Lines/s of logpulse over `topic` (1-minute windows, 200 ms linger, stop when idle 2 s);
/// `null_backend` parses nothing.
fn throughput(bs: &str, topic: &str, want: u64, null_backend: bool) -> Res<(f64, Vec<Duration>)> {
    let window = WindowSpec::Tumbling { secs: 60 };
    let (linger, idle) = (Duration::from_millis(200), Duration::from_secs(2));
    logpulse(bs, topic, want, window, linger, None, idle, null_backend)
}

/// Runs logpulse on `topic` until `want` lines are merged; returns (lines/s, latencies).
#[allow(clippy::too_many_arguments)] // one call per measurement, each spelled out
fn logpulse(
    bs: &str,
    topic: &str,
    want: u64,
    window: WindowSpec,
    linger: Duration,
    sent: Option<Arc<Vec<Instant>>>,
    exit_idle: Duration,
    null_backend: bool,
) -> Res<(f64, Vec<Duration>)> {
    let format = Format::preset("nasa_tsv").ok_or("no nasa_tsv preset")?;
    let mut plan = Plan::reference(format);
    plan.window = window;
    plan.lateness_secs = 3600;
    let plan = Arc::new(plan);
    let pool = BufferPool::heap(8, 64 << 20);
    let cpu: Box<dyn Backend> = if null_backend {
        Box::new(NullBackend { pool })
    } else {
        // `KAFKA_BENCH_THREADS`: the CPU backend's threads (default 0: one per core).
        let threads = std::env::var("KAFKA_BENCH_THREADS")
            .ok()
            .map(|t| t.parse::<usize>())
            .transpose()?
            .unwrap_or(0);
        Box::new(CpuBackend::new(plan.clone(), threads, pool)?)
    };
    let job = KafkaJob::connect(KafkaConfig {
        brokers: bs.to_string(),
        topic: topic.to_string(),
        group: format!(
            "logpulse-{topic}{}",
            if null_backend { "-null" } else { "" }
        ),
        options: bench_options()?,
        linger,
        exit_idle: Some(exit_idle),
        out_topic: None,
        dlq_topic: None,
        partials_topic: None,
    })?;
    let done_at = Arc::new(Mutex::new(None));
    let mut meter = Meter {
        want,
        done_at: done_at.clone(),
        sent,
        latencies: Vec::new(),
    };
    let mut commit = job.commit_sink();
    let bytes_read = Arc::new(AtomicU64::new(0));
    // The first byte read starts the clock; the last change of the count is when the last
    // message was taken (1 ms resolution).
    let first = Arc::new(Mutex::new(None::<(Instant, Instant)>));
    let watch_stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (b, f, s) = (bytes_read.clone(), first.clone(), watch_stop.clone());
        std::thread::spawn(move || {
            let mut seen = 0;
            while !s.load(Ordering::Relaxed) {
                let now = b.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    let t = Instant::now();
                    let mut g = f.lock().unwrap_or_else(|p| p.into_inner());
                    g.get_or_insert((t, t)).1 = t;
                }
                // Fine-grained until the first byte (the clock's start), then 10 ms: on two
                // cores, 1000 wake-ups a second took ~0.1 s of CPU from logpulse's ~1 s run
                // (context switches are dear in this VM), which the bare consumer does not pay.
                std::thread::sleep(Duration::from_micros(if seen == 0 { 200 } else { 10_000 }));
            }
        })
    };
    let cfg = PipelineConfig {
        framing: FramerConfig {
            max_lines: 250_000,
            max_line_len: 64 * 1024,
        },
        queue_depth: 2,
        ..Default::default()
    };
    let mut sinks: Vec<&mut dyn Sink> = vec![&mut meter, &mut commit];
    let totals = pipeline::run(
        vec![Box::new(job.source())],
        job.tap(vec![cpu]),
        &plan,
        &cfg,
        &mut sinks,
        Arc::new(AtomicBool::new(false)),
        bytes_read,
    )?;
    watch_stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    drop(sinks);
    let (t0, last_read) = first
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or("nothing read")?;
    let t1 = done_at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or("not all lines merged")?;
    if totals.lines < want {
        return Err(format!("merged {} of {want} lines", totals.lines).into());
    }
    mark(&format!("logpulse {topic}: first message"), t0);
    mark(&format!("logpulse {topic}: last message"), last_read);
    mark(&format!("logpulse {topic}: last line merged"), t1);
    eprintln!(
        "kafka_bench: logpulse {topic}: messages taken in {:.3} s, last line merged {:.3} s after the first message",
        (last_read - t0).as_secs_f64(),
        (t1 - t0).as_secs_f64()
    );
    Ok((want as f64 / (t1 - t0).as_secs_f64(), meter.latencies))
}

/// Extra librdkafka properties for logpulse's clients, from `KAFKA_BENCH_OPTIONS`
/// (`key=value,key=value`): for experiments with the consumer's settings.
fn bench_options() -> Res<Vec<(String, String)>> {
    let Ok(s) = std::env::var("KAFKA_BENCH_OPTIONS") else {
        return Ok(Vec::new());
    };
    s.split(',')
        .filter(|o| !o.trim().is_empty())
        .map(|o| logpulse_io::kafka::parse_option(o).map_err(|e| e.into()))
        .collect()
}

/// Extra librdkafka properties for the bare consumers, from `KAFKA_BENCH_BARE_OPTIONS`.
fn bare_options() -> Res<Vec<(String, String)>> {
    let Ok(s) = std::env::var("KAFKA_BENCH_BARE_OPTIONS") else {
        return Ok(Vec::new());
    };
    s.split(',')
        .filter(|o| !o.trim().is_empty())
        .map(|o| logpulse_io::kafka::parse_option(o).map_err(|e| e.into()))
        .collect()
}

/// Notes on stderr when a phase starts or ends (Unix time in ms), to line up with CPU samples
/// of the threads (`/proc/PID/task/*/stat`).
fn mark(what: &str, at: Instant) {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        .saturating_sub(at.elapsed().as_millis());
    eprintln!("kafka_bench: {what} at {ms}");
}

/// CPU seconds (user + system) this process used so far.
fn cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn main() -> Res<()> {
    // Which measurements: `batched,single,latency` (default all).
    let parts = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "batched,single,latency".into());
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let broker = TestBroker::start()?;
    let bs = broker.bootstrap();
    for t in ["batched", "single", "latency"] {
        broker.create_topic(t, 4)?;
    }
    let mut data = Vec::new();
    let mut g = Generator::new(GenConfig {
        lines: n,
        ..Default::default()
    });
    g.fill(&mut data, usize::MAX);
    let mut lines: Vec<&[u8]> = data.split(|&c| c == b'\n').collect();
    lines.retain(|l| !l.is_empty());
    let total = lines.len() as u64;
    eprintln!("producing {total} lines ...");
    produce(&bs, "batched", &lines, 1000, None)?;
    produce(&bs, "single", &lines, 1, None)?;

    if parts.contains("batched") {
        let (batched, _) = throughput(&bs, "batched", total, false)?;
        println!(
            "batched (1000 lines/message): {:.2} M lines/s",
            batched / 1e6
        );
    }
    if parts.contains("single") {
        // The reference: librdkafka's defaults, and the same with logpulse's fetch back-off
        // (`fetch.queue.backoff.ms=10`): with the default 1 s back-off the bare consumer too
        // stalls whenever it falls 100,000 messages behind on a partition.
        let extra = bare_options()?;
        let mut refs = Vec::new();
        for (label, group, backoff) in [
            ("defaults", "bare", None),
            ("backoff 10 ms", "bare-10", Some("10")),
        ] {
            let mut c = bare_config(&bs, group);
            if let Some(b) = backoff {
                c.set("fetch.queue.backoff.ms", b);
            }
            let cpu = cpu_secs();
            let (rate, backoffs) = bare(c, "single", total, &extra)?;
            println!(
                "bare rdkafka consumer (1 line/message, {label}): {:.2} M messages/s ({backoffs} fetch back-offs logged; {:.2} s of CPU in this process, join included)",
                rate / 1e6,
                cpu_secs() - cpu
            );
            refs.push(rate);
        }
        let bare_rate = refs.iter().copied().fold(0.0, f64::max);
        if parts.contains("batch") {
            let cpu = cpu_secs();
            let r = bare_batch(bare_config(&bs, "bare-batch"), "single", total)?;
            println!(
                "bare consumer, messages taken a batch at a time: {:.2} M messages/s ({:.2} s of CPU)",
                r / 1e6,
                cpu_secs() - cpu
            );
        }
        if parts.contains("like") {
            // Experiment: a bare poll loop with exactly logpulse's consumer properties.
            let cfg = KafkaConfig {
                brokers: bs.clone(),
                topic: "single".into(),
                group: "bare-like".into(),
                options: bench_options()?,
                linger: Duration::from_millis(200),
                exit_idle: None,
                out_topic: None,
                dlq_topic: None,
                partials_topic: None,
            };
            let (r, b) = bare(cfg.consumer_config(), "single", total, &extra)?;
            println!(
                "bare poll loop, logpulse's consumer properties: {:.2} M messages/s ({b} fetch back-offs)",
                r / 1e6
            );
        }
        let cpu = cpu_secs();
        let (single, _) = throughput(&bs, "single", total, false)?;
        println!(
            "logpulse (1 line/message): {:.2} M lines/s = {:.0}% of the best bare before it ({:.2} s of CPU)",
            single / 1e6,
            100.0 * single / bare_rate,
            cpu_secs() - cpu
        );
        if parts.contains("null") {
            let (r, _) = throughput(&bs, "single", total, true)?;
            println!(
                "logpulse, backend parsing nothing (1 line/message): {:.2} M lines/s",
                r / 1e6
            );
        }
        let mut c = bare_config(&bs, "bare-after");
        c.set("fetch.queue.backoff.ms", "10");
        let (bare_after, backoffs) = bare(c, "single", total, &extra)?;
        println!(
            "bare rdkafka consumer again, after logpulse (backoff 10 ms): {:.2} M messages/s ({backoffs} fetch back-offs logged)",
            bare_after / 1e6
        );
        println!(
            "logpulse / best bare of all three: {:.0}%",
            100.0 * single / bare_rate.max(bare_after)
        );
    }
    if !parts.contains("latency") {
        return Ok(());
    }
    // Latency: 4000 messages of 5 lines at 2000 lines/s; message i's lines have client "m<i>".
    let msgs = 4000usize;
    let lat_lines: Vec<Vec<u8>> = (0..msgs * 5)
        .map(|j| {
            format!(
                "m{}\t-\t{}\tGET\t/x\t200\t100\t\t",
                j / 5,
                804_571_201 + j as i64 / 200
            )
            .into_bytes()
        })
        .collect();
    let start = Instant::now() + Duration::from_secs(25); // after the group join
    let pace: Vec<Instant> = (0..msgs)
        .map(|i| start + Duration::from_micros(2500 * i as u64))
        .collect();
    let sent = Arc::new(pace.clone());
    let bs2 = bs.clone();
    let producer = std::thread::spawn(move || {
        produce(&bs2, "latency", &refs_owned(&lat_lines), 5, Some(&pace))
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let (_, mut lat) = logpulse(
        &bs,
        "latency",
        (msgs * 5) as u64,
        WindowSpec::PerBatch,
        Duration::from_millis(50),
        Some(sent),
        Duration::from_secs(40),
        false,
    )?;
    producer.join().map_err(|_| "producer panicked")??;
    println!(
        "produce -> window result (per-batch windows, linger 50 ms, 2000 lines/s): p50 {:.1} ms, p99 {:.1} ms ({} samples)",
        quantile(&mut lat, 0.5).as_secs_f64() * 1e3,
        quantile(&mut lat, 0.99).as_secs_f64() * 1e3,
        lat.len()
    );
    Ok(())
}

fn refs_owned(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(|l| l.as_slice()).collect()
}
