//! logpulse-core: the engine's data types and the CPU path.
//!
//! The data flows `Source -> Framer -> Backend -> Windows -> Sinks` (see docs/ARCHITECTURE.md):
//! - [`batch`]: byte buffers of whole lines and the pool they come from;
//! - [`framer`]: cuts a byte stream into [`batch::Batch`]es, rejecting over-long lines;
//! - [`format`]: format descriptions (data, not code) and the record they produce;
//! - [`plan`]: what the user asked, compiled once;
//! - [`backend`]: `Batch + Plan -> Partial`, with the multi-threaded CPU implementation;
//! - [`agg`]: measures and the [`agg::Partial`] aggregate of one batch;
//! - [`window`]: windows, watermark, late data and alerts;
//! - [`pipeline`]: the threads and bounded queues that wire the stages.

pub mod agg;
pub mod backend;
pub mod batch;
pub mod checkpoint;
pub mod format;
pub mod framer;
pub mod gen;
pub mod pipeline;
pub mod plan;
pub mod reject;
pub mod window;

pub use agg::{Agg, GroupTable, Partial};
pub use backend::{Backend, BackendError, CpuBackend};
pub use batch::{Batch, BatchBuf, BufferPool, Origin};
pub use format::{Format, Record};
pub use plan::Plan;
pub use reject::{Reject, RejectReason};
