//! nginx `log_format` strings compiled to a [`LineFormat`]:
//! `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent ...`.

use super::spec::{FieldKind as F, LineFormat, Piece};

fn variable(name: &str) -> F {
    match name {
        "remote_addr" | "realip_remote_addr" | "binary_remote_addr" => F::Client,
        "time_local" => F::TimeClf,
        "time_iso8601" => F::TimeIso,
        "msec" => F::TimeEpoch,
        "request" => F::Request,
        "request_method" => F::Method,
        "request_uri" | "uri" | "document_uri" => F::Url,
        "args" | "query_string" => F::Query,
        "server_protocol" => F::Protocol,
        "status" => F::Status,
        "body_bytes_sent" | "bytes_sent" => F::Bytes,
        "request_time" => F::LatencySecs,
        "http_referer" => F::Referer,
        "http_user_agent" => F::UserAgent,
        "host" | "server_name" | "http_host" => F::Vhost,
        "upstream_addr" => F::Upstream,
        // Everything else ($remote_user, $http_x_forwarded_for, $server_addr, $server_port,
        // $upstream_response_time, ...) is read past.
        _ => F::Skip,
    }
}

/// Compiles an nginx `log_format` string (`$var` and `${var}`).
pub fn compile(fmt: &str) -> Result<LineFormat, String> {
    let b = fmt.as_bytes();
    let mut pieces = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    let mut fields = 0;
    while i < b.len() {
        if b[i] != b'$' {
            lit.push(b[i]);
            i += 1;
            continue;
        }
        let (name, next) = if b.get(i + 1) == Some(&b'{') {
            let close = fmt[i..]
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {fmt:?}"))?;
            (&fmt[i + 2..i + close], i + close + 1)
        } else {
            let end = b[i + 1..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                .map_or(b.len(), |p| i + 1 + p);
            (&fmt[i + 1..end], end)
        };
        if name.is_empty() {
            lit.push(b'$');
            i += 1;
            continue;
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        let kind = variable(name);
        fields += 1;
        pieces.push(Piece::Field(kind));
        i = next;
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    if fields == 0 {
        return Err(format!("log_format {fmt:?} has no variable"));
    }
    let mut f = LineFormat::compile(&pieces);
    f.allow_trailing = true;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{presets, Record};

    #[test]
    fn nginx_combined_equals_the_preset() {
        let f = compile(
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
        )
        .unwrap();
        let line = br#"172.31.0.112 - - [06/May/2021:00:00:11 +0000] "GET / HTTP/1.1" 200 20728 "-" "ELB-HealthChecker/2.0""#;
        let (mut a, mut b) = (Record::default(), Record::default());
        f.parse(line, &mut a).unwrap();
        presets::combined().parse(line, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn iso_time_request_time_and_host() {
        let f = compile(
            "$host $remote_addr [$time_iso8601] \"$request\" $status $bytes_sent $request_time",
        )
        .unwrap();
        let mut r = Record::default();
        f.parse(
            b"a.example 10.0.0.1 [2021-05-06T00:00:11+00:00] \"GET /x HTTP/2.0\" 404 12 0.250",
            &mut r,
        )
        .unwrap();
        assert_eq!(
            (r.vhost, r.status, r.latency_us, r.time),
            (&b"a.example"[..], 404, Some(250_000), 1_620_259_211)
        );
    }
}
