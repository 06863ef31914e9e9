//! A fixed-bucket log-linear latency histogram (about 3% relative precision).
//!
//! Hand-written rather than `hdrhistogram` because the CUDA kernels must compute the very same
//! bucket of a value with a few integer instructions (see `bucket_of`), and a dense array of
//! counters can be filled with atomics on the GPU and merged by addition anywhere.

/// Values below this are their own bucket.
const LINEAR: u64 = 64;
/// Sub-buckets per power of two above `LINEAR`.
const SUB_BITS: u32 = 5;
/// Number of buckets: 64 exact values, then 32 per octave from 2^6 to 2^42 microseconds.
pub const BUCKETS: usize = LINEAR as usize + (42 - 6) * (1 << SUB_BITS);

/// Latency counts per bucket, in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHist {
    counts: Box<[u64]>,
    total: u64,
}

impl Default for LatencyHist {
    fn default() -> Self {
        LatencyHist {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
        }
    }
}

/// The bucket holding `us`.
#[inline]
pub fn bucket_of(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let msb = 63 - us.leading_zeros(); // >= 6
    let octave = (msb - 6) as usize;
    let sub = ((us >> (msb - SUB_BITS)) & ((1 << SUB_BITS) - 1)) as usize;
    (LINEAR as usize + octave * (1 << SUB_BITS) + sub).min(BUCKETS - 1)
}

/// The smallest value of a bucket (what a percentile reports).
pub fn bucket_low(b: usize) -> u64 {
    if b < LINEAR as usize {
        return b as u64;
    }
    let octave = ((b - LINEAR as usize) >> SUB_BITS) as u32;
    let sub = ((b - LINEAR as usize) & ((1 << SUB_BITS) - 1)) as u64;
    let msb = octave + 6;
    (1u64 << msb) | (sub << (msb - SUB_BITS))
}

impl LatencyHist {
    /// Counts one latency.
    #[inline]
    pub fn record(&mut self, us: u64) {
        self.counts[bucket_of(us)] += 1;
        self.total += 1;
    }

    /// Adds `n` to a bucket (results copied back from the GPU).
    pub fn add_bucket(&mut self, bucket: usize, n: u64) {
        if let Some(c) = self.counts.get_mut(bucket) {
            *c += n;
            self.total += n;
        }
    }

    /// Adds all of `other`.
    pub fn merge(&mut self, other: &LatencyHist) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += *b;
        }
        self.total += other.total;
    }

    /// Number of latencies counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Non-empty buckets as (bucket, count), for snapshots.
    pub fn sparse(&self) -> Vec<(u32, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(b, &c)| (b as u32, c))
            .collect()
    }

    /// Rebuilds a histogram from [`LatencyHist::sparse`].
    pub fn from_sparse(buckets: &[(u32, u64)]) -> Self {
        let mut h = LatencyHist::default();
        for &(b, c) in buckets {
            h.add_bucket(b as usize, c);
        }
        h
    }

    /// The `q` quantile (0..=1) in microseconds (lower bound of its bucket), or None if empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_low(b));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for us in [
            0u64, 1, 63, 64, 65, 100, 1000, 12_345, 1_000_000, 60_000_000,
        ] {
            let b = bucket_of(us);
            assert!(b >= last);
            last = b;
            let lo = bucket_low(b);
            assert!(lo <= us, "{us}: low {lo}");
            assert!((us - lo) as f64 <= us as f64 * 0.04, "{us}: low {lo}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = LatencyHist::default();
        for us in 1..=100u64 {
            h.record(us * 1000);
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((48_000..=50_000).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).unwrap();
        assert!((96_000..=99_000).contains(&p99), "{p99}");
    }
}
