//! A stream that may be slow (stdin, a pipe): a reader thread feeds the framer, which cuts a
//! batch when `linger` passes without one, so results keep flowing on a trickle of lines.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError};
use logpulse_core::batch::BufferPool;
use logpulse_core::framer::{Framer, FramerConfig};
use logpulse_core::pipeline::{BatchSender, Source, SourceError};

use super::io_err;

/// Bytes read per chunk handed from the reader thread.
const CHUNK: usize = 1 << 20;

/// A blocking reader (stdin by default) framed with a linger timer.
pub struct StreamSource {
    name: Arc<str>,
    reader: Option<Box<dyn Read + Send>>,
    linger: Duration,
}

impl StreamSource {
    /// Standard input.
    pub fn stdin(linger: Duration) -> Self {
        Self::new("-", Box::new(std::io::stdin()), linger)
    }

    /// Any reader, named `name` in rejects and results.
    pub fn new(name: &str, reader: Box<dyn Read + Send>, linger: Duration) -> Self {
        StreamSource {
            name: name.into(),
            reader: Some(reader),
            linger,
        }
    }
}

impl Source for StreamSource {
    fn run(
        &mut self,
        pool: &BufferPool,
        framing: &FramerConfig,
        out: &BatchSender,
    ) -> Result<(), SourceError> {
        let mut reader = match self.reader.take() {
            Some(r) => r,
            None => return Ok(()),
        };
        let (tx, rx) = bounded::<std::io::Result<Vec<u8>>>(4);
        // The reader thread may block forever on an idle pipe; it is detached and ends with the
        // process (or at EOF).
        std::thread::Builder::new()
            .name("logpulse-stdin".into())
            .spawn(move || loop {
                let mut buf = vec![0u8; CHUNK];
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            })
            .map_err(|e| io_err("starting stdin reader", e))?;
        let mut framer = Framer::new(pool.clone(), framing.clone(), self.name.clone());
        let mut last_cut = Instant::now();
        loop {
            if out.stopping() {
                return Ok(());
            }
            let wait = self
                .linger
                .saturating_sub(last_cut.elapsed())
                .max(Duration::from_millis(1));
            match rx.recv_timeout(wait) {
                Ok(Ok(chunk)) => {
                    out.add_bytes(chunk.len() as u64);
                    if !framer.push_each(&chunk, &mut |b| out.send(b)) {
                        return Ok(());
                    }
                }
                Ok(Err(e)) => return Err(io_err(format!("reading {}", self.name), e)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if last_cut.elapsed() >= self.linger {
                framer.flush();
            }
            let mut sent = false;
            while let Some(b) = framer.pop() {
                sent = true;
                if !out.send(b) {
                    return Ok(());
                }
            }
            if sent || last_cut.elapsed() >= self.linger {
                last_cut = Instant::now();
            }
        }
        out.finish(&mut framer);
        Ok(())
    }
}
