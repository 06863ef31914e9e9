//! Byte search for short fields, sixteen bytes at a time.
//!
//! Log fields are mostly 3 to 60 bytes long: `memchr`'s set-up per call costs more than the
//! search itself there (measured with callgrind: ~140 instructions per call on 80-byte lines).
//! These loops need no set-up. On x86_64 a step is one SSE2 compare of 16 bytes (SSE2 is part
//! of the x86_64 baseline, so no run-time detection); the last partial step re-reads the
//! haystack's final 16 bytes and drops the bytes already seen. Elsewhere a step is two words
//! of SWAR. [`Positions`] finds all of a line's separators in one such pass. Callgrind, 300k
//! NASA TSV lines: the whole TSV line parser went from 616 to 311 instructions a line (with
//! the SWAR epoch digits of `time.rs`).

/// Bit `j` set when `chunk[j]` is `a` or `b` (pass `a == b` for one byte).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mask16(a: u8, b: u8, chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is always there on x86_64, and the unaligned load reads exactly the 16
    // bytes `chunk` borrows.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let eq = _mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(a as i8)),
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8)),
        );
        _mm_movemask_epi8(eq) as u32
    }
}

/// [`mask16`] elsewhere.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn mask16(a: u8, b: u8, chunk: &[u8; 16]) -> u32 {
    mask16_swar(a, b, chunk)
}

/// Bit `j` set when `chunk[j]` is `a` or `b` (SWAR: exact per byte, no borrow between bytes).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn mask16_swar(a: u8, b: u8, chunk: &[u8; 16]) -> u32 {
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let zero_bytes = |w: u64| !(((w & LO7).wrapping_add(LO7)) | w | LO7);
    let half = |h: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(h);
        let w = u64::from_le_bytes(word);
        let m = zero_bytes(w ^ (0x0101_0101_0101_0101 * a as u64))
            | zero_bytes(w ^ (0x0101_0101_0101_0101 * b as u64));
        // The high bit of byte k to bit k.
        ((m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    };
    half(&chunk[..8]) | half(&chunk[8..]) << 8
}

/// Position of the first `a` or `b` in `hay[from..]`, as an index into `hay`. The search may
/// read the bytes before `from`: the final partial step loads `hay`'s last 16 bytes.
#[inline(always)]
fn find_either(a: u8, b: u8, hay: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = hay.get(i..).and_then(<[u8]>::first_chunk::<16>) {
        let m = mask16(a, b, chunk);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    if i >= hay.len() {
        return None;
    }
    let m = tail_mask(a, b, hay, i);
    (m != 0).then(|| i + m.trailing_zeros() as usize)
}

/// Bit `j` set when `hay[i + j]` is `a` or `b`, for the fewer than 16 bytes from `i` to the
/// end: the final 16 bytes less the ones before `i` (already searched, or before the start),
/// or byte by byte when `hay` is shorter than 16.
#[inline(always)]
fn tail_mask(a: u8, b: u8, hay: &[u8], i: usize) -> u32 {
    match hay.last_chunk::<16>() {
        Some(last) => mask16(a, b, last) >> (16 - (hay.len() - i)),
        None => hay[i..]
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c == a || c == b)
            .fold(0, |m, (j, _)| m | 1 << j),
    }
}

/// Position of the first `b` in `hay[from..]`, as an index into `hay` (see `find_either`:
/// searching from a position in the whole line is cheaper than searching a short rest).
#[inline(always)]
pub fn find_byte_from(b: u8, hay: &[u8], from: usize) -> Option<usize> {
    find_either(b, b, hay, from)
}

/// The positions of one byte in a line, in order, found 64 bytes at a time: a line's
/// separators cost one pass of 16-byte compares and a bit scan each, not a search each.
pub struct Positions<'a> {
    hay: &'a [u8],
    b: u8,
    /// Start of the 64 bytes `mask` covers.
    base: usize,
    /// The positions not yet returned, as bits from `base`.
    mask: u64,
}

impl<'a> Positions<'a> {
    /// The positions of `b` in `hay`.
    #[inline(always)]
    pub fn new(b: u8, hay: &'a [u8]) -> Self {
        Positions {
            hay,
            b,
            base: 0,
            mask: mask64(b, hay, 0),
        }
    }

