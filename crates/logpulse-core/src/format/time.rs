//! Timestamp parsing to UTC epoch seconds, without allocation.
//!
//! Written by hand rather than with chrono: the hot path parses tens of millions of stamps a
//! second in one fixed layout each, and the GPU kernels mirror these exact functions.

use std::cell::Cell;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp as i64 + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u32;
    }
    Some(v)
}

/// Month number (1-12) of an English three-letter abbreviation.
#[inline]
pub fn month_from_abbr(m: &[u8]) -> Option<u32> {
    if m.len() != 3 {
        return None;
    }
    let key = (m[0] | 0x20) as u32 | (((m[1] | 0x20) as u32) << 8) | (((m[2] | 0x20) as u32) << 16);
    const fn k(s: &[u8; 3]) -> u32 {
        s[0] as u32 | ((s[1] as u32) << 8) | ((s[2] as u32) << 16)
    }
    const MONTHS: [u32; 12] = [
        k(b"jan"),
        k(b"feb"),
        k(b"mar"),
        k(b"apr"),
        k(b"may"),
        k(b"jun"),
        k(b"jul"),
        k(b"aug"),
        k(b"sep"),
        k(b"oct"),
        k(b"nov"),
        k(b"dec"),
    ];
    MONTHS.iter().position(|&x| x == key).map(|i| i as u32 + 1)
}

fn hms(b: &[u8]) -> Option<i64> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h = digits(&b[0..2])?;
    let mi = digits(&b[3..5])?;
    let s = digits(&b[6..8])?;
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(h as i64 * 3600 + mi as i64 * 60 + s as i64)
}

fn valid_date(y: u32, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && (1..=31).contains(&d) && y >= 1970
}

/// Skips an optional fractional part `.ddd` at the start of `b`; returns what follows.
fn skip_fraction(b: &[u8]) -> Option<&[u8]> {
    if b.first() == Some(&b'.') {
        let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        Some(&b[1 + n..])
    } else {
        Some(b)
    }
}

/// A numeric zone `+hhmm`, `-hhmm` or `+hh:mm` in seconds east of UTC.
fn zone(b: &[u8]) -> Option<i64> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = match b.len() {
        5 => (digits(&b[1..3])?, digits(&b[3..5])?),
        6 if b[3] == b':' => (digits(&b[1..3])?, digits(&b[4..6])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h as i64 * 3600 + m as i64 * 60))
}

/// Apache/NCSA time `01/Jul/1995:00:00:01 -0400` (brackets already removed); the zone and a
/// fractional second (`04:05:24.385`, HAProxy) are optional. Without a zone, UTC is assumed.
///
/// Consecutive lines nearly always share their day and zone, so the usual layout remembers
/// (per thread) the last day-and-zone bytes and their offset, and parses only the time of day
/// when they repeat (callgrind: ~290 -> ~60 instructions a stamp). The outcome is exactly
/// `parse_clf_uncached`'s: every byte that the remembered part depends on is in the key.
pub fn parse_clf(b: &[u8]) -> Option<i64> {
    thread_local! {
        /// (date bytes 0..8, date bytes 8..11 + zone bytes 21..26, their epoch offset);
        /// no stamp's bytes are all zero, so the initial key never matches.
        static LAST_DAY: Cell<(u64, u64, i64)> = const { Cell::new((0, 0, 0)) };
    }
    let fixed = match <&[u8; 26]>::try_from(b) {
        Ok(f) if f[11] == b':' && f[20] == b' ' => f,
        _ => return parse_clf_uncached(b),
    };
    let mut lo = [0u8; 8];
    lo.copy_from_slice(&fixed[..8]);
    let mut hi = [0u8; 8];
    hi[..3].copy_from_slice(&fixed[8..11]);
    hi[3..].copy_from_slice(&fixed[21..26]);
    let key = (u64::from_le_bytes(lo), u64::from_le_bytes(hi));
    let t = hms(&fixed[12..20])?;
    let (k0, k1, base) = LAST_DAY.get();
    if (k0, k1) == key {
        return Some(base + t);
    }
    let full = parse_clf_uncached(b)?;
    LAST_DAY.set((key.0, key.1, full - t));
    Some(full)
}

