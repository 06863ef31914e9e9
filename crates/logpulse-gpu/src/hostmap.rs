//! Registering the pages of a mapped file with the driver (`cuMemHostRegister`, read-only), so
//! that a batch viewing the mapping copies to the device by DMA from the page cache itself,
//! with no host copy into a pinned buffer first.
//!
//! Pages are registered in chunks at fixed addresses (multiples of [`CHUNK`], clipped to the
//! mapping), each once, while a batch views it: batches are cut anywhere, so a chunk is usually
//! shared by two batches, and the chunks of the last batch pinned are kept for the next one. A
//! copy must not span two registrations (the driver refuses it: `CUDA_ERROR_INVALID_VALUE`), so
//! uploads go in [`pieces`] split at the same addresses. Measured on the H200 host (`mmap_probe`):
//! registering runs at 31-45 GB/s whatever the number of threads (the driver serialises it) and
//! does not overlap copies, which caps this path near 23 GB/s, about twice the `pread` path.
//! A chunk the driver refuses to register is still copied, pageable (slower, same results).

use std::collections::HashMap;
use std::ffi::c_void;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use cudarc::driver::{sys, CudaContext};
use logpulse_core::batch::MapPinner;
use logpulse_core::BackendError;

use crate::device;

/// Bytes registered at once, and the alignment of the registrations' addresses (the probe's
/// best size: few calls, little held).
pub const CHUNK: usize = 64 << 20;

/// `bytes` cut at addresses that are multiples of [`CHUNK`]: each piece lies within one
/// registration of [`HostMapPinner`] (or one allocation), so each can be copied in one call.
pub fn pieces(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let to_boundary = CHUNK - (rest.as_ptr() as usize) % CHUNK;
        let (piece, more) = rest.split_at(to_boundary.min(rest.len()));
        rest = more;
        Some(piece)
    })
}

/// Registers the pages batches view; give it to the batch pool ([`BufferPool::with_pinner`]).
///
/// [`BufferPool::with_pinner`]: logpulse_core::batch::BufferPool::with_pinner
pub struct HostMapPinner {
    ctx: Arc<CudaContext>,
    state: Mutex<Chunks>,
    warned: AtomicBool,
}

/// The registered chunks.
#[derive(Default)]
struct Chunks {
    /// By address; alive while a batch (or `kept`) holds them.
    live: HashMap<usize, Weak<Registered>>,
    /// The last batch's: the next batch starts in the last of them.
    kept: Vec<Arc<Registered>>,
}

/// One registered chunk, unregistered when the last batch viewing it is gone.
struct Registered {
    ptr: usize,
    len: usize,
    ok: bool,
    ctx: Arc<CudaContext>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if self.ok && self.ctx.bind_to_thread().is_ok() {
            // SAFETY: registered by `HostMapPinner::register`, unregistered once; the mapping
            // is still there (a batch's guard drops before its bytes).
            let _ = unsafe { sys::cuMemHostUnregister(self.ptr as *mut c_void) };
        }
    }
}

/// A batch's hold on its chunks.
struct Held(#[allow(dead_code)] Vec<Arc<Registered>>);

impl HostMapPinner {
    /// A pinner registering through the context of device `ordinal` (registrations are
    /// portable: every GPU of the host copies from them).
    pub fn new(ordinal: usize) -> Result<Self, BackendError> {
        Ok(HostMapPinner {
            ctx: device::open(ordinal)?,
            state: Mutex::new(Chunks::default()),
            warned: AtomicBool::new(false),
        })
    }

    fn register(&self, ptr: usize, len: usize) -> Registered {
        let ok = self.ctx.bind_to_thread().is_ok() && {
            // SAFETY: `ptr..ptr + len` lies in a live read-only mapping (the caller's `whole`),
            // which outlives the registration (see `Registered::drop`).
            let r = unsafe {
                sys::cuMemHostRegister_v2(
                    ptr as *mut c_void,
                    len,
                    sys::CU_MEMHOSTREGISTER_READ_ONLY | sys::CU_MEMHOSTREGISTER_PORTABLE,
                )
            };
            if r != sys::CUresult::CUDA_SUCCESS && !self.warned.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "logpulse: registering a mapped file's pages with CUDA failed ({r:?}); \
                     copying them unregistered (slower, same results)"
                );
            }
            r == sys::CUresult::CUDA_SUCCESS
        };
        Registered {
            ptr,
            len,
            ok,
            ctx: self.ctx.clone(),
        }
    }
}

impl MapPinner for HostMapPinner {
    fn pin(&self, whole: &[u8], range: Range<usize>) -> Box<dyn Send + Sync> {
        if range.is_empty() {
            return Box::new(Held(Vec::new()));
        }
        let (base, end) = (
            whole.as_ptr() as usize,
            whole.as_ptr() as usize + whole.len(),
        );
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut held = Vec::new();
        for k in (base + range.start) / CHUNK..=(base + range.end - 1) / CHUNK {
            let at = (k * CHUNK).max(base);
            let len = ((k + 1) * CHUNK).min(end) - at;
            let chunk = match st.live.get(&at).and_then(Weak::upgrade) {
                Some(r) if r.len == len => r,
                _ => {
                    let r = Arc::new(self.register(at, len));
                    st.live.insert(at, Arc::downgrade(&r));
                    r
                }
            };
            held.push(chunk);
        }
        st.kept.clone_from(&held);
        st.live.retain(|_, w| w.strong_count() > 0);
        Box::new(Held(held))
    }

    fn done_with(&self, _whole: &[u8]) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.kept.clear();
        st.live.retain(|_, w| w.strong_count() > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_end_at_chunk_addresses_and_cover_the_bytes() {
        let v = vec![7u8; 3 * CHUNK + 12345];
        for (from, to) in [(0, v.len()), (5, 2 * CHUNK + 9), (100, 200), (0, 0)] {
            let s = &v[from..to];
            let ps: Vec<&[u8]> = pieces(s).collect();
            assert_eq!(ps.iter().map(|p| p.len()).sum::<usize>(), s.len());
            for p in &ps {
                let (a, b) = (p.as_ptr() as usize, p.as_ptr() as usize + p.len() - 1);
                assert_eq!(a / CHUNK, b / CHUNK, "a piece spans a chunk boundary");
            }
            // In order, back to back.
            let mut at = s.as_ptr() as usize;
            for p in &ps {
                assert_eq!(p.as_ptr() as usize, at);
                at += p.len();
            }
        }
    }
}
