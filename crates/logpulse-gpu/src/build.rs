//! Turns a batch's GPU readback into the same [`Partial`] the CPU backend makes.
//!
//! The device sends back numbers only; key texts and rejected lines are read from the host's
//! own copy of the batch, at the offsets the device reported.

use logpulse_core::agg::{group_hash, Agg, GroupTable, Partial};
use logpulse_core::batch::Batch;
use logpulse_core::reject::{Reject, RejectReason, REJECT_KEEP_BYTES};

use crate::error::GpuError;
use rayon::prelude::*;

use crate::layout::{header, GroupOut, KEY_NONE};
use crate::readback::{Counts, Sections};

/// Groups checked per rayon task.
const CHECK_CHUNK: usize = 4096;

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

/// A group's key bytes (bounds checked by the caller): from the arena, or `000` for a status
/// key never assigned.
#[inline]
fn group_key<'a>(keys: &'a [u8], g: &GroupOut) -> &'a [u8] {
    if g.key_off == KEY_NONE {
        b"000"
    } else {
        &keys[g.key_off as usize..g.key_off as usize + g.key_len as usize]
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
    p.directives = h[header::DIRECTIVES];
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
    // table is built without probing or comparing keys.
    let keys = rb.keys;
    // The arena is the keys end to end: valid UTF-8 as a whole, and every key starting and
    // ending on a character boundary, means every key is valid UTF-8 (the kernel checked them
    // too; this guards the table's invariant for one pass over the arena).
    let arena = std::str::from_utf8(keys)
        .map_err(|e| GpuError::Result(format!("key arena is not UTF-8: {e}")))?;
    // Checked on rayon's threads, a chunk of groups each: every key inside the arena on
    // character boundaries, every 256th device hash against the host's, and the requests.
    let check = |(c, chunk): (usize, &[GroupOut])| -> Result<u64, GpuError> {
        let mut total = 0u64;
        for (j, g) in chunk.iter().enumerate() {
            if g.key_off != KEY_NONE {
                let (s, e) = (g.key_off as usize, g.key_off as usize + g.key_len as usize);
                if e > keys.len() || !arena.is_char_boundary(s) || !arena.is_char_boundary(e) {
                    return Err(GpuError::Result(format!(
                        "key at {s}..{e} in a {}-byte arena",
                        keys.len()
                    )));
                }
            }
            // Spot-check the device's hashes against the host's.
            if (c * CHECK_CHUNK + j).is_multiple_of(256)
                && g.hash != group_hash(g.window, group_key(keys, g))
            {
                return Err(GpuError::Result(format!(
                    "device group hash {:#x} != group_hash for window {}",
                    g.hash, g.window
                )));
            }
            total += g.requests as u64;
        }
        Ok(total)
    };
    let total = rb
        .groups
        .par_chunks(CHECK_CHUNK)
        .enumerate()
        .map(check)
        .try_reduce(|| 0, |a, b| Ok(a + b))?;
    if total != p.records {
        return Err(GpuError::Result(format!(
            "{} records but groups hold {total} requests",
            p.records
        )));
    }
    // Error counters by group (stable: a group's statuses keep the device's order).
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
                p.latency
                    .entry(w)
                    .or_default()
                    .add_bucket(c.b as usize, c.count as u64);
            }
            k => return Err(GpuError::Result(format!("counter kind {k}"))),
        }
    }
    errors.sort_by_key(|e| e.0);
    // The table's arena is the device's, whole, plus `000` for a status key never assigned.
    let none_off = keys.len() as u32;
    let mut table_arena = Vec::with_capacity(keys.len() + 3);
    table_arena.extend_from_slice(keys);
    table_arena.extend_from_slice(b"000");
    let errors = &errors[..];
    let row = |i: usize| {
        let g = &rb.groups[i];
        let mut a = Agg {
            requests: g.requests as u64,
            bytes: g.bytes,
            s4xx: g.s4xx as u64,
            s5xx: g.s5xx as u64,
            errors: Vec::new(),
            latency_count: g.lat_count as u64,
            latency_sum_us: g.lat_sum,
        };
        if !errors.is_empty() {
            let from = errors.partition_point(|e| (e.0 as usize) < i);
            for &(_, status, n) in errors[from..].iter().take_while(|e| e.0 as usize == i) {
                a.add_error(status, n);
            }
        }
        let (off, len) = if g.key_off == KEY_NONE {
            (none_off, 3)
        } else {
            (g.key_off, g.key_len)
        };
        (g.hash, g.window, off, len, a)
    };
    let groups = GroupTable::from_unique_arena(table_arena, rb.groups.len(), row);
    p.groups = groups;
    Ok(p)
}
