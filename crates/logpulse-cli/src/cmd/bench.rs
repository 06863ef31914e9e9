//! `logpulse bench`: throughput (GB/s, lines/s), per-batch latency and peak memory, on a given
//! file or on generated input held in memory.
//!
//! Two measurements per repetition:
//! - `pipeline`: the whole job from memory (framing, backend, windows, totals), as `run` does it;
//! - `backend`: the backend alone on batches framed beforehand (parse + aggregate).

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use logpulse_core::batch::{Batch, BufferPool};
use logpulse_core::framer::Framer;
use logpulse_core::gen::{GenConfig, Generator};
use logpulse_core::pipeline::{self, BatchStats, Sink};
use logpulse_core::window::RunTotals;
use logpulse_io::source::MemorySource;
use serde_json::json;

use crate::args::BenchArgs;
use crate::setup;

/// Collects per-batch latencies.
#[derive(Default)]
struct LatencySink {
    latencies: Vec<Duration>,
}

impl Sink for LatencySink {
    fn batch(&mut self, s: &BatchStats, _t: &RunTotals) -> std::io::Result<()> {
        self.latencies.push(s.latency);
        Ok(())
    }
}

fn load(a: &BenchArgs) -> Result<(Vec<u8>, String)> {
    match &a.input {
        Some(p) => {
            let mut f =
                std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            let mut data = Vec::new();
            f.read_to_end(&mut data)
                .with_context(|| format!("reading {}", p.display()))?;
            if logpulse_io::source::is_gzip(&data) {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(&data[..])
                    .read_to_end(&mut out)
                    .with_context(|| format!("decompressing {}", p.display()))?;
                data = out;
            }
            Ok((data, p.display().to_string()))
        }
        None => {
            let cfg = GenConfig {
                lines: a.lines,
                format: crate::cmd::gen::layout(a.gen_format),
                ..Default::default()
            };
            let mut data = Vec::new();
            let mut g = Generator::new(cfg);
            g.fill(&mut data, usize::MAX);
            Ok((
                data,
                format!("generated {:?}, {} lines, seed 1995", a.gen_format, a.lines),
            ))
        }
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Frames `data` into batches once (for the backend-only measurement).
fn preframe(data: &[u8], a: &BenchArgs, pool: BufferPool) -> Vec<Batch> {
    let cfg = setup::pipeline_config(&a.job);
    Framer::new(pool, cfg.framing, "bench".into()).frame_all(data, 4 << 20)
}

pub fn run(a: BenchArgs) -> Result<()> {
    let (data, input_desc) = load(&a)?;
    let (format, note) =
        setup::resolve_format(&a.job, Some(&data[..data.len().min(setup::SAMPLE_BYTES)]))?;
    let plan = setup::plan(&a.job, format)?;
    let cfg = setup::pipeline_config(&a.job);
    let data: Arc<[u8]> = data.into();
    let bytes = data.len() as f64;
    let mut pipeline_secs = Vec::new();
    let mut latencies = Vec::new();
    let mut lines = 0;
    let mut backend_desc = String::new();
    let mut best_clock: Option<(f64, String)> = None;
    for _ in 0..a.repeat.max(1) {
        let (mut backends, desc) = setup::backends(&a.job, &plan, cfg.queue_depth, true)?;
        backend_desc = desc;
        let pool = backends.first().map(|b| b.pool());
        // Backends started and buffers made before the clock starts: a stream pays for them
        // once, at its start (`run` overlaps that start with reading).
        for b in backends.iter_mut() {
            b.wait_started()?;
        }
        if let Some(p) = &pool {
            p.prefill();
        }
        let mut lat = LatencySink::default();
        let mut cfg = cfg.clone();
        cfg.clock = Arc::default();
        let t0 = Instant::now();
        let totals = pipeline::run(
            vec![Box::new(MemorySource::new("bench", data.clone()))],
            backends,
            &plan,
            &cfg,
            &mut [&mut lat],
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        )?;
        let secs = t0.elapsed().as_secs_f64();
        pipeline_secs.push(secs);
        if best_clock.as_ref().is_none_or(|(s, _)| secs < *s) {
            let (waited, made) = pool.map_or((0.0, 0.0), |p| p.wait_secs());
            best_clock = Some((
                secs,
                format!(
                    "{}; framer waited {waited:.3}s for free buffers (made {made:.3}s)",
                    cfg.clock
                ),
            ));
        }
        lines = totals.lines;
        latencies = lat.latencies;
    }
    // Peak memory of the streaming pipeline, before the backend-only run holds all batches.
    let rss = logpulse_io::memory::peak_rss_bytes().unwrap_or(0);
    // Backend alone, on batches framed beforehand.
    // One backend on all the threads: what one batch costs, whatever the pipeline's layout.
    let mut one = a.job.clone();
    one.cpu_workers = 1;
    let (mut backends, _) = setup::backends(&one, &plan, cfg.queue_depth, false)?;
    let backend = &mut backends[0];
    backend.wait_started()?;
    let n_batches = data.len() / (a.job.batch_mib.max(1) << 20)
        + data.len() / 40 / a.job.batch_lines.max(1)
        + 4;
    let pool = setup::batch_pool(&a.job, n_batches.max(4) * 2, a.job.batch_mib.max(1) << 20)?;
    let mut backend_secs = Vec::new();
    for _ in 0..a.repeat.max(1) {
        let batches = preframe(&data, &a, pool.clone());
        let t0 = Instant::now();
        // As the pipeline drives it (pipelined on a GPU), with nothing after it.
        backend.run(&mut batches.into_iter(), &mut |_| true)?;
        backend_secs.push(t0.elapsed().as_secs_f64());
    }
    pipeline_secs.sort_by(f64::total_cmp);
    backend_secs.sort_by(f64::total_cmp);
    latencies.sort();
    let best = pipeline_secs[0];
    let median = pipeline_secs[pipeline_secs.len() / 2];
    let clock_line = best_clock.map(|(_, c)| c).unwrap_or_default();
    let result = json!({
        "input": input_desc,
        "format": plan.format.name,
        "backend": backend_desc,
        "bytes": data.len(),
        "lines": lines,
        "batch_lines": a.job.batch_lines,
        "batches": latencies.len(),
        "pipeline_gb_per_s_best": bytes / best / 1e9,
        "pipeline_gb_per_s_median": bytes / median / 1e9,
        "pipeline_lines_per_s_best": lines as f64 / best,
        "backend_gb_per_s_best": bytes / backend_secs[0] / 1e9,
        "batch_latency_ms": {"p50": ms(quantile(&latencies, 0.5)), "p99": ms(quantile(&latencies, 0.99)), "max": ms(quantile(&latencies, 1.0))},
        "peak_rss_mib": rss as f64 / (1 << 20) as f64,
        "stages_of_best_run": clock_line,
        "repeat": a.repeat,
    });
    if a.json {
        println!("{result}");
    } else {
        eprintln!("logpulse: {note}");
        println!("input      {input_desc}");
        println!("format     {}   backend {backend_desc}", plan.format.name);
        println!(
            "size       {:.1} MB, {lines} lines, {} batches of <= {} lines",
            bytes / 1e6,
            latencies.len(),
            a.job.batch_lines
        );
        println!(
            "pipeline   best {:.3} GB/s ({:.2} M lines/s), median {:.3} GB/s",
            bytes / best / 1e9,
            lines as f64 / best / 1e6,
            bytes / median / 1e9
        );
        println!(
            "backend    best {:.3} GB/s (parse + aggregate only)",
            bytes / backend_secs[0] / 1e9
        );
        println!("stages     {clock_line}");
        println!(
            "latency    per batch p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(quantile(&latencies, 0.5)),
            ms(quantile(&latencies, 0.99)),
            ms(quantile(&latencies, 1.0))
        );
        println!(
            "memory     peak RSS {:.1} MiB (input held in memory: {:.1} MiB)",
            rss as f64 / (1 << 20) as f64,
            bytes / (1 << 20) as f64
        );
    }
    Ok(())
}
