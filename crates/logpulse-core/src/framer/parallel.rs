//! Framing on several threads, straight into the pool's buffers: the same batches as
//! [`Framer`], faster than one thread can copy (~4 GB/s on the GPU host, a tenth of what the
//! GPU backend takes).
//!
//! One batch at a time, all threads work on it: each fills its stretch of the batch's buffer
//! from the source (`pread` from a file, a copy from memory: see [`Fill`]) and counts the
//! newlines of its blocks while the bytes are hot. One thread then walks the blocks' counts
//! (no byte scan) to the cut, by [`Framer`]'s rules exactly (at `max_lines` lines, or at the
//! last whole line that fits a buffer), so results do not depend on the thread count. The bytes
//! read past the cut start the next batch's buffer; how far to read is learnt from the batches
//! before, so that tail stays small. From the first over-long line on, and for the stream's
//! last lines, the one-thread [`Framer`] takes over: it owns rejecting, skipping and the missing
//! final newline.

use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::{block_len, classify, newlines_in, Block, Framer, FramerConfig, Newlines};
use crate::batch::{Batch, BatchBuf, BufferPool, Origin};

/// Threads for [`frame_parallel`]: `LOGPULSE_FRAME_THREADS` if set, else a quarter of the
/// cores, 1 to 8 (1 means the one-thread framer).
pub fn frame_threads() -> usize {
    crate::threads_from_env("LOGPULSE_FRAME_THREADS", 8)
}

/// Threads for [`frame_parallel`] when a device parses the batches
/// ([`BufferPool::feeds_device`]): `LOGPULSE_FRAME_THREADS` if set, else half the cores, 1 to 8.
/// The host's cores are not parsing then, and the copy from the page cache is what a GPU run
/// from a file waits for (H100 host, 16 cores, 40M page-cached CLF lines: 13.5 GB/s with 8
/// readers against 11.0 with 4 for a job with few groups, 8.8-8.9 against 8.0-8.8 for the
/// default job; BENCHMARKS.md, 2026-12-07 fourth session).
pub fn frame_threads_for_device() -> usize {
    crate::threads_from_env_or_fraction("LOGPULSE_FRAME_THREADS", 2, 8)
}

/// Reader threads for batches going into `pool`: [`frame_threads_for_device`] when a device
/// parses them, else [`frame_threads`].
pub fn frame_threads_for(pool: &BufferPool) -> usize {
    if pool.feeds_device() {
        frame_threads_for_device()
    } else {
        frame_threads()
    }
}

/// Fewest bytes a reader thread takes at once: below that, splitting costs more than it gains
/// (unit tests split everything, so that their small inputs cross stretches).
const MIN_STRETCH: usize = if cfg!(test) { 1 } else { 1 << 20 };

/// Bytes a reader thread fills before counting them (within a core's L2 cache).
const HOT_PIECE: usize = 256 << 10;

/// A byte stream that can be read at any offset from several threads at once.
pub trait Fill: Sync {
    /// Copies the stream's bytes from `offset` into `dst` until `dst` is full or the stream
    /// ends; returns how many were copied.
    fn fill(&self, offset: u64, dst: &mut [u8]) -> std::io::Result<usize>;
}

impl Fill for &[u8] {
    fn fill(&self, offset: u64, dst: &mut [u8]) -> std::io::Result<usize> {
        let from = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = dst.len().min(self.len() - from);
        dst[..n].copy_from_slice(&self[from..from + n]);
        Ok(n)
    }
}

