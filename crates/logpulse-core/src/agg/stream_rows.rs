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
use super::ThinVec;

/// True when `LOGPULSE_STREAM_ROWS=1` (read once).
pub(super) fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| crate::env_flag("LOGPULSE_STREAM_ROWS"))
}

/// Moves `e` into `slot` with streaming stores (x86-64) or a plain write. The stores are
/// weakly ordered: whoever publishes the slot to another thread must hold a [`Fence`] that
/// drops first. Field by field (padding is never read, whatever the layout), every field named
/// (a new field of `Entry` or `Agg` fails to compile here until it is written too).
#[inline(always)]
pub(super) fn write(slot: &mut MaybeUninit<Entry>, e: Entry) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_stream_si32, _mm_stream_si64};
        use std::ptr::addr_of_mut;
        let Entry {
            hash,
            window,
            key_off,
            key_len,
            agg,
        } = e;
        let super::Agg {
            requests,
            bytes,
            s4xx,
            s5xx,
            errors,
            latency_count,
            latency_sum_us,
        } = agg;
        let p = slot.as_mut_ptr();
        // SAFETY: `p` points to memory valid for an `Entry` (the slot); each store writes one
        // field at its own, aligned address (`addr_of_mut!`, no reference to uninitialised
        // memory). The integers are stored as the same-sized signed bits. `errors` is moved
        // into the slot by `stream_thin_vec` (never dropped here), so it has one owner.
        unsafe {
            _mm_stream_si64(addr_of_mut!((*p).hash).cast(), hash as i64);
            _mm_stream_si64(addr_of_mut!((*p).window).cast(), window);
            _mm_stream_si32(addr_of_mut!((*p).key_off).cast(), key_off as i32);
            _mm_stream_si32(addr_of_mut!((*p).key_len).cast(), key_len as i32);
            let a = addr_of_mut!((*p).agg);
            _mm_stream_si64(addr_of_mut!((*a).requests).cast(), requests as i64);
            _mm_stream_si64(addr_of_mut!((*a).bytes).cast(), bytes as i64);
            _mm_stream_si64(addr_of_mut!((*a).s4xx).cast(), s4xx as i64);
            _mm_stream_si64(addr_of_mut!((*a).s5xx).cast(), s5xx as i64);
            stream_thin_vec(addr_of_mut!((*a).errors), errors);
            _mm_stream_si64(
                addr_of_mut!((*a).latency_count).cast(),
                latency_count as i64,
            );
            _mm_stream_si64(
                addr_of_mut!((*a).latency_sum_us).cast(),
                latency_sum_us as i64,
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        slot.write(e);
    }
}

// A `ThinVec` is one pointer (to its header, or to a shared empty one).
const _: () = assert!(std::mem::size_of::<ThinVec<(u16, u64)>>() == 8);
const _: () = assert!(std::mem::align_of::<ThinVec<(u16, u64)>>() == 8);

/// Moves `v` to `dst` with one streaming store. The pointer is loaded as a pointer and stored
/// by `movnti` in inline assembly, which the compiler treats as an opaque write of that
/// pointer: its provenance survives (an integer round trip would lose it).
///
/// # Safety
/// `dst` must be valid for an aligned 8-byte write; `v`'s ownership passes to `*dst`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn stream_thin_vec(dst: *mut ThinVec<(u16, u64)>, v: ThinVec<(u16, u64)>) {
    let v = std::mem::ManuallyDrop::new(v);
    // SAFETY: `ThinVec` is exactly one pointer (checked above): read as a pointer, its bits
    // and provenance are the vector's.
    let bits: *mut () = unsafe { std::ptr::read((&*v as *const ThinVec<(u16, u64)>).cast()) };
    // SAFETY: the caller's contract; `movnti` writes 8 bytes at `dst` and touches nothing else.
    unsafe {
        std::arch::asm!(
            "movnti qword ptr [{dst}], {bits}",
            dst = in(reg) dst,
            bits = in(reg) bits,
            options(nostack, preserves_flags)
        );
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
