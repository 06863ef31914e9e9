//! Pinned host memory the compacted results of one batch are copied into, and its layout.
//!
//! A [`HostOut`] is owned by whoever builds the batch's partial (a worker thread in
//! [`crate::GpuBackend`]'s `run`), so the device's slot is free for the next batch while the
//! host still reads this one's results. Pinned memory is filled asynchronously: the copies
//! are queued behind the batch's kernels and an event marks their end, which the builder
//! waits for ([`HostOut::wait`]), so the thread feeding the device never waits for a
//! readback.

use std::sync::Arc;

use cudarc::driver::{sys, CudaContext, CudaEvent, CudaStream};

use crate::error::{DriverContext, GpuError};
use crate::layout::{header, CountOut, GroupOut, RejectOut};
use crate::pinned::PinnedStorage;

/// Sizes of what came back, from the batch's header.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// The header words.
    pub header: [u64; header::WORDS],
    /// Groups.
    pub groups: usize,
    /// Error and histogram counters.
    pub counts: usize,
    /// Windows (of latency histograms).
    pub windows: usize,
    /// Rejected lines.
    pub rejects: usize,
    /// Bytes of packed key text.
    pub key_bytes: usize,
}

/// Byte offsets of each section in a [`HostOut`]; every offset is 8-byte aligned.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub groups: usize,
    pub counts: usize,
    pub windows: usize,
    pub rejects: usize,
    pub keys: usize,
    pub total: usize,
}

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

impl Counts {
    /// Where each section goes.
    pub fn layout(&self) -> Layout {
        let groups = 0;
        let counts = groups + self.groups * std::mem::size_of::<GroupOut>();
        let windows = counts + self.counts * std::mem::size_of::<CountOut>();
        let rejects = windows + self.windows * 8;
        let keys = rejects + align8(self.rejects * std::mem::size_of::<RejectOut>());
        let total = keys + self.key_bytes;
        Layout {
            groups,
            counts,
            windows,
            rejects,
            keys,
            total,
        }
    }
}

/// The sections of a filled [`HostOut`].
pub struct Sections<'a> {
    pub groups: &'a [GroupOut],
    pub counts: &'a [CountOut],
    pub windows: &'a [i64],
    pub rejects: &'a [RejectOut],
    pub keys: &'a [u8],
}

/// Memory behind a [`HostOut`].
enum Backing {
    /// Page-locked: asynchronous copies, but on some virtual machines slow for the CPU to read.
    Pinned(PinnedStorage),
    /// Ordinary memory, 8-byte aligned: the driver stages the copy, the CPU reads at full speed.
    Heap(Vec<u64>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Pinned(p) => p.as_slice(),
            Backing::Heap(v) => {
                // SAFETY: a u64 buffer viewed as bytes (u8 has no alignment or validity needs).
                unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len() * 8) }
            }
        }
    }
}

/// Growable host memory for one batch's results.
pub struct HostOut {
    ctx: Arc<CudaContext>,
    pinned: bool,
    buf: Option<Backing>,
    /// Pinned memory: recorded after the copies into it (see [`HostOut::mark_ready`]).
    ready: Option<CudaEvent>,
}

impl HostOut {
    /// Empty; memory comes with the first batch. `pinned` picks page-locked memory.
    pub fn new(ctx: &Arc<CudaContext>, pinned: bool) -> Self {
        HostOut {
            ctx: ctx.clone(),
            pinned,
            buf: None,
            ready: None,
        }
    }

    /// True when the memory is page-locked (copies into it are asynchronous).
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }

    /// Records, on `stream`, the end of the copies just queued into this memory.
    pub fn mark_ready(&mut self, stream: &CudaStream) -> Result<(), GpuError> {
        if self.ready.is_none() {
            // Without timing: the cheapest event. A builder waits at most for one batch's
            // results to cross PCIe (~0.1 ms): they are queued once its kernels are done.
            let flags = sys::CUevent_flags::CU_EVENT_DISABLE_TIMING;
            self.ready = Some(self.ctx.new_event(Some(flags)).ctx("creating an event")?);
        }
        match &self.ready {
            Some(e) => e.record(stream).ctx("recording the readback's end"),
            None => Err(GpuError::Result("no readback event".into())),
        }
    }

    /// Waits until the copies into this memory are complete (at once for ordinary memory,
    /// which is copied synchronously).
    pub fn wait(&self) -> Result<(), GpuError> {
        match &self.ready {
            Some(e) => e.synchronize().ctx("waiting for the readback"),
            None => Ok(()),
        }
    }

    /// A pointer to at least `len` bytes (reallocating, contents lost, when smaller).
    pub fn reserve(&mut self, len: usize) -> Result<*mut u8, GpuError> {
        let small = self.buf.as_ref().is_none_or(|b| b.bytes().len() < len);
        if small {
            self.buf = None;
            // Headroom so a slowly growing batch does not reallocate every time (more for
            // page-locked memory, whose allocation costs milliseconds).
            let want = if self.pinned {
                len + len / 2 + (1 << 20)
            } else {
                len + len / 4 + 4096
            };
            self.buf = Some(if self.pinned {
                Backing::Pinned(PinnedStorage::new(&self.ctx, want)?)
            } else {
                Backing::Heap(vec![0u64; want.div_ceil(8)])
            });
        }
        match self.buf.as_mut() {
            Some(Backing::Pinned(p)) => Ok(p.as_mut_slice().as_mut_ptr()),
            Some(Backing::Heap(v)) => Ok(v.as_mut_ptr() as *mut u8),
            None => Err(GpuError::Result("no readback memory".into())),
        }
    }

    /// The sections of a batch whose results were copied in with `counts`' layout.
    pub fn sections(&self, counts: &Counts) -> Result<Sections<'_>, GpuError> {
        let l = counts.layout();
        let buf = self.buf.as_ref().map_or(&[][..], |b| b.bytes());
        if buf.len() < l.total {
            return Err(GpuError::Result("readback smaller than its layout".into()));
        }
        let base = buf.as_ptr();
        // SAFETY: the sections lie inside `buf` (checked above), are 8-byte aligned (both
        // backings are; `Layout` aligns every offset), were written by
        // completed device copies, and the element types are plain old data.
        unsafe {
            Ok(Sections {
                groups: std::slice::from_raw_parts(
                    base.add(l.groups) as *const GroupOut,
                    counts.groups,
                ),
                counts: std::slice::from_raw_parts(
                    base.add(l.counts) as *const CountOut,
                    counts.counts,
                ),
                windows: std::slice::from_raw_parts(
                    base.add(l.windows) as *const i64,
                    counts.windows,
                ),
                rejects: std::slice::from_raw_parts(
                    base.add(l.rejects) as *const RejectOut,
                    counts.rejects,
                ),
                keys: std::slice::from_raw_parts(base.add(l.keys), counts.key_bytes),
            })
        }
    }
}
