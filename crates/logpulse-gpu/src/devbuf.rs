//! Raw device allocations and kernel launches. The backend orders all work itself (streams and
//! events), so it uses plain device pointers rather than cudarc's tracked slices.

use std::ffi::c_void;
use std::sync::Arc;

use cudarc::driver::{result, sys, CudaContext, CudaFunction, CudaStream, DriverError};

use crate::error::{DriverContext, GpuError};

/// A device allocation, freed on drop; [`DevBuf::zeroed`] (or [`DevBuf::clear`]) zeroes it in a
/// stream's order.
pub struct DevBuf {
    ptr: sys::CUdeviceptr,
    len: usize,
    ctx: Arc<CudaContext>,
}

impl DevBuf {
    /// `len` bytes of device memory, not cleared (see [`DevBuf::clear`]).
    pub fn new(ctx: &Arc<CudaContext>, len: usize) -> Result<Self, GpuError> {
        let len = len.max(16);
        ctx.bind_to_thread().ctx("binding the context")?;
        // SAFETY: a fresh allocation, cleared by the caller before use.
        let ptr = unsafe { result::malloc_sync(len) }.ctx("cuMemAlloc")?;
        Ok(DevBuf {
            ptr,
            len,
            ctx: ctx.clone(),
        })
    }

    /// Queues a clear of the whole buffer on `stream`: work queued on `stream` after it sees
    /// zeros. (`cuMemsetD8` is queued on the legacy default stream, which the slots'
    /// non-blocking streams do not wait for: with the GPU shared or busy, a clear could land
    /// after a first batch's kernels had written, and erase their results.) The buffer must
    /// not be freed before `stream` has passed the clear.
    pub fn clear(&self, stream: &CudaStream) -> Result<(), GpuError> {
        // SAFETY: `ptr` holds `len` bytes.
        unsafe { result::memset_d8_async(self.ptr, 0, self.len, stream.cu_stream()) }
            .ctx("cuMemsetD8Async")
    }

    /// `len` bytes of device memory, cleared in `stream`'s order ([`DevBuf::clear`]).
    pub fn zeroed(
        ctx: &Arc<CudaContext>,
        len: usize,
        stream: &CudaStream,
    ) -> Result<Self, GpuError> {
        let buf = Self::new(ctx, len)?;
        // A clear that failed to queue left nothing behind to wait for.
        buf.clear(stream)?;
        Ok(buf)
    }

    /// The device address.
    pub fn ptr(&self) -> sys::CUdeviceptr {
        self.ptr
    }
}

impl Drop for DevBuf {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_ok() {
            // SAFETY: allocated by cuMemAlloc; callers synchronise the streams using it (its
            // clear included) first.
            let _ = unsafe { result::memory_free(self.ptr) };
        }
    }
}

/// Kernel arguments: each a pointer to the value (the driver copies them at launch).
#[macro_export]
macro_rules! kargs {
    ($($a:expr),* $(,)?) => {
        [$(&$a as *const _ as *mut ::std::ffi::c_void),*]
    };
}

/// Launches `f` on `stream` with a 1-D grid.
///
/// # Safety
/// `args` must match the kernel's parameters in number, order and type, and every pointer
/// argument must be valid for what the kernel does with it.
pub unsafe fn launch(
    f: &CudaFunction,
    grid: u32,
    block: u32,
    smem: u32,
    stream: &CudaStream,
    args: &mut [*mut c_void],
) -> Result<(), DriverError> {
    result::launch_kernel(
        f.cu_function(),
        (grid.max(1), 1, 1),
        (block, 1, 1),
        smem,
        stream.cu_stream(),
        args,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer's zeroing is ordered on the stream it is given, even while the legacy default
    /// stream is held up by a long kernel (as when another process or busy work keeps the GPU):
    /// a fill queued on the stream after the zeroing survives it. With the zeroing on the
    /// legacy default stream (`cuMemsetD8`, before 2026-12-07) it ran after the fill and erased
    /// it, which is how a first batch's rejects once came back as zeros ("reject code 0").
    #[test]
    fn zeroing_is_ordered_on_the_stream() {
        let ctx = match crate::device::open(0) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("SKIPPED: no CUDA device ({e})");
                return;
            }
        };
        if !crate::nvrtc_available() {
            eprintln!("SKIPPED: no NVRTC library");
            return;
        }
        let src = "extern \"C\" __global__ void lp_spin(unsigned long long cycles) {\n\
                   long long t0 = clock64();\n\
                   while ((unsigned long long)(clock64() - t0) < cycles) {}\n}\n";
        let ptx = cudarc::nvrtc::compile_ptx(src).expect("NVRTC");
        let module = ctx.load_module(ptx).expect("module");
        let spin = module.load_function("lp_spin").expect("lp_spin");
        // ~0.2-0.3 s at the H100's clocks, on the legacy default stream (a null stream).
        let cycles: u64 = 500_000_000;
        let mut args = kargs![cycles];
        // SAFETY: one u64 argument, as the kernel takes.
        unsafe {
            result::launch_kernel(
                spin.cu_function(),
                (1, 1, 1),
                (1, 1, 1),
                0,
                std::ptr::null_mut(),
                &mut args,
            )
        }
        .expect("launching lp_spin");
        let stream = ctx.new_stream().expect("stream");
        let len = 1 << 20;
        let buf = DevBuf::zeroed(&ctx, len, &stream).expect("buffer");
        // SAFETY: `buf` holds `len` bytes.
        unsafe { result::memset_d8_async(buf.ptr(), 0x5A, len, stream.cu_stream()) }.expect("fill");
        stream.synchronize().expect("stream");
        ctx.synchronize().expect("context");
        let mut back = vec![0u8; len];
        // SAFETY: `buf` holds `len` bytes; everything queued is done.
        unsafe { result::memcpy_dtoh_sync(&mut back, buf.ptr()) }.expect("readback");
        let zeros = back.iter().filter(|&&b| b == 0).count();
        assert_eq!(zeros, 0, "{zeros} bytes zeroed after the fill");
        assert!(back.iter().all(|&b| b == 0x5A));
    }
}
