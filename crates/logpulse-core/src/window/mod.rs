//! Windows: merge partials into open windows, close them when the watermark passes, count late
//! data, and raise events of interest.
//!
//! The operator owns its state and reacts to two things: partials (data) and the advance of
//! event time (the watermark = latest event time seen minus the allowed lateness). Records for
//! a window that already closed are *late*: they are counted (in the next result and in the run
//! totals), never silently dropped.

mod alerts;
mod key_shard;
mod key_totals;
mod session_shards;
mod sessions;
mod totals;

pub use alerts::{Alert, AlertKind};
pub use sessions::{SessionTotals, Sessions, SessionsSnapshot, WindowSessions};
pub use totals::RunTotals;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::agg::{Agg, GroupTable, LatencyHist, Partial};
use crate::plan::{Thresholds, WindowSpec};

/// Aggregates of one open window.
#[derive(Debug, Default, Clone)]
struct OpenWindow {
    groups: GroupTable,
    latency: Option<LatencyHist>,
    /// What closing it would compute, when computed beside the windows thread for a table that
    /// has not changed since (a window whose groups all came in one batch, the usual case).
    summary: Option<Summary>,
}

/// What closing a window computes from its groups alone: totals over all groups and alerts.
#[derive(Debug, Clone)]
struct Summary {
    totals: Agg,
    alerts: Vec<Alert>,
}

impl Summary {
    fn of(spec: WindowSpec, thresholds: &Thresholds, start: i64, groups: &GroupTable) -> Self {
        let mut totals = Agg::default();
        for (_, _, _, a) in groups.entries() {
            totals.merge(a);
        }
        let alerts = alerts::detect(
            thresholds,
            start,
            spec.end_of(start),
            groups.entries().map(|(_, _, k, a)| (k, a)),
        );
        Summary { totals, alerts }
    }
}

/// A closed window's results.
#[derive(Debug, Clone)]
pub struct WindowResult {
    /// Window start: epoch seconds, or the batch number in per-batch mode.
    pub start: i64,
    /// Window end (exclusive).
    pub end: i64,
    /// True for event-time windows, false for per-batch windows.
    pub event_time: bool,
    /// Totals over all groups.
    pub totals: Agg,
    /// The window's groups (shared with the per-key totals thread); [`WindowResult::groups`]
    /// lists them most requests first.
    table: std::sync::Arc<GroupTable>,
    /// Indexes into `table`, most requests first (ties by key); sorted on first use, since
    /// sorting every window's groups costs more than all the rest of closing it (measured).
    order: std::sync::OnceLock<Vec<u32>>,
    /// Latency distribution of the window, if the format logs latency.
    pub latency: Option<LatencyHist>,
    /// Late records that arrived (for already closed windows) since the previous result.
    pub late: u64,
    /// Events of interest.
    pub alerts: Vec<Alert>,
    /// Sessions begun, ended and open, when the job tracks sessions ([`Windows::with_sessions`]).
    pub sessions: Option<WindowSessions>,
}

/// One open window in a snapshot: start, groups, sparse latency buckets.
type SnapshotWindow = (i64, GroupTable, Vec<(u32, u64)>);

impl WindowResult {
    /// Groups as (key, aggregate), most requests first (ties by key).
    pub fn groups(&self) -> impl ExactSizeIterator<Item = (&str, &Agg)> + '_ {
        self.order
            .get_or_init(|| self.table.order(usize::MAX))
            .iter()
            .map(|&i| self.table.at(i))
    }

    /// The `n` groups with most requests, in that order (cheaper than sorting all).
    pub fn top_groups(&self, n: usize) -> Vec<(&str, &Agg)> {
        match self.order.get() {
            Some(o) => o.iter().take(n).map(|&i| self.table.at(i)).collect(),
            None => self
                .table
                .order(n)
                .into_iter()
                .map(|i| self.table.at(i))
                .collect(),
        }
    }

    /// Groups in no particular order (filters that sort what they keep).
    pub fn groups_unordered(&self) -> impl Iterator<Item = (&str, &Agg)> + '_ {
        self.table.iter().map(|(_, k, a)| (k, a))
    }

    /// Number of groups (distinct keys) in the window.
    pub fn group_count(&self) -> usize {
        self.table.len()
    }
}