/// [`parse_clf`] without the remembered day.
fn parse_clf_uncached(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' {
        return None;
    }
    let d = digits(&b[0..2])?;
    let m = month_from_abbr(&b[3..6])?;
    let y = digits(&b[7..11])?;
    let t = hms(&b[12..20])?;
    if !valid_date(y, m, d) {
        return None;
    }
    let rest = skip_fraction(&b[20..])?;
    let off = match rest {
        [] => 0,
        [b' ', z @ ..] => zone(z)?,
        _ => return None,
    };
    Some(days_from_civil(y as i64, m, d) * 86_400 + t - off)
}

/// ISO 8601 / RFC 3339 `2015-03-08T16:35:33.465313Z`, `2021-05-06T00:00:11+00:00`; a space may
/// replace the `T`; the zone is optional (UTC).
pub fn parse_iso8601(b: &[u8]) -> Option<i64> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let y = digits(&b[0..4])?;
    let m = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let t = hms(&b[11..19])?;
    if !valid_date(y, m, d) {
        return None;
    }
    let rest = skip_fraction(&b[19..])?;
    let off = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        z => zone(z)?,
    };
    Some(days_from_civil(y as i64, m, d) * 86_400 + t - off)
}

/// A date `2015-10-17`, as seconds since the epoch at its midnight (UTC).
pub fn parse_date(b: &[u8]) -> Option<i64> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if !valid_date(y, m, d) {
        return None;
    }
    Some(days_from_civil(y as i64, m, d) * 86_400)
}

/// A time of day `16:27:13` (optional fraction), in seconds.
pub fn parse_time_of_day(b: &[u8]) -> Option<i64> {
    if b.len() < 8 || !skip_fraction(&b[8..])?.is_empty() {
        return None;
    }
    hms(&b[..8])
}

/// `2024/01/23 23:27:57.060` (Caddy's console encoder), taken as UTC.
pub fn parse_slash(b: &[u8]) -> Option<i64> {
    if b.len() < 19 || b[4] != b'/' || b[7] != b'/' || b[10] != b' ' {
        return None;
    }
    let mut iso = [0u8; 19];
    iso.copy_from_slice(&b[..19]);
    iso[4] = b'-';
    iso[7] = b'-';
    let secs = parse_iso8601(&iso)?;
    skip_fraction(&b[19..])?.is_empty().then_some(secs)
}

