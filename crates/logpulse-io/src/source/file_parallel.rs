//! Reading a plain file on several threads: `pread` of large pieces into a scratch buffer at
//! once, then the parallel framer copies its batches into the pool while the next round is
//! read. One thread reads the page
//! cache at ~4 GB/s on the GPU host, a tenth of what the GPU takes.
//!
//! The batches are exactly the one-thread framer's: what the planner cannot frame (the file's
//! last lines, or a line longer than the limit) is left to it, from the position returned.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use logpulse_core::batch::BufferPool;
use logpulse_core::checkpoint::SourcePosition;
use logpulse_core::framer::{frame_piece, FramerConfig, Piece, PieceEnd};
use logpulse_core::pipeline::{BatchSender, SourceError};

use super::io_err;

/// Bytes one reading thread asks for at a time.
const READ_PIECE: usize = 8 << 20;

/// Frames `file` from `start` with `threads` threads while whole batches can be cut. Returns
/// where the one-thread framer must go on, or `None` when the run is stopping.
///
/// Two scratch buffers take turns: while the copy threads frame one round, the readers fill
/// the other with the bytes that follow it, so reading and copying overlap. A round's bytes
/// sit after room for one batch: the carry-over (the batch still incomplete at a round's end)
/// is never longer, else the planner would have cut it.
pub(crate) fn frame_file_parallel(
    file: &File,
    start: SourcePosition,
    pool: &BufferPool,
    cfg: &FramerConfig,
    out: &BatchSender,
    name: &Arc<str>,
    threads: usize,
) -> Result<Option<SourcePosition>, SourceError> {
    let room = pool.capacity();
    // Several batches a round (batches seldom fill their buffers), so the copy threads have
    // work side by side; the two rounds together hold what one round of 4 buffers did.
    let fresh = (2 * room).max(1 << 20);
    let read = |buf: &mut [u8], at: u64| {
        read_at_parallel(file, at, &mut buf[room..], threads)
            .map_err(|e| io_err(format!("reading {name} at byte {at}"), e))
    };
    let (mut cur, mut next) = (vec![0u8; room + fresh], vec![0u8; room + fresh]);
    let mut file_at = start.offset;
    let mut n = read(&mut cur, file_at)?;
    // This round's bytes are `cur[from..room + n]`, from source position `pos`.
    let (mut pos, mut from) = (start, room);
    loop {
        if out.stopping() {
            return Ok(None);
        }
        let at_end = n < fresh;
        let next_at = file_at + n as u64;
        let (framed, next_n) = std::thread::scope(|scope| {
            let reader = (!at_end).then(|| scope.spawn(|| read(&mut next, next_at)));
            let piece = Piece {
                data: &cur[from..room + n],
                offset: pos.offset,
                first_line: pos.next_line,
            };
            let send = &mut |b| !out.stopping() && out.send(b);
            let framed = frame_piece(&piece, pool, cfg, name.clone(), threads, send);
            let next_n = reader.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            (framed, next_n)
        });
        let PieceEnd::Rest {
            at,
            next_line,
            long_line,
        } = framed
        else {
            return Ok(None);
        };
        let rest = SourcePosition {
            offset: pos.offset + at as u64,
            next_line,
        };
        out.add_bytes(at as u64); // the rest is counted by whoever reads it
        let carry = room + n - from - at;
        // The end of the file, an over-long line, or (never with batches smaller than a round)
        // no whole batch in a round: the one-thread framer.
        let Some(next_n) = next_n.filter(|_| !long_line && at > 0 && carry <= room) else {
            return Ok(Some(rest));
        };
        next[room - carry..room].copy_from_slice(&cur[from + at..room + n]);
        std::mem::swap(&mut cur, &mut next);
        (n, from, file_at, pos) = (next_n?, room - carry, next_at, rest);
    }
}

/// Fills `buf` from `file` at `offset` on `threads` threads, each reading a run of
/// `READ_PIECE`-byte pieces. Returns the bytes read: less than `buf.len()` only at the end of
/// the file.
fn read_at_parallel(
    file: &File,
    offset: u64,
    buf: &mut [u8],
    threads: usize,
) -> std::io::Result<usize> {
    let mut pieces: Vec<(usize, &mut [u8])> = buf.chunks_mut(READ_PIECE).enumerate().collect();
    let per_thread = pieces.len().div_ceil(threads.max(1)).max(1);
    let filled: Vec<std::io::Result<usize>> = std::thread::scope(|scope| {
        let runs: Vec<_> = pieces
            .chunks_mut(per_thread)
            .map(|run| {
                scope.spawn(move || {
                    run.iter_mut()
                        .map(|(i, p)| read_full_at(file, offset + (*i * READ_PIECE) as u64, p))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    // The bytes up to the first piece the file did not fill.
    let mut total = 0;
    for n in filled {
        let n = n?;
        total += n;
        if n < READ_PIECE {
            break;
        }
    }
    Ok(total)
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full_at(file: &File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
