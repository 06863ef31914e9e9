//! The crate's errors, and their mapping onto the `Backend` trait's [`BackendError`].

use cudarc::driver::DriverError;
use logpulse_core::BackendError;

/// What can go wrong in the GPU backend.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No usable driver or device.
    #[error("{0}")]
    NoDevice(String),
    /// A driver call failed.
    #[error("CUDA error in {context}: {source}")]
    Driver {
        /// What was being done.
        context: &'static str,
        /// The driver's error.
        source: DriverError,
    },
    /// NVRTC could not compile the kernels (the log says why).
    #[error("NVRTC compile failed: {0}")]
    Compile(String),
    /// The plan cannot run on the GPU.
    #[error("plan not supported on the GPU: {0}")]
    Program(String),
    /// The device sent back something inconsistent with the batch.
    #[error("inconsistent GPU result: {0}")]
    Result(String),
    /// The threads that build partials could not be started.
    #[error("starting the partial builders' threads: {0}")]
    Threads(String),
}

impl From<GpuError> for BackendError {
    fn from(e: GpuError) -> Self {
        match e {
            GpuError::NoDevice(m) => BackendError::NoDevice(m),
            GpuError::Driver { context, source } => BackendError::Cuda {
                context: context.to_string(),
                message: source.to_string(),
            },
            other => BackendError::Other(other.to_string()),
        }
    }
}

/// Adds context to a driver result: `call().ctx("copying the batch")?`.
pub trait DriverContext<T> {
    /// Wraps the error with what was being done.
    fn ctx(self, context: &'static str) -> Result<T, GpuError>;
}

impl<T> DriverContext<T> for Result<T, DriverError> {
    fn ctx(self, context: &'static str) -> Result<T, GpuError> {
        self.map_err(|source| GpuError::Driver { context, source })
    }
}
