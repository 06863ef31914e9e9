//! Record filters: `--filter 'status>=500'`, `--filter 'vhost=shop.example'`,
//! `--filter 'path^=/api/'`. A record that fails any filter of the plan is parsed but not
//! aggregated; it is counted as `filtered` (so parsed + rejected + directives = lines still
//! holds, and parsed = aggregated + filtered).
//!
//! Grammar: `FIELD OP VALUE`. Text fields (`client`, `vhost`, `path`, `query`, `method`,
//! `protocol`, `user_agent`, `referer`, `upstream`) take `=`, `!=`, `^=` (starts with), `$=`
//! (ends with) and `~` (contains), compared byte for byte. Number fields (`status`, `bytes`,
//! `latency_ms`) take `=`, `!=`, `<`, `<=`, `>`, `>=` with a whole number (latency is compared
//! exactly: `latency_ms>2` keeps a 2.5 ms request, `latency_ms=2` only a 2.000 ms one); a record
//! without a latency fails every `latency_ms` filter.

use crate::format::{KeyField, Record};

/// A record field a filter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Text(TextField),
    Number(NumberField),
}

/// A text field: a key field (never `Status`, which is a number here), or a request part that
/// is not a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Key(KeyField),
    Query,
    Protocol,
}

/// A number field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberField {
    Status,
    Bytes,
    /// Compared in microseconds against the filter's milliseconds × 1000.
    LatencyMs,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Prefix,
    Suffix,
    Contains,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The operators, longest first (so `<=` is not read as `<`).
const OPS: [(&str, Op); 9] = [
    ("!=", Op::Ne),
    ("^=", Op::Prefix),
    ("$=", Op::Suffix),
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("=", Op::Eq),
    ("~", Op::Contains),
    ("<", Op::Lt),
    (">", Op::Gt),
];

/// One condition on a record (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    text: String,
    field: Field,
    op: Op,
    value: Vec<u8>,
    number: u64,
}

/// Why a filter expression was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("filter {0:?}: expected FIELD OP VALUE with OP one of = != ^= $= ~ < <= > >=")]
    NoOperator(String),
    #[error(
        "filter {0:?}: unknown field {1:?} (client, vhost, path, query, method, protocol, \
         user_agent, referer, upstream, status, bytes, latency_ms)"
    )]
    UnknownField(String, String),
    #[error("filter {0:?}: {1} compares text; use = != ^= $= or ~")]
    TextOperator(String, String),
    #[error("filter {0:?}: {1} is a number; use = != < <= > >= with a whole number")]
    NumberOperator(String, String),
}

impl Filter {
    /// Parses `FIELD OP VALUE`.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let (at, op_str, op) = OPS
            .iter()
            .filter_map(|&(s, op)| text.find(s).map(|at| (at, s, op)))
            // The leftmost operator; at one position the longer one (listed first) wins.
            .min_by_key(|&(at, s, _)| (at, usize::MAX - s.len()))
            .ok_or_else(|| FilterError::NoOperator(text.to_string()))?;
        let name = text[..at].trim();
        let value = text[at + op_str.len()..].trim();
        let field = match name {
            "query" => Field::Text(TextField::Query),
            "protocol" => Field::Text(TextField::Protocol),
            "status" => Field::Number(NumberField::Status),
            "bytes" => Field::Number(NumberField::Bytes),
            "latency_ms" => Field::Number(NumberField::LatencyMs),
            _ => match KeyField::parse(name) {
                Some(k) => Field::Text(TextField::Key(k)),
                None => return Err(FilterError::UnknownField(text.into(), name.into())),
            },
        };
        let mut number = 0;
        match field {
            Field::Text(_) if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) => {
                return Err(FilterError::TextOperator(text.into(), name.into()))
            }
            Field::Number(_) => {
                let numeric = matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge);
                number = match (numeric, value.parse::<u64>()) {
                    (true, Ok(n)) => n,
                    _ => return Err(FilterError::NumberOperator(text.into(), name.into())),
                };
            }
            Field::Text(_) => {}
        }
        Ok(Filter {
            text: text.trim().to_string(),
            field,
            op,
            value: value.as_bytes().to_vec(),
            number,
        })
    }

    /// The expression as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The field it reads.
    pub fn field(&self) -> Field {
        self.field
    }

    /// The comparison.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The value text fields are compared with, byte for byte.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The value number fields are compared with, in the field's own unit: status, bytes, or
    /// microseconds for `latency_ms` (the filter's milliseconds × 1000, saturating).
    pub fn threshold(&self) -> u64 {
        match self.field {
            Field::Number(NumberField::LatencyMs) => self.number.saturating_mul(1000),
            _ => self.number,
        }
    }

    /// True when the filter reads the request line's parts (method, path, query, protocol),
    /// which the parsers split only when something reads them.
    pub fn reads_request(&self) -> bool {
        match self.field {
            Field::Text(TextField::Query | TextField::Protocol) => true,
            Field::Text(TextField::Key(k)) => k.reads_request(),
            Field::Number(_) => false,
        }
    }

    /// True when `rec` passes.
    #[inline]
    pub fn accepts(&self, rec: &Record<'_>) -> bool {
        match self.field {
            Field::Text(f) => {
                let mut status_buf = [0u8; 3];
                let v: &[u8] = match f {
                    TextField::Query => rec.query,
                    TextField::Protocol => rec.protocol,
                    TextField::Key(k) => k.of(rec, &mut status_buf),
                };
                let want = &self.value[..];
                match self.op {
                    Op::Eq => v == want,
                    Op::Ne => v != want,
                    Op::Prefix => v.starts_with(want),
                    Op::Suffix => v.ends_with(want),
                    Op::Contains => memchr::memmem::find(v, want).is_some(),
                    Op::Lt | Op::Le | Op::Gt | Op::Ge => false,
                }
            }
            Field::Number(f) => {
                // Latency compares in microseconds: `latency_ms>2` keeps a 2.5 ms request.
                let n = self.threshold();
                let v = match f {
                    NumberField::Status => u64::from(rec.status),
                    NumberField::Bytes => rec.bytes,
                    NumberField::LatencyMs => match rec.latency_us {
                        Some(us) => us,
                        None => return false,
                    },
                };
                match self.op {
                    Op::Eq => v == n,
                    Op::Ne => v != n,
                    Op::Lt => v < n,
                    Op::Le => v <= n,
                    Op::Gt => v > n,
                    Op::Ge => v >= n,
                    Op::Prefix | Op::Suffix | Op::Contains => false,
                }
            }
        }
    }
}

