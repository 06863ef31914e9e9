//! Sessions per client on threads of their own, sharded by key like the per-key totals.
//!
//! Following every closed window's clients is a hash lookup per group (80-150 ns a group on
//! the 2-core dev VM, `examples/windows_stage.rs`): on the windows thread alone it would cap
//! a run near 30 M lines/s of generated CLF, below what a GPU feeds it. A client's sessions
//! depend only on its own windows, so `shards` threads each follow the keys of their shard
//! (`shard_of`), and the windows closed by one batch go to them in one message: the windows
//! thread waits once a batch for the per-window counts, which are sums over the shards and
//! the same for any shard count.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};

use super::sessions::{SessionTotals, Sessions, SessionsSnapshot, WindowSessions};
use crate::agg::GroupTable;

/// Closed windows, oldest first.
type Closed = Arc<Vec<(i64, Arc<GroupTable>)>>;

enum Msg {
    Close(Closed, Sender<(Vec<WindowSessions>, SessionTotals)>),
    Finish(Sender<SessionTotals>),
    Snapshot(Sender<SessionsSnapshot>),
    Restore(Arc<SessionsSnapshot>),
    Begun(Arc<GroupTable>, Sender<Vec<(u32, u64)>>),
}

struct Worker {
    tx: Sender<Msg>,
    handle: Option<JoinHandle<()>>,
}

/// Sessions per key, on `shards` threads (or on the caller's, for one shard).
pub(crate) struct SessionShards {
    gap: i64,
    window_secs: i64,
    workers: Vec<Worker>,
    /// Used when there is one shard, or threads could not be started.
    inline: Option<Sessions>,
    totals: SessionTotals,
}

impl SessionShards {
    /// Sessions split by idle gaps of more than `gap_secs` over windows of `window_secs`, on
    /// `shards` threads (1: on the caller's thread).
    pub(crate) fn new(gap_secs: i64, window_secs: i64, shards: usize) -> Self {
        let mut me = SessionShards {
            gap: gap_secs,
            window_secs,
            workers: Vec::new(),
            inline: None,
            totals: Sessions::new(gap_secs, window_secs).totals(),
        };
        if shards <= 1 || !me.spawn(shards) {
            me.inline = Some(Sessions::new(gap_secs, window_secs));
        }
        me
    }

    /// Starts `of` shard threads; false (none left running) when one could not be started.
    fn spawn(&mut self, of: usize) -> bool {
        for me in 0..of {
            let (tx, rx) = bounded::<Msg>(1);
            let (gap, secs) = (self.gap, self.window_secs);
            let spawned = std::thread::Builder::new()
                .name(format!("logpulse-sessions-{me}"))
                .spawn(move || {
                    let mut s = Sessions::new(gap, secs);
                    for msg in rx {
                        match msg {
                            Msg::Close(windows, reply) => {
                                let counts = windows
                                    .iter()
                                    .map(|(start, t)| s.close_window_shard(*start, t, me, of))
                                    .collect();
                                let _ = reply.send((counts, s.totals()));
                            }
                            Msg::Finish(reply) => {
                                s.finish();
                                let _ = reply.send(s.totals());
                            }
                            Msg::Snapshot(reply) => {
                                let _ = reply.send(s.snapshot());
                            }
                            Msg::Restore(snap) => {
                                s = Sessions::restore_shard(gap, secs, &snap, me, of);
                            }
                            Msg::Begun(keys, reply) => {
                                let _ = reply.send(s.begun_for_shard(&keys, me, of));
                            }
                        }
                    }
                });
            match spawned {
                Ok(handle) => self.workers.push(Worker {
                    tx,
                    handle: Some(handle),
                }),
                Err(_) => {
                    self.stop();
                    return false;
                }
            }
        }
        true
    }

    /// Whole-run counts as of the last call.
    pub(crate) fn totals(&self) -> SessionTotals {
        self.totals
    }

    /// Counts the closed windows (oldest first, after every window closed before), returning
    /// each one's session counts.
    pub(crate) fn close(&mut self, windows: Vec<(i64, Arc<GroupTable>)>) -> Vec<WindowSessions> {
        if windows.is_empty() {
            return Vec::new();
        }
        if let Some(s) = &mut self.inline {
            let counts = windows
                .iter()
                .map(|(start, t)| s.close_window(*start, t))
                .collect();
            self.totals = s.totals();
            return counts;
        }
        let closed: Closed = Arc::new(windows);
        let replies = self.ask(|reply| Msg::Close(closed.clone(), reply));
        let mut counts = vec![WindowSessions::default(); closed.len()];
        let mut totals = SessionTotals {
            gap_secs: self.gap,
            ..SessionTotals::default()
        };
        for (part, t) in replies {
            for (c, p) in counts.iter_mut().zip(&part) {
                c.add(p);
            }
            totals.add(&t);
        }
        self.totals = totals;
        counts
    }

