//! The multi-threaded CPU backend: a batch is split at line boundaries into one piece per
//! thread, each piece is parsed and aggregated into its own [`Partial`], and the pieces merge.

use std::sync::Arc;

use rayon::prelude::*;

use super::{Backend, BackendError};
use crate::agg::{group_hash, LineGroups, Partial};
use crate::batch::{Batch, BufferPool};
use crate::format::line::looks_binary;
use crate::format::scan::Positions;
use crate::format::{w3c, LineFormat, LineKind, LineParser, Record};
use crate::plan::Plan;
use crate::reject::{Reject, RejectReason};
use std::borrow::Cow;

/// The CPU backend.
pub struct CpuBackend {
    plan: Arc<Plan>,
    /// W3C logs: the layout the last `#Fields:` directive seen so far defined.
    w3c_fields: Option<LineFormat>,
    pool: BufferPool,
    threads: rayon::ThreadPool,
    n_threads: usize,
}

impl CpuBackend {
    /// A backend running `plan` on `threads` threads (0 = all cores), framing into `pool`.
    pub fn new(plan: Arc<Plan>, threads: usize, pool: BufferPool) -> Result<Self, BackendError> {
        let n_threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(n_threads)
            .thread_name(|i| format!("logpulse-cpu-{i}"))
            .build()
            .map_err(|e| BackendError::Other(format!("starting CPU threads: {e}")))?;
        Ok(CpuBackend {
            plan,
            w3c_fields: None,
            pool,
            threads,
            n_threads,
        })
    }
}

/// Splits `bytes` (whole lines) into about `n` pieces, each ending after a newline.
fn split_lines(bytes: &[u8], n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 1..=n {
        if start >= bytes.len() {
            break;
        }
        let target = (bytes.len() * i / n).max(start);
        let end = if i == n || target >= bytes.len() {
            bytes.len()
        } else {
            memchr::memchr(b'\n', &bytes[target..]).map_or(bytes.len(), |p| target + p + 1)
        };
        if end > start {
            out.push((start, end));
        }
        start = end;
    }
    out
}

/// One piece's result, before line numbers are made absolute.
struct Piece {
    partial: Partial,
    lines: u64,
    /// Rejects with `line_no` relative to the piece (0-based) and `offset` relative to the batch.
    rejects: Vec<Reject>,
}

/// A record whose group lookup waits one line: its index slot is being fetched meanwhile
/// (see [`LineGroups`]).
struct Pending<'a> {
    hash: u64,
    window: i64,
    key: &'a [u8],
    status: u16,
    bytes: u64,
    latency_us: Option<u64>,
    time: i64,
    /// Line number in `bytes`, offset and the line itself, in case the key is refused.
    idx: u64,
    offset: u64,
    raw: &'a [u8],
}

impl<'k> Pending<'k> {
    /// The pending count of `rec`, line `idx` (`raw`, at `offset`), in group (`window`, `key`).
    #[inline(always)]
    fn of(
        rec: &Record,
        key: &'k [u8],
        hash: u64,
        window: i64,
        idx: u64,
        offset: u64,
        raw: &'k [u8],
    ) -> Self {
        Pending {
            hash,
            window,
            key,
            status: rec.status,
            bytes: rec.bytes,
            latency_us: rec.latency_us,
            time: rec.time,
            idx,
            offset,
            raw,
        }
    }

    /// Counts the record in its group, or rejects its line when its new key is not UTF-8.
    #[inline]
    fn settle(self, groups: &mut LineGroups, out: &mut Partial, rejects: &mut Vec<Reject>) {
        // Keys are nearly always ASCII: `is_ascii` reads them a word at a time, where
        // `from_utf8` cost ~120 instructions a short key (callgrind, TSV run).
        let admit = |k: &[u8]| k.is_ascii() || std::str::from_utf8(k).is_ok();
        match groups.agg_for(self.hash, self.window, self.key, admit) {
            Some(agg) => {
                agg.add_parts(self.status, self.bytes, self.latency_us);
                out.count_grouped(self.window, self.latency_us, self.time);
            }
            None => {
                out.reject_counts.add(RejectReason::InvalidUtf8);
                rejects.push(Reject::new(
                    self.idx,
                    self.offset,
                    RejectReason::InvalidUtf8,
                    self.raw,
                ));
            }
        }
    }
}

