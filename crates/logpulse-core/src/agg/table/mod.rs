//! [`GroupTable`]: the hash table every aggregation goes through, (window, key) -> [`Agg`].
//!
//! Built for the hot path rather than taken from `HashMap<(i64, String), Agg>`:
//! - key bytes live in one arena (no allocation per group, no pointer chase per probe);
//! - each entry keeps its full 64-bit hash, so merging tables never rehashes a key, and a probe
//!   compares key bytes only when window and hash already match;
//! - entries sit in a dense `Vec` in insertion order, so iteration is a linear scan;
//! - tables built from groups known to be distinct (a GPU batch's, the parts a split makes)
//!   get their index only when first probed: most are only ever iterated and merged into
//!   another table, so building it would be wasted (half of a GPU batch's host build).
//!
//! Here: the table, its lookups and merges. Beside it: the hash every backend shares
//! (`hash.rs`), builds from distinct groups (`from_unique.rs`, and window by window:
//! `by_window.rs`), splits by window (`split.rs`) and output order (`order.rs`).

mod by_window;
mod from_unique;
mod hash;
mod order;
mod split;
#[cfg(test)]
mod tests;

use hashbrown::HashTable;

use super::Agg;
pub use by_window::UniqueGroups;
pub(crate) use hash::bytes_eq;
pub use hash::group_hash;

// Rows are made and moved by the million (a GPU batch's ~67k groups, every window's table, the
// splits by window): they stay at 80 bytes (see `Agg::errors`).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Entry>() == 80);

/// One group: its stored hash, window, key (in the table's arena) and aggregate.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) hash: u64,
    pub(super) window: i64,
    pub(super) key_off: u32,
    pub(super) key_len: u32,
    pub(super) agg: Agg,
}

impl Entry {
    /// True when this entry is group (`window`, `key`) of hash `hash`, its key in `arena`.
    #[inline(always)]
    pub(super) fn is(&self, arena: &[u8], hash: u64, window: i64, key: &[u8]) -> bool {
        self.hash == hash
            && self.window == window
            && bytes_eq(
                &arena[self.key_off as usize..(self.key_off + self.key_len) as usize],
                key,
            )
    }

    /// The entry, moved out of `e`: its numbers copied, its errors taken only if there are any
    /// (most groups have none, so the source is usually only read).
    #[inline]
    fn take(e: &mut Entry) -> Entry {
        let a = &mut e.agg;
        Entry {
            hash: e.hash,
            window: e.window,
            key_off: e.key_off,
            key_len: e.key_len,
            agg: Agg {
                requests: a.requests,
                bytes: a.bytes,
                s4xx: a.s4xx,
                s5xx: a.s5xx,
                errors: if a.errors.is_empty() {
                    super::ThinVec::new()
                } else {
                    std::mem::take(&mut a.errors)
                },
                latency_count: a.latency_count,
                latency_sum_us: a.latency_sum_us,
            },
        }
    }

    /// Appends group (`window`, `key`) of hash `hash` with an empty aggregate to `entries`, its
    /// key to `arena`.
    #[inline]
    pub(super) fn push_new(
        entries: &mut Vec<Entry>,
        arena: &mut Vec<u8>,
        hash: u64,
        window: i64,
        key: &[u8],
    ) {
        let key_off = arena.len() as u32;
        arena.extend_from_slice(key);
        entries.push(Entry {
            hash,
            window,
            key_off,
            key_len: key.len() as u32,
            agg: Agg::default(),
        });
    }
}

/// Aggregates per (window, key). See the module docs.
#[derive(Debug, Clone, Default)]
pub struct GroupTable {
    /// Positions of `entries[..indexed]`, by hash.
    index: HashTable<u32>,
    /// How many entries (from the first) `index` holds; the rest are indexed on the first probe.
    indexed: usize,
    entries: Vec<Entry>,
    arena: Vec<u8>,
}

impl GroupTable {
    /// An empty table with room for about `groups` groups.
    pub fn with_capacity(groups: usize) -> Self {
        GroupTable {
            index: HashTable::with_capacity(groups),
            indexed: 0,
            entries: Vec::with_capacity(groups),
            arena: Vec::with_capacity(groups * 16),
        }
    }

