//! Tables from distinct groups laid out window by window (a GPU batch's), so that the windows
//! stage's split ([`GroupTable::split_windows`]) cuts each window's groups off as one slice
//! instead of moving them one by one: the groups are placed once, where the split wants them.

use std::collections::HashMap;
use std::ops::Range;

use rayon::prelude::*;

use super::super::Agg;
use super::{Entry, GroupTable};

/// Distinct groups for [`GroupTable::from_unique_by_window`], read by index. Every method must
/// give the same answer each time it is asked (the groups are visited twice).
pub trait UniqueGroups: Sync {
    /// What [`UniqueGroups::agg`] carries from one group to the next within a piece (e.g. a
    /// cursor into a sorted list of extra counters).
    type State;
    /// Number of groups.
    fn len(&self) -> usize;
    /// True when there is no group.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Group `i`'s window.
    fn window(&self, i: usize) -> i64;
    /// Group `i`'s key bytes (valid UTF-8: the caller checks).
    fn key(&self, i: usize) -> &[u8];
    /// The length of [`UniqueGroups::key`] (when it is cheaper to tell than the key). Keys of
    /// other lengths than these never write past their window's share: the build fails when
    /// a share does not come out exactly full.
    fn key_len(&self, i: usize) -> usize {
        self.key(i).len()
    }
    /// Group `i`'s hash, `group_hash(window, key)` (the caller checks).
    fn hash(&self, i: usize) -> u64;
    /// A piece's starting state.
    fn start(&self) -> Self::State;
    /// Group `i`'s aggregate; a piece asks for its groups in index order.
    fn agg(&self, state: &mut Self::State, i: usize) -> Agg;
}

/// A window's groups in one piece, or in the whole table: (window, groups, key bytes).
type Part = (i64, usize, usize);

/// Window -> place in a list of parts (a fast hash: windows are the program's own numbers).
type PlaceMap = HashMap<i64, usize, foldhash::fast::RandomState>;

/// Parts a piece may hold before windows are looked up in a map rather than by a scan (a
/// 250k-line batch of a busy log spans ~20 one-minute windows; one of a sparse log brings a
/// window a line).
const SCAN_MAX: usize = 32;

/// Windows a [`PartFinder`] remembers, direct-mapped by a multiplicative hash of the window.
const CACHE: usize = 64;

/// Finds a window's place in a list of parts: a small direct-mapped cache of the windows
/// found so far first, then a scan of a short list or a map of a long one. The device's
/// groups come in claim order, a batch's windows interleaved (its blocks run at once), and a
/// scan per group mispredicts its exit when the next group's window is unpredictable (in hash
/// order, 67k groups took 1.7 ms on the dev VM against 1.0 with this cache; BENCHMARKS.md,
/// 2026-12-07 seventh session).
struct PartFinder {
    /// (window, place); place `usize::MAX`: empty.
    cache: [(i64, usize); CACHE],
    map: PlaceMap,
}

impl Default for PartFinder {
    fn default() -> Self {
        PartFinder {
            cache: [(0, usize::MAX); CACHE],
            map: PlaceMap::default(),
        }
    }
}

/// `w`'s entry in a [`PartFinder`]'s cache (Fibonacci hashing: one-minute windows, multiples
/// of 60, spread over the entries).
fn cache_slot(w: i64) -> usize {
    ((w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - CACHE.trailing_zeros())) as usize
}

/// Each part's window -> its place.
fn places(parts: &[Part]) -> PlaceMap {
    parts.iter().enumerate().map(|(i, p)| (p.0, i)).collect()
}

impl PartFinder {
    /// A finder over a complete list.
    fn over(parts: &[Part]) -> Self {
        let mut f = PartFinder::default();
        if parts.len() > SCAN_MAX {
            f.map = places(parts);
        }
        f
    }

    fn find(&mut self, w: i64, parts: &[Part]) -> Option<usize> {
        let slot = cache_slot(w);
        let (cw, cp) = self.cache[slot];
        if cw == w && cp != usize::MAX {
            return Some(cp);
        }
        let p = if parts.len() > SCAN_MAX {
            self.map.get(&w).copied()
        } else {
            parts.iter().position(|p| p.0 == w)
        }?;
        self.cache[slot] = (w, p);
        Some(p)
    }

