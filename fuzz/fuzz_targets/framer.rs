//! The framer on arbitrary bytes in arbitrary pieces: every byte ends up in a batch or a
//! rejected over-long line, positions stay consistent, nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logpulse_core::batch::BufferPool;
use logpulse_core::framer::{Framer, FramerConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, input)) = data.split_first() else { return };
    let max_lines = 1 + (cfg & 7) as usize;
    let max_line_len = 1 + (cfg >> 3) as usize * 4;
    let pool = BufferPool::heap(4, 256);
    let mut f = Framer::new(pool, FramerConfig { max_lines, max_line_len }, "fuzz".into());
    let mut lines = 0u64;
    let mut rejected = 0u64;
    let mut count = |b: logpulse_core::Batch| {
        lines += b.lines;
        rejected += b.skipped.len() as u64;
        true
    };
    for piece in input.chunks(1 + (cfg as usize % 37)) {
        f.push_each(piece, &mut count);
    }
    f.finish();
    while let Some(b) = f.pop() {
        count(b);
    }
    let newlines = input.iter().filter(|&&b| b == b'\n').count() as u64;
    let unterminated = u64::from(input.last().is_some_and(|&b| b != b'\n'));
    assert_eq!(lines + rejected, newlines + unterminated);
});
