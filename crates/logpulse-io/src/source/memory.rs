//! Bytes already in memory (benchmarks, tests): framed like any other source.

use std::sync::Arc;

use logpulse_core::batch::BufferPool;
use logpulse_core::framer::{frame_parallel, frame_threads_for, FramerConfig};
use logpulse_core::pipeline::{BatchSender, Source, SourceError};

/// Frames a shared byte buffer.
pub struct MemorySource {
    name: Arc<str>,
    data: Arc<[u8]>,
}

impl MemorySource {
    /// A source over `data`, named `name`.
    pub fn new(name: &str, data: Arc<[u8]>) -> Self {
        MemorySource {
            name: name.into(),
            data,
        }
    }
}

impl Source for MemorySource {
    fn run(
        &mut self,
        pool: &BufferPool,
        framing: &FramerConfig,
        out: &BatchSender,
    ) -> Result<(), SourceError> {
        // Several copy threads: one thread copying into the pool's buffers is slower than a
        // GPU takes batches (frame_parallel makes the same batches as the one-thread framer).
        frame_parallel(
            &self.data,
            pool,
            framing,
            self.name.clone(),
            frame_threads_for(pool),
            &mut |b| {
                out.add_bytes(b.bytes().len() as u64);
                !out.stopping() && out.send(b)
            },
        );
        Ok(())
    }
}
