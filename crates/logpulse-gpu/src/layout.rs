//! Rust mirrors of the structs and header slots of `kernels/common.cuh` (byte for byte).

/// Header slots (u64 words) written by the kernels.
pub mod header {
    /// Lines found by the line index.
    pub const LINES: usize = 0;
    /// Lines that became records.
    pub const RECORDS: usize = 1;
    /// Directive lines.
    pub const DIRECTIVES: usize = 2;
    /// Latest record time (i64 bits; i64::MIN when none).
    pub const MAX_TIME: usize = 3;
    /// Rejects written.
    pub const NREJECTS: usize = 4;
    /// Groups claimed.
    pub const NGROUPS: usize = 5;
    /// Error/histogram counters claimed.
    pub const NCOUNTS: usize = 6;
    /// Windows claimed (histogram windows).
    pub const NWINDOWS: usize = 7;
    /// Reject counts by reason code, 16 words.
    pub const REJECT_COUNTS: usize = 8;
    /// Bytes of the packed key arena.
    pub const KEY_BYTES: usize = 24;
    /// Records the filters left out (also counted in `RECORDS`).
    pub const FILTERED: usize = 25;
    /// Words in the header.
    pub const WORDS: usize = 32;
}

/// `LpGroup`: one device hash-table slot (zeroed = empty).
pub const GROUP_SLOT_BYTES: usize = 64;
/// `LpCount`.
pub const COUNT_SLOT_BYTES: usize = 16;
/// `LpWindow`.
pub const WINDOW_SLOT_BYTES: usize = 16;

/// Key offset meaning "the status key was never assigned: `000`".
pub const KEY_NONE: u32 = u32::MAX;

/// `LpGroupOut`: a compacted group.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupOut {
    /// `logpulse_core::agg::group_hash(window, key)`, as the device computed it.
    pub hash: u64,
    /// Window id.
    pub window: i64,
    /// Offset of the key in the readback's key arena (or [`KEY_NONE`]).
    pub key_off: u32,
    /// Its length.
    pub key_len: u32,
    /// Requests.
    pub requests: u32,
    /// 4xx.
    pub s4xx: u32,
    /// 5xx.
    pub s5xx: u32,
    /// Requests with a latency.
    pub lat_count: u32,
    /// Bytes sent.
    pub bytes: u64,
    /// Sum of latencies, microseconds.
    pub lat_sum: u64,
}

/// `LpCountOut`: an error or histogram counter.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CountOut {
    /// 1: error (`a` group index, `b` status); 2: histogram (`a` window index, `b` bucket).
    pub kind: u32,
    /// See `kind`.
    pub a: u32,
    /// See `kind`.
    pub b: u32,
    /// Occurrences.
    pub count: u32,
}

/// `LpReject`: a rejected line.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RejectOut {
    /// 0-based line index in the batch.
    pub line: u32,
    /// Byte offset of the line in the batch.
    pub offset: u32,
    /// `RejectReason` code.
    pub code: u32,
}

const _: () = assert!(std::mem::size_of::<GroupOut>() == 56);
const _: () = assert!(std::mem::size_of::<CountOut>() == 16);
const _: () = assert!(std::mem::size_of::<RejectOut>() == 12);

/// Most `#Fields:` layout changes in one batch (`LP_W3C_SEGS`).
pub const W3C_SEGS: usize = 32;
/// Most columns of one W3C layout (`LP_W3C_COLS`).
pub const W3C_COLS: usize = 64;

/// `LpW3c`: the W3C column layouts of one batch, passed to the parse kernel by value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct W3cLayouts {
    /// Segments in use (0 for formats other than W3C).
    pub nseg: u32,
    /// Byte offset in the batch where each segment's layout takes over.
    pub start: [u32; W3C_SEGS],
    /// Columns of each segment's layout.
    pub ncols: [u32; W3C_SEGS],
    /// Field kinds (`FieldKind as u8`) of each segment's columns.
    pub kinds: [[u8; W3C_COLS]; W3C_SEGS],
}

impl Default for W3cLayouts {
    fn default() -> Self {
        W3cLayouts {
            nseg: 0,
            start: [0; W3C_SEGS],
            ncols: [0; W3C_SEGS],
            kinds: [[0; W3C_COLS]; W3C_SEGS],
        }
    }
}
