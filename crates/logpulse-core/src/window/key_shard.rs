//! One shard of the whole-run per-key totals: keys (window 0) and their aggregates, merged a
//! closed window's table at a time.
//!
//! Why not a [`GroupTable`]: merging a window's groups into tens of thousands of keys is a run
//! of cache misses (the index bucket, then the entry, then its key), one group after the other:
//! it was 19% of a CPU TSV run (perf, 2-core dev VM). The keys are in a [`KeyStore`]: the slot of
//! the group `AHEAD` places on is prefetched, and half-way there its entry, so the misses of
//! several groups overlap.

use crate::agg::{group_hash, Agg, GroupTable, KeyStore, AHEAD};

/// A shard's keys in first-seen order, with their first-seen stamps (see `key_totals`).
#[derive(Debug, Clone, Default)]
pub(super) struct Shard {
    keys: KeyStore<Agg>,
    /// Per key: `table number << 32 | index in that table` of its first sighting.
    pub(super) first_seen: Vec<u64>,
}

/// The shard of a key: a function of its length and first and last 8 bytes, much cheaper
/// than its full hash, which every shard would otherwise compute for every group (measured
/// with callgrind: hashing all groups in each shard cost more than merging a quarter of them).
#[inline]
pub(super) fn shard_of(key: &[u8], of: usize) -> usize {
    let n = key.len();
    let (a, b) = if n >= 8 {
        let a = u64::from_le_bytes(key[..8].try_into().unwrap_or_default());
        let b = u64::from_le_bytes(key[n - 8..].try_into().unwrap_or_default());
        (a, b)
    } else {
        let mut a = 0u64;
        for (i, &c) in key.iter().enumerate() {
            a |= (c as u64) << (8 * i);
        }
        (a, 0)
    };
    let h = (a ^ b.rotate_left(29) ^ (n as u64).wrapping_mul(0xc4ce_b9fe_1a85_ec53))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let h = h ^ (h >> 29);
    ((((h >> 32) as u32) as u64 * of as u64) >> 32) as usize
}

impl Shard {
    /// Keys as (hash, key, aggregate), first seen first.
    pub(super) fn rows(&self) -> impl Iterator<Item = (u64, &[u8], &Agg)> + '_ {
        self.keys.rows()
    }

    /// The shard as a table (window 0), keys in first-seen order.
    pub(super) fn to_table(&self) -> GroupTable {
        GroupTable::from_unique(
            self.keys.len(),
            self.keys.key_bytes(),
            self.rows().map(|(h, k, a)| (h, 0, k, a.clone())),
        )
    }

    /// [`Shard::to_table`] consuming the shard: aggregates are moved, not cloned.
    pub(super) fn into_table(self) -> GroupTable {
        let n = self.keys.len();
        let (arena, rows) = self.keys.into_parts();
        GroupTable::from_unique(
            n,
            arena.len(),
            rows.map(|(hash, key, agg)| (hash, 0, &arena[key], agg)),
        )
    }

    /// Merges the groups of table number `n` whose key belongs to shard `me` of `of`
    /// ([`shard_of`]); a key seen for the first time is stamped `n << 32 | its index in the table`.
    pub(super) fn add(&mut self, t: &GroupTable, n: u64, me: usize, of: usize) {
        let mine: Vec<(u32, u64, &[u8], &Agg)> = t
            .entries()
            .enumerate()
            .filter(|(_, (_, _, key, _))| of <= 1 || shard_of(key, of) == me)
            .map(|(i, (_, _, key, agg))| (i as u32, group_hash(0, key), key, agg))
            .collect();
        let mask = self.keys.reserve(mine.len());
        for (j, &(i, hash, key, agg)) in mine.iter().enumerate() {
            self.keys.prefetch_ahead(
                mine.get(j + AHEAD).map(|g| g.1),
                mine.get(j + AHEAD / 2).map(|g| g.1),
                mask,
            );
            let (total, new) = self.keys.entry(hash, key, mask, || agg.clone());
            if new {
                self.first_seen.push(n << 32 | u64::from(i));
            } else {
                total.merge(agg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shard equals merging the same tables into a `GroupTable` by key, in the same order,
    /// across regrowths and with keys sharing their hash's top bits with others.
    #[test]
    fn merging_matches_a_group_table() {
        let mut shard = Shard::default();
        let mut want = GroupTable::default();
        for n in 0..30u64 {
            let mut t = GroupTable::default();
            for i in 0..(200 + 97 * n) {
                let key = format!("host-{}.example", (i * 7 + n * 13) % 3000);
                t.agg_mut((i % 4) as i64 * 60, &key).add_parts(200, i, None);
            }
            shard.add(&t, n, 0, 1);
            for (_, _, key, agg) in t.entries() {
                want.merge_entry(group_hash(0, key), 0, key, agg);
            }
        }
        let got = shard.to_table();
        let rows = |t: &GroupTable| -> Vec<(i64, String, Agg)> {
            t.iter()
                .map(|(w, k, a)| (w, k.to_string(), a.clone()))
                .collect()
        };
        assert_eq!(rows(&got), rows(&want));
        assert_eq!(got.len(), want.len());
        assert_eq!(shard.first_seen.len(), want.len());
        assert!(shard.first_seen.windows(2).all(|w| w[0] < w[1]));
    }
}
