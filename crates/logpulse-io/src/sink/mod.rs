//! Sinks: where window results, alerts, rejects and the run summary go.
//! Output schemas are documented in docs/OUTPUTS.md and kept stable.

mod json;
mod jsonl;
mod notebook;
mod rejects;
mod status;
mod summary;
mod text;

pub use json::{agg_json, alert_json, totals_json, window_json, window_json_with};
pub use jsonl::JsonLinesSink;
pub use notebook::NotebookSink;
pub use rejects::RejectsSink;
pub use status::StatusSink;
pub use summary::{summary_json, SummarySink};
pub use text::TextSink;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// An output stream that knows its length, so a checkpoint can record it and a resumed run can
/// cut the file back to it (results written after the checkpoint are written again, once).
pub struct Output {
    name: String,
    kind: OutputKind,
}

enum OutputKind {
    Stdout(BufWriter<std::io::Stdout>),
    File { w: BufWriter<File>, len: u64 },
}

impl Output {
    /// Opens `path` ("-" = stdout). With `resume_len`, an existing file is cut to that length
    /// and appended to; otherwise it is created empty.
    pub fn open(path: &Path, resume_len: Option<u64>) -> std::io::Result<Self> {
        let name = path.display().to_string();
        if path.as_os_str() == "-" {
            return Ok(Output {
                name,
                kind: OutputKind::Stdout(BufWriter::new(std::io::stdout())),
            });
        }
        let ctx = |e: std::io::Error| std::io::Error::new(e.kind(), format!("opening {name}: {e}"));
        let (f, len) = match resume_len {
            Some(len) => {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(ctx)?;
                f.set_len(len).map_err(ctx)?;
                std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(len)).map_err(ctx)?;
                (f, len)
            }
            None => (File::create(path).map_err(ctx)?, 0),
        };
        Ok(Output {
            kind: OutputKind::File {
                w: BufWriter::with_capacity(1 << 16, f),
                len,
            },
            name,
        })
    }

    /// Flushes; for a file, syncs it and returns (name, length).
    pub fn checkpoint(&mut self) -> std::io::Result<Option<(String, u64)>> {
        match &mut self.kind {
            OutputKind::Stdout(w) => {
                w.flush()?;
                Ok(None)
            }
            OutputKind::File { w, len } => {
                w.flush()?;
                w.get_ref().sync_data()?;
                Ok(Some((self.name.clone(), *len)))
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.kind {
            OutputKind::Stdout(w) => w.write(buf),
            OutputKind::File { w, len } => {
                let n = w.write(buf)?;
                *len += n as u64;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.kind {
            OutputKind::Stdout(w) => w.flush(),
            OutputKind::File { w, .. } => w.flush(),
        }
    }
}

/// Writes `bytes` to `path` atomically (temporary file + rename), so readers never see half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path)
}
