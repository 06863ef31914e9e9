//! The group hash shared by every table, backend and the CUDA kernels, and key equality.

const HASH_SEED: u64 = 0x6c6f_6770_756c_7365;
const HASH_K0: u64 = 0x9E37_79B9_7F4A_7C15;
const HASH_K1: u64 = 0xff51_afd7_ed55_8ccd;
const HASH_K2: u64 = 0xc4ce_b9fe_1a85_ec53;

/// splitmix64's finaliser.
#[inline(always)]
fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[inline(always)]
fn hash_round(h: u64, v: u64) -> u64 {
    let h = (h ^ v).wrapping_mul(HASH_K1);
    h ^ (h >> 32)
}

/// Hash of a group: the key's bytes mixed with its window. Fixed forever within a run (tables
/// built on different threads, machines or GPUs agree, so stored hashes stay valid when
/// tables are merged), and computed identically by the CUDA kernels (`lp_key_hash` in
/// `crates/logpulse-gpu/kernels/aggregate.cu`: change both together): 8-byte little-endian
/// words (the last one zero-padded), one multiply-xorshift round each (a bijection of the
/// state), the length, then splitmix64's finaliser. Never 0 (the GPU's empty-slot tag).
#[inline]
pub fn group_hash(window: i64, key: &[u8]) -> u64 {
    let mut h = HASH_SEED ^ (window as u64).wrapping_mul(HASH_K0);
    let mut words = key.chunks_exact(8);
    for w in &mut words {
        h = hash_round(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        // The remainder as a zero-padded little-endian word: for keys of 8 bytes or more,
        // the top bytes of the key's last 8 (one load instead of a byte loop; same value).
        let v = match key.last_chunk::<8>() {
            Some(last) => u64::from_le_bytes(*last) >> (8 * (8 - rest.len())),
            None => rest
                .iter()
                .enumerate()
                .fold(0u64, |v, (i, &b)| v | (b as u64) << (8 * i)),
        };
        h = hash_round(h, v);
    }
    h ^= (key.len() as u64).wrapping_mul(HASH_K2);
    match mix64(h) {
        0 => 1,
        h => h,
    }
}

/// Byte equality inlined for short keys (host names): a libc `memcmp` call per probe costs
/// more than the comparison itself.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i + 8 <= a.len() {
        let x = u64::from_ne_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        let y = u64::from_ne_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if x != y {
            return false;
        }
        i += 8;
    }
    if i == a.len() {
        return true;
    }
    // The last partial word: the final 8 bytes of both (overlapping the words compared),
    // else (keys under 8 bytes) byte by byte.
    match (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(x), Some(y)) => x == y,
        _ => a[i..].iter().zip(&b[i..]).all(|(x, y)| x == y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_eq_is_slice_equality() {
        let base: Vec<u8> = (0..40u8).collect();
        for len in 0..base.len() {
            let a = &base[..len];
            assert!(bytes_eq(a, a));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x40;
                assert!(!bytes_eq(a, &b), "{len} {at}");
            }
            assert!(!bytes_eq(a, &base[..len + 1]));
        }
    }

    #[test]
    fn group_hash_equals_its_byte_by_byte_definition() {
        // The definition in the doc comment, written plainly (what lp_key_hash computes).
        fn reference(window: i64, key: &[u8]) -> u64 {
            let mut h = HASH_SEED ^ (window as u64).wrapping_mul(HASH_K0);
            for w in key.chunks(8) {
                let v = w
                    .iter()
                    .enumerate()
                    .fold(0u64, |v, (i, &b)| v | (b as u64) << (8 * i));
                h = hash_round(h, v);
            }
            h ^= (key.len() as u64).wrapping_mul(HASH_K2);
            match mix64(h) {
                0 => 1,
                h => h,
            }
        }
        let bytes: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..bytes.len() {
            for w in [0i64, 60, -60, 804_571_200] {
                assert_eq!(
                    group_hash(w, &bytes[..len]),
                    reference(w, &bytes[..len]),
                    "{len}"
                );
            }
        }
    }
}