    /// The next position, if any.
    #[inline(always)]
    pub fn next_pos(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 64;
            if self.base >= self.hay.len() {
                return None;
            }
            self.mask = mask64(self.b, self.hay, self.base);
        }
        let p = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(p)
    }
}

/// Bit `j` set when `hay[at + j]` is `b`, for the up to 64 bytes from `at`.
#[inline(always)]
fn mask64(b: u8, hay: &[u8], at: usize) -> u64 {
    let mut m = 0u64;
    for k in 0..4 {
        let i = at + 16 * k;
        if let Some(chunk) = hay.get(i..).and_then(<[u8]>::first_chunk::<16>) {
            m |= (mask16(b, b, chunk) as u64) << (16 * k);
            continue;
        }
        if i < hay.len() {
            m |= (tail_mask(b, b, hay, i) as u64) << (16 * k);
        }
        break;
    }
    m
}

/// Position of the first `b` in `hay`.
#[inline(always)]
pub fn find_byte(b: u8, hay: &[u8]) -> Option<usize> {
    find_either(b, b, hay, 0)
}

/// Position of the first `a` or `b` in `hay`.
#[inline(always)]
pub fn find_byte2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    find_either(a, b, hay, 0)
}

/// Position of the last `b` in `hay`.
#[inline(always)]
pub fn rfind_byte(b: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().rposition(|&c| c == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_memchr() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        for start in 0..20 {
            for len in start..hay.len() {
                let h = &hay[start..len];
                for b in [0u8, 1, 7, 14, 128, 250, 255] {
                    assert_eq!(
                        find_byte(b, h),
                        memchr::memchr(b, h),
                        "{b} in {start}..{len}"
                    );
                    assert_eq!(find_byte2(b, 14, h), memchr::memchr2(b, 14, h));
                    assert_eq!(rfind_byte(b, h), memchr::memrchr(b, h));
                    for from in 0..h.len().min(40) {
                        let expect = memchr::memchr(b, &h[from..]).map(|p| p + from);
                        assert_eq!(find_byte_from(b, h, from), expect, "{b} from {from}");
                    }
                }
            }
        }
    }

    #[test]
    fn swar_mask_agrees_with_a_byte_loop() {
        let mut seed = 7u64;
        for _ in 0..20_000 {
            let mut chunk = [0u8; 16];
            for c in chunk.iter_mut() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                *c = [b'\t', b' ', b'"', 0, 0x80, 0xFF, (seed >> 33) as u8]
                    [(seed >> 60) as usize % 7];
            }
            for (a, b) in [(b'\t', b'\t'), (b'"', b'\\'), (0, 0xFF), (0x80, b' ')] {
                let expect = (0..16)
                    .filter(|&j| chunk[j] == a || chunk[j] == b)
                    .map(|j| 1u32 << j)
                    .sum::<u32>();
                assert_eq!(mask16_swar(a, b, &chunk), expect, "{chunk:?}");
                assert_eq!(mask16(a, b, &chunk), expect);
            }
        }
    }

    #[test]
    fn positions_are_every_match_in_order() {
        let hay: Vec<u8> = (0..300u32)
            .map(|i| [b'\t', b'a', b'b'][(i * i % 7 % 3) as usize])
            .collect();
        for start in 0..5 {
            for len in start..hay.len() {
                let h = &hay[start..len];
                let mut p = Positions::new(b'\t', h);
                let got: Vec<usize> = std::iter::from_fn(|| p.next_pos()).collect();
                let expect: Vec<usize> = memchr::memchr_iter(b'\t', h).collect();
                assert_eq!(got, expect, "{start}..{len}");
            }
        }
    }

    #[test]
    fn every_position_of_a_tab() {
        for len in 0..70 {
            for at in 0..len {
                let mut h = vec![b'a'; len];
                h[at] = b'\t';
                assert_eq!(find_byte(b'\t', &h), Some(at), "{at} of {len}");
                h[at] = 0xFF;
                assert_eq!(find_byte(b'\t', &h), None);
                assert_eq!(find_byte2(b'"', 0xFF, &h), Some(at));
            }
        }
    }
}