/// The operator's whole state, for checkpoints: restoring it and replaying the input after
/// the checkpointed source positions gives the same results as an uninterrupted run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WindowsSnapshot {
    open: Vec<SnapshotWindow>,
    closed_before: i64,
    max_event_time: Option<i64>,
    late_pending: u64,
    totals: RunTotals,
    #[serde(default)]
    sessions: Option<SessionsSnapshot>,
}

impl WindowsSnapshot {
    /// Windows open at the checkpoint.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }
}

/// The windowing operator.
pub struct Windows {
    spec: WindowSpec,
    lateness: i64,
    thresholds: Thresholds,
    open: BTreeMap<i64, OpenWindow>,
    /// Windows starting before this are closed.
    closed_before: i64,
    max_event_time: Option<i64>,
    late_pending: u64,
    /// Counters; `by_key` is filled from `key_totals` on [`Windows::sync_totals`].
    totals: RunTotals,
    key_totals: key_totals::KeyTotals,
    /// Sessions per key, when tracked.
    sessions: Option<session_shards::SessionShards>,
    /// Helper threads for per-key work (totals shards; session shards).
    helper_threads: usize,
}

/// A partial whose groups were moved apart by window ([`SplitPartial::new`]): the costly half of
/// absorbing a batch, done on any thread (the pipeline does it beside the windows thread), so
/// [`Windows::absorb_split`] is left with placing whole per-window tables.
#[derive(Debug, Default)]
pub struct SplitPartial {
    /// The partial, its `groups` empty.
    partial: Partial,
    /// Its groups, one table per window (windows in order of first appearance), each with its
    /// summary when computed.
    parts: Vec<(i64, GroupTable, Option<Summary>)>,
    /// The window spec and thresholds the summaries were computed with.
    summarized: Option<(WindowSpec, Thresholds)>,
}

impl SplitPartial {
    /// Moves the partial's groups apart by window.
    pub fn new(mut p: Partial) -> Self {
        let (parts, _) = std::mem::take(&mut p.groups).split_windows(|_| false);
        SplitPartial {
            partial: p,
            parts: parts.into_iter().map(|(w, t)| (w, t, None)).collect(),
            summarized: None,
        }
    }

    /// Moves the partial's groups apart by window and computes, for each window, what closing
    /// it would compute (totals, alerts), as [`Windows`] built with `spec` and `thresholds`
    /// would: a window whose groups all come from this batch then closes without visiting its
    /// groups again on the windows thread (closing was ~80% of that thread's work, callgrind).
    pub fn summarized(p: Partial, spec: WindowSpec, thresholds: Thresholds) -> Self {
        let mut sp = Self::new(p);
        for (w, t, summary) in &mut sp.parts {
            *summary = Some(Summary::of(spec, &thresholds, *w, t));
        }
        sp.summarized = Some((spec, thresholds));
        sp
    }

    /// The partial (without its groups).
    pub fn partial(&self) -> &Partial {
        &self.partial
    }

    /// Takes the partial's rejected lines (for the rejects sinks).
    pub fn take_rejects(&mut self) -> Vec<crate::reject::Reject> {
        std::mem::take(&mut self.partial.rejects)
    }
}

/// Threads for the windows stage's helpers (splitting partials, per-key totals shards):
/// `LOGPULSE_MERGE_THREADS` if set (measurements, tests), else a quarter of the cores, 1 to 4
/// (the backends need the rest; on 2 cores one of each, as before).
pub fn merge_threads() -> usize {
    crate::threads_from_env("LOGPULSE_MERGE_THREADS", 4)
}

/// [`merge_threads`] when a device parses the batches (`BufferPool::feeds_device`): half the
/// cores, 1 to 8, since the host's cores do not parse. With a quarter (4 on the 16-core H100
/// host) the per-key totals lagged and held the windows thread back (backends blocked on it
/// 0.83-1.18 s in runs over 120M page-cached CLF lines; 0.04-0.06 s with 8; BENCHMARKS.md,
/// 2026-12-07 fourth session).
pub fn merge_threads_for_device() -> usize {
    crate::threads_from_env_or_fraction("LOGPULSE_MERGE_THREADS", 2, 8)
}

