//! The copy ceiling of an end-to-end run (`gpu_bench`): how fast the run's own pinned batch
//! buffers upload, one by one and back to back, and how much that drops while host threads
//! stream through ordinary memory the way the partial builders do. Answers whether the
//! copies inside a run are slower because of the buffers or because of host memory traffic.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use logpulse_core::batch::Batch;
use logpulse_gpu::GpuBackend;

use crate::median32;

/// Copy ceiling of `batches` (pinned, from the run's pool), printed as `[name] ceiling ...`.
pub fn report(gpu: &mut GpuBackend, batches: &[Batch], name: &str) -> Result<(), String> {
    let total: usize = batches.iter().map(|b| b.bytes().len()).sum();
    let mut each: Vec<f64> = Vec::with_capacity(batches.len());
    // A last, short batch times mostly the copy's fixed cost: leave it out of the spread.
    for b in batches.iter().filter(|b| b.bytes().len() >= 1 << 20) {
        let mut t = gpu.time_copy(b.bytes(), 3).map_err(|e| e.to_string())?;
        each.push(b.bytes().len() as f64 / (median32(&mut t) / 1e3) / 1e9);
    }
    each.sort_by(|a, b| a.total_cmp(b));
    if let (Some(min), Some(max)) = (each.first(), each.last()) {
        eprintln!(
            "[{name}] ceiling: each buffer alone min/median/max {min:.1}/{:.1}/{max:.1} GB/s over {} buffers of 1 MiB or more",
            each[each.len() / 2],
            each.len()
        );
    }
    // The run's device side without its host build: is the build what slows the uploads?
    let depth = gpu.depth();
    for threads in [0, 4] {
        for readback in [false, true] {
            let (gbs, host_gbs) = with_host_traffic(threads, || {
                let s = gpu
                    .time_device_side(batches, readback, 1)
                    .map_err(|e| e.to_string())?;
                Ok(total as f64 / s / 1e9)
            })?;
            let what = if readback { "with" } else { "no" };
            eprintln!(
                "[{name}] ceiling: device side (uploads + kernels over {depth} slots, {what} readback, no build) \
                 {gbs:.1} GB/s with {threads} host threads copying ({host_gbs:.1} GB/s copied)"
            );
        }
    }
    let bufs: Vec<&[u8]> = batches.iter().map(|b| b.bytes()).collect();
    // GB/s of uploading every buffer over `streams` streams (see `GpuBackend::time_uploads`).
    let mut uploads = |streams: usize, serial: bool| -> Result<f64, String> {
        let ms = gpu
            .time_uploads(&bufs, streams, serial)
            .map_err(|e| e.to_string())?;
        Ok(total as f64 / (ms as f64 / 1e3) / 1e9)
    };
    // As a run deals them: over two slots' streams, side by side or one after the other.
    for (serial, how) in [(false, "side by side"), (true, "one after the other")] {
        let (gbs, _) = with_host_traffic(0, || uploads(2, serial))?;
        eprintln!(
            "[{name}] ceiling: all {} buffers over two streams, {how}, {gbs:.1} GB/s",
            batches.len()
        );
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    for threads in [0, 2, 4, 8, cores.saturating_sub(2)] {
        let (gbs, host_gbs) = with_host_traffic(threads, || uploads(1, false))?;
        eprintln!(
            "[{name}] ceiling: all {} buffers back to back {gbs:.1} GB/s with {threads} host \
             threads copying ordinary memory ({host_gbs:.1} GB/s copied)",
            batches.len()
        );
    }
    Ok(())
}

/// Runs `f` (three times, best kept) while `threads` threads copy 32 MiB buffers over and
/// over; returns `f`'s best and the host threads' copy rate meanwhile (bytes written per second).
fn with_host_traffic(
    threads: usize,
    mut f: impl FnMut() -> Result<f64, String>,
) -> Result<(f64, f64), String> {
    let stop = AtomicBool::new(false);
    let copied = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let src = vec![7u8; 32 << 20];
                let mut dst = vec![0u8; 32 << 20];
                while !stop.load(Ordering::Relaxed) {
                    dst.copy_from_slice(&src);
                    std::hint::black_box(&mut dst);
                    copied.fetch_add(dst.len() as u64, Ordering::Relaxed);
                }
            });
        }
        // Let the copiers reach their pace before the clock starts.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (c0, t0) = (copied.load(Ordering::Relaxed), Instant::now());
        let mut best: f64 = 0.0;
        let mut r = Ok(());
        for _ in 0..3 {
            match f() {
                Ok(v) => best = best.max(v),
                Err(e) => r = Err(e),
            }
        }
        let host = (copied.load(Ordering::Relaxed) - c0) as f64 / t0.elapsed().as_secs_f64() / 1e9;
        stop.store(true, Ordering::Relaxed);
        r.map(|()| (best, host))
    })
}
