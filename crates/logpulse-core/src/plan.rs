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

    /// The end of the window starting at `start` (exclusive).
    pub fn end_of(&self, start: i64) -> i64 {
        match *self {
            WindowSpec::Tumbling { secs } => start + secs,
            WindowSpec::PerBatch => start + 1,
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
        }
    }
}

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
        id
    }
}
