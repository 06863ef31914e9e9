//! The offset ledger: which Kafka offsets each batch covers, and which of them are durable.
//!
//! The source registers, per batch, the next offset of every partition whose messages the batch
//! completes (keyed by the batch's stream position, because the pipeline numbers batches only
//! when they are sent); [`super::PartialTap`] re-keys the entry by the batch's sequence number;
//! [`super::CommitSink`] marks it merged once the batch's results reached the sinks, and durable
//! once they are safe: at once without `--checkpoint` (the outputs were flushed), or when the
//! checkpoint covering the batch has been saved. Batches are merged in sequence order, so
//! merged and durable offsets only ever move forward.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Per-partition next offsets (`last consumed + 1`).
pub(crate) type Offsets = Vec<(i32, i64)>;

#[derive(Default)]
struct Inner {
    /// Registered by the source, by batch stream position (FIFO: an empty batch carrying only
    /// rejects can share its position with the next one).
    by_start: HashMap<u64, VecDeque<Offsets>>,
    /// Re-keyed by the tap, by batch sequence number.
    by_seq: HashMap<u64, Offsets>,
    /// Batches the source sent.
    sent: u64,
    /// Batches merged into the windows.
    merged_batches: u64,
    /// Next offset per partition merged but not yet durable (checkpoint mode).
    merged: BTreeMap<i32, i64>,
    /// Next offset per partition of everything merged so far (and resumed from): what a
    /// checkpoint records.
    positions: BTreeMap<i32, i64>,
    /// Batches whose results are durable.
    durable_batches: u64,
    /// Next offset per partition whose results are durable and not yet committed.
    durable: BTreeMap<i32, i64>,
    /// Offsets handed out for an (asynchronous) commit, per partition.
    handed_out: BTreeMap<i32, i64>,
}

/// See the module docs. Shared by the source, the tap, the commit sink and the rebalance
/// callback.
#[derive(Default)]
pub(crate) struct Ledger {
    inner: Mutex<Inner>,
    cv: Condvar,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data (plain inserts).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The source is about to send the batch starting at stream position `start`.
    pub fn register(&self, start: u64, offsets: Offsets) {
        let mut g = self.lock();
        g.by_start.entry(start).or_default().push_back(offsets);
        g.sent += 1;
    }

    /// The source could not send it after all (the run is stopping).
    pub fn unregister(&self, start: u64) {
        let mut g = self.lock();
        if let Some(q) = g.by_start.get_mut(&start) {
            q.pop_back();
            if q.is_empty() {
                g.by_start.remove(&start);
            }
        }
        g.sent = g.sent.saturating_sub(1);
    }

    /// A backend got batch `seq`, which started at stream position `start`.
    pub fn assign_seq(&self, start: u64, seq: u64) {
        let mut g = self.lock();
        let Some(q) = g.by_start.get_mut(&start) else {
            return; // not a Kafka batch
        };
        let offsets = q.pop_front().unwrap_or_default();
        if q.is_empty() {
            g.by_start.remove(&start);
        }
        g.by_seq.insert(seq, offsets);
    }

    /// Batch `seq` was merged into the windows. Returns false if it is not a Kafka batch.
    pub fn mark_merged(&self, seq: u64) -> bool {
        let mut guard = self.lock();
        let g = &mut *guard;
        let Some(offsets) = g.by_seq.remove(&seq) else {
            return false;
        };
        for (p, o) in offsets {
            for m in [&mut g.merged, &mut g.positions] {
                let e = m.entry(p).or_insert(o);
                *e = (*e).max(o);
            }
        }
        g.merged_batches += 1;
        drop(guard);
        self.cv.notify_all();
        true
    }

    /// Everything merged so far is durable (its checkpoint was saved).
    pub fn make_durable(&self) {
        let mut g = self.lock();
        for (p, o) in std::mem::take(&mut g.merged) {
            let e = g.durable.entry(p).or_insert(o);
            *e = (*e).max(o);
        }
        g.durable_batches = g.merged_batches;
        drop(g);
        self.cv.notify_all();
    }

    /// Batch `seq`'s results are durable. Returns false if it is not a Kafka batch.
    pub fn mark_durable(&self, seq: u64) -> bool {
        if !self.mark_merged(seq) {
            return false;
        }
        self.make_durable();
        true
    }

    /// Offsets restored from a checkpoint: already durable, to be committed with the next
    /// commit, and part of every later checkpoint.
    pub fn seed(&self, offsets: &BTreeMap<i32, i64>) {
        let mut guard = self.lock();
        let g = &mut *guard;
        for (p, o) in offsets {
            for m in [&mut g.durable, &mut g.positions] {
                let e = m.entry(*p).or_insert(*o);
                *e = (*e).max(*o);
            }
        }
    }

