//! Sinks: where window results, alerts, rejects and the run summary go.
//! Output schemas are documented in docs/OUTPUTS.md and kept stable.

mod json;
mod jsonl;
mod notebook;
mod rejects;
mod status;
mod summary;
mod text;

pub use json::{agg_json, window_json};
pub use jsonl::JsonLinesSink;
pub use notebook::NotebookSink;
pub use rejects::RejectsSink;
pub use status::StatusSink;
pub use summary::{summary_json, SummarySink};
pub use text::TextSink;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Opens `path` for writing ("-" is stdout).
pub fn open_output(path: &Path) -> std::io::Result<Box<dyn Write + Send>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(BufWriter::new(std::io::stdout())))
    } else {
        let f = File::create(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("creating {}: {e}", path.display()))
        })?;
        Ok(Box::new(BufWriter::with_capacity(1 << 16, f)))
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
