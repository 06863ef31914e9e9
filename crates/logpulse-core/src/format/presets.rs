//! Named formats: the seed's NASA TSV and the NCSA common / combined layouts.

use super::spec::{FieldEnd, FieldKind as F, LineFormat, Piece, Token};

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
        lit("\t"),
    ]);
    // The trailing tab is optional (7-column rows) and what follows it is ignored.
    f.optional_from = Some(f.tokens.len() - 1);
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
    let optional_at = pieces.len();
    pieces.extend([
        lit(" \""),
        field(F::Referer),
        lit("\" \""),
        field(F::UserAgent),
        lit("\""),
    ]);
    let mut f = LineFormat::compile(&pieces);
    // Index of the first optional token: compile keeps one token per piece here.
    f.optional_from = Some(optional_at);
    f.allow_trailing = true;
    f
}
