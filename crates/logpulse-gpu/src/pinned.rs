//! Page-locked (pinned) host memory for batches, so the framer writes straight into memory the
//! GPU copies from at full PCIe speed with no staging copy.
//!
//! Buffers are allocated `PORTABLE`, so every context (hence every GPU of the host) may copy
//! from them: one pool can feed several GPU backends.

use std::sync::{Arc, Mutex};

use cudarc::driver::{result, sys, CudaContext};
use logpulse_core::batch::{BatchStorage, BufferPool};
use logpulse_core::BackendError;

use crate::device;
use crate::error::{DriverContext, GpuError};

/// One pinned allocation, freed when dropped.
pub struct PinnedStorage {
    ptr: *mut u8,
    len: usize,
    ctx: Arc<CudaContext>,
}

// SAFETY: the allocation is plain host memory owned by this value; the context handle is
// thread-safe (cudarc's CudaContext is Send + Sync).
unsafe impl Send for PinnedStorage {}

impl PinnedStorage {
    /// Allocates `len` bytes of portable pinned memory.
    pub fn new(ctx: &Arc<CudaContext>, len: usize) -> Result<Self, GpuError> {
        let len = len.max(1);
        ctx.bind_to_thread().ctx("binding the context")?;
        // SAFETY: a plain allocation; the bytes are zeroed below before anyone reads them.
        let ptr = unsafe { result::malloc_host(len, sys::CU_MEMHOSTALLOC_PORTABLE) }
            .ctx("cuMemHostAlloc (pinned batch buffer)")? as *mut u8;
        if ptr.is_null() {
            return Err(GpuError::Result("cuMemHostAlloc returned null".into()));
        }
        // SAFETY: `ptr` points to `len` writable bytes we own.
        unsafe { std::ptr::write_bytes(ptr, 0, len) };
        Ok(PinnedStorage {
            ptr,
            len,
            ctx: ctx.clone(),
        })
    }

    /// The whole allocation.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The whole allocation, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The device-visible host pointer (the same address under unified addressing).
    pub fn ptr(&self) -> *const u8 {
        self.ptr
    }
}

impl Drop for PinnedStorage {
    fn drop(&mut self) {
        // A failure here cannot be reported from drop; the memory is then leaked, not reused.
        if self.ctx.bind_to_thread().is_ok() {
            // SAFETY: allocated by cuMemHostAlloc above and freed once.
            let _ = unsafe { result::free_host(self.ptr as *mut std::ffi::c_void) };
        }
    }
}

impl BatchStorage for PinnedStorage {
    fn full(&self) -> &[u8] {
        self.as_slice()
    }
    fn full_mut(&mut self) -> Option<&mut [u8]> {
        Some(self.as_mut_slice())
    }
}

/// A pool of `count` pinned buffers of `capacity` bytes, allocated now (so a failure is
/// reported here, not in the middle of a run). Should the pool ever need another buffer that
/// cannot be pinned, it falls back to heap memory: slower copies, same results.
pub fn pinned_pool(count: usize, capacity: usize) -> Result<BufferPool, BackendError> {
    Ok(pool_with(count, capacity, count)?)
}

/// Like [`pinned_pool`], but only the first buffer is allocated now (a failure to pin at all is
/// still reported here); the others are made on a thread of their own while the stream
/// starts (see [`BufferPool::fill_in_background`]).
pub fn pinned_pool_background(count: usize, capacity: usize) -> Result<BufferPool, BackendError> {
    let pool = pool_with(count, capacity, 1)?;
    pool.fill_in_background();
    Ok(pool)
}

/// A pool of `count` pinned buffers, `now` of them allocated before returning.
fn pool_with(count: usize, capacity: usize, now: usize) -> Result<BufferPool, GpuError> {
    let ctx = device::open(0)?;
    let count = count.max(1);
    let mut made = Vec::with_capacity(count);
    for _ in 0..now.clamp(1, count) {
        made.push(PinnedStorage::new(&ctx, capacity)?);
    }
    let stash = Arc::new(Mutex::new(made));
    let factory = Arc::new(move |cap: usize| -> Box<dyn BatchStorage> {
        let ready = stash.lock().ok().and_then(|mut s| s.pop());
        match ready.map_or_else(|| PinnedStorage::new(&ctx, cap), Ok) {
            Ok(s) => Box::new(s),
            Err(_) => Box::new(vec![0u8; cap]),
        }
    });
    Ok(BufferPool::new(count, capacity, factory).for_device())
}

/// Like [`pinned_pool`], but buffers are pinned only when first taken, by the thread taking
/// them (so many threads filling a large pool pin and zero its memory in parallel).
pub fn pinned_pool_lazy(count: usize, capacity: usize) -> Result<BufferPool, BackendError> {
    let ctx = device::open(0)?;
    let factory = Arc::new(move |cap: usize| -> Box<dyn BatchStorage> {
        match PinnedStorage::new(&ctx, cap) {
            Ok(s) => Box::new(s),
            Err(_) => Box::new(vec![0u8; cap]),
        }
    });
    Ok(BufferPool::new(count.max(1), capacity, factory).for_device())
}
