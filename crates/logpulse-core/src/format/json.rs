//! A small JSON scanner that pulls the mapped fields of one object into a [`Record`], borrowing
//! raw values from the line (strings keep their escapes).
//!
//! Written by hand rather than with serde_json: records borrow from the batch (no allocation
//! per line), only a dozen paths of a large object are wanted, and the GPU backend needs the
//! same small state machine.

use super::record::Record;
use super::spec::{FieldKind, JsonMap};
use crate::reject::RejectReason;

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 32;

struct Scanner<'a, 'm> {
    b: &'a [u8],
    i: usize,
    map: &'m JsonMap,
    path: Vec<&'a [u8]>,
    /// (map entry index, kind, raw value) of every matched value.
    found: Vec<(usize, FieldKind, &'a [u8])>,
}

impl<'a> Scanner<'a, '_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// A string starting at the opening quote; returns its raw contents.
    fn string(&mut self) -> Result<&'a [u8], RejectReason> {
        self.i += 1;
        let start = self.i;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'"' => {
                    let s = &self.b[start..self.i];
                    self.i += 1;
                    return Ok(s);
                }
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
        Err(RejectReason::BadJson)
    }

    fn matched(&self) -> Option<(usize, FieldKind)> {
        self.map
            .fields
            .iter()
            .position(|(p, _)| {
                p.len() == self.path.len()
                    && p.iter().zip(&self.path).all(|(a, b)| a.as_bytes() == *b)
            })
            .map(|i| (i, self.map.fields[i].1))
    }

    fn take(&mut self, m: (usize, FieldKind), raw: &'a [u8]) {
        self.found.push((m.0, m.1, raw));
    }

    fn value(&mut self, depth: usize) -> Result<(), RejectReason> {
        if depth > MAX_DEPTH {
            return Err(RejectReason::BadJson);
        }
        self.ws();
        match self.peek().ok_or(RejectReason::BadJson)? {
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(RejectReason::BadJson);
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return Err(RejectReason::BadJson);
                    }
                    self.i += 1;
                    self.path.push(key);
                    self.value(depth + 1)?;
                    self.path.pop();
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(RejectReason::BadJson),
                    }
                }
            }
            b'[' => {
                // A mapped array (a header's values) yields its first string.
                let want = self.matched();
                self.i += 1;
                let mut first = true;
                loop {
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        return Ok(());
                    }
                    if first && self.peek() == Some(b'"') {
                        let s = self.string()?;
                        if let Some(k) = want {
                            self.take(k, s);
                        }
                    } else {
                        // Nested values are never matched: hide them under a marker segment.
                        self.path.push(b"[]");
                        self.value(depth + 1)?;
                        self.path.pop();
                    }
                    first = false;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(RejectReason::BadJson),
                    }
                }
            }
            b'"' => {
                let s = self.string()?;
                if let Some(k) = self.matched() {
                    self.take(k, s);
                }
                Ok(())
            }
            _ => {
                let start = self.i;
                while self.i < self.b.len()
                    && !matches!(
                        self.b[self.i],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'
                    )
                {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(RejectReason::BadJson);
                }
                let raw = &self.b[start..self.i];
                if let Some(k) = self.matched() {
                    self.take(k, raw);
                }
                Ok(())
            }
        }
    }
}

/// Reads the mapped fields of the JSON object `json` into `rec`. The object must hold a client
/// and a status; values are parsed like the same fields of text formats.
pub fn extract<'a>(
    json: &'a [u8],
    map: &JsonMap,
    rec: &mut Record<'a>,
) -> Result<(), RejectReason> {
    let mut s = Scanner {
        b: json,
        i: 0,
        map,
        path: Vec::with_capacity(8),
        found: Vec::with_capacity(map.fields.len()),
    };
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(RejectReason::BadJson);
    }
    s.value(0)?;
    // The earliest map entry wins for each field, whatever the document order; for one entry
    // found twice (a repeated key), the first in the document (a stable sort: the GPU scanner
    // keeps the same one).
    s.found.sort_by_key(|f| f.0);
    let mut assigned = 0u64;
    for (_, kind, raw) in s.found {
        let bit = 1u64 << (kind as u64);
        if assigned & bit == 0 {
            assigned |= bit;
            super::line::assign(kind, raw, rec)?;
        }
    }
    let client = (1u64 << FieldKind::Client as u64) | (1u64 << FieldKind::ClientPort as u64);
    if assigned & client == 0 || assigned & (1u64 << FieldKind::Status as u64) == 0 {
        return Err(RejectReason::BadJson);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caddy_map() -> JsonMap {
        JsonMap::parse(
            "client=request.client_ip,client=request.remote_ip,method=request.method,uri=request.uri,\
             protocol=request.proto,host=request.host,status=status,bytes=size,duration=duration,\
             time=ts,user_agent=request.headers.User-Agent,referer=request.headers.Referer",
        )
        .unwrap()
    }

    #[test]
    fn caddy_object() {
        let line = br#"{"level":"info","ts":1706052477.06,"request":{"remote_ip":"::1","client_ip":"10.0.0.1","proto":"HTTP/1.1","method":"GET","host":"localhost:2080","uri":"/a?b=1","headers":{"User-Agent":["curl/8.5.0"],"Sec-Ch-Ua":["\"x\""],"Authorization":[]}},"duration":0.001244597,"size":84,"status":204}"#;
        let mut rec = Record::default();
        extract(line, &caddy_map(), &mut rec).unwrap();
        assert_eq!(rec.client, b"10.0.0.1");
        assert_eq!(rec.method, b"GET");
        assert_eq!((rec.path, rec.query), (&b"/a"[..], &b"b=1"[..]));
        assert_eq!(rec.status, 204);
        assert_eq!(rec.bytes, 84);
        assert_eq!(rec.latency_us, Some(1244));
        assert_eq!(rec.time, 1_706_052_477);
        assert_eq!(rec.user_agent, b"curl/8.5.0");
        assert_eq!(rec.vhost, b"localhost:2080");
    }

    #[test]
    fn malformed_or_incomplete_objects_are_rejected() {
        let m = caddy_map();
        for bad in [
            &b"{"[..],
            b"[1,2]",
            b"{\"status\":200}",
            b"{\"request\":{\"remote_ip\":\"a\"},\"status\":}",
            b"not json",
        ] {
            let mut rec = Record::default();
            assert_eq!(
                extract(bad, &m, &mut rec),
                Err(RejectReason::BadJson),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
