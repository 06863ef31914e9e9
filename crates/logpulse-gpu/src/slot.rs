//! One pipeline slot: a stream, the device buffers one batch needs, and pinned readback memory.
//!
//! A batch goes through a slot in two calls: [`Slot::enqueue`] queues the copy, the kernels and
//! the header's copy back, and returns at once; [`Slot::finish`] waits for the header, copies
//! back exactly the compacted results it announces, and hands them over. With two or more slots
//! the copy of batch N+1 (one stream) overlaps the kernels of batch N (another stream).

use std::sync::Arc;

use cudarc::driver::{result, CudaContext, CudaEvent, CudaStream};

use crate::devbuf::{launch, DevBuf};
use crate::error::{DriverContext, GpuError};
use crate::kargs;
use crate::kernels::{Kernels, LI_THREADS, LI_TILE, PARSE_THREADS};
use crate::layout::{header, CountOut, GroupOut, RejectOut};
use crate::layout::{W3cLayouts, COUNT_SLOT_BYTES, GROUP_SLOT_BYTES, WINDOW_SLOT_BYTES};
use crate::pinned::PinnedStorage;
use crate::readback::{Counts, HostOut};

/// Most shared-memory bytes a parse block stages its lines in (128 lines of ~320 bytes).
const STAGE_MAX: u32 = 40 * 1024;
/// Fewest staging bytes (short lines).
const STAGE_MIN: u32 = 8 * 1024;

/// Room for a block's lines, in percent of their mean length: `LOGPULSE_GPU_STAGE_PCT`
/// (default 150; read once), a tuning knob for benchmarks.
fn stage_pct() -> u64 {
    static PCT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PCT.get_or_init(|| {
        logpulse_core::env_number("LOGPULSE_GPU_STAGE_PCT")
            .filter(|&p| (50..=400).contains(&p))
            .unwrap_or(150)
    })
}

/// Staging bytes for a batch of `bytes` bytes and about `lines` lines: room for a block's
/// lines at [`stage_pct`] of the mean length. Less shared memory a block means more blocks
/// (warps) per multiprocessor to hide the parser's latency; a block whose lines do not fit
/// reads global memory instead, so this only tunes speed.
fn stage_bytes(bytes: usize, lines: u64) -> u32 {
    let mean = bytes as u64 / lines.max(1);
    let want = mean * PARSE_THREADS as u64 * stage_pct() / 100;
    (want.clamp(STAGE_MIN as u64, STAGE_MAX as u64) as u32).div_ceil(1024) * 1024
}
/// Most blocks of the compaction kernels (grid-stride loops over what was claimed).
const COMPACT_BLOCKS: u32 = 2048;

/// Blocks of 256 threads for the compaction kernels of a slot sized for `lines_cap` lines:
/// one group a thread at most (a batch has at most one group a line), so small batches do
/// not launch thousands of empty blocks.
fn compact_blocks(lines_cap: u32) -> u32 {
    lines_cap.div_ceil(256).clamp(1, COMPACT_BLOCKS)
}

/// Per-stage GPU times of one batch, milliseconds (from CUDA events).
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Host-to-device copy of the batch.
    pub copy_ms: f32,
    /// Newline index (count, scan, write).
    pub index_ms: f32,
    /// Parse + aggregate.
    pub parse_ms: f32,
    /// Compaction and the header's copy back.
    pub compact_ms: f32,
    /// Host wall time from the kernels' end to the results being in host memory.
    pub readback_ms: f32,
    /// Host wall time building the `Partial` (key texts, rejects, group table).
    pub build_ms: f32,
}

/// Outcome of waiting for a batch.
pub enum Finished {
    /// Results are in the `HostOut`, laid out as these counts say.
    Ready(Box<Counts>),
    /// The batch has more lines than the slot was sized for: size it for this many and rerun.
    TooManyLines(u64),
}

/// Device and host buffers sized for `lines` lines and `bytes` bytes.
struct Buffers {
    bytes_cap: usize,
    lines_cap: usize,
    d_bytes: DevBuf,
    d_tiles: DevBuf,
    d_nl: DevBuf,
    d_header: DevBuf,
    d_groups: DevBuf,
    d_counts: DevBuf,
    d_windows: DevBuf,
    d_gclaim: DevBuf,
    d_cclaim: DevBuf,
    d_wclaim: DevBuf,
    d_rejects: DevBuf,
    d_gout: DevBuf,
    d_cout: DevBuf,
    d_wout: DevBuf,
    d_keys: DevBuf,
    h_header: PinnedStorage,
}

