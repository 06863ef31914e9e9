//! Line formats as data: a flat program of literals and fields.
//!
//! A [`LineFormat`] is what an Apache `LogFormat` string, an nginx `log_format` string or a
//! preset compiles to. The CPU parser ([`super::line`]) interprets it, and the GPU backend
//! uploads the same program (see [`LineFormat::encode`]) to a generic kernel, so one description
//! drives both and they cannot disagree about the layout.

/// What a field holds, and so how it is parsed. The numbering is shared with the CUDA kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FieldKind {
    /// Present in the line but not used.
    Skip = 0,
    /// Remote address.
    Client = 1,
    /// Remote address followed by `:port`, which is dropped (ELB, HAProxy).
    ClientPort = 2,
    /// Virtual host.
    Vhost = 3,
    /// `01/Jul/1995:00:00:01 -0400`.
    TimeClf = 4,
    /// Epoch seconds, optional fraction.
    TimeEpoch = 5,
    /// ISO 8601.
    TimeIso = 6,
    /// Full request line `GET /path?q HTTP/1.1`.
    Request = 7,
    /// Method alone.
    Method = 8,
    /// URL / path, a `?query` is split off.
    Url = 9,
    /// Protocol alone.
    Protocol = 10,
    /// Status code (3 digits).
    Status = 11,
    /// Bytes sent, `-` means 0.
    Bytes = 12,
    /// Latency in microseconds (`%D`).
    LatencyUs = 13,
    /// Latency in milliseconds (IIS `time-taken`, HAProxy `Tt`).
    LatencyMs = 14,
    /// Latency in seconds with a fraction (`%T`, `$request_time`, ELB).
    LatencySecs = 15,
    /// Referer.
    Referer = 16,
    /// User agent.
    UserAgent = 17,
    /// Upstream server.
    Upstream = 18,
    /// Query string alone.
    Query = 19,
    /// A calendar date `2015-10-17` (added to the time of day: IIS `date time`).
    Date = 20,
    /// A time of day `16:27:13` (added to the date).
    TimeOfDay = 21,
    /// `2024/01/23 23:27:57.060` (Caddy's console encoder; UTC).
    TimeSlash = 22,
    /// The rest of the line is a JSON object, read through the format's [`JsonMap`].
    Json = 23,
    /// Latency in seconds, added to the latency so far (ELB's three processing times).
    LatencySecsAdd = 24,
}

/// How a field's end is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldEnd {
    /// At the next occurrence of this byte (or the end of the line for a last field).
    Byte(u8),
    /// At the next `"` not escaped by a backslash (the field is inside quotes).
    Quoted,
    /// At the end of the line.
    Eol,
}

/// One step of a line format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Bytes that must appear exactly.
    Lit(Vec<u8>),
    /// A field and how it ends.
    Field { kind: FieldKind, end: FieldEnd },
}

/// A compiled line format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat {
    /// The program.
    pub tokens: Vec<Token>,
    /// Tokens from this index on may be absent when the line ends right before them
    /// (combined's referer/agent on a common-format line).
    pub optional_from: Option<usize>,
    /// Bytes after the last token are ignored (an extra trailing field, TSV trailing tabs).
    pub allow_trailing: bool,
    /// Lines starting with one of these are directives (headers, `#` comments): counted apart.
    pub directive_prefixes: Vec<Vec<u8>>,
    /// Everything up to and including the first occurrence of these bytes is skipped before
    /// the program runs (a syslog header: `Feb  2 04:05:24 host haproxy[9883]: `).
    pub skip_through: Option<Vec<u8>>,
    /// How JSON fields map to record fields, for formats with a [`FieldKind::Json`] field.
    pub json: Option<JsonMap>,
    /// IIS / W3C extended: `#Fields:` directives (re)define the columns as the file goes.
    pub w3c: bool,
}

/// Record fields read from JSON paths (`request.remote_ip`), first match wins per field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonMap {
    /// (path segments, what the value holds).
    pub fields: Vec<(Vec<String>, FieldKind)>,
}

