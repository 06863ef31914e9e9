//! A progress bar for file jobs on a terminal (indicatif); silent otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use logpulse_core::pipeline::{BatchStats, Sink};
use logpulse_core::window::RunTotals;

/// Shows bytes read against the inputs' total size.
pub struct ProgressSink {
    bar: ProgressBar,
    read: Arc<AtomicU64>,
}

impl ProgressSink {
    /// A bar over `total` input bytes (0 = unknown: a spinner), fed from `read`.
    pub fn new(total: u64, read: Arc<AtomicU64>) -> Self {
        let bar = if total > 0 {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        };
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        ProgressSink { bar, read }
    }
}

impl Sink for ProgressSink {
    fn batch(&mut self, _s: &BatchStats, t: &RunTotals) -> std::io::Result<()> {
        self.bar.set_position(self.read.load(Ordering::Relaxed));
        self.bar
            .set_message(format!("{} lines, {} rejected", t.lines, t.rejected()));
        Ok(())
    }

    fn finish(&mut self, _t: &RunTotals, _e: Duration) -> std::io::Result<()> {
        self.bar.finish_and_clear();
        Ok(())
    }
}
