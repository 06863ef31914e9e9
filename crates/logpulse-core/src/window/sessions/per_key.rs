//! Sessions begun per key over the whole run, for the per-key totals (`by_client`).
//!
//! Why a store of its own: the tracker drops a client's entry once its session ends, so that
//! it holds only the clients active within the gap; the count of a client's sessions must
//! outlive that. This store is touched once a session (not once a group) and holds a key's
//! hash, count and bytes (~40 bytes and the key a client, against ~110 and the key in the
//! per-key totals it is read with).

use crate::agg::{group_hash, KeyStore, AHEAD};

/// Sessions begun per key.
#[derive(Debug, Default)]
pub(super) struct BegunPerKey {
    counts: KeyStore<u64>,
}

impl BegunPerKey {
    /// Adds one session begun by each key of `keys` ((`group_hash(0, key)`, key) pairs),
    /// their index slots and entries fetched ahead as in the tracker's own lookups.
    pub(super) fn add_each(&mut self, keys: &[(u64, &[u8])]) {
        let mask = self.counts.reserve(keys.len());
        for (j, &(hash, key)) in keys.iter().enumerate() {
            self.counts.prefetch_ahead(
                keys.get(j + AHEAD).map(|k| k.0),
                keys.get(j + AHEAD / 2).map(|k| k.0),
                mask,
            );
            *self.counts.entry(hash, key, mask, || 0).0 += 1;
        }
    }

    /// The counts of a checkpoint ((key, sessions) pairs, keys distinct).
    pub(super) fn restore(saved: &[(String, u64)]) -> Self {
        let mut counts = KeyStore::default();
        let mask = counts.reserve(saved.len());
        for (key, n) in saved {
            let key = key.as_bytes();
            *counts.entry(group_hash(0, key), key, mask, || 0).0 += n;
        }
        BegunPerKey { counts }
    }

    /// Sessions begun by `key` (0 for a key never seen).
    pub(super) fn get(&self, hash: u64, key: &[u8]) -> u64 {
        self.counts.get(hash, key).copied().unwrap_or(0)
    }

    /// (key, sessions) of every key, in key order (the same for any sharding).
    pub(super) fn saved(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .counts
            .rows()
            // Keys enter the group tables only as UTF-8.
            .map(|(_, key, &n)| (String::from_utf8_lossy(key).into_owned(), n))
            .collect();
        v.sort_unstable();
        v
    }
}
