//! logpulse-gpu: the CUDA backend.
//!
//! Per batch: the bytes are copied from pinned host memory, a parallel scan indexes the lines,
//! one thread a line runs the plan's format program (the same program the CPU interprets,
//! specialised into the kernel by NVRTC at start-up), keys are hashed with their window and
//! aggregated into a device hash table with atomics; only the compacted groups (with the offset
//! of one occurrence of each key), error and latency counters and rejects come back. The host
//! reads key texts and rejected lines from its own copy of the batch, so the [`Partial`] is
//! exactly the CPU backend's.
//!
//! Everything degrades to an error on machines without CUDA: [`device_count`] returns 0 and
//! [`GpuBackend::new`] returns [`BackendError::NoDevice`]; nothing panics.
//!
//! [`Partial`]: logpulse_core::Partial
//! [`BackendError::NoDevice`]: logpulse_core::BackendError::NoDevice

mod backend;
mod build;
mod devbuf;
mod device;
mod error;
mod hostmap;
mod kernel_cache;
mod kernels;
mod layout;
mod pinned;
mod probe;
mod program;
mod readback;
mod slot;
mod synthetic;
mod timeline;
mod w3c;

pub use backend::{run_shared, GpuBackend, RunStats};
pub use error::GpuError;
pub use hostmap::HostMapPinner;
pub use kernel_cache::KernelsFrom;
pub use kernels::ENTRY_POINTS;
pub use pinned::{pinned_pool, pinned_pool_background, pinned_pool_lazy, PinnedStorage};
pub use probe::{copy_overlap, CopyOverlap};
pub use slot::StageTimes;
/// For benchmarks of the host build (`benches/host_build.rs`).
#[doc(hidden)]
pub use synthetic::SyntheticReadback;

use logpulse_core::BackendError;

/// Number of CUDA devices (0 when the driver library or a device is missing).
pub fn device_count() -> Result<usize, BackendError> {
    Ok(device::device_count()?)
}

/// How a backend on device `ordinal` describes itself (`gpu 0: NVIDIA H200`), without
/// starting one.
pub fn describe_device(ordinal: usize) -> Result<String, BackendError> {
    let ctx = device::open(ordinal)?;
    let name = error::DriverContext::ctx(ctx.name(), "reading the device name")?;
    Ok(backend::describe(ordinal, &name))
}

/// The full CUDA source the kernels are compiled from for `plan` (for inspection and tests).
pub fn kernel_source(plan: &logpulse_core::Plan) -> Result<String, BackendError> {
    Ok(kernels::source(plan)?)
}

/// An error unless NVRTC can be loaded (the compile-only entry points below need no device).
fn need_nvrtc() -> Result<(), BackendError> {
    if device::nvrtc_present() {
        Ok(())
    } else {
        Err(BackendError::NoDevice(
            "the NVRTC library is missing".into(),
        ))
    }
}

/// Seconds to compile the kernels for `plan` (for `compute_90`) with NVRTC, and to read the
/// same PTX back from an on-disk kernel cache in `dir` (what a process after the first pays
/// instead; no device needed).
pub fn time_kernel_cache(
    plan: &logpulse_core::Plan,
    dir: &std::path::Path,
) -> Result<(f64, f64), BackendError> {
    need_nvrtc()?;
    Ok(kernels::time_kernel_cache(plan, "compute_90", dir)?)
}

/// Compiles the kernels for `plan` with NVRTC (no device needed; the on-disk kernel cache is
/// neither read nor written) and returns the PTX; a way to check the generated source on
/// machines with NVRTC but no GPU.
pub fn compile_kernels(plan: &logpulse_core::Plan) -> Result<String, BackendError> {
    need_nvrtc()?;
    Ok(kernels::compile_for(plan, "compute_90")?)
}

/// The kernels' line parser for `plan` as C++ source without the kernels (see
/// `tests/parser_on_host.rs`, which compiles it for the host and checks it against the CPU).
pub fn parser_source(plan: &logpulse_core::Plan) -> Result<String, BackendError> {
    Ok(kernels::parser_source(plan)?)
}

/// The W3C layout argument (`LpW3c`, raw bytes) the parse kernel gets for `bytes` when it is
/// the first batch of a run of `plan`; all zero for other formats. For host checks of the
/// parser.
pub fn w3c_argument(plan: &logpulse_core::Plan, bytes: &[u8]) -> Result<Vec<u8>, BackendError> {
    let mut t = w3c::W3cTracker::new(&plan.format.line)?;
    Ok(t.layouts(bytes)?.as_bytes().to_vec())
}

/// True when the NVRTC library (the run-time CUDA compiler) can be loaded.
pub fn nvrtc_available() -> bool {
    device::nvrtc_present()
}
