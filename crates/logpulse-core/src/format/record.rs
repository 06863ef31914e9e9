//! The normalised record every format parses into: borrowed slices of the line plus the few
//! numbers every measure needs. Built once per line on the stack, never allocated.

/// A parsed line. Text fields borrow from the batch; absent ones are empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record<'a> {
    /// Remote address without port (`%h`, `$remote_addr`, the TSV's `host`).
    pub client: &'a [u8],
    /// Virtual host / server name (`%v`, `$host`, IIS `s-sitename`, ...).
    pub vhost: &'a [u8],
    /// Event time, UTC epoch seconds.
    pub time: i64,
    /// HTTP method (`GET`); empty for an empty or binary request line.
    pub method: &'a [u8],
    /// Path without query.
    pub path: &'a [u8],
    /// Query string without `?`.
    pub query: &'a [u8],
    /// Protocol (`HTTP/1.1`); empty when the request had none.
    pub protocol: &'a [u8],
    /// Final status code.
    pub status: u16,
    /// Bytes sent to the client (`-` is 0).
    pub bytes: u64,
    /// Request latency in microseconds, when the format logs one.
    pub latency_us: Option<u64>,
    /// Referer header.
    pub referer: &'a [u8],
    /// User-Agent header.
    pub user_agent: &'a [u8],
    /// Upstream / backend server.
    pub upstream: &'a [u8],
}

/// Record fields a plan can group or filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyField {
    /// Remote host (the notebook's `host`).
    Client,
    /// Virtual host.
    Vhost,
    /// Request path.
    Path,
    /// HTTP method.
    Method,
    /// Status code.
    Status,
    /// User agent.
    UserAgent,
    /// Referer.
    Referer,
    /// Upstream server.
    Upstream,
}

impl KeyField {
    /// All key fields with their CLI names.
    pub const NAMES: [(&'static str, KeyField); 8] = [
        ("client", KeyField::Client),
        ("vhost", KeyField::Vhost),
        ("path", KeyField::Path),
        ("method", KeyField::Method),
        ("status", KeyField::Status),
        ("user_agent", KeyField::UserAgent),
        ("referer", KeyField::Referer),
        ("upstream", KeyField::Upstream),
    ];

    /// Parses a CLI name (`client`, `host` as an alias, `path`, ...).
    pub fn parse(name: &str) -> Option<Self> {
        if name == "host" {
            return Some(KeyField::Client);
        }
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }

    /// The CLI name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("client")
    }

    /// True when the field is a part of the request line (which parsers split only on demand).
    pub fn reads_request(self) -> bool {
        matches!(self, KeyField::Path | KeyField::Method)
    }

    /// The key's bytes in `rec`; `status_buf` holds the status's digits when grouping by status.
    #[inline]
    pub fn of<'a>(self, rec: &Record<'a>, status_buf: &'a mut [u8; 3]) -> &'a [u8] {
        match self.of_line(rec) {
            Some(k) => k,
            None => {
                let s = rec.status;
                *status_buf = [
                    b'0' + (s / 100 % 10) as u8,
                    b'0' + (s / 10 % 10) as u8,
                    b'0' + (s % 10) as u8,
                ];
                &status_buf[..]
            }
        }
    }

    /// The key's bytes when they are a slice of the line: every key but the status, whose
    /// digits [`KeyField::of`] spells into a buffer.
    #[inline]
    pub fn of_line<'a>(self, rec: &Record<'a>) -> Option<&'a [u8]> {
        Some(match self {
            KeyField::Client => rec.client,
            KeyField::Vhost => rec.vhost,
            KeyField::Path => rec.path,
            KeyField::Method => rec.method,
            KeyField::Status => return None,
            KeyField::UserAgent => rec.user_agent,
            KeyField::Referer => rec.referer,
            KeyField::Upstream => rec.upstream,
        })
    }
}
