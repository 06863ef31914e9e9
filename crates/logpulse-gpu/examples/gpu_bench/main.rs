//! GPU backend benchmark: end to end from pinned memory, kernels alone, per-batch latency,
//! where the time goes, and the pinned copy bandwidth that bounds it all.
//!
//! `gpu_bench [--lines N] [--batch-lines N] [--reps N] [--formats nasa_tsv,clf,combined,caddy_json]`
//! on generated NASA-like TSV, CLF, combined and Caddy JSON (`logpulse_core::gen`,
//! deterministic). Prints a table at the end. Also measures the copy ceiling of the run's own
//! buffers, alone and beside host threads streaming memory (`ceiling.rs`).
//!
//! `gpu_bench --devices 0,1 [--lines N] [--batch-lines N] [--reps N]`: multi-GPU mode. CLF
//! generated on every core (one generator a thread), held in portable pinned memory; the
//! reference job run by one GPU backend (the first device listed) and then by one backend per
//! listed device fed from one queue (`logpulse_gpu::run_shared`, as the pipeline does);
//! `--devices 0,0` is two workers on one GPU. Checks every batch's partial is the same in both
//! runs and prints throughput, scaling, concurrent H2D and host memory read bandwidth.

use std::sync::Arc;

// As the `logpulse` binary does: freed per-batch tables are reused instead of page-faulting
// fresh memory for every partial (which costs more than building it).
#[global_allocator]
static GLOBAL: logpulse_core::alloc::MiMalloc = logpulse_core::alloc::MiMalloc;
use std::time::Instant;

use logpulse_core::batch::{Batch, BatchBuf, BufferPool, Origin};
use logpulse_core::format::Format;
use logpulse_core::gen::{GenConfig, GenFormat, Generator};
use logpulse_core::plan::Plan;
use logpulse_core::{Backend, CpuBackend};
use logpulse_gpu::{GpuBackend, StageTimes};

mod ceiling;
mod multi;

struct Args {
    lines: u64,
    batch_lines: usize,
    reps: usize,
    devices: Vec<usize>,
    /// Formats of the single-device mode (`--formats clf,combined`; default all).
    formats: Vec<String>,
    /// Device depths (batches in flight) the end-to-end run is measured at (`--depths 2,4`).
    depths: Vec<usize>,
    /// Partial builder thread counts the pinned end-to-end run is also measured with
    /// (`--builders 2,4`; default: only the backend's default).
    builders: Vec<usize>,
}

