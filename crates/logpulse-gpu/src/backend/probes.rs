//! Benchmark probes of a [`GpuBackend`] (used by `gpu_bench`): one batch with its stage
//! times, the kernels over a batch already on the device, the copies alone, and the device
//! side of a run without its host build. They share the run's slots and buffers.

use std::collections::VecDeque;
use std::time::Instant;

use logpulse_core::agg::Partial;
use logpulse_core::batch::Batch;
use logpulse_core::BackendError;

use super::GpuBackend;
use crate::build;
use crate::device;
use crate::error::{DriverContext, GpuError};
use crate::readback::HostOut;
use crate::slot::{Slot, StageTimes};

impl GpuBackend {
    /// Processes one batch on slot 0 and returns its partial with the stage times.
    pub fn process_timed(
        &mut self,
        mut batch: Batch,
    ) -> Result<(Partial, StageTimes), BackendError> {
        if batch.bytes().is_empty() {
            return Ok((build::empty(&mut batch), StageTimes::default()));
        }
        let w3c = self.w3c.layouts(batch.bytes())?;
        self.slots[0].enqueue(&self.kernels, batch.bytes(), batch.lines, batch.seq, &w3c)?;
        let pinned = self.pinned_readback;
        let mut out = std::mem::replace(&mut self.out0, HostOut::new(&self.ctx, pinned));
        let counts = self.collect(0, &batch, &mut out);
        let started = Instant::now();
        let p = counts.and_then(|c| {
            out.wait()?;
            let s = out.sections(&c)?;
            self.build_pool.install(|| build::partial(batch, &c, &s))
        });
        self.last_build_ms = started.elapsed().as_secs_f32() * 1e3;
        self.out0 = out;
        let mut t = self.slots[0].stage_times()?;
        t.build_ms = self.last_build_ms;
        Ok((p?, t))
    }

    /// Kernels only, over a batch already on the device: uploads `batch` once, then runs the
    /// index, parse and compaction `iters` times. Returns each run's stage times (copy and
    /// host fields zero).
    pub fn time_kernels(
        &mut self,
        batch: &Batch,
        iters: usize,
    ) -> Result<Vec<StageTimes>, BackendError> {
        let w3c = self.w3c.layouts(batch.bytes())?;
        let slot = &mut self.slots[0];
        slot.enqueue(&self.kernels, batch.bytes(), batch.lines, batch.seq, &w3c)?;
        slot.wait_kernels()?;
        let mut out = Vec::with_capacity(iters);
        for _ in 0..iters {
            slot.run_kernels(&self.kernels, batch.seq)?;
            slot.wait_kernels()?;
            let t = slot.stage_times()?;
            out.push(StageTimes {
                copy_ms: 0.0,
                readback_ms: 0.0,
                ..t
            });
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
            out.push(slot.stage_times_copy()?);
        }
        Ok(out)
    }

    /// GPU milliseconds to upload every buffer of `bufs` back to back, nothing else queued: the
    /// copy ceiling of a run over these buffers (a benchmark probe). `streams` (1 or 2, at most
    /// the backend's depth) deals the buffers to that many slots' streams in turn, as a run
    /// does; `serial` makes each upload wait for the one before, else two streams' uploads may
    /// run side by side (as in a run: both were measured at the same rate, BENCHMARKS.md).
    pub fn time_uploads(
        &mut self,
        bufs: &[&[u8]],
        streams: usize,
        serial: bool,
    ) -> Result<f32, BackendError> {
        let n = streams.clamp(1, self.slots.len());
        let slots = &mut self.slots[..n];
        let (start, end) = (
            device::timing_event(&self.ctx)?,
            device::timing_event(&self.ctx)?,
        );
        if let Some(max) = bufs.iter().map(|b| b.len()).max() {
            // Sized once before the clock starts (a regrowth would synchronise mid-run).
            for slot in slots.iter_mut() {
                slot.ensure_bytes(max)?;
            }
        }
        let mut queue = || -> Result<(), GpuError> {
            start.record(slots[0].stream()).ctx("recording an event")?;
            for slot in &slots[1..] {
                slot.stream()
                    .join(slots[0].stream())
                    .ctx("ordering streams")?;
            }
            for (i, b) in bufs.iter().enumerate() {
                let (at, prev) = (i % n, (i + n - 1) % n);
                if serial && i > 0 && at != prev {
                    slots[at].after_upload_of(&slots[prev])?;
                }
                slots[at].upload(b)?;
            }
            for slot in &slots[1..] {
                slots[0]
                    .stream()
                    .join(slot.stream())
                    .ctx("ordering streams")?;
            }
            end.record(slots[0].stream()).ctx("recording an event")
        };
        let queued = queue();
        // Copies queued before a failure still read `bufs`: wait for every stream either way
        // (all of them, even after one fails), then report the first error.
        let synced: Vec<Result<(), GpuError>> =
            slots.iter().map(|slot| slot.synchronize()).collect();
        queued?;
        synced.into_iter().collect::<Result<(), _>>()?;
        Ok(start.elapsed_ms(&end).ctx("reading event times")?)
    }

