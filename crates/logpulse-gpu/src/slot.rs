//! One pipeline slot: a stream, the device buffers one batch needs, and pinned readback memory.
//!
//! A batch goes through a slot in two calls: [`Slot::enqueue`] queues the copy, the kernels and
//! the header's copy back, and returns at once; [`Slot::finish`] waits for the header, copies
//! back exactly the compacted results it announces, and hands them over. With two or more slots
//! the copy of batch N+1 (one stream) overlaps the kernels of batch N (another stream).

use std::sync::Arc;

use cudarc::driver::{result, sys, CudaContext, CudaEvent, CudaStream};

use crate::devbuf::{launch, DevBuf};
use crate::error::{DriverContext, GpuError};
use crate::kargs;
use crate::kernels::{Kernels, LI_TILE, PARSE_THREADS};
use crate::layout::{header, CountOut, GroupOut, RejectOut};
use crate::layout::{COUNT_SLOT_BYTES, GROUP_SLOT_BYTES, WINDOW_SLOT_BYTES};
use crate::pinned::PinnedStorage;

/// Shared-memory bytes a parse block stages its lines in (128 lines of up to ~320 bytes).
const STAGE_BYTES: u32 = 40 * 1024;
/// Blocks of the compaction kernels (grid-stride loops over what was claimed).
const COMPACT_BLOCKS: u32 = 528;

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

/// What a finished batch sent back; slices borrow the slot's pinned readback memory.
pub struct Readback<'a> {
    /// The header words.
    pub header: [u64; header::WORDS],
    /// Groups in claim order.
    pub groups: &'a [GroupOut],
    /// Error and histogram counters.
    pub counts: &'a [CountOut],
    /// Window ids, by window index.
    pub windows: &'a [i64],
    /// Rejected lines (unordered).
    pub rejects: &'a [RejectOut],
}

/// Outcome of waiting for a batch.
pub enum Finished<'a> {
    /// Results are ready.
    Ready(Readback<'a>),
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
    h_header: PinnedStorage,
    h_out: PinnedStorage,
}

impl Buffers {
    fn new(ctx: &Arc<CudaContext>, bytes_cap: usize, lines_cap: usize) -> Result<Self, GpuError> {
        let l = lines_cap;
        let out_bytes = l * std::mem::size_of::<GroupOut>()
            + 2 * l * std::mem::size_of::<CountOut>()
            + l * 8
            + l * std::mem::size_of::<RejectOut>();
        Ok(Buffers {
            bytes_cap,
            lines_cap,
            // Padding: 16-byte loads may read up to 15 bytes past the last line.
            d_bytes: DevBuf::zeroed(ctx, bytes_cap + 64)?,
            d_tiles: DevBuf::zeroed(ctx, (bytes_cap / LI_TILE as usize + 2) * 4)?,
            d_nl: DevBuf::zeroed(ctx, l * 4)?,
            d_header: DevBuf::zeroed(ctx, header::WORDS * 8)?,
            d_groups: DevBuf::zeroed(ctx, 2 * l * GROUP_SLOT_BYTES)?,
            d_counts: DevBuf::zeroed(ctx, 4 * l * COUNT_SLOT_BYTES)?,
            d_windows: DevBuf::zeroed(ctx, 2 * l * WINDOW_SLOT_BYTES)?,
            d_gclaim: DevBuf::zeroed(ctx, l * 4)?,
            d_cclaim: DevBuf::zeroed(ctx, 2 * l * 4)?,
            d_wclaim: DevBuf::zeroed(ctx, l * 4)?,
            d_rejects: DevBuf::zeroed(ctx, l * std::mem::size_of::<RejectOut>())?,
            d_gout: DevBuf::zeroed(ctx, l * std::mem::size_of::<GroupOut>())?,
            d_cout: DevBuf::zeroed(ctx, 2 * l * std::mem::size_of::<CountOut>())?,
            d_wout: DevBuf::zeroed(ctx, l * 8)?,
            h_header: PinnedStorage::new(ctx, header::WORDS * 8)?,
            h_out: PinnedStorage::new(ctx, out_bytes)?,
        })
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
    /// Host milliseconds the last readback took.
    readback_ms: f32,
}

impl Slot {
    /// A slot on its own stream; buffers are sized at the first batch.
    pub fn new(ctx: &Arc<CudaContext>) -> Result<Self, GpuError> {
        let stream = ctx.new_stream().ctx("creating a stream")?;
        let ev = || {
            ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
                .ctx("creating an event")
        };
        Ok(Slot {
            ctx: ctx.clone(),
            stream,
            events: [ev()?, ev()?, ev()?, ev()?, ev()?],
            bufs: None,
            n: 0,
            readback_ms: 0.0,
        })
    }

