//! The CPU interpreter of a [`LineFormat`]: one line in, a [`Record`] or a reject reason out.
//! The CUDA kernel `kernels/parse_line.cuh` follows this code step by step; change both together.

use super::record::Record;
use super::scan::{find_byte, find_byte2, rfind_byte};
use super::spec::{FieldEnd, FieldKind, LineFormat, Token};
use super::time;
use crate::reject::RejectReason;

/// What one line turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A record was filled in.
    Record,
    /// A directive or header line (counted apart, neither record nor reject).
    Directive,
}

/// Finds the closing quote of a quoted field starting at `b[0]`, honouring `\"` and `\\`.
#[inline]
pub(crate) fn find_quote(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = find_byte2(b'"', b'\\', &b[i..]) {
        let at = i + p;
        if b[at] == b'"' {
            return Some(at);
        }
        i = at + 2; // skip the escaped byte
        if i >= b.len() {
            return None;
        }
    }
    None
}

/// Decimal digits to a number; at most 15 digits (a petabyte), so sums of many values cannot
/// overflow either.
#[inline]
fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 15 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    Some(v)
}

/// A status field: exactly three digits.
#[inline(always)]
pub(crate) fn parse_status(v: &[u8]) -> Result<u16, RejectReason> {
    match *v {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Ok((a - b'0') as u16 * 100 + (b - b'0') as u16 * 10 + (c - b'0') as u16)
        }
        _ => Err(RejectReason::BadStatus),
    }
}

/// A bytes-sent field: digits, or `-` for none.
#[inline(always)]
pub(crate) fn parse_bytes(v: &[u8]) -> Result<u64, RejectReason> {
    if v == b"-" {
        Ok(0)
    } else {
        parse_u64(v).ok_or(RejectReason::BadBytes)
    }
}

/// Seconds with an optional fraction, to microseconds (`0.000033` -> 33).
#[inline]
fn parse_secs_us(b: &[u8]) -> Option<u64> {
    let dot = find_byte(b'.', b).unwrap_or(b.len());
    let int = if dot == 0 { 0 } else { parse_u64(&b[..dot])? };
    let mut frac_us = 0u64;
    if dot < b.len() {
        let f = &b[dot + 1..];
        if f.is_empty() {
            return None;
        }
        let mut scale = 100_000u64;
        for &c in f {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            frac_us += d as u64 * scale;
            scale /= 10;
        }
    }
    int.checked_mul(1_000_000)?.checked_add(frac_us)
}

/// Splits `GET /a?b HTTP/1.1` into method, path, query, protocol. Lenient: a request without
/// protocol, an empty or binary request line still yields what is there.
#[inline]
pub(crate) fn split_request<'a>(req: &'a [u8], rec: &mut Record<'a>) {
    let (method, rest) = match find_byte(b' ', req) {
        Some(p) => (&req[..p], &req[p + 1..]),
        None => (req, &req[req.len()..]),
    };
    rec.method = method;
    let (url, proto) = match rfind_byte(b' ', rest) {
        Some(p) if rest[p + 1..].starts_with(b"HTTP/") => (&rest[..p], &rest[p + 1..]),
        _ => (rest, &rest[rest.len()..]),
    };
    rec.protocol = proto;
    split_url(url, rec);
}

#[inline]
pub(crate) fn split_url<'a>(url: &'a [u8], rec: &mut Record<'a>) {
    // An absolute URI (proxies, ELB: `http://host:80/path`) keeps only its path.
    let url = match absolute_path_start(url) {
        Some(p) => &url[p..],
        None => url,
    };
    match find_byte(b'?', url) {
        Some(q) => {
            rec.path = &url[..q];
            rec.query = &url[q + 1..];
        }
        None => {
            rec.path = url;
            rec.query = &url[url.len()..];
        }
    }
}

/// Where the path starts in an absolute URI `scheme://authority/path`, if `url` is one.
#[inline]
fn absolute_path_start(url: &[u8]) -> Option<usize> {
    if url.first() == Some(&b'/') {
        return None;
    }
    let scheme_end = if url.starts_with(b"http://") {
        7
    } else if url.starts_with(b"https://") {
        8
    } else {
        return None;
    };
    Some(find_byte(b'/', &url[scheme_end..]).map_or(url.len(), |p| scheme_end + p))
}

/// Drops a trailing `:port` from an address (`1.2.3.4:5678`, `[::1]:80`).
#[inline]
fn strip_port(b: &[u8]) -> &[u8] {
    match rfind_byte(b':', b) {
        Some(p) if p + 1 < b.len() && b[p + 1..].iter().all(u8::is_ascii_digit) => {
            let host = &b[..p];
            // A bare IPv6 address has more colons: keep it whole.
            if host.starts_with(b"[") && host.ends_with(b"]") {
                &host[1..host.len() - 1]
            } else if find_byte(b':', host).is_some() {
                b
            } else {
                host
            }
        }
        _ => b,
    }
}

