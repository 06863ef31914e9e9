//! Apache `LogFormat` strings compiled to a [`LineFormat`]:
//! `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`.

use super::spec::{FieldKind as F, LineFormat, Piece};

/// What a directive yields: pieces (`%t` adds its brackets).
fn directive(name: &str, arg: Option<&str>) -> Result<Vec<Piece>, String> {
    let f = |k| Ok(vec![Piece::Field(k)]);
    match (name, arg) {
        ("h", _) | ("a", None) => f(F::Client),
        ("a", Some(_)) => f(F::Skip),
        (
            "l" | "u" | "p" | "P" | "I" | "X" | "k" | "L" | "R" | "f" | "e" | "n" | "C" | "^ti"
            | "^to",
            _,
        ) => f(F::Skip),
        ("t", None) => Ok(vec![
            Piece::Lit(b"[".to_vec()),
            Piece::Field(F::TimeClf),
            Piece::Lit(b"]".to_vec()),
        ]),
        ("t", Some("sec")) => f(F::TimeEpoch),
        ("t", Some(fmt)) if fmt.contains("%Y-%m-%dT%H:%M:%S") => f(F::TimeIso),
        ("t", Some(fmt))
            if fmt.trim_matches(|c| c == '[' || c == ']') == "%d/%b/%Y:%H:%M:%S %z" =>
        {
            let open = fmt.starts_with('[');
            let mut v = Vec::new();
            if open {
                v.push(Piece::Lit(b"[".to_vec()));
            }
            v.push(Piece::Field(F::TimeClf));
            if fmt.ends_with(']') {
                v.push(Piece::Lit(b"]".to_vec()));
            }
            Ok(v)
        }
        ("t", Some(_)) => f(F::Skip),
        ("r", _) => f(F::Request),
        ("m", _) => f(F::Method),
        ("U", _) => f(F::Url),
        ("q", _) => f(F::Skip), // "?query" or empty: the query also comes from %U%q / %r
        ("H", _) => f(F::Protocol),
        ("s" | ">s" | "<s", _) => f(F::Status),
        ("b" | "B" | "O" | ">O", _) => f(F::Bytes),
        ("D", _) => f(F::LatencyUs),
        ("T", Some("ms")) => f(F::LatencyMs),
        ("T", Some("us")) => f(F::LatencyUs),
        ("T", _) => f(F::LatencySecs),
        ("v" | "V", _) => f(F::Vhost),
        ("i", Some(h)) if h.eq_ignore_ascii_case("referer") => f(F::Referer),
        ("i", Some(h)) if h.eq_ignore_ascii_case("user-agent") => f(F::UserAgent),
        ("i" | "o", Some(_)) => f(F::Skip),
        _ => Err(format!(
            "unsupported LogFormat directive %{}{name}",
            arg.map(|a| format!("{{{a}}}")).unwrap_or_default()
        )),
    }
}

/// Compiles an Apache `LogFormat` string.
pub fn compile(fmt: &str) -> Result<LineFormat, String> {
    let mut pieces = Vec::new();
    let mut lit = Vec::new();
    let b = fmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            // Apache writes `\"` in configuration files for a quote.
            if b[i] == b'\\' && i + 1 < b.len() {
                i += 1;
            }
            lit.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'%') {
            lit.push(b'%');
            i += 1;
            continue;
        }
        // Status-code conditions (`%400,501{User-agent}i`) and `<`/`>` modifiers.
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b',' || b[i] == b'!') {
            i += 1;
        }
        let mut modifier = String::new();
        while i < b.len() && (b[i] == b'<' || b[i] == b'>' || b[i] == b'^') {
            modifier.push(b[i] as char);
            i += 1;
        }
        let mut arg = None;
        if b.get(i) == Some(&b'{') {
            let close = fmt[i..]
                .find('}')
                .ok_or_else(|| format!("unclosed %{{ in {fmt:?}"))?;
            arg = Some(&fmt[i + 1..i + close]);
            i += close + 1;
        }
        let mut name = modifier;
        let c = *b.get(i).ok_or_else(|| format!("{fmt:?} ends with %"))? as char;
        i += 1;
        name.push(c);
        if name == "^t" {
            let c2 = *b.get(i).ok_or("bad %^t")? as char;
            i += 1;
            name.push(c2);
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        let name = if name.len() > 1 && name != "^ti" && name != "^to" {
            name.trim_start_matches(['<', '>']).to_string()
        } else {
            name
        };
        pieces.extend(directive(&name, arg)?);
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    if !pieces.iter().any(|p| matches!(p, Piece::Field(_))) {
        return Err(format!("LogFormat {fmt:?} has no field"));
    }
    let mut f = LineFormat::compile(&pieces);
    // Like the presets: a last numeric field may be followed by fields a server appends.
    f.allow_trailing = true;
    if let Some(super::Token::Field { kind, end }) = f.tokens.last_mut() {
        if *end == super::FieldEnd::Eol
            && matches!(
                kind,
                F::Bytes | F::Status | F::LatencyUs | F::LatencySecs | F::LatencyMs
            )
        {
            *end = super::FieldEnd::Byte(b' ');
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{presets, LineKind, Record};

    #[test]
    fn combined_string_equals_the_preset() {
        let f = compile(r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""#).unwrap();
        let line = br#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /a?x=1 HTTP/1.1" 200 10 "http://r/" "UA/1""#;
        let (mut a, mut b) = (Record::default(), Record::default());
        assert_eq!(f.parse(line, &mut a), Ok(LineKind::Record));
        presets::combined().parse(line, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn latency_vhost_and_errors() {
        let f = compile("%v:%p %h %l %u %t \"%r\" %>s %O %D").unwrap();
        let mut r = Record::default();
        f.parse(b"example.org:443 1.2.3.4 - bob [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 503 99 1500", &mut r)
            .unwrap();
        assert_eq!(
            (r.vhost, r.status, r.bytes, r.latency_us),
            (&b"example.org"[..], 503, 99, Some(1500))
        );
        assert!(compile("%h %Z").is_err());
        assert!(compile("just text").is_err());
    }
}
