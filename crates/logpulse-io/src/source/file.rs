//! A file read once, plain or gzip (detected from its first bytes, not its name).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use logpulse_core::batch::BufferPool;
use logpulse_core::checkpoint::SourcePosition;
use logpulse_core::framer::{frame_threads_for, Framer, FramerConfig};
use logpulse_core::pipeline::{BatchSender, Source, SourceError};

use super::file_parallel::{frame_file_mapped, frame_file_parallel, mapping_wanted, Mapped};
use super::{io_err, is_gzip};

/// Reads one file from start (or a checkpointed position) to end.
pub struct FileSource {
    path: PathBuf,
    resume: Option<SourcePosition>,
}

impl FileSource {
    /// A source over `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource {
            path: path.into(),
            resume: None,
        }
    }

    /// Starts at a checkpointed position (bytes of the decompressed stream for gzip).
    pub fn resume_at(mut self, pos: Option<SourcePosition>) -> Self {
        self.resume = pos;
        self
    }
}

/// A regular file not gzip-compressed (by its first bytes): one the parallel reader can take.
fn is_plain_file(file: &File) -> Result<bool, SourceError> {
    use std::os::unix::fs::FileExt;
    // Pipes and devices (`/dev/stdin`, `<(...)`) cannot be read at an offset.
    if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
        return Ok(false);
    }
    let mut head = [0u8; 2];
    let n = file
        .read_at(&mut head, 0)
        .map_err(|e| io_err("reading a file's first bytes", e))?;
    Ok(!is_gzip(&head[..n]))
}

/// Skips the first `n` bytes of `r` (a gzip stream cannot seek).
fn skip(r: &mut dyn Read, n: u64, what: &str) -> Result<(), SourceError> {
    let copied = std::io::copy(&mut r.take(n), &mut std::io::sink())
        .map_err(|e| io_err(format!("skipping to the checkpoint in {what}"), e))?;
    if copied < n {
        // The file is shorter than when checkpointed: nothing more to read.
        return Ok(());
    }
    Ok(())
}

/// Counts bytes read from the underlying file (compressed bytes for gzip), for progress.
struct Counting<'a, R> {
    inner: R,
    out: &'a BatchSender,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.add_bytes(n as u64);
        Ok(n)
    }
}

/// Frames everything `reader` yields, reading straight into the framer's buffers.
pub(crate) fn frame_reader(
    reader: &mut dyn Read,
    framer: &mut Framer,
    out: &BatchSender,
    what: &str,
) -> Result<bool, SourceError> {
    loop {
        if out.stopping() {
            return Ok(false);
        }
        let spare = framer.spare();
        let n = match reader.read(spare) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(format!("reading {what}"), e)),
        };
        framer.commit(n);
        if !out.send_ready(framer) {
            return Ok(false);
        }
    }
}

impl Source for FileSource {
    fn run(
        &mut self,
        pool: &BufferPool,
        framing: &FramerConfig,
        out: &BatchSender,
    ) -> Result<(), SourceError> {
        let name = self.path.display().to_string();
        let mut start = self.resume.unwrap_or(SourcePosition {
            offset: 0,
            next_line: 1,
        });
        let mut file = File::open(&self.path).map_err(|e| io_err(format!("opening {name}"), e))?;
        let mut framer = Framer::new(pool.clone(), framing.clone(), Arc::from(name.as_str()));
        let completed = if is_plain_file(&file)? {
            // A regular file: read at offsets (several threads while whole batches can be
            // cut), then the rest from where that stopped.
            out.add_bytes(start.offset); // a resumed run's skipped bytes, for progress
            let threads = frame_threads_for(pool);
            let name: Arc<str> = Arc::from(name.as_str());
            let mut read_it = threads > 1;
            if mapping_wanted(pool) {
                match frame_file_mapped(&file, start, pool, framing, out, &name, threads)? {
                    Mapped::Stopped => return Ok(()),
                    Mapped::Rest(rest) => (start, read_it) = (rest, false),
                    Mapped::Refused => {}
                }
            }
            if read_it {
                match frame_file_parallel(&file, start, pool, framing, out, &name, threads)? {
                    None => return Ok(()),
                    Some(rest) => start = rest,
                }
            }
            file.seek(SeekFrom::Start(start.offset))
                .map_err(|e| io_err(format!("seeking in {name}"), e))?;
            framer.set_position(start.offset, start.next_line);
            let mut reader = Counting { inner: file, out };
            frame_reader(&mut reader, &mut framer, out, &name)?
        } else {
            // gzip, or a pipe: from the start, skipping what a checkpoint says was done.
            let mut reader = BufReader::with_capacity(1 << 16, Counting { inner: file, out });
            let head = {
                use std::io::BufRead;
                reader
                    .fill_buf()
                    .map_err(|e| io_err(format!("reading {name}"), e))?
                    .to_vec()
            };
            framer.set_position(start.offset, start.next_line);
            if is_gzip(&head) {
                let mut gz = MultiGzDecoder::new(reader);
                skip(&mut gz, start.offset, &name)?;
                frame_reader(&mut gz, &mut framer, out, &name)?
            } else {
                skip(&mut reader, start.offset, &name)?;
                frame_reader(&mut reader, &mut framer, out, &name)?
            }
        };
        if completed {
            out.finish(&mut framer);
        }
        Ok(())
    }
}
