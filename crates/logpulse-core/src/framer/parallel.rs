//! Framing bytes already in memory on several threads: the same batches as [`Framer`], made
//! faster than one thread can copy.
//!
//! One thread copying into the pool's buffers tops out at ~4 GB/s on the GPU host, a tenth of
//! what the GPU backend takes. Here a planner finds the batches' bounds with SIMD newline
//! counts over blocks (no copy), copy threads fill pool buffers in parallel, and the caller's
//! thread hands them on in order. Cuts follow [`Framer`]'s rules exactly (at `max_lines`
//! lines, or at the last whole line that fits a buffer), so results do not depend on the thread
//! count. From the first over-long line on, and for the stream's last lines, the one-thread
//! [`Framer`] takes over: it owns rejecting, skipping and the missing final newline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, unbounded};

use super::{block_len, scan_block, Block, Framer, FramerConfig};
use crate::batch::{Batch, BufferPool, Origin};

/// Copy threads for [`frame_parallel`]: `LOGPULSE_FRAME_THREADS` if set, else a quarter of the
/// cores, 1 to 8 (1 means the one-thread framer).
pub fn frame_threads() -> usize {
    crate::threads_from_env("LOGPULSE_FRAME_THREADS", 8)
}

/// One batch to copy: `data[start..end]`, `lines` lines.
struct Cut {
    idx: usize,
    start: usize,
    end: usize,
    lines: u64,
    first_line: u64,
}

/// Where the planner stopped: the one-thread framer frames `data[at..]` from source line
/// `next_line`.
struct Rest {
    at: usize,
    next_line: u64,
    /// It stopped at a line longer than `max_line_len` (else at the data's end).
    long_line: bool,
}

/// Part of a stream for [`frame_piece`]: `data` starts at source offset `offset`, line
/// `first_line`, on a line's start.
pub struct Piece<'a> {
    /// The bytes.
    pub data: &'a [u8],
    /// Source offset of `data[0]`.
    pub offset: u64,
    /// Source line number of `data`'s first line.
    pub first_line: u64,
}

/// How [`frame_piece`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PieceEnd {
    /// The consumer refused a batch.
    Stopped,
    /// `data[at..]`, from source line `next_line`, was not framed: it holds the batch that was
    /// still incomplete at the data's end, or (`long_line`) the batch with the first line
    /// longer than `max_line_len`. Frame it with more bytes after it, or with a [`Framer`].
    Rest {
        /// Offset in `data`.
        at: usize,
        /// Its first line's number.
        next_line: u64,
        /// It holds an over-long line.
        long_line: bool,
    },
}

/// Frames all of `data` (source `source`, starting at source offset 0, line 1) into batches
/// from `pool`, handing each to `send` in order; `threads` copy threads. Returns false as soon
/// as `send` does.
pub fn frame_parallel(
    data: &[u8],
    pool: &BufferPool,
    cfg: &FramerConfig,
    source: Arc<str>,
    threads: usize,
    send: &mut dyn FnMut(Batch) -> bool,
) -> bool {
    let whole = Piece {
        data,
        offset: 0,
        first_line: 1,
    };
    let (at, next_line) = if threads <= 1 {
        (0, 1)
    } else {
        match frame_piece(&whole, pool, cfg, source.clone(), threads, send) {
            PieceEnd::Stopped => return false,
            PieceEnd::Rest { at, next_line, .. } => (at, next_line),
        }
    };
    frame_rest(data, 0, pool, cfg, source, at, next_line, send)
}

