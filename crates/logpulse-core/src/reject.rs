//! Rejected lines: every line that is not a record is counted under a reason and kept.

use serde::Serialize;

/// Why a line was not turned into a record. The code (`as_str`) is stable: it appears in the
/// rejects file, the summary and the JSON output. GPU kernels use the same numbering (`code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[repr(u8)]
pub enum RejectReason {
    /// The line is empty (or only `\r`).
    EmptyLine = 1,
    /// The line is longer than the framer's limit; only its start is kept.
    LineTooLong = 2,
    /// A NUL or other control byte that no text log holds.
    BinaryData = 3,
    /// The line ends before all the format's fields were found.
    Truncated = 4,
    /// A literal of the format (a separator, bracket or quote) is not where it should be.
    FormatMismatch = 5,
    /// The timestamp is missing or not a valid time.
    BadTime = 6,
    /// The status is not a 3-digit number.
    BadStatus = 7,
    /// The byte count is not a number or `-`.
    BadBytes = 8,
    /// A field that must be valid UTF-8 (the grouping key) is not.
    InvalidUtf8 = 9,
    /// A latency/duration field is not a number.
    BadLatency = 10,
    /// The line is valid JSON-like text but not an object, or a required key is missing.
    BadJson = 11,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: [RejectReason; 11] = [
        RejectReason::EmptyLine,
        RejectReason::LineTooLong,
        RejectReason::BinaryData,
        RejectReason::Truncated,
        RejectReason::FormatMismatch,
        RejectReason::BadTime,
        RejectReason::BadStatus,
        RejectReason::BadBytes,
        RejectReason::InvalidUtf8,
        RejectReason::BadLatency,
        RejectReason::BadJson,
    ];

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::EmptyLine => "empty_line",
            RejectReason::LineTooLong => "line_too_long",
            RejectReason::BinaryData => "binary_data",
            RejectReason::Truncated => "truncated",
            RejectReason::FormatMismatch => "format_mismatch",
            RejectReason::BadTime => "bad_time",
            RejectReason::BadStatus => "bad_status",
            RejectReason::BadBytes => "bad_bytes",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::BadLatency => "bad_latency",
            RejectReason::BadJson => "bad_json",
        }
    }

    /// Numeric code shared with the GPU kernels (0 means "no reject").
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reason for a numeric code, if valid.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.code() == code)
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Most bytes of a rejected line that are kept (the start of a 1 MB line is enough to find it).
pub const REJECT_KEEP_BYTES: usize = 4096;

/// One rejected line, located in its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line number in the source.
    pub line_no: u64,
    /// Byte offset of the line's start in the source.
    pub offset: u64,
    /// Why it was rejected.
    pub reason: RejectReason,
    /// The line (without its newline), cut to [`REJECT_KEEP_BYTES`].
    pub line: Vec<u8>,
}

impl Reject {
    /// A reject keeping at most [`REJECT_KEEP_BYTES`] of `line`.
    pub fn new(line_no: u64, offset: u64, reason: RejectReason, line: &[u8]) -> Self {
        let keep = line.len().min(REJECT_KEEP_BYTES);
        Reject {
            line_no,
            offset,
            reason,
            line: line[..keep].to_vec(),
        }
    }
}

/// Counts of rejects by reason (indexable by code, small and mergeable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RejectCounts(pub [u64; 16]);

impl RejectCounts {
    /// Adds one reject of `reason`.
    pub fn add(&mut self, reason: RejectReason) {
        self.0[reason.code() as usize] += 1;
    }

    /// Adds `n` rejects of `reason`.
    pub fn add_n(&mut self, reason: RejectReason, n: u64) {
        self.0[reason.code() as usize] += n;
    }

    /// Adds all counts of `other`.
    pub fn merge(&mut self, other: &RejectCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += *b;
        }
    }

    /// Total rejects.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Count for one reason.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.0[reason.code() as usize]
    }

    /// Non-zero counts, by reason name.
    pub fn by_reason(&self) -> std::collections::BTreeMap<&'static str, u64> {
        RejectReason::ALL
            .iter()
            .filter(|r| self.get(**r) > 0)
            .map(|r| (r.as_str(), self.get(*r)))
            .collect()
    }
}
