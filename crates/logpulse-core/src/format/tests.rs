//! Hand-checked lines for every preset.

use super::*;

fn parse<'a>(f: &Format, line: &'a [u8]) -> Result<(LineKind, Record<'a>), RejectReason> {
    let mut rec = Record::default();
    f.parse(line, &mut rec).map(|k| (k, rec))
}

#[test]
fn nasa_clf_line() {
    let f = Format::preset("common").unwrap();
    let (k, r) = parse(
        &f,
        b"199.72.81.55 - - [01/Jul/1995:00:00:01 -0400] \"GET /history/apollo/ HTTP/1.0\" 200 6245",
    )
    .unwrap();
    assert_eq!(k, LineKind::Record);
    assert_eq!(r.client, b"199.72.81.55");
    assert_eq!(r.time, 804_571_201);
    assert_eq!(r.method, b"GET");
    assert_eq!(r.path, b"/history/apollo/");
    assert_eq!(r.protocol, b"HTTP/1.0");
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, 6245);
}

#[test]
fn dash_bytes_and_request_without_protocol() {
    let f = Format::preset("common").unwrap();
    let (_, r) = parse(
        &f,
        b"h - - [01/Jul/1995:00:00:01 -0400] \"GET /a.mpg\" 404 -",
    )
    .unwrap();
    assert_eq!(r.bytes, 0);
    assert_eq!(r.path, b"/a.mpg");
    assert_eq!(r.protocol, b"");
    assert_eq!(r.status, 404);
}

#[test]
fn nasa_tsv_row_and_header() {
    let f = Format::preset("nasa_tsv").unwrap();
    let (k, _) = parse(&f, b"host\tlogname\ttime\tmethod\turl\tresponse\tbytes").unwrap();
    assert_eq!(k, LineKind::Directive);
    let (_, r) = parse(
        &f,
        b"199.72.81.55\t-\t804571201\tGET\t/history/apollo/\t200\t6245\t\t",
    )
    .unwrap();
    assert_eq!(r.client, b"199.72.81.55");
    assert_eq!(r.time, 804_571_201);
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, 6245);
    // 7-column rows too.
    assert!(parse(&f, b"h\t-\t804571201\tGET\t/\t200\t1").is_ok());
}

#[test]
fn combined_with_escapes_extra_field_and_truncation() {
    let f = Format::preset("combined").unwrap();
    let line = br#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /a?x=\"y\" HTTP/1.1" 200 10 "http://r/" "Mozilla \"x\"""#;
    let (_, r) = parse(&f, line).unwrap();
    assert_eq!(r.query, br#"x=\"y\""#);
    assert_eq!(r.referer, b"http://r/");
    assert_eq!(r.user_agent, br#"Mozilla \"x\""#);
    // nginx's extra trailing "$http_x_forwarded_for".
    let line = br#"1.2.3.4 - - [06/May/2021:00:00:11 +0000] "GET / HTTP/1.1" 200 20728 "-" "ELB-HealthChecker/2.0" "9.9.9.9""#;
    assert_eq!(
        parse(&f, line).unwrap().1.user_agent,
        b"ELB-HealthChecker/2.0"
    );
    // Truncated user agent (no closing quote) keeps the record.
    let line = br#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 10 "-" "Mozilla/5.0 (trunc"#;
    assert_eq!(parse(&f, line).unwrap().1.user_agent, b"Mozilla/5.0 (trunc");
    // A common line is accepted by combined.
    assert!(parse(
        &f,
        b"h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1"
    )
    .is_ok());
}

#[test]
fn rejects_carry_reasons() {
    let f = Format::preset("common").unwrap();
    let r = |l: &[u8]| parse(&f, l).err();
    assert_eq!(
        r(b"h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 2000 1"),
        Some(RejectReason::BadStatus)
    );
    assert_eq!(
        r(b"h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 x1"),
        Some(RejectReason::BadBytes)
    );
    assert_eq!(
        r(b"h - - [01/Xyz/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1"),
        Some(RejectReason::BadTime)
    );
    assert_eq!(
        r(b"h - - [01/Jul/1995:00:00:01 -0400] \"GET / HT"),
        Some(RejectReason::Truncated)
    );
    assert_eq!(r(b"just some words"), Some(RejectReason::Truncated));
    assert_eq!(r(b"h - - 01/Jul/1995"), Some(RejectReason::FormatMismatch));
}

#[test]
fn detection_picks_and_explains() {
    let clf = b"h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1\n";
    let d = detect::detect(clf).unwrap();
    assert_eq!(d.format.name, "common");
    let comb = b"h - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1 \"-\" \"ua\"\n";
    assert_eq!(detect::detect(comb).unwrap().format.name, "combined");
    let tsv =
        b"host\tlogname\ttime\tmethod\turl\tresponse\tbytes\nh\t-\t804571201\tGET\t/\t200\t1\t\t\n";
    let d = detect::detect(tsv).unwrap();
    assert_eq!(d.format.name, "nasa_tsv");
    assert!(d.reason.contains("nasa_tsv 1/2"), "{}", d.reason);
    assert!(detect::detect(b"\x00\x01\x02\n").is_none());
}