/// The windows stage's helper threads for batches going into `pool`:
/// [`merge_threads_for_device`] when a device parses them, else [`merge_threads`].
pub fn merge_threads_for(pool: &crate::batch::BufferPool) -> usize {
    if pool.feeds_device() {
        merge_threads_for_device()
    } else {
        merge_threads()
    }
}

impl Windows {
    /// A new operator, its per-key totals on [`merge_threads`] threads.
    pub fn new(spec: WindowSpec, lateness_secs: i64, thresholds: Thresholds) -> Self {
        Self::with_totals_threads(spec, lateness_secs, thresholds, merge_threads())
    }

    /// A new operator, its per-key totals sharded over `totals_threads` threads (results do not
    /// depend on the number).
    pub fn with_totals_threads(
        spec: WindowSpec,
        lateness_secs: i64,
        thresholds: Thresholds,
        totals_threads: usize,
    ) -> Self {
        Windows {
            spec,
            lateness: lateness_secs.max(0),
            thresholds,
            open: BTreeMap::new(),
            closed_before: i64::MIN,
            max_event_time: None,
            late_pending: 0,
            totals: RunTotals::default(),
            key_totals: key_totals::KeyTotals::new(totals_threads),
            sessions: None,
            helper_threads: totals_threads,
        }
    }

    /// Also tracks sessions per key, split by idle gaps of more than `gap_secs`
    /// ([`Sessions`], sharded over as many threads as the per-key totals); only event-time
    /// windows have the times sessions need, so per-batch windows track none.
    pub fn with_sessions(mut self, gap_secs: i64) -> Self {
        if let WindowSpec::Tumbling { secs } = self.spec {
            let s = session_shards::SessionShards::new(gap_secs, secs, self.helper_threads);
            self.totals.sessions = Some(s.totals());
            self.sessions = Some(s);
        }
        self
    }

    /// A snapshot of the whole state.
    pub fn snapshot(&mut self) -> WindowsSnapshot {
        self.sync_totals();
        WindowsSnapshot {
            open: self
                .open
                .iter()
                .map(|(w, o)| {
                    let lat = o.latency.as_ref().map(|h| h.sparse()).unwrap_or_default();
                    (*w, o.groups.clone(), lat)
                })
                .collect(),
            closed_before: self.closed_before,
            max_event_time: self.max_event_time,
            late_pending: self.late_pending,
            totals: self.totals.clone(),
            sessions: self.sessions.as_mut().map(|s| s.snapshot()),
        }
    }

    /// Replaces the state with a snapshot's.
    pub fn restore(&mut self, s: WindowsSnapshot) {
        self.open = s
            .open
            .into_iter()
            .map(|(w, groups, lat)| {
                let latency = (!lat.is_empty()).then(|| LatencyHist::from_sparse(&lat));
                (
                    w,
                    OpenWindow {
                        groups,
                        latency,
                        summary: None,
                    },
                )
            })
            .collect();
        self.closed_before = s.closed_before;
        self.max_event_time = s.max_event_time;
        self.late_pending = s.late_pending;
        self.key_totals.reset(s.totals.by_key.clone());
        self.totals = s.totals;
        if let Some(now) = &mut self.sessions {
            now.restore(s.sessions.unwrap_or_default());
            self.totals.sessions = Some(now.totals());
        }
    }

    /// Whole-run counters so far; `by_key` is as of the last [`Windows::sync_totals`].
    pub fn totals(&self) -> &RunTotals {
        &self.totals
    }

    /// Whole-run totals with the per-key totals brought up to date (waits for their thread).
    pub fn sync_totals(&mut self) -> &RunTotals {
        let by_key = self.key_totals.get();
        self.totals.by_key = match &self.sessions {
            Some(s) => {
                let by_key = Arc::new(by_key);
                self.totals.sessions_by_key = s.begun_for(&by_key);
                Arc::try_unwrap(by_key).unwrap_or_else(|shared| (*shared).clone())
            }
            None => by_key,
        };
        &self.totals
    }