/// All of a plan's filters: a record must pass every one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(Vec<Filter>);

impl Filters {
    /// Parses each expression.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Self, FilterError> {
        texts
            .iter()
            .map(|t| Filter::parse(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Filters)
    }

    /// True when there is no filter (every record passes).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The filters.
    pub fn iter(&self) -> impl Iterator<Item = &Filter> {
        self.0.iter()
    }

    /// True when some filter reads the request line's parts.
    pub fn reads_request(&self) -> bool {
        self.0.iter().any(Filter::reads_request)
    }

    /// True when `rec` passes every filter.
    #[inline]
    pub fn accepts(&self, rec: &Record<'_>) -> bool {
        self.0.iter().all(|f| f.accepts(rec))
    }
}

impl std::fmt::Display for Filters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let texts: Vec<&str> = self.0.iter().map(Filter::text).collect();
        write!(f, "{}", texts.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> Record<'static> {
        Record {
            client: b"199.72.81.55",
            vhost: b"shop.example",
            method: b"GET",
            path: b"/api/v1/items",
            query: b"page=2",
            protocol: b"HTTP/1.1",
            status: 503,
            bytes: 1200,
            latency_us: Some(2_500),
            user_agent: b"Mozilla/5.0 (compatible; Googlebot/2.1)",
            ..Record::default()
        }
    }

    #[test]
    fn each_operator_on_text_and_numbers() {
        let r = rec();
        let pass = |t: &str| Filter::parse(t).unwrap().accepts(&r);
        for t in [
            "status>=500",
            "status = 503",
            "status!=200",
            "status<600",
            "status>502",
            "status<=503",
            "bytes>1000",
            "latency_ms>2",
            "latency_ms<3",
            "vhost=shop.example",
            "host=199.72.81.55",
            "path^=/api/",
            "path$=/items",
            "user_agent~bot",
            "method!=POST",
            "query=page=2",
            "protocol=HTTP/1.1",
        ] {
            assert!(pass(t), "{t} should pass");
        }
        for t in [
            "status<500",
            "status=200",
            "bytes<=1000",
            "latency_ms=2",
            "latency_ms>=3",
            "vhost!=shop.example",
            "path^=/static",
            "user_agent~curl",
            "method=POST",
        ] {
            assert!(!pass(t), "{t} should fail");
        }
        let no_latency = Record {
            latency_us: None,
            ..rec()
        };
        assert!(!Filter::parse("latency_ms>=0").unwrap().accepts(&no_latency));
    }

    #[test]
    fn bad_expressions_are_refused_with_the_reason() {
        assert!(matches!(
            Filter::parse("status 500"),
            Err(FilterError::NoOperator(_))
        ));
        assert!(matches!(
            Filter::parse("colour=red"),
            Err(FilterError::UnknownField(..))
        ));
        assert!(matches!(
            Filter::parse("path>5"),
            Err(FilterError::TextOperator(..))
        ));
        assert!(matches!(
            Filter::parse("status~5"),
            Err(FilterError::NumberOperator(..))
        ));
        assert!(matches!(
            Filter::parse("bytes>=lots"),
            Err(FilterError::NumberOperator(..))
        ));
    }

    #[test]
    fn all_filters_must_pass_and_request_reads_are_known() {
        let f = Filters::parse(&["status>=500", "vhost=shop.example"]).unwrap();
        assert!(f.accepts(&rec()));
        assert!(!f.reads_request());
        let g = Filters::parse(&["status>=500", "path^=/static"]).unwrap();
        assert!(!g.accepts(&rec()));
        assert!(g.reads_request());
        assert!(Filters::default().accepts(&rec()));
        assert_eq!(g.to_string(), "status>=500 and path^=/static");
    }
}
