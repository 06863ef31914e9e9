//! Formats: descriptions of log layouts (data, not code), the records they produce, the CPU
//! parser, presets and detection.

pub mod detect;
pub mod fast;
pub mod json;
pub mod line;
pub mod logformat;
pub mod nginx;
pub mod presets;
pub mod record;
pub mod scan;
pub mod spec;
pub mod time;
pub mod w3c;

pub use fast::LineParser;
pub use line::LineKind;
pub use record::{KeyField, Record};
pub use spec::{FieldEnd, FieldKind, JsonMap, LineFormat, Piece, Token};

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
    (
        "vhost_combined",
        "Apache vhost_combined: %v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"",
    ),
    (
        "haproxy_http",
        "HAProxy option httplog via syslog (Tq/Tw/Tc/Tr/Tt timers; latency = Tt)",
    ),
    (
        "elb_classic",
        "AWS Classic ELB (with or without user agent; latency = sum of the 3 processing times)",
    ),
    ("alb", "AWS Application Load Balancer"),
    (
        "iis_w3c",
        "IIS W3C extended; #Fields: directives define the columns (also mid-file)",
    ),
    ("caddy_json", "Caddy JSON access log"),
    (
        "caddy_console",
        "Caddy console encoder: time level logger msg {json}",
    ),
];

impl Format {
    /// A preset by name.
    pub fn preset(name: &str) -> Option<Format> {
        let (name, line) = match name {
            "nasa_tsv" | "tsv" => ("nasa_tsv", presets::nasa_tsv()),
            "common" | "clf" => ("common", presets::common()),
            "combined" => ("combined", presets::combined()),
            "vhost_combined" => ("vhost_combined", presets::vhost_combined()),
            "haproxy_http" | "haproxy" => ("haproxy_http", presets::haproxy_http()),
            "elb_classic" | "elb" => ("elb_classic", presets::elb_classic()),
            "alb" => ("alb", presets::alb()),
            "iis_w3c" | "iis" | "w3c" => ("iis_w3c", presets::iis_w3c()),
            "caddy_json" | "caddy" => ("caddy_json", presets::caddy_json()),
            "caddy_console" => ("caddy_console", presets::caddy_console()),
            _ => return None,
        };
        Some(Format {
            name: name.to_string(),
            line,
        })
    }

    /// A format from an Apache `LogFormat` string.
    pub fn apache(fmt: &str) -> Result<Format, String> {
        Ok(Format {
            name: "logformat".into(),
            line: logformat::compile(fmt)?,
        })
    }

    /// A format from an nginx `log_format` string.
    pub fn nginx(fmt: &str) -> Result<Format, String> {
        Ok(Format {
            name: "nginx".into(),
            line: nginx::compile(fmt)?,
        })
    }

    /// JSON Lines read through a field map.
    pub fn json(map: JsonMap) -> Format {
        Format {
            name: "json".into(),
            line: presets::json_lines(map),
        }
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
