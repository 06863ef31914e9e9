//! [`Partial`]: per (window, key) aggregates of one batch, plus its line accounting.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap};

use super::{Agg, LatencyHist};
use crate::format::Record;
use crate::reject::{Reject, RejectCounts};

/// A group: the window (start second or batch number) and the key's text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    /// Window id (see [`crate::plan::WindowSpec::window_of`]).
    pub window: i64,
    /// Key text (client address, path, ...).
    pub key: Box<str>,
}

impl Hash for GroupKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        KeyRef {
            window: self.window,
            key: &self.key,
        }
        .hash(state)
    }
}

/// A borrowed group key, for lookups that allocate only when the group is new.
#[derive(Clone, Copy)]
pub struct KeyRef<'a> {
    /// Window id.
    pub window: i64,
    /// Key text.
    pub key: &'a str,
}

impl Hash for KeyRef<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_i64(self.window);
        state.write(self.key.as_bytes());
    }
}

impl Equivalent<GroupKey> for KeyRef<'_> {
    #[inline]
    fn equivalent(&self, k: &GroupKey) -> bool {
        self.window == k.window && self.key == &*k.key
    }
}

/// Aggregates per group.
pub type GroupMap = HashMap<GroupKey, Agg, foldhash::fast::RandomState>;

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
    /// Rejected lines by reason.
    pub reject_counts: RejectCounts,
    /// The rejected lines themselves.
    pub rejects: Vec<Reject>,
    /// Aggregates per (window, key).
    pub groups: GroupMap,
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
        self.max_time = Some(self.max_time.map_or(rec.time, |t| t.max(rec.time)));
    }

    /// The aggregate of a group, created empty if new.
    #[inline]
    pub fn agg_mut(&mut self, window: i64, key: &str) -> &mut Agg {
        let probe = KeyRef { window, key };
        // Two lookups only for new groups: the common case allocates nothing.
        if !self.groups.contains_key(&probe) {
            self.groups.insert(
                GroupKey {
                    window,
                    key: key.into(),
                },
                Agg::default(),
            );
        }
        self.groups.get_mut(&probe).expect("inserted above")
    }

    /// Adds all of `other` (any order: merging is associative and commutative).
    pub fn merge(&mut self, other: Partial) {
        self.seq = self.seq.min(other.seq);
        self.input_bytes += other.input_bytes;
        self.lines += other.lines;
        self.records += other.records;
        self.directives += other.directives;
        self.reject_counts.merge(&other.reject_counts);
        self.rejects.extend(other.rejects);
        self.merge_groups(other.groups);
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

    /// Adds groups into this partial's groups.
    pub fn merge_groups(&mut self, groups: GroupMap) {
        if self.groups.is_empty() {
            self.groups = groups;
            return;
        }
        for (k, v) in groups {
            match self.groups.get_mut(&k) {
                Some(a) => a.merge(&v),
                None => {
                    self.groups.insert(k, v);
                }
            }
        }
    }

    /// Rejected lines in total.
    pub fn rejected(&self) -> u64 {
        self.reject_counts.total()
    }
}
