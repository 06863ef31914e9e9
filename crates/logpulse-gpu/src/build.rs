//! Turns a batch's GPU readback into the same [`Partial`] the CPU backend makes.
//!
//! The device sends back numbers only; key texts and rejected lines are read from the host's
//! own copy of the batch, at the offsets the device reported.

use logpulse_core::agg::{group_hash, Agg, GroupTable, LatencyHist, Partial, UniqueGroups};
use logpulse_core::batch::Batch;
use logpulse_core::reject::{Reject, RejectReason, REJECT_KEEP_BYTES};

use crate::error::GpuError;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::layout::{header, GroupOut, KEY_NONE};
use crate::readback::{Counts, Sections};

/// Bytes of key arena validated per rayon task.
const UTF8_CHUNK: usize = 256 << 10;

/// Groups in each rayon piece of the build: `LOGPULSE_GPU_BUILD_PIECE` (measurements),
/// else 4096 (a 250k-line batch's ~67k groups in ~16 pieces, one a build thread).
fn build_piece() -> usize {
    static PIECE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PIECE.get_or_init(|| {
        logpulse_core::env_number::<usize>("LOGPULSE_GPU_BUILD_PIECE").map_or(4096, |n| n.max(64))
    })
}

/// Checks that `bytes` is UTF-8 on rayon's threads: pieces of about [`UTF8_CHUNK`] bytes cut
/// where a character starts (a byte that is not a continuation byte), each checked alone.
fn utf8_in_parallel(bytes: &[u8]) -> Result<(), GpuError> {
    let mut cuts = vec![0usize];
    let mut at = UTF8_CHUNK;
    while at < bytes.len() {
        // A character is at most 4 bytes: a start is found within 4. None means either four
        // continuation bytes (invalid, which the piece before still shows) or the arena's
        // last character: then the tail joins the piece before.
        let start = (at..(at + 4).min(bytes.len()))
            .find(|&i| (bytes[i] as i8) >= -0x40)
            .unwrap_or((at + 4).min(bytes.len()));
        cuts.push(start);
        at = start + UTF8_CHUNK;
    }
    cuts.push(bytes.len());
    cuts.par_windows(2).try_for_each(|w| {
        std::str::from_utf8(&bytes[w[0]..w[1]])
            .map(|_| ())
            .map_err(|e| {
                GpuError::Result(format!("key arena is not UTF-8 after byte {}: {e}", w[0]))
            })
    })
}

/// The partial of a batch with no bytes (only the framer's skipped lines).
pub fn empty(batch: &mut Batch) -> Partial {
    let mut p = Partial::new(batch.seq, batch.origin.source.clone());
    p.input_bytes = batch.bytes().len() as u64;
    p.rejects = std::mem::take(&mut batch.skipped);
    for r in &p.rejects {
        p.reject_counts.add(r.reason);
    }
    p.lines = p.rejects.len() as u64;
    p
}

/// The raw line at `offset` (without its newline, with a `\r`), cut like [`Reject::new`].
fn raw_line(bytes: &[u8], offset: usize) -> &[u8] {
    let end = (offset + REJECT_KEEP_BYTES + 1).min(bytes.len());
    let window = &bytes[offset.min(end)..end];
    match memchr_nl(window) {
        Some(p) => &window[..p],
        None => window,
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// The error counters by group, sorted by group (stable: a group's statuses keep the device's
/// order); latency buckets go into `latency`.
fn counters(
    rb: &Sections<'_>,
    latency: &mut std::collections::BTreeMap<i64, LatencyHist>,
) -> Result<Vec<(u32, u16, u64)>, GpuError> {
    let mut errors: Vec<(u32, u16, u64)> = Vec::new();
    for c in rb.counts {
        match c.kind {
            1 => {
                if c.a as usize >= rb.groups.len() {
                    return Err(GpuError::Result(format!("error counter for group {}", c.a)));
                }
                errors.push((c.a, c.b as u16, c.count as u64));
            }
            2 => {
                let w = *rb
                    .windows
                    .get(c.a as usize)
                    .ok_or_else(|| GpuError::Result(format!("histogram of window {}", c.a)))?;
                latency
                    .entry(w)
                    .or_default()
                    .add_bucket(c.b as usize, c.count as u64);
            }
            k => return Err(GpuError::Result(format!("counter kind {k}"))),
        }
    }
    errors.sort_by_key(|e| e.0);
    Ok(errors)
}

/// A batch's groups as the device returned them, checked as the table is built from them:
/// keys inside the arena on character boundaries, every 256th device hash against the
/// host's, the requests' sum.
struct Rows<'a> {
    rb: &'a Sections<'a>,
    /// Error counters by group, sorted by group.
    errors: &'a [(u32, u16, u64)],
    /// Requests of every group, summed.
    requests: &'a AtomicU64,
    /// The first failed check.
    bad: &'a Mutex<Option<GpuError>>,
}

/// A piece's place in the error counters (the next group it expects, the next counter) and
/// its sum of requests, added to the shared total when the piece is done.
struct Cursor<'a> {
    next: usize,
    at: usize,
    requests: u64,
    into: &'a AtomicU64,
}