/// A regular file, read at offsets (`pread`): many threads may read it at once.
#[cfg(unix)]
impl Fill for std::fs::File {
    fn fill(&self, offset: u64, dst: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < dst.len() {
            match self.read_at(&mut dst[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// How [`frame_parallel_from`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ParallelEnd {
    /// The consumer refused a batch.
    Stopped,
    /// The stream from source offset `offset` (line `next_line`) was not framed: it holds the
    /// stream's last batch, or the batch with the first line longer than `max_line_len`.
    /// Frame it with a [`Framer`].
    Rest {
        /// Source offset of the first byte not framed.
        offset: u64,
        /// Its line's number.
        next_line: u64,
    },
}

/// Frames all of `data` (source `source`, from source offset 0, line 1) into batches from
/// `pool`, handing each to `send` in order; `threads` threads. Returns false as soon as `send`
/// does.
pub fn frame_parallel(
    data: &[u8],
    pool: &BufferPool,
    cfg: &FramerConfig,
    source: Arc<str>,
    threads: usize,
    send: &mut dyn FnMut(Batch) -> bool,
) -> bool {
    let (at, next_line) = if threads <= 1 {
        (0, 1)
    } else {
        // Memory never fails to read.
        match frame_parallel_from(&data, (0, 1), pool, cfg, source.clone(), threads, send) {
            Ok(ParallelEnd::Rest { offset, next_line }) => (offset as usize, next_line),
            Ok(ParallelEnd::Stopped) | Err(_) => return false,
        }
    };
    let mut f = Framer::new(pool.clone(), cfg.clone(), source);
    f.set_position(at as u64, next_line);
    f.frame_each(&data[at.min(data.len())..], 4 << 20, send)
}

/// Frames the whole batches of `stream` from `(offset, line)` on `threads` threads (see the
/// module docs), handing them to `send` in order; says where it stopped.
pub fn frame_parallel_from(
    stream: &dyn Fill,
    (offset, line): (u64, u64),
    pool: &BufferPool,
    cfg: &FramerConfig,
    source: Arc<str>,
    threads: usize,
    send: &mut dyn FnMut(Batch) -> bool,
) -> std::io::Result<ParallelEnd> {
    let rest = ParallelEnd::Rest {
        offset,
        next_line: line,
    };
    // A batch's buffer and the next one's are held at once.
    if pool.count() < 2 {
        return Ok(rest);
    }
    let readers = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("logpulse-read-{i}"))
        .build()
        .map_err(std::io::Error::other)?;
    let mut cutter = Cutter {
        stream,
        readers: &readers,
        cfg: Framer::effective(cfg, pool),
        cap: pool.capacity(),
        // Unknown before the first cut: start small and grow (the bytes read past a cut are
        // copied to the next buffer on one thread).
        expect: (4 << 20).min(pool.capacity()),
        times: Times::default(),
    };
    let (mut cur, mut offset, mut line) = (pool.acquire(), offset, line);
    loop {
        let Some(cut) = cutter.next_cut(&mut cur, offset)? else {
            cutter.times.report(&source, threads.max(1));
            return Ok(ParallelEnd::Rest {
                offset,
                next_line: line,
            });
        };
        // The bytes read past the cut open the next batch.
        let t = Instant::now();
        let mut next = pool.acquire();
        cutter.times.acquire += t.elapsed().as_secs_f64();
        let t = Instant::now();
        next.extend_from_slice(&cur.bytes()[cut.at..]);
        cur.set_len(cut.at);
        cutter.times.tail += t.elapsed().as_secs_f64();
        let batch = Batch {
            seq: 0,
            buf: std::mem::replace(&mut cur, next),
            lines: cut.lines,
            origin: Origin {
                source: source.clone(),
                first_line: line,
                offset,
            },
            skipped: Vec::new(),
        };
        let t = Instant::now();
        if !send(batch) {
            return Ok(ParallelEnd::Stopped);
        }
        cutter.times.send += t.elapsed().as_secs_f64();
        cutter.times.batches += 1;
        (offset, line) = (offset + cut.at as u64, line + cut.lines);
    }
}

/// Where the framing thread's time went, printed to stderr at the end when
/// `LOGPULSE_FRAME_TIMES` is set (for finding the slow part on a new machine).
#[derive(Default)]
struct Times {
    fill: f64,
    walk: f64,
    acquire: f64,
    tail: f64,
    send: f64,
    batches: u64,
}

impl Times {
    fn report(&self, source: &str, threads: usize) {
        if std::env::var_os("LOGPULSE_FRAME_TIMES").is_some() {
            eprintln!(
                "logpulse: framing {source} on {threads} reader threads: {} batches; fill \
                 {:.3}s, walk {:.3}s, buffer wait {:.3}s, tail copy {:.3}s, send {:.3}s",
                self.batches, self.fill, self.walk, self.acquire, self.tail, self.send
            );
        }
    }
}

/// Where a batch ends: after `at` bytes, `lines` lines.
pub(super) struct Cut {
    pub(super) at: usize,
    pub(super) lines: u64,
}

/// The newlines of one block of a buffer: `start..end`.
pub(super) struct BlockNewlines {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) newlines: Option<Newlines>,
}

/// Fills buffers and finds their cuts.
struct Cutter<'a> {
    stream: &'a dyn Fill,
    readers: &'a rayon::ThreadPool,
    cfg: FramerConfig,
    cap: usize,
    /// Bytes the next batch is expected to take (the last batch's).
    expect: usize,
    times: Times,
}

/// Where the walk over a batch's blocks is: `scanned` bytes seen, `lines` whole lines in them,
/// the last of which ends before `line_start`.
#[derive(Default)]
pub(super) struct Walk {
    pub(super) scanned: usize,
    pub(super) lines: u64,
    pub(super) line_start: usize,
}

/// What one step of the walk found.
pub(super) enum Step {
    /// The batch ends here.
    Cut(Cut),
    /// No cut in the blocks so far.
    More,
    /// An over-long line: the one-thread framer must take over.
    LongLine,
}

impl Cutter<'_> {
    /// Fills `buf` (which may start with bytes already: the last batch's tail), source offset
    /// `offset` at its start, until its batch's cut. `None`: the stream ends before a cut, or
    /// the batch holds an over-long line.
    fn next_cut(&mut self, buf: &mut BatchBuf, offset: u64) -> std::io::Result<Option<Cut>> {
        let block = block_len(self.cfg.max_line_len);
        let mut walk = Walk::default();
        // A little more than the last batch, so that the tail left over stays small.
        let mut want = self.expect + self.expect / 32 + 2 * block;
        loop {
            let end = want.max(buf.len() + 1).min(self.cap);
            let t = Instant::now();
            let (blocks, ended) = self.fill(buf, offset, walk.scanned, end)?;
            let t2 = Instant::now();
            let step = self.walk(buf.bytes(), &blocks, &mut walk);
            self.times.fill += (t2 - t).as_secs_f64();
            self.times.walk += t2.elapsed().as_secs_f64();
            let cut = match step {
                Step::Cut(cut) => Some(cut),
                Step::LongLine => return Ok(None),
                Step::More if ended => return Ok(None),
                // A full buffer ends at its last whole line.
                Step::More if buf.len() >= self.cap && walk.lines > 0 => Some(Cut {
                    at: walk.line_start,
                    lines: walk.lines,
                }),
                Step::More if buf.len() >= self.cap => return Ok(None),
                Step::More => None,
            };
            if let Some(cut) = cut {
                self.expect = cut.at;
                return Ok(Some(cut));
            }
            want = buf.len() + (buf.len() / 2).max(1 << 20);
            // A line still open for longer than allowed: over-long, whatever follows.
            if buf.len() - walk.line_start > self.cfg.max_line_len {
                return Ok(None);
            }
        }
    }

