//! Sources: read bytes, frame them into batches, send them.

mod bus_guard;
mod file;
mod file_parallel;
mod follow;
mod memory;
mod stream;

pub use file::FileSource;
pub use follow::{FollowConfig, FollowSource};
pub use memory::MemorySource;
pub use stream::StreamSource;

use logpulse_core::pipeline::SourceError;

pub(crate) fn io_err(context: impl Into<String>, source: std::io::Error) -> SourceError {
    SourceError {
        context: context.into(),
        source,
    }
}

/// True when `head` starts with the gzip magic bytes.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}
