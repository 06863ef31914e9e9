//! [`GpuBackend`]: the [`Backend`] trait on one CUDA device.

use std::collections::VecDeque;
use std::sync::Arc;

use cudarc::driver::CudaContext;
use logpulse_core::agg::Partial;
use logpulse_core::batch::{Batch, BufferPool};
use logpulse_core::plan::Plan;
use logpulse_core::{Backend, BackendError};

use crate::build;
use crate::device;
use crate::error::{DriverContext, GpuError};
use crate::kernels::Kernels;
use crate::slot::{Finished, Slot, StageTimes};

/// Pipeline depth of [`Backend::run`]: batches in flight on the device at once.
const DEPTH: usize = 2;

/// Parses and aggregates batches on one GPU; results equal the CPU backend's.
pub struct GpuBackend {
    ctx: Arc<CudaContext>,
    kernels: Kernels,
    slots: Vec<Slot>,
    pool: BufferPool,
    name: String,
    ordinal: usize,
    /// Host milliseconds the last partial took to build.
    last_build_ms: f32,
}

impl GpuBackend {
    /// A backend running `plan` on device `ordinal`, framing into `pool` (use
    /// [`crate::pinned_pool`] so copies run at full speed). Compiles the kernels (NVRTC).
    pub fn new(plan: Arc<Plan>, ordinal: usize, pool: BufferPool) -> Result<Self, BackendError> {
        Ok(Self::open(&plan, ordinal, pool)?)
    }

    fn open(plan: &Plan, ordinal: usize, pool: BufferPool) -> Result<Self, GpuError> {
        let ctx = device::open(ordinal)?;
        let name = ctx.name().ctx("reading the device name")?;
        let kernels = Kernels::load(&ctx, plan)?;
        let slots = (0..DEPTH)
            .map(|_| Slot::new(&ctx))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GpuBackend {
            ctx,
            kernels,
            slots,
            pool,
            name,
            ordinal,
            last_build_ms: 0.0,
        })
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        &self.name
    }

    /// Waits for slot `i`'s batch and builds its partial, rerunning it if the batch turned out
    /// to hold more lines than the slot was sized for.
    fn finish(&mut self, i: usize, mut batch: Batch) -> Result<Partial, GpuError> {
        loop {
            let slot = &mut self.slots[i];
            match slot.finish()? {
                Finished::Ready(rb) => {
                    let started = std::time::Instant::now();
                    let p = build::partial(&mut batch, &rb);
                    self.last_build_ms = started.elapsed().as_secs_f32() * 1e3;
                    return p;
                }
                Finished::TooManyLines(lines) => {
                    let slot = &mut self.slots[i];
                    slot.enqueue(&self.kernels, batch.bytes(), lines, batch.seq)?;
                }
            }
        }
    }

    /// Processes one batch on slot 0 and returns its partial with the GPU stage times.
    pub fn process_timed(
        &mut self,
        mut batch: Batch,
    ) -> Result<(Partial, StageTimes), BackendError> {
        if batch.bytes().is_empty() {
            return Ok((build::empty(&mut batch), StageTimes::default()));
        }
        self.slots[0]
            .enqueue(&self.kernels, batch.bytes(), batch.lines, batch.seq)
            .map_err(BackendError::from)?;
        let p = self.finish(0, batch)?;
        let mut t = self.slots[0].stage_times()?;
        t.build_ms = self.last_build_ms;
        Ok((p, t))
    }

    /// Kernels only, over a batch already on the device: uploads `batch` once, then runs the
    /// index, parse and compaction `iters` times. Returns the GPU milliseconds of each run.
    pub fn time_kernels(&mut self, batch: &Batch, iters: usize) -> Result<Vec<f32>, BackendError> {
        let slot = &mut self.slots[0];
        slot.enqueue(&self.kernels, batch.bytes(), batch.lines, batch.seq)?;
        slot.wait_kernels()?;
        let mut out = Vec::with_capacity(iters);
        for _ in 0..iters {
            slot.run_kernels(&self.kernels, batch.seq)?;
            slot.wait_kernels()?;
            let t = slot.stage_times()?;
            out.push(t.index_ms + t.parse_ms + t.compact_ms);
        }
        Ok(out)
    }

    /// Times `iters` host-to-device copies of `bytes` (pinned if it comes from a pinned pool).
    pub fn time_copy(&mut self, bytes: &[u8], iters: usize) -> Result<Vec<f32>, BackendError> {
        let slot = &mut self.slots[0];
        let mut out = Vec::with_capacity(iters);
        for _ in 0..iters {
            slot.upload(bytes)?;
            slot.stream().synchronize().ctx("waiting for the copy")?;
            let t = slot.stage_times_copy()?;
            out.push(t);
        }
        Ok(out)
    }
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        format!("gpu {}: {}", self.ordinal, self.name)
    }

    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }

    fn process(&mut self, batch: Batch) -> Result<Partial, BackendError> {
        Ok(self.process_timed(batch)?.0)
    }

    /// Keeps [`DEPTH`] batches in flight, one per stream: while batch N's kernels run, batch
    /// N+1's bytes are being copied. Partials come out in arrival order.
    fn run(
        &mut self,
        batches: &mut dyn Iterator<Item = Batch>,
        out: &mut dyn FnMut(Partial) -> bool,
    ) -> Result<(), BackendError> {
        // (slot, batch) in arrival order; slot None = nothing to do on the device.
        let mut inflight: VecDeque<(Option<usize>, Batch)> = VecDeque::new();
        let mut next_slot = 0usize;
        let mut stopped = false;
        let result = (|| -> Result<(), BackendError> {
            for batch in &mut *batches {
                if batch.bytes().is_empty() {
                    inflight.push_back((None, batch));
                    continue;
                }
                let s = next_slot;
                next_slot = (next_slot + 1) % self.slots.len();
                // Free slot `s`: its last batch, and everything queued before it, come out first.
                while inflight.iter().any(|(x, _)| *x == Some(s)) {
                    if !self.emit(&mut inflight, out)? {
                        stopped = true;
                        return Ok(());
                    }
                }
                self.slots[s].enqueue(&self.kernels, batch.bytes(), batch.lines, batch.seq)?;
                inflight.push_back((Some(s), batch));
            }
            while !inflight.is_empty() {
                if !self.emit(&mut inflight, out)? {
                    stopped = true;
                    return Ok(());
                }
            }
            Ok(())
        })();
        if stopped || result.is_err() {
            // Batches still queued must not be freed while the device copies from them.
            for s in &self.slots {
                let _ = s.stream().synchronize();
            }
        }
        result
    }
}

impl GpuBackend {
    /// Finishes the oldest batch in flight and hands its partial to `out`.
    fn emit(
        &mut self,
        inflight: &mut VecDeque<(Option<usize>, Batch)>,
        out: &mut dyn FnMut(Partial) -> bool,
    ) -> Result<bool, BackendError> {
        let Some((slot, mut batch)) = inflight.pop_front() else {
            return Ok(true);
        };
        let p = match slot {
            None => build::empty(&mut batch),
            Some(i) => self.finish(i, batch)?,
        };
        Ok(out(p))
    }
}

impl Drop for GpuBackend {
    fn drop(&mut self) {
        let _ = self.ctx.bind_to_thread();
        for s in &self.slots {
            let _ = s.stream().synchronize();
        }
    }
}
