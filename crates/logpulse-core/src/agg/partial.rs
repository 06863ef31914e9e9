//! [`Partial`]: per (window, key) aggregates of one batch, plus its line accounting.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Agg, GroupTable, LatencyHist};
use crate::format::Record;
use crate::reject::{Reject, RejectCounts};

/// The result of one batch: small, mergeable, independent of line count.
#[derive(Debug, Clone, Default)]
pub struct Partial {
    /// Sequence number of the batch (merged partials keep the lowest).
    pub seq: u64,
    /// Source of the batch.
    pub source: Arc<str>,
    /// Bytes of input covered.
    pub input_bytes: u64,
    /// Lines seen (records + directives + rejects).
    pub lines: u64,
    /// Lines that became records.
    pub records: u64,
    /// Directive/header lines.
    pub directives: u64,
    /// Records the plan's filters left out (counted in `records`, not in any group).
    pub filtered: u64,
    /// Rejected lines by reason.
    pub reject_counts: RejectCounts,
    /// The rejected lines themselves.
    pub rejects: Vec<Reject>,
    /// Aggregates per (window, key).
    pub groups: GroupTable,
    /// Latency distribution per window (only for formats that log latency).
    pub latency: BTreeMap<i64, LatencyHist>,
    /// Latest event time among the records, if any.
    pub max_time: Option<i64>,
}

impl Partial {
    /// An empty partial for batch `seq` of `source`.
    pub fn new(seq: u64, source: Arc<str>) -> Self {
        Partial {
            seq,
            source,
            ..Default::default()
        }
    }

    /// Counts a record in group (`window`, `key`).
    #[inline]
    pub fn add_record(&mut self, window: i64, key: &str, rec: &Record) {
        self.agg_mut(window, key).add(rec);
        if let Some(us) = rec.latency_us {
            self.latency.entry(window).or_default().record(us);
        }
        self.records += 1;
        self.note_time(rec.time);
    }

    /// Counts a record whose key is raw bytes, validating the key as UTF-8 only when its group
    /// is new. Returns false (nothing counted) when the key is not UTF-8.
    #[inline]
    pub fn add_record_bytes(&mut self, window: i64, key: &[u8], rec: &Record) -> bool {
        match self
            .groups
            // Keys are nearly always ASCII: `is_ascii` reads them a word at a time, where
            // `from_utf8` cost ~120 instructions a short key (callgrind, TSV run).
            .agg_for_line(window, key, |k| {
                k.is_ascii() || std::str::from_utf8(k).is_ok()
            }) {
            Some(agg) => agg.add(rec),
            None => return false,
        }
        self.count_grouped(window, rec.latency_us, rec.time);
        true
    }

    /// Counts a record already added to its group's aggregate (the CPU parser looks groups up
    /// a line late, see `LineGroups`): its latency, the record, its time.
    #[inline]
    pub(crate) fn count_grouped(&mut self, window: i64, latency_us: Option<u64>, time: i64) {
        if let Some(us) = latency_us {
            self.latency.entry(window).or_default().record(us);
        }
        self.records += 1;
        self.note_time(time);
    }

    /// Counts a record the plan's filters left out: parsed, in no group, but its time still
    /// moves the stream on.
    #[inline]
    pub fn add_filtered(&mut self, rec: &Record) {
        self.records += 1;
        self.filtered += 1;
        self.note_time(rec.time);
    }

    #[inline]
    fn note_time(&mut self, t: i64) {
        self.max_time = Some(self.max_time.map_or(t, |m| m.max(t)));
    }

    /// The aggregate of a group, created empty if new (one lookup; allocates only when new).
    #[inline]
    pub fn agg_mut(&mut self, window: i64, key: &str) -> &mut Agg {
        self.groups.agg_mut(window, key)
    }

    /// Adds all of `other` (any order: merging is associative and commutative).
    pub fn merge(&mut self, other: Partial) {
        self.seq = self.seq.min(other.seq);
        self.input_bytes += other.input_bytes;
        self.lines += other.lines;
        self.records += other.records;
        self.directives += other.directives;
        self.filtered += other.filtered;
        self.reject_counts.merge(&other.reject_counts);
        self.rejects.extend(other.rejects);
        if self.groups.is_empty() {
            self.groups = other.groups;
        } else {
            self.groups.merge(&other.groups);
        }
        for (w, h) in other.latency {
            match self.latency.get_mut(&w) {
                Some(mine) => mine.merge(&h),
                None => {
                    self.latency.insert(w, h);
                }
            }
        }
        self.max_time = match (self.max_time, other.max_time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Rejected lines in total.
    pub fn rejected(&self) -> u64 {
        self.reject_counts.total()
    }
}