/// Parses and aggregates whole lines (`bytes` ends with `\n` or is empty) into `out`.
/// Rejects get a 0-based `line_no` relative to `bytes` and an `offset` relative to
/// `base_offset`. Returns the number of lines.
/// `format` is the layout in force at the first line: the plan's, or for W3C logs the one the
/// last `#Fields:` directive before `bytes` defined; `#Fields:` lines inside switch it.
///
/// A record's group is looked up once the next line is parsed, its index slot prefetched
/// meanwhile ([`LineGroups`]); lines are still counted, grouped and rejected in order.
#[allow(clippy::too_many_arguments)]
pub fn parse_lines(
    plan: &Plan,
    format: &LineFormat,
    bytes: &[u8],
    batch_seq: u64,
    base_offset: u64,
    out: &mut Partial,
    rejects: &mut Vec<Reject>,
) -> u64 {
    let mut pos = 0usize;
    let mut idx = 0u64;
    let mut status_buf = [0u8; 3];
    let mut current = Cow::Borrowed(format);
    // W3C layouts switch as the lines go (to other W3C layouts) and have no straight-line
    // parser; the others keep the format they start with.
    let w3c = format.w3c;
    // The request line is split only when the key or a filter reads its parts.
    let split = plan.key.reads_request() || plan.filters.reads_request();
    let parser = LineParser::with_request_split(format, split);
    let filtering = !plan.filters.is_empty();
    let mut window = plan.window.for_batch(batch_seq);
    let mut groups = LineGroups::continuing(std::mem::take(&mut out.groups), bytes.len());
    let mut pending: Option<Pending> = None;
    // Line ends 64 bytes at a time: a `memchr` call per ~80-byte line cost ~9% of this loop
    // (perf, TSV) in its set-up.
    let mut line_ends = Positions::new(b'\n', bytes);
    while pos < bytes.len() {
        let end = line_ends.next_pos().unwrap_or(bytes.len());
        let raw = &bytes[pos..end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut rec = Record::default();
        if w3c {
            if let Some(Ok(f)) = w3c::parse_directive(line) {
                current = Cow::Owned(f);
            }
        }
        let outcome = if line.is_empty() {
            Err(RejectReason::EmptyLine)
        } else if w3c {
            current.parse(line, &mut rec)
        } else {
            parser.parse(line, &mut rec)
        };
        let grouped =
            matches!(outcome, Ok(LineKind::Record)) && (!filtering || plan.filters.accepts(&rec));
        if grouped {
            let w = window.of(rec.time);
            let offset = base_offset + pos as u64;
            match plan.key.of_line(&rec) {
                Some(key) if groups.is_newest(w) => {
                    // The newest window's groups index in a few KB (`LineGroups`): looked up
                    // at once, after the line before if it waits.
                    let hash = group_hash(w, key);
                    if let Some(p) = pending.take() {
                        p.settle(&mut groups, out, rejects);
                    }
                    Pending::of(&rec, key, hash, w, idx, offset, raw).settle(
                        &mut groups,
                        out,
                        rejects,
                    );
                }
                Some(key) => {
                    let hash = group_hash(w, key);
                    groups.prefetch(hash);
                    if let Some(p) =
                        pending.replace(Pending::of(&rec, key, hash, w, idx, offset, raw))
                    {
                        p.settle(&mut groups, out, rejects);
                    }
                }
                None => {
                    // A status key is spelled into `status_buf`, which the next line
                    // overwrites: looked up at once (nothing is ever pending then).
                    let key = plan.key.of(&rec, &mut status_buf);
                    let hash = group_hash(w, key);
                    Pending::of(&rec, key, hash, w, idx, offset, raw).settle(
                        &mut groups,
                        out,
                        rejects,
                    );
                }
            }
        } else {
            // Rejects stay in line order: the record before is counted first.
            if let Some(p) = pending.take() {
                p.settle(&mut groups, out, rejects);
            }
            let outcome = match outcome {
                Ok(LineKind::Record) => {
                    // Filtered out: in no group, but its time still moves the stream on. A
                    // key that is not UTF-8 is a reject either way, so filters never change
                    // `rejected`.
                    if std::str::from_utf8(plan.key.of(&rec, &mut status_buf)).is_err() {
                        Err(RejectReason::InvalidUtf8)
                    } else {
                        out.add_filtered(&rec);
                        Ok(())
                    }
                }
                Ok(LineKind::Directive) => {
                    out.directives += 1;
                    Ok(())
                }
                Err(r) => Err(if r != RejectReason::EmptyLine && looks_binary(line) {
                    RejectReason::BinaryData
                } else {
                    r
                }),
            };
            if let Err(reason) = outcome {
                out.reject_counts.add(reason);
                rejects.push(Reject::new(idx, base_offset + pos as u64, reason, raw));
            }
        }
        idx += 1;
        pos = end + 1;
    }
    if let Some(p) = pending.take() {
        p.settle(&mut groups, out, rejects);
    }
    out.groups = groups.into_table();
    out.lines += idx;
    idx
}

impl CpuBackend {
    /// For W3C logs, the layout in force at the start of each piece (`None` = the plan's):
    /// the batch's `#Fields:` directives are applied in order, skipping those that name no
    /// field (as `parse_lines` skips them), and the last layout carries to the next batch.
    fn formats_at(&mut self, bytes: &[u8], ranges: &[(usize, usize)]) -> Vec<Option<LineFormat>> {
        if !self.plan.format.line.w3c {
            return vec![None; ranges.len()];
        }
        let mut current = self.w3c_fields.take();
        let mut next = w3c::layouts_in(bytes).peekable();
        let mut out = Vec::with_capacity(ranges.len());
        for &(start, _) in ranges {
            while let Some((_, f)) = next.next_if(|(d, _)| *d < start) {
                current = Some(f);
            }
            out.push(current.clone());
        }
        if let Some((_, f)) = next.last() {
            current = Some(f);
        }
        self.w3c_fields = current;
        out
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        format!("cpu ({} threads)", self.n_threads)
    }

    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }

    fn process(&mut self, batch: Batch) -> Result<Partial, BackendError> {
        let bytes = batch.bytes();
        let seq = batch.seq;
        let pieces_n = if bytes.len() < 256 * 1024 {
            1
        } else {
            self.n_threads
        };
        let ranges = split_lines(bytes, pieces_n);
        let formats = self.formats_at(bytes, &ranges);
        let plan = &*self.plan;
        let source = batch.origin.source.clone();
        let pieces: Vec<Piece> = self.threads.install(|| {
            ranges
                .par_iter()
                .zip(formats.par_iter())
                .map(|(&(s, e), format)| {
                    let mut partial = Partial::new(seq, source.clone());
                    // Most lines of a piece start a new group only early on; avoid regrowth.
                    partial.groups = crate::agg::GroupTable::with_capacity((e - s) / 256);
                    let mut rejects = Vec::new();
                    let format = format.as_ref().unwrap_or(&plan.format.line);
                    let lines = parse_lines(
                        plan,
                        format,
                        &bytes[s..e],
                        seq,
                        s as u64,
                        &mut partial,
                        &mut rejects,
                    );
                    Piece {
                        partial,
                        lines,
                        rejects,
                    }
                })
                .collect()
        });
        // Make reject positions absolute, in line order.
        let mut result = Partial::new(seq, source);
        result.input_bytes = bytes.len() as u64;
        result.rejects = batch.skipped;
        for r in &result.rejects {
            result.reject_counts.add(r.reason);
        }
        result.lines = result.rejects.len() as u64;
        let mut line_base = batch.origin.first_line;
        let mut partials = Vec::with_capacity(pieces.len());
        for mut p in pieces {
            for r in &mut p.rejects {
                r.line_no += line_base;
                r.offset += batch.origin.offset;
            }
            line_base += p.lines;
            result.rejects.append(&mut p.rejects);
            partials.push(p.partial);
        }
        let merged = self.threads.install(|| {
            partials.into_par_iter().reduce_with(|mut a, b| {
                a.merge(b);
                a
            })
        });
        if let Some(mut m) = merged {
            // The rejects were moved out already; merge the counters and groups.
            m.rejects = std::mem::take(&mut result.rejects);
            m.input_bytes = 0;
            result.merge(m);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Origin;
    use crate::format::Format;

    #[test]
    fn split_lines_covers_everything_at_line_ends() {
        let text = b"aa\nbbbb\nc\nddddd\ne\n";
        for n in 1..8 {
            let r = split_lines(text, n);
            assert_eq!(r.first().unwrap().0, 0);
            assert_eq!(r.last().unwrap().1, text.len());
            for w in r.windows(2) {
                assert_eq!(w[0].1, w[1].0);
                assert_eq!(text[w[0].1 - 1], b'\n');
            }
        }
    }

    #[test]
    fn w3c_layouts_follow_valid_directives_across_pieces_and_batches() {
        let plan = Arc::new(Plan::reference(Format::preset("iis_w3c").unwrap()));
        let short = "#Fields: c-ip sc-status\n";
        let row = "10.0.0.1 200\n";
        // A valid layout, then a directive naming no field (ignored), then rows of the new
        // layout: in one batch cut into pieces, and again in the next batch.
        let mut text = format!("{short}#Fields:\n");
        while text.len() < 600 * 1024 {
            text.push_str(row);
        }
        let origin = |o| Origin {
            source: "t".into(),
            first_line: 1,
            offset: o,
        };
        let mut be = CpuBackend::new(plan, 2, BufferPool::heap(2, 1024)).unwrap();
        let rows = (text.len() - short.len() - 9) / row.len();
        let p = be
            .process(Batch::from_bytes(0, text.clone().into_bytes(), origin(0)))
            .unwrap();
        assert_eq!(
            (p.records as usize, p.rejected(), p.directives),
            (rows, 0, 2)
        );
        let next = Batch::from_bytes(1, row.repeat(3).into_bytes(), origin(text.len() as u64));
        let p = be.process(next).unwrap();
        assert_eq!((p.records, p.rejected()), (3, 0));
    }

    #[test]
    fn counts_and_locates_rejects() {
        let plan = Arc::new(Plan::reference(Format::preset("common").unwrap()));
        let mut be = CpuBackend::new(plan, 2, BufferPool::heap(2, 1024)).unwrap();
        let text = b"a - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 10\n\
                     \n\
                     b - - [01/Jul/1995:00:00:02 -0400] \"GET / HTTP/1.0\" 503 5\r\n\
                     garbage\n\
                     a - - [01/Jul/1995:00:01:01 -0400] \"GET / HTTP/1.0\" 404 -\n";
        let origin = Origin {
            source: "t".into(),
            first_line: 10,
            offset: 1000,
        };
        let p = be
            .process(Batch::from_bytes(3, text.to_vec(), origin))
            .unwrap();
        assert_eq!(p.lines, 5);
        assert_eq!(p.records, 3);
        assert_eq!(p.rejected(), 2);
        assert_eq!(p.rejects[0].line_no, 11);
        assert_eq!(p.rejects[0].reason, RejectReason::EmptyLine);
        assert_eq!(p.rejects[1].line_no, 13);
        assert_eq!(p.rejects[1].line, b"garbage");
        assert_eq!(p.groups.len(), 3); // a@00:00, b@00:00, a@00:01
        let total: u64 = p.groups.iter().map(|(_, _, a)| a.requests).sum();
        assert_eq!(total, 3);
        let b = p.groups.get(804_571_200, "b").unwrap();
        assert_eq!((b.s5xx, b.bytes, b.errors.to_vec()), (1, 5, vec![(503, 1)]));
    }
}
