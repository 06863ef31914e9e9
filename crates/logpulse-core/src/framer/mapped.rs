//! Framing a file mapped into memory: each batch is a read-only view of the mapping, so the
//! host copies no byte. The GPU backend's copy then reads the page cache itself (its pool's
//! [`MapPinner`](crate::batch::MapPinner) registers the pages with the driver), where the
//! `pread` framer of [`frame_parallel_from`](super::frame_parallel_from) first copies every
//! byte into a pinned buffer: a read and a write of host memory a byte, which on the GPU host
//! shared memory bandwidth with the DMA and capped page-cached runs at ~10 GB/s.
//!
//! Newlines are counted in blocks on several threads, and the same walk as the parallel framer
//! finds the cuts, so the batches are exactly the one-thread [`Framer`]'s. As there, what this
//! cannot frame (the stream's last batch, a line longer than the limit) is left to a
//! [`Framer`] from the position returned.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::bounded;
use rayon::prelude::*;

use super::parallel::{walk_blocks, BlockNewlines, Cut, Step, Walk};
use super::{block_len, newlines_in, Framer, FramerConfig, ParallelEnd};
use crate::batch::{Batch, BatchBuf, BufferPool, MappedView, Origin, SharedBytes};

/// Blocks one counting task takes at least (rayon's per-task cost is then negligible).
const MIN_BLOCKS_A_TASK: usize = 16;

/// Frames `data` from source position `(offset, line)` into batches viewing it, counting
/// newlines on `threads` threads; batches are as large as `pool`'s buffers allow (the pool
/// lends no buffer: it gives the size rules and the backend's pinner). Hands each batch to
/// `send` in order; says where it stopped.
pub fn frame_mapped_from(
    data: &SharedBytes,
    (offset, line): (u64, u64),
    pool: &BufferPool,
    cfg: &FramerConfig,
    source: Arc<str>,
    threads: usize,
    send: &mut dyn FnMut(Batch) -> bool,
) -> std::io::Result<ParallelEnd> {
    let counters = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("logpulse-count-{i}"))
        .build()
        .map_err(std::io::Error::other)?;
    let mut cutter = MappedCutter {
        counters: &counters,
        cfg: Framer::effective(cfg, pool),
        cap: pool.capacity(),
        expect: (4 << 20).min(pool.capacity()),
        count_s: 0.0,
    };
    let mut times = Times::default();
    let end = frame_views(
        data,
        (offset, line),
        pool,
        &mut cutter,
        &mut times,
        source.clone(),
        send,
    );
    if let Some(p) = pool.pinner() {
        p.done_with(data.bytes());
    }
    times.count = cutter.count_s;
    times.report(&source);
    Ok(end)
}

/// Where the mapped framer's time went, printed to stderr at the end when
/// `LOGPULSE_FRAME_TIMES` is set (as the `pread` framer's).
#[derive(Default)]
struct Times {
    /// Counting newlines (the pages' first touch: their faults are in here).
    count: f64,
    /// Pinning the batches' pages (the backend's registration).
    pin: f64,
    /// Handing batches on (waiting for the pipeline).
    send: f64,
    batches: u64,
}

impl Times {
    fn report(&self, source: &str) {
        if std::env::var_os("LOGPULSE_FRAME_TIMES").is_some() {
            eprintln!(
                "logpulse: framing {source} mapped: {} batches; count {:.3}s, pin {:.3}s, \
                 send {:.3}s",
                self.batches, self.count, self.pin, self.send
            );
        }
    }
}

/// A batch cut and being pinned, not yet handed on.
struct Pending {
    offset: u64,
    first_line: u64,
    lines: u64,
}