/// Frames the whole batches of `piece` on `threads` copy threads (see the module docs), handing
/// them to `send` in order; says where it stopped.
pub fn frame_piece(
    piece: &Piece<'_>,
    pool: &BufferPool,
    cfg: &FramerConfig,
    source: Arc<str>,
    threads: usize,
    send: &mut dyn FnMut(Batch) -> bool,
) -> PieceEnd {
    let data = piece.data;
    let threads = threads.max(1);
    let cfg = Framer::effective(cfg, pool);
    // At most this many batches between planned and sent, each holding one buffer: the batch
    // sent next always gets a buffer once the stages after return theirs.
    let ahead = threads.min(pool.count().saturating_sub(1)).max(1);
    let stop = AtomicBool::new(false);
    let (job_tx, job_rx) = bounded::<Cut>(threads);
    let (done_tx, done_rx) = unbounded::<(usize, Batch)>();
    let (token_tx, token_rx) = bounded::<()>(ahead);
    for _ in 0..ahead {
        let _ = token_tx.send(());
    }
    let mut token_tx = Some(token_tx);
    let rest = std::thread::scope(|scope| {
        let planner = {
            let (stop, cfg) = (&stop, &cfg);
            let first_line = piece.first_line;
            scope.spawn(move || {
                plan(
                    data,
                    first_line,
                    cfg,
                    pool.capacity(),
                    stop,
                    &job_tx,
                    &token_rx,
                )
            })
        };
        for _ in 0..threads {
            let (jobs, done, stop, source) = (job_rx.clone(), done_tx.clone(), &stop, &source);
            scope.spawn(move || {
                for c in jobs {
                    if stop.load(Ordering::Relaxed) {
                        continue; // drain, so the planner never blocks
                    }
                    let mut buf = pool.acquire();
                    buf.extend_from_slice(&data[c.start..c.end]);
                    let batch = Batch {
                        seq: 0,
                        buf,
                        lines: c.lines,
                        origin: Origin {
                            source: source.clone(),
                            first_line: c.first_line,
                            offset: piece.offset + c.start as u64,
                        },
                        skipped: Vec::new(),
                    };
                    if done.send((c.idx, batch)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((job_rx, done_tx));
        // In order: a batch waits here until those before it are sent.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0usize;
        for (idx, batch) in done_rx {
            if stop.load(Ordering::Relaxed) {
                continue; // dropped: its buffer goes back to the pool
            }
            waiting.insert(idx, batch);
            while let Some(b) = waiting.remove(&next) {
                next += 1;
                if !send(b) {
                    stop.store(true, Ordering::Relaxed);
                    waiting.clear();
                    token_tx = None; // wakes the planner, which sees `stop`
                    break;
                }
                if let Some(t) = &token_tx {
                    let _ = t.send(());
                }
            }
        }
        // A planner that panicked is a bug: never a silent end of the input.
        planner
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    });
    if stop.load(Ordering::Relaxed) {
        return PieceEnd::Stopped;
    }
    PieceEnd::Rest {
        at: rest.at,
        next_line: rest.next_line,
        long_line: rest.long_line,
    }
}

/// The one-thread framer over `data[at..]` (source offset `offset + at`, line `next_line`), to
/// the stream's end.
#[allow(clippy::too_many_arguments)]
fn frame_rest(
    data: &[u8],
    offset: u64,
    pool: &BufferPool,
    cfg: &FramerConfig,
    source: Arc<str>,
    at: usize,
    next_line: u64,
    send: &mut dyn FnMut(Batch) -> bool,
) -> bool {
    let mut f = Framer::new(pool.clone(), cfg.clone(), source);
    f.set_position(offset + at as u64, next_line);
    for chunk in data[at..].chunks(4 << 20) {
        if !f.push_each(chunk, send) {
            return false;
        }
    }
    f.finish();
    while let Some(b) = f.pop() {
        if !send(b) {
            return false;
        }
    }
    true
}

/// Finds the batches' bounds and queues them for copying; returns where the one-thread framer
/// must go on (the last batch, or the batch holding the first over-long line).
fn plan(
    data: &[u8],
    first_line: u64,
    cfg: &FramerConfig,
    cap: usize,
    stop: &AtomicBool,
    jobs: &crossbeam_channel::Sender<Cut>,
    tokens: &crossbeam_channel::Receiver<()>,
) -> Rest {
    let (max_len, max_lines) = (cfg.max_line_len, cfg.max_lines as u64);
    let block = block_len(max_len);
    let (mut start, mut lines, mut line_start, mut scanned) = (0usize, 0u64, 0usize, 0usize);
    let mut idx = 0usize;
    let mut first_line = first_line;
    let rest = |at, first_line, long_line| Rest {
        at,
        next_line: first_line,
        long_line,
    };
    while scanned < data.len() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let end = (scanned + block).min(data.len());
        let region = &data[scanned..end];
        let (n, last) = match scan_block(region, scanned - line_start, max_len) {
            Block::NoNewline => {
                scanned = end;
                continue;
            }
            Block::LongLine => return rest(start, first_line, true),
            Block::Lines { count, last } => (count, last),
        };
        if end - start <= cap && lines + n < max_lines {
            lines += n;
            line_start = scanned + last + 1;
            scanned = end;
            continue;
        }
        // The batch ends in this block (line count or buffer size): line by line.
        let mut cut = None;
        for rel in memchr::memchr_iter(b'\n', region) {
            let e = scanned + rel;
            if e + 1 - start > cap {
                cut = Some(line_start);
                break;
            }
            lines += 1;
            line_start = e + 1;
            if lines == max_lines {
                cut = Some(line_start);
                break;
            }
        }
        match cut {
            Some(at) if at > start => {
                let c = Cut {
                    idx,
                    start,
                    end: at,
                    lines,
                    first_line,
                };
                if tokens.recv().is_err() || jobs.send(c).is_err() {
                    break;
                }
                idx += 1;
                first_line += lines;
                (start, lines, line_start, scanned) = (at, 0, at, at);
            }
            Some(_) => return rest(start, first_line, true),
            None => scanned = end,
        }
    }
    // A last line already longer than allowed, its newline not seen yet.
    rest(start, first_line, data.len() - line_start > max_len)
}
