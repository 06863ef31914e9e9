//! Tables from groups known to be distinct (per-key totals, a GPU batch's: `by_window.rs`): no
//! probing, no key comparison.

use hashbrown::HashTable;

use super::super::Agg;
use super::{group_hash, Entry, GroupTable};

impl GroupTable {
    /// A table from groups known to be distinct, as a GPU batch returns them: `rows` yields
    /// (hash, window, key, aggregate) with `hash == group_hash(window, key)` and every key valid
    /// UTF-8 (the caller checks both). No probing and no key comparisons: each key is copied
    /// once into the arena and each hash inserted with `insert_unique`. `groups` and
    /// `key_bytes` size the table (exact values avoid regrowth).
    pub fn from_unique<'a>(
        groups: usize,
        key_bytes: usize,
        rows: impl IntoIterator<Item = (u64, i64, &'a [u8], Agg)>,
    ) -> Self {
        let mut t = GroupTable {
            index: HashTable::new(),
            indexed: 0,
            entries: Vec::with_capacity(groups),
            arena: Vec::with_capacity(key_bytes),
        };
        for (hash, window, key, agg) in rows {
            debug_assert_eq!(hash, group_hash(window, key), "from_unique: stale hash");
            let i = t.entries.len() as u32;
            let key_off = t.arena.len() as u32;
            t.arena.extend_from_slice(key);
            t.entries.push(Entry {
                hash,
                window,
                key_off,
                key_len: key.len() as u32,
                agg,
            });
            debug_assert_eq!(i as usize + 1, t.entries.len());
        }
        t
    }
}
