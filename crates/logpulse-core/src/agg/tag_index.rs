//! [`TagIndex`]: the linear-probing index of the long-lived key stores ([`super::KeyStore`],
//! the sessions tracker's clients), over entries the owner keeps in a `Vec`.
//!
//! Why not hashbrown: merging a window's groups into tens of thousands of stored keys is a run
//! of cache misses (the bucket, then the entry, then its key), and hashbrown does not say where
//! a key's bucket is before probing, so it cannot be fetched ahead. Here a key's home slot is
//! `hash & mask`, so owners prefetch the slot of a group several groups ahead and, half-way
//! there, the entry it points at: the misses of several groups overlap. Slots are
//! `tag << 32 | entry + 1` words (0 empty; the tag is the hash's top 32 bits), so most probes
//! that meet another key are rejected without reading its entry. The index is at most half full.

use super::{place, prefetch};

/// Fewest slots of a non-empty index.
const MIN_SLOTS: usize = 1024;

/// Keys ahead of the one being looked up whose home slot is prefetched (their entry at half
/// the distance): see [`TagIndex::prefetch_ahead`].
pub(crate) const AHEAD: usize = 8;

/// Linear probing over `u64` slots, a power of two long; entries are never removed one by
/// one (owners drop entries by rebuilding with [`TagIndex::rebuild`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct TagIndex {
    slots: Vec<u64>,
}

impl TagIndex {
    /// `hash & mask` for the current size (call [`TagIndex::reserve`] first).
    #[inline(always)]
    pub(crate) fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// While looking keys up in order: fetches into the cache the home slot of the key
    /// [`AHEAD`] places on (`far`, its hash) and the entry that the slot of the key half-way
    /// there (`near`) points at, whose slot was fetched earlier. The entry is the one its
    /// probe reads first.
    #[inline(always)]
    pub(crate) fn prefetch_ahead<T>(
        &self,
        far: Option<u64>,
        near: Option<u64>,
        mask: usize,
        entries: &[T],
    ) {
        if let Some(h) = far {
            prefetch(&self.slots[h as usize & mask]);
        }
        if let Some(h) = near {
            let v = self.slots[h as usize & mask];
            if let Some(e) = v
                .checked_sub(1)
                .and_then(|v| entries.get(v as u32 as usize))
            {
                prefetch(e);
            }
        }
    }

    /// The entry of the key with `hash` for which `is_key(entry)` holds, or `next` (the
    /// owner's entry count, which it must then push) with `true` when there is none.
    /// `is_key` is called only on entries whose tag matches. The index has room
    /// ([`TagIndex::reserve`]).
    #[inline(always)]
    pub(crate) fn find_or_insert(
        &mut self,
        hash: u64,
        mask: usize,
        next: usize,
        mut is_key: impl FnMut(usize) -> bool,
    ) -> (usize, bool) {
        let tag = hash >> 32;
        let mut s = hash as usize & mask;
        loop {
            let v = self.slots[s];
            if v == 0 {
                self.slots[s] = tag << 32 | (next as u64 + 1);
                return (next, true);
            }
            if v >> 32 == tag {
                let i = (v as u32 - 1) as usize;
                if is_key(i) {
                    return (i, false);
                }
            }
            s = (s + 1) & mask;
        }
    }

    /// The entry of the key with `hash` for which `is_key(entry)` holds, if any (an empty
    /// index has none).
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(usize) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let tag = hash >> 32;
        let mut s = hash as usize & mask;
        loop {
            let v = self.slots[s];
            if v == 0 {
                return None;
            }
            if v >> 32 == tag && is_key((v as u32 - 1) as usize) {
                return Some((v as u32 - 1) as usize);
            }
            s = (s + 1) & mask;
        }
    }

    /// Makes room for `entries + more` entries with the index at most half full; when it must
    /// grow, it is refilled from `hashes` (the stored entries' hashes, in entry order).
    pub(crate) fn reserve(
        &mut self,
        entries: usize,
        more: usize,
        hashes: impl Iterator<Item = u64>,
    ) {
        if self.slots.len() < Self::slots_for(entries + more) {
            self.rebuild(entries + more, hashes);
        }
    }

    /// Empties the index and refills it from `hashes` (entry order), sized for `room` entries.
    pub(crate) fn rebuild(&mut self, room: usize, hashes: impl Iterator<Item = u64>) {
        self.slots = vec![0; Self::slots_for(room)];
        for (i, hash) in hashes.enumerate() {
            place(&mut self.slots, hash, (hash >> 32) << 32 | (i as u64 + 1));
        }
    }

    fn slots_for(entries: usize) -> usize {
        (entries * 2).next_power_of_two().max(MIN_SLOTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys found equal the keys inserted, across regrowths, with every key's hash sharing its
    /// tag and home slot with others (so probes pass over matching tags of other keys).
    #[test]
    fn finds_what_it_inserted_across_regrowth_and_collisions() {
        let mut index = TagIndex::default();
        let mut keys: Vec<u64> = Vec::new();
        // 40 keys a hash: same tag, same home slot.
        let hash_of = |k: u64| ((k / 40) << 32) | ((k / 40) * 7);
        for round in 0..5u64 {
            let batch: Vec<u64> = (0..3000).map(|i| (i * 7 + round * 1000) % 9000).collect();
            index.reserve(keys.len(), batch.len(), keys.iter().map(|&k| hash_of(k)));
            let mask = index.mask();
            for k in batch {
                let before = keys.iter().position(|&x| x == k);
                let (i, new) = index.find_or_insert(hash_of(k), mask, keys.len(), |i| keys[i] == k);
                if new {
                    assert_eq!(before, None, "key {k} inserted twice");
                    keys.push(k);
                } else {
                    assert_eq!(Some(i), before, "key {k}");
                }
                assert_eq!(keys[i], k);
            }
        }
        assert_eq!(keys.len(), 9000);
        assert!(index.slots.len() >= 2 * keys.len());
        // Dropping entries: a rebuild over the survivors finds exactly them.
        let kept: Vec<u64> = keys.iter().copied().filter(|k| k % 3 == 0).collect();
        index.rebuild(kept.len(), kept.iter().map(|&k| hash_of(k)));
        let mask = index.mask();
        for (j, &k) in kept.iter().enumerate() {
            assert_eq!(
                index.find_or_insert(hash_of(k), mask, kept.len(), |i| kept[i] == k),
                (j, false)
            );
        }
        assert_eq!(
            index.find(hash_of(kept[5]), |i| kept[i] == kept[5]),
            Some(5)
        );
        assert_eq!(index.find(hash_of(1), |i| kept[i] == 1), None);
        assert_eq!(TagIndex::default().find(7, |_| true), None);
        assert_eq!(
            index.find_or_insert(hash_of(1), mask, kept.len(), |i| kept[i] == 1),
            (kept.len(), true)
        );
    }
}