    /// Ends every open session (end of input).
    pub(crate) fn finish(&mut self) {
        if let Some(s) = &mut self.inline {
            s.finish();
            self.totals = s.totals();
            return;
        }
        let mut totals = SessionTotals {
            gap_secs: self.gap,
            ..SessionTotals::default()
        };
        for t in self.ask(Msg::Finish) {
            totals.add(&t);
        }
        self.totals = totals;
    }

    /// Sessions begun by each key of `keys` (its order), so far.
    pub(crate) fn begun_for(&self, keys: &Arc<GroupTable>) -> Vec<u64> {
        if let Some(s) = &self.inline {
            return s.begun_for(keys);
        }
        let mut out = vec![0; keys.len()];
        for part in self.ask(|reply| Msg::Begun(keys.clone(), reply)) {
            for (i, n) in part {
                out[i as usize] = n;
            }
        }
        out
    }

    /// The state, for a checkpoint (the same for any shard count).
    pub(crate) fn snapshot(&mut self) -> SessionsSnapshot {
        match &self.inline {
            Some(s) => s.snapshot(),
            None => SessionsSnapshot::combine(self.ask(Msg::Snapshot)),
        }
    }

    /// Replaces the state with a checkpoint's.
    pub(crate) fn restore(&mut self, snap: SessionsSnapshot) {
        if let Some(s) = &mut self.inline {
            *s = Sessions::restore(self.gap, self.window_secs, snap);
            self.totals = s.totals();
            return;
        }
        let snap = Arc::new(snap);
        for w in &self.workers {
            let _ = w.tx.send(Msg::Restore(snap.clone()));
        }
        // The shards' totals start from the snapshot's (held by shard 0).
        self.totals = SessionTotals {
            gap_secs: self.gap,
            ..snap.totals
        };
    }

    /// Sends every shard the message `make` builds around a reply channel; their replies in
    /// shard order. A shard gone (it cannot panic on its own) answers nothing.
    fn ask<T>(&self, make: impl Fn(Sender<T>) -> Msg) -> Vec<T> {
        let pending: Vec<_> = self
            .workers
            .iter()
            .filter_map(|w| {
                let (tx, rx) = bounded(1);
                w.tx.send(make(tx)).ok().map(|_| rx)
            })
            .collect();
        pending
            .into_iter()
            .filter_map(|rx| rx.recv().ok())
            .collect()
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

impl Drop for SessionShards {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_shard_count_gives_the_same_counts_and_snapshot() {
        let keys: Vec<String> = (0..500).map(|i| format!("client-{i}.example")).collect();
        let windows: Vec<(i64, Arc<GroupTable>)> = (0..120i64)
            .map(|w| {
                let mut t = GroupTable::default();
                for (i, k) in keys.iter().enumerate() {
                    if (i as i64 * 7 + w * w) % (3 + i as i64 % 11) == 0 {
                        t.agg_mut(w * 60, k).add_parts(200, 1, None);
                    }
                }
                (w * 60, Arc::new(t))
            })
            .collect();
        let run = |shards: usize| {
            let mut s = SessionShards::new(300, 60, shards);
            let mut counts = s.close(windows[..50].to_vec());
            let snap = s.snapshot();
            let mut s = SessionShards::new(300, 60, shards);
            s.restore(snap.clone());
            // Windows closed one batch at a time, several per batch.
            for chunk in windows[50..].chunks(7) {
                counts.extend(s.close(chunk.to_vec()));
            }
            s.finish();
            let keys: GroupTable = {
                let mut t = GroupTable::default();
                for k in &keys {
                    t.agg_mut(0, k).add_parts(200, 1, None);
                }
                t.agg_mut(0, "never-seen").add_parts(200, 1, None);
                t
            };
            let begun = s.begun_for(&Arc::new(keys));
            (
                counts,
                serde_json::to_string(&snap).expect("json"),
                s.totals(),
                begun,
            )
        };
        let one = run(1);
        assert!(
            one.2.started > 500,
            "clients come back after gaps: {:?}",
            one.2
        );
        assert_eq!(one.2.started, one.2.ended);
        assert_eq!(
            one.3.iter().sum::<u64>(),
            one.2.started,
            "per key sums to the total"
        );
        assert_eq!(one.3.last(), Some(&0), "a key never seen began none");
        for shards in [2, 3, 8] {
            assert_eq!(run(shards), one, "{shards} shards");
        }
    }
}
