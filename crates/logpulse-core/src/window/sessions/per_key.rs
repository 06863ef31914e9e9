//! Sessions begun per key over the whole run, for the per-key totals (`by_client`).
//!
//! Why a store of its own: the tracker drops a client's entry once its session ends, so that
//! it holds only the clients active within the gap; the count of a client's sessions must
//! outlive that. This store is touched once a session (not once a group) and holds a key's
//! hash, count and bytes (~40 bytes and the key a client, against ~110 and the key in the
//! per-key totals it is read with).

use crate::agg::{bytes_eq, group_hash, TagIndex, AHEAD};

#[derive(Debug, Clone)]
struct Begun {
    hash: u64,
    key_off: u32,
    key_len: u32,
    count: u64,
}

/// Sessions begun per key.
#[derive(Debug, Default)]
pub(super) struct BegunPerKey {
    index: TagIndex,
    entries: Vec<Begun>,
    arena: Vec<u8>,
}

impl BegunPerKey {
    fn key(&self, e: &Begun) -> &[u8] {
        &self.arena[e.key_off as usize..(e.key_off + e.key_len) as usize]
    }

    /// Adds one session begun by each key of `keys` ((`group_hash(0, key)`, key) pairs),
    /// their index slots and entries fetched ahead as in the tracker's own lookups.
    pub(super) fn add_each(&mut self, keys: &[(u64, &[u8])]) {
        let hashes = self.entries.iter().map(|e| e.hash);
        self.index.reserve(self.entries.len(), keys.len(), hashes);
        let mask = self.index.mask();
        for (j, &(hash, key)) in keys.iter().enumerate() {
            self.index.prefetch_ahead(
                keys.get(j + AHEAD).map(|k| k.0),
                keys.get(j + AHEAD / 2).map(|k| k.0),
                mask,
                &self.entries,
            );
            self.add_one(hash, key, 1, mask);
        }
    }

    /// Adds `n` sessions begun by `key`; the index has room.
    fn add_one(&mut self, hash: u64, key: &[u8], n: u64, mask: usize) {
        let (entries, arena) = (&self.entries, &self.arena);
        let (i, new) = self.index.find_or_insert(hash, mask, entries.len(), |i| {
            let e = &entries[i];
            e.hash == hash && bytes_eq(&arena[e.key_off as usize..][..e.key_len as usize], key)
        });
        if new {
            let key_off = self.arena.len() as u32;
            self.arena.extend_from_slice(key);
            self.entries.push(Begun {
                hash,
                key_off,
                key_len: key.len() as u32,
                count: 0,
            });
        }
        self.entries[i].count += n;
    }

    /// The counts of a checkpoint ((key, sessions) pairs, keys distinct).
    pub(super) fn restore(saved: &[(String, u64)]) -> Self {
        let mut me = BegunPerKey::default();
        me.index.reserve(0, saved.len(), std::iter::empty());
        let mask = me.index.mask();
        for (key, n) in saved {
            me.add_one(group_hash(0, key.as_bytes()), key.as_bytes(), *n, mask);
        }
        me
    }

    /// Sessions begun by `key` (0 for a key never seen).
    pub(super) fn get(&self, hash: u64, key: &[u8]) -> u64 {
        self.index
            .find(hash, |i| {
                let e = &self.entries[i];
                e.hash == hash && bytes_eq(self.key(e), key)
            })
            .map_or(0, |i| self.entries[i].count)
    }

    /// (key, sessions) of every key, in key order (the same for any sharding).
    pub(super) fn saved(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .entries
            .iter()
            .map(|e| {
                // Keys enter the group tables only as UTF-8.
                (String::from_utf8_lossy(self.key(e)).into_owned(), e.count)
            })
            .collect();
        v.sort_unstable();
        v
    }
}
