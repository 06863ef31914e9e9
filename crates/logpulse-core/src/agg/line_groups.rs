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
pub(crate) fn place<T: Copy + Default + PartialEq>(slots: &mut [T], hash: u64, v: T) -> usize {
    let mask = slots.len() - 1;
    let mut s = hash as usize & mask;
    while slots[s] != T::default() {
        s = (s + 1) & mask;
    }
    slots[s] = v;
    s
}

/// Fewest slots of the newest window's index (16 KB).
const HOT_MIN_SLOTS: usize = 4096;

/// Most slots a new window's index starts with (256 KB: within a core's L2), however many
/// groups the window before had.
const HOT_MAX_START_SLOTS: usize = 65536;

/// A linear-probing index of `entry + 1` words (0 = empty), a power of two long, at most 3/4
/// full.
#[derive(Debug, Default)]
struct Index {
    slots: Vec<u32>,
    len: usize,
}

impl Index {
    /// The slot where `hash`'s probe starts.
    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        hash as usize & self.slots.len().wrapping_sub(1)
    }

    /// Starts fetching `hash`'s first slot.
    #[inline(always)]
    fn prefetch(&self, hash: u64) {
        if let Some(s) = self.slots.get(self.home(hash)) {
            prefetch(s);
        }
    }

    /// The entry of group (`window`, `key`) of hash `hash`: `Ok(entry)`, or `Err(slot)`, the
    /// empty slot where it would go.
    #[inline(always)]
    fn find(
        &self,
        entries: &[Entry],
        arena: &[u8],
        hash: u64,
        window: i64,
        key: &[u8],
    ) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut s = hash as usize & mask;
        loop {
            let v = self.slots[s];
            if v == 0 {
                return Err(s);
            }
            let i = (v - 1) as usize;
            if entries[i].is(arena, hash, window, key) {
                return Ok(i);
            }
            s = (s + 1) & mask;
        }
    }

    /// An empty index of at least `slots` slots (a power of two, at least `MIN_SLOTS`).
    fn with_slots(slots: usize) -> Self {
        Index {
            slots: vec![0; slots.max(MIN_SLOTS).next_power_of_two()],
            len: 0,
        }
    }

    /// Indexes entry `i` (stored hash `hash`), which it does not hold yet; returns its slot.
    #[inline]
    fn insert(&mut self, hash: u64, i: usize) -> usize {
        self.len += 1;
        place(&mut self.slots, hash, i as u32 + 1)
    }

    /// Empties the index by zeroing the slots in `used` (the ones filled): with sparse logs a
    /// window can hold a single line, and zeroing every slot of a 16 KB index at each new
    /// window would cost more than the line.
    fn clear_slots(&mut self, used: &mut Vec<u32>) {
        for s in used.drain(..) {
            self.slots[s as usize] = 0;
        }
        self.len = 0;
    }
}

/// Groups in first-seen order with a prefetchable index (see the module docs), the newest
/// window's groups in a small index of their own.
///
/// Access logs come nearly in time order, so a 250k-line batch spans many windows (~20
/// one-minute windows of the generated TSV) and almost every line belongs to the newest
/// window seen so far. That window's groups were all created while it was the newest, so they
/// sit together at the end of `entries` and index in a few KB: a line of it is looked up
/// there (a slot and an entry in L1/L2) instead of in the whole batch's index (a random slot in
/// 512 KB, a random entry in ~6 MB). When a newer window appears, the old one's groups move to
/// the main index, which holds every other window's groups: lines that come late (an older
/// window) are looked up there. The main index is built at the first such line only: input
/// in time order never pays for it.
#[derive(Debug)]
pub struct LineGroups {
    /// Every group but those of window `hot`, once a line needed it (empty until then).
    main: Index,
    /// Slots the main index is first built with.
    main_start_slots: usize,
    /// The groups of window `hot`.
    hot_index: Index,
    /// The slots of `hot_index` that hold a group.
    hot_used: Vec<u32>,
    /// The newest window seen in lines so far, once it is newer than every group the table
    /// started with (`floor`).
    hot: Option<i64>,
    /// The newest window of the groups the table started with (`i64::MIN` when none).
    floor: i64,
    /// The groups of `hot` are all at or after this entry.
    hot_from: usize,
    entries: Vec<Entry>,
    arena: Vec<u8>,
}