    /// Fills `buf` up to `end` bytes (from its current length) on the reader threads, and
    /// counts the newlines of `buf[from..]` in blocks. Returns the blocks and whether the
    /// stream ended.
    fn fill(
        &self,
        buf: &mut BatchBuf,
        offset: u64,
        from: usize,
        end: usize,
    ) -> std::io::Result<(Vec<BlockNewlines>, bool)> {
        let block = block_len(self.cfg.max_line_len);
        let have = buf.len();
        // Stretches of whole blocks, at least MIN_STRETCH, one or so per thread.
        let stretch = (end - from)
            .div_ceil(self.readers.current_num_threads())
            .max(MIN_STRETCH)
            .div_ceil(block)
            * block;
        let whole = buf.spare_mut_from(0);
        let stretches: Vec<(usize, &mut [u8])> = whole[from..end]
            .chunks_mut(stretch)
            .enumerate()
            .map(|(i, s)| (from + i * stretch, s))
            .collect();
        let stream = self.stream;
        let done: Vec<std::io::Result<(usize, bool, Vec<BlockNewlines>)>> =
            self.readers.install(|| {
                stretches
                    .into_par_iter()
                    .map(|(start, s)| {
                        // Bytes of the stretch already there (the tail), then the stream's,
                        // a piece at a time, each counted while it is in the core's cache.
                        let there = have.saturating_sub(start).min(s.len());
                        let mut blocks = Vec::with_capacity(s.len().div_ceil(block));
                        let (mut valid, mut short) = (0, false);
                        for piece in s.chunks_mut(HOT_PIECE.div_ceil(block) * block) {
                            let at = valid;
                            let keep = there.saturating_sub(at).min(piece.len());
                            let got = if keep < piece.len() {
                                let n = stream.fill(
                                    offset + (start + at + keep) as u64,
                                    &mut piece[keep..],
                                )?;
                                short = keep + n < piece.len();
                                n
                            } else {
                                0
                            };
                            valid += keep + got;
                            for (k, b) in piece[..keep + got].chunks(block).enumerate() {
                                let b_start = start + at + k * block;
                                blocks.push(BlockNewlines {
                                    start: b_start,
                                    end: b_start + b.len(),
                                    newlines: newlines_in(b),
                                });
                            }
                            if short {
                                break;
                            }
                        }
                        Ok((valid, short, blocks))
                    })
                    .collect()
            });
        // The bytes up to the first stretch the stream did not fill.
        let (mut len, mut ended, mut blocks) = (from, false, Vec::new());
        for d in done {
            let (valid, short, b) = d?;
            if ended {
                continue; // past the end seen before (a file growing while read): not used
            }
            len += valid;
            blocks.extend(b);
            ended = short;
        }
        buf.set_len(len.max(have));
        Ok((blocks, ended))
    }

