//! Adversarial log lines for every format: mostly valid, often subtly not (shared by the GPU
//! comparison tests and the host check of the kernels' parser).

use logpulse_core::format::{FieldKind as F, Format, LineFormat, Piece};

/// SplitMix64: a deterministic random source for the adversarial test.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A value for a field of `kind`: mostly valid, sometimes subtly not.
pub fn value(r: &mut Rng, kind: F) -> Vec<u8> {
    let odd = r.chance(12);
    let s: Vec<u8> = match kind {
        F::Client | F::Vhost | F::Upstream => {
            let hosts: &[&[u8]] = &[
                b"1.2.3.4",
                b"host.example.com",
                b"h\xc3\xb4te",
                b"\xf0\x9f\x98\x80.net",
                b"a",
                b"",
                b"10.0.0.1:9000",
                b"bad\xff",
                b"\xc3",
                b"\xe0\x80\xaf",
                b"\xed\xa0\x80x",
                b"\xf4\x90\x80\x80",
                b"\xc0\xaf",
                b"\xf4\x8f\xbf\xbf",
            ];
            let h = r.pick(if odd { hosts } else { &hosts[..5] }).to_vec();
            if r.chance(50) {
                h
            } else {
                format!("c{}", r.below(40)).into_bytes()
            }
        }
        F::ClientPort => r
            .pick(&[
                &b"1.2.3.4:5678"[..],
                b"[::1]:80",
                b"::1",
                b"fe80::1:443",
                b"1.2.3.4:",
                b"1.2.3.4:8a",
                b"[]:1",
                b"[x]",
                b"host:1",
                b"h\xff:2",
                b"5.6.7.8:1",
            ])
            .to_vec(),
        F::TimeClf => {
            let mut t = format!(
                "{:02}/{}/{}:{:02}:{:02}:{:02}",
                1 + r.below(28),
                r.pick(&["Jul", "jul", "JUL", "Feb", "Dec", "Jux"][..if odd { 6 } else { 5 }]),
                r.pick(&[1995, 2015, 2021, 1969, 1970]),
                r.below(if odd { 25 } else { 24 }),
                r.below(60),
                r.below(if odd { 62 } else { 60 })
            );
            t.push_str(r.pick::<&str>(&["", ".385", ".", ""]));
            t.push_str(r.pick::<&str>(
                &[
                    " -0400", " +0000", " +0530", "", " +05:30", " -04", " +2400", "x",
                ][..if odd { 8 } else { 4 }],
            ));
            t.into_bytes()
        }
        F::TimeEpoch => r
            .pick(
                &[
                    "804571201",
                    "804571261.5",
                    "1620259211",
                    "12a",
                    "",
                    "1234567890123",
                    "804571201.",
                    "0",
                ][..if odd { 8 } else { 3 }],
            )
            .as_bytes()
            .to_vec(),
        F::TimeIso => {
            let mut t = format!(
                "2015-03-{:02}{}{:02}:{:02}:{:02}",
                1 + r.below(if odd { 35 } else { 28 }),
                r.pick(&["T", " ", "t"][..if odd { 3 } else { 2 }]),
                r.below(24),
                r.below(60),
                r.below(60)
            );
            t.push_str(r.pick::<&str>(
                &["Z", ".465313Z", "+01:00", "", "z", "-0800", ".Z", "+1:00"]
                    [..if odd { 8 } else { 6 }],
            ));
            t.into_bytes()
        }
        F::Request => r
            .pick(&[
                &b"GET /a HTTP/1.0"[..],
                b"GET /b?x=1 HTTP/1.1",
                b"POST /c/d?q HTTP/2.0",
                b"GET /e.mpg",
                b"",
                b"\x16\x03",
                b"GET  /f HTTP/1.0",
                b"PUT /g h HTTP/1.1",
                b"GET /\\\"q\\\" HTTP/1.0",
                b"GET /\xff HTTP/1.0",
                b"GET http://h:80/p?q HTTP/1.1",
                b"OPTIONS https://h HTTP/1.1",
                b"GET http:/x HTTP/1.0",
                b"HEAD",
                b"GET /x HTTP/",
            ])
            .to_vec(),
        F::Method => r.pick(&[&b"GET"[..], b"POST", b"", b"G\xffT"]).to_vec(),
        F::Url => r
            .pick(&[&b"/a"[..], b"/b?c", b"?", b"/\xc3\xa9", b""])
            .to_vec(),
        F::Status => r
            .pick(
                &[
                    "200", "404", "500", "503", "302", "599", "999", "000", "2000", "2x0", "-", "",
                ][..if odd { 12 } else { 7 }],
            )
            .as_bytes()
            .to_vec(),
        F::Bytes => r
            .pick(
                &[
                    "0",
                    "6245",
                    "-",
                    "4294967296",
                    "12a",
                    "",
                    "99999999999999999999",
                ][..if odd { 7 } else { 3 }],
            )
            .as_bytes()
            .to_vec(),
        F::LatencyUs | F::LatencyMs | F::LatencySecs => r
            .pick(
                &[
                    "120",
                    "0.000033",
                    "-",
                    "-1",
                    "5",
                    "1.5",
                    ".5",
                    "5.",
                    "1.2.3",
                    "",
                    "abc",
                    "70000000",
                    "1.1234567",
                ][..if odd { 13 } else { 8 }],
            )
            .as_bytes()
            .to_vec(),
        F::Referer | F::UserAgent => r
            .pick(&[
                &b"-"[..],
                b"http://x/",
                b"Mozilla/5.0 (X11)",
                b"a \\\"b\\\" c",
                b"back\\\\",
                b"\xc3\xa9t\xc3\xa9",
            ])
            .to_vec(),
        F::Date => r
            .pick(
                &[
                    "2015-10-17",
                    "2016-02-29",
                    "1970-01-01",
                    "2015-13-01",
                    "2015-10-1",
                    "1969-12-31",
                    "2015/10/17",
                    "",
                ][..if odd { 8 } else { 3 }],
            )
            .as_bytes()
            .to_vec(),
        F::TimeOfDay => r
            .pick(
                &[
                    "16:27:13",
                    "00:00:00",
                    "23:59:60.5",
                    "24:00:00",
                    "1:2:3",
                    "16:27:13.",
                    "16:27:13x",
                    "",
                ][..if odd { 8 } else { 3 }],
            )
            .as_bytes()
            .to_vec(),
        F::TimeSlash => r
            .pick(
                &[
                    "2024/01/23 23:27:57.060",
                    "2024/01/23 23:27:57",
                    "2024-01-23 23:27:57",
                    "2024/01/23T23:27:57",
                    "2024/01/23 23:27:57.",
                    "2024/01/23 23:27",
                ][..if odd { 6 } else { 2 }],
            )
            .as_bytes()
            .to_vec(),
        F::LatencySecsAdd => r
            .pick(
                &[
                    "0.000033",
                    "-1",
                    "1.5",
                    "0",
                    "-",
                    ".5",
                    "5.",
                    "x",
                    "99999999999999.9",
                ][..if odd { 9 } else { 4 }],
            )
            .as_bytes()
            .to_vec(),
        F::Json => json_object(r),
        _ => r.pick(&[&b"-"[..], b"x", b"HTTP/1.1"]).to_vec(),
    };
    s
}

