//! Byte search for short fields, eight bytes at a time (SWAR).
//!
//! Log fields are mostly 3 to 60 bytes long: `memchr`'s SIMD set-up per call costs more than
//! the search itself there (measured with callgrind: ~140 instructions per call on 80-byte
//! lines). These loops need no set-up and stay branch-light.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that is zero. The lowest set bit is exact (borrows only
/// propagate upwards), which is all the callers use.
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

#[inline(always)]
fn load(hay: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hay[i..i + 8]);
    u64::from_le_bytes(b)
}

/// Position of the first `b` in `hay`.
#[inline(always)]
pub fn find_byte(b: u8, hay: &[u8]) -> Option<usize> {
    let pat = LO.wrapping_mul(b as u64);
    let mut i = 0;
    while i + 8 <= hay.len() {
        let t = zero_bytes(load(hay, i) ^ pat);
        if t != 0 {
            return Some(i + (t.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay[i..].iter().position(|&c| c == b).map(|p| i + p)
}

/// Position of the first `a` or `b` in `hay`.
#[inline(always)]
pub fn find_byte2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let pa = LO.wrapping_mul(a as u64);
    let pb = LO.wrapping_mul(b as u64);
    let mut i = 0;
    while i + 8 <= hay.len() {
        let w = load(hay, i);
        let t = zero_bytes(w ^ pa) | zero_bytes(w ^ pb);
        if t != 0 {
            return Some(i + (t.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay[i..]
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| i + p)
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
        for len in 0..hay.len() {
            let h = &hay[..len];
            for b in [0u8, 1, 7, 14, 128, 250, 255] {
                assert_eq!(find_byte(b, h), memchr::memchr(b, h), "{b} in {len}");
                assert_eq!(find_byte2(b, 14, h), memchr::memchr2(b, 14, h));
                assert_eq!(rfind_byte(b, h), memchr::memrchr(b, h));
            }
        }
    }
}