impl LineGroups {
    /// Continues `table` (usually empty) for a batch of `batch_bytes` bytes.
    pub fn continuing(table: GroupTable, batch_bytes: usize) -> Self {
        let (entries, arena) = table.into_parts();
        let floor = entries.iter().map(|e| e.window).max().unwrap_or(i64::MIN);
        LineGroups {
            main: Index::default(),
            main_start_slots: batch_bytes / BYTES_PER_SLOT,
            hot_index: Index::with_slots(HOT_MIN_SLOTS),
            hot_used: Vec::new(),
            hot: None,
            floor,
            hot_from: 0,
            entries,
            arena,
        }
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

    /// True when `window` is the newest seen so far (or newer): its groups are looked up in
    /// the small index.
    #[inline(always)]
    pub fn is_newest(&self, window: i64) -> bool {
        self.hot == Some(window) || window > self.hot.unwrap_or(self.floor)
    }

    /// Starts fetching the main index's slot of `hash` (`group_hash(window, key)`), for a
    /// line of an older window than the newest (whose small index is in cache anyway).
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        if !self.main.slots.is_empty() {
            self.main.prefetch(hash);
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
        if self.hot != Some(window) && self.is_newest(window) {
            self.make_hot(window);
        }
        let hot = self.hot == Some(window);
        if !hot && self.main.slots.is_empty() {
            self.grow_main(self.main_start_slots.max(2 * self.entries.len()));
        }
        let index = if hot { &self.hot_index } else { &self.main };
        let slot = match index.find(&self.entries, &self.arena, hash, window, key) {
            Ok(i) => return Some(&mut self.entries[i].agg),
            Err(slot) => slot,
        };
        if !admit(key) {
            return None;
        }
        Entry::push_new(&mut self.entries, &mut self.arena, hash, window, key);
        let n = self.entries.len();
        let index = if hot {
            &mut self.hot_index
        } else {
            &mut self.main
        };
        index.slots[slot] = n as u32;
        index.len += 1;
        if hot {
            self.hot_used.push(slot as u32);
        }
        if 4 * index.len > 3 * index.slots.len() {
            if hot {
                self.grow_hot(2 * self.hot_index.slots.len());
            } else {
                self.grow_main(2 * self.main.slots.len());
            }
        }
        self.entries.last_mut().map(|e| &mut e.agg)
    }

    /// `window` (newer than any seen) becomes the hot one: the old hot window's groups move
    /// to the main index (if it is built) and the small index starts empty.
    #[cold]
    fn make_hot(&mut self, window: i64) {
        let hot_groups = self.hot_index.len;
        if let (Some(old), false) = (self.hot, self.main.slots.is_empty()) {
            // Room first: a regrowth rebuilds from the entries of every window but `old`.
            let need = self.main.len + self.hot_index.len;
            if 4 * need > 3 * self.main.slots.len() {
                self.grow_main((need * 4).div_ceil(3) + 1);
            }
            for i in self.hot_from..self.entries.len() {
                if self.entries[i].window == old {
                    let hash = self.entries[i].hash;
                    self.main.insert(hash, i);
                }
            }
        }
        // Sized for as many groups as the window before had: windows of a stream are alike.
        let slots = ((hot_groups * 4).div_ceil(3) + 1)
            .next_power_of_two()
            .clamp(HOT_MIN_SLOTS, HOT_MAX_START_SLOTS);
        if self.hot_index.slots.len() == slots {
            self.hot_index.clear_slots(&mut self.hot_used);
        } else {
            self.hot_index = Index::with_slots(slots);
            self.hot_used.clear();
        }
        self.hot = Some(window);
        self.hot_from = self.entries.len();
    }

    /// Rebuilds the main index with at least `slots` slots from the stored hashes of the
    /// groups of every window but the hot one.
    #[cold]
    fn grow_main(&mut self, slots: usize) {
        if slots <= self.main.slots.len() && !self.main.slots.is_empty() {
            return;
        }
        let mut main = Index::with_slots(slots);
        for (i, e) in self.entries.iter().enumerate() {
            if self.hot != Some(e.window) {
                main.insert(e.hash, i);
            }
        }
        self.main = main;
    }

    /// Rebuilds the hot window's index with `slots` slots.
    #[cold]
    fn grow_hot(&mut self, slots: usize) {
        let mut hot = Index::with_slots(slots);
        self.hot_used.clear();
        for (i, e) in self.entries.iter().enumerate().skip(self.hot_from) {
            if self.hot == Some(e.window) {
                self.hot_used.push(hot.insert(e.hash, i) as u32);
            }
        }
        self.hot_index = hot;
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
        assert!(3 * g.main.slots.len() >= 4 * g.main.len, "at most 3/4 full");
        assert_eq!(
            g.main.len + g.hot_index.len,
            g.len(),
            "each group indexed once"
        );
        let got = g.into_table();
        let rows = |t: &GroupTable| {
            t.entries()
                .map(|(h, w, k, a)| (h, w, k.to_vec(), a.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(&got), rows(&want));
        assert_eq!(got.get(0, "seed").map(|a| a.requests), Some(7));
    }

    /// Lines in time order, with some late ones when `late`, starting from a table that
    /// already holds groups of the first windows: equal to a `GroupTable`, each group indexed
    /// once; without late lines the main index is never built.
    fn time_ordered_lines_match_a_group_table(late: bool) {
        // With late lines, the start's groups are in the first windows the lines reach.
        let first = if late { 0 } else { -120 };
        let mut start = GroupTable::default();
        start.agg_mut(first, "host-1").requests = 3;
        start.agg_mut(first + 60, "host-2").requests = 4;
        let mut want = start.clone();
        let mut g = LineGroups::continuing(start, 0);
        let admit = |_: &[u8]| true;
        for i in 0..200_000u64 {
            // 1,000 lines a window, one line in 50 five windows late; ~9,000 keys a window at
            // most, so the small index regrows within a window.
            let mut window = (i / 1000) as i64 * 60;
            if late && i % 50 == 7 {
                window = (window - 300).max(0);
            }
            let key = format!("host-{}", (i * 7919) % if i < 100_000 { 997 } else { 9001 });
            let h = group_hash(window, key.as_bytes());
            g.prefetch(h);
            g.agg_for(h, window, key.as_bytes(), admit)
                .expect("admitted")
                .add_parts(200, i, None);
            want.agg_for_line(window, key.as_bytes(), admit)
                .expect("admitted")
                .add_parts(200, i, None);
            assert_eq!(g.len(), want.len(), "line {i}: a group made twice or lost");
        }
        if late {
            assert_eq!(
                g.main.len + g.hot_index.len,
                g.len(),
                "each group indexed once"
            );
        } else {
            assert!(g.main.slots.is_empty(), "main index built for no late line");
        }
        let rows = |t: &GroupTable| {
            t.entries()
                .map(|(h, w, k, a)| (h, w, k.to_vec(), a.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(&g.into_table()), rows(&want));
    }

    /// A sparse log: one line a window, now and then one late. Each new window empties the
    /// small index by its used slots only.
    #[test]
    fn one_line_windows_match_a_group_table() {
        let mut want = GroupTable::default();
        let mut g = LineGroups::continuing(GroupTable::default(), 0);
        let admit = |_: &[u8]| true;
        for i in 0..20_000i64 {
            let window = if i % 97 == 5 { (i - 3) * 60 } else { i * 60 };
            let key = format!("host-{}", i % 13);
            let h = group_hash(window, key.as_bytes());
            g.agg_for(h, window, key.as_bytes(), admit)
                .expect("admitted")
                .add_parts(200, 1, None);
            want.agg_for_line(window, key.as_bytes(), admit)
                .expect("admitted")
                .add_parts(200, 1, None);
            assert_eq!(g.hot_used.len(), g.hot_index.len, "line {i}");
            assert!(g.hot_index.slots.iter().filter(|&&v| v != 0).count() == g.hot_index.len);
        }
        assert_eq!(g.len(), want.len());
    }

    #[test]
    fn time_ordered_lines_with_late_ones_match_a_group_table() {
        time_ordered_lines_match_a_group_table(true);
    }

    #[test]
    fn time_ordered_lines_build_no_main_index() {
        time_ordered_lines_match_a_group_table(false);
    }
}