    /// Walks `blocks` (the newlines of `bytes` from `walk.scanned` on) by [`Framer`]'s rules.
    fn walk(&self, bytes: &[u8], blocks: &[BlockNewlines], walk: &mut Walk) -> Step {
        walk_blocks(&self.cfg, self.cap, bytes, blocks, walk)
    }
}

/// Walks `blocks` (the newlines of `bytes` from `walk.scanned` on) by [`Framer`]'s rules, for
/// buffers of `cap` bytes.
pub(super) fn walk_blocks(
    cfg: &FramerConfig,
    cap: usize,
    bytes: &[u8],
    blocks: &[BlockNewlines],
    walk: &mut Walk,
) -> Step {
    let (max_len, max_lines) = (cfg.max_line_len, cfg.max_lines as u64);
    for b in blocks {
        let (count, last) = match classify(b.newlines, b.start - walk.line_start, max_len) {
            Block::NoNewline => {
                walk.scanned = b.end;
                continue;
            }
            Block::LongLine => return Step::LongLine,
            Block::Lines { count, last } => (count, last),
        };
        if b.end <= cap && walk.lines + count < max_lines {
            walk.lines += count;
            walk.line_start = b.start + last + 1;
            walk.scanned = b.end;
            continue;
        }
        // The batch ends in this block (line count or buffer size): line by line.
        for rel in memchr::memchr_iter(b'\n', &bytes[b.start..b.end]) {
            let e = b.start + rel;
            if e + 1 > cap {
                break;
            }
            walk.lines += 1;
            walk.line_start = e + 1;
            if walk.lines == max_lines {
                break;
            }
        }
        if walk.lines == 0 {
            return Step::LongLine; // one line longer than a buffer
        }
        return Step::Cut(Cut {
            at: walk.line_start,
            lines: walk.lines,
        });
    }
    Step::More
}
