//! Backends: `Batch + Plan -> Partial`. The CPU backend is the reference; the GPU backend (crate
//! `logpulse-gpu`) implements the same trait and must give identical partials.

mod cpu;
mod deferred;

pub use cpu::{parse_lines, CpuBackend};
pub use deferred::{Deferred, Starter};

use crate::agg::Partial;
use crate::batch::{Batch, BufferPool};

/// Why a backend could not process a batch.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No usable CUDA device (or driver) on this machine.
    #[error("no CUDA device: {0}")]
    NoDevice(String),
    /// A CUDA call failed.
    #[error("CUDA error in {context}: {message}")]
    Cuda {
        /// What was being done.
        context: String,
        /// The driver's message.
        message: String,
    },
    /// Something else went wrong.
    #[error("{0}")]
    Other(String),
}

/// Executes a plan on batches.
pub trait Backend: Send {
    /// A one-line description (`cpu (2 threads)`, `gpu 0: NVIDIA H100 ...`).
    fn describe(&self) -> String;

    /// The pool batches for this backend should be framed into (pinned memory for a GPU).
    fn pool(&self) -> BufferPool;

    /// Waits until the backend has finished starting (see [`Deferred`]); for benchmarks that
    /// time the stream alone. Runs need not call it: the first batch waits as needed.
    fn wait_started(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    /// Parses and aggregates one batch.
    fn process(&mut self, batch: Batch) -> Result<Partial, BackendError>;

    /// Processes a stream of batches, handing each partial to `out` (in order of arrival).
    /// Backends that overlap transfers with compute (GPU) override this.
    fn run(
        &mut self,
        batches: &mut dyn Iterator<Item = Batch>,
        out: &mut dyn FnMut(Partial) -> bool,
    ) -> Result<(), BackendError> {
        for b in batches {
            let p = self.process(b)?;
            if !out(p) {
                break;
            }
        }
        Ok(())
    }
}
