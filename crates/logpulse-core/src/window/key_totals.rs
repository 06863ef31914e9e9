//! Whole-run per-key totals, merged on threads of their own, sharded by key.
//!
//! Folding every closed window's groups into the per-key totals cost as much as everything else
//! the windows stage does (measured: 22 -> 43 M lines/s without it), and the totals are only
//! read at a checkpoint and at the end. So closed windows' tables are handed over (shared, not
//! copied) to `shards` threads; each merges the keys of its shard (a cheap function of the
//! key, `key_shard.rs`), so a key always lands in the same shard, and [`KeyTotals::get`] waits
//! for all of them.
//!
//! Determinism: every table added gets a number, and each shard records, per key, when it
//! first saw it (table number, index in the table). [`KeyTotals::get`] orders the shards' keys
//! by that stamp, which is exactly the order one thread merging every table in turn would have
//! inserted them in: the totals, their order and the checkpoint snapshot are the same for any
//! shard count.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};

use crate::agg::GroupTable;

use super::key_shard::Shard;

/// One key as [`Shard::rows`] yields it.
type Row<'a> = (u64, &'a [u8], &'a crate::agg::Agg);

/// The shards' keys as one table, in first-seen order.
fn combine(mut shards: Vec<Shard>) -> GroupTable {
    if shards.len() == 1 {
        return shards.pop().map(Shard::into_table).unwrap_or_default();
    }
    let mut order: Vec<(u64, u32, u32)> = shards
        .iter()
        .enumerate()
        .flat_map(|(s, sh)| {
            sh.first_seen
                .iter()
                .enumerate()
                .map(move |(i, &stamp)| (stamp, s as u32, i as u32))
        })
        .collect();
    order.sort_unstable();
    let rows: Vec<Vec<Row>> = shards.iter().map(|sh| sh.rows().collect()).collect();
    let key_bytes = rows.iter().flatten().map(|r| r.1.len()).sum();
    GroupTable::from_unique(
        order.len(),
        key_bytes,
        order.iter().map(|&(_, s, i)| {
            let (hash, key, agg) = rows[s as usize][i as usize];
            (hash, 0, key, agg.clone())
        }),
    )
}

/// Splits a table (window 0) into `of` shards' states, its keys stamped as table number 0.
fn distribute(t: &GroupTable, of: usize) -> Vec<Shard> {
    let mut shards = vec![Shard::default(); of];
    for (me, sh) in shards.iter_mut().enumerate() {
        sh.add(t, 0, me, of);
    }
    shards
}

/// Tables handed over together, each with its number.
type Tables = Arc<Vec<(Arc<GroupTable>, u64)>>;

/// Messages a shard's queue holds at most: tables are sent a batch's worth at a time
/// ([`KeyTotals::flush`]), or [`FLUSH_TABLES`] at a time, so a lagging shard holds back the
/// windows stage instead of queueing every closed window of the run (a sparse log closes a
/// window a line).
const QUEUED_BATCHES: usize = 4;

/// Tables added before they are sent without waiting for the end of the batch: a sparse log's
/// batch closes ~250k one-group windows, which would otherwise all stay alive until then.
const FLUSH_TABLES: usize = 1024;

enum Msg {
    Add(Tables),
    Get(Sender<Shard>),
    Reset(Shard),
}

struct Worker {
    tx: Sender<Msg>,
    handle: Option<JoinHandle<()>>,
}

/// Per-key totals (window 0) fed with groups of any window.
pub(crate) struct KeyTotals {
    /// One thread per shard; empty when none could be started (then `inline` is used).
    workers: Vec<Worker>,
    inline: Shard,
    /// Number of the next table added (0 is the restored totals).
    next: u64,
    /// Tables added since the last [`KeyTotals::flush`].
    pending: Vec<(Arc<GroupTable>, u64)>,
}

impl KeyTotals {
    /// Totals merged on `shards` threads (at least 1).
    pub(crate) fn new(shards: usize) -> Self {
        let of = shards.max(1);
        let mut workers = Vec::with_capacity(of);
        for me in 0..of {
            let (tx, rx) = bounded::<Msg>(QUEUED_BATCHES);
            let spawned = std::thread::Builder::new()
                .name(format!("logpulse-totals-{me}"))
                .spawn(move || {
                    let mut state = Shard::default();
                    for msg in rx {
                        match msg {
                            Msg::Add(tables) => {
                                for (t, n) in tables.iter() {
                                    state.add(t, *n, me, of);
                                }
                            }
                            Msg::Get(reply) => {
                                let _ = reply.send(state.clone());
                            }
                            Msg::Reset(s) => state = s,
                        }
                    }
                });
            match spawned {
                Ok(handle) => workers.push(Worker {
                    tx,
                    handle: Some(handle),
                }),
                Err(_) => {
                    // Fewer threads than asked: merge everything in place instead.
                    drop(workers);
                    return KeyTotals {
                        workers: Vec::new(),
                        inline: Shard::default(),
                        next: 1,
                        pending: Vec::new(),
                    };
                }
            }
        }
        KeyTotals {
            workers,
            inline: Shard::default(),
            next: 1,
            pending: Vec::new(),
        }
    }