impl Drop for Cursor<'_> {
    fn drop(&mut self) {
        self.into.fetch_add(self.requests, Ordering::Relaxed);
    }
}

impl Rows<'_> {
    /// Group `i`'s key, or nothing when it is not inside the arena on character boundaries
    /// (the build then fails: see [`UniqueGroups::key`] below).
    fn key_checked(&self, g: &GroupOut) -> Option<&[u8]> {
        if g.key_off == KEY_NONE {
            return Some(b"000");
        }
        let keys = self.rb.keys;
        let boundary =
            |i: usize| i == keys.len() || keys.get(i).is_some_and(|&b| (b as i8) >= -0x40);
        let (s, e) = (g.key_off as usize, g.key_off as usize + g.key_len as usize);
        (e <= keys.len() && boundary(s) && boundary(e)).then(|| &keys[s..e])
    }

    /// Keeps the first failed check's error (returned once the build is over).
    fn fail(&self, e: GpuError) {
        if let Ok(mut b) = self.bad.lock() {
            b.get_or_insert(e);
        }
    }
}

impl<'a> UniqueGroups for Rows<'a> {
    type State = Cursor<'a>;

    fn len(&self) -> usize {
        self.rb.groups.len()
    }

    fn window(&self, i: usize) -> i64 {
        self.rb.groups[i].window
    }

    /// A key outside the arena or off character boundaries fails the build (an empty key
    /// of another length than the device's, with this error kept).
    fn key(&self, i: usize) -> &[u8] {
        let g = &self.rb.groups[i];
        self.key_checked(g).unwrap_or_else(|| {
            self.fail(GpuError::Result(format!(
                "key at {}+{} in a {}-byte arena",
                g.key_off,
                g.key_len,
                self.rb.keys.len()
            )));
            b""
        })
    }

    /// The device's length, unchecked: a key that fails its check ([`Rows::key_checked`]) is
    /// then empty, of another length, and the build fails (its check's error is returned).
    fn key_len(&self, i: usize) -> usize {
        let g = &self.rb.groups[i];
        if g.key_off == KEY_NONE {
            3
        } else {
            g.key_len as usize
        }
    }

    fn hash(&self, i: usize) -> u64 {
        self.rb.groups[i].hash
    }

    fn start(&self) -> Cursor<'a> {
        Cursor {
            next: usize::MAX,
            at: 0,
            requests: 0,
            into: self.requests,
        }
    }

    /// Each piece walks its groups in order, so it finds its first error counter by binary
    /// search and the rest by moving its cursor.
    fn agg(&self, c: &mut Cursor<'a>, i: usize) -> Agg {
        let g = &self.rb.groups[i];
        // Every 256th device hash against the host's (the key was checked by `key`).
        if i.is_multiple_of(256) {
            let key = self.key_checked(g).unwrap_or_default();
            if g.hash != group_hash(g.window, key) {
                self.fail(GpuError::Result(format!(
                    "device group hash {:#x} != group_hash for window {}",
                    g.hash, g.window
                )));
            }
        }
        c.requests += g.requests as u64;
        if c.next != i {
            c.at = self.errors.partition_point(|e| (e.0 as usize) < i);
        }
        c.next = i + 1;
        let mut a = Agg {
            requests: g.requests as u64,
            bytes: g.bytes,
            s4xx: g.s4xx as u64,
            s5xx: g.s5xx as u64,
            errors: Default::default(),
            latency_count: g.lat_count as u64,
            latency_sum_us: g.lat_sum,
        };
        while let Some(&(_, status, n)) = self.errors.get(c.at).filter(|e| e.0 as usize == i) {
            a.add_error(status, n);
            c.at += 1;
        }
        a
    }
}

