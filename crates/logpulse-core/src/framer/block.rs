//! The framer's scan, a block of bytes at a time: the block's newlines (memchr's SIMD search
//! and count) and whether a line ending in it is longer than the limit, so that an over-long
//! line is found without being buffered whole.

/// Bytes a block-at-a-time scan looks at at once: at most `max_line_len`, so that a gap
/// between two newlines of one block is never an over-long line.
pub(super) fn block_len(max_line_len: usize) -> usize {
    max_line_len.clamp(1, 1 << 16)
}

/// What a block of [`block_len`] bytes holds.
pub(super) enum Block {
    /// No newline.
    NoNewline,
    /// Its first newline ends a line longer than `max_line_len`.
    LongLine,
    /// `count` newlines, the last at `last`; every line they end is short enough.
    Lines { count: u64, last: usize },
}

/// The newlines of a block: offsets of the first and the last, and how many.
#[derive(Debug, Clone, Copy)]
pub(super) struct Newlines {
    first: usize,
    last: usize,
    count: u64,
}

/// The newlines of `region` (SIMD count), or `None` when it has none.
pub(super) fn newlines_in(region: &[u8]) -> Option<Newlines> {
    let first = memchr::memchr(b'\n', region)?;
    Some(Newlines {
        first,
        last: memchr::memrchr(b'\n', region).unwrap_or(first),
        count: memchr::memchr_iter(b'\n', region).count() as u64,
    })
}

/// What a block holds, given its newlines and the `gap` between the start of the current line
/// and the block: only the gap into the block can make a line too long.
pub(super) fn classify(newlines: Option<Newlines>, gap: usize, max_len: usize) -> Block {
    match newlines {
        None => Block::NoNewline,
        Some(n) if gap + n.first > max_len => Block::LongLine,
        Some(n) => Block::Lines {
            count: n.count,
            last: n.last,
        },
    }
}

/// Scans `region` (at most [`block_len`] bytes), which starts `gap` bytes after the start of
/// the current line.
pub(super) fn scan_block(region: &[u8], gap: usize, max_len: usize) -> Block {
    classify(newlines_in(region), gap, max_len)
}
