//! Named formats: the seed's NASA TSV and the NCSA common / combined layouts.

use super::spec::{FieldEnd, FieldKind as F, JsonMap, LineFormat, Piece, Token};

fn lit(s: &str) -> Piece {
    Piece::Lit(s.as_bytes().to_vec())
}

fn field(k: F) -> Piece {
    Piece::Field(k)
}

/// The notebook's NASA TSV: `host logname time method url response bytes` (epoch seconds), a
/// header line, and two trailing empty tab fields on data rows.
pub fn nasa_tsv() -> LineFormat {
    let mut f = LineFormat::compile(&[
        field(F::Client),
        lit("\t"),
        field(F::Skip),
        lit("\t"),
        field(F::TimeEpoch),
        lit("\t"),
        field(F::Method),
        lit("\t"),
        field(F::Url),
        lit("\t"),
        field(F::Status),
        lit("\t"),
        field(F::Bytes),
        Piece::OptionalFrom,
        lit("\t"),
    ]);
    // The trailing tab is optional (7-column rows) and what follows it is ignored.
    f.allow_trailing = true;
    f.directive_prefixes = vec![b"host\tlogname\t".to_vec()];
    f
}

fn common_pieces() -> Vec<Piece> {
    vec![
        field(F::Client),
        lit(" "),
        field(F::Skip),
        lit(" "),
        field(F::Skip),
        lit(" ["),
        field(F::TimeClf),
        lit("] \""),
        field(F::Request),
        lit("\" "),
        field(F::Status),
        lit(" "),
        field(F::Bytes),
    ]
}

/// NCSA common log format `%h %l %u %t "%r" %>s %b`. Extra trailing fields are ignored, so a
/// combined-format line also parses.
pub fn common() -> LineFormat {
    let mut f = LineFormat::compile(&common_pieces());
    if let Some(Token::Field { end, .. }) = f.tokens.last_mut() {
        // `%b` ends at a space when more follows (a combined line), else at the line's end.
        *end = FieldEnd::Byte(b' ');
    }
    f.allow_trailing = true;
    f
}

/// NCSA combined `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`. A line that stops
/// after `%b` (common) still parses; extra trailing fields (nginx's `$http_x_forwarded_for`)
/// are ignored.
pub fn combined() -> LineFormat {
    let mut pieces = common_pieces();
    pieces.extend([
        Piece::OptionalFrom,
        lit(" \""),
        field(F::Referer),
        lit("\" \""),
        field(F::UserAgent),
        lit("\""),
    ]);
    let mut f = LineFormat::compile(&pieces);
    f.allow_trailing = true;
    f
}

/// Apache `vhost_combined`: `%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"`.
pub fn vhost_combined() -> LineFormat {
    super::logformat::compile(r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#)
        .expect("preset compiles")
}

/// HAProxy `option httplog` through syslog:
/// `Feb  2 04:05:24 host haproxy[pid]: ip:port [date] frontend backend/server Tq/Tw/Tc/Tr/Tt
/// status bytes req_cookie resp_cookie flags conns queues "request"`. The latency is `Tt`.
pub fn haproxy_http() -> LineFormat {
    let sp = || lit(" ");
    let sl = || lit("/");
    let mut f = LineFormat::compile(&[
        field(F::ClientPort),
        lit(" ["),
        field(F::TimeClf),
        lit("] "),
        field(F::Skip),
        sp(),
        field(F::Upstream),
        sp(),
        field(F::Skip),
        sl(),
        field(F::Skip),
        sl(),
        field(F::Skip),
        sl(),
        field(F::Skip),
        sl(),
        field(F::LatencyMs),
        sp(),
        field(F::Status),
        sp(),
        field(F::Bytes),
        sp(),
        field(F::Skip),
        sp(),
        field(F::Skip),
        sp(),
        field(F::Skip),
        sp(),
        field(F::Skip),
        sp(),
        field(F::Skip),
        lit(" \""),
        field(F::Request),
        lit("\""),
    ]);
    f.skip_through = Some(b"]: ".to_vec());
    f.allow_trailing = true;
    f
}

fn elb_pieces(alb: bool) -> Vec<Piece> {
    let sp = || lit(" ");
    let mut v = Vec::new();
    if alb {
        v.extend([field(F::Skip), sp()]);
    }
    v.extend([
        field(F::TimeIso),
        sp(),
        field(F::Skip),
        sp(),
        field(F::ClientPort),
        sp(),
        field(F::Upstream),
        sp(),
        field(F::LatencySecsAdd),
        sp(),
        field(F::LatencySecsAdd),
        sp(),
        field(F::LatencySecsAdd),
        sp(),
        field(F::Status),
        sp(),
        field(F::Skip),
        sp(),
        field(F::Skip),
        sp(),
        field(F::Bytes),
        lit(" \""),
        field(F::Request),
        lit("\""),
    ]);
    v
}

/// AWS Classic ELB: `time elb client:port backend:port t1 t2 t3 elb_status backend_status
/// received sent "request" ["user_agent" cipher protocol]`; latency = t1 + t2 + t3.
pub fn elb_classic() -> LineFormat {
    let mut pieces = elb_pieces(false);
    pieces.extend([
        Piece::OptionalFrom,
        lit(" \""),
        field(F::UserAgent),
        lit("\""),
    ]);
    let mut f = LineFormat::compile(&pieces);
    f.allow_trailing = true;
    f
}

/// AWS ALB: `type time elb client:port target:port t1 t2 t3 elb_status target_status received
/// sent "request" "user_agent" ...`.
pub fn alb() -> LineFormat {
    let mut pieces = elb_pieces(true);
    pieces.extend([lit(" \""), field(F::UserAgent), lit("\"")]);
    let mut f = LineFormat::compile(&pieces);
    f.allow_trailing = true;
    f
}

/// IIS W3C extended: columns from `#Fields:` directives (IIS's default set until one is seen).
pub fn iis_w3c() -> LineFormat {
    super::w3c::format_for(super::w3c::DEFAULT_FIELDS).expect("default fields compile")
}

/// The JSON fields of a Caddy access log entry.
pub fn caddy_map() -> JsonMap {
    JsonMap::parse(
        "client=request.client_ip,client=request.remote_ip,method=request.method,uri=request.uri,\
         protocol=request.proto,host=request.host,status=status,bytes=size,duration=duration,\
         time=ts,user_agent=request.headers.User-Agent,referer=request.headers.Referer",
    )
    .expect("preset map parses")
}

/// Caddy's JSON access log (one JSON object per line).
pub fn caddy_json() -> LineFormat {
    let mut f = LineFormat::compile(&[field(F::Json)]);
    f.json = Some(caddy_map());
    f
}

/// Caddy's console encoder: `time<TAB>level<TAB>logger<TAB>msg<TAB>{json}`.
pub fn caddy_console() -> LineFormat {
    let tab = || lit("\t");
    let mut f = LineFormat::compile(&[
        field(F::TimeSlash),
        tab(),
        field(F::Skip),
        tab(),
        field(F::Skip),
        tab(),
        field(F::Skip),
        tab(),
        field(F::Json),
    ]);
    f.json = Some(caddy_map());
    f
}

/// JSON Lines with a user-given field map (`--json-map client=remote_addr,status=status,...`).
pub fn json_lines(map: JsonMap) -> LineFormat {
    let mut f = LineFormat::compile(&[field(F::Json)]);
    f.json = Some(map);
    f
}
