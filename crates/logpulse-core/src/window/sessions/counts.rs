//! What the session tracker reports: counts per closed window and for the whole run, both
//! summed over shards.

/// Session counts of one closed window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowSessions {
    /// Sessions that began in this window.
    pub started: u64,
    /// Sessions that ended (their client idle for more than the gap) as this window closed.
    pub ended: u64,
    /// Sessions open after this window (clients active within the gap).
    pub active: u64,
    /// Requests of the sessions that ended.
    pub ended_requests: u64,
    /// Summed spans of the sessions that ended, seconds.
    pub ended_span_secs: u64,
}

impl WindowSessions {
    /// Adds another shard's counts of the same window.
    pub fn add(&mut self, o: &WindowSessions) {
        self.started += o.started;
        self.ended += o.ended;
        self.active += o.active;
        self.ended_requests += o.ended_requests;
        self.ended_span_secs += o.ended_span_secs;
    }
}

/// Whole-run session counts (the summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionTotals {
    /// The idle gap that separates sessions, seconds.
    pub gap_secs: i64,
    /// Sessions begun.
    pub started: u64,
    /// Sessions ended, including those still open when the input ended.
    pub ended: u64,
    /// Requests of the ended sessions.
    pub requests: u64,
    /// Summed spans of the ended sessions, seconds.
    pub span_secs: u64,
    /// The longest span of an ended session, seconds.
    pub longest_span_secs: u64,
    /// Most requests in one ended session.
    pub most_requests: u64,
}

impl SessionTotals {
    /// Mean requests of an ended session (0 when none ended).
    pub fn mean_requests(&self) -> f64 {
        ratio(self.requests, self.ended)
    }

    /// Mean span of an ended session, seconds (0 when none ended).
    pub fn mean_span_secs(&self) -> f64 {
        ratio(self.span_secs, self.ended)
    }

    /// Sessions begun per client, given the run's distinct clients (0 when none).
    pub fn per_client(&self, clients: usize) -> f64 {
        ratio(self.started, clients as u64)
    }

    /// Adds another shard's totals (same gap).
    pub fn add(&mut self, o: &SessionTotals) {
        self.started += o.started;
        self.ended += o.ended;
        self.requests += o.requests;
        self.span_secs += o.span_secs;
        self.longest_span_secs = self.longest_span_secs.max(o.longest_span_secs);
        self.most_requests = self.most_requests.max(o.most_requests);
    }
}

fn ratio(n: u64, of: u64) -> f64 {
    if of > 0 {
        n as f64 / of as f64
    } else {
        0.0
    }
}