impl Buffers {
    /// Buffers for `bytes_cap` bytes and `lines_cap` lines, zeroed in `stream`'s order (the
    /// slot's: its first kernels must see empty tables). All are allocated before any clear is
    /// queued, so an allocation that fails frees buffers nothing is queued on.
    fn new(
        ctx: &Arc<CudaContext>,
        stream: &CudaStream,
        bytes_cap: usize,
        lines_cap: usize,
    ) -> Result<Self, GpuError> {
        let l = lines_cap;
        let alloc = |len: usize| DevBuf::new(ctx, len);
        let b = Buffers {
            bytes_cap,
            lines_cap,
            // Padding: 16-byte loads may read up to 15 bytes past the last line.
            d_bytes: alloc(bytes_cap + 64)?,
            // One u64 state a tile (`lp_line_index`'s look-back: status, epoch, count).
            d_tiles: alloc((bytes_cap / LI_TILE as usize + 2) * 8)?,
            d_nl: alloc(l * 4)?,
            d_header: alloc(header::WORDS * 8)?,
            d_groups: alloc(2 * l * GROUP_SLOT_BYTES)?,
            d_counts: alloc(4 * l * COUNT_SLOT_BYTES)?,
            d_windows: alloc(2 * l * WINDOW_SLOT_BYTES)?,
            d_gclaim: alloc(l * 4)?,
            d_cclaim: alloc(2 * l * 4)?,
            d_wclaim: alloc(l * 4)?,
            d_rejects: alloc(l * std::mem::size_of::<RejectOut>())?,
            d_gout: alloc(l * std::mem::size_of::<GroupOut>())?,
            d_cout: alloc(2 * l * std::mem::size_of::<CountOut>())?,
            d_wout: alloc(l * 8)?,
            // Key occurrences of distinct groups lie in distinct lines: at most the batch.
            d_keys: alloc(bytes_cap + 64)?,
            h_header: PinnedStorage::new(ctx, header::WORDS * 8)?,
        };
        // Every field named (no `..`): a buffer added later fails to compile here until it
        // is cleared too.
        let Buffers {
            bytes_cap: _,
            lines_cap: _,
            d_bytes,
            d_tiles,
            d_nl,
            d_header,
            d_groups,
            d_counts,
            d_windows,
            d_gclaim,
            d_cclaim,
            d_wclaim,
            d_rejects,
            d_gout,
            d_cout,
            d_wout,
            d_keys,
            h_header: _,
        } = &b;
        let all = [
            d_bytes, d_tiles, d_nl, d_header, d_groups, d_counts, d_windows, d_gclaim, d_cclaim,
            d_wclaim, d_rejects, d_gout, d_cout, d_wout, d_keys,
        ];
        if let Err(e) = all.iter().try_for_each(|d| d.clear(stream)) {
            // Clears already queued must pass before the buffers are freed.
            let _ = stream.synchronize();
            return Err(e);
        }
        Ok(b)
    }
}

/// One stage of the pipeline (see the module docs).
pub struct Slot {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    /// start, copied, indexed, parsed, compacted (+ header back).
    events: [CudaEvent; 5],
    bufs: Option<Buffers>,
    /// Bytes of the batch in flight.
    n: usize,
    /// Shared-memory staging bytes per parse block for the batch in flight.
    stage: u32,
    /// Host milliseconds the last readback took.
    readback_ms: f32,
    /// W3C column layouts of the batch in flight (a kernel argument; unused by other formats).
    w3c: Box<W3cLayouts>,
    /// Tags the one-pass index's tile states (and, with `LP_EPOCH_SLOTS`, the live group slots)
    /// with the batch they belong to: 1 to 2^30 - 1, moved on every run of the kernels (zeroed
    /// memory is never a valid state).
    epoch: u32,
}

impl Slot {
    /// A slot on its own stream; buffers are sized at the first batch.
    pub fn new(ctx: &Arc<CudaContext>) -> Result<Self, GpuError> {
        let stream = ctx.new_stream().ctx("creating a stream")?;
        let ev = || crate::device::timing_event(ctx);
        Ok(Slot {
            ctx: ctx.clone(),
            stream,
            events: [ev()?, ev()?, ev()?, ev()?, ev()?],
            bufs: None,
            n: 0,
            stage: STAGE_MAX,
            readback_ms: 0.0,
            w3c: Box::default(),
            epoch: 0,
        })
    }

