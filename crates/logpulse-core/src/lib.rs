//! logpulse-core: the engine's data types and the CPU path.
//!
//! The data flows `Source -> Framer -> Backend -> Windows -> Sinks` (see docs/ARCHITECTURE.md):
//! - [`batch`]: byte buffers of whole lines and the pool they come from;
//! - [`framer`]: cuts a byte stream into [`batch::Batch`]es, rejecting over-long lines;
//! - [`format`](mod@format): format descriptions (data, not code) and the record they produce;
//! - [`plan`]: what the user asked, compiled once;
//! - [`backend`]: `Batch + Plan -> Partial`, with the multi-threaded CPU implementation;
//! - [`agg`]: measures and the [`agg::Partial`] aggregate of one batch;
//! - [`window`]: windows, watermark, late data and alerts;
//! - [`pipeline`]: the threads and bounded queues that wire the stages.

pub mod agg;
pub mod alloc;
pub mod backend;
pub mod batch;
pub mod checkpoint;
pub mod filter;
pub mod format;
pub mod framer;
pub mod gen;
pub mod pipeline;
pub mod plan;
pub mod reject;
pub mod window;

pub use agg::{Agg, GroupTable, Partial};

/// The number in environment variable `var`, if it is set and parses (surrounding spaces
/// ignored): the tuning knobs read for measurements (`LOGPULSE_QUEUE_DEPTH`, ...).
pub fn env_number<T: std::str::FromStr>(var: &str) -> Option<T> {
    std::env::var(var).ok().and_then(|v| v.trim().parse().ok())
}

/// Threads for a helper stage: the environment variable `var` if set (measurements, tests; 1 to
/// 64), else a quarter of the cores, 1 to `max` (the backends need the rest).
pub fn threads_from_env(var: &str, max: usize) -> usize {
    threads_from_env_or_fraction(var, 4, max)
}

/// Like [`threads_from_env`], the default being one thread for every `cores_per_thread` cores
/// (1 to `max`).
pub fn threads_from_env_or_fraction(var: &str, cores_per_thread: usize, max: usize) -> usize {
    if let Some(n) = env_number::<usize>(var) {
        return n.clamp(1, 64);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / cores_per_thread.max(1)).clamp(1, max.max(1))
}
pub use backend::{Backend, BackendError, CpuBackend};
pub use batch::{Batch, BatchBuf, BufferPool, Origin};
pub use format::{Format, Record};
pub use plan::Plan;
pub use reject::{Reject, RejectReason};