/// Builds the batch's partial from its readback. The batch is dropped (its buffer back in
/// the pool for the framer) as soon as the rejected lines are cut from it, before the groups'
/// table is built: that build is the long part, and the pool is small.
pub fn partial(mut batch: Batch, c: &Counts, rb: &Sections<'_>) -> Result<Partial, GpuError> {
    let mut p = empty(&mut batch);
    let bytes = batch.bytes();
    let h = &c.header;
    p.lines += h[header::LINES];
    p.records = h[header::RECORDS];
    p.filtered = h[header::FILTERED];
    p.directives = h[header::DIRECTIVES];
    if p.filtered > p.records {
        return Err(GpuError::Result(format!(
            "{} filtered of {} records",
            p.filtered, p.records
        )));
    }
    for code in 0..16u8 {
        let n = h[header::REJECT_COUNTS + code as usize];
        if n > 0 {
            let reason = RejectReason::from_code(code)
                .ok_or_else(|| GpuError::Result(format!("reject code {code}")))?;
            p.reject_counts.add_n(reason, n);
        }
    }
    if p.records > 0 {
        p.max_time = Some(h[header::MAX_TIME] as i64);
    }

    // Rejects, in line order, located in the source.
    let mut rejects = rb.rejects.to_vec();
    rejects.sort_unstable_by_key(|r| r.line);
    p.rejects.reserve(rejects.len());
    for r in &rejects {
        let reason = RejectReason::from_code(r.code as u8)
            .ok_or_else(|| GpuError::Result(format!("reject code {}", r.code)))?;
        let off = r.offset as usize;
        if off > bytes.len() {
            return Err(GpuError::Result(format!(
                "reject offset {off} past the batch"
            )));
        }
        p.rejects.push(Reject::new(
            batch.origin.first_line + r.line as u64,
            batch.origin.offset + off as u64,
            reason,
            raw_line(bytes, off),
        ));
    }
    drop(batch);

    // Groups: key text from the packed arena, hashes as the device computed them (the same
    // function as `group_hash`), and the device made them unique per (window, key), so the
    // table is built without probing or comparing keys, window by window (the windows
    // stage's split then cuts it by slices).
    let keys = rb.keys;
    let errors = counters(rb, &mut p.latency)?;
    let requests = AtomicU64::new(0);
    let bad: Mutex<Option<GpuError>> = Mutex::new(None);
    let rows = Rows {
        rb,
        errors: &errors,
        requests: &requests,
        bad: &bad,
    };
    // The arena is the keys end to end: valid UTF-8 as a whole, and every key starting and
    // ending on a character boundary (checked per group), means every key is valid UTF-8 (the
    // kernel checked them too; this guards the table's invariant for one pass over the arena).
    let (groups, utf8) = rayon::join(
        || GroupTable::from_unique_by_window(&rows, build_piece()),
        || utf8_in_parallel(keys),
    );
    // A failed check is kept and returned after the pass (device results that fail it are a
    // bug, not an input case, so no work is saved on it).
    if let Some(e) = bad.into_inner().ok().flatten() {
        return Err(e);
    }
    utf8?;
    let groups = groups.ok_or_else(|| {
        GpuError::Result("group keys over 4 GiB, or groups read differently twice".into())
    })?;
    let total = requests.into_inner();
    if total != p.records - p.filtered {
        return Err(GpuError::Result(format!(
            "{} records ({} filtered) but groups hold {total} requests",
            p.records, p.filtered
        )));
    }
    p.groups = groups;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::CountOut;
    use logpulse_core::batch::Origin;

    /// A group's key bytes (bounds checked by the caller): from the arena, or `000` for a
    /// status key never assigned.
    #[inline]
    fn group_key<'a>(keys: &'a [u8], g: &GroupOut) -> &'a [u8] {
        if g.key_off == KEY_NONE {
            b"000"
        } else {
            &keys[g.key_off as usize..g.key_off as usize + g.key_len as usize]
        }
    }

    /// A synthetic readback of `n` groups over 3 windows (one keyless in each), every 7th with two
    /// 5xx counters, as the device would lay it out.
    fn readback(n: usize) -> (Vec<GroupOut>, Vec<CountOut>, Vec<u8>) {
        let (mut groups, mut counts, mut keys) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let window = (i % 3) as i64 * 60;
            let (key_off, key_len, key) = if i < 3000 && i % 1000 == 999 {
                (KEY_NONE, 0, b"000".to_vec())
            } else {
                let k = format!("host-{i}.example.édu").into_bytes();
                let off = keys.len() as u32;
                keys.extend_from_slice(&k);
                (off, k.len() as u32, k)
            };
            groups.push(GroupOut {
                hash: group_hash(window, &key),
                window,
                key_off,
                key_len,
                requests: 3 + (i % 5) as u32,
                s4xx: 1,
                s5xx: if i % 7 == 0 { 2 } else { 0 },
                lat_count: 0,
                bytes: 100 * i as u64,
                lat_sum: 0,
            });
            if i % 7 == 0 {
                // Device order within a group, not sorted: the build must sort by status.
                for status in [503u32, 500] {
                    counts.push(CountOut {
                        kind: 1,
                        a: i as u32,
                        b: status,
                        count: 1,
                    });
                }
            }
        }
        (groups, counts, keys)
    }

    /// The tests' readbacks report their latest time as 120.
    fn build(groups: &[GroupOut], counts: &[CountOut], keys: &[u8]) -> Result<Partial, GpuError> {
        crate::synthetic::build_from(groups, counts, keys, 120)
    }

    /// The table built from a readback equals the groups inserted one by one.
    #[test]
    fn partial_from_a_readback_equals_inserting_its_groups() {
        let (groups, counts, keys) = readback(50_000);
        let t = std::time::Instant::now();
        let p = build(&groups, &counts, &keys).expect("valid readback");
        eprintln!(
            "built 50k groups in {:.2} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let mut want = GroupTable::default();
        for g in &groups {
            let key = std::str::from_utf8(group_key(&keys, g)).unwrap();
            let a = want.agg_mut(g.window, key);
            a.requests += g.requests as u64;
            a.bytes += g.bytes;
            a.s4xx += g.s4xx as u64;
            a.s5xx += g.s5xx as u64;
        }
        for c in &counts {
            let g = &groups[c.a as usize];
            let key = std::str::from_utf8(group_key(&keys, g)).unwrap();
            want.agg_mut(g.window, key)
                .add_error(c.b as u16, c.count as u64);
        }
        assert_eq!(p.groups.len(), groups.len());
        let rows = |t: &GroupTable| {
            let mut v: Vec<_> = t
                .iter()
                .map(|(w, k, a)| (w, k.to_string(), a.clone()))
                .collect();
            v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            v
        };
        assert!(rows(&p.groups) == rows(&want), "the built table differs");
        let first_error = p.groups.iter().find(|(_, _, a)| !a.errors.is_empty());
        assert_eq!(
            first_error.map(|e| e.2.errors.to_vec()),
            Some(vec![(500, 1), (503, 1)])
        );
        assert_eq!(p.records, p.lines);
    }

    /// The arena's UTF-8 check, cut into pieces, accepts every valid arena (a piece boundary
    /// near a multi-byte character, also at the very end) and refuses invalid ones.
    #[test]
    fn arena_utf8_check_cuts_between_characters() {
        for pad in [
            UTF8_CHUNK - 3,
            UTF8_CHUNK - 2,
            UTF8_CHUNK - 1,
            UTF8_CHUNK,
            2 * UTF8_CHUNK - 1,
        ] {
            let mut a = vec![b'a'; pad];
            a.extend_from_slice("€".as_bytes());
            assert!(
                utf8_in_parallel(&a).is_ok(),
                "valid, {pad} ASCII bytes then a euro sign"
            );
            a.extend_from_slice(b"xyz\xe2\x82");
            assert!(
                utf8_in_parallel(&a).is_err(),
                "a character cut at the end, {pad}"
            );
            let mut b = vec![b'a'; pad];
            b.extend_from_slice(&[0x80; 5]);
            b.extend_from_slice(b"tail");
            assert!(
                utf8_in_parallel(&b).is_err(),
                "continuation bytes alone, {pad}"
            );
        }
    }

    /// A readback that breaks an invariant is an error, never a wrong table or a panic.
    #[test]
    fn inconsistent_readbacks_are_errors() {
        let (groups, counts, keys) = readback(5_000);
        let mut bad = groups.clone();
        bad[256].hash ^= 1;
        assert!(build(&bad, &counts, &keys).is_err(), "a stale hash");
        let mut bad = groups.clone();
        bad[10].key_len += 10_000_000;
        assert!(build(&bad, &counts, &keys).is_err(), "a key past the arena");
        let mut bad = groups.clone();
        bad[4000].requests += 1;
        let c = crate::synthetic::counts_for(&groups, &counts, &keys, 120);
        let s = Sections {
            groups: &bad,
            counts: &counts,
            windows: &[],
            rejects: &[],
            keys: &keys,
        };
        let r = partial(Batch::from_bytes(0, Vec::new(), Origin::default()), &c, &s);
        assert!(r.is_err(), "requests that do not add up to the records");
        // A key cut inside a multi-byte character.
        let mut bad = groups.clone();
        let e_acute = keys.windows(2).position(|w| w == "é".as_bytes()).unwrap();
        let g = bad
            .iter_mut()
            .find(|g| g.key_off != KEY_NONE && g.key_off as usize + g.key_len as usize > e_acute)
            .unwrap();
        g.key_len = (e_acute + 1 - g.key_off as usize) as u32;
        assert!(
            build(&bad, &counts, &keys).is_err(),
            "a key ending inside a character"
        );
        let mut bad_counts = counts.clone();
        bad_counts[0].a = 1_000_000;
        assert!(
            build(&groups, &bad_counts, &keys).is_err(),
            "an error counter past the groups"
        );
    }
}