impl JsonMap {
    /// Parses `client=request.remote_ip,time=ts,...` (names as in `--json-map`).
    pub fn parse(spec: &str) -> Result<JsonMap, String> {
        let mut fields = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, path) = part
                .split_once('=')
                .ok_or_else(|| format!("json map entry {part:?} is not field=path"))?;
            let kind = match name.trim() {
                "client" => FieldKind::Client,
                "client_port" => FieldKind::ClientPort,
                "vhost" | "host" => FieldKind::Vhost,
                "time" | "time_epoch" => FieldKind::TimeEpoch,
                "time_iso" => FieldKind::TimeIso,
                "time_clf" => FieldKind::TimeClf,
                "request" => FieldKind::Request,
                "method" => FieldKind::Method,
                "path" | "url" | "uri" => FieldKind::Url,
                "query" => FieldKind::Query,
                "protocol" => FieldKind::Protocol,
                "status" => FieldKind::Status,
                "bytes" => FieldKind::Bytes,
                "latency_s" | "duration" => FieldKind::LatencySecs,
                "latency_ms" => FieldKind::LatencyMs,
                "latency_us" => FieldKind::LatencyUs,
                "referer" => FieldKind::Referer,
                "user_agent" => FieldKind::UserAgent,
                "upstream" => FieldKind::Upstream,
                other => return Err(format!("unknown record field {other:?} in json map")),
            };
            fields.push((path.trim().split('.').map(String::from).collect(), kind));
        }
        if fields.is_empty() {
            return Err("empty json map".into());
        }
        Ok(JsonMap { fields })
    }
}

/// A token being compiled: fields get their end from what follows.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Literal bytes.
    Lit(Vec<u8>),
    /// A field.
    Field(FieldKind),
    /// What follows may be missing at the end of a line (see [`LineFormat::optional_from`]).
    OptionalFrom,
}

impl LineFormat {
    /// Builds a format from pieces, deciding each field's end: a field between a literal ending
    /// in `"` and one starting with `"` is quoted; otherwise it ends at the first byte of the
    /// next literal, or at the end of the line.
    pub fn compile(pieces: &[Piece]) -> Self {
        // Merge adjacent literals so field ends are decided on whole separators.
        let mut merged: Vec<Piece> = Vec::new();
        let mut optional_from = None;
        for p in pieces {
            // Never merge across the optional boundary.
            let at_boundary = optional_from == Some(merged.len());
            match (merged.last_mut(), p) {
                (_, Piece::OptionalFrom) => optional_from = Some(merged.len()),
                (Some(Piece::Lit(a)), Piece::Lit(b)) if !at_boundary => a.extend_from_slice(b),
                (_, Piece::Lit(b)) if b.is_empty() => {}
                _ => merged.push(p.clone()),
            }
        }
        let mut tokens = Vec::with_capacity(merged.len());
        for (i, p) in merged.iter().enumerate() {
            match p {
                Piece::OptionalFrom => {}
                Piece::Lit(l) => tokens.push(Token::Lit(l.clone())),
                Piece::Field(kind) => {
                    let prev_quote =
                        i > 0 && matches!(&merged[i - 1], Piece::Lit(l) if l.ends_with(b"\""));
                    let end = match merged.get(i + 1) {
                        Some(Piece::Lit(l)) if prev_quote && l.starts_with(b"\"") => {
                            FieldEnd::Quoted
                        }
                        Some(Piece::Lit(l)) => FieldEnd::Byte(l[0]),
                        _ => FieldEnd::Eol,
                    };
                    tokens.push(Token::Field { kind: *kind, end });
                }
            }
        }
        LineFormat {
            tokens,
            optional_from,
            allow_trailing: false,
            directive_prefixes: Vec::new(),
            skip_through: None,
            json: None,
            w3c: false,
        }
    }

    /// Field kinds this format yields.
    pub fn fields(&self) -> Vec<FieldKind> {
        self.tokens
            .iter()
            .filter_map(|t| match t {
                Token::Field { kind, .. } if *kind != FieldKind::Skip => Some(*kind),
                _ => None,
            })
            .collect()
    }

    /// Encodes the program as bytes for the GPU kernel. Layout (all u8):
    /// `[n_tokens, optional_from (255 = none), allow_trailing, n_directives]`, then per token
    /// `op` (0 = literal, 1 = field), and for a literal `len, bytes...`, for a field
    /// `kind, end_type (0 byte, 1 quoted, 2 eol), end_byte`; then per directive `len, bytes...`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![
            self.tokens.len() as u8,
            self.optional_from.map_or(255, |i| i as u8),
            self.allow_trailing as u8,
            self.directive_prefixes.len() as u8,
        ];
        for t in &self.tokens {
            match t {
                Token::Lit(l) => {
                    out.push(0);
                    out.push(l.len() as u8);
                    out.extend_from_slice(l);
                }
                Token::Field { kind, end } => {
                    out.push(1);
                    out.push(*kind as u8);
                    match end {
                        FieldEnd::Byte(b) => out.extend_from_slice(&[0, *b]),
                        FieldEnd::Quoted => out.extend_from_slice(&[1, b'"']),
                        FieldEnd::Eol => out.extend_from_slice(&[2, 0]),
                    }
                }
            }
        }
        for d in &self.directive_prefixes {
            out.push(d.len() as u8);
            out.extend_from_slice(d);
        }
        out
    }
}
