//! Bytes already in memory (benchmarks, tests): framed like any other source.

use std::sync::Arc;

use logpulse_core::batch::BufferPool;
use logpulse_core::framer::{Framer, FramerConfig};
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
        let mut framer = Framer::new(pool.clone(), framing.clone(), self.name.clone());
        for chunk in self.data.chunks(4 << 20) {
            if out.stopping() {
                return Ok(());
            }
            out.add_bytes(chunk.len() as u64);
            if !framer.push_each(chunk, &mut |b| out.send(b)) {
                return Ok(());
            }
        }
        out.finish(&mut framer);
        Ok(())
    }
}
