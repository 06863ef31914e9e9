//! The framer: cuts a byte stream into batches of whole lines, straight into pooled buffers.
//!
//! Sources write into [`Framer::spare`] and [`Framer::commit`] what they wrote (no extra copy for
//! files), or [`Framer::push`] bytes they already hold. A batch is cut when it reaches
//! `max_lines` lines or its buffer is full; [`Framer::flush`] cuts early (a linger timer on slow
//! streams) and [`Framer::finish`] ends the stream, adding the missing final newline.
//!
//! A line longer than `max_line_len` is never buffered whole: its start is kept in a
//! [`Reject`] (`line_too_long`) and the rest is dropped as it arrives, so memory stays bounded
//! whatever the input.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::batch::{Batch, BatchBuf, BufferPool, Origin};
use crate::reject::{Reject, RejectReason, REJECT_KEEP_BYTES};

mod block;
mod mapped;
mod parallel;
use block::{block_len, classify, newlines_in, scan_block, Block, Newlines};
pub use mapped::frame_mapped_from;
pub use parallel::{
    frame_parallel, frame_parallel_from, frame_threads, frame_threads_for,
    frame_threads_for_device, Fill, ParallelEnd,
};

/// Most bytes handed to a source per [`Framer::spare`] call: bounds the tail copied when a
/// batch is cut, and how far reading runs ahead of cutting.
pub const READ_CHUNK: usize = 1 << 20;

/// How batches are cut.
#[derive(Debug, Clone)]
pub struct FramerConfig {
    /// Most lines in one batch.
    pub max_lines: usize,
    /// Longest accepted line in bytes (without its newline); longer lines are rejected.
    pub max_line_len: usize,
}

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig {
            max_lines: 250_000,
            max_line_len: 64 * 1024,
        }
    }
}

/// See [`Framer::room`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Whole lines in the batch being filled.
    pub lines: usize,
    /// Its bytes.
    pub bytes: usize,
    /// Lines at which it is cut.
    pub max_lines: usize,
    /// Bytes at which it is cut (the buffer's capacity).
    pub max_bytes: usize,
}

/// A line being dropped because it is too long.
struct Skipping {
    reject: Reject,
    /// Bytes of it seen so far (kept or dropped), without the newline.
    seen: u64,
}

/// Cuts one source's bytes into batches. See the module docs.
pub struct Framer {
    pool: BufferPool,
    cfg: FramerConfig,
    source: Arc<str>,
    cur: BatchBuf,
    /// Bytes of `cur` already scanned for newlines.
    scanned: usize,
    /// Start of the current (incomplete) line in `cur`.
    line_start: usize,
    /// Complete lines in `cur`.
    lines: u64,
    /// Source offset of `cur[0]`.
    cur_offset: u64,
    /// Source line number of `cur`'s first line.
    cur_first_line: u64,
    skipping: Option<Skipping>,
    /// Over-long lines rejected since the last batch was cut; travel with the next batch.
    pending_rejects: Vec<Reject>,
    next_seq: u64,
    ready: VecDeque<Batch>,
}

impl Framer {
    /// A framer for the source named `source`, taking buffers from `pool`; `first_seq` numbers
    /// its first batch (several sources share one sequence in a run).
    pub fn new(pool: BufferPool, cfg: FramerConfig, source: Arc<str>) -> Self {
        let cfg = Self::effective(&cfg, &pool);
        let cur = pool.acquire();
        Framer {
            pool,
            cfg,
            source,
            cur,
            scanned: 0,
            line_start: 0,
            lines: 0,
            cur_offset: 0,
            cur_first_line: 1,
            skipping: None,
            pending_rejects: Vec::new(),
            next_seq: 0,
            ready: VecDeque::new(),
        }
    }

    /// The settings a framer over `pool` applies: a line must fit a buffer with room to spare,
    /// or the framer could not make progress.
    pub(crate) fn effective(cfg: &FramerConfig, pool: &BufferPool) -> FramerConfig {
        let mut cfg = cfg.clone();
        cfg.max_line_len = cfg.max_line_len.min(pool.capacity() / 2).max(1);
        cfg.max_lines = cfg.max_lines.max(1);
        cfg
    }

    /// Starts numbering at a source position (resume from a checkpoint).
    pub fn set_position(&mut self, offset: u64, next_line: u64) {
        self.cur_offset = offset;
        self.cur_first_line = next_line;
    }

