//! The plan: what the user asked, compiled once. Backends execute a plan; nothing below the
//! CLI sees a flag.

use crate::filter::Filters;
use crate::format::{Format, KeyField};

/// How records are assigned to windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// Event-time tumbling windows of this many seconds, from each record's own timestamp.
    Tumbling { secs: i64 },
    /// One window per batch (processing time), as the notebook reported.
    PerBatch,
}

impl WindowSpec {
    /// The window id of a record: its window's start (epoch seconds) or the batch number.
    #[inline]
    pub fn window_of(&self, time: i64, batch_seq: u64) -> i64 {
        match *self {
            WindowSpec::Tumbling { secs } => time.div_euclid(secs) * secs,
            WindowSpec::PerBatch => batch_seq as i64,
        }
    }

    /// The window ids of one batch's records, remembering the last window: records come
    /// mostly in time order, so the division runs once per window, not once per line.
    pub fn for_batch(self, batch_seq: u64) -> WindowOfBatch {
        WindowOfBatch {
            spec: self,
            batch_seq,
            start: 0,
            end: i64::MIN,
        }
    }

    /// The end of the window starting at `start` (exclusive).
    pub fn end_of(&self, start: i64) -> i64 {
        match *self {
            WindowSpec::Tumbling { secs } => start + secs,
            WindowSpec::PerBatch => start + 1,
        }
    }
}

/// [`WindowSpec::window_of`] for one batch, with the last tumbling window remembered.
#[derive(Debug, Clone, Copy)]
pub struct WindowOfBatch {
    spec: WindowSpec,
    batch_seq: u64,
    /// The last tumbling window, `[start, end)`; empty until the first record.
    start: i64,
    end: i64,
}

impl WindowOfBatch {
    /// The window id of a record of this batch.
    #[inline(always)]
    pub fn of(&mut self, time: i64) -> i64 {
        match self.spec {
            WindowSpec::Tumbling { secs } => {
                if !(self.start..self.end).contains(&time) {
                    self.start = time.div_euclid(secs) * secs;
                    self.end = self.start.saturating_add(secs);
                }
                self.start
            }
            WindowSpec::PerBatch => self.batch_seq as i64,
        }
    }
}

/// Thresholds above which a window's group raises an event of interest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Requests per key per window (the notebook: 200 per batch).
    pub requests: u64,
    /// Megabytes (1e6 bytes) sent per key per window (the notebook: 120).
    pub mb_sent: f64,
    /// Raise an event for every (key, status) with status >= 500.
    pub every_5xx: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            requests: 200,
            mb_sent: 120.0,
            every_5xx: true,
        }
    }
}

/// A compiled job.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The input's format.
    pub format: Format,
    /// The grouping key.
    pub key: KeyField,
    /// The window assignment.
    pub window: WindowSpec,
    /// Event-time lateness allowed before a window closes, seconds.
    pub lateness_secs: i64,
    /// Alert thresholds.
    pub thresholds: Thresholds,
    /// Records must pass all of these to be aggregated (`--filter`).
    pub filters: Filters,
    /// Track sessions per key, split by idle gaps of more than this many seconds (event-time
    /// windows only; see `window::Sessions`).
    pub session_gap_secs: Option<i64>,
}

impl Plan {
    /// The reference job (requests, errors and MB sent per client) over 1-minute windows.
    pub fn reference(format: Format) -> Self {
        Plan {
            format,
            key: KeyField::Client,
            window: WindowSpec::Tumbling { secs: 60 },
            lateness_secs: 60,
            thresholds: Thresholds::default(),
            filters: Filters::default(),
            session_gap_secs: Some(DEFAULT_SESSION_GAP_SECS),
        }
    }
}

/// The idle gap that ends a client's session unless told otherwise: 30 minutes, the usual
/// web-analytics convention.
pub const DEFAULT_SESSION_GAP_SECS: i64 = 30 * 60;

impl Plan {
    /// A description of what this plan computes, to check a checkpoint belongs to it.
    pub fn job_id(&self) -> String {
        let mut id = format!(
            "format={} key={} window={:?} lateness={}",
            self.format.name,
            self.key.name(),
            self.window,
            self.lateness_secs
        );
        if !self.filters.is_empty() {
            id.push_str(&format!(" filter={}", self.filters));
        }
        if let Some(gap) = self.session_gap_secs {
            id.push_str(&format!(" session_gap={gap}"));
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_windows_equal_window_of() {
        for spec in [
            WindowSpec::Tumbling { secs: 60 },
            WindowSpec::Tumbling { secs: 1 },
            WindowSpec::Tumbling { secs: 3600 },
            WindowSpec::PerBatch,
        ] {
            let mut w = spec.for_batch(7);
            let times = [
                0i64,
                59,
                60,
                61,
                -1,
                -60,
                -61,
                119,
                120,
                59,
                804_571_201,
                999_999_999_999,
            ];
            for t in times {
                assert_eq!(w.of(t), spec.window_of(t, 7), "{spec:?} {t}");
            }
        }
    }
}
