//! Tables from groups known to be distinct (a GPU batch's): no probing, no key comparison.

use hashbrown::HashTable;

use super::super::{stream_rows, Agg};
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
    pub(super) fn from_unique_arena_with<R, T, F>(
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
}
