//! Events of interest: thresholds crossed by a group in a closed window.

use crate::agg::Agg;
use crate::plan::Thresholds;

/// What crossed its threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlertKind {
    /// Requests above the traffic threshold.
    Traffic,
    /// Megabytes sent above the saturation threshold.
    MbSent,
    /// Requests answered with an error status (>= 500).
    Error {
        /// The status.
        status: u16,
    },
}

impl AlertKind {
    /// Stable name (`traffic`, `mb_sent`, `error`).
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::Traffic => "traffic",
            AlertKind::MbSent => "mb_sent",
            AlertKind::Error { .. } => "error",
        }
    }
}

/// An event of interest.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Window start.
    pub window_start: i64,
    /// Window end.
    pub window_end: i64,
    /// The group's key.
    pub key: Box<str>,
    /// What happened.
    pub kind: AlertKind,
    /// The measured value (requests, MB or error count).
    pub value: f64,
    /// The threshold it crossed (0 for errors).
    pub threshold: f64,
}

/// Alerts of one window's groups, ordered by key, then traffic, MB, errors by status (a
/// deterministic order, whatever order the groups come in). Keys come as bytes (valid UTF-8,
/// as every table key) and are converted only for the groups that raise an alert: checking
/// every key of every closed window cost a third of the windows stage (callgrind).
pub fn detect<'a>(
    t: &Thresholds,
    start: i64,
    end: i64,
    groups: impl Iterator<Item = (&'a [u8], &'a Agg)>,
) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut push = |key: &[u8], kind, value: f64, threshold: f64| {
        out.push(Alert {
            window_start: start,
            window_end: end,
            key: String::from_utf8_lossy(key).into(),
            kind,
            value,
            threshold,
        })
    };
    for (key, a) in groups {
        if a.requests > t.requests {
            push(
                key,
                AlertKind::Traffic,
                a.requests as f64,
                t.requests as f64,
            );
        }
        if a.mb_sent() > t.mb_sent {
            push(key, AlertKind::MbSent, a.mb_sent(), t.mb_sent);
        }
        if t.every_5xx {
            for &(status, n) in a.errors.iter() {
                push(key, AlertKind::Error { status }, n as f64, 0.0);
            }
        }
    }
    out.sort_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then(kind_rank(a.kind).cmp(&kind_rank(b.kind)))
    });
    out
}

/// Order of alert kinds within one key.
fn kind_rank(k: AlertKind) -> (u8, u16) {
    match k {
        AlertKind::Traffic => (0, 0),
        AlertKind::MbSent => (1, 0),
        AlertKind::Error { status } => (2, status),
    }
}
