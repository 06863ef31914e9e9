//! Choosing GPU devices for `--backend` (auto, gpu, gpu:0,1): one backend (one worker) per
//! device, all framing into one pool of pinned buffers.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use logpulse_core::backend::{Deferred, Starter};
use logpulse_core::plan::Plan;
use logpulse_core::Backend;

/// The GPU ordinals asked for: `None` means the CPU.
pub fn ordinals(choice: &str) -> Result<Option<Vec<usize>>> {
    match choice {
        "cpu" => Ok(None),
        "auto" => match logpulse_gpu::device_count() {
            Ok(n) if n > 0 => Ok(Some((0..n).collect())),
            _ => Ok(None),
        },
        "gpu" => {
            let n = logpulse_gpu::device_count().context("--backend gpu")?;
            if n == 0 {
                bail!("--backend gpu: no CUDA device found (use --backend cpu or auto)");
            }
            // All visible devices; CUDA_VISIBLE_DEVICES is applied by the driver.
            Ok(Some((0..n).collect()))
        }
        other => match other.strip_prefix("gpu:") {
            Some(list) => {
                let n = logpulse_gpu::device_count().context("--backend gpu")?;
                let ids = list
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .with_context(|| format!("bad device id {s:?} in --backend {other}"))
                    })
                    .collect::<Result<Vec<_>>>()?;
                if let Some(bad) = ids.iter().find(|&&i| i >= n) {
                    bail!("--backend {other}: device {bad} does not exist ({n} visible)");
                }
                Ok(Some(ids))
            }
            None => bail!("unknown backend {other:?}; use auto, cpu, gpu or gpu:0,1"),
        },
    }
}

/// Why `auto` fell back to the CPU.
pub fn absent_reason() -> String {
    match logpulse_gpu::device_count() {
        Ok(0) => "no CUDA device".into(),
        Ok(n) => format!("{n} CUDA devices"),
        Err(e) => format!("no CUDA device ({e})"),
    }
}

/// GPU backends on `ordinals`, sharing one pinned pool of `buffers` buffers of `capacity` bytes.
///
/// Starting a GPU backend (kernels, device tables, page-locked readback buffers: ~0.3-0.5 s on
/// the H200 machine) and making ~1 GB of page-locked batch buffers used to come before the
/// first byte was read: on a 1 GB file, far longer than the processing. Now only the CUDA
/// context and the first pinned buffer are made here; the pool fills on a thread of its own,
/// each backend starts on another ([`Deferred`]), and the source reads meanwhile.
pub fn backends(
    plan: Arc<Plan>,
    ordinals: &[usize],
    buffers: usize,
    capacity: usize,
) -> Result<(Vec<Box<dyn Backend>>, String)> {
    let t0 = Instant::now();
    let mut pool = logpulse_gpu::pinned_pool_background(buffers, capacity)
        .context("allocating pinned batch buffers")?;
    // Batches viewing a mapped file (LOGPULSE_MMAP=1) copy from its registered pages (see
    // logpulse_gpu::hostmap); LOGPULSE_GPU_REGISTER=0 copies them unregistered (for comparing).
    let register = std::env::var("LOGPULSE_GPU_REGISTER").map_or(true, |v| v != "0");
    if let (Some(&first), true) = (ordinals.first(), register) {
        let pinner = logpulse_gpu::HostMapPinner::new(first).context("opening the first GPU")?;
        pool = pool.with_pinner(Arc::new(pinner));
    }
    // Results read back into page-locked memory: faster once the buffers are warm (gpu_bench on
    // the H200: CLF 30.5 vs 27.8 GB/s, combined 42.5 vs 37.5). LOGPULSE_GPU_PINNED_READBACK=0
    // reads into ordinary memory instead.
    let pinned_readback = std::env::var("LOGPULSE_GPU_PINNED_READBACK").map_or(true, |v| v != "0");
    let mut out: Vec<Box<dyn Backend>> = Vec::new();
    let mut desc = Vec::new();
    for &i in ordinals {
        let what = logpulse_gpu::describe_device(i).with_context(|| format!("opening GPU {i}"))?;
        let (plan, pool_i, label) = (plan.clone(), pool.clone(), what.clone());
        let start: Starter = Box::new(move || {
            let t = Instant::now();
            let mut b = logpulse_gpu::GpuBackend::new(plan, i, pool_i)?;
            b.set_pinned_readback(pinned_readback);
            // Results of a batch are typically a fifth of its bytes or less (a 250k-line CLF
            // batch: 28 MB in, ~4.7 MB back); a bigger readback grows its buffer when it
            // comes. All of them, on this thread: made on demand they stalled the feeding
            // thread ~4 ms each while the builders fell behind (`bench` CLF: 5.2 vs 7.3 GB/s).
            b.prepare_readback(capacity.min(32 << 20) / 5)?;
            eprintln!(
                "logpulse: {label} ready after {:.0} ms (kernels, device tables, readback \
                 buffers; {})",
                t.elapsed().as_secs_f64() * 1e3,
                b.kernels_from()
            );
            Ok(Box::new(b) as Box<dyn Backend>)
        });
        let b = Deferred::spawn(&format!("logpulse-gpu{i}-start"), pool.clone(), what, start)
            .with_context(|| format!("starting GPU {i}"))?;
        desc.push(b.describe());
        out.push(Box::new(b));
    }
    Ok((
        out,
        format!(
            "{} (context and first pinned buffer in {:.0} ms; {buffers} x {} MiB pinned batch \
             buffers being made meanwhile)",
            desc.join("; "),
            t0.elapsed().as_secs_f64() * 1e3,
            capacity >> 20
        ),
    ))
}