    /// Seconds (host wall clock) for the device side of a run over `batches`, with no host
    /// build: each batch's upload and kernels queued on the slots in turn as a run deals them,
    /// and, with `readback`, its results copied back into pinned or pageable memory (as the
    /// backend's setting) before its slot takes the next batch. The best of `reps` passes (at
    /// least one) after one untimed pass (which sizes the buffers). A benchmark probe: against
    /// a real run's time it tells what the host build (its memory traffic, its threads) costs.
    pub fn time_device_side(
        &mut self,
        batches: &[Batch],
        readback: bool,
        reps: usize,
    ) -> Result<f64, BackendError> {
        let n = self.slots.len();
        let mut outs: Vec<HostOut> = (0..n)
            .map(|_| HostOut::new(&self.ctx, self.pinned_readback))
            .collect();
        let full: Vec<&Batch> = batches.iter().filter(|b| !b.bytes().is_empty()).collect();
        let mut best = f64::INFINITY;
        for rep in 0..=reps.max(1) {
            let started = Instant::now();
            let ran = self.device_pass(&full, readback.then_some(&mut outs[..]));
            // Queued copies still read the batches: wait for every stream, then report.
            let synced: Vec<Result<(), GpuError>> =
                self.slots.iter().map(Slot::synchronize).collect();
            let waited: Vec<Result<(), GpuError>> = outs.iter().map(HostOut::wait).collect();
            let secs = started.elapsed().as_secs_f64();
            ran?;
            synced
                .into_iter()
                .chain(waited)
                .collect::<Result<(), _>>()?;
            if rep > 0 {
                best = best.min(secs);
            }
        }
        Ok(best)
    }

    /// One pass of [`GpuBackend::time_device_side`]: queues every batch, reading each one's
    /// results back into `outs` (one per slot) before its slot is reused.
    fn device_pass(
        &mut self,
        batches: &[&Batch],
        mut outs: Option<&mut [HostOut]>,
    ) -> Result<(), GpuError> {
        let n = self.slots.len();
        let mut inflight: VecDeque<(usize, &Batch)> = VecDeque::new();
        let mut retire = |me: &mut Self, (s, b): (usize, &Batch)| match outs.as_deref_mut() {
            Some(o) => me.collect(s, b, &mut o[s]).map(drop),
            None => Ok(()),
        };
        for (i, batch) in batches.iter().enumerate() {
            let at = i % n;
            // Batches go to the slots in turn: the oldest in flight holds the slot wanted.
            if inflight.len() == n {
                if let Some(oldest) = inflight.pop_front() {
                    retire(self, oldest)?;
                }
            }
            let w3c = self.w3c.layouts(batch.bytes())?;
            let seq = batch.seq;
            self.slots[at].enqueue(&self.kernels, batch.bytes(), batch.lines, seq, &w3c)?;
            inflight.push_back((at, batch));
        }
        while let Some(oldest) = inflight.pop_front() {
            retire(self, oldest)?;
        }
        Ok(())
    }
}
