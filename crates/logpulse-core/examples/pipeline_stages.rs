//! The two single-threaded stages of the pipeline, timed apart: the framer cutting generated TSV
//! into 250k-line batches, and the windows operator absorbing the CPU backend's partials of it.
//! Also the parallel framer by thread count, from memory and from a page-cached file (written
//! to the system's temp directory, or `LOGPULSE_STAGES_FILE`).
//! `cargo run --release -p logpulse-core --example pipeline_stages`
use std::time::Instant;

use logpulse_core::batch::BufferPool;
use logpulse_core::framer::{Framer, FramerConfig};
use logpulse_core::gen::{GenConfig, Generator};

fn main() {
    let mut data = Vec::new();
    Generator::new(GenConfig {
        lines: 3_000_000,
        ..Default::default()
    })
    .fill(&mut data, usize::MAX);
    let pool = BufferPool::heap(8, 64 << 20);
    for _ in 0..3 {
        let mut f = Framer::new(pool.clone(), FramerConfig::default(), "x".into());
        let t = Instant::now();
        let mut n = 0;
        f.push_each(&data, &mut |b| {
            n += b.lines;
            true
        });
        f.finish();
        while let Some(b) = f.pop() {
            n += b.lines;
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "framer: {n} lines, {:.2} GB/s, {:.1} M lines/s",
            data.len() as f64 / s / 1e9,
            n as f64 / s / 1e6
        );
    }
    // The parallel framer (the in-memory source's), by thread count.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem: &[u8] = &data;
    for threads in [2, 4, 8, 16].into_iter().filter(|&t| t <= 2 * cores) {
        let (n, best) = time_framer(&mem, &pool, threads);
        println!(
            "parallel framer, {threads} threads: {n} lines (all but the last batch), {:.2} GB/s",
            data.len() as f64 / best / 1e9
        );
    }
    // The same from a page-cached file, read with `pread` straight into the pool's buffers.
    let path = std::env::var_os("LOGPULSE_STAGES_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("logpulse-stages.log"));
    std::fs::write(&path, &data).expect("write the file");
    let file = std::fs::File::open(&path).expect("open the file");
    for threads in [1, 2, 4, 8, 16].into_iter().filter(|&t| t <= 2 * cores) {
        let (n, best) = time_framer(&file, &pool, threads);
        println!(
            "parallel framer from the page cache, {threads} threads: {n} lines (all but the \
             last batch), {:.2} GB/s",
            data.len() as f64 / best / 1e9
        );
    }
    // The ceiling: the same file read with `pread` alone (no counting), 8 MiB pieces dealt to
    // the threads, into memory already touched.
    let mut sink = vec![1u8; data.len()];
    for threads in [1, 4, 8, 16].into_iter().filter(|&t| t <= 2 * cores) {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let mut pieces: Vec<(usize, &mut [u8])> =
                sink.chunks_mut(8 << 20).enumerate().collect();
            let per = pieces.len().div_ceil(threads);
            std::thread::scope(|sc| {
                for run in pieces.chunks_mut(per) {
                    let file = &file;
                    sc.spawn(move || {
                        for (i, p) in run {
                            use logpulse_core::framer::Fill;
                            file.fill((*i * (8 << 20)) as u64, p).expect("pread");
                        }
                    });
                }
            });
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "pread alone from the page cache, {threads} threads: {:.2} GB/s",
            data.len() as f64 / best / 1e9
        );
    }
    let _ = std::fs::remove_file(&path);
    // The windows stage: absorb the CPU backend's partials of the same data.
    use logpulse_core::{Backend, CpuBackend, Format, Plan};
    let plan = std::sync::Arc::new(Plan::reference(Format::preset("nasa_tsv").expect("preset")));
    let mut be = CpuBackend::new(plan.clone(), 0, pool.clone()).expect("backend");
    let mut f = Framer::new(pool.clone(), FramerConfig::default(), "x".into());
    let mut partials = Vec::new();
    let t = Instant::now();
    f.push_each(&data, &mut |b| {
        partials.push(be.process(b).expect("process"));
        true
    });
    f.finish();
    while let Some(b) = f.pop() {
        partials.push(be.process(b).expect("process"));
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "framer+backend: {:.2} GB/s ({} partials, {} groups in the first)",
        data.len() as f64 / s / 1e9,
        partials.len(),
        partials[0].groups.len()
    );
    let mut w =
        logpulse_core::window::Windows::new(plan.window, plan.lateness_secs, plan.thresholds);
    let t = Instant::now();
    let mut closed = 0;
    for p in partials {
        closed += w.absorb(p).len();
    }
    closed += w.finish().len();
    let s = t.elapsed().as_secs_f64();
    println!(
        "windows: {closed} windows, {:.2} GB/s, {:.1} M lines/s",
        data.len() as f64 / s / 1e9,
        3.0 / s
    );
}

/// The parallel framer over all of `stream` on `threads` threads, best of 3: the lines it
/// framed (all but the last batch, left to the one-thread framer) and the seconds it took.
fn time_framer(
    stream: &dyn logpulse_core::framer::Fill,
    pool: &BufferPool,
    threads: usize,
) -> (u64, f64) {
    let (mut n, mut best) = (0, f64::MAX);
    for _ in 0..3 {
        n = 0;
        let t = Instant::now();
        let end = logpulse_core::framer::frame_parallel_from(
            stream,
            (0, 1),
            pool,
            &FramerConfig::default(),
            "x".into(),
            threads,
            &mut |b| {
                n += b.lines;
                true
            },
        )
        .expect("read");
        best = best.min(t.elapsed().as_secs_f64());
        assert!(matches!(
            end,
            logpulse_core::framer::ParallelEnd::Rest { .. }
        ));
    }
    (n, best)
}
