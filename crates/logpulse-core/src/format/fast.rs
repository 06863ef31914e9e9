//! Straight-line parsers for the hottest presets (the notebook's NASA TSV, NCSA common and
//! combined), chosen when a format *is* one of them: the same outcome as the interpreter in
//! `line.rs` on every line — same record, same reject reason — without its per-token
//! dispatch, which profiling showed to be most of the CPU backend's parsing cost (callgrind,
//! 300k TSV lines: ~1,370 instructions a line in `LineFormat::parse`).
//!
//! Each function below is the interpreter's walk over that preset's program, unrolled: a field
//! ending at a byte is a search for it (a miss is `Truncated`, or the end of the line for the
//! last field), a literal after such a field can only fail for the bytes after the first, and
//! errors come in the order the program would meet them. `fast_parsers_equal_the_interpreter`
//! and the GPU crate's `parser_on_host` test check the equivalence line by line.

use super::line::{self, find_quote, parse_bytes, parse_status, split_url, LineKind};
use super::presets;
use super::record::{KeyField, Record};
use super::scan::{find_byte_from, Positions};
use super::spec::LineFormat;
use super::time::{parse_clf, parse_epoch};
use crate::reject::RejectReason;

/// A line parser for one format: a straight-line one for a preset that has it, else the
/// format's interpreter.
#[derive(Debug, Clone, Copy)]
pub struct LineParser<'f> {
    format: &'f LineFormat,
    fast: Fast,
    /// Split the request / URL into method, path, query and protocol. Only a grouping by
    /// path or method reads them, and splitting never rejects a line, so the reference job
    /// (by client) skips it: ~10% of parsing a CLF line.
    split_request: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fast {
    None,
    NasaTsv,
    Common,
    Combined,
}

impl<'f> LineParser<'f> {
    /// The parser for `format` (compares it with the presets: build it once per batch or
    /// piece, not per line).
    pub fn new(format: &'f LineFormat) -> Self {
        let fast = if *format == presets::nasa_tsv() {
            Fast::NasaTsv
        } else if *format == presets::common() {
            Fast::Common
        } else if *format == presets::combined() {
            Fast::Combined
        } else {
            Fast::None
        };
        LineParser {
            format,
            fast,
            split_request: true,
        }
    }

    /// The parser for `format` when only `key`'s field and the measures (time, status, bytes,
    /// latency) are read from the records: the request line is not split unless `key` needs it.
    pub fn for_key(format: &'f LineFormat, key: KeyField) -> Self {
        Self::with_request_split(format, key.reads_request())
    }

    /// The parser for `format`, splitting the request line into method, path, query and
    /// protocol only when `split` (something reads those parts: the key, a filter).
    pub fn with_request_split(format: &'f LineFormat, split: bool) -> Self {
        LineParser {
            split_request: split,
            ..Self::new(format)
        }
    }

    /// True when a straight-line parser serves this format.
    pub fn is_fast(&self) -> bool {
        self.fast != Fast::None
    }

    /// Parses one line (without its newline and `\r`), as [`LineFormat::parse`] does.
    #[inline]
    pub fn parse<'a>(
        &self,
        line: &'a [u8],
        rec: &mut Record<'a>,
    ) -> Result<LineKind, RejectReason> {
        match self.fast {
            Fast::NasaTsv => nasa_tsv(line, rec, self.split_request),
            Fast::Common => clf(line, rec, false, self.split_request),
            Fast::Combined => clf(line, rec, true, self.split_request),
            Fast::None => self.format.parse(line, rec),
        }
    }
}

/// A literal whose first byte is known to be there (the end byte of the field before it):
/// the interpreter's `Lit` step for the bytes after it.
#[inline(always)]
fn lit_tail<'a>(rest: &'a [u8], tail: &[u8]) -> Result<&'a [u8], RejectReason> {
    if rest.len() >= tail.len() && rest[..tail.len()] == *tail {
        Ok(&rest[tail.len()..])
    } else if rest.len() < tail.len() && tail.starts_with(rest) {
        Err(RejectReason::Truncated)
    } else {
        Err(RejectReason::FormatMismatch)
    }
}

