//! Raw device allocations and kernel launches. The backend orders all work itself (streams and
//! events), so it uses plain device pointers rather than cudarc's tracked slices.

use std::ffi::c_void;
use std::sync::Arc;

use cudarc::driver::{result, sys, CudaContext, CudaFunction, CudaStream, DriverError};

use crate::error::{DriverContext, GpuError};

/// A zero-initialised device allocation, freed on drop.
pub struct DevBuf {
    ptr: sys::CUdeviceptr,
    ctx: Arc<CudaContext>,
}

impl DevBuf {
    /// `len` bytes of device memory, zeroed.
    pub fn zeroed(ctx: &Arc<CudaContext>, len: usize) -> Result<Self, GpuError> {
        let len = len.max(16);
        ctx.bind_to_thread().ctx("binding the context")?;
        // SAFETY: a fresh allocation, zeroed before use.
        let ptr = unsafe { result::malloc_sync(len) }.ctx("cuMemAlloc")?;
        let buf = DevBuf {
            ptr,
            ctx: ctx.clone(),
        };
        // SAFETY: `ptr` holds `len` bytes.
        unsafe { result::memset_d8_sync(ptr, 0, len) }.ctx("cuMemsetD8")?;
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
            // SAFETY: allocated by cuMemAlloc; callers synchronise the streams using it first.
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
