//! The rejects file: one line per rejected input line, tab-separated:
//! `source  line_no  offset  reason  raw line bytes (as read, cut to 4096 bytes)`.

use std::io::Write;

use super::Output;
use std::time::Duration;

use logpulse_core::pipeline::Sink;
use logpulse_core::reject::Reject;
use logpulse_core::window::RunTotals;

/// Writes rejected lines.
pub struct RejectsSink {
    out: Output,
}

impl RejectsSink {
    /// Writes to `out`.
    pub fn new(out: Output) -> Self {
        RejectsSink { out }
    }
}

impl Sink for RejectsSink {
    fn checkpoint(&mut self) -> std::io::Result<Option<(String, u64)>> {
        self.out.checkpoint()
    }

    fn rejects(&mut self, source: &str, rejects: &[Reject]) -> std::io::Result<()> {
        for r in rejects {
            write!(
                self.out,
                "{source}\t{}\t{}\t{}\t",
                r.line_no, r.offset, r.reason
            )?;
            // The raw bytes: a reject file must show exactly what was rejected. A stray '\r'
            // (CRLF input) is dropped so each reject stays one line.
            let line = r.line.strip_suffix(b"\r").unwrap_or(&r.line);
            self.out.write_all(line)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn finish(&mut self, _totals: &RunTotals, _elapsed: Duration) -> std::io::Result<()> {
        self.out.flush()
    }
}
