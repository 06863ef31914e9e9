//! [`KeyStore`]: keys and a value each, in insertion order, found through a [`TagIndex`]: the
//! store of the whole-run per-key totals' shards (`V` = [`super::Agg`]) and of the sessions
//! each client began (`V` = `u64`).
//!
//! Owners look keys up in runs (a closed window's groups): [`KeyStore::prefetch_ahead`] with
//! the hashes of the keys `AHEAD` and `AHEAD / 2` places on makes the misses of several
//! lookups overlap.

use super::{bytes_eq, TagIndex};

/// One key: its hash, where its bytes are in the arena, its value.
#[derive(Debug, Clone)]
struct Stored<V> {
    hash: u64,
    key_off: u32,
    key_len: u32,
    value: V,
}

/// Keys with a value each, in insertion order.
#[derive(Debug, Clone)]
pub(crate) struct KeyStore<V> {
    index: TagIndex,
    entries: Vec<Stored<V>>,
    arena: Vec<u8>,
}

impl<V> Default for KeyStore<V> {
    fn default() -> Self {
        KeyStore {
            index: TagIndex::default(),
            entries: Vec::new(),
            arena: Vec::new(),
        }
    }
}

impl<V> KeyStore<V> {
    /// Keys stored.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of all keys.
    pub(crate) fn key_bytes(&self) -> usize {
        self.arena.len()
    }

    /// Makes room for `more` new keys; returns the index mask the lookups until the next call
    /// take.
    pub(crate) fn reserve(&mut self, more: usize) -> usize {
        let hashes = self.entries.iter().map(|e| e.hash);
        self.index.reserve(self.entries.len(), more, hashes);
        self.index.mask()
    }

    /// See [`TagIndex::prefetch_ahead`]: call with the hashes of the keys `AHEAD` and
    /// `AHEAD / 2` places after the one about to be looked up.
    #[inline(always)]
    pub(crate) fn prefetch_ahead(&self, far: Option<u64>, near: Option<u64>, mask: usize) {
        self.index.prefetch_ahead(far, near, mask, &self.entries);
    }

    /// The value of `key` (whose hash is `hash`), inserted as `new()` when absent; true when it
    /// was. The store has room ([`KeyStore::reserve`], which gave `mask`).
    #[inline]
    pub(crate) fn entry(
        &mut self,
        hash: u64,
        key: &[u8],
        mask: usize,
        new: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        let (entries, arena) = (&self.entries, &self.arena);
        let (i, inserted) = self.index.find_or_insert(hash, mask, entries.len(), |i| {
            let e = &entries[i];
            e.hash == hash && bytes_eq(key_in(arena, e), key)
        });
        if inserted {
            let key_off = self.arena.len() as u32;
            self.arena.extend_from_slice(key);
            self.entries.push(Stored {
                hash,
                key_off,
                key_len: key.len() as u32,
                value: new(),
            });
        }
        (&mut self.entries[i].value, inserted)
    }

    /// The value of `key` (whose hash is `hash`), if stored.
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&V> {
        self.index
            .find(hash, |i| {
                let e = &self.entries[i];
                e.hash == hash && bytes_eq(key_in(&self.arena, e), key)
            })
            .map(|i| &self.entries[i].value)
    }

    /// (hash, key, value), in insertion order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = (u64, &[u8], &V)> + '_ {
        self.entries
            .iter()
            .map(move |e| (e.hash, key_in(&self.arena, e), &e.value))
    }

    /// The keys' bytes, and (hash, key's range in them, value) in insertion order: values
    /// moved, not cloned.
    pub(crate) fn into_parts(
        self,
    ) -> (
        Vec<u8>,
        impl Iterator<Item = (u64, std::ops::Range<usize>, V)>,
    ) {
        let rows = self.entries.into_iter().map(|e| {
            let start = e.key_off as usize;
            (e.hash, start..start + e.key_len as usize, e.value)
        });
        (self.arena, rows)
    }
}

fn key_in<'a, V>(arena: &'a [u8], e: &Stored<V>) -> &'a [u8] {
    &arena[e.key_off as usize..][..e.key_len as usize]
}
