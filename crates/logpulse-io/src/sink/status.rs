//! `--status FILE`: the run's counters, rewritten atomically after every batch, for health
//! checks and for anyone watching a long or endless (`--follow`) run.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use logpulse_core::pipeline::{BatchStats, Sink};
use logpulse_core::window::RunTotals;

use super::{totals_json, write_atomic};

/// Rewrites a small JSON status file after each batch.
pub struct StatusSink {
    path: PathBuf,
}

impl StatusSink {
    /// Writes to `path`.
    pub fn new(path: PathBuf) -> Self {
        StatusSink { path }
    }

    fn write(&self, t: &RunTotals, done: bool) -> std::io::Result<()> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut v = totals_json(t);
        v["done"] = done.into();
        v["updated_unix"] = now.into();
        write_atomic(&self.path, v.to_string().as_bytes())
    }
}

impl Sink for StatusSink {
    fn batch(&mut self, _s: &BatchStats, t: &RunTotals) -> std::io::Result<()> {
        self.write(t, false)
    }

    fn finish(&mut self, t: &RunTotals, _elapsed: Duration) -> std::io::Result<()> {
        self.write(t, true)
    }
}
