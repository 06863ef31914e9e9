//! Reading a plain file on several threads, `pread` straight into the pool's buffers: one
//! thread reads the page cache at ~4 GB/s on the GPU host, a tenth of what the GPU takes.
//!
//! The batches are exactly the one-thread framer's ([`frame_parallel_from`]): what it cannot
//! frame (the file's last lines, or a line longer than the limit) is left to that framer, from
//! the position returned.

use std::fs::File;
use std::sync::Arc;

use logpulse_core::batch::BufferPool;
use logpulse_core::checkpoint::SourcePosition;
use logpulse_core::framer::{frame_parallel_from, FramerConfig, ParallelEnd};
use logpulse_core::pipeline::{BatchSender, SourceError};

use super::io_err;

/// Frames `file` from `start` with `threads` threads while whole batches can be cut. Returns
/// where the one-thread framer must go on, or `None` when the run is stopping.
pub(crate) fn frame_file_parallel(
    file: &File,
    start: SourcePosition,
    pool: &BufferPool,
    cfg: &FramerConfig,
    out: &BatchSender,
    name: &Arc<str>,
    threads: usize,
) -> Result<Option<SourcePosition>, SourceError> {
    let send = &mut |b: logpulse_core::Batch| {
        out.add_bytes(b.bytes().len() as u64);
        !out.stopping() && out.send(b)
    };
    let at = (start.offset, start.next_line);
    match frame_parallel_from(file, at, pool, cfg, name.clone(), threads, send) {
        Ok(ParallelEnd::Stopped) => Ok(None),
        Ok(ParallelEnd::Rest { offset, next_line }) => {
            Ok(Some(SourcePosition { offset, next_line }))
        }
        Err(e) => Err(io_err(format!("reading {name} on {threads} threads"), e)),
    }
}
