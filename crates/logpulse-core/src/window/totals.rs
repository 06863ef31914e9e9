//! Whole-run totals: line accounting and per-key aggregates over all windows.

use crate::agg::{Agg, Partial};
use crate::reject::RejectCounts;

/// Totals of a run (the `--summary` file).
#[derive(Debug, Clone, Default)]
pub struct RunTotals {
    /// Input bytes.
    pub input_bytes: u64,
    /// Lines seen.
    pub lines: u64,
    /// Lines that became records.
    pub records: u64,
    /// Directive/header lines.
    pub directives: u64,
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
    /// Per key, over the whole run (late records included).
    pub by_key: hashbrown::HashMap<Box<str>, Agg, foldhash::fast::RandomState>,
}

impl RunTotals {
    /// Adds a partial's accounting and groups.
    pub fn add_partial(&mut self, p: &Partial) {
        self.input_bytes += p.input_bytes;
        self.lines += p.lines;
        self.records += p.records;
        self.directives += p.directives;
        self.rejects.merge(&p.reject_counts);
        self.batches += 1;
        for (gk, agg) in &p.groups {
            match self.by_key.get_mut(&*gk.key) {
                Some(a) => a.merge(agg),
                None => {
                    self.by_key.insert(gk.key.clone(), agg.clone());
                }
            }
        }
    }

    /// Rejected lines.
    pub fn rejected(&self) -> u64 {
        self.rejects.total()
    }
}
