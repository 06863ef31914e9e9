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

use hashbrown::HashTable;

use super::{stream_rows, Agg};

const HASH_SEED: u64 = 0x6c6f_6770_756c_7365;
const HASH_K0: u64 = 0x9E37_79B9_7F4A_7C15;
const HASH_K1: u64 = 0xff51_afd7_ed55_8ccd;
const HASH_K2: u64 = 0xc4ce_b9fe_1a85_ec53;

/// splitmix64's finaliser.
#[inline(always)]
fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[inline(always)]
fn hash_round(h: u64, v: u64) -> u64 {
    let h = (h ^ v).wrapping_mul(HASH_K1);
    h ^ (h >> 32)
}

/// Hash of a group: the key's bytes mixed with its window. Fixed forever within a run (tables
/// built on different threads, machines or GPUs agree, so stored hashes stay valid when
/// tables are merged), and computed identically by the CUDA kernels (`lp_key_hash` in
/// `crates/logpulse-gpu/kernels/aggregate.cu`: change both together): 8-byte little-endian
/// words (the last one zero-padded), one multiply-xorshift round each (a bijection of the
/// state), the length, then splitmix64's finaliser. Never 0 (the GPU's empty-slot tag).
#[inline]
pub fn group_hash(window: i64, key: &[u8]) -> u64 {
    let mut h = HASH_SEED ^ (window as u64).wrapping_mul(HASH_K0);
    let mut words = key.chunks_exact(8);
    for w in &mut words {
        h = hash_round(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        // The remainder as a zero-padded little-endian word: for keys of 8 bytes or more,
        // the top bytes of the key's last 8 (one load instead of a byte loop; same value).
        let v = match key.last_chunk::<8>() {
            Some(last) => u64::from_le_bytes(*last) >> (8 * (8 - rest.len())),
            None => rest
                .iter()
                .enumerate()
                .fold(0u64, |v, (i, &b)| v | (b as u64) << (8 * i)),
        };
        h = hash_round(h, v);
    }
    h ^= (key.len() as u64).wrapping_mul(HASH_K2);
    match mix64(h) {
        0 => 1,
        h => h,
    }
}

/// Byte equality inlined for short keys (host names): a libc `memcmp` call per probe costs
/// more than the comparison itself.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i + 8 <= a.len() {
        let x = u64::from_ne_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        let y = u64::from_ne_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if x != y {
            return false;
        }
        i += 8;
    }
    if i == a.len() {
        return true;
    }
    // The last partial word: the final 8 bytes of both (overlapping the words compared),
    // else (keys under 8 bytes) byte by byte.
    match (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(x), Some(y)) => x == y,
        _ => a[i..].iter().zip(&b[i..]).all(|(x, y)| x == y),
    }
}

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

    /// Like [`GroupTable::from_unique`] for keys that already lie end to end in one arena (a
    /// GPU batch's packed key text, taken whole instead of copied key by key): `rows` gives
    /// (hash, window, key offset, key length, aggregate) in entry order. The entries are written on
    /// rayon's threads (a batch's ~67k groups are memory-bound work that took one thread 3 ms,
    /// most of a GPU batch's latency) while `make_arena` makes the arena beside them, in the
    /// same fork-join (a GPU batch's arena is copied out and checked meanwhile). `arena_len` is
    /// the length of the arena `make_arena` returns; a key past it becomes empty. Returns the
    /// table and what `make_arena` returned with the arena.
    ///
    /// The caller checks that hashes are `group_hash(window, key)`, the arena UTF-8 and every
    /// key inside it on character boundaries, before or after the build (a table whose rows
    /// fail those checks is to be dropped, which is why they are not asserted here).
    ///
    /// Rows are written with streaming stores (see `stream_rows`) when
    /// `LOGPULSE_STREAM_ROWS=1` (off by default: measured no faster end to end).
    pub fn from_unique_arena<R, T, F>(arena_len: usize, make_arena: F, rows: R) -> (Self, T)
    where
        R: rayon::iter::IndexedParallelIterator<Item = (u64, i64, u32, u32, Agg)>,
        F: FnOnce() -> (Vec<u8>, T) + Send,
        T: Send,
    {
        Self::from_unique_arena_with(stream_rows::enabled(), arena_len, make_arena, rows)
    }

    /// [`GroupTable::from_unique_arena`], its rows streamed or not (`stream`).
    fn from_unique_arena_with<R, T, F>(
        stream: bool,
        arena_len: usize,
        make_arena: F,
        rows: R,
    ) -> (Self, T)
    where
        R: rayon::iter::IndexedParallelIterator<Item = (u64, i64, u32, u32, Agg)>,
        F: FnOnce() -> (Vec<u8>, T) + Send,
        T: Send,
    {
        use rayon::prelude::*;
        let end = arena_len as u64;
        let n = rows.len();
        let mut entries = Vec::with_capacity(n);
        let entry = move |(hash, window, key_off, key_len, agg): (u64, i64, u32, u32, Agg)| {
            let inside = u64::from(key_off) + u64::from(key_len) <= end;
            let (key_off, key_len) = if inside { (key_off, key_len) } else { (0, 0) };
            Entry {
                hash,
                window,
                key_off,
                key_len,
                agg,
            }
        };
        let ((arena, beside), ()) = rayon::join(make_arena, || {
            if stream {
                // Each slot of the spare capacity written once, by index (`zip` of two
                // indexed iterators), every piece fenced before it reports itself done.
                let spare = &mut entries.spare_capacity_mut()[..n];
                let written: usize = rows
                    .zip(spare.par_iter_mut())
                    .map_init(
                        || stream_rows::Fence,
                        |_, (row, slot)| {
                            stream_rows::write(slot, entry(row));
                            1usize
                        },
                    )
                    .sum();
                // An iterator whose `len` overstates what it yields would leave slots
                // unwritten (as rayon's `collect_into_vec` does, fail rather than expose them;
                // the written rows leak).
                assert_eq!(written, n, "expected {n} rows, got {written}");
                // SAFETY: `written == n` slots were written, each once (indexed zip with the
                // first `n` slots); every piece's fence dropped before the piece finished.
                unsafe { entries.set_len(n) };
            } else {
                rows.map(entry).collect_into_vec(&mut entries)
            }
        });
        if arena.len() < arena_len {
            for e in entries.iter_mut() {
                if (e.key_off + e.key_len) as usize > arena.len() {
                    (e.key_off, e.key_len) = (0, 0);
                }
            }
        }
        let t = GroupTable {
            index: HashTable::new(),
            indexed: 0,
            entries,
            arena,
        };
        (t, beside)
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

    /// Moves the groups into one table per window (windows in order of first appearance,
    /// groups in this table's order), except groups whose window `late` accepts, which go
    /// together into the second table (also in this table's order). Groups are distinct, so
    /// the parts are built without probing, sized exactly, and aggregates are moved. A table
    /// of one window that is not late is returned as it is (per-batch windows, GPU batches
    /// inside one window).
    pub fn split_windows(self, late: impl Fn(i64) -> bool) -> (Vec<(i64, GroupTable)>, GroupTable) {
        let first = match self.entries.first() {
            None => return (Vec::new(), GroupTable::default()),
            Some(e) => e.window,
        };
        if !late(first) && self.entries.iter().all(|e| e.window == first) {
            return (vec![(first, self)], GroupTable::default());
        }
        // Part of each group, and each part's size; groups come in runs of one window.
        const LATE: u32 = u32::MAX;
        let mut sizes: Vec<(i64, usize, usize)> = Vec::new(); // window, groups, key bytes
        let mut late_size = (0usize, 0usize);
        let mut part_of: Vec<u32> = Vec::with_capacity(self.entries.len());
        let mut last: Option<(i64, u32)> = None;
        // Part by window, looked up once a run: a sparse log can bring a window a line (a
        // search through the parts made the split quadratic: 200k one-line windows took 4.4 s).
        let mut part_index: std::collections::HashMap<i64, u32> = Default::default();
        // Runs of one part (a window, or the late ones): one a part means each part is one
        // stretch of the table.
        let (mut runs, mut last_part) = (0usize, None);
        for e in &self.entries {
            let p = match last {
                Some((w, p)) if w == e.window => p,
                _ => {
                    let p = if late(e.window) {
                        LATE
                    } else {
                        *part_index.entry(e.window).or_insert_with(|| {
                            sizes.push((e.window, 0, 0));
                            (sizes.len() - 1) as u32
                        })
                    };
                    last = Some((e.window, p));
                    p
                }
            };
            if last_part != Some(p) {
                runs += 1;
                last_part = Some(p);
            }
            if p == LATE {
                late_size.0 += 1;
                late_size.1 += e.key_len as usize;
            } else {
                let s = &mut sizes[p as usize];
                s.1 += 1;
                s.2 += e.key_len as usize;
            }
            part_of.push(p);
        }
        let mut parts: Vec<(i64, GroupTable)> = sizes
            .iter()
            .map(|&(w, n, bytes)| (w, GroupTable::with_exact_capacity(n, bytes)))
            .collect();
        let mut late_part = GroupTable::with_exact_capacity(late_size.0, late_size.1);
        let late_runs = usize::from(late_size.0 > 0);
        let GroupTable {
            mut entries, arena, ..
        } = self;
        if runs <= parts.len() + late_runs {
            // Each part one run: moved in table order, each part written front to back.
            for (e, p) in entries.into_iter().zip(part_of) {
                let key = &arena[e.key_off as usize..(e.key_off + e.key_len) as usize];
                let t = match p {
                    LATE => &mut late_part,
                    p => &mut parts[p as usize].1,
                };
                t.push_unique(e, key);
            }
            return (parts, late_part);
        }
        // Windows interleaved (a GPU batch's groups in claim order): moved part by part, so
        // each part's table is written front to back alone. Moved in table order, every store
        // went to one of ~20 tables at once and missed the cache (twice the split's time,
        // `host_build` bench). `order` lists each part's entries (table order), parts in turn.
        let nparts = parts.len();
        let mut next: Vec<usize> = Vec::with_capacity(nparts + 1);
        let mut at = 0;
        for &(_, n, _) in &sizes {
            next.push(at);
            at += n;
        }
        next.push(at);
        let mut order = vec![0u32; entries.len()];
        for (i, &p) in part_of.iter().enumerate() {
            let k = if p == LATE { nparts } else { p as usize };
            order[next[k]] = i as u32;
            next[k] += 1;
        }
        let mut from = 0;
        for k in 0..=nparts {
            let t = if k == nparts {
                &mut late_part
            } else {
                &mut parts[k].1
            };
            for &i in &order[from..next[k]] {
                let e = Entry::take(&mut entries[i as usize]);
                let key = &arena[e.key_off as usize..(e.key_off + e.key_len) as usize];
                t.push_unique(e, key);
            }
            from = next[k];
        }
        (parts, late_part)
    }

    /// An empty table with room for exactly `groups` groups and `key_bytes` of keys.
    fn with_exact_capacity(groups: usize, key_bytes: usize) -> Self {
        GroupTable {
            index: HashTable::new(),
            indexed: 0,
            entries: Vec::with_capacity(groups),
            arena: Vec::with_capacity(key_bytes),
        }
    }

    /// Splits the table by window, each part keeping its groups (hashes reused).
    pub fn split_by_window(self) -> Vec<(i64, GroupTable)> {
        let mut parts: Vec<(i64, GroupTable)> = Vec::new();
        for e in &self.entries {
            let key = self.key_of(e);
            let part = match parts.iter().position(|(w, _)| *w == e.window) {
                Some(p) => &mut parts[p].1,
                None => {
                    parts.push((e.window, GroupTable::default()));
                    &mut parts.last_mut().expect("just pushed").1
                }
            };
            part.agg_mut_hashed(e.hash, e.window, key).merge(&e.agg);
        }
        parts
    }

    /// Groups sorted by requests (most first), ties by key: what outputs show.
    pub fn sorted(&self) -> Vec<(Box<str>, Agg)> {
        self.top(usize::MAX)
    }

    /// The `n` groups with most requests (ties by key), sorted; O(groups + n log n).
    pub fn top(&self, n: usize) -> Vec<(Box<str>, Agg)> {
        self.order(n)
            .into_iter()
            .map(|i| {
                let (k, a) = self.at(i);
                (k.into(), a.clone())
            })
            .collect()
    }

    /// Indexes of the `n` groups with most requests (ties by key), in that order; for
    /// [`GroupTable::at`]. O(groups + n log n), no allocation per group.
    pub fn order(&self, n: usize) -> Vec<u32> {
        // Sort on (requests, first 8 key bytes) first: with Zipf traffic most groups tie on
        // requests, and comparing an integer prefix avoids most string comparisons.
        let mut order: Vec<(u64, u64, u32)> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let key = self.key_of(e);
                let mut p = [0u8; 8];
                let k = key.len().min(8);
                p[..k].copy_from_slice(&key[..k]);
                (e.agg.requests, u64::from_be_bytes(p), i as u32)
            })
            .collect();
        let cmp = |a: &(u64, u64, u32), b: &(u64, u64, u32)| {
            b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then_with(|| {
                let ka = self.key_of(&self.entries[a.2 as usize]);
                let kb = self.key_of(&self.entries[b.2 as usize]);
                ka.cmp(kb)
            })
        };
        if n < order.len() {
            order.select_nth_unstable_by(n, cmp);
            order.truncate(n);
        }
        order.sort_unstable_by(cmp);
        order.into_iter().map(|(_, _, i)| i).collect()
    }

    /// The key and aggregate of group `i` (an index from [`GroupTable::order`]).
    pub fn at(&self, i: u32) -> (&str, &Agg) {
        let e = &self.entries[i as usize];
        // Keys enter only through `&str` or validated bytes, so they are UTF-8.
        (std::str::from_utf8(self.key_of(e)).unwrap_or(""), &e.agg)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_merges_and_splits() {
        let mut a = GroupTable::default();
        a.agg_mut(0, "x").requests += 1;
        a.agg_mut(0, "x").requests += 1;
        a.agg_mut(60, "x").requests += 1;
        a.agg_mut(0, "y").requests += 5;
        assert_eq!(a.len(), 3);
        let mut b = GroupTable::default();
        b.agg_mut(0, "x").requests += 10;
        b.agg_mut(120, "z").requests += 1;
        a.merge(&b);
        assert_eq!(a.get(0, "x").map(|g| g.requests), Some(12));
        assert_eq!(a.get(120, "z").map(|g| g.requests), Some(1));
        assert_eq!(a.get(60, "y"), None);
        let parts = a.split_by_window();
        assert_eq!(
            parts.iter().map(|(w, t)| (*w, t.len())).collect::<Vec<_>>(),
            [(0, 2), (60, 1), (120, 1)]
        );
        let mut totals = GroupTable::default();
        for (_, t) in &parts {
            totals.merge_into_window(t, 0);
        }
        assert_eq!(totals.get(0, "x").map(|g| g.requests), Some(13));
        assert_eq!(totals.sorted()[0].0.as_ref(), "x");
    }

    /// Tables built from distinct groups are indexed on their first probe: until then a
    /// read-only look scans; after, lookups find the old groups (no duplicates) and add new ones.
    #[test]
    fn unindexed_tables_are_indexed_on_first_probe() {
        let keys: Vec<String> = (0..1000).map(|i| format!("host-{i}")).collect();
        let rows = keys.iter().enumerate().map(|(i, k)| {
            let w = (i % 3) as i64 * 60;
            let agg = Agg {
                requests: i as u64 + 1,
                ..Agg::default()
            };
            (group_hash(w, k.as_bytes()), w, k.as_bytes(), agg)
        });
        let mut t = GroupTable::from_unique(keys.len(), 16 * keys.len(), rows);
        assert_eq!(t.indexed, 0);
        assert_eq!(t.get(60, "host-1").map(|a| a.requests), Some(2));
        assert_eq!(t.get(0, "host-1"), None);
        t.agg_mut(60, "host-1").requests += 10;
        assert_eq!(t.indexed, t.len());
        assert_eq!(
            t.len(),
            1000,
            "an existing group, found through the new index"
        );
        t.agg_mut(0, "host-1").requests += 1;
        assert_eq!(t.len(), 1001);
        assert_eq!(t.get(60, "host-1").map(|a| a.requests), Some(12));
        // Split parts (unindexed) merged twice into one table: every group once, sums doubled.
        let (parts, late) = t.clone().split_windows(|_| false);
        assert!(late.is_empty());
        let mut merged = GroupTable::default();
        for _ in 0..2 {
            for (_, p) in parts.clone() {
                merged.merge_owned(p);
            }
        }
        assert_eq!(merged.len(), t.len());
        for (w, k, a) in t.iter() {
            assert_eq!(
                merged.get(w, k).map(|m| m.requests),
                Some(2 * a.requests),
                "{w} {k}"
            );
        }
    }

    /// A table of `n` groups over several windows, in an interleaved order, some with errors.
    fn mixed(n: u64, salt: u64) -> GroupTable {
        let mut t = GroupTable::default();
        for i in 0..n {
            let w = ((i * 7 + salt) % 5) as i64 * 60;
            let a = t.agg_mut(w, &format!("host{}.example", (i * 13 + salt) % 97));
            a.add_parts(if i % 11 == 0 { 503 } else { 200 }, i, Some(i));
        }
        t
    }

    fn rows(t: &GroupTable) -> Vec<(u64, i64, Vec<u8>, Agg)> {
        t.entries()
            .map(|(h, w, k, a)| (h, w, k.to_vec(), a.clone()))
            .collect()
    }

    #[test]
    fn split_windows_and_merge_owned_match_the_copying_versions() {
        let t = mixed(400, 3);
        let all = rows(&t);
        let (parts, late) = t.clone().split_windows(|w| w < 120);
        assert_eq!(
            rows(&late),
            all.iter()
                .filter(|r| r.1 < 120)
                .cloned()
                .collect::<Vec<_>>()
        );
        let mut seen = Vec::new();
        for (w, part) in &parts {
            assert!(*w >= 120 && !seen.contains(w));
            seen.push(*w);
            let want: Vec<_> = all.iter().filter(|r| r.1 == *w).cloned().collect();
            assert_eq!(rows(part), want);
            for r in &want {
                assert_eq!(
                    part.get(r.1, std::str::from_utf8(&r.2).unwrap()),
                    Some(&r.3)
                );
            }
        }
        // Interleaved (moved part by part, `mixed` changes window every row) with no late rows.
        let (parts0, late0) = t.clone().split_windows(|_| false);
        assert!(late0.is_empty());
        assert_eq!(parts0.len(), 5);
        for (w, part) in &parts0 {
            let want: Vec<_> = all.iter().filter(|r| r.1 == *w).cloned().collect();
            assert_eq!(rows(part), want, "window {w}");
        }
        // The same groups in runs of one window (the CPU's order) are moved the other way (in
        // table order): the same parts.
        let mut sorted = all.clone();
        sorted.sort_by_key(|r| r.1);
        let runs = GroupTable::from_unique(
            sorted.len(),
            64 * sorted.len(),
            sorted.iter().map(|r| (r.0, r.1, &r.2[..], r.3.clone())),
        );
        let (parts2, late2) = runs.split_windows(|w| w < 120);
        let want: Vec<_> = sorted.iter().filter(|r| r.1 < 120).cloned().collect();
        assert_eq!(rows(&late2), want);
        assert_eq!(parts2.len(), parts.len());
        for (w, part) in &parts2 {
            let want: Vec<_> = sorted.iter().filter(|r| r.1 == *w).cloned().collect();
            assert_eq!(rows(part), want, "window {w}");
        }
        // One window, not late: the table comes back as it is.
        let mut one = GroupTable::default();
        one.agg_mut(60, "a").requests += 1;
        one.agg_mut(60, "b").requests += 1;
        let (parts, late) = one.clone().split_windows(|_| false);
        assert!(late.is_empty());
        assert_eq!(parts.len(), 1);
        assert_eq!(rows(&parts[0].1), rows(&one));
        // merge_owned == merge, order included.
        let mut a = mixed(300, 1);
        let mut b = a.clone();
        let other = mixed(500, 2);
        a.merge(&other);
        b.merge_owned(other);
        assert_eq!(rows(&a), rows(&b));
        let mut empty = GroupTable::default();
        empty.merge_owned(mixed(50, 4));
        assert_eq!(rows(&empty), rows(&mixed(50, 4)));
        assert_eq!(
            empty.get(0, "host4.example").is_some(),
            mixed(50, 4).get(0, "host4.example").is_some()
        );
    }

    /// A table over one shared arena, built in parallel, equals the same groups inserted one
    /// by one: keys at their offsets, every row in its place (enough rows for rayon to split).
    #[test]
    fn from_unique_arena_matches_inserts() {
        for stream in [true, false] {
            unique_arena_matches_inserts(stream);
        }
    }

    /// [`from_unique_arena_matches_inserts`] with rows streamed or written plainly.
    fn unique_arena_matches_inserts(stream: bool) {
        use rayon::prelude::*;
        let keys: Vec<String> = (0..20_000).map(|i| format!("h{}.ex", i * 7)).collect();
        let mut arena = Vec::new();
        let mut spans = Vec::new();
        for k in &keys {
            spans.push((arena.len() as u32, k.len() as u32));
            arena.extend_from_slice(k.as_bytes());
        }
        let mut slow = GroupTable::default();
        let agg = |i: usize| {
            let mut a = Agg {
                requests: i as u64 + 1,
                bytes: 3 * i as u64,
                ..Agg::default()
            };
            if i.is_multiple_of(5) {
                a.add_error(500 + (i % 4) as u16, 2);
            }
            a
        };
        for (i, k) in keys.iter().enumerate() {
            let w = (i % 3) as i64 * 60;
            slow.agg_mut(w, k).merge(&agg(i));
        }
        let (fast, ()) = GroupTable::from_unique_arena_with(
            stream,
            arena.len(),
            || (arena, ()),
            (0..keys.len()).into_par_iter().map(|i| {
                let w = (i % 3) as i64 * 60;
                let (off, len) = spans[i];
                (group_hash(w, keys[i].as_bytes()), w, off, len, agg(i))
            }),
        );
        assert_eq!(fast.len(), keys.len());
        assert_eq!(fast.sorted(), slow.sorted(), "streamed rows: {stream}");
        let order: Vec<_> = fast.iter().map(|(w, k, _)| (w, k.to_string())).collect();
        let want: Vec<_> = slow.iter().map(|(w, k, _)| (w, k.to_string())).collect();
        assert_eq!(order, want, "entries keep the rows' order");
        // A row pointing past the arena gets an empty key rather than a panic, as does one
        // past an arena shorter than announced.
        let row = || (group_hash(0, b""), 0, 1, 5, Agg::default());
        let (t, ()) = GroupTable::from_unique_arena_with(
            stream,
            2,
            || (b"ab".to_vec(), ()),
            vec![row()].into_par_iter(),
        );
        assert_eq!(t.iter().next().map(|(_, k, _)| k), Some(""));
        let (t, ()) = GroupTable::from_unique_arena_with(
            stream,
            9,
            || (b"ab".to_vec(), ()),
            vec![row()].into_par_iter(),
        );
        assert_eq!(t.iter().next().map(|(_, k, _)| k), Some(""));
    }

    #[test]
    fn bytes_eq_is_slice_equality() {
        let base: Vec<u8> = (0..40u8).collect();
        for len in 0..base.len() {
            let a = &base[..len];
            assert!(bytes_eq(a, a));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x40;
                assert!(!bytes_eq(a, &b), "{len} {at}");
            }
            assert!(!bytes_eq(a, &base[..len + 1]));
        }
    }

    #[test]
    fn group_hash_equals_its_byte_by_byte_definition() {
        // The definition in the doc comment, written plainly (what lp_key_hash computes).
        fn reference(window: i64, key: &[u8]) -> u64 {
            let mut h = HASH_SEED ^ (window as u64).wrapping_mul(HASH_K0);
            for w in key.chunks(8) {
                let v = w
                    .iter()
                    .enumerate()
                    .fold(0u64, |v, (i, &b)| v | (b as u64) << (8 * i));
                h = hash_round(h, v);
            }
            h ^= (key.len() as u64).wrapping_mul(HASH_K2);
            match mix64(h) {
                0 => 1,
                h => h,
            }
        }
        let bytes: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..bytes.len() {
            for w in [0i64, 60, -60, 804_571_200] {
                assert_eq!(
                    group_hash(w, &bytes[..len]),
                    reference(w, &bytes[..len]),
                    "{len}"
                );
            }
        }
    }

    #[test]
    fn group_hash_is_fixed_and_from_unique_matches_inserts() {
        // Pinned values: the CUDA kernels compute the same function (lp_key_hash).
        assert_eq!(group_hash(0, b""), group_hash(0, b""));
        assert_ne!(group_hash(0, b"a"), group_hash(60, b"a"));
        assert_ne!(group_hash(0, b"a"), group_hash(0, b"a\0"));
        assert_ne!(group_hash(0, b"12345678"), group_hash(0, b"123456789"));
        let keys = ["a", "host1.example.edu", "12345678", "199.72.81.55", "000"];
        let mut slow = GroupTable::default();
        let mut rows = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let w = (i as i64 % 2) * 60;
            let a = Agg {
                requests: i as u64 + 1,
                ..Agg::default()
            };
            slow.agg_mut(w, k).merge(&a);
            rows.push((group_hash(w, k.as_bytes()), w, k.as_bytes(), a));
        }
        let mut fast = GroupTable::from_unique(rows.len(), 64, rows);
        assert_eq!(fast.sorted(), slow.sorted());
        fast.agg_mut(60, "host1.example.edu").requests += 10;
        assert_eq!(
            fast.get(60, "host1.example.edu").map(|g| g.requests),
            Some(12)
        );
        assert_eq!(fast.len(), keys.len());
    }
}