    /// Number of windows open now.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// Merges a partial, returning the windows this closes (oldest first).
    pub fn absorb(&mut self, p: Partial) -> Vec<WindowResult> {
        self.absorb_split(SplitPartial::new(p))
    }

    /// Merges a partial already split by window, returning the windows this closes (oldest
    /// first). A window not open yet takes its part as it is, an open one merges it; parts of
    /// closed windows are late (per-key totals get them, in the partial's window order).
    pub fn absorb_split(&mut self, sp: SplitPartial) -> Vec<WindowResult> {
        let SplitPartial {
            partial: p,
            parts,
            summarized,
        } = sp;
        // Summaries computed for another spec or other thresholds are not used.
        let mine = summarized == Some((self.spec, self.thresholds));
        self.totals.add_partial(&p);
        for (window, part, summary) in parts {
            if window < self.closed_before {
                let n: u64 = part.entries().map(|(_, _, _, a)| a.requests).sum();
                self.late_pending += n;
                self.totals.late += n;
                self.key_totals.add(std::sync::Arc::new(part));
                continue;
            }
            match self.open.entry(window) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(OpenWindow {
                        groups: part,
                        latency: None,
                        summary: summary.filter(|_| mine),
                    });
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    let w = o.get_mut();
                    w.groups.merge_owned(part);
                    w.summary = None;
                }
            }
        }
        for (win, h) in p.latency {
            if win < self.closed_before {
                continue; // counted late above with its group
            }
            let w = self.open.entry(win).or_default();
            match &mut w.latency {
                Some(l) => l.merge(&h),
                None => w.latency = Some(h),
            }
        }
        let closed = match self.spec {
            WindowSpec::PerBatch => self.close_before(i64::MAX),
            WindowSpec::Tumbling { .. } => {
                if let Some(t) = p.max_time {
                    let m = self.max_event_time.map_or(t, |x| x.max(t));
                    self.max_event_time = Some(m);
                    let watermark = m.saturating_sub(self.lateness);
                    // Windows before the watermark's own window end at or before it: close them.
                    self.close_before(self.spec.window_of(watermark, 0))
                } else {
                    Vec::new()
                }
            }
        };
        // The batch's closed (and late) tables go to the per-key totals in one message.
        self.key_totals.flush();
        closed
    }

    /// Closes every open window (end of input).
    pub fn finish(&mut self) -> Vec<WindowResult> {
        let closed = self.close_before(i64::MAX);
        self.key_totals.flush();
        if let Some(s) = &mut self.sessions {
            s.finish();
            self.totals.sessions = Some(s.totals());
        }
        closed
    }

    fn close_before(&mut self, bound: i64) -> Vec<WindowResult> {
        let mut out = Vec::new();
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() >= bound {
                break;
            }
            let (start, w) = entry.remove_entry();
            out.push(self.result(start, w));
        }
        if let Some(s) = &mut self.sessions {
            let counts = s.close(out.iter().map(|r| (r.start, r.table.clone())).collect());
            for (r, c) in out.iter_mut().zip(counts) {
                r.sessions = Some(c);
            }
            self.totals.sessions = Some(s.totals());
        }
        if bound > self.closed_before && bound != i64::MAX {
            self.closed_before = bound;
        } else if bound == i64::MAX {
            if let Some(last) = out.last() {
                self.closed_before = self.closed_before.max(last.start + 1);
            }
        }
        out
    }

    fn result(&mut self, start: i64, w: OpenWindow) -> WindowResult {
        let end = self.spec.end_of(start);
        let Summary { totals, alerts } = match w.summary {
            Some(s) => s,
            None => Summary::of(self.spec, &self.thresholds, start, &w.groups),
        };
        self.totals.windows += 1;
        self.totals.alerts += alerts.len() as u64;
        WindowResult {
            start,
            end,
            event_time: matches!(self.spec, WindowSpec::Tumbling { .. }),
            totals,
            table: {
                let table = std::sync::Arc::new(w.groups);
                self.key_totals.add(table.clone());
                table
            },
            order: std::sync::OnceLock::new(),
            latency: w.latency,
            late: std::mem::take(&mut self.late_pending),
            alerts,
            sessions: None,
        }
    }
}

#[cfg(test)]
mod tests;
