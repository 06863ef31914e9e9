//! Finding the driver and the devices without ever panicking.
//!
//! cudarc loads `libcuda` lazily and panics when it is missing; every entry point of this crate
//! therefore probes for the library first, and wraps the first driver call in `catch_unwind`,
//! so a machine without CUDA gets an error (or zero devices), never a crash.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use cudarc::driver::{sys, CudaContext};

use crate::error::{DriverContext, GpuError};

/// Runs `f`, turning a panic of the dynamic loader into [`GpuError::NoDevice`].
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, GpuError>) -> Result<T, GpuError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string());
            Err(GpuError::NoDevice(format!("{what}: {msg}")))
        }
    }
}

/// True when the CUDA driver library can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    catch_unwind(|| unsafe { sys::is_culib_present() }).unwrap_or(false)
}

/// True when the NVRTC library can be loaded.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() }).unwrap_or(false)
}

/// Number of CUDA devices: 0 when there is no driver library or no device.
pub fn device_count() -> Result<usize, GpuError> {
    if !driver_present() {
        return Ok(0);
    }
    guarded("counting CUDA devices", || {
        match CudaContext::device_count() {
            Ok(n) => Ok(n.max(0) as usize),
            // No device, or a driver that refuses to start, is "zero devices" to callers.
            Err(e)
                if e.0 == sys::cudaError_enum::CUDA_ERROR_NO_DEVICE
                    || e.0 == sys::cudaError_enum::CUDA_ERROR_NOT_INITIALIZED =>
            {
                Ok(0)
            }
            Err(e) => Err(e).ctx("cuDeviceGetCount"),
        }
    })
}

/// Opens (retains) the primary context of device `ordinal`.
pub fn open(ordinal: usize) -> Result<Arc<CudaContext>, GpuError> {
    let n = device_count()?;
    if ordinal >= n {
        return Err(GpuError::NoDevice(if n == 0 {
            "no CUDA device (driver library or device missing)".to_string()
        } else {
            format!("device {ordinal} requested, {n} present")
        }));
    }
    if !nvrtc_present() {
        return Err(GpuError::NoDevice(
            "the NVRTC library (libnvrtc) is missing: it compiles the kernels at start-up"
                .to_string(),
        ));
    }
    guarded("opening the CUDA device", || {
        let ctx = CudaContext::new(ordinal).ctx("creating the context")?;
        // This crate orders its streams itself with events; cudarc's per-slice tracking would
        // add hidden waits that serialise the copy and compute streams.
        // SAFETY: every buffer of this crate is used on the streams that the code orders.
        unsafe { ctx.disable_event_tracking() };
        Ok(ctx)
    })
}

/// A new event that records timing (for the stage, copy and timeline measurements).
pub fn timing_event(ctx: &Arc<CudaContext>) -> Result<cudarc::driver::CudaEvent, GpuError> {
    ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
        .ctx("creating an event")
}