/// The loop of [`frame_mapped_from`]. Cutting and pinning overlap: a helper thread pins the
/// pages of batch N (the GPU's registration, ~14 GB/s in the pipeline on the H200 host) while
/// the counters look for the cut of batch N+1.
fn frame_views(
    data: &SharedBytes,
    (offset, line): (u64, u64),
    pool: &BufferPool,
    cutter: &mut MappedCutter,
    times: &mut Times,
    source: Arc<str>,
    send: &mut dyn FnMut(Batch) -> bool,
) -> ParallelEnd {
    let all: &[u8] = data.bytes();
    let pinner = pool.pinner();
    std::thread::scope(|s| {
        let (jobs, jobs_in) = bounded::<Range<usize>>(2);
        let (views_out, views) = bounded::<(MappedView, f64)>(2);
        let pin_data = data.clone();
        let pinning = std::thread::Builder::new()
            .name("logpulse-pin".into())
            .spawn_scoped(s, move || {
                for range in jobs_in {
                    let t = Instant::now();
                    let view = MappedView::new(pin_data.clone(), range, pinner);
                    if views_out.send((view, t.elapsed().as_secs_f64())).is_err() {
                        break;
                    }
                }
            });
        if pinning.is_err() {
            // No thread to pin on: leave the whole file to the one-thread framer.
            return ParallelEnd::Rest {
                offset,
                next_line: line,
            };
        }
        let mut pending: VecDeque<Pending> = VecDeque::new();
        // Hands the oldest pending batch on; the position to go on from when that fails.
        let mut hand_on = |p: Pending, times: &mut Times| -> Result<(), ParallelEnd> {
            let Ok((view, pin_s)) = views.recv() else {
                // The pinning thread is gone: the one-thread framer takes over here.
                return Err(ParallelEnd::Rest {
                    offset: p.offset,
                    next_line: p.first_line,
                });
            };
            times.pin += pin_s;
            let batch = Batch {
                seq: 0,
                buf: BatchBuf::view(view),
                lines: p.lines,
                origin: Origin {
                    source: source.clone(),
                    first_line: p.first_line,
                    offset: p.offset,
                },
                skipped: Vec::new(),
            };
            let t = Instant::now();
            let sent = send(batch);
            times.send += t.elapsed().as_secs_f64();
            times.batches += 1;
            if sent {
                Ok(())
            } else {
                Err(ParallelEnd::Stopped)
            }
        };
        let (mut offset, mut line) = (offset, line);
        loop {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
            let Some(cut) = cutter.next_cut(&all[start..]) else {
                break;
            };
            if jobs.send(start..start + cut.at).is_err() {
                break;
            }
            pending.push_back(Pending {
                offset,
                first_line: line,
                lines: cut.lines,
            });
            (offset, line) = (offset + cut.at as u64, line + cut.lines);
            if pending.len() > 1 {
                if let Some(p) = pending.pop_front() {
                    if let Err(end) = hand_on(p, times) {
                        return end;
                    }
                }
            }
        }
        while let Some(p) = pending.pop_front() {
            if let Err(end) = hand_on(p, times) {
                return end;
            }
        }
        ParallelEnd::Rest {
            offset,
            next_line: line,
        }
    })
}

/// Finds cuts in the mapped bytes.
struct MappedCutter<'a> {
    counters: &'a rayon::ThreadPool,
    cfg: FramerConfig,
    cap: usize,
    /// Bytes the next batch is expected to take (the last batch's).
    expect: usize,
    /// Seconds spent counting.
    count_s: f64,
}

