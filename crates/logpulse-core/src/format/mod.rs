//! Formats: descriptions of log layouts (data, not code), the records they produce, the CPU
//! parser, presets and detection.

pub mod detect;
pub mod line;
pub mod presets;
pub mod record;
pub mod scan;
pub mod spec;
pub mod time;

pub use line::LineKind;
pub use record::{KeyField, Record};
pub use spec::{FieldEnd, FieldKind, LineFormat, Piece, Token};

use crate::reject::RejectReason;

/// A named, compiled log format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Short name (`combined`, `nasa_tsv`, `logformat`...).
    pub name: String,
    /// The layout.
    pub line: LineFormat,
}

/// Preset names with a one-line description, for `logpulse formats` and `--format`; most
/// specific first (detection prefers the earlier of two equally good candidates).
pub const PRESETS: &[(&str, &str)] = &[
    (
        "nasa_tsv",
        "the notebook's NASA TSV: host logname time(epoch) method url response bytes",
    ),
    (
        "combined",
        "NCSA combined: common + \"%{Referer}i\" \"%{User-agent}i\" (common lines accepted)",
    ),
    ("common", "NCSA common: %h %l %u %t \"%r\" %>s %b"),
];

impl Format {
    /// A preset by name.
    pub fn preset(name: &str) -> Option<Format> {
        let (name, line) = match name {
            "nasa_tsv" | "tsv" => ("nasa_tsv", presets::nasa_tsv()),
            "common" | "clf" => ("common", presets::common()),
            "combined" => ("combined", presets::combined()),
            _ => return None,
        };
        Some(Format {
            name: name.to_string(),
            line,
        })
    }

    /// Parses one line (no newline, no `\r`).
    #[inline]
    pub fn parse<'a>(
        &self,
        line: &'a [u8],
        rec: &mut Record<'a>,
    ) -> Result<LineKind, RejectReason> {
        self.line.parse(line, rec)
    }
}

#[cfg(test)]
mod tests;
