//! Whole-run totals: line accounting and per-key aggregates over all windows.

use crate::agg::{GroupTable, Partial};
use crate::reject::RejectCounts;

/// Totals of a run (the `--summary` file).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RunTotals {
    /// Input bytes.
    pub input_bytes: u64,
    /// Lines seen.
    pub lines: u64,
    /// Lines that became records.
    pub records: u64,
    /// Directive/header lines.
    pub directives: u64,
    /// Records the plan's filters left out (part of `records`).
    #[serde(default)]
    pub filtered: u64,
    /// Rejected lines by reason.
    pub rejects: RejectCounts,
    /// Records that arrived after their window closed (still in `by_key`).
    pub late: u64,
    /// Windows closed.
    pub windows: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Batches processed.
    pub batches: u64,
    /// Per key (window 0), over the whole run (late records included).
    pub by_key: GroupTable,
    /// Sessions per key, when the job tracks them (late records are not in any session).
    #[serde(default)]
    pub sessions: Option<super::SessionTotals>,
    /// Sessions begun by each key of `by_key` (same order) when the job tracks them, else
    /// empty; brought up to date with `by_key` (checkpoints carry them in the sessions' state).
    #[serde(skip)]
    pub sessions_by_key: Vec<u64>,
}

impl RunTotals {
    /// Sessions begun by `by_key`'s key number `i`, when the job tracks sessions.
    pub fn sessions_of(&self, i: usize) -> Option<u64> {
        self.sessions_by_key.get(i).copied()
    }

    /// Adds a partial's line accounting (its groups reach `by_key` through the windows).
    pub fn add_partial(&mut self, p: &Partial) {
        self.input_bytes += p.input_bytes;
        self.lines += p.lines;
        self.records += p.records;
        self.directives += p.directives;
        self.filtered += p.filtered;
        self.rejects.merge(&p.reject_counts);
        self.batches += 1;
    }

    /// Rejected lines.
    pub fn rejected(&self) -> u64 {
        self.rejects.total()
    }
}
