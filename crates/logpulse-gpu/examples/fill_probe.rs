//! What caps the page-cached `logpulse run FILE --backend gpu`: its framer fills batches at
//! ~10 GB/s whatever the number of reader threads (4, 8 or 14; BENCHMARKS.md, third session of
//! 2026-12-03), against 25-37 GB/s for the framer alone on a small file. This times the same
//! fill (`frame_parallel_from` over the file, `pread` on reader threads) four ways, by reader
//! threads, to tell the causes apart:
//! - `heap`: into ordinary memory, each batch dropped at once;
//! - `pinned`: into page-locked memory (the GPU pool), dropped at once;
//! - `pinned+upload`: page-locked, each batch uploaded to the GPU on another thread (the DMA
//!   reads the memory the readers write, as in `run`);
//! - `pinned+run`: page-locked, batches through `GpuBackend::run` (kernels, readbacks and the
//!   host builders on every core, as in `run`), partials dropped on another thread.
//!
//! `fill_probe [FILE] [--lines N] [--threads 4,8,16]`: without FILE, N generated CLF lines
//! (default 40M, ~4.2 GB) are written to the temp directory first. The file is read once
//! before the clock starts, so it is page cached.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use logpulse_core::batch::{Batch, BufferPool};
use logpulse_core::format::Format;
use logpulse_core::framer::{frame_parallel_from, FramerConfig};
use logpulse_core::gen::{GenConfig, GenFormat, Generator};
use logpulse_core::plan::Plan;
use logpulse_core::Backend;
use logpulse_gpu::GpuBackend;

// As the `logpulse` binary does (freed tables reused rather than faulted in afresh).
#[global_allocator]
static GLOBAL: logpulse_core::alloc::MiMalloc = logpulse_core::alloc::MiMalloc;

/// Batch buffers, as `logpulse run` makes for one GPU.
const BUFFERS: usize = 7;
const CAPACITY: usize = 64 << 20;

struct Args {
    file: Option<String>,
    lines: u64,
    threads: Vec<usize>,
}

fn args() -> Args {
    let mut a = Args {
        file: None,
        lines: 40_000_000,
        threads: vec![4, 8, 16],
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        match (v[i].as_str(), v.get(i + 1)) {
            ("--lines", Some(n)) => {
                a.lines = n.parse().unwrap_or(a.lines);
                i += 1;
            }
            ("--threads", Some(t)) => {
                a.threads = t.split(',').filter_map(|x| x.trim().parse().ok()).collect();
                i += 1;
            }
            (f, _) => a.file = Some(f.to_string()),
        }
        i += 1;
    }
    a
}

/// Writes `lines` generated CLF lines to a file in the temp directory; returns its path.
fn generate(lines: u64) -> Result<String, String> {
    let path = std::env::temp_dir().join(format!("fill_probe_{lines}.clf"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| e.to_string())?);
    let mut g = Generator::new(GenConfig {
        lines,
        format: GenFormat::Clf,
        ..Default::default()
    });
    let mut buf = Vec::with_capacity(72 << 20);
    loop {
        buf.clear();
        g.fill(&mut buf, 64 << 20);
        if buf.is_empty() {
            break;
        }
        out.write_all(&buf).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(path.to_string_lossy().into_owned())
}

/// Frames the file into `pool` on `threads` readers, handing each batch to `sink`; returns
/// the bytes framed and the seconds it took.
fn fill(
    file: &std::fs::File,
    pool: &BufferPool,
    threads: usize,
    sink: &mut dyn FnMut(Batch) -> bool,
) -> Result<(u64, f64), String> {
    let mut bytes = 0u64;
    let t = Instant::now();
    let mut send = |b: Batch| {
        bytes += b.bytes().len() as u64;
        sink(b)
    };
    frame_parallel_from(
        file,
        (0, 1),
        pool,
        &FramerConfig::default(),
        Arc::from("probe"),
        threads,
        &mut send,
    )
    .map_err(|e| e.to_string())?;
    Ok((bytes, t.elapsed().as_secs_f64()))
}

fn report(mode: &str, threads: usize, (bytes, s): (u64, f64)) {
    println!(
        "{mode:>14} {threads:>2} readers: {:.2} GB/s ({:.0} MB in {s:.3}s)",
        bytes as f64 / s / 1e9,
        bytes as f64 / 1e6
    );
}

fn main() -> Result<(), String> {
    logpulse_core::alloc::keep_freed_memory();
    let a = args();
    let path = match a.file {
        Some(p) => p,
        None => generate(a.lines)?,
    };
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let t = Instant::now();
    let cached = std::io::copy(&mut &file, &mut std::io::sink()).map_err(|e| e.to_string())?;
    println!(
        "{path}: {:.0} MB, read once in {:.2}s",
        cached as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let heap = BufferPool::heap(BUFFERS, CAPACITY);
    let gpu = logpulse_gpu::pinned_pool(BUFFERS, CAPACITY).and_then(|pinned| {
        let plan = Arc::new(Plan::reference(
            Format::preset("common").expect("the common preset"),
        ));
        let mut gpu = GpuBackend::new(plan, 0, pinned.clone())?;
        gpu.set_pinned_readback(true);
        Ok((pinned, gpu))
    });
    let (pinned, mut gpu) = match gpu {
        Ok(g) => g,
        Err(e) => {
            println!("no GPU ({e}): ordinary memory only");
            for &threads in &a.threads {
                report("heap", threads, fill(&file, &heap, threads, &mut |_| true)?);
            }
            return Ok(());
        }
    };
    for &threads in &a.threads {
        report("heap", threads, fill(&file, &heap, threads, &mut |_| true)?);
        report(
            "pinned",
            threads,
            fill(&file, &pinned, threads, &mut |_| true)?,
        );
        let (tx, rx) = crossbeam_channel::bounded::<Batch>(2);
        let gpu_ref = &mut gpu;
        let r = std::thread::scope(|scope| {
            let up = scope.spawn(move || {
                for b in rx {
                    gpu_ref.time_copy(b.bytes(), 1).map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            });
            let r = fill(&file, &pinned, threads, &mut |b| tx.send(b).is_ok());
            drop(tx);
            up.join().map_err(|_| "uploader panicked".to_string())??;
            r
        })?;
        report("pinned+upload", threads, r);
        let (tx, rx) = crossbeam_channel::bounded::<Batch>(2);
        let (ptx, prx) = crossbeam_channel::unbounded::<logpulse_core::Partial>();
        let gpu_ref = &mut gpu;
        let r = std::thread::scope(|scope| {
            let drop_partials = scope.spawn(move || prx.iter().count());
            let run = scope.spawn(move || {
                gpu_ref
                    .run(&mut rx.iter(), &mut |p| ptx.send(p).is_ok())
                    .map_err(|e| e.to_string())
            });
            let r = fill(&file, &pinned, threads, &mut |b| tx.send(b).is_ok());
            drop(tx);
            run.join().map_err(|_| "backend panicked".to_string())??;
            drop_partials
                .join()
                .map_err(|_| "consumer panicked".to_string())?;
            r
        })?;
        report("pinned+run", threads, r);
    }
    Ok(())
}
