//! IIS / W3C extended logs: a `#Fields:` directive names the space-separated columns, and may
//! change mid-file (a restart, a configuration change).

use super::spec::{FieldKind as F, LineFormat, Piece};

/// The directive that defines the columns.
pub const FIELDS_DIRECTIVE: &[u8] = b"#Fields:";

/// IIS's default field set, used until a `#Fields:` line is seen.
pub const DEFAULT_FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";

fn column(name: &str) -> F {
    match name.to_ascii_lowercase().as_str() {
        "date" => F::Date,
        "time" => F::TimeOfDay,
        "c-ip" => F::Client,
        "cs-method" => F::Method,
        "cs-uri-stem" => F::Url,
        "cs-uri-query" => F::Skip,
        "cs-version" => F::Protocol,
        "sc-status" => F::Status,
        "sc-bytes" => F::Bytes,
        "time-taken" => F::LatencyMs,
        "cs(user-agent)" => F::UserAgent,
        "cs(referer)" => F::Referer,
        "cs-host" => F::Vhost,
        _ => F::Skip,
    }
}

/// The line format a `#Fields:` line's names describe (the names after the colon).
pub fn format_for(field_names: &str) -> Result<LineFormat, String> {
    let names: Vec<&str> = field_names.split_whitespace().collect();
    if names.is_empty() {
        return Err("#Fields: without field names".into());
    }
    let mut pieces = Vec::with_capacity(names.len() * 2);
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            pieces.push(Piece::Lit(b" ".to_vec()));
        }
        pieces.push(Piece::Field(column(n)));
    }
    let mut f = LineFormat::compile(&pieces);
    f.directive_prefixes = vec![b"#".to_vec()];
    f.w3c = true;
    Ok(f)
}

/// The format a `#Fields:` directive line defines, if `line` is one.
pub fn parse_directive(line: &[u8]) -> Option<Result<LineFormat, String>> {
    let rest = line.strip_prefix(FIELDS_DIRECTIVE)?;
    Some(format_for(&String::from_utf8_lossy(rest)))
}

/// The `#Fields:` directives of `bytes` (whole lines) that define a layout, in order: each
/// line's byte offset and its layout. Directives naming no field are left out, as the parser
/// ignores them. Both backends place layouts with this (the CPU per piece, the GPU per stretch).
pub fn layouts_in(bytes: &[u8]) -> impl Iterator<Item = (usize, LineFormat)> + '_ {
    let first = bytes.starts_with(FIELDS_DIRECTIVE).then_some(0);
    let rest = memchr::memmem::find_iter(bytes, b"\n#Fields:").map(|p| p + 1);
    first.into_iter().chain(rest).filter_map(move |d| {
        let end = memchr::memchr(b'\n', &bytes[d..]).map_or(bytes.len(), |e| d + e);
        let line = &bytes[d..end];
        let f = parse_directive(line.strip_suffix(b"\r").unwrap_or(line))?.ok()?;
        Some((d, f))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{LineKind, Record};

    #[test]
    fn iis_line() {
        let f = format_for(DEFAULT_FIELDS).unwrap();
        let mut r = Record::default();
        let line = b"2015-10-17 16:27:13 172.31.22.76 OPTIONS / - 80 - 190.234.105.254 DavClnt - 200 0 0 698";
        assert_eq!(f.parse(line, &mut r), Ok(LineKind::Record));
        assert_eq!(r.client, b"190.234.105.254");
        assert_eq!(r.time, 1_445_099_233);
        assert_eq!(
            (r.status, r.latency_us, r.user_agent),
            (200, Some(698_000), &b"DavClnt"[..])
        );
        assert_eq!(
            f.parse(b"#Date: 2015-10-17 16:27:13", &mut r),
            Ok(LineKind::Directive)
        );
    }
}
