//! Whole-run per-key totals, merged on a thread of their own.
//!
//! Folding every closed window's groups into the per-key totals cost as much as everything else
//! the windows stage does (measured: 22 -> 43 M lines/s without it), and the totals are only
//! read at a checkpoint and at the end. So closed windows' tables are handed over (shared, not
//! copied) to a thread that merges them, and [`KeyTotals::get`] waits for it to catch up.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, unbounded, Sender};

use crate::agg::GroupTable;

pub(crate) enum Msg {
    Add(Arc<GroupTable>),
    Get(Sender<GroupTable>),
    Reset(GroupTable),
}

/// Per-key totals (window 0) fed with groups of any window.
pub(crate) enum KeyTotals {
    /// Merged on a helper thread.
    Thread {
        tx: Option<Sender<Msg>>,
        handle: Option<JoinHandle<()>>,
    },
    /// Merged in place (when no thread could be started).
    Inline(GroupTable),
}

impl KeyTotals {
    pub(crate) fn new() -> Self {
        let (tx, rx) = unbounded::<Msg>();
        let spawned = std::thread::Builder::new()
            .name("logpulse-totals".into())
            .spawn(move || {
                let mut by_key = GroupTable::default();
                for msg in rx {
                    match msg {
                        Msg::Add(t) => by_key.merge_into_window(&t, 0),
                        Msg::Get(reply) => {
                            let _ = reply.send(by_key.clone());
                        }
                        Msg::Reset(t) => by_key = t,
                    }
                }
            });
        match spawned {
            Ok(handle) => KeyTotals::Thread {
                tx: Some(tx),
                handle: Some(handle),
            },
            Err(_) => KeyTotals::Inline(GroupTable::default()),
        }
    }

    /// Adds a table's groups (any windows) to the per-key totals.
    pub(crate) fn add(&mut self, t: Arc<GroupTable>) {
        match self {
            KeyTotals::Thread { tx: Some(tx), .. } => {
                if let Err(e) = tx.send(Msg::Add(t)) {
                    // The thread is gone (it cannot panic on its own): merge here instead.
                    if let Msg::Add(t) = e.into_inner() {
                        let mut inline = GroupTable::default();
                        inline.merge_into_window(&t, 0);
                        *self = KeyTotals::Inline(inline);
                    }
                }
            }
            KeyTotals::Thread { tx: None, .. } => {}
            KeyTotals::Inline(by_key) => by_key.merge_into_window(&t, 0),
        }
    }

    /// The totals so far, once everything added before is merged.
    pub(crate) fn get(&self) -> GroupTable {
        match self {
            KeyTotals::Thread { tx: Some(tx), .. } => {
                let (reply_tx, reply_rx) = bounded(1);
                if tx.send(Msg::Get(reply_tx)).is_ok() {
                    if let Ok(t) = reply_rx.recv() {
                        return t;
                    }
                }
                GroupTable::default()
            }
            KeyTotals::Thread { tx: None, .. } => GroupTable::default(),
            KeyTotals::Inline(by_key) => by_key.clone(),
        }
    }

    /// Replaces the totals (restoring a checkpoint).
    pub(crate) fn reset(&mut self, t: GroupTable) {
        match self {
            KeyTotals::Thread { tx: Some(tx), .. } => {
                let _ = tx.send(Msg::Reset(t));
            }
            KeyTotals::Thread { tx: None, .. } => {}
            KeyTotals::Inline(by_key) => *by_key = t,
        }
    }
}

impl Drop for KeyTotals {
    fn drop(&mut self) {
        if let KeyTotals::Thread { tx, handle } = self {
            drop(tx.take());
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}