    /// The slot's stream.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Waits until everything queued on the slot is done.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        self.stream.synchronize().ctx("waiting for the slot")
    }

    /// GPU milliseconds from `base` to this slot's last upload's start (when the stream
    /// reached it; the copy engine may start later) and to its end. Valid once
    /// [`Slot::finish`] has returned.
    pub fn upload_ms(&self, base: &CudaEvent) -> Result<[f32; 2], GpuError> {
        let at = |i: usize| base.elapsed_ms(&self.events[i]).ctx("reading event times");
        Ok([at(0)?, at(1)?])
    }

    /// Makes this slot's next work (its next upload) wait until `other`'s last upload is done:
    /// uploads of two slots then run one after the other instead of side by side on two copy
    /// engines (a probe of `GpuBackend::time_uploads`).
    pub fn after_upload_of(&self, other: &Slot) -> Result<(), GpuError> {
        // `events[1]` is recorded right after the upload (and again at the kernels' start, the
        // same point of the stream).
        self.stream
            .wait(&other.events[1])
            .ctx("ordering uploads of two slots")
    }

    /// Makes sure the byte buffer holds `bytes` bytes (never shrinks).
    pub fn ensure_bytes(&mut self, bytes: usize) -> Result<(), GpuError> {
        self.ensure(bytes, 1)
    }

    /// Makes sure the buffers hold `bytes` bytes and `lines` lines (never shrinks).
    fn ensure(&mut self, bytes: usize, lines: usize) -> Result<(), GpuError> {
        let fits = self
            .bufs
            .as_ref()
            .is_some_and(|b| b.bytes_cap >= bytes && b.lines_cap >= lines);
        if fits {
            return Ok(());
        }
        // The old buffers may still be read by queued work.
        self.synchronize()?;
        let (b0, l0) = self
            .bufs
            .as_ref()
            .map_or((0, 0), |b| (b.bytes_cap, b.lines_cap));
        // Headroom: batches of one stream differ by a few bytes, and each regrowth costs a
        // round of allocations (milliseconds) in the middle of the stream.
        let bytes_cap = (bytes + bytes / 8)
            .max(b0)
            .max(1 << 16)
            .next_multiple_of(1 << 16);
        let lines_cap = lines.max(l0).max(1024).next_power_of_two();
        self.bufs = None;
        self.bufs = Some(Buffers::new(&self.ctx, &self.stream, bytes_cap, lines_cap)?);
        Ok(())
    }

    /// Host milliseconds the last [`Slot::finish`] spent after the batch was done (reading
    /// the results back, or queuing that for pinned memory).
    pub fn last_readback_ms(&self) -> f32 {
        self.readback_ms
    }

    /// The W3C layouts of the batch in flight.
    pub fn w3c(&self) -> &W3cLayouts {
        &self.w3c
    }

    /// Uploads `bytes` (whole lines) and queues the kernels; `lines` is the expected line count,
    /// `w3c` the batch's W3C layouts (default for other formats). `bytes` must stay alive and
    /// unchanged until [`Slot::finish`] returns.
    pub fn enqueue(
        &mut self,
        k: &Kernels,
        bytes: &[u8],
        lines: u64,
        seq: u64,
        w3c: &W3cLayouts,
    ) -> Result<(), GpuError> {
        *self.w3c = *w3c;
        if bytes.len() >= (u32::MAX - 1024) as usize {
            return Err(GpuError::Program(format!(
                "batch of {} bytes: the GPU path takes batches under 4 GiB",
                bytes.len()
            )));
        }
        self.ensure(bytes.len(), lines as usize)?;
        self.stage = stage_bytes(bytes.len(), lines);
        self.upload(bytes)?;
        self.run_kernels(k, seq)
    }

    /// The host-to-device copy alone (also used to time it).
    pub fn upload(&mut self, bytes: &[u8]) -> Result<(), GpuError> {
        self.ensure(bytes.len(), 1)?;
        let b = self
            .bufs
            .as_ref()
            .ok_or(GpuError::Result("no buffers".into()))?;
        self.ctx.bind_to_thread().ctx("binding the context")?;
        self.n = bytes.len();
        self.events[0]
            .record(&self.stream)
            .ctx("recording an event")?;
        // In pieces that each lie in one registration of a mapped file (see `hostmap`).
        let mut at = 0u64;
        for piece in crate::hostmap::pieces(bytes) {
            // SAFETY: the device buffer holds at least `bytes.len()` bytes; the caller keeps
            // `bytes` alive until the stream has passed this copy (see `enqueue`).
            let dst = b.d_bytes.ptr() + at;
            unsafe { result::memcpy_htod_async(dst, piece, self.stream.cu_stream()) }
                .ctx("copying the batch to the device")?;
            at += piece.len() as u64;
        }
        self.events[1]
            .record(&self.stream)
            .ctx("recording an event")?;
        Ok(())
    }

    /// Queues index, parse and compaction over the batch already on the device.
    pub fn run_kernels(&mut self, k: &Kernels, seq: u64) -> Result<(), GpuError> {
        let b = self
            .bufs
            .as_ref()
            .ok_or(GpuError::Result("no buffers".into()))?;
        let s = &self.stream;
        // Marks the kernels' start (re-recorded when the kernels run again on resident bytes).
        self.events[1].record(s).ctx("recording an event")?;
        let n = self.n as u32;
        let ntiles = n.div_ceil(LI_TILE).max(1);
        let lines_cap = b.lines_cap as u32;
        let gmask = (2 * b.lines_cap - 1) as u32;
        let cmask = (4 * b.lines_cap - 1) as u32;
        let wmask = gmask;
        let seq = seq as i64;
        let wrapped = self.epoch == (1 << 30) - 1;
        self.epoch = self.epoch % ((1 << 30) - 1) + 1;
        let epoch = self.epoch;
        let (bytes, tiles, nl, hdr) = (
            b.d_bytes.ptr(),
            b.d_tiles.ptr(),
            b.d_nl.ptr(),
            b.d_header.ptr(),
        );
        let (groups, counts, windows) = (b.d_groups.ptr(), b.d_counts.ptr(), b.d_windows.ptr());
        let (gclaim, cclaim, wclaim) = (b.d_gclaim.ptr(), b.d_cclaim.ptr(), b.d_wclaim.ptr());
        let (rejects, gout, cout, wout) = (
            b.d_rejects.ptr(),
            b.d_gout.ptr(),
            b.d_cout.ptr(),
            b.d_wout.ptr(),
        );
        let keys = b.d_keys.ptr();
        let stage = self.stage;
        let w3c: W3cLayouts = *self.w3c;
        if wrapped {
            // The epoch came round again: group slots live in an old batch of the same number
            // must read as empty (`LP_EPOCH_SLOTS`; new buffers start zeroed).
            b.d_groups.clear(s)?;
        }
        // SAFETY: argument lists match the kernels' signatures in kernels/*.cu; every buffer is
        // sized by `Buffers::new` for `lines_cap` lines and `bytes_cap` bytes, and the kernels
        // bound their writes by those capacities.
        unsafe {
            launch(
                &k.line_index,
                ntiles,
                LI_THREADS,
                0,
                s,
                &mut kargs![bytes, n, tiles, epoch, nl, lines_cap, hdr],
            )
            .ctx("lp_line_index")?;
            self.events[2].record(s).ctx("recording an event")?;
            let grid = lines_cap.div_ceil(PARSE_THREADS);
            launch(
                &k.parse_aggregate,
                grid,
                PARSE_THREADS,
                stage + 16,
                s,
                &mut kargs![
                    bytes, nl, lines_cap, hdr, groups, gmask, epoch, counts, cmask, windows, wmask,
                    gclaim, cclaim, wclaim, rejects, seq, stage, w3c
                ],
            )
            .ctx("lp_parse_aggregate")?;
            self.events[3].record(s).ctx("recording an event")?;
            launch(
                &k.compact_counts,
                compact_blocks(lines_cap),
                256,
                0,
                s,
                &mut kargs![counts, cclaim, groups, windows, hdr, cout],
            )
            .ctx("lp_compact_counts")?;
            launch(
                &k.compact_groups,
                compact_blocks(lines_cap),
                256,
                0,
                s,
                &mut kargs![groups, gclaim, windows, wclaim, hdr, gout, wout, bytes, keys],
            )
            .ctx("lp_compact_groups")?;
            let hh = std::slice::from_raw_parts_mut(b.h_header.ptr() as *mut u64, header::WORDS);
            result::memcpy_dtoh_async(hh, hdr, s.cu_stream()).ctx("copying the header back")?;
        }
        self.events[4].record(s).ctx("recording an event")?;
        Ok(())
    }

    /// Waits for the kernels only (device-resident timing).
    pub fn wait_kernels(&self) -> Result<(), GpuError> {
        self.events[4].synchronize().ctx("waiting for the kernels")
    }

    /// GPU times of the last batch's stages (valid after [`Slot::finish`] or `wait_kernels`).
    pub fn stage_times(&self) -> Result<StageTimes, GpuError> {
        let e = &self.events;
        let t = |a: usize, b: usize| e[a].elapsed_ms(&e[b]).ctx("reading event times");
        Ok(StageTimes {
            copy_ms: t(0, 1)?,
            index_ms: t(1, 2)?,
            parse_ms: t(2, 3)?,
            compact_ms: t(3, 4)?,
            readback_ms: self.readback_ms,
            build_ms: 0.0,
        })
    }

    /// GPU milliseconds of the last upload (valid once the stream has passed it).
    pub fn stage_times_copy(&self) -> Result<f32, GpuError> {
        self.events[0]
            .elapsed_ms(&self.events[1])
            .ctx("reading event times")
    }

    /// Waits for the batch and copies its compacted results into `out`.
    pub fn finish(&mut self, out: &mut HostOut) -> Result<Finished, GpuError> {
        self.ctx.bind_to_thread().ctx("binding the context")?;
        self.events[4].synchronize().ctx("waiting for the batch")?;
        let started = std::time::Instant::now();
        let b = self
            .bufs
            .as_ref()
            .ok_or(GpuError::Result("no buffers".into()))?;
        let mut h = [0u64; header::WORDS];
        for (w, c) in h.iter_mut().zip(b.h_header.as_slice().chunks_exact(8)) {
            *w = u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
        }
        let lines = h[header::LINES];
        if lines > b.lines_cap as u64 {
            return Ok(Finished::TooManyLines(lines));
        }
        let c = Counts {
            header: h,
            groups: h[header::NGROUPS] as usize,
            counts: h[header::NCOUNTS] as usize,
            windows: h[header::NWINDOWS] as usize,
            rejects: h[header::NREJECTS] as usize,
            key_bytes: h[header::KEY_BYTES] as usize,
        };
        let l = b.lines_cap;
        if c.groups > l
            || c.counts > 2 * l
            || c.windows > l
            || c.rejects > l
            || c.key_bytes > b.bytes_cap
        {
            return Err(GpuError::Result(format!(
                "counts past capacity: {c:?} for {l} lines"
            )));
        }
        let lay = c.layout();
        let base = out.reserve(lay.total)?;
        let s = self.stream.cu_stream();
        let copies = [
            (
                lay.groups,
                b.d_gout.ptr(),
                c.groups * std::mem::size_of::<GroupOut>(),
            ),
            (
                lay.counts,
                b.d_cout.ptr(),
                c.counts * std::mem::size_of::<CountOut>(),
            ),
            (lay.windows, b.d_wout.ptr(), c.windows * 8),
            (
                lay.rejects,
                b.d_rejects.ptr(),
                c.rejects * std::mem::size_of::<RejectOut>(),
            ),
            (lay.keys, b.d_keys.ptr(), c.key_bytes),
        ];
        for (off, src, len) in copies {
            if len == 0 {
                continue;
            }
            // SAFETY: `out` holds `lay.total` bytes, each section lies inside it, and each
            // device source holds at least `len` bytes (capacities checked above).
            unsafe {
                let dst = std::slice::from_raw_parts_mut(base.add(off), len);
                result::memcpy_dtoh_async(dst, src, s).ctx("copying results back")?;
            }
        }
        if out.is_pinned() {
            // Asynchronous: whoever reads `out` waits for this mark (`HostOut::wait`); the
            // stream's order keeps the slot's buffers until the copies are done.
            out.mark_ready(&self.stream)?;
        } else {
            self.stream.synchronize().ctx("waiting for the results")?;
        }
        self.readback_ms = started.elapsed().as_secs_f32() * 1e3;
        Ok(Finished::Ready(Box::new(c)))
    }
}
