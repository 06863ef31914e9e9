//! Table rows written with streaming (non-temporal) stores, for tables built by the million
//! and read later by another thread: a GPU batch's ~67k groups become 5.4 MB of rows a batch.
//!
//! Why it was tried: an ordinary store to a line not in cache first reads that line from
//! memory (read for ownership), so writing N bytes of fresh rows moves 2N bytes, and on the GPU
//! host the CPU's memory traffic slows the upload engine (BENCHMARKS.md, "what slows the copies
//! inside a run"). Measured on the H100 machine (BENCHMARKS.md, "streamed table rows"): builds
//! 1.5-4x faster for TSV, but end to end no faster (the uploads stayed the bound) and the
//! page-cached `run` a little slower (the splitters then read the rows from memory, not cache).
//! So it is **off** by default; `LOGPULSE_STREAM_ROWS=1` turns it on. Off x86-64 the rows are
//! plain writes either way.

use std::mem::MaybeUninit;
use std::sync::OnceLock;

use super::table::Entry;

/// True when `LOGPULSE_STREAM_ROWS=1` (read once).
pub(super) fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| crate::env_number::<u8>("LOGPULSE_STREAM_ROWS") == Some(1))
}

// `write` copies an entry as ten 8-byte words: it must have no padding (reading padding bytes
// as integers is undefined), which the fields' sizes summing to the whole show.
const _: () = assert!(
    std::mem::size_of::<Entry>()
        == 8 + 8 + 4 + 4 + 4 * 8 + std::mem::size_of::<super::ThinVec<(u16, u64)>>() + 2 * 8
);
const _: () = assert!(std::mem::size_of::<Entry>().is_multiple_of(8));
const _: () = assert!(std::mem::align_of::<Entry>() >= 8);

/// Moves `e` into `slot` with streaming stores (x86-64) or a plain write. The stores are
/// weakly ordered: whoever publishes the slot to another thread must hold a [`Fence`] that
/// drops first.
#[inline(always)]
pub(super) fn write(slot: &mut MaybeUninit<Entry>, e: Entry) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::_mm_stream_si64;
        const WORDS: usize = std::mem::size_of::<Entry>() / 8;
        let e = std::mem::ManuallyDrop::new(e);
        let src = (&*e as *const Entry).cast::<i64>();
        let dst = slot.as_mut_ptr().cast::<i64>();
        // SAFETY: `Entry` is WORDS padding-free 8-byte words (checked above) and 8-aligned, so
        // both pointers are valid for WORDS aligned i64 reads/writes. The bits are moved, not
        // duplicated: `e` is never dropped (ManuallyDrop), so its `ThinVec` has one owner, the
        // slot. `_mm_stream_si64` needs SSE2, part of every x86-64 CPU.
        unsafe {
            for i in 0..WORDS {
                _mm_stream_si64(dst.add(i), src.add(i).read());
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        slot.write(e);
    }
}

/// Makes this thread's streaming stores visible before anything it writes after (a store
/// fence) when dropped: held by each piece of work that [`write`]s rows, so the rows are in
/// memory before the piece reports itself done.
pub(super) struct Fence;

impl Drop for Fence {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a store fence has no preconditions (SSE, part of every x86-64 CPU).
        unsafe {
            std::arch::x86_64::_mm_sfence();
        }
    }
}