impl MappedCutter<'_> {
    /// The cut of the batch at the start of `rest`; `None` when the batch holds the stream's
    /// end or an over-long line (the one-thread framer's cases).
    fn next_cut(&mut self, rest: &[u8]) -> Option<Cut> {
        let block = block_len(self.cfg.max_line_len);
        let mut walk = Walk::default();
        // A little more than the last batch, so that a batch is mostly counted in one go.
        let mut want = self.expect + self.expect / 32 + 2 * block;
        loop {
            let end = want.max(walk.scanned + 1).min(self.cap);
            // The stream's end in sight: its last batch is the one-thread framer's.
            if end >= rest.len() {
                return None;
            }
            let blocks = self.count(rest, walk.scanned, end);
            let cut = match walk_blocks(&self.cfg, self.cap, rest, &blocks, &mut walk) {
                Step::Cut(cut) => Some(cut),
                Step::LongLine => return None,
                // A full buffer ends at its last whole line.
                Step::More if end >= self.cap && walk.lines > 0 => Some(Cut {
                    at: walk.line_start,
                    lines: walk.lines,
                }),
                Step::More if end >= self.cap => return None,
                Step::More => None,
            };
            if let Some(cut) = cut {
                self.expect = cut.at;
                return Some(cut);
            }
            want = end + (end / 2).max(1 << 20);
            // A line still open for longer than allowed: over-long, whatever follows.
            if end - walk.line_start > self.cfg.max_line_len {
                return None;
            }
        }
    }

    /// The newlines of `bytes[from..end]`, in blocks, counted on the counting threads.
    fn count(&mut self, bytes: &[u8], from: usize, end: usize) -> Vec<BlockNewlines> {
        let t = Instant::now();
        let block = block_len(self.cfg.max_line_len);
        let blocks = self.counters.install(|| {
            bytes[from..end]
                .par_chunks(block)
                .with_min_len(MIN_BLOCKS_A_TASK)
                .enumerate()
                .map(|(k, b)| BlockNewlines {
                    start: from + k * block,
                    end: from + k * block + b.len(),
                    newlines: newlines_in(b),
                })
                .collect()
        });
        self.count_s += t.elapsed().as_secs_f64();
        blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::MappedBytes;

    /// Frames `input` mapped, then the rest with the one-thread framer, as the file source does;
    /// also says how many batches were mapped views.
    fn frame_mapped_all(
        input: &[u8],
        pool: &BufferPool,
        cfg: &FramerConfig,
    ) -> (Vec<Batch>, usize) {
        let data: SharedBytes = Arc::new(input.to_vec());
        let mut out = Vec::new();
        let end = frame_mapped_from(&data, (0, 1), pool, cfg, "t".into(), 3, &mut |b| {
            out.push(b);
            true
        })
        .expect("counting threads start");
        let ParallelEnd::Rest { offset, next_line } = end else {
            panic!("stopped without being asked to");
        };
        let mapped = out.len();
        let mut f = Framer::new(pool.clone(), cfg.clone(), "t".into());
        f.set_position(offset, next_line);
        f.frame_each(&input[offset as usize..], 4 << 10, &mut |b| {
            out.push(b);
            true
        });
        (out, mapped)
    }

    fn frame_one_thread(input: &[u8], pool: &BufferPool, cfg: &FramerConfig) -> Vec<Batch> {
        let mut out = Vec::new();
        Framer::new(pool.clone(), cfg.clone(), "t".into()).frame_each(input, 4 << 10, &mut |b| {
            out.push(b);
            true
        });
        out
    }

    /// Lines of varied lengths (empty ones, and from line `long_from` on some over the limit),
    /// CRLF, no final newline.
    fn mixed_input(lines: usize, long_from: usize) -> Vec<u8> {
        let mut s = Vec::new();
        for i in 0..lines {
            let len = match i % 97 {
                0 => 0,
                13 if i >= long_from => 5000, // over the 4 KiB line limit below
                _ => (i * 7919) % 300,
            };
            s.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
            s.extend_from_slice(if i % 5 == 0 { b"\r\n" } else { b"\n" });
        }
        s.extend_from_slice(b"last line without newline");
        s
    }

    #[test]
    fn mapped_batches_are_the_one_thread_framers() {
        for (max_lines, cap) in [(100, 64 << 10), (10_000, 64 << 10), (7, 16 << 10)] {
            let cfg = FramerConfig {
                max_lines,
                max_line_len: 4 << 10,
            };
            // With whether some batches must be views (`None`: depends on the sizes).
            let inputs = [
                (mixed_input(3000, 0), None),
                (mixed_input(5000, 2500), Some(true)),
                (mixed_input(3000, usize::MAX), Some(true)),
                (b"a\nb\n".to_vec(), Some(false)),
                (Vec::new(), Some(false)),
            ];
            for (input, some_mapped) in inputs {
                let pool = || BufferPool::heap(input.len() / 64 + 64, cap);
                let want = frame_one_thread(&input, &pool(), &cfg);
                let (got, mapped) = frame_mapped_all(&input, &pool(), &cfg);
                if let Some(some) = some_mapped {
                    assert_eq!(mapped > 0, some, "mapped batches: {mapped}");
                }
                let view = |v: &[Batch]| -> Vec<(u64, u64, u64, Vec<u8>, usize)> {
                    v.iter()
                        .map(|b| {
                            let o = &b.origin;
                            (
                                o.offset,
                                o.first_line,
                                b.lines,
                                b.bytes().to_vec(),
                                b.skipped.len(),
                            )
                        })
                        .collect()
                };
                assert_eq!(view(&got), view(&want), "max_lines {max_lines}, cap {cap}");
            }
        }
    }

    #[test]
    fn mapped_framing_stops_when_the_consumer_does() {
        let input = mixed_input(5000, usize::MAX);
        let data: SharedBytes = Arc::new(input);
        let cfg = FramerConfig {
            max_lines: 100,
            max_line_len: 4 << 10,
        };
        let pool = BufferPool::heap(4, 64 << 10);
        let mut seen = 0;
        let end = frame_mapped_from(&data, (0, 1), &pool, &cfg, "t".into(), 2, &mut |_| {
            seen += 1;
            seen < 3
        })
        .expect("counting threads start");
        assert!(matches!(end, ParallelEnd::Stopped));
        assert_eq!(seen, 3, "no batch after the consumer stopped");
    }

    #[test]
    fn a_view_is_read_only_and_unpinned_before_its_bytes_go() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::Mutex;
        /// Bytes pinned now (the pinner adds, its guard clears).
        static PINNED: AtomicUsize = AtomicUsize::new(0);
        struct Pinner;
        struct Guard;
        impl crate::batch::MapPinner for Pinner {
            fn pin(&self, _: &[u8], r: std::ops::Range<usize>) -> Box<dyn Send + Sync> {
                PINNED.fetch_add(r.len(), SeqCst);
                Box::new(Guard)
            }
        }
        impl Drop for Guard {
            fn drop(&mut self) {
                PINNED.store(0, SeqCst);
            }
        }
        /// Records each released range with the bytes still pinned when it was released.
        struct Recording(Vec<u8>, Mutex<Vec<(std::ops::Range<usize>, usize)>>);
        impl MappedBytes for Recording {
            fn bytes(&self) -> &[u8] {
                &self.0
            }
            fn release(&self, r: std::ops::Range<usize>) {
                let mut log = self.1.lock().unwrap_or_else(|p| p.into_inner());
                log.push((r, PINNED.load(SeqCst)));
            }
        }
        let rec = Arc::new(Recording(b"abc\ndef\n".to_vec(), Mutex::new(Vec::new())));
        let data: SharedBytes = rec.clone();
        let mut buf = BatchBuf::view(MappedView::new(data, 4..8, Some(&Pinner)));
        assert_eq!(buf.bytes(), b"def\n");
        assert!(buf.spare_mut().is_empty());
        assert_eq!(PINNED.load(SeqCst), 4);
        assert!(rec.1.lock().map(|l| l.is_empty()).unwrap_or(false));
        drop(buf);
        // Unpinned first, then released, once.
        assert_eq!(PINNED.load(SeqCst), 0);
        let log = rec.1.lock().map(|l| l.clone()).unwrap_or_default();
        assert_eq!(log, vec![(4..8, 0)]);
    }
}
