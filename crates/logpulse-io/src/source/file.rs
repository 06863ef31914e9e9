//! A file read once, plain or gzip (detected from its first bytes, not its name).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use logpulse_core::batch::BufferPool;
use logpulse_core::framer::{Framer, FramerConfig};
use logpulse_core::pipeline::{BatchSender, Source, SourceError};

use super::{io_err, is_gzip};

/// Reads one file from start to end.
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// A source over `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource { path: path.into() }
    }
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
        while let Some(b) = framer.pop() {
            if !out.send(b) {
                return Ok(false);
            }
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
        let file = File::open(&self.path).map_err(|e| io_err(format!("opening {name}"), e))?;
        let mut reader = BufReader::with_capacity(1 << 16, Counting { inner: file, out });
        let head = {
            use std::io::BufRead;
            reader
                .fill_buf()
                .map_err(|e| io_err(format!("reading {name}"), e))?
                .to_vec()
        };
        let mut framer = Framer::new(pool.clone(), framing.clone(), Arc::from(name.as_str()));
        let completed = if is_gzip(&head) {
            let mut gz = MultiGzDecoder::new(reader);
            frame_reader(&mut gz, &mut framer, out, &name)?
        } else {
            frame_reader(&mut reader, &mut framer, out, &name)?
        };
        if completed {
            framer.finish();
            while let Some(b) = framer.pop() {
                if !out.send(b) {
                    break;
                }
            }
        }
        Ok(())
    }
}