/// A position in a line, for formats with several kinds of separator (CLF: spaces, brackets,
/// quotes); [`Fields`] serves the one-separator TSV. Its searches may read the bytes before
/// the position, so a short last field costs one 16-byte step, not a byte loop over what is
/// left (callgrind: ~50 instructions a line).
struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A field ending at `sep` that is not the program's last: its bytes; the cursor moves
    /// past the separator (the one-byte literal after the field cannot fail once found).
    #[inline(always)]
    fn upto(&mut self, sep: u8) -> Result<&'a [u8], RejectReason> {
        let p = find_byte_from(sep, self.line, self.pos).ok_or(RejectReason::Truncated)?;
        let v = &self.line[self.pos..p];
        self.pos = p + 1;
        Ok(v)
    }

    /// The last field: to the next `sep` or the end of the line; the cursor moves to its end.
    #[inline(always)]
    fn last(&mut self, sep: u8) -> &'a [u8] {
        let end = find_byte_from(sep, self.line, self.pos).unwrap_or(self.line.len());
        let v = &self.line[self.pos..end];
        self.pos = end;
        v
    }

    /// The rest of a literal whose first byte ended the field before (see [`lit_tail`]).
    #[inline(always)]
    fn lit(&mut self, tail: &[u8]) -> Result<(), RejectReason> {
        lit_tail(self.rest(), tail)?;
        self.pos += tail.len();
        Ok(())
    }

    /// A quoted field's bytes up to its closing quote (`None`: no closing quote); the cursor
    /// moves past the quote.
    #[inline(always)]
    fn quoted(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest();
        let p = find_quote(rest)?;
        self.pos += p + 1;
        Some(&rest[..p])
    }

    /// What is left of the line.
    #[inline(always)]
    fn rest(&self) -> &'a [u8] {
        &self.line[self.pos..]
    }
}

/// The fields of a line between one separator, each cut at the next separator (all of the
/// line's separators are found in one pass; see [`Positions`]).
struct Fields<'a> {
    line: &'a [u8],
    seps: Positions<'a>,
    start: usize,
}

impl<'a> Fields<'a> {
    fn new(sep: u8, line: &'a [u8]) -> Self {
        Fields {
            line,
            seps: Positions::new(sep, line),
            start: 0,
        }
    }

    /// The next field that is not the program's last (its separator missing: `Truncated`).
    #[inline(always)]
    fn next(&mut self) -> Result<&'a [u8], RejectReason> {
        let p = self.seps.next_pos().ok_or(RejectReason::Truncated)?;
        let v = &self.line[self.start..p];
        self.start = p + 1;
        Ok(v)
    }

    /// The last field: to the next separator or the end of the line.
    #[inline(always)]
    fn last(&mut self) -> &'a [u8] {
        let end = self.seps.next_pos().unwrap_or(self.line.len());
        &self.line[self.start..end]
    }
}

/// `host logname time method url response bytes` with tabs, a header line, an optional
/// trailing tab and anything after it ignored (`presets::nasa_tsv`).
fn nasa_tsv<'a>(
    line: &'a [u8],
    rec: &mut Record<'a>,
    split_request: bool,
) -> Result<LineKind, RejectReason> {
    if line.starts_with(b"host\tlogname\t") {
        return Ok(LineKind::Directive);
    }
    let mut f = Fields::new(b'\t', line);
    rec.client = f.next()?;
    f.next()?;
    rec.time = parse_epoch(f.next()?).ok_or(RejectReason::BadTime)?;
    rec.method = f.next()?;
    let url = f.next()?;
    if split_request {
        split_url(url, rec);
    }
    rec.status = parse_status(f.next()?)?;
    // The last field: to the next tab or the end of the line; the rest is ignored.
    rec.bytes = parse_bytes(f.last())?;
    Ok(LineKind::Record)
}

