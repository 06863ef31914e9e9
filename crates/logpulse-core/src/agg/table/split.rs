//! Splitting a table by window: the windows stage's parts of a batch.

use hashbrown::HashTable;

use super::{Entry, GroupTable};

#[cfg(test)]
thread_local! {
    /// Splits that took [`GroupTable::cut_runs`] on this thread (tests check the path taken).
    pub(super) static CUT_RUNS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl GroupTable {
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
        // Keys end to end in entry order (tables built by insertion, or window by window).
        let (mut arena_in_order, mut key_end) = (true, 0usize);
        for e in &self.entries {
            arena_in_order &= e.key_off as usize == key_end;
            key_end += e.key_len as usize;
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
        if late_size.0 == 0 && runs == sizes.len() && arena_in_order && key_end == self.arena.len()
        {
            return (self.cut_runs(&sizes), GroupTable::default());
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

    /// [`GroupTable::split_windows`] of a table whose windows lie in runs, one a window, in
    /// the order of `sizes` ((window, groups, key bytes)), and whose keys lie end to end in
    /// entry order (tables built window by window, `by_window.rs`): each window's rows and
    /// keys are cut off as slices, last first, so each is copied once (the first keeps the
    /// table's allocation, shrunk to fit) instead of moved row by row with a key copy each.
    fn cut_runs(self, sizes: &[(i64, usize, usize)]) -> Vec<(i64, GroupTable)> {
        #[cfg(test)]
        CUT_RUNS.with(|c| c.set(c.get() + 1));
        let GroupTable {
            mut entries,
            mut arena,
            ..
        } = self;
        let mut starts = Vec::with_capacity(sizes.len());
        let (mut row, mut key) = (0usize, 0usize);
        for &(_, n, bytes) in sizes {
            starts.push((row, key));
            row += n;
            key += bytes;
        }
        let mut parts = Vec::with_capacity(sizes.len());
        for (&(w, _, _), &(row, key)) in sizes.iter().zip(&starts).rev() {
            let (mut rows, mut keys) = if row == 0 {
                (std::mem::take(&mut entries), std::mem::take(&mut arena))
            } else {
                (entries.split_off(row), arena.split_off(key))
            };
            if row == 0 {
                // The first part keeps the whole table's allocation: give back what the
                // later parts took, as a window's table may live long.
                rows.shrink_to_fit();
                keys.shrink_to_fit();
            } else {
                for e in &mut rows {
                    e.key_off -= key as u32;
                }
            }
            parts.push((w, GroupTable::from_parts(rows, keys)));
        }
        parts.reverse();
        parts
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
}