    /// A table of distinct groups whose keys lie in `arena` (indexed on its first probe).
    pub(super) fn from_parts(entries: Vec<Entry>, arena: Vec<u8>) -> Self {
        GroupTable {
            index: HashTable::new(),
            indexed: 0,
            entries,
            arena,
        }
    }

    /// The table's entries and arena, its index dropped.
    pub(super) fn into_parts(self) -> (Vec<Entry>, Vec<u8>) {
        (self.entries, self.arena)
    }

    /// Indexes the entries pushed without it (see the module docs). The check is inlined
    /// into every lookup; the indexing itself, rare, is not.
    #[inline(always)]
    fn index_all(&mut self) {
        if self.indexed != self.entries.len() {
            self.index_rest();
        }
    }

    /// [`GroupTable::index_all`]'s slow part: inserts the unindexed entries.
    #[inline(never)]
    fn index_rest(&mut self) {
        let entries = &self.entries;
        self.index
            .reserve(entries.len() - self.indexed, |&i| entries[i as usize].hash);
        for (i, e) in entries.iter().enumerate().skip(self.indexed) {
            self.index
                .insert_unique(e.hash, i as u32, |&j| entries[j as usize].hash);
        }
        self.indexed = entries.len();
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no group.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn key_of(&self, e: &Entry) -> &[u8] {
        &self.arena[e.key_off as usize..(e.key_off + e.key_len) as usize]
    }

    /// The aggregate of (`window`, `key`), created empty if new.
    #[inline]
    pub fn agg_mut(&mut self, window: i64, key: &str) -> &mut Agg {
        let hash = group_hash(window, key.as_bytes());
        self.agg_mut_hashed(hash, window, key.as_bytes())
    }

    /// Like [`GroupTable::agg_mut`] with the hash already known (`group_hash(window, key)`).
    #[inline]
    fn agg_mut_hashed(&mut self, hash: u64, window: i64, key: &[u8]) -> &mut Agg {
        self.find_or_insert(hash, window, key, || true)
            .expect("always admitted")
    }

    /// The aggregate of a line's group, for the parsers' hot path: `key` is raw bytes, checked
    /// with `admit` (UTF-8 validation) only when the group is new, so a batch pays the check
    /// once per distinct key instead of once per line. `None` when `admit` refuses the key.
    #[inline]
    pub fn agg_for_line(
        &mut self,
        window: i64,
        key: &[u8],
        admit: impl FnOnce(&[u8]) -> bool,
    ) -> Option<&mut Agg> {
        let hash = group_hash(window, key);
        self.find_or_insert(hash, window, key, || admit(key))
    }

    #[inline]
    fn find_or_insert(
        &mut self,
        hash: u64,
        window: i64,
        key: &[u8],
        admit: impl FnOnce() -> bool,
    ) -> Option<&mut Agg> {
        self.index_all();
        let entries = &self.entries;
        let arena = &self.arena;
        let found = self
            .index
            .find(hash, |&i| entries[i as usize].is(arena, hash, window, key));
        let idx = match found {
            Some(&i) => i as usize,
            None if !admit() => return None,
            None => {
                let i = self.entries.len();
                Entry::push_new(&mut self.entries, &mut self.arena, hash, window, key);
                let entries = &self.entries;
                self.index
                    .insert_unique(hash, i as u32, |&j| entries[j as usize].hash);
                self.indexed = self.entries.len();
                i
            }
        };
        Some(&mut self.entries[idx].agg)
    }

    /// The aggregate of (`window`, `key`), if present.
    pub fn get(&self, window: i64, key: &str) -> Option<&Agg> {
        let hash = group_hash(window, key.as_bytes());
        let is = |e: &Entry| e.is(&self.arena, hash, window, key.as_bytes());
        self.index
            .find(hash, |&i| is(&self.entries[i as usize]))
            .map(|&i| &self.entries[i as usize])
            // Not indexed yet (a read-only look, so no index is built): a scan.
            .or_else(|| self.entries[self.indexed..].iter().find(|e| is(e)))
            .map(|e| &e.agg)
    }

    /// Groups as (window, key, aggregate), in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &str, &Agg)> + '_ {
        self.entries.iter().map(move |e| {
            // Keys enter only through `&str` or validated bytes, so they are UTF-8.
            let key = std::str::from_utf8(self.key_of(e)).unwrap_or("");
            (e.window, key, &e.agg)
        })
    }