/// A Caddy-like JSON access-log object: members in random order, some missing, repeated,
/// nested deeper than allowed, malformed or cut short.
pub fn json_object(r: &mut Rng) -> Vec<u8> {
    let q = |v: Vec<u8>| [&b"\""[..], &v, b"\""].concat();
    let kv = |k: &str, v: Vec<u8>| [q(k.as_bytes().to_vec()), b":".to_vec(), v].concat();
    let obj = |r: &mut Rng, mut m: Vec<Vec<u8>>| {
        for i in (1..m.len()).rev() {
            let j = r.below(i as u64 + 1) as usize;
            m.swap(i, j);
        }
        let sep: &[u8] = if r.chance(10) { b", \t" } else { b"," };
        [&b"{"[..], &m.join(sep), b"}"].concat()
    };
    let mut headers = vec![
        kv(
            "User-Agent",
            [&b"["[..], &q(value(r, F::UserAgent)), b"]"].concat(),
        ),
        kv("Accept", b"[\"*/*\", {\"x\": [1, 2]}]".to_vec()),
    ];
    if r.chance(50) {
        let refs: &[&[u8]] = &[b"[]", b"[\"http://r/\"]", b"[1, \"x\"]", b"\"plain\""];
        headers.push(kv("Referer", r.pick(refs).to_vec()));
    }
    let mut req = Vec::new();
    for (name, kind, pct) in [
        ("remote_ip", F::Client, 85),
        ("client_ip", F::Client, 50),
        ("method", F::Method, 90),
        ("uri", F::Url, 90),
        ("proto", F::Protocol, 70),
        ("host", F::Vhost, 80),
    ] {
        if r.chance(pct) {
            req.push(kv(name, q(value(r, kind))));
        }
    }
    let h = obj(r, headers);
    req.push(kv("headers", h));
    let status = value(r, F::Status);
    let status = if r.chance(20) { q(status) } else { status };
    let mut top = vec![
        kv("level", q(b"info".to_vec())),
        kv("ts", value(r, F::TimeEpoch)),
        kv("msg", q(b"handled request".to_vec())),
        kv("duration", value(r, F::LatencySecs)),
        kv("size", value(r, F::Bytes)),
    ];
    if r.chance(95) {
        top.push(kv("status", status));
    }
    if r.chance(97) {
        let o = obj(r, req);
        top.push(kv("request", o));
    }
    if r.chance(5) {
        top.push(kv("status", b"404".to_vec())); // a repeated key: the first one counts
    }
    if r.chance(3) {
        let d = 30 + r.below(5) as usize; // around the depth limit (32)
        top.push(kv("deep", [b"[".repeat(d), b"]".repeat(d)].concat()));
    }
    let mut out = obj(r, top);
    match r.below(30) {
        0 => out.truncate(r.below(out.len() as u64 + 1) as usize),
        1 => out.insert(out.len() - 1, b','),
        2 => out.splice(0..0, b"  ".iter().copied()).for_each(drop),
        3 => out.extend_from_slice(b" trailing"),
        _ => {}
    }
    out
}