    /// `w`'s place, appended to `parts` when new.
    fn place(&mut self, w: i64, parts: &mut Vec<Part>) -> usize {
        if let Some(p) = self.find(w, parts) {
            return p;
        }
        parts.push((w, 0, 0));
        let p = parts.len() - 1;
        if parts.len() == SCAN_MAX + 1 {
            self.map = places(parts);
        } else if parts.len() > SCAN_MAX {
            self.map.insert(w, p);
        }
        self.cache[cache_slot(w)] = (w, p);
        p
    }
}

/// A pointer the pieces write through, each to its own rows and key bytes.
struct Out<T>(*mut T);

// By hand: derived, they would ask `T: Copy`.
impl<T> Clone for Out<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Out<T> {}

// SAFETY: the pieces write disjoint ranges (their cursors, bounds checked), and the buffers
// outlive the parallel loop; values of `T` cross threads only as `T: Send` allows.
unsafe impl<T: Send> Send for Out<T> {}
unsafe impl<T: Send> Sync for Out<T> {}

impl<T> Out<T> {
    /// The slot at `i` (a method, so closures capture the whole `Out`, not its raw field).
    fn at(self, i: usize) -> *mut T {
        // SAFETY: callers pass indexes inside the buffer's capacity (checked against the
        // part's end).
        unsafe { self.0.add(i) }
    }
}

/// Copies a key to `dst`, 8 bytes at a time with the last 8 overlapping the ones before: keys
/// are ~20 bytes, and a call to `memcpy` per key cost more than the copy (the GPU's host build
/// copies ~67k keys a batch).
///
/// # Safety
/// `dst` must be valid for `src.len()` bytes of writes.
#[inline(always)]
unsafe fn copy_key(src: &[u8], dst: *mut u8) {
    use std::ptr::{read_unaligned, write_unaligned};
    let n = src.len();
    let s = src.as_ptr();
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            write_unaligned(
                dst.add(i) as *mut u64,
                read_unaligned(s.add(i) as *const u64),
            );
            i += 8;
        }
        write_unaligned(
            dst.add(n - 8) as *mut u64,
            read_unaligned(s.add(n - 8) as *const u64),
        );
    } else {
        for (i, &b) in src.iter().enumerate() {
            dst.add(i).write(b);
        }
    }
}