    /// Source offset just after the last byte committed to a cut batch or still buffered.
    pub fn position(&self) -> (u64, u64) {
        (self.cur_offset, self.cur_first_line)
    }

    /// Writable room for the source to fill (at most [`READ_CHUNK`] bytes); call
    /// [`Framer::commit`] with what was written. Drain [`Framer::pop`] before calling again.
    pub fn spare(&mut self) -> &mut [u8] {
        self.scan_all();
        if self.cur.spare_mut().is_empty() {
            // Full: cut at the last whole line. The current line is shorter than half the buffer
            // (longer ones are being skipped), so this frees room.
            self.cut(self.line_start);
        }
        let spare = self.cur.spare_mut();
        let n = spare.len().min(READ_CHUNK);
        &mut spare[..n]
    }

    /// Accepts `n` bytes just written into [`Framer::spare`].
    pub fn commit(&mut self, n: usize) {
        self.cur.advance(n);
        self.scan();
    }

    /// Copies `bytes` in; batches cut meanwhile wait in the framer until [`Framer::pop`]ped.
    /// For small pieces (messages); large inputs should use [`Framer::push_each`].
    pub fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = self.copy_in(bytes);
            bytes = &bytes[n..];
        }
    }

    /// Copies as much of `bytes` as the next [`Framer::spare`] takes; returns how much.
    fn copy_in(&mut self, bytes: &[u8]) -> usize {
        let spare = self.spare();
        let n = spare.len().min(bytes.len());
        spare[..n].copy_from_slice(&bytes[..n]);
        self.commit(n);
        n
    }

    /// Copies `bytes` in (for sources that already hold their bytes in memory), handing every
    /// batch cut to `send` as soon as it is cut, so the pool is never exhausted by batches
    /// waiting here. Returns false as soon as `send` does.
    pub fn push_each(&mut self, mut bytes: &[u8], send: &mut dyn FnMut(Batch) -> bool) -> bool {
        while !bytes.is_empty() {
            let n = self.copy_in(bytes);
            bytes = &bytes[n..];
            while let Some(b) = self.pop() {
                if !send(b) {
                    return false;
                }
            }
        }
        true
    }

    /// Scans everything buffered (callers that did not drain [`Framer::pop`] get several
    /// batches queued).
    fn scan_all(&mut self) {
        while self.scanned < self.cur.len() {
            self.scan();
        }
    }

    /// The batch being filled: its whole lines and bytes so far, and the most it may hold of
    /// each (a batch is cut on reaching either). For sources that must cut only between units
    /// of their own (a Kafka message: a checkpoint names whole messages), which flush before a
    /// unit that would not fit.
    pub fn room(&mut self) -> Room {
        self.scan_all();
        Room {
            lines: self.lines as usize,
            bytes: self.cur.len(),
            max_lines: self.cfg.max_lines,
            max_bytes: self.cur.capacity(),
        }
    }

    /// Cuts a batch of the whole lines buffered so far (linger expiry on a slow stream).
    pub fn flush(&mut self) {
        self.scan_all();
        if self.lines > 0 || !self.pending_rejects.is_empty() {
            self.cut(self.line_start);
        }
    }

    /// Ends the stream: a last line without newline gets one; everything is cut.
    pub fn finish(&mut self) {
        self.scan_all();
        if let Some(skip) = self.skipping.take() {
            self.finish_skip(skip);
        }
        if self.cur.len() > self.line_start {
            if self.cur.spare_mut().is_empty() {
                self.cut(self.line_start);
            }
            // The synthetic newline is not a source byte: offsets stay those of the source.
            self.cur.extend_from_slice(b"\n");
            self.scanned = self.cur.len();
            self.lines += 1;
            self.line_start = self.cur.len();
            self.cut_with_len(self.cur.len(), self.cur.len() as u64 - 1);
        } else {
            self.flush();
        }
    }

    /// Frames all of `data` to the end of the stream, fed in pieces of `piece` bytes, handing
    /// each batch to `send` in order. False as soon as `send` is.
    pub fn frame_each(
        mut self,
        data: &[u8],
        piece: usize,
        send: &mut dyn FnMut(Batch) -> bool,
    ) -> bool {
        for chunk in data.chunks(piece.max(1)) {
            if !self.push_each(chunk, send) {
                return false;
            }
        }
        self.finish();
        while let Some(b) = self.pop() {
            if !send(b) {
                return false;
            }
        }
        true
    }

    /// Frames all of `data`, fed in pieces of `piece` bytes, into batches kept in memory (tests,
    /// benchmarks). The pool must hold every batch at once plus one.
    pub fn frame_all(self, data: &[u8], piece: usize) -> Vec<Batch> {
        let mut out = Vec::new();
        self.frame_each(data, piece, &mut |b| {
            out.push(b);
            true
        });
        out
    }

    /// Takes the next finished batch, if any. Batches are cut lazily, one per call, so a
    /// source that sends each batch before popping the next holds at most two buffers.
    pub fn pop(&mut self) -> Option<Batch> {
        if self.ready.is_empty() && self.scanned < self.cur.len() {
            self.scan();
        }
        self.ready.pop_front()
    }

    fn scan(&mut self) {
        let len = self.cur.len();
        if let Some(mut skip) = self.skipping.take() {
            // Drop bytes until the over-long line ends.
            let region = &self.cur.bytes()[self.line_start..len];
            let nl = memchr::memchr(b'\n', region);
            // The reject keeps the line's first bytes whatever the read boundaries were.
            let room = REJECT_KEEP_BYTES.saturating_sub(skip.reject.line.len());
            let line_part = &region[..nl.unwrap_or(region.len())];
            skip.reject
                .line
                .extend_from_slice(&line_part[..line_part.len().min(room)]);
            match nl {
                None => {
                    skip.seen += region.len() as u64;
                    self.cur.set_len(self.line_start);
                    self.scanned = self.line_start;
                    self.skipping = Some(skip);
                    return;
                }
                Some(p) => {
                    skip.seen += p as u64;
                    // Remove the rest of the long line (and its newline) from the buffer.
                    let tail_start = self.line_start + p + 1;
                    let tail_len = len - tail_start;
                    let ls = self.line_start;
                    self.cur
                        .spare_mut_from(ls)
                        .copy_within(tail_start - ls..tail_start - ls + tail_len, 0);
                    self.cur.set_len(ls + tail_len);
                    self.scanned = ls;
                    self.cur_offset += skip.seen + 1;
                    self.cur_first_line += 1;
                    self.pending_rejects.push(skip.reject);
                }
            }
        }
        if self.scan_short_lines() {
            return;
        }
        loop {
            let len = self.cur.len();
            let nl = memchr::memchr(b'\n', &self.cur.bytes()[self.scanned..len]);
            match nl {
                Some(rel) => {
                    let end = self.scanned + rel;
                    self.scanned = end + 1;
                    if end - self.line_start > self.cfg.max_line_len {
                        self.cut_out_long_line(end);
                        if !self.ready.is_empty() {
                            return;
                        }
                        continue;
                    }
                    self.lines += 1;
                    self.line_start = end + 1;
                    if self.lines as usize >= self.cfg.max_lines {
                        self.cut(self.line_start);
                        // One batch at a time: the rest is scanned by the next `pop`.
                        return;
                    }
                }
                None => {
                    self.scanned = len;
                    if len - self.line_start > self.cfg.max_line_len {
                        self.start_skip();
                    }
                    return;
                }
            }
        }
    }

    /// The hot part of [`Framer::scan`]: whole blocks of `max_line_len` bytes at a time, with
    /// SIMD newline counts instead of a `memchr` call per line (which costs more than a short
    /// web-log line). Exact: a gap between two newlines of one block is shorter than the block,
    /// and the gap into each block is checked with its first newline. Stops where the careful
    /// loop must look (no newline in a block, an over-long line) or at the batch's last line.
    /// True when a batch was cut.
    fn scan_short_lines(&mut self) -> bool {
        let len = self.cur.len();
        let max_len = self.cfg.max_line_len;
        let max_lines = self.cfg.max_lines as u64;
        let block = block_len(max_len);
        let (mut lines, mut line_start, mut scanned) = (self.lines, self.line_start, self.scanned);
        let bytes = self.cur.bytes();
        let mut full = false;
        while scanned < len {
            let region = &bytes[scanned..(scanned + block).min(len)];
            let Block::Lines { count: n, last } = scan_block(region, scanned - line_start, max_len)
            else {
                break; // no newline, or an over-long line: the careful loop decides
            };
            if lines + n >= max_lines {
                // The batch ends in this block: line by line to its last line.
                for rel in memchr::memchr_iter(b'\n', region) {
                    lines += 1;
                    line_start = scanned + rel + 1;
                    if lines >= max_lines {
                        break;
                    }
                }
                scanned = line_start;
                full = true;
                break;
            }
            lines += n;
            line_start = scanned + last + 1;
            scanned += region.len();
        }
        (self.lines, self.line_start, self.scanned) = (lines, line_start, scanned);
        if full {
            self.cut(self.line_start);
        }
        full
    }

    /// A complete line `[line_start, end)` that is too long: reject it and drop it.
    fn cut_out_long_line(&mut self, end: usize) {
        let line_no = self.cur_first_line + self.lines;
        let offset = self.cur_offset + self.line_start as u64;
        let reject = Reject::new(
            line_no,
            offset,
            RejectReason::LineTooLong,
            &self.cur.bytes()[self.line_start..end],
        );
        let line_start = self.line_start;
        // `cut` moves the long line (and what follows) to the front of a fresh buffer.
        self.cut(line_start);
        self.drop_front(end + 1 - line_start);
        self.pending_rejects.push(reject);
    }

    /// An incomplete line that is already too long: keep its start, drop the rest as it comes.
    fn start_skip(&mut self) {
        let line_no = self.cur_first_line + self.lines;
        let offset = self.cur_offset + self.line_start as u64;
        let kept = &self.cur.bytes()[self.line_start..];
        let seen = kept.len() as u64;
        let reject = Reject::new(line_no, offset, RejectReason::LineTooLong, kept);
        // Cut the whole lines before it, so the next batch starts at the long line's offset.
        self.cut(self.line_start);
        self.cur.set_len(0);
        self.scanned = 0;
        self.skipping = Some(Skipping { reject, seen });
    }

    /// The stream ended inside an over-long line.
    fn finish_skip(&mut self, skip: Skipping) {
        self.cur_offset += skip.seen;
        self.cur_first_line += 1;
        self.pending_rejects.push(skip.reject);
    }

    /// Removes the first `n` bytes of `cur` (a rejected line), advancing the source position.
    fn drop_front(&mut self, n: usize) {
        let len = self.cur.len();
        self.cur.spare_mut_from(0).copy_within(n..len, 0);
        self.cur.set_len(len - n);
        self.scanned -= n;
        self.cur_offset += n as u64;
        self.cur_first_line += 1;
    }

    /// Emits `cur[..at]` (whole lines) as a batch; bytes after `at` move to a fresh buffer.
    fn cut(&mut self, at: usize) {
        self.cut_with_len(at, at as u64);
    }

    /// Like [`Framer::cut`]; `source_len` is how many source bytes the batch covers (one less
    /// than `at` when `finish` added a newline).
    fn cut_with_len(&mut self, at: usize, source_len: u64) {
        let mut next = self.pool.acquire();
        let tail = &self.cur.bytes()[at..];
        next.extend_from_slice(tail);
        let mut full = std::mem::replace(&mut self.cur, next);
        full.set_len(at);
        let rejects = std::mem::take(&mut self.pending_rejects);
        if self.lines > 0 || !rejects.is_empty() {
            let batch = Batch {
                seq: self.next_seq,
                buf: full,
                lines: self.lines,
                origin: Origin {
                    source: self.source.clone(),
                    first_line: self.cur_first_line,
                    offset: self.cur_offset,
                },
                skipped: rejects,
            };
            self.next_seq += 1;
            self.ready.push_back(batch);
        }
        self.cur_offset += source_len;
        self.cur_first_line += self.lines;
        self.lines = 0;
        self.scanned -= at.min(self.scanned);
        self.line_start -= at.min(self.line_start);
    }
}

impl BatchBuf {
    /// Writable view of the whole storage from `from` (valid and spare bytes), for in-place moves.
    fn spare_mut_from(&mut self, from: usize) -> &mut [u8] {
        let len = self.len();
        self.set_len(from);
        // Safe re-borrow: spare_mut covers [from, capacity).
        let s: *mut [u8] = self.spare_mut();
        self.set_len(len);
        // SAFETY: `s` points into storage owned by `self`, which outlives the returned borrow;
        // no other reference to that storage exists while `&mut self` is held.
        unsafe { &mut *s }
    }
}

#[cfg(test)]
mod tests;