/// Fills `rec` from one field's bytes.
#[inline]
pub(crate) fn assign<'a>(
    kind: FieldKind,
    v: &'a [u8],
    rec: &mut Record<'a>,
) -> Result<(), RejectReason> {
    match kind {
        FieldKind::Skip => {}
        FieldKind::Client => rec.client = v,
        FieldKind::ClientPort => rec.client = strip_port(v),
        FieldKind::Vhost => rec.vhost = v,
        FieldKind::TimeClf => rec.time = time::parse_clf(v).ok_or(RejectReason::BadTime)?,
        FieldKind::TimeEpoch => rec.time = time::parse_epoch(v).ok_or(RejectReason::BadTime)?,
        FieldKind::TimeIso => rec.time = time::parse_iso8601(v).ok_or(RejectReason::BadTime)?,
        FieldKind::Request => split_request(v, rec),
        FieldKind::Method => rec.method = v,
        FieldKind::Url => split_url(v, rec),
        FieldKind::Protocol => rec.protocol = v,
        FieldKind::Query => rec.query = v,
        FieldKind::Status => rec.status = parse_status(v)?,
        FieldKind::Bytes => rec.bytes = parse_bytes(v)?,
        FieldKind::LatencyUs | FieldKind::LatencyMs | FieldKind::LatencySecs => {
            rec.latency_us = if v == b"-" || v == b"-1" {
                None
            } else {
                let us = match kind {
                    FieldKind::LatencyUs => parse_u64(v),
                    FieldKind::LatencyMs => parse_u64(v).and_then(|ms| ms.checked_mul(1000)),
                    _ => parse_secs_us(v),
                };
                Some(us.ok_or(RejectReason::BadLatency)?)
            }
        }
        FieldKind::Referer => rec.referer = v,
        FieldKind::UserAgent => rec.user_agent = v,
        FieldKind::Upstream => rec.upstream = v,
        FieldKind::Date => rec.time += time::parse_date(v).ok_or(RejectReason::BadTime)?,
        FieldKind::TimeOfDay => {
            rec.time += time::parse_time_of_day(v).ok_or(RejectReason::BadTime)?
        }
        FieldKind::TimeSlash => rec.time = time::parse_slash(v).ok_or(RejectReason::BadTime)?,
        FieldKind::LatencySecsAdd => {
            if v != b"-1" && v != b"-" {
                let us = parse_secs_us(v).ok_or(RejectReason::BadLatency)?;
                rec.latency_us = Some(rec.latency_us.unwrap_or(0).saturating_add(us));
            }
        }
        // Handled by the caller, which holds the format's JSON map.
        FieldKind::Json => {}
    }
    Ok(())
}

/// `hay.starts_with(prefix)` without a `memcmp` call: literals are one to a few bytes, and a
/// library call per literal per line cost more than the comparison (measured).
#[inline(always)]
fn has_prefix(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && prefix.iter().zip(hay).all(|(a, b)| a == b)
}

impl LineFormat {
    /// True when `line` is a directive/header line of this format.
    #[inline]
    pub fn is_directive(&self, line: &[u8]) -> bool {
        self.directive_prefixes.iter().any(|p| has_prefix(line, p))
    }

    /// Parses one line (without its newline and `\r`) into `rec`.
    pub fn parse<'a>(
        &self,
        line: &'a [u8],
        rec: &mut Record<'a>,
    ) -> Result<LineKind, RejectReason> {
        if self.is_directive(line) {
            return Ok(LineKind::Directive);
        }
        let line = match &self.skip_through {
            Some(sep) => match memchr::memmem::find(line, sep) {
                Some(p) => &line[p + sep.len()..],
                None => return Err(RejectReason::FormatMismatch),
            },
            None => line,
        };
        let n = self.tokens.len();
        let optional_from = self.optional_from.unwrap_or(n);
        let mut pos = 0usize;
        for (i, tok) in self.tokens.iter().enumerate() {
            if i >= optional_from && pos == line.len() {
                break;
            }
            let rest = &line[pos..];
            match tok {
                Token::Lit(l) => {
                    if has_prefix(rest, l) {
                        pos += l.len();
                    } else if rest.len() < l.len() && l.starts_with(rest) {
                        return Err(RejectReason::Truncated);
                    } else {
                        return Err(RejectReason::FormatMismatch);
                    }
                }
                Token::Field { kind, end } => {
                    // Only optional tokens (or none) follow: the field may run to the line's end.
                    let last = self.tokens[i + 1..].is_empty() || i + 1 >= optional_from;
                    let len = match end {
                        FieldEnd::Byte(b) => match find_byte(*b, rest) {
                            Some(p) => p,
                            None if last => rest.len(),
                            None => return Err(RejectReason::Truncated),
                        },
                        FieldEnd::Quoted => match find_quote(rest) {
                            Some(p) => p,
                            // A quoted last field cut off by truncation: keep what is there.
                            None if i + 2 >= n => {
                                assign(*kind, rest, rec)?;
                                return Ok(LineKind::Record);
                            }
                            None => return Err(RejectReason::Truncated),
                        },
                        FieldEnd::Eol => rest.len(),
                    };
                    if *kind == FieldKind::Json {
                        let map = self.json.as_ref().ok_or(RejectReason::BadJson)?;
                        super::json::extract(&rest[..len], map, rec)?;
                    } else {
                        assign(*kind, &rest[..len], rec)?;
                    }
                    pos += len;
                }
            }
        }
        if pos < line.len() && !self.allow_trailing {
            return Err(RejectReason::FormatMismatch);
        }
        Ok(LineKind::Record)
    }
}

/// True when the line holds bytes no text log has (NUL and other C0 controls but tab/CR/ESC).
pub fn looks_binary(line: &[u8]) -> bool {
    line.iter()
        .any(|&c| c < 0x20 && c != b'\t' && c != b'\r' && c != 0x1b)
}