    /// The slot's stream.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
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
        self.stream.synchronize().ctx("waiting before resizing")?;
        let (b0, l0) = self
            .bufs
            .as_ref()
            .map_or((0, 0), |b| (b.bytes_cap, b.lines_cap));
        let bytes_cap = bytes.max(b0).max(1 << 16);
        let lines_cap = lines.max(l0).max(1024).next_power_of_two();
        self.bufs = None;
        self.bufs = Some(Buffers::new(&self.ctx, bytes_cap, lines_cap)?);
        Ok(())
    }

    /// Uploads `bytes` (whole lines) and queues the kernels; `lines` is the expected line count.
    /// `bytes` must stay alive and unchanged until [`Slot::finish`] returns.
    pub fn enqueue(
        &mut self,
        k: &Kernels,
        bytes: &[u8],
        lines: u64,
        seq: u64,
    ) -> Result<(), GpuError> {
        if bytes.len() >= (u32::MAX - 1024) as usize {
            return Err(GpuError::Program(format!(
                "batch of {} bytes: the GPU path takes batches under 4 GiB",
                bytes.len()
            )));
        }
        self.ensure(bytes.len(), lines as usize)?;
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
        if !bytes.is_empty() {
            // SAFETY: the device buffer holds at least `bytes.len()` bytes; the caller keeps
            // `bytes` alive until the stream has passed this copy (see `enqueue`).
            unsafe { result::memcpy_htod_async(b.d_bytes.ptr(), bytes, self.stream.cu_stream()) }
                .ctx("copying the batch to the device")?;
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
        let n = self.n as u32;
        let ntiles = n.div_ceil(LI_TILE).max(1);
        let lines_cap = b.lines_cap as u32;
        let gmask = (2 * b.lines_cap - 1) as u32;
        let cmask = (4 * b.lines_cap - 1) as u32;
        let wmask = gmask;
        let seq = seq as i64;
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
        let stage = STAGE_BYTES;
        // SAFETY: argument lists match the kernels' signatures in kernels/*.cu; every buffer is
        // sized by `Buffers::new` for `lines_cap` lines and `bytes_cap` bytes, and the kernels
        // bound their writes by those capacities.
        unsafe {
            launch(
                &k.count_newlines,
                ntiles,
                256,
                0,
                s,
                &mut kargs![bytes, n, tiles],
            )
            .ctx("lp_count_newlines")?;
            launch(
                &k.scan_tiles,
                1,
                1024,
                0,
                s,
                &mut kargs![tiles, ntiles, hdr],
            )
            .ctx("lp_scan_tiles")?;
            launch(
                &k.write_newlines,
                ntiles,
                256,
                0,
                s,
                &mut kargs![bytes, n, tiles, nl, lines_cap],
            )
            .ctx("lp_write_newlines")?;
            self.events[2].record(s).ctx("recording an event")?;
            let grid = lines_cap.div_ceil(PARSE_THREADS);
            launch(
                &k.parse_aggregate,
                grid,
                PARSE_THREADS,
                stage + 16,
                s,
                &mut kargs![
                    bytes, nl, lines_cap, hdr, groups, gmask, counts, cmask, windows, wmask,
                    gclaim, cclaim, wclaim, rejects, seq, stage
                ],
            )
            .ctx("lp_parse_aggregate")?;
            self.events[3].record(s).ctx("recording an event")?;
            launch(
                &k.compact_counts,
                COMPACT_BLOCKS,
                256,
                0,
                s,
                &mut kargs![counts, cclaim, groups, windows, hdr, cout],
            )
            .ctx("lp_compact_counts")?;
            launch(
                &k.compact_groups,
                COMPACT_BLOCKS,
                256,
                0,
                s,
                &mut kargs![groups, gclaim, windows, wclaim, hdr, gout, wout],
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

    /// Waits for the batch and copies back its compacted results.
    pub fn finish(&mut self) -> Result<Finished<'_>, GpuError> {
        self.ctx.bind_to_thread().ctx("binding the context")?;
        self.events[4].synchronize().ctx("waiting for the batch")?;
        let started = std::time::Instant::now();
        let b = self
            .bufs
            .as_ref()
            .ok_or(GpuError::Result("no buffers".into()))?;
        let mut h = [0u64; header::WORDS];
        h.copy_from_slice(
            &b.h_header.as_slice()[..header::WORDS * 8]
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    u64::from_ne_bytes(a)
                })
                .collect::<Vec<_>>(),
        );
        let lines = h[header::LINES];
        if lines > b.lines_cap as u64 {
            return Ok(Finished::TooManyLines(lines));
        }
        let ng = h[header::NGROUPS] as usize;
        let nc = h[header::NCOUNTS] as usize;
        let nw = h[header::NWINDOWS] as usize;
        let nr = h[header::NREJECTS] as usize;
        let l = b.lines_cap;
        if ng > l || nc > 2 * l || nw > l || nr > l {
            return Err(GpuError::Result(format!(
                "counts past capacity: {ng} groups, {nc} counters, {nw} windows, {nr} rejects for {l} lines"
            )));
        }
        let gsz = std::mem::size_of::<GroupOut>();
        let csz = std::mem::size_of::<CountOut>();
        let rsz = std::mem::size_of::<RejectOut>();
        // Sections of h_out, each 8-byte aligned: groups | counts | windows | rejects.
        let o_g = 0;
        let o_c = o_g + l * gsz;
        let o_w = o_c + 2 * l * csz;
        let o_r = o_w + l * 8;
        let base = b.h_out.ptr() as *mut u8;
        let s = self.stream.cu_stream();
        // SAFETY: each destination lies inside `h_out` (sized in `Buffers::new` for these
        // capacities, checked above) and each source holds at least as many bytes.
        unsafe {
            let copy = |off: usize, src: sys::CUdeviceptr, len: usize| {
                if len == 0 {
                    return Ok(());
                }
                let dst = std::slice::from_raw_parts_mut(base.add(off), len);
                result::memcpy_dtoh_async(dst, src, s)
            };
            copy(o_g, b.d_gout.ptr(), ng * gsz).ctx("copying groups back")?;
            copy(o_c, b.d_cout.ptr(), nc * csz).ctx("copying counters back")?;
            copy(o_w, b.d_wout.ptr(), nw * 8).ctx("copying windows back")?;
            copy(o_r, b.d_rejects.ptr(), nr * rsz).ctx("copying rejects back")?;
        }
        self.stream.synchronize().ctx("waiting for the results")?;
        self.readback_ms = started.elapsed().as_secs_f32() * 1e3;
        // SAFETY: the copies above completed; the sections are aligned for their types (the
        // pinned buffer is page aligned and every section offset is a multiple of 8), and the
        // types are plain old data.
        let rb = unsafe {
            Readback {
                header: h,
                groups: std::slice::from_raw_parts(base.add(o_g) as *const GroupOut, ng),
                counts: std::slice::from_raw_parts(base.add(o_c) as *const CountOut, nc),
                windows: std::slice::from_raw_parts(base.add(o_w) as *const i64, nw),
                rejects: std::slice::from_raw_parts(base.add(o_r) as *const RejectOut, nr),
            }
        };
        Ok(Finished::Ready(rb))
    }
}
