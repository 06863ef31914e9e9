//! Groups in output order: most requests first, ties by key.

use super::super::Agg;
use super::GroupTable;

impl GroupTable {
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