    /// Groups as (stored hash, window, key bytes, aggregate), in insertion order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, i64, &[u8], &Agg)> + '_ {
        self.entries
            .iter()
            .map(move |e| (e.hash, e.window, self.key_of(e), &e.agg))
    }

    /// Adds one group given its hash (`group_hash(window, key)`, as [`GroupTable::entries`]
    /// yields it).
    #[inline]
    pub fn merge_entry(&mut self, hash: u64, window: i64, key: &[u8], agg: &Agg) {
        self.agg_mut_hashed(hash, window, key).merge(agg);
    }

    /// Like [`GroupTable::merge_entry`], returning true when the group was new (a new group
    /// takes a copy of `agg` rather than an empty aggregate merged with it).
    #[inline]
    pub fn merge_entry_new(&mut self, hash: u64, window: i64, key: &[u8], agg: &Agg) -> bool {
        let before = self.entries.len();
        let mut fresh = false;
        let a = self
            .find_or_insert(hash, window, key, || {
                fresh = true;
                true
            })
            .expect("always admitted");
        if fresh {
            *a = agg.clone();
        } else {
            a.merge(agg);
        }
        debug_assert_eq!(fresh, self.entries.len() > before);
        fresh
    }

    /// Adds every group of `other` (hashes are reused, keys are not rehashed).
    pub fn merge(&mut self, other: &GroupTable) {
        self.index_all();
        let entries = &self.entries;
        self.index
            .reserve(other.len(), |&i| entries[i as usize].hash);
        for e in &other.entries {
            let key = other.key_of(e);
            self.agg_mut_hashed(e.hash, e.window, key).merge(&e.agg);
        }
    }

    /// Adds every group of `other` under window `window` (per-key totals use window 0).
    pub fn merge_into_window(&mut self, other: &GroupTable, window: i64) {
        for e in &other.entries {
            let key = other.key_of(e);
            let hash = group_hash(window, key);
            self.agg_mut_hashed(hash, window, key).merge(&e.agg);
        }
    }

    /// Adds every group of `other`, taking its aggregates instead of copying them: the windows
    /// stage owns each batch's table, so a new group's error list moves instead of being
    /// rebuilt, and room for all of `other` is reserved once (growing the entry vector and the
    /// index one doubling at a time cost ~20% of the stage, measured with callgrind).
    pub fn merge_owned(&mut self, other: GroupTable) {
        if self.is_empty() {
            *self = other;
            return;
        }
        let GroupTable {
            entries: others,
            arena: other_arena,
            ..
        } = other;
        self.index_all();
        let entries = &self.entries;
        self.index
            .reserve(others.len(), |&i| entries[i as usize].hash);
        self.entries.reserve(others.len());
        self.arena.reserve(other_arena.len());
        for e in others {
            let key = &other_arena[e.key_off as usize..(e.key_off + e.key_len) as usize];
            let entries = &self.entries;
            let arena = &self.arena;
            let found = self.index.find(e.hash, |&i| {
                entries[i as usize].is(arena, e.hash, e.window, key)
            });
            match found {
                Some(&i) => self.entries[i as usize].agg.merge(&e.agg),
                None => self.push_unique(e, key),
            }
        }
        // `others` are distinct, so none of them needed those just pushed indexed; the next
        // batch's merge will probe them.
    }

    /// Appends a group known to be absent (its key bytes given apart from `e`, whose offset
    /// is replaced), not indexed yet. Room must have been reserved for it to stay cheap.
    #[inline]
    fn push_unique(&mut self, mut e: Entry, key: &[u8]) {
        e.key_off = self.arena.len() as u32;
        self.arena.extend_from_slice(key);
        self.entries.push(e);
    }
}

impl serde::Serialize for GroupTable {
    /// As a list of `[window, key, agg]` (hashes are recomputed on load).
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = ser.serialize_seq(Some(self.len()))?;
        for (w, k, a) in self.iter() {
            seq.serialize_element(&(w, k, a))?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for GroupTable {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let rows: Vec<(i64, String, Agg)> = serde::Deserialize::deserialize(de)?;
        let mut t = GroupTable::with_capacity(rows.len());
        for (w, k, a) in rows {
            t.agg_mut(w, &k).merge(&a);
        }
        Ok(t)
    }
}
