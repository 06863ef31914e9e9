//! [`LineGroups`]: a batch's groups while its lines are parsed, the CPU backend's hot path.
//!
//! Why not [`GroupTable::agg_for_line`]: perf puts ~40% of `parse_lines` on the dependent
//! loads of one lookup (hashbrown's control bytes, then its bucket, the entry, the key), and
//! hashbrown gives no way to start them early. Here the index is a plain linear-probing array
//! of `entry + 1` words, so a line's slot can be prefetched as soon as its key is hashed, and
//! looked up after the next line is parsed: the miss overlaps that parsing, and a hit is two
//! dependent loads (slot, entry) instead of three. Slots are 4 bytes and up to 3/4 full, so a
//! 250k-line batch's ~67k groups index in 512 KB, as hashbrown's did (8-byte slots with a
//! hash tag, at most half full, timed the same on one thread, 918 against 902 MiB/s on TSV,
//! with four times the memory a worker). The groups become a [`GroupTable`] without a copy.

use super::table::Entry;
use super::{Agg, GroupTable};

/// Fewest slots of the index.
const MIN_SLOTS: usize = 1024;

/// Input bytes per index slot first reserved: a 20 MB batch of ~80-byte lines gets 128k
/// slots (512 KB), half full with its ~67k groups.
const BYTES_PER_SLOT: usize = 160;

/// A cache-line prefetch hint (no-op off x86-64).
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and has no visible effect; `r` is a valid reference.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Puts `v` in the first empty (zero) slot from `hash`'s, linear probing in `slots` (a power
/// of two long, not full): how an index is refilled from stored hashes when it regrows.
#[inline]
pub(crate) fn place<T: Copy + Default + PartialEq>(slots: &mut [T], hash: u64, v: T) {
    let mask = slots.len() - 1;
    let mut s = hash as usize & mask;
    while slots[s] != T::default() {
        s = (s + 1) & mask;
    }
    slots[s] = v;
}

/// Groups in first-seen order with a prefetchable index (see the module docs).
#[derive(Debug)]
pub struct LineGroups {
    /// Linear probing, a power of two long, at most 3/4 full: 0 is empty, else the index of
    /// the group's entry + 1.
    slots: Vec<u32>,
    entries: Vec<Entry>,
    arena: Vec<u8>,
}

impl LineGroups {
    /// Continues `table` (usually empty) for a batch of `batch_bytes` bytes.
    pub fn continuing(table: GroupTable, batch_bytes: usize) -> Self {
        let (entries, arena) = table.into_parts();
        let mut g = LineGroups {
            slots: Vec::new(),
            entries,
            arena,
        };
        g.grow_to((batch_bytes / BYTES_PER_SLOT).max(2 * g.entries.len()));
        g
    }

    /// The groups as a table (indexed on its first probe).
    pub fn into_table(self) -> GroupTable {
        GroupTable::from_parts(self.entries, self.arena)
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no group.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Starts fetching the index slot of `hash` (`group_hash(window, key)`).
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        if let Some(s) = self
            .slots
            .get(hash as usize & (self.slots.len().wrapping_sub(1)))
        {
            prefetch(s);
        }
    }

    /// The aggregate of group (`window`, `key`) whose hash is `hash`, created empty if new
    /// and `admit(key)` agrees (UTF-8 validation, paid once per group); `None` when it does
    /// not.
    #[inline]
    pub fn agg_for(
        &mut self,
        hash: u64,
        window: i64,
        key: &[u8],
        admit: impl FnOnce(&[u8]) -> bool,
    ) -> Option<&mut Agg> {
        let mask = self.slots.len() - 1;
        let mut s = hash as usize & mask;
        loop {
            let v = self.slots[s];
            if v == 0 {
                break;
            }
            let i = (v - 1) as usize;
            if self.entries[i].is(&self.arena, hash, window, key) {
                return Some(&mut self.entries[i].agg);
            }
            s = (s + 1) & mask;
        }
        if !admit(key) {
            return None;
        }
        Entry::push_new(&mut self.entries, &mut self.arena, hash, window, key);
        let n = self.entries.len();
        self.slots[s] = n as u32;
        if 4 * n > 3 * self.slots.len() {
            self.grow_to(2 * self.slots.len());
        }
        self.entries.last_mut().map(|e| &mut e.agg)
    }

    /// Rebuilds the index with at least `slots` slots (a power of two) from the entries'
    /// stored hashes.
    #[cold]
    fn grow_to(&mut self, slots: usize) {
        let want = slots.max(MIN_SLOTS).next_power_of_two();
        if want <= self.slots.len() {
            return;
        }
        self.slots = vec![0; want];
        for (i, e) in self.entries.iter().enumerate() {
            place(&mut self.slots, e.hash, i as u32 + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::group_hash;

    /// The same lines counted through `LineGroups` and through `GroupTable::agg_for_line` give
    /// equal tables in the same order, across regrowths, refused keys and a non-empty start.
    #[test]
    fn counting_matches_a_group_table() {
        let mut start = GroupTable::default();
        start.agg_mut(0, "seed").requests = 7;
        let mut want = start.clone();
        let mut g = LineGroups::continuing(start, 0);
        for i in 0..20_000u64 {
            let key = format!("host-{}", (i * 7919) % 5003);
            let key = if i % 977 == 0 {
                b"\xff bad".to_vec()
            } else {
                key.into_bytes()
            };
            let window = ((i % 3) * 60) as i64;
            let admit = |k: &[u8]| std::str::from_utf8(k).is_ok();
            let h = group_hash(window, &key);
            g.prefetch(h);
            let got = g.agg_for(h, window, &key, admit).map(|a| {
                a.add_parts(200 + (i % 400) as u16, i, None);
            });
            let exp = want.agg_for_line(window, &key, admit).map(|a| {
                a.add_parts(200 + (i % 400) as u16, i, None);
            });
            assert_eq!(got.is_some(), exp.is_some(), "line {i}");
        }
        assert!(3 * g.slots.len() >= 4 * g.len(), "at most 3/4 full");
        let got = g.into_table();
        let rows = |t: &GroupTable| {
            t.entries()
                .map(|(h, w, k, a)| (h, w, k.to_vec(), a.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(&got), rows(&want));
        assert_eq!(got.get(0, "seed").map(|a| a.requests), Some(7));
    }
}
