//! What starting and stopping the GPU backend costs, step by step: device count, the first
//! pinned buffer (context included), more pinned buffers of batch and readback sizes, a
//! backend (kernels, device tables), its readback buffers, then the same things freed.
//! `startup_probe [BUFFERS] [MIB] [exit]`: with `exit`, the process ends without freeing
//! (time it from outside to see what the driver's own teardown costs).

use std::sync::Arc;
use std::time::Instant;

use logpulse_core::format::Format;
use logpulse_core::plan::Plan;

fn step<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    eprintln!("{what:<44} {:8.1} ms", t.elapsed().as_secs_f64() * 1e3);
    r
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let buffers: usize = args.next().map_or(Ok(11), |s| s.parse())?;
    let mib: usize = args.next().map_or(Ok(64), |s| s.parse())?;
    let exit = args.next().as_deref() == Some("exit");
    let t0 = Instant::now();
    let n = step("device count (cuInit)", logpulse_gpu::device_count)?;
    eprintln!("{n} devices");
    let pool = step("pool: first pinned buffer (context)", || {
        logpulse_gpu::pinned_pool(1, mib << 20)
    })?;
    let more = step(
        &format!("{buffers} more pinned buffers of {mib} MiB"),
        || logpulse_gpu::pinned_pool(buffers, mib << 20),
    )?;
    let small = step("14 pinned buffers of 6.4 MB", || {
        logpulse_gpu::pinned_pool(14, 6_710_886)
    })?;
    let plan = Arc::new(Plan::reference(Format::preset("common").ok_or("preset")?));
    let mut b = step("GpuBackend::new (kernels, device tables)", || {
        logpulse_gpu::GpuBackend::new(plan.clone(), 0, pool.clone())
    })?;
    b.set_pinned_readback(true);
    step("prepare_readback (build threads + 2)", || {
        b.prepare_readback(6_710_886)
    })?;
    eprintln!(
        "{:<44} {:8.1} ms",
        "started",
        t0.elapsed().as_secs_f64() * 1e3
    );
    if exit {
        std::process::exit(0);
    }
    step("drop the backend", || drop(b));
    step("drop 14 small pinned buffers", || drop(small));
    step(&format!("drop {buffers} pinned buffers"), || drop(more));
    step("drop the first pool (context)", || drop(pool));
    Ok(())
}