fn args() -> Args {
    let mut a = Args {
        lines: 10_000_000,
        batch_lines: 250_000,
        reps: 3,
        devices: Vec::new(),
        formats: Vec::new(),
        depths: vec![2, 3, 4],
        builders: Vec::new(),
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for w in v.windows(2) {
        let n = w[1].parse::<u64>().unwrap_or(0);
        match w[0].as_str() {
            "--lines" if n > 0 => a.lines = n,
            "--batch-lines" if n > 0 => a.batch_lines = n as usize,
            "--reps" if n > 0 => a.reps = n as usize,
            "--formats" => a.formats = w[1].split(',').map(|f| f.trim().to_string()).collect(),
            "--builders" => {
                a.builders = w[1]
                    .split(',')
                    .filter_map(|d| d.trim().parse().ok())
                    .collect()
            }
            "--depths" => {
                a.depths = w[1]
                    .split(',')
                    .filter_map(|d| d.trim().parse().ok())
                    .collect()
            }
            "--devices" => {
                a.devices = w[1]
                    .split(',')
                    .filter_map(|d| d.trim().parse().ok())
                    .collect()
            }
            _ => {}
        }
    }
    a
}

/// Byte ranges of batches of `n` lines.
fn cut(bytes: &[u8], n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let (mut start, mut count) = (0, 0);
    for (i, &c) in bytes.iter().enumerate() {
        if c == b'\n' {
            count += 1;
            if count == n {
                out.push((start, i + 1));
                start = i + 1;
                count = 0;
            }
        }
    }
    if start < bytes.len() {
        out.push((start, bytes.len()));
    }
    out
}

fn pinned_batches(pool: &BufferPool, bytes: &[u8], ranges: &[(usize, usize)]) -> Vec<Batch> {
    let mut line = 1;
    ranges
        .iter()
        .enumerate()
        .map(|(i, &(s, e))| {
            let mut buf = pool.acquire();
            buf.extend_from_slice(&bytes[s..e]);
            let lines = bytes[s..e].iter().filter(|&&c| c == b'\n').count() as u64;
            let b = Batch {
                seq: i as u64,
                buf,
                lines,
                origin: Origin {
                    source: "bench".into(),
                    first_line: line,
                    offset: s as u64,
                },
                skipped: Vec::new(),
            };
            line += lines;
            b
        })
        .collect()
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn median32(v: &mut [f32]) -> f64 {
    let mut d: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    pct(&mut d, 0.5)
}

#[derive(Default)]
struct Row {
    name: &'static str,
    mb: f64,
    lines: u64,
    groups_per_batch: f64,
    e2e: f64,
    /// End to end with results read back into ordinary memory.
    e2e_heap: f64,
    kern_batch: f64,
    kern_big: f64,
    h2d: f64,
    lat: (f64, f64, f64),
    lat_dev: (f64, f64, f64),
    stages: StageTimes,
    /// One CPU backend on all cores, one batch at a time.
    cpu: f64,
    /// One one-thread CPU backend a core, as `logpulse run` lays out bulk input.
    cpu_workers: f64,
}

fn bench(name: &'static str, gf: GenFormat, preset: &str, a: &Args) -> Result<Row, String> {
    let t = Instant::now();
    let mut g = Generator::new(GenConfig {
        lines: a.lines,
        format: gf,
        ..Default::default()
    });
    let mut bytes = Vec::new();
    g.fill(&mut bytes, usize::MAX);
    let ranges = cut(&bytes, a.batch_lines);
    let max = ranges.iter().map(|(s, e)| e - s).max().unwrap_or(1);
    eprintln!(
        "[{name}] generated {} lines, {:.1} MB, {} batches in {:.1}s",
        a.lines,
        bytes.len() as f64 / 1e6,
        ranges.len(),
        t.elapsed().as_secs_f64()
    );
    let plan = Arc::new(Plan::reference(
        Format::preset(preset).ok_or("unknown preset")?,
    ));
    let pool = logpulse_gpu::pinned_pool(ranges.len() + 2, max).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut gpu = GpuBackend::new(plan.clone(), 0, pool.clone()).map_err(|e| e.to_string())?;
    eprintln!(
        "[{name}] {} ready in {:.2}s (NVRTC + load)",
        gpu.describe(),
        t.elapsed().as_secs_f64()
    );

    // Correctness spot check: first batch, GPU vs CPU.
    let mut cpu =
        CpuBackend::new(plan.clone(), 0, BufferPool::heap(2, 16)).map_err(|e| e.to_string())?;
    let (s0, e0) = ranges[0];
    let check =
        |p: &logpulse_core::Partial| (p.lines, p.records, p.rejected(), p.groups.len(), p.max_time);
    let gp = gpu
        .process(pinned_batches(&pool, &bytes, &ranges[..1]).remove(0))
        .map_err(|e| e.to_string())?;
    let cp = cpu
        .process(Batch::from_bytes(
            0,
            bytes[s0..e0].to_vec(),
            Origin {
                source: "bench".into(),
                first_line: 1,
                offset: 0,
            },
        ))
        .map_err(|e| e.to_string())?;
    if check(&gp) != check(&cp) {
        return Err(format!("GPU {:?} != CPU {:?}", check(&gp), check(&cp)));
    }
    eprintln!("[{name}] batch 0 agrees with the CPU: {:?}", check(&gp));
    if std::env::var_os("LOGPULSE_BENCH_KERNELS_ONLY").is_some() {
        let (_, kern_batch, kern_big) = kernels_only(&mut gpu, &pool, &bytes, &ranges, name)?;
        return Ok(Row {
            name,
            mb: bytes.len() as f64 / 1e6,
            lines: a.lines,
            kern_batch,
            kern_big,
            ..Row::default()
        });
    }

    // (c) + (d): per-batch latency and stage breakdown, one batch at a time.
    let mut lat = Vec::new();
    let mut lat_dev = Vec::new();
    let mut sum = StageTimes::default();
    let mut groups = 0usize;
    // Results come back into page-locked memory, as in `logpulse run` (its default), into
    // buffers allocated before the clock starts, as `run` does at setup.
    let readback_bytes = max / 5;
    gpu.set_pinned_readback(true);
    gpu.prepare_readback(readback_bytes)
        .map_err(|e| e.to_string())?;
    // Warm-up (clocks, allocator): a few batches, not measured.
    for b in pinned_batches(&pool, &bytes, &ranges[..ranges.len().min(4)]) {
        gpu.process_timed(b).map_err(|e| e.to_string())?;
    }
    // Every batch `reps` times, so the p99 is not just the slowest of 40.
    let nb = ranges.len() * a.reps;
    let mut slowest: Vec<(f64, usize, f32)> = Vec::new();
    for rep in 0..a.reps {
        for (bi, b) in pinned_batches(&pool, &bytes, &ranges)
            .into_iter()
            .enumerate()
        {
            let t = Instant::now();
            let (p, st) = gpu.process_timed(b).map_err(|e| e.to_string())?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            lat.push(ms);
            lat_dev.push(ms - st.build_ms as f64);
            slowest.push((ms, rep * ranges.len() + bi, st.build_ms));
            groups += p.groups.len();
            sum.copy_ms += st.copy_ms;
            sum.index_ms += st.index_ms;
            sum.parse_ms += st.parse_ms;
            sum.compact_ms += st.compact_ms;
            sum.readback_ms += st.readback_ms;
            sum.build_ms += st.build_ms;
        }
    }
    slowest.sort_by(|x, y| y.0.total_cmp(&x.0));
    let worst: Vec<String> = slowest
        .iter()
        .take(5)
        .map(|(ms, i, b)| format!("#{i} {ms:.2} ms (build {b:.2})"))
        .collect();
    eprintln!("[{name}] slowest batches of {nb}: {}", worst.join(", "));
    let k = nb as f32;
    let stages = StageTimes {
        copy_ms: sum.copy_ms / k,
        index_ms: sum.index_ms / k,
        parse_ms: sum.parse_ms / k,
        compact_ms: sum.compact_ms / k,
        readback_ms: sum.readback_ms / k,
        build_ms: sum.build_ms / k,
    };
    let lat = (pct(&mut lat, 0.5), pct(&mut lat, 0.99), pct(&mut lat, 1.0));
    let lat_dev = (
        pct(&mut lat_dev, 0.5),
        pct(&mut lat_dev, 0.99),
        pct(&mut lat_dev, 1.0),
    );

    // (a) end to end, pipelined run over all batches from pinned memory, results read back
    // into pinned memory (asynchronous, the default) and into ordinary memory (synchronous,
    // staged by the driver); best of `reps` each.
    let (mut e2e, mut e2e_heap): (f64, f64) = (0.0, 0.0);
    let sweep = a
        .depths
        .iter()
        .flat_map(|&d| [(d, true), (d, false)])
        .collect::<Vec<_>>();
    for (depth, pinned) in sweep {
        gpu.set_depth(depth).map_err(|e| e.to_string())?;
        gpu.set_pinned_readback(pinned);
        gpu.prepare_readback(readback_bytes)
            .map_err(|e| e.to_string())?;
        for _ in 0..a.reps {
            let mut it = pinned_batches(&pool, &bytes, &ranges).into_iter();
            let before = Faults::now();
            let t = Instant::now();
            let records = consume_elsewhere(|out| gpu.run(&mut it, out))?;
            // End to end = the backend's run: first batch in to last partial handed over
            // (the consumer dropping its last partials after that is not the backend's work).
            let with_consumer = t.elapsed().as_secs_f64();
            let faults = Faults::now().since(&before);
            let s = gpu.last_run_stats().wall_s;
            let gbs = bytes.len() as f64 / s / 1e9;
            let best = if pinned { &mut e2e } else { &mut e2e_heap };
            *best = best.max(gbs);
            eprintln!(
                "[{name}] run (depth {depth}, readback {}): {records} records in {s:.3}s = {gbs:.1} GB/s \
                 ({with_consumer:.3}s until the consumer is done; {faults}); {}",
                if pinned { "pinned" } else { "pageable" },
                gpu.last_run_stats()
            );
        }
    }
    gpu.set_pinned_readback(true);
    gpu.prepare_readback(readback_bytes)
        .map_err(|e| e.to_string())?;
    ceiling::report(&mut gpu, &pinned_batches(&pool, &bytes, &ranges), name)?;
    // Builder thread counts (pinned readback, depth 2).
    gpu.set_depth(2).map_err(|e| e.to_string())?;
    let default_builders = gpu.build_threads();
    for &n in &a.builders {
        gpu.set_build_threads(n);
        gpu.prepare_readback(readback_bytes)
            .map_err(|e| e.to_string())?;
        for _ in 0..a.reps {
            let mut it = pinned_batches(&pool, &bytes, &ranges).into_iter();
            consume_elsewhere(|out| gpu.run(&mut it, out))?;
            let st = gpu.last_run_stats();
            eprintln!(
                "[{name}] run (depth 2, pinned, {n} builders): {:.1} GB/s; {st}",
                bytes.len() as f64 / st.wall_s / 1e9
            );
        }
    }
    gpu.set_build_threads(default_builders);
    // The same run with the partials dropped on the feeding thread (the consumer inline), to
    // show what a slow `out` costs.
    gpu.set_depth(2).map_err(|e| e.to_string())?;
    for _ in 0..2 {
        let mut it = pinned_batches(&pool, &bytes, &ranges).into_iter();
        let t = Instant::now();
        gpu.run(&mut it, &mut |p| p.records > 0)
            .map_err(|e| e.to_string())?;
        let s = t.elapsed().as_secs_f64();
        eprintln!(
            "[{name}] run (depth 2, pinned, partials dropped on the feeding thread): {:.1} GB/s; {}",
            bytes.len() as f64 / s / 1e9,
            gpu.last_run_stats()
        );
    }

    // (b) kernels only, batch already on the device: one batch, then one big batch.
    let (b0, kern_batch, kern_big) = kernels_only(&mut gpu, &pool, &bytes, &ranges, name)?;

    // (e) pinned host-to-device copy bandwidth (the anchor).
    let mut ct = gpu.time_copy(b0.bytes(), 20).map_err(|e| e.to_string())?;
    let h2d = (e0 - s0) as f64 / (median32(&mut ct) / 1e3) / 1e9;
    drop(b0);

    // CPU backend on the same batches, for reference.
    let t = Instant::now();
    for (i, &(s, e)) in ranges.iter().enumerate() {
        let b = heap_batch(i, &bytes[s..e]);
        cpu.process(b).map_err(|e| e.to_string())?;
    }
    let cpu_gbs = bytes.len() as f64 / t.elapsed().as_secs_f64() / 1e9;
    let cpu_workers = cpu_workers_gbs(&plan, &bytes, &ranges)?;
    eprintln!(
        "[{name}] cpu: {cpu_gbs:.2} GB/s one backend, {cpu_workers:.2} GB/s one worker a core"
    );

    Ok(Row {
        name,
        mb: bytes.len() as f64 / 1e6,
        lines: a.lines,
        groups_per_batch: groups as f64 / nb as f64,
        e2e,
        e2e_heap,
        kern_batch,
        kern_big,
        h2d,
        lat,
        lat_dev,
        stages,
        cpu: cpu_gbs,
        cpu_workers,
    })
}

/// A heap batch over a copy of `bytes` (the CPU backend's input), batch `seq`.
fn heap_batch(seq: usize, bytes: &[u8]) -> Batch {
    Batch {
        seq: seq as u64,
        buf: BatchBuf::from_vec(bytes.to_vec()),
        lines: 0,
        origin: Origin::default(),
        skipped: Vec::new(),
    }
}

/// The CPU backend on the same batches as `logpulse run` lays out bulk input: one one-thread
/// backend a core, batches dealt in turn, each partial dropped by its worker (the GPU's end to
/// end figure likewise stops at the partials). Batches are copied before the clock starts.
fn cpu_workers_gbs(
    plan: &Arc<Plan>,
    bytes: &[u8],
    ranges: &[(usize, usize)],
) -> Result<f64, String> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut work: Vec<(CpuBackend, Vec<Batch>)> = (0..n)
        .map(|_| CpuBackend::new(plan.clone(), 1, BufferPool::heap(2, 16)).map(|b| (b, Vec::new())))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    for (i, &(s, e)) in ranges.iter().enumerate() {
        work[i % n].1.push(heap_batch(i, &bytes[s..e]));
    }
    let t = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .into_iter()
            .map(|(mut cpu, batches)| {
                scope.spawn(move || {
                    batches
                        .into_iter()
                        .try_for_each(|b| cpu.process(b).map(drop))
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| "a CPU worker panicked".to_string())?)
    })?;
    Ok(ranges.last().map_or(0, |r| r.1) as f64 / t.elapsed().as_secs_f64() / 1e9)
}

/// (b) The kernels alone, the batch already on the device: the first batch 50 times, then one
/// big batch (the first 16 batches) 10 times. Returns the first batch (pinned) and both GB/s.
/// `LOGPULSE_BENCH_KERNELS_ONLY=1` runs only this part (for `ncu`: few launches to skip).
fn kernels_only(
    gpu: &mut GpuBackend,
    pool: &BufferPool,
    bytes: &[u8],
    ranges: &[(usize, usize)],
    name: &str,
) -> Result<(Batch, f64, f64), String> {
    let (s0, e0) = ranges[0];
    let b0 = pinned_batches(pool, bytes, &ranges[..1]).remove(0);
    let kt = gpu.time_kernels(&b0, 50).map_err(|e| e.to_string())?;
    let mut tot: Vec<f32> = kt
        .iter()
        .map(|t| t.index_ms + t.parse_ms + t.compact_ms)
        .collect();
    let kern_batch = (e0 - s0) as f64 / (median32(&mut tot) / 1e3) / 1e9;
    let big_end = ranges[ranges.len().min(16) - 1].1;
    let big = Batch::from_bytes(0, bytes[..big_end].to_vec(), Origin::default());
    let kt = gpu.time_kernels(&big, 10).map_err(|e| e.to_string())?;
    let mut tot: Vec<f32> = kt
        .iter()
        .map(|t| t.index_ms + t.parse_ms + t.compact_ms)
        .collect();
    let kern_big = big_end as f64 / (median32(&mut tot) / 1e3) / 1e9;
    let mid = &kt[kt.len() / 2];
    eprintln!(
        "[{name}] big batch kernels ms: index {:.3} parse+agg {:.3} compact {:.3}",
        mid.index_ms, mid.parse_ms, mid.compact_ms
    );
    eprintln!(
        "[{name}] kernels: {kern_batch:.0} GB/s ({} MB batch), {kern_big:.0} GB/s ({} MB batch)",
        (e0 - s0) / 1_000_000,
        big_end / 1_000_000
    );

    Ok((b0, kern_batch, kern_big))
}

/// Runs `run` with an `out` that hands each partial to another thread, as the pipeline's
/// worker does (to the windows stage): the feeding thread must not pay for what the consumer
/// does, dropping a 67k-group table included. Returns the records counted there.
fn consume_elsewhere(
    run: impl FnOnce(
        &mut dyn FnMut(logpulse_core::Partial) -> bool,
    ) -> Result<(), logpulse_core::BackendError>,
) -> Result<u64, String> {
    let (tx, rx) = crossbeam_channel::unbounded::<logpulse_core::Partial>();
    std::thread::scope(|scope| {
        let consumer = scope.spawn(move || rx.iter().map(|p| p.records).sum::<u64>());
        let r = run(&mut |p| tx.send(p).is_ok());
        drop(tx);
        let records = consumer
            .join()
            .map_err(|_| "consumer panicked".to_string())?;
        r.map(|()| records).map_err(|e| e.to_string())
    })
}

/// The process's page faults and context switches so far (`getrusage`): a run that page-faults
/// fresh memory for its partials, or whose threads are switched out, shows it here.
struct Faults {
    minor: i64,
    major: i64,
    involuntary: i64,
    voluntary: i64,
}

impl Faults {
    fn now() -> Self {
        // SAFETY: `getrusage` fills the struct it is given; zeroed is a valid `rusage`.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a `rusage`.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
        Faults {
            minor: u.ru_minflt,
            major: u.ru_majflt,
            involuntary: u.ru_nivcsw,
            voluntary: u.ru_nvcsw,
        }
    }

    fn since(&self, before: &Faults) -> Faults {
        Faults {
            minor: self.minor - before.minor,
            major: self.major - before.major,
            involuntary: self.involuntary - before.involuntary,
            voluntary: self.voluntary - before.voluntary,
        }
    }
}

impl std::fmt::Display for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "page faults {} minor, {} major; context switches {} involuntary, {} voluntary",
            self.minor, self.major, self.involuntary, self.voluntary
        )
    }
}

