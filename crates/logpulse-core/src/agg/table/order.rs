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
        // A few of many (a window's busiest keys): only groups with at least the n-th largest
        // request count can be among them, found on the counts alone, so the key bytes of the
        // rest (a cache miss each) are never read.
        let least = if n.saturating_mul(8) < self.entries.len() {
            self.nth_most_requests(n)
        } else {
            0
        };
        // Sort on (requests, first 8 key bytes) first: with Zipf traffic most groups tie on
        // requests, and comparing an integer prefix avoids most string comparisons.
        let mut order: Vec<(u64, u64, u32)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.agg.requests >= least)
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

    /// The `n`-th largest request count among the groups (counted with repeats; n >= 1 and at
    /// most the number of groups), with a min-heap of the n largest seen so far.
    fn nth_most_requests(&self, n: usize) -> u64 {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        if n == 0 {
            return u64::MAX;
        }
        let mut heap: BinaryHeap<Reverse<u64>> = BinaryHeap::with_capacity(n + 1);
        for e in &self.entries {
            let r = e.agg.requests;
            if heap.len() < n {
                heap.push(Reverse(r));
            } else if heap.peek().is_some_and(|Reverse(min)| r > *min) {
                heap.pop();
                heap.push(Reverse(r));
            }
        }
        heap.peek().map_or(0, |Reverse(min)| *min)
    }

    /// The key and aggregate of group `i` (an index from [`GroupTable::order`]).
    pub fn at(&self, i: u32) -> (&str, &Agg) {
        let e = &self.entries[i as usize];
        // Keys enter only through `&str` or validated bytes, so they are UTF-8.
        (std::str::from_utf8(self.key_of(e)).unwrap_or(""), &e.agg)
    }
}