/// A `#Fields:` directive with a random set of columns, and the layout it defines (None when
/// it names none: both backends keep the layout in force).
pub fn fields_directive(r: &mut Rng) -> (Vec<u8>, Option<LineFormat>) {
    let names = [
        "date",
        "time",
        "c-ip",
        "cs-method",
        "cs-uri-stem",
        "cs-uri-query",
        "sc-status",
        "sc-bytes",
        "time-taken",
        "cs(User-Agent)",
        "cs(Referer)",
        "cs-host",
        "s-ip",
        "x-odd",
    ];
    let n = r.below(8) as usize;
    let picked: Vec<&str> = (0..n).map(|_| *r.pick(&names)).collect();
    let text = picked.join(" ");
    let f = logpulse_core::format::w3c::format_for(&text).ok();
    (format!("#Fields: {text}").into_bytes(), f)
}

/// One line of `f`: every token rendered, then perhaps damaged.
pub fn line(r: &mut Rng, f: &LineFormat) -> Vec<u8> {
    use logpulse_core::format::Token;
    let mut out = Vec::new();
    let stop = if r.chance(10) {
        r.below(f.tokens.len() as u64 + 1) as usize
    } else {
        f.tokens.len()
    };
    for t in &f.tokens[..stop] {
        match t {
            Token::Lit(l) => out.extend_from_slice(l),
            Token::Field { kind, .. } => out.extend(value(r, *kind)),
        }
    }
    if let Some(sep) = &f.skip_through {
        // A syslog header ending in the separator, mostly; sometimes none or two.
        let headers: &[&[u8]] = &[
            b"Feb  2 04:05:24 lb1 haproxy[9883]",
            b"Oct 12 11:00:00 h haproxy[1]",
            b"",
            b"no separator here",
        ];
        let n = if r.chance(10) { 4 } else { 2 };
        let mut head = r.pick(&headers[..n]).to_vec();
        if !head.ends_with(b"here") {
            head.extend_from_slice(sep);
        }
        if r.chance(5) {
            head.extend_from_slice(b"x]: ");
        }
        out.splice(0..0, head).for_each(drop);
    }
    if r.chance(3) && !f.directive_prefixes.is_empty() {
        out = f.directive_prefixes[0].clone();
        out.extend_from_slice(b"x\ty");
    }
    match r.below(40) {
        0 => out.truncate(r.below(out.len() as u64 + 1) as usize),
        1 if !out.is_empty() => {
            let i = r.below(out.len() as u64) as usize;
            out[i] = r.below(256) as u8;
        }
        2 => out.push(b'\r'),
        3 => out.clear(),
        4 => out.extend_from_slice(b" trailing"),
        5 if !out.is_empty() => {
            let i = r.below(out.len() as u64) as usize;
            out.insert(i, *r.pick(&[b'"', b'\\', b'\t', b' ', 0x1b, 0x01]));
        }
        _ => {}
    }
    out
}

