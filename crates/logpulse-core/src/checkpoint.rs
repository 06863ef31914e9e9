//! Checkpoints: where each source was, the windows' whole state and how long each output file
//! was, written atomically together.
//!
//! A run with `--checkpoint FILE` writes one after a batch's results reached the sinks (at most
//! every `interval`). On restart the state is restored, every source seeks to its position,
//! every output file is cut back to its checkpointed length, and the run goes on: results
//! written after the checkpoint are written again exactly once, and no line is lost or counted
//! twice.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::window::WindowsSnapshot;

/// Format version of the checkpoint file (2: the sessions' state holds each client's count of
/// sessions begun, which a version-1 file lacks: resuming one would undercount them).
pub const VERSION: u32 = 2;

/// Where a source is: the next byte and line to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    /// Byte offset of the next unread byte.
    pub offset: u64,
    /// 1-based number of the next line.
    pub next_line: u64,
}

/// Everything needed to resume a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`VERSION`].
    pub version: u32,
    /// Description of the job; a checkpoint only resumes the same job.
    pub job: String,
    /// Position per source name.
    pub sources: BTreeMap<String, SourcePosition>,
    /// Windows and totals.
    pub windows: WindowsSnapshot,
    /// Durable length per output file.
    pub outputs: BTreeMap<String, u64>,
}

/// Checkpoint settings of a run.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// The file.
    pub path: PathBuf,
    /// Least time between two checkpoints (0 = after every batch).
    pub interval: Duration,
    /// Job description (see [`Checkpoint::job`]).
    pub job: String,
}

/// A checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// I/O on the checkpoint file.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a checkpoint of this version.
    #[error("checkpoint {path} is unreadable: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The checkpoint belongs to another job.
    #[error("checkpoint {path} was written by another job ({found}); this job is {expected}; remove it to start over")]
    OtherJob {
        /// The file.
        path: PathBuf,
        /// Its job.
        found: String,
        /// This job.
        expected: String,
    },
}

impl Checkpoint {
    /// Loads `path` if it exists, checking it belongs to `job`.
    pub fn load(path: &Path, job: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(CheckpointError::Io {
                    path: path.into(),
                    source: e,
                })
            }
        };
        let c: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
                path: path.into(),
                message: e.to_string(),
            })?;
        if c.version != VERSION {
            return Err(CheckpointError::Corrupt {
                path: path.into(),
                message: format!("version {} (expected {VERSION})", c.version),
            });
        }
        if c.job != job {
            return Err(CheckpointError::OtherJob {
                path: path.into(),
                found: c.job,
                expected: job.into(),
            });
        }
        Ok(Some(c))
    }

    /// Writes atomically: a temporary file, synced, renamed over `path`, directory synced.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let io = |e| CheckpointError::Io {
            path: path.into(),
            source: e,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let bytes = serde_json::to_vec(self).map_err(|e| io(std::io::Error::other(e)))?;
        {
            let mut f = File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}
