//! Resolves raw flags into a [`Plan`], backends and framing: the second step of flag parsing.
//! Nothing below the CLI sees a flag.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use logpulse_core::batch::BufferPool;
use logpulse_core::filter::Filters;
use logpulse_core::format::detect::detect;
use logpulse_core::format::{Format, JsonMap, KeyField};
use logpulse_core::framer::FramerConfig;
use logpulse_core::pipeline::PipelineConfig;
use logpulse_core::plan::{Plan, Thresholds, WindowSpec};
use logpulse_core::{Backend, CpuBackend};

use crate::args::JobArgs;

/// Bytes of input read to detect the format.
pub const SAMPLE_BYTES: usize = 256 * 1024;

/// Parses `500ms`, `30s`, `1m`, `2h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid duration {s:?} (try 500ms, 30s, 1m, 1h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => bail!("invalid duration unit in {s:?} (use ms, s, m, h or d)"),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        bail!("invalid duration {s:?}");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The first bytes of a file (decompressed if gzip), for format detection.
pub fn sample_file(path: &Path) -> Result<Vec<u8>> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = vec![0u8; SAMPLE_BYTES];
    let mut n = 0;
    while n < head.len() {
        let r = f
            .read(&mut head[n..])
            .with_context(|| format!("reading {}", path.display()))?;
        if r == 0 {
            break;
        }
        n += r;
    }
    head.truncate(n);
    if logpulse_io::source::is_gzip(&head) {
        let mut out = Vec::new();
        let gz = flate2_reader(path)?;
        gz.take(SAMPLE_BYTES as u64).read_to_end(&mut out).ok();
        return Ok(out);
    }
    Ok(head)
}

fn flate2_reader(path: &Path) -> Result<Box<dyn Read>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(flate2::read::MultiGzDecoder::new(
        std::io::BufReader::new(f),
    )))
}

/// Resolves the format: a preset name, or `auto` with a sample. Returns it and a note for the
/// user saying what was picked and why.
pub fn resolve_format(job: &JobArgs, sample: Option<&[u8]>) -> Result<(Format, String)> {
    if let Some(fmt) = &job.log_format {
        let f = Format::apache(fmt).map_err(|e| anyhow::anyhow!("--log-format: {e}"))?;
        return Ok((f, format!("format from --log-format {fmt:?}")));
    }
    if let Some(fmt) = &job.nginx_format {
        let f = Format::nginx(fmt).map_err(|e| anyhow::anyhow!("--nginx-format: {e}"))?;
        return Ok((f, format!("format from --nginx-format {fmt:?}")));
    }
    if let Some(map) = &job.json_map {
        let m = JsonMap::parse(map).map_err(|e| anyhow::anyhow!("--json-map: {e}"))?;
        return Ok((Format::json(m), "format json lines with --json-map".into()));
    }
    let name = job.format.as_str();
    if name == "json" {
        bail!("--format json needs --json-map (record field = JSON path, ...)");
    }
    if name != "auto" {
        let f = Format::preset(name).with_context(|| {
            format!("unknown format {name:?}; `logpulse formats` lists the known ones")
        })?;
        return Ok((f, format!("format {}", name)));
    }
    let sample = sample.unwrap_or_default();
    match detect(sample) {
        Some(d) => Ok((d.format, format!("format auto: {}", d.reason))),
        None if sample.is_empty() => {
            // Nothing to look at (empty input): any format gives the same empty result.
            Ok((
                Format::preset("combined").expect("preset"),
                "format auto: empty input, using combined".into(),
            ))
        }
        None => bail!(
            "could not detect the log format: no known format parses the first lines; \
             pass --format (see `logpulse formats`)"
        ),
    }
}

/// Builds the plan from flags and a resolved format.
pub fn plan(job: &JobArgs, format: Format) -> Result<Plan> {
    let key = KeyField::parse(&job.key).with_context(|| {
        format!(
            "unknown key {:?}; use one of: {}",
            job.key,
            KeyField::NAMES.map(|(n, _)| n).join(", ")
        )
    })?;
    let window = if job.window == "batch" {
        WindowSpec::PerBatch
    } else {
        let secs = parse_duration(&job.window)?.as_secs() as i64;
        if secs < 1 {
            bail!("--window must be at least 1s (or `batch`)");
        }
        WindowSpec::Tumbling { secs }
    };
    let session_gap_secs = session_gap(job, key, window)?;
    Ok(Plan {
        format,
        key,
        window,
        lateness_secs: parse_duration(&job.lateness)?.as_secs() as i64,
        thresholds: Thresholds {
            requests: job.threshold_requests,
            mb_sent: job.threshold_mb,
            every_5xx: !job.no_5xx_alerts,
        },
        filters: Filters::parse(&job.filter)?,
        session_gap_secs,
    })
}

/// The session gap the flags ask for: `--session-gap`, else 30 minutes when sessions make sense
/// (clients over event-time windows), else none.
fn session_gap(job: &JobArgs, key: KeyField, window: WindowSpec) -> Result<Option<i64>> {
    let fits = key == KeyField::Client && matches!(window, WindowSpec::Tumbling { .. });
    match job.session_gap.as_deref().map(str::trim) {
        None => Ok(fits.then_some(logpulse_core::plan::DEFAULT_SESSION_GAP_SECS)),
        Some("off") => Ok(None),
        Some(gap) => {
            if key != KeyField::Client {
                bail!("--session-gap: sessions are per client; it needs --key client (or `off`)");
            }
            if !fits {
                bail!(
                    "--session-gap needs event-time windows (a duration for --window, not `batch`)"
                );
            }
            let secs = parse_duration(gap)?.as_secs() as i64;
            if secs < 1 {
                bail!("--session-gap must be at least 1s (or `off`)");
            }
            Ok(Some(secs))
        }
    }
}

