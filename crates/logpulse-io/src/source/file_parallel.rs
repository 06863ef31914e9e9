//! Framing a plain file on several threads, in one of two ways:
//! - `pread` straight into the pool's buffers (the default): one thread reads the page cache
//!   at ~4 GB/s on the GPU host, a tenth of what the GPU takes;
//! - mapped (the CPU backend's default; `LOGPULSE_MMAP=1` / `=0` force it either way):
//!   batches view the file's mapping, no host copy at all, and the GPU backend's pool
//!   registers the viewed pages so that the device copies from the page cache itself (see
//!   [`frame_mapped_from`]). A file truncated while mapped would fault its reader (SIGBUS):
//!   the mapping is guarded ([`BusGuard`]), reads past the cut give zeros and the source
//!   stops with an error that says the file was truncated. Only for files read once, not
//!   followed.
//!
//! The batches are exactly the one-thread framer's ([`frame_parallel_from`]): what these cannot
//! frame (the file's last lines, or a line longer than the limit) is left to that framer, from
//! the position returned.

use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use logpulse_core::batch::{BufferPool, MappedBytes, SharedBytes};
use logpulse_core::checkpoint::SourcePosition;
use logpulse_core::framer::{frame_mapped_from, frame_parallel_from, FramerConfig, ParallelEnd};
use logpulse_core::pipeline::{BatchSender, SourceError};
use logpulse_core::Batch;

use super::bus_guard::BusGuard;
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
    let at = (start.offset, start.next_line);
    let end = frame_parallel_from(file, at, pool, cfg, name.clone(), threads, &mut sender(out));
    went_to(end, name, threads)
}

/// As [`frame_file_parallel`], through a mapping of the file; `Ok(None)` too when the file
/// cannot be mapped (then the caller reads it). `threads` count newlines.
pub(crate) fn frame_file_mapped(
    file: &File,
    start: SourcePosition,
    pool: &BufferPool,
    cfg: &FramerConfig,
    out: &BatchSender,
    name: &Arc<str>,
    threads: usize,
) -> Result<Mapped, SourceError> {
    let Some(map) = MappedFile::new(file, name) else {
        return Ok(Mapped::Refused);
    };
    let map = Arc::new(map);
    let data: SharedBytes = map.clone();
    let at = (start.offset, start.next_line);
    let end = frame_mapped_from(
        &data,
        at,
        pool,
        cfg,
        name.clone(),
        threads,
        &mut sender(out),
    );
    if map.guard.truncated() {
        map.reported
            .store(true, std::sync::atomic::Ordering::Relaxed);
        return Err(truncated(name));
    }
    Ok(match went_to(end, name, threads)? {
        None => Mapped::Stopped,
        Some(rest) => Mapped::Rest(rest),
    })
}

/// Where [`frame_file_mapped`] left the file.
pub(crate) enum Mapped {
    /// It could not be mapped (empty, or the system refused): read it instead.
    Refused,
    /// The run is stopping.
    Stopped,
    /// The one-thread framer goes on from here.
    Rest(SourcePosition),
}

/// Whether plain files are mapped: `LOGPULSE_MMAP=1` / `0` if set, else for the CPU backend
/// (a pool that does not feed a device). On the 2-core dev VM the CPU run is 5-15% faster
/// mapped (no copy, no batch buffers to touch); on the GPU hosts the mapped run measured no
/// faster than `pread` (BENCHMARKS.md, 2026-12-04 and 2026-12-06), so GPU backends read unless
/// asked.
pub(crate) fn mapping_wanted(pool: &BufferPool) -> bool {
    match std::env::var("LOGPULSE_MMAP").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => !pool.feeds_device(),
    }
}

/// The error of a file truncated while it was mapped and read.
fn truncated(name: &str) -> SourceError {
    io_err(
        format!(
            "reading {name}: the file was truncated while being read (another process cut it, \
             e.g. logrotate's copytruncate); the bytes after the cut are gone and were not \
             counted. Read the rotated file, or follow the live one with --follow"
        ),
        std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
    )
}

/// Hands framed batches to the pipeline, counting their bytes for progress.
fn sender(out: &BatchSender) -> impl FnMut(Batch) -> bool + '_ {
    move |b: Batch| {
        out.add_bytes(b.bytes().len() as u64);
        !out.stopping() && out.send(b)
    }
}

/// A parallel framer's end as the file source's next position.
fn went_to(
    end: std::io::Result<ParallelEnd>,
    name: &str,
    threads: usize,
) -> Result<Option<SourcePosition>, SourceError> {
    match end {
        Ok(ParallelEnd::Stopped) => Ok(None),
        Ok(ParallelEnd::Rest { offset, next_line }) => {
            Ok(Some(SourcePosition { offset, next_line }))
        }
        Err(e) => Err(io_err(format!("reading {name} on {threads} threads"), e)),
    }
}

/// A read-only mapping of a whole file, whose pages leave the process once no batch views them.
/// Field order matters: the mapping goes before its guard.
struct MappedFile {
    map: memmap2::Mmap,
    page: usize,
    name: String,
    guard: BusGuard,
    /// The source already reported the truncation.
    reported: std::sync::atomic::AtomicBool,
}

impl MappedFile {
    /// Maps `file` (named `name`), guarded against truncation; `None` when it is empty or
    /// cannot be mapped or guarded.
    fn new(file: &File, name: &str) -> Option<Self> {
        if file.metadata().map_or(true, |m| m.len() == 0) {
            return None;
        }
        // SAFETY: the mapping is only read. A file truncated while mapped would make its reader
        // fault (SIGBUS): the guard turns that into zeros and a reported error.
        let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
        let guard = BusGuard::new(&map)?;
        // Read ahead generously: batches are read front to back, once.
        let _ = map.advise(memmap2::Advice::Sequential);
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        Some(MappedFile {
            map,
            page,
            name: name.to_string(),
            guard,
            reported: Default::default(),
        })
    }
}

impl Drop for MappedFile {
    /// A truncation the backends met after the framer was done: said here, as the source
    /// could not (its lines past the cut read as zeros, rejected as binary).
    fn drop(&mut self) {
        if self.guard.truncated() && !self.reported.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("logpulse: warning: {}", truncated(&self.name));
        }
    }
}

impl MappedBytes for MappedFile {
    fn bytes(&self) -> &[u8] {
        &self.map
    }

    fn release(&self, range: Range<usize>) {
        // Whole pages inside the range only: the ones at its ends may hold a neighbour's bytes.
        let start = range.start.next_multiple_of(self.page);
        let end = range.end / self.page * self.page;
        if end > start {
            // SAFETY: a read-only file mapping: dropped pages are read again from the file if
            // touched, so no batch can see different bytes (and none views these any more).
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start,
                    end - start,
                )
            };
        }
    }
}
