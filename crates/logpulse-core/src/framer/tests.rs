//! The framer against plain splits of random inputs, and its limits (huge reads, long lines).

use super::*;

fn frame(input: &[u8], cfg: FramerConfig, cap: usize, chunk: usize) -> Vec<Batch> {
    Framer::new(BufferPool::heap(64, cap), cfg, "test".into()).frame_all(input, chunk)
}

fn lines_of(batches: &[Batch]) -> Vec<Vec<u8>> {
    batches
        .iter()
        .flat_map(|b| {
            b.bytes()
                .split(|&c| c == b'\n')
                .take(b.lines as usize)
                .map(|l| l.to_vec())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A random case: lines of random lengths around the limit (some empty, some too long, maybe
/// no final newline), random batch size, buffer size and read chunk. Returns the input, the
/// settings, the buffer size, the chunk, the lines kept and the rejects (line, offset)
/// a plain split gives.
#[allow(clippy::type_complexity)]
fn random_case(
    below: &mut impl FnMut(u64) -> u64,
) -> (
    Vec<u8>,
    FramerConfig,
    usize,
    usize,
    Vec<Vec<u8>>,
    Vec<(u64, u64)>,
) {
    let max_len = [1, 5, 40, 64, 100, 1000][below(6) as usize];
    let max_lines = 1 + below(50) as usize;
    let mut input = Vec::new();
    let mut kept = Vec::new();
    let mut rejects = Vec::new();
    let n = below(400);
    for i in 0..n {
        let len = match below(10) {
            0 => 0,
            1 => max_len + 1 + below(3 * max_len as u64 + 5) as usize,
            2 => max_len,
            _ => below(max_len as u64 + 1) as usize,
        };
        let offset = input.len() as u64;
        let line: Vec<u8> = (0..len)
            .map(|j| b'a' + ((i as usize + j) % 26) as u8)
            .collect();
        input.extend_from_slice(&line);
        let last = i + 1 == n;
        if !(last && below(2) == 0) {
            input.push(b'\n');
        } else if len == 0 {
            continue; // an empty unterminated tail is no line
        }
        if len > max_len {
            rejects.push((i + 1, offset));
        } else {
            kept.push(line);
        }
    }
    let cap = (2 * max_len + 2).max(64) * (1 + below(4) as usize);
    let chunk = 1 + below(300) as usize;
    let cfg = FramerConfig {
        max_lines,
        max_line_len: max_len,
    };
    (input, cfg, cap, chunk, kept, rejects)
}

/// Random line lengths around the limit, random chunking and batch sizes: the framer's
/// kept lines, rejects (with line numbers and offsets) and batch origins equal a plain
/// split of the input.
#[test]
fn random_inputs_frame_like_a_plain_split() {
    let mut r = crate::gen::Rng(7);
    let mut below = move |n: u64| r.next() % n.max(1);
    for round in 0..300 {
        let (input, cfg, cap, chunk, expect_kept, expect_rejects) = random_case(&mut below);
        let max_lines = cfg.max_lines;
        // Every batch is held at once: a pool with room for one per line and reject.
        let bs = Framer::new(
            BufferPool::heap(2 * input.len() + 4, cap),
            cfg,
            "test".into(),
        )
        .frame_all(&input, chunk);
        assert_eq!(lines_of(&bs), expect_kept, "round {round}");
        let rejects: Vec<(u64, u64)> = bs
            .iter()
            .flat_map(|b| b.skipped.iter().map(|r| (r.line_no, r.offset)))
            .collect();
        assert_eq!(rejects, expect_rejects, "round {round}");
        for b in &bs {
            assert!(b.lines as usize <= max_lines, "round {round}");
            let start = b.origin.offset as usize;
            assert_eq!(
                &input[start..(start + b.bytes().len()).min(input.len())],
                &b.bytes()[..b.bytes().len().min(input.len() - start)],
                "round {round}: batch bytes at their source offset"
            );
        }
    }
}

/// Everything a batch is, for comparing two framings: bytes, lines, first line, offset,
/// rejects (line, offset, kept bytes).
type Described = (Vec<u8>, u64, u64, u64, Vec<(u64, u64, Vec<u8>)>);

fn describe(b: &Batch) -> Described {
    (
        b.bytes().to_vec(),
        b.lines,
        b.origin.first_line,
        b.origin.offset,
        b.skipped
            .iter()
            .map(|r| (r.line_no, r.offset, r.line.clone()))
            .collect(),
    )
}

/// The parallel framer makes exactly the one-thread framer's batches, for any thread count,
/// on random inputs and on generated logs with small batches and buffers.
#[test]
fn parallel_framing_equals_one_thread() {
    let mut r = crate::gen::Rng(11);
    let mut below = move |n: u64| r.next() % n.max(1);
    let mut cases: Vec<(Vec<u8>, FramerConfig, usize)> = (0..300)
        .map(|_| {
            let (input, cfg, cap, _, _, _) = random_case(&mut below);
            (input, cfg, cap)
        })
        .collect();
    let mut log = Vec::new();
    crate::gen::Generator::new(crate::gen::GenConfig {
        lines: 20_000,
        ..Default::default()
    })
    .fill(&mut log, usize::MAX);
    for (max_lines, cap) in [(1000, 1 << 20), (250_000, 64 << 10), (777, 100 << 10)] {
        let cfg = FramerConfig {
            max_lines,
            max_line_len: 300,
        };
        cases.push((log.clone(), cfg, cap));
    }
    let mut with_long = log[..50_000].to_vec();
    with_long.extend(std::iter::repeat_n(b'x', 5000));
    with_long.extend_from_slice(&log[50_000..60_000]);
    cases.push((
        with_long,
        FramerConfig {
            max_lines: 100,
            max_line_len: 1000,
        },
        64 << 10,
    ));
    for (i, (input, cfg, cap)) in cases.iter().enumerate() {
        let pool = || BufferPool::heap(2 * input.len() / 8 + 64, *cap);
        let one: Vec<_> = Framer::new(pool(), cfg.clone(), "t".into())
            .frame_all(input, 4 << 20)
            .iter()
            .map(describe)
            .collect();
        for threads in [2, 3, 8] {
            let mut got = Vec::new();
            assert!(frame_parallel(
                input,
                &pool(),
                cfg,
                "t".into(),
                threads,
                &mut |b| {
                    got.push(describe(&b));
                    true
                }
            ));
            assert_eq!(
                got.len(),
                one.len(),
                "case {i}, {threads} threads: batch count"
            );
            if let Some(k) = (0..one.len()).find(|&k| got[k] != one[k]) {
                let short = |d: &Described| {
                    (
                        String::from_utf8_lossy(&d.0).to_string(),
                        d.1,
                        d.2,
                        d.3,
                        d.4.clone(),
                    )
                };
                panic!(
                    "case {i} ({cfg:?}, cap {cap}), {threads} threads: batch {k} of {}: \
                     got (bytes, lines, first line, offset, rejects) {:?}, one thread {:?}",
                    one.len(),
                    short(&got[k]),
                    short(&one[k])
                );
            }
        }
    }
}

/// Stopping early (the consumer refuses a batch) returns false without hanging, even with a
/// pool smaller than the thread count.
#[test]
fn parallel_framing_stops_when_the_consumer_does() {
    let mut log = Vec::new();
    crate::gen::Generator::new(crate::gen::GenConfig {
        lines: 20_000,
        ..Default::default()
    })
    .fill(&mut log, usize::MAX);
    let cfg = FramerConfig {
        max_lines: 100,
        max_line_len: 1000,
    };
    let pool = BufferPool::heap(3, 64 << 10);
    let mut n = 0;
    let ok = frame_parallel(&log, &pool, &cfg, "t".into(), 8, &mut |_| {
        n += 1;
        n < 5
    });
    assert!(!ok);
    assert_eq!(n, 5);
}

#[test]
fn cuts_by_line_count_and_keeps_positions() {
    let input = b"a\nbb\nccc\ndddd\ne\n";
    let cfg = FramerConfig {
        max_lines: 2,
        max_line_len: 100,
    };
    for chunk in [1, 3, 100] {
        let bs = frame(input, cfg.clone(), 256, chunk);
        assert_eq!(bs.iter().map(|b| b.lines).collect::<Vec<_>>(), [2, 2, 1]);
        assert_eq!(bs[1].origin.first_line, 3);
        assert_eq!(bs[1].origin.offset, 5);
        assert_eq!(bs[2].origin.offset, 14);
        assert_eq!(lines_of(&bs).len(), 5);
    }
}

#[test]
fn a_huge_read_never_needs_more_than_a_few_buffers() {
    // 3 buffers only: cutting 1000 one-line batches out of one big read must not deadlock.
    let input: Vec<u8> = (0..1000)
        .flat_map(|i| format!("l{i}\n").into_bytes())
        .collect();
    let pool = BufferPool::heap(3, 1 << 16);
    let mut f = Framer::new(
        pool,
        FramerConfig {
            max_lines: 1,
            max_line_len: 100,
        },
        "t".into(),
    );
    let mut n = 0;
    assert!(f.push_each(&input, &mut |b| {
        assert_eq!(b.lines, 1);
        n += 1;
        true
    }));
    f.finish();
    while f.pop().is_some() {
        n += 1;
    }
    assert_eq!(n, 1000);
}

#[test]
fn missing_final_newline_is_added() {
    let bs = frame(b"a\nb", FramerConfig::default(), 64, 1);
    assert_eq!(lines_of(&bs), [b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn full_buffer_cuts_at_last_whole_line() {
    let input: Vec<u8> = (0..100)
        .flat_map(|i| format!("line{i:03}\n").into_bytes())
        .collect();
    let bs = frame(&input, FramerConfig::default(), 64, 7);
    let got = lines_of(&bs);
    assert_eq!(got.len(), 100);
    assert_eq!(got[99], b"line099");
    let mut off = 0;
    let mut line = 1;
    for b in &bs {
        assert_eq!(b.origin.offset, off);
        assert_eq!(b.origin.first_line, line);
        off += b.bytes().len() as u64;
        line += b.lines;
    }
}

#[test]
fn over_long_lines_are_rejected_not_buffered() {
    let mut input = b"ok1\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 10_000));
    input.extend_from_slice(b"\nok2\n");
    input.extend(std::iter::repeat_n(b'y', 50));
    input.extend_from_slice(b"\nok3\n");
    input.extend(std::iter::repeat_n(b'z', 5000)); // ends inside a long line
    let cfg = FramerConfig {
        max_lines: 1000,
        max_line_len: 40,
    };
    for chunk in [1, 13, 4096, 1 << 20] {
        let bs = frame(&input, cfg.clone(), 128, chunk);
        let good = lines_of(&bs);
        assert_eq!(
            good,
            [b"ok1".to_vec(), b"ok2".to_vec(), b"ok3".to_vec()],
            "chunk {chunk}"
        );
        let rejects: Vec<&Reject> = bs.iter().flat_map(|b| b.skipped.iter()).collect();
        assert_eq!(rejects.len(), 3, "chunk {chunk}");
        assert_eq!(rejects[0].line_no, 2);
        assert_eq!(rejects[0].offset, 4);
        assert_eq!(rejects[1].line_no, 4);
        assert_eq!(rejects[1].offset, 4 + 10_001 + 4);
        assert_eq!(rejects[2].line_no, 6);
        assert!(rejects
            .iter()
            .all(|r| r.reason == RejectReason::LineTooLong));
        // ok2's batch knows where ok2 is in the source.
        let b2 = bs
            .iter()
            .find(|b| b.bytes().starts_with(b"ok2"))
            .expect("ok2 batch");
        assert_eq!(b2.origin.offset, 4 + 10_001);
        assert_eq!(b2.origin.first_line, 3);
    }
}

#[test]
fn a_pool_that_feeds_a_device_gets_the_device_reader_count() {
    let heap = BufferPool::heap(1, 64);
    assert!(!heap.feeds_device());
    assert_eq!(frame_threads_for(&heap), frame_threads());
    let device = heap.clone().for_device();
    assert!(device.feeds_device());
    assert_eq!(frame_threads_for(&device), frame_threads_for_device());
    // Clones keep the mark (the pipeline and the sources hold clones).
    assert!(device.clone().feeds_device());
    assert_eq!(
        crate::window::merge_threads_for(&device),
        crate::window::merge_threads_for_device()
    );
    assert_eq!(
        crate::window::merge_threads_for(&heap),
        crate::window::merge_threads()
    );
}