/// NCSA common `%h %l %u %t "%r" %>s %b` (`presets::common`: what follows `%b` after a space
/// is ignored) and combined, which adds ` "%{Referer}i" "%{User-agent}i"`, each part of the
/// addition allowed to be missing at the end of the line (`presets::combined`).
fn clf<'a>(
    line: &'a [u8],
    rec: &mut Record<'a>,
    combined: bool,
    split_request: bool,
) -> Result<LineKind, RejectReason> {
    let mut c = Cursor { line, pos: 0 };
    rec.client = c.upto(b' ')?;
    c.upto(b' ')?;
    // `%u`, then the literal ` [`.
    c.upto(b' ')?;
    c.lit(b"[")?;
    rec.time = parse_clf(c.upto(b']')?).ok_or(RejectReason::BadTime)?;
    c.lit(b" \"")?;
    let request = c.quoted().ok_or(RejectReason::Truncated)?;
    if split_request {
        line::split_request(request, rec);
    }
    c.lit(b" ")?;
    rec.status = parse_status(c.upto(b' ')?)?;
    // `%b`: to the next space or the end of the line.
    rec.bytes = parse_bytes(c.last(b' '))?;
    if !combined {
        return Ok(LineKind::Record);
    }
    // Combined's optional part: each step may find the line ended right before it.
    if c.rest().is_empty() {
        return Ok(LineKind::Record);
    }
    c.pos += 1; // ` "`: the space is the byte `%b` ended at
    c.lit(b"\"")?;
    if c.rest().is_empty() {
        return Ok(LineKind::Record);
    }
    rec.referer = c.quoted().ok_or(RejectReason::Truncated)?;
    c.lit(b" \"")?;
    if c.rest().is_empty() {
        return Ok(LineKind::Record);
    }
    rec.user_agent = match c.quoted() {
        Some(v) => v,
        // A quoted last field cut off by truncation: keep what is there.
        None => c.rest(),
    };
    // The closing quote was found (or the line ended inside the field); trailing bytes are
    // ignored.
    Ok(LineKind::Record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;

    use crate::gen::Rng;

    fn below(r: &mut Rng, n: usize) -> usize {
        (r.next() % n.max(1) as u64) as usize
    }

    /// Real-looking lines of each preset, then mutated: cut anywhere, a byte replaced, or one
    /// of the bytes the formats care about inserted or removed.
    fn lines(seeds: &[&[u8]], n: usize, r: &mut Rng) -> Vec<Vec<u8>> {
        const SPECIAL: &[u8] = b" \t\"\\[]-0123456789:/?";
        let mut out = Vec::new();
        for i in 0..n {
            let mut l = seeds[i % seeds.len()].to_vec();
            for _ in 0..below(r, 4) {
                let at = below(r, l.len() + 1);
                match below(r, 5) {
                    0 => l.truncate(at),
                    1 if at < l.len() => l[at] = SPECIAL[below(r, SPECIAL.len())],
                    2 => l.insert(at, SPECIAL[below(r, SPECIAL.len())]),
                    3 if at < l.len() => {
                        l.remove(at);
                    }
                    _ => {}
                }
            }
            out.push(l);
        }
        out
    }

    #[test]
    fn fast_parsers_equal_the_interpreter() {
        let tsv: &[&[u8]] = &[
            b"host\tlogname\ttime\tmethod\turl\tresponse\tbytes",
            b"199.72.81.55\t-\t804571201\tGET\t/history/apollo/\t200\t6245\t\t",
            b"unicomp6.unicomp.net\t-\t804571206\tGET\t/shuttle/countdown/\t200\t3985",
            b"burger.letters.com\t-\t804571211\tGET\t/shuttle/countdown/video/livevideo.gif\t200\t0\t\t",
            b"d104.aa.net\t-\t804571213\tGET\t/a?b=c\t404\t-\t\t",
        ];
        let clf: &[&[u8]] = &[
            br#"199.72.81.55 - - [01/Jul/1995:00:00:01 -0400] "GET /history/apollo/ HTTP/1.0" 200 6245"#,
            br#"unicomp6.unicomp.net - - [01/Jul/1995:00:00:06 -0400] "GET /shuttle/countdown/ HTTP/1.0" 200 3985"#,
            br#"d104.aa.net - - [01/Jul/1995:00:00:13 -0400] "GET /a\"b HTTP/1.0" 404 -"#,
            br#"1.2.3.4 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
            br#"5.6.7.8 - - [17/May/2015:10:05:03 +0000] "GET /x HTTP/1.1" 304 - "-" "Mozilla/5.0 \"x\"" extra"#,
            br#"5.6.7.8 - - [17/May/2015:10:05:03 +0000] "\x16\x03\x01" 400 0 "-" "-""#,
        ];
        let mut r = Rng(7);
        let mut fast_records = 0;
        for (preset, seeds) in [("nasa_tsv", tsv), ("common", clf), ("combined", clf)] {
            let format = Format::preset(preset).unwrap().line;
            let parser = LineParser::new(&format);
            assert!(parser.is_fast(), "{preset}");
            let by_client = LineParser::for_key(&format, KeyField::Client);
            let by_path = LineParser::for_key(&format, KeyField::Path);
            for l in lines(seeds, 60_000, &mut r) {
                let (mut a, mut b) = (Record::default(), Record::default());
                let fast = parser.parse(&l, &mut a);
                let slow = format.parse(&l, &mut b);
                assert_eq!(fast, slow, "{preset}: {:?}", String::from_utf8_lossy(&l));
                // Keyed by path: the whole record; by client: the same outcome and every
                // field but the request's parts, which are left empty.
                let (mut p, mut c) = (Record::default(), Record::default());
                assert_eq!(by_path.parse(&l, &mut p), slow);
                assert_eq!(by_client.parse(&l, &mut c), slow);
                if fast.is_ok() {
                    assert_eq!(a, b, "{preset}: {:?}", String::from_utf8_lossy(&l));
                    assert_eq!(p, b, "{preset} by path: {:?}", String::from_utf8_lossy(&l));
                    let unsplit = Record {
                        method: if preset == "nasa_tsv" { b.method } else { b"" },
                        path: b"",
                        query: b"",
                        protocol: b"",
                        ..b
                    };
                    assert_eq!(
                        c,
                        unsplit,
                        "{preset} by client: {:?}",
                        String::from_utf8_lossy(&l)
                    );
                    fast_records += 1;
                }
            }
        }
        assert!(fast_records > 20_000, "{fast_records} records compared");
    }

    #[test]
    fn other_formats_use_the_interpreter() {
        for name in ["vhost_combined", "haproxy_http", "iis_w3c", "caddy_json"] {
            let f = Format::preset(name).unwrap().line;
            assert!(!LineParser::new(&f).is_fast(), "{name}");
        }
        let mut changed = Format::preset("combined").unwrap().line;
        changed.allow_trailing = false;
        assert!(!LineParser::new(&changed).is_fast());
    }
}