    /// Adds a table's groups (any windows) to the per-key totals (handed to the shards at the
    /// next [`KeyTotals::flush`]).
    pub(crate) fn add(&mut self, t: Arc<GroupTable>) {
        let n = self.next;
        self.next += 1;
        if self.workers.is_empty() {
            self.inline.add(&t, n, 0, 1);
            return;
        }
        self.pending.push((t, n));
        if self.pending.len() >= FLUSH_TABLES {
            self.flush();
        }
    }

    /// Hands the tables added since the last flush to the shards, in one message each (the
    /// windows stage flushes once a batch). Blocks while a shard is [`QUEUED_BATCHES`] behind.
    pub(crate) fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let tables: Tables = Arc::new(std::mem::take(&mut self.pending));
        let mut lost = false;
        for w in &self.workers {
            lost |= w.tx.send(Msg::Add(tables.clone())).is_err();
        }
        if lost {
            // A thread is gone (they cannot panic on their own): merge here from now on.
            let so_far = self.collect();
            self.stop();
            let mut inline = distribute(&so_far, 1).pop().unwrap_or_default();
            for (t, n) in tables.iter() {
                inline.add(t, *n, 0, 1);
            }
            self.inline = inline;
        }
    }

    /// The totals so far, once everything added before is merged, in first-seen order.
    pub(crate) fn get(&mut self) -> GroupTable {
        self.flush();
        self.collect()
    }

    /// The shards' totals as one table (after what was sent to them is merged).
    fn collect(&self) -> GroupTable {
        if self.workers.is_empty() {
            return self.inline.to_table();
        }
        let replies: Vec<_> = self
            .workers
            .iter()
            .map(|w| {
                let (reply_tx, reply_rx) = bounded(1);
                let sent = w.tx.send(Msg::Get(reply_tx)).is_ok();
                (sent, reply_rx)
            })
            .collect();
        let shards = replies
            .into_iter()
            .map(|(sent, rx)| {
                if sent {
                    rx.recv().unwrap_or_default()
                } else {
                    Shard::default()
                }
            })
            .collect();
        combine(shards)
    }

    /// Replaces the totals (restoring a checkpoint).
    pub(crate) fn reset(&mut self, t: GroupTable) {
        self.next = 1;
        self.pending.clear();
        if self.workers.is_empty() {
            self.inline = distribute(&t, 1).pop().unwrap_or_default();
            return;
        }
        let parts = distribute(&t, self.workers.len());
        for (w, s) in self.workers.iter().zip(parts) {
            let _ = w.tx.send(Msg::Reset(s));
        }
    }

    fn stop(&mut self) {
        for mut w in self.workers.drain(..) {
            drop(w.tx);
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for KeyTotals {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(i64, &str, u64)]) -> Arc<GroupTable> {
        let mut t = GroupTable::default();
        for &(w, k, n) in rows {
            t.agg_mut(w, k)
                .add_parts(if n % 3 == 0 { 500 } else { 200 }, n, None);
        }
        Arc::new(t)
    }

    fn dump(t: &GroupTable) -> Vec<(i64, String, crate::agg::Agg)> {
        t.iter()
            .map(|(w, k, a)| (w, k.to_string(), a.clone()))
            .collect()
    }

    #[test]
    fn any_shard_count_gives_the_same_totals_in_the_same_order() {
        let keys: Vec<String> = (0..300)
            .map(|i| format!("client-{}", (i * 37) % 211))
            .collect();
        let tables: Vec<_> = (0..20)
            .map(|b| {
                let rows: Vec<(i64, &str, u64)> = (0..40)
                    .map(|i| {
                        (
                            (b * 60 + i % 3 * 60) as i64,
                            keys[(b * 13 + i * 7) % keys.len()].as_str(),
                            i as u64,
                        )
                    })
                    .collect();
                table(&rows)
            })
            .collect();
        let restored = dump(&{
            let mut one = KeyTotals::new(1);
            one.add(tables[0].clone());
            one.get()
        });
        let mut want = None;
        for shards in [1, 2, 3, 8] {
            let mut kt = KeyTotals::new(shards);
            let mut r = GroupTable::default();
            for (w, k, a) in &restored {
                r.agg_mut(*w, k).merge(a);
            }
            kt.reset(r);
            for t in &tables[1..] {
                kt.add(t.clone());
            }
            let got = dump(&kt.get());
            kt.add(tables[5].clone());
            let got = (got, dump(&kt.get()));
            match &want {
                None => want = Some(got),
                Some(w) => assert_eq!(&got, w, "{shards} shards"),
            }
        }
        let inline = {
            let mut kt = KeyTotals {
                workers: Vec::new(),
                inline: Shard::default(),
                next: 1,
                pending: Vec::new(),
            };
            kt.add(tables[0].clone());
            for t in &tables[1..] {
                kt.add(t.clone());
            }
            dump(&kt.get())
        };
        assert_eq!(Some(&inline), want.as_ref().map(|w| &w.0));
    }
}
