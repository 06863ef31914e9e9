//! A batch's device results made up on the host, for benchmarking the host build of partials
//! without a GPU (`benches/host_build.rs`). That build turns a 250k-line batch's ~67k groups
//! into a `Partial`; on the H200 host it is most of a batch's latency past the device part, and
//! the part of end-to-end time the copies do not hide (BENCHMARKS.md).

use logpulse_core::agg::{group_hash, Partial};
use logpulse_core::batch::{Batch, Origin};
use logpulse_core::BackendError;

use crate::error::GpuError;
use crate::layout::{header, CountOut, GroupOut};
use crate::readback::{Counts, Sections};

/// What the kernels would read back for one batch: groups, their 5xx counters and key arena.
pub struct SyntheticReadback {
    groups: Vec<GroupOut>,
    counts: Vec<CountOut>,
    keys: Vec<u8>,
}

impl SyntheticReadback {
    /// `groups` groups over 20 one-minute windows (a 250k-line batch of the generator spans
    /// ~20), client keys like the generator's (dotted quads and host names, ASCII), every
    /// 50th group with a 5xx counter.
    pub fn new(groups: usize) -> Self {
        Self::made(groups, false)
    }

    /// Like [`SyntheticReadback::new`], the windows interleaved as the device's claim order
    /// leaves them (a 250k-line batch's blocks all run at once, so groups of every window
    /// are claimed side by side): group `i` in window `i % 20`.
    pub fn in_claim_order(groups: usize) -> Self {
        Self::made(groups, true)
    }

    /// Like [`SyntheticReadback::new`], in hash order: by their slot in a device table of
    /// `slots` slots (`slots` a power of two), i.e. by bits 20 and up of their hash
    /// (collisions resolved by the next slot, as the device does). A compaction that scans the
    /// table gives this order (tried on 2026-12-07 and reverted, BENCHMARKS.md); the
    /// `host_build` bench keeps timing it.
    pub fn in_slot_order(groups: usize, slots: usize) -> Self {
        let mut r = Self::made(groups, false);
        let mask = slots.next_power_of_two() - 1;
        let mut taken = vec![false; mask + 1];
        let mut at: Vec<(usize, usize)> = Vec::with_capacity(r.groups.len());
        for (i, g) in r.groups.iter().enumerate() {
            let mut s = (g.hash >> 20) as usize & mask;
            while taken[s] {
                s = (s + 1) & mask;
            }
            taken[s] = true;
            at.push((s, i));
        }
        at.sort_unstable();
        let mut new_index = vec![0u32; r.groups.len()];
        for (k, &(_, i)) in at.iter().enumerate() {
            new_index[i] = k as u32;
        }
        // Groups and their keys repacked in that order, as the device gathers them.
        let (old_groups, old_keys) = (std::mem::take(&mut r.groups), std::mem::take(&mut r.keys));
        for &(_, i) in &at {
            let mut g = old_groups[i];
            let key = &old_keys[g.key_off as usize..][..g.key_len as usize];
            g.key_off = r.keys.len() as u32;
            r.keys.extend_from_slice(key);
            r.groups.push(g);
        }
        for c in &mut r.counts {
            c.a = new_index[c.a as usize];
        }
        r
    }

    fn made(groups: usize, interleaved: bool) -> Self {
        let per_window = groups.div_ceil(20).max(1);
        let mut r = SyntheticReadback {
            groups: Vec::with_capacity(groups),
            counts: Vec::new(),
            keys: Vec::new(),
        };
        for i in 0..groups {
            let window = if interleaved { i % 20 } else { i / per_window } as i64 * 60;
            let host = i % 80_000;
            let key = if host % 2 == 0 {
                format!(
                    "{}.{}.{}.{}",
                    10 + host % 200,
                    host / 300 % 256,
                    host % 251,
                    host % 97
                )
            } else {
                format!("host{host}.dialup.example.net")
            };
            let key_off = r.keys.len() as u32;
            r.keys.extend_from_slice(key.as_bytes());
            if i % 50 == 0 {
                r.counts.push(CountOut {
                    kind: 1,
                    a: i as u32,
                    b: 503,
                    count: 1,
                });
            }
            r.groups.push(GroupOut {
                hash: group_hash(window, key.as_bytes()),
                window,
                key_off,
                key_len: key.len() as u32,
                requests: 4,
                s4xx: 1,
                s5xx: u32::from(i % 50 == 0),
                lat_count: 0,
                bytes: 20_000 + i as u64,
                lat_sum: 0,
            });
        }
        r
    }

    /// Groups held.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when there is no group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The partial the host builds from these results, as `GpuBackend` does for a batch.
    pub fn build(&self) -> Result<Partial, BackendError> {
        let max_time = self.groups.last().map_or(0, |g| g.window);
        Ok(build_from(
            &self.groups,
            &self.counts,
            &self.keys,
            max_time,
        )?)
    }
}

/// The counts a device would report with these results: every line a record (one per
/// request), no rejects, latest time `max_time`.
pub(crate) fn counts_for(
    groups: &[GroupOut],
    counts: &[CountOut],
    keys: &[u8],
    max_time: i64,
) -> Counts {
    let mut h = [0u64; header::WORDS];
    let records: u64 = groups.iter().map(|g| u64::from(g.requests)).sum();
    h[header::LINES] = records;
    h[header::RECORDS] = records;
    h[header::MAX_TIME] = max_time as u64;
    Counts {
        header: h,
        groups: groups.len(),
        counts: counts.len(),
        windows: 0,
        rejects: 0,
        key_bytes: keys.len(),
    }
}

/// Builds the partial of an empty batch whose device results are these (see [`counts_for`]).
pub(crate) fn build_from(
    groups: &[GroupOut],
    counts: &[CountOut],
    keys: &[u8],
    max_time: i64,
) -> Result<Partial, GpuError> {
    let c = counts_for(groups, counts, keys, max_time);
    let s = Sections {
        groups,
        counts,
        windows: &[],
        rejects: &[],
        keys,
    };
    crate::build::partial(Batch::from_bytes(0, Vec::new(), Origin::default()), &c, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The made-up results build into the partial they describe.
    #[test]
    fn synthetic_results_build_into_their_groups() {
        let r = SyntheticReadback::new(10_000);
        let p = r.build().expect("valid results");
        assert_eq!(p.groups.len(), 10_000);
        assert_eq!(p.records, 40_000);
        let (requests, s5xx, errors) = p.groups.iter().fold((0, 0, 0), |(q, f, e), (_, _, a)| {
            (q + a.requests, f + a.s5xx, e + a.errors.len())
        });
        assert_eq!((requests, s5xx, errors), (40_000, 200, 200));
    }
}