    /// Next offset per partition of everything merged (see [`Inner::positions`]).
    pub fn positions(&self) -> BTreeMap<i32, i64> {
        self.lock().positions.clone()
    }

    /// (batches sent, merged, durable).
    pub fn counts(&self) -> (u64, u64, u64) {
        let g = self.lock();
        (g.sent, g.merged_batches, g.durable_batches)
    }

    /// Waits until a batch is merged or made durable, or `limit` passes.
    pub fn wait_change(&self, limit: Duration) {
        let g = self.lock();
        let _ = self.cv.wait_timeout(g, limit);
    }

    /// Durable offsets to commit (all partitions, or only `only`), removed from the ledger:
    /// once committed, a partition's offsets belong to the group, not to this process.
    pub fn take_durable(&self) -> BTreeMap<i32, i64> {
        let mut g = self.lock();
        let out = std::mem::take(&mut g.durable);
        for (p, o) in &out {
            g.handed_out.insert(*p, *o);
        }
        out
    }

    /// For partitions being revoked: the furthest durable offset of each (to commit
    /// synchronously before they go), forgotten afterwards so that a later commit of this
    /// process never moves the new owner's offsets back.
    pub fn take_revoked(&self, parts: &[i32]) -> BTreeMap<i32, i64> {
        let mut g = self.lock();
        let mut out = BTreeMap::new();
        for p in parts {
            let a = g.durable.remove(p);
            let b = g.handed_out.remove(p);
            if let Some(o) = a.max(b) {
                out.insert(*p, o);
            }
        }
        out
    }

    /// Waits until every batch sent so far is durable, or `limit` passes, or `give_up` says so.
    /// Returns true when drained.
    pub fn wait_drained(&self, limit: Duration, give_up: impl Fn() -> bool) -> bool {
        let t0 = Instant::now();
        let mut g = self.lock();
        loop {
            if g.durable_batches >= g.sent {
                return true;
            }
            if give_up() || t0.elapsed() >= limit {
                return false;
            }
            g = self
                .cv
                .wait_timeout(g, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_durable_in_batch_order() {
        let l = Ledger::default();
        l.register(0, vec![(0, 10), (1, 5)]);
        l.register(100, vec![(0, 20)]);
        l.assign_seq(0, 7);
        l.assign_seq(100, 8);
        assert!(!l.wait_drained(Duration::ZERO, || false));
        assert!(l.mark_durable(7));
        assert_eq!(l.take_durable(), BTreeMap::from([(0, 10), (1, 5)]));
        assert!(l.mark_durable(8));
        assert!(!l.mark_durable(9), "not a Kafka batch");
        assert!(l.wait_drained(Duration::ZERO, || false));
        assert_eq!(l.take_revoked(&[0, 1]), BTreeMap::from([(0, 20), (1, 5)]));
        assert!(l.take_durable().is_empty());
        assert!(l.take_revoked(&[0, 1]).is_empty());
    }

    #[test]
    fn with_checkpoints_merged_offsets_wait_for_the_save() {
        let l = Ledger::default();
        l.seed(&BTreeMap::from([(3, 40)]));
        l.register(0, vec![(0, 10)]);
        l.assign_seq(0, 0);
        assert!(l.mark_merged(0));
        assert_eq!(l.counts(), (1, 1, 0));
        assert_eq!(l.positions(), BTreeMap::from([(0, 10), (3, 40)]));
        assert_eq!(
            l.take_durable(),
            BTreeMap::from([(3, 40)]),
            "only the seeded"
        );
        l.make_durable();
        assert_eq!(l.counts(), (1, 1, 1));
        assert_eq!(l.take_durable(), BTreeMap::from([(0, 10)]));
    }
}

#[cfg(test)]
mod empty_batch {
    use std::sync::Arc;

    use logpulse_core::batch::{Batch, BufferPool, Origin};
    use logpulse_core::plan::Plan;
    use logpulse_core::{Backend, CpuBackend, Format};

    /// A revoke in checkpoint mode may send an empty batch (`Ingest::tick`): the CPU backend
    /// turns it into an empty partial.
    #[test]
    fn the_cpu_backend_takes_an_empty_batch() {
        let plan = Arc::new(Plan::reference(Format::preset("nasa_tsv").expect("preset")));
        let mut cpu = CpuBackend::new(plan, 2, BufferPool::heap(2, 1 << 20)).expect("backend");
        let origin = Origin {
            source: "kafka:t".into(),
            first_line: 1,
            offset: 0,
        };
        let p = cpu
            .process(Batch::from_bytes(3, Vec::new(), origin))
            .expect("partial");
        assert_eq!((p.seq, p.lines, p.records), (3, 0, 0));
    }
}