/// Batches queued between the source and the backends: `LOGPULSE_QUEUE_DEPTH` if set
/// (measurements), else 2.
fn queue_depth() -> usize {
    logpulse_core::env_number::<usize>("LOGPULSE_QUEUE_DEPTH").map_or(2, |n| n.clamp(1, 64))
}

/// Framing and queue settings.
pub fn pipeline_config(job: &JobArgs) -> PipelineConfig {
    PipelineConfig {
        framing: FramerConfig {
            max_lines: job.batch_lines.max(1),
            max_line_len: job.max_line_kib.max(1) * 1024,
        },
        queue_depth: queue_depth(),
        checkpoint: None,
        clock: Default::default(),
    }
}

/// Buffers in the batch pool: queued + one per worker in flight (two for overlap) + the one
/// being framed. (The parallel framer fills one batch at a time with all its threads, and the
/// next one's head: no buffer per thread. A GPU pool is page-locked, pinned at ~1.5-2 GB/s on
/// the H200 machine, so each buffer not needed is ~40 ms of start-up.)
fn pool_buffers(workers: usize, queue_depth: usize) -> usize {
    queue_depth + 2 * workers + 1
}

/// A pool of `buffers` batch buffers of `capacity` bytes for the backends `job` asks for:
/// page-locked when they are GPUs (copies to the device at full speed), else ordinary memory.
pub fn batch_pool(job: &JobArgs, buffers: usize, capacity: usize) -> Result<BufferPool> {
    Ok(match crate::gpu::ordinals(job.backend.as_str())? {
        Some(_) => logpulse_gpu::pinned_pool(buffers, capacity)
            .context("allocating pinned batch buffers")?,
        None => BufferPool::heap(buffers, capacity),
    })
}

/// Creates the backends the flags ask for. Returns them and a description for the user.
/// `bulk`: the input is read as fast as it goes (files to their end, benchmarks), so the CPU
/// backend is laid out for throughput rather than per-batch latency (see `cpu_layout`).
pub fn backends(
    job: &JobArgs,
    plan: &Plan,
    queue_depth: usize,
    bulk: bool,
) -> Result<(Vec<Box<dyn Backend>>, String)> {
    let plan = Arc::new(plan.clone());
    let capacity = job.batch_mib.max(1) * 1024 * 1024;
    let choice = job.backend.as_str();
    let gpus = crate::gpu::ordinals(choice)?;
    if let Some(ordinals) = gpus {
        return crate::gpu::backends(
            plan,
            &ordinals,
            // A GPU worker holds more buffers than a CPU one: batches on the device and
            // batches whose rejected lines are being cut.
            pool_buffers(2 * ordinals.len(), queue_depth),
            capacity,
        );
    }
    let threads = match job.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let (workers, each) = cpu_layout(&plan, threads, job.cpu_workers, bulk);
    let pool = BufferPool::heap(pool_buffers(workers, queue_depth), capacity);
    let mut out: Vec<Box<dyn Backend>> = Vec::with_capacity(workers);
    for _ in 0..workers {
        out.push(Box::new(CpuBackend::new(plan.clone(), each, pool.clone())?));
    }
    let mut desc = out[0].describe();
    if workers > 1 {
        desc = format!("{workers} x {desc}");
    }
    if choice == "auto" {
        desc = format!("{desc}; auto: {}", crate::gpu::absent_reason());
    }
    Ok((out, desc))
}

/// How the CPU backend spends `threads`: (workers, threads each). A worker takes one batch
/// at a time; the pipeline merges their partials in order. With one worker on all threads a
/// batch is done soonest, but the cores idle while it finishes its last piece and merges its
/// pieces, and whenever the source or the windows stage holds a core; one worker per thread
/// keeps them busy (2-core VM, `logpulse bench` pipeline: CLF 0.95-1.07 -> 1.26-1.43 GB/s, TSV
/// 0.78-0.94 -> 1.02-1.10) at about twice the time per batch. So `asked` 0 picks one worker
/// per thread for `bulk` input and one worker on all threads otherwise. W3C logs keep one
/// worker: a `#Fields:` directive changes the layout of the batches after it, which one
/// backend must see in order.
fn cpu_layout(plan: &Plan, threads: usize, asked: usize, bulk: bool) -> (usize, usize) {
    let threads = threads.max(1);
    let workers = match asked {
        _ if plan.format.line.w3c => 1,
        0 if bulk => threads,
        0 => 1,
        n => n.min(threads),
    };
    (workers, (threads / workers).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use logpulse_core::format::Format;

    #[test]
    fn cpu_layout_per_input_kind() {
        let clf = Plan::reference(Format::preset("common").expect("preset"));
        let w3c = Plan::reference(Format::preset("iis_w3c").expect("preset"));
        // Bulk input: one worker per thread; live input: one worker on all of them.
        assert_eq!(cpu_layout(&clf, 16, 0, true), (16, 1));
        assert_eq!(cpu_layout(&clf, 16, 0, false), (1, 16));
        // Asked for: the threads shared out, never more workers than threads.
        assert_eq!(cpu_layout(&clf, 16, 4, false), (4, 4));
        assert_eq!(cpu_layout(&clf, 2, 5, true), (2, 1));
        // W3C layouts must be followed in batch order: one worker whatever is asked.
        assert_eq!(cpu_layout(&w3c, 16, 0, true), (1, 16));
        assert_eq!(cpu_layout(&w3c, 16, 4, true), (1, 16));
    }
}