impl GroupTable {
    /// A table of the distinct `groups` laid out window by window: windows in order of first
    /// appearance, each window's groups in index order, the key arena in entry order, so
    /// [`GroupTable::split_windows`] cuts it into per-window tables by slices. No probing and
    /// no key comparison (the groups are distinct); not indexed until first probed. The
    /// groups are visited in pieces of `piece` on rayon's threads: once to count each
    /// window's groups and key bytes, once to write each row where its window's part lies.
    /// `None` when the groups answered differently the second time (windows, or keys of other
    /// lengths than `key_len` said, so that a share does not fill exactly), or their keys
    /// exceed the arena's 4 GiB of offsets (a bug in `groups`, not an input case).
    pub fn from_unique_by_window<G: UniqueGroups>(groups: &G, piece: usize) -> Option<Self> {
        let n = groups.len();
        let piece = piece.max(1);
        let pieces: Vec<Range<usize>> = (0..n)
            .step_by(piece)
            .map(|s| s..(s + piece).min(n))
            .collect();
        // Each piece's windows, in order of first appearance (sums checked: `key_len` is the
        // caller's word, and a wrapped sum would size the arena short).
        let counted: Vec<Vec<Part>> = pieces
            .par_iter()
            .map(|r| {
                let (mut parts, mut finder) = (Vec::new(), PartFinder::default());
                for i in r.clone() {
                    let p = finder.place(groups.window(i), &mut parts);
                    parts[p].1 += 1;
                    parts[p].2 = parts[p].2.checked_add(groups.key_len(i))?;
                }
                Some(parts)
            })
            .collect::<Option<_>>()?;
        // The table's parts (windows in order of first appearance), then where each piece's
        // share of each part starts: pieces in order within a part, so rows keep index order.
        let mut place = PlaceMap::default();
        let mut totals: Vec<Part> = Vec::new();
        for &(w, rows, bytes) in counted.iter().flatten() {
            let g = *place.entry(w).or_insert_with(|| {
                totals.push((w, 0, 0));
                totals.len() - 1
            });
            totals[g].1 += rows;
            totals[g].2 = totals[g].2.checked_add(bytes)?;
        }
        let key_bytes = totals.iter().try_fold(0usize, |a, t| a.checked_add(t.2))?;
        // Every key offset below fits a u32 (and no sum below can overflow).
        u32::try_from(key_bytes).ok()?;
        let (mut row_at, mut key_at) = (Vec::with_capacity(totals.len()), Vec::new());
        let (mut r, mut k) = (0usize, 0usize);
        for t in &totals {
            row_at.push(r);
            key_at.push(k);
            r += t.1;
            k += t.2;
        }
        // Per piece and part: (first row, first key byte); the part ends where it starts plus
        // the piece's counts.
        let starts: Vec<Vec<(usize, usize)>> = counted
            .iter()
            .map(|parts| {
                parts
                    .iter()
                    .map(|&(w, rows, bytes)| {
                        let g = place[&w];
                        let at = (row_at[g], key_at[g]);
                        row_at[g] += rows;
                        key_at[g] += bytes;
                        at
                    })
                    .collect()
            })
            .collect();

        let mut entries: Vec<Entry> = Vec::with_capacity(n);
        let mut arena: Vec<u8> = Vec::with_capacity(key_bytes);
        let (rows_out, keys_out) = (Out(entries.as_mut_ptr()), Out(arena.as_mut_ptr()));
        let all_written = pieces
            .par_iter()
            .zip(counted.par_iter())
            .zip(starts.par_iter())
            .map(|((r, parts), starts)| {
                let mut finder = PartFinder::over(parts);
                let mut at = starts.clone();
                let mut state = groups.start();
                for i in r.clone() {
                    let w = groups.window(i);
                    let key = groups.key(i);
                    let Some(p) = finder.find(w, parts) else {
                        return false;
                    };
                    let (row, k) = at[p];
                    let (row_end, k_end) = (starts[p].0 + parts[p].1, starts[p].1 + parts[p].2);
                    // `k <= k_end` always (it starts at the share's start and moves only here).
                    if row >= row_end || key.len() > k_end - k {
                        return false;
                    }
                    let e = Entry {
                        hash: groups.hash(i),
                        window: w,
                        key_off: k as u32,
                        key_len: key.len() as u32,
                        agg: groups.agg(&mut state, i),
                    };
                    // SAFETY: `row` and `k..k + key.len()` lie inside this piece's share of
                    // part `p` (checked above), which no other piece writes, and inside the
                    // buffers' capacities (the parts' sums).
                    unsafe {
                        rows_out.at(row).write(e);
                        copy_key(key, keys_out.at(k));
                    }
                    at[p] = (row + 1, k + key.len());
                }
                // Every share filled exactly.
                at.iter()
                    .zip(starts.iter().zip(parts))
                    .all(|(a, (s, p))| *a == (s.0 + p.1, s.1 + p.2))
            })
            .reduce(|| true, |a, b| a && b);
        if !all_written {
            // Rows written so far are leaked, not dropped: which are written is not known.
            return None;
        }
        // SAFETY: every piece filled its shares exactly, and the shares tile the parts, which
        // tile `0..n` rows and `0..key_bytes` bytes.
        unsafe {
            entries.set_len(n);
            arena.set_len(key_bytes);
        }
        Some(GroupTable::from_parts(entries, arena))
    }
}

#[cfg(test)]
mod tests {
    /// Every length, the word-at-a-time copy and its overlapping last word included, copies
    /// exactly the key and nothing past it.
    #[test]
    fn keys_are_copied_exactly() {
        let src: Vec<u8> = (0..40u8).map(|b| b.wrapping_mul(37)).collect();
        for n in 0..=src.len() {
            let mut dst = vec![0xAAu8; 48];
            // SAFETY: `dst` holds 48 >= n bytes.
            unsafe { super::copy_key(&src[..n], dst.as_mut_ptr()) };
            assert_eq!(&dst[..n], &src[..n], "length {n}");
            assert!(
                dst[n..].iter().all(|&b| b == 0xAA),
                "length {n}: wrote past the key"
            );
        }
    }
}