pub fn custom_formats() -> Vec<Format> {
    let lit = |s: &str| Piece::Lit(s.as_bytes().to_vec());
    let a = LineFormat::compile(&[
        Piece::Field(F::TimeIso),
        lit(" "),
        Piece::Field(F::Vhost),
        lit(" "),
        Piece::Field(F::ClientPort),
        lit(" "),
        Piece::Field(F::Upstream),
        lit(" "),
        Piece::Field(F::LatencySecs),
        lit(" "),
        Piece::Field(F::LatencyMs),
        lit(" "),
        Piece::Field(F::Status),
        lit(" "),
        Piece::Field(F::Bytes),
        lit(" \""),
        Piece::Field(F::Request),
        lit("\""),
    ]);
    let mut b = LineFormat::compile(&[
        Piece::Field(F::Client),
        lit(" ["),
        Piece::Field(F::TimeClf),
        lit("] \""),
        Piece::Field(F::Method),
        lit(" "),
        Piece::Field(F::Url),
        lit("\" "),
        Piece::Field(F::Status),
        lit(" "),
        Piece::Field(F::LatencyUs),
        lit(" \""),
        Piece::Field(F::UserAgent),
        lit("\""),
    ]);
    b.optional_from = Some(b.tokens.len() - 3);
    b.directive_prefixes = vec![b"#".to_vec(), b"#Fields:".to_vec()];
    let mut c = LineFormat::compile(&[
        Piece::Field(F::TimeEpoch),
        lit("\t"),
        Piece::Field(F::Client),
        lit("\t"),
        Piece::Field(F::Status),
        lit("\t"),
        Piece::Field(F::Referer),
    ]);
    c.allow_trailing = true;
    vec![
        Format {
            name: "custom_elb".into(),
            line: a,
        },
        Format {
            name: "custom_latency".into(),
            line: b,
        },
        Format {
            name: "custom_epoch".into(),
            line: c,
        },
    ]
}

/// `n` adversarial lines of `f`, newline-separated (the last one without its newline when
/// `no_final_newline`); W3C text also gets `#Fields:` directives that switch the layout.
pub fn adversarial_text(r: &mut Rng, f: &LineFormat, n: usize, no_final_newline: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut layout = f.clone();
    for _ in 0..n {
        // About two directives in a thousand lines: well under the GPU's 31 layout changes
        // a batch for the batch sizes the tests use.
        if layout.w3c && r.below(1000) < 2 {
            let (text, next) = fields_directive(r);
            bytes.extend(text);
            layout = next.unwrap_or(layout);
        } else {
            bytes.extend(line(r, &layout));
        }
        bytes.push(b'\n');
    }
    if no_final_newline {
        bytes.pop();
    }
    bytes
}