/// GB/s of summing `buf` as u64 words (best of 3).
fn read_gbs(buf: &[u8]) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..3 {
        let t = Instant::now();
        let s: u64 = buf
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
            .fold(0, |a, b| a.wrapping_add(b));
        std::hint::black_box(s);
        best = best.max(buf.len() as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

fn main() {
    logpulse_core::alloc::keep_freed_memory();
    let a = args();
    match logpulse_gpu::device_count() {
        Ok(n) if n > 0 => {}
        _ => {
            eprintln!("SKIPPED: no CUDA device");
            return;
        }
    }
    // How fast the CPU reads pinned vs ordinary memory (the partial build reads results).
    if let Ok(pool) = logpulse_gpu::pinned_pool(1, 64 << 20) {
        let mut b = pool.acquire();
        b.set_len(b.capacity());
        let heap = vec![1u8; 64 << 20];
        eprintln!(
            "host read: pinned {:.1} GB/s, heap {:.1} GB/s (one thread, 64 MiB)",
            read_gbs(b.bytes()),
            read_gbs(&heap)
        );
    }
    if !a.devices.is_empty() {
        if let Err(e) = multi::run(&a) {
            eprintln!("[multi] FAILED: {e}");
            std::process::exit(1);
        }
        return;
    }
    let mut rows = Vec::new();
    for (name, gf, preset) in [
        ("nasa_tsv", GenFormat::Tsv, "nasa_tsv"),
        ("clf", GenFormat::Clf, "common"),
        ("combined", GenFormat::Combined, "combined"),
        ("caddy_json", GenFormat::CaddyJson, "caddy_json"),
    ] {
        if !a.formats.is_empty() && !a.formats.iter().any(|f| f == name) {
            continue;
        }
        match bench(name, gf, preset, &a) {
            Ok(r) => rows.push(r),
            Err(e) => eprintln!("[{name}] FAILED: {e}"),
        }
    }
    // Do a batch's upload and another's readback overlap? (CLF: a 28 MB batch returns ~4-5 MB.)
    let mut overlap = Vec::new();
    for down in [1usize << 20, 5 << 20] {
        match logpulse_gpu::copy_overlap(0, 28 << 20, down, 20) {
            Ok(o) => overlap.push((down, o)),
            Err(e) => eprintln!("copy overlap probe FAILED: {e}"),
        }
    }
    println!(
        "\n== logpulse-gpu bench: {} lines, {}-line batches ==",
        a.lines, a.batch_lines
    );
    println!(
        "{:<10} {:>8} {:>8} {:>9} {:>9} {:>10} {:>9} {:>8} {:>9} {:>22} {:>8}",
        "format",
        "MB",
        "e2e GB/s",
        "e2e(heap)",
        "kern GB/s",
        "kern(big)",
        "H2D GB/s",
        "cpu GB/s",
        "cpu×cores",
        "batch ms p50/p99/max",
        "groups/b"
    );
    for r in &rows {
        println!(
            "{:<10} {:>8.0} {:>8.1} {:>9.1} {:>9.0} {:>10.0} {:>9.1} {:>8.2} {:>9.2} {:>8.2}/{:>6.2}/{:>6.2} {:>8.0}",
            r.name, r.mb, r.e2e, r.e2e_heap, r.kern_batch, r.kern_big, r.h2d, r.cpu, r.cpu_workers, r.lat.0, r.lat.1, r.lat.2, r.groups_per_batch
        );
    }
    println!(
        "per-batch latency without the host build (copy + kernels + readback), ms p50/p99/max:"
    );
    for r in &rows {
        println!(
            "{:<9} {:>6.3}/{:>6.3}/{:>6.3}",
            r.name, r.lat_dev.0, r.lat_dev.1, r.lat_dev.2
        );
    }
    for (down, o) in &overlap {
        println!(
            "copy overlap: 28 MiB up {:.3} ms, {} MiB down {:.3} ms, both at once {:.3} ms (sum {:.3})",
            o.h2d_ms,
            down >> 20,
            o.d2h_ms,
            o.both_ms,
            o.h2d_ms + o.d2h_ms
        );
    }
    println!(
        "per batch (ms, mean): copy | line index | parse+agg | compact+hdr | readback | host build"
    );
    for r in &rows {
        let s = &r.stages;
        println!(
            "{:<9} {:>6.3} | {:>6.3} | {:>6.3} | {:>6.3} | {:>6.3} | {:>6.3}   ({} lines)",
            r.name,
            s.copy_ms,
            s.index_ms,
            s.parse_ms,
            s.compact_ms,
            s.readback_ms,
            s.build_ms,
            r.lines
        );
    }
}