/// Epoch seconds, optionally with a fraction (`804571201`, `1620259211.123`).
pub fn parse_epoch(b: &[u8]) -> Option<i64> {
    // Up to 13 leading digits (more is not a time); the first eight in one step when they
    // are all digits, as in every real epoch (callgrind: ~107 -> ~40 instructions a field).
    let (mut v, mut i) = match eight_digits(b) {
        Some(v) => (v as i64, 8),
        None => (0, 0),
    };
    while i < b.len() && i <= 12 {
        let d = b[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + d as i64;
        i += 1;
    }
    if i == 0 || i > 12 {
        return None;
    }
    if i < b.len() {
        let frac = b.get(i + 1..)?;
        if b[i] != b'.' || frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    Some(v)
}

/// The value of eight ASCII digits, or `None` when one of the bytes is not a digit (SWAR:
/// one word instead of eight multiply-adds).
#[inline(always)]
pub(crate) fn eight_digits(b: &[u8]) -> Option<u64> {
    const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let mut word = [0u8; 8];
    word.copy_from_slice(b.get(..8)?);
    let w = u64::from_le_bytes(word);
    // A digit is 0x30..=0x39: high nibble 3, and still 3 after adding 6. A byte >= 0xFA,
    // whose +6 carries into the next byte, already fails the first test.
    if w & NIBBLES != ZEROS || w.wrapping_add(0x0606_0606_0606_0606) & NIBBLES != ZEROS {
        return None;
    }
    // Pairs, then fours, then the eight (the first digit is the lowest byte).
    let v = w - ZEROS;
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let lo = (v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let hi = ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    Some(lo.wrapping_add(hi) >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_digits_agrees_with_the_loop() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for n in 0..200_000u32 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut b = (seed >> 8).to_le_bytes();
            // Mostly digits, sometimes any byte (including the ones around '0'..'9').
            for (k, c) in b.iter_mut().enumerate() {
                if !(n as usize + k).is_multiple_of(11) {
                    *c = b'0' + *c % 10;
                }
            }
            let expect = b.iter().try_fold(0u64, |v, &c| {
                c.is_ascii_digit().then(|| v * 10 + (c - b'0') as u64)
            });
            assert_eq!(eight_digits(&b), expect, "{b:?}");
        }
        assert_eq!(eight_digits(b"12345678"), Some(12_345_678));
        assert_eq!(eight_digits(b"99999999"), Some(99_999_999));
        assert_eq!(eight_digits(b"1234567/"), None);
        assert_eq!(eight_digits(b":2345678"), None);
        assert_eq!(eight_digits(b"1234"), None);
    }

    #[test]
    fn epochs() {
        assert_eq!(parse_epoch(b"804571201"), Some(804_571_201));
        assert_eq!(parse_epoch(b"1620259211.123"), Some(1_620_259_211));
        assert_eq!(parse_epoch(b"12"), Some(12));
        assert_eq!(parse_epoch(b"1234567890123"), None);
        assert_eq!(parse_epoch(b"123456789012"), Some(123_456_789_012));
        assert_eq!(parse_epoch(b"80457120x"), None);
        assert_eq!(parse_epoch(b"8045712.1"), Some(8_045_712));
        assert_eq!(parse_epoch(b"804571201."), None);
        assert_eq!(parse_epoch(b""), None);
    }

    #[test]
    fn remembered_clf_days_change_nothing() {
        let stamps: [&[u8]; 12] = [
            b"01/Jul/1995:00:00:01 -0400",
            b"01/Jul/1995:00:00:02 -0400",
            b"01/Jul/1995:23:59:60 -0400",
            b"01/Jul/1995:24:00:00 -0400",
            b"01/Jul/1995:00:00:01 +0400",
            b"02/Jul/1995:00:00:01 -0400",
            b"01/Jul/1995:00:00:01 -04:0",
            b"01/Jul/1995 00:00:01 -0400",
            b"01/Jul/1995:00:00:01x-0400",
            b"32/Jul/1995:00:00:01 -0400",
            b"01/Jul/1995:00:0a:01 -0400",
            b"01/Jul/1995:00:00:01.5 -0400",
        ];
        // Every order of pairs, so each stamp follows each other one.
        for a in stamps {
            for b in stamps {
                for s in [a, b, a] {
                    assert_eq!(
                        parse_clf(s),
                        parse_clf_uncached(s),
                        "{}",
                        String::from_utf8_lossy(s)
                    );
                }
            }
        }
    }

    #[test]
    fn clf_with_zone() {
        // 01/Jul/1995:00:00:01 -0400 is 04:00:01 UTC = 804571201 (the NASA TSV has the same).
        assert_eq!(parse_clf(b"01/Jul/1995:00:00:01 -0400"), Some(804_571_201));
        assert_eq!(
            parse_clf(b"17/May/2015:10:05:03 +0000"),
            Some(1_431_857_103)
        );
        assert_eq!(parse_clf(b"02/Feb/2012:04:05:24.385"), Some(1_328_155_524));
        assert_eq!(parse_clf(b"32/Jul/1995:00:00:01 -0400"), None);
        assert_eq!(parse_clf(b"01/Jux/1995:00:00:01 -0400"), None);
        assert_eq!(parse_clf(b"01/Jul/1995:00:00:01 -04"), None);
    }

    #[test]
    fn iso_and_epoch() {
        assert_eq!(
            parse_iso8601(b"2015-03-08T16:35:33.465313Z"),
            Some(1_425_832_533)
        );
        assert_eq!(
            parse_iso8601(b"2015-03-08T17:35:33+01:00"),
            Some(1_425_832_533)
        );
        assert_eq!(parse_epoch(b"804571201"), Some(804_571_201));
        assert_eq!(parse_epoch(b"1620259211.123"), Some(1_620_259_211));
        assert_eq!(parse_epoch(b"12a"), None);
        assert_eq!(parse_epoch(b""), None);
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 9_000, 20_000, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_rfc3339(804_571_201), "1995-07-01T04:00:01Z");
    }
}
