//! Copy-engine probe for benchmarks: do a batch's upload and another batch's result readback
//! run at the same time on this machine? The pipelined `run` assumes they do (one stream per
//! slot); if the two directions share an engine or the bus, every byte read back delays the
//! next upload, which bounds end-to-end throughput below the copy limit.

use cudarc::driver::{result, CudaEvent};

use crate::devbuf::DevBuf;
use crate::device;
use crate::error::{DriverContext, GpuError};
use crate::pinned::PinnedStorage;

/// Median times (ms) of the probe's copies.
#[derive(Debug, Clone, Copy)]
pub struct CopyOverlap {
    /// Host-to-device copy alone.
    pub h2d_ms: f32,
    /// Device-to-host copy alone.
    pub d2h_ms: f32,
    /// Both at once, on two streams: from the first start to the last end.
    pub both_ms: f32,
}

/// Times an `up`-byte upload and a `down`-byte readback (both from/to page-locked memory) on
/// device `ordinal`, alone and together, `iters` times each; returns the medians.
pub fn copy_overlap(
    ordinal: usize,
    up: usize,
    down: usize,
    iters: usize,
) -> Result<CopyOverlap, GpuError> {
    let ctx = device::open(ordinal)?;
    let (s1, s2) = (
        ctx.new_stream().ctx("creating a stream")?,
        ctx.new_stream().ctx("creating a stream")?,
    );
    let ev = || device::timing_event(&ctx);
    let (e0, e1, e2, e3) = (ev()?, ev()?, ev()?, ev()?);
    let (d_up, d_down) = (
        DevBuf::zeroed(&ctx, up, &s1)?,
        DevBuf::zeroed(&ctx, down, &s2)?,
    );
    let (h_up, mut h_down) = (
        PinnedStorage::new(&ctx, up)?,
        PinnedStorage::new(&ctx, down)?,
    );
    let ms = |a: &CudaEvent, b: &CudaEvent| a.elapsed_ms(b).ctx("reading event times");
    let (mut t_up, mut t_down, mut t_both) = (Vec::new(), Vec::new(), Vec::new());
    // SAFETY (both closures): the buffers outlive the copies (each round synchronises before
    // the next) and every length fits its buffer.
    let upload = || unsafe {
        result::memcpy_htod_async(d_up.ptr(), &h_up.as_slice()[..up], s1.cu_stream()).ctx("upload")
    };
    let mut readback = || unsafe {
        result::memcpy_dtoh_async(
            &mut h_down.as_mut_slice()[..down],
            d_down.ptr(),
            s2.cu_stream(),
        )
        .ctx("readback")
    };
    for _ in 0..iters.max(1) {
        e0.record(&s1).ctx("recording an event")?;
        upload()?;
        e1.record(&s1).ctx("recording an event")?;
        s1.synchronize().ctx("waiting for the upload")?;
        t_up.push(ms(&e0, &e1)?);

        e0.record(&s2).ctx("recording an event")?;
        readback()?;
        e1.record(&s2).ctx("recording an event")?;
        s2.synchronize().ctx("waiting for the readback")?;
        t_down.push(ms(&e0, &e1)?);

        // Together: the readback starts while the upload is under way.
        e0.record(&s1).ctx("recording an event")?;
        s2.wait(&e0).ctx("ordering the streams")?;
        upload()?;
        readback()?;
        e2.record(&s1).ctx("recording an event")?;
        e3.record(&s2).ctx("recording an event")?;
        s1.synchronize().ctx("waiting for the upload")?;
        s2.synchronize().ctx("waiting for the readback")?;
        t_both.push(ms(&e0, &e2)?.max(ms(&e0, &e3)?));
    }
    let median = |v: &mut Vec<f32>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    Ok(CopyOverlap {
        h2d_ms: median(&mut t_up),
        d2h_ms: median(&mut t_down),
        both_ms: median(&mut t_both),
    })
}
