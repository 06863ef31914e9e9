//! Where a pipeline run's threads spent their time: busy, or blocked on the queue before or
//! after them. The stage whose threads are busy while the others wait is the limit; `logpulse
//! bench` prints this so a figure comes with its bottleneck.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Nanosecond counters, shared by the run's threads (relaxed atomics: read after the run).
#[derive(Debug, Default)]
pub struct StageClock {
    /// Source thread: whole lifetime.
    pub source_total: AtomicU64,
    /// Source thread: blocked handing a batch over (the backends are behind).
    pub source_blocked: AtomicU64,
    /// Backend workers: waiting for a batch (the source is behind), summed over workers.
    pub workers_starved: AtomicU64,
    /// Backend workers: blocked handing a partial over (the windows stage is behind).
    pub workers_blocked: AtomicU64,
    /// Backend workers: whole lifetime, summed over workers.
    pub workers_total: AtomicU64,
    /// Splitter threads: splitting partials by window, summed over threads.
    pub split_busy: AtomicU64,
    /// How many splitter threads (and per-key totals shards) the run has.
    pub splitters: AtomicU64,
    /// Windows thread: merging, closing windows, writing sinks, checkpoints.
    pub windows_busy: AtomicU64,
    /// Windows thread: whole run.
    pub windows_total: AtomicU64,
    /// After the last partial: closing the open windows, the run totals, the sinks' ends.
    pub finish_total: AtomicU64,
}

/// Adds the time since `t` to `counter`.
#[inline]
pub(crate) fn add_since(counter: &AtomicU64, t: Instant) {
    counter.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

fn secs(c: &AtomicU64) -> f64 {
    c.load(Ordering::Relaxed) as f64 / 1e9
}

impl std::fmt::Display for StageClock {
    /// One line: each stage's busy and blocked seconds.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (src, src_b) = (secs(&self.source_total), secs(&self.source_blocked));
        let (wk, wk_s, wk_b) = (
            secs(&self.workers_total),
            secs(&self.workers_starved),
            secs(&self.workers_blocked),
        );
        let (win, win_b) = (secs(&self.windows_total), secs(&self.windows_busy));
        write!(
            f,
            "source {src:.3}s ({:.3}s blocked on backends); backends {wk:.3}s ({wk_s:.3}s \
             waiting for batches, {wk_b:.3}s blocked on windows); splitters ({} threads) busy \
             {:.3}s; windows thread {win:.3}s ({win_b:.3}s busy, {:.3}s finishing)",
            src_b,
            self.splitters.load(Ordering::Relaxed),
            secs(&self.split_busy),
            secs(&self.finish_total)
        )
    }
}
