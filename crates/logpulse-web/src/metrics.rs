//! The Prometheus side: the run's counters and the newest closed window's golden signals, in
//! the text exposition format of the official client (`prometheus-client`).
//!
//! Counters follow the run's totals (lines, records, rejects by reason, ...), which the
//! pipeline reports as absolute values after every batch: each is moved on by the difference
//! from its own value.
//! Request, error and byte counters move when a window closes (a window is final then), so a
//! `rate()` over them lags the stream by the window and its allowed lateness; the gauges
//! `logpulse_last_window_*` show that newest closed window whole.

use std::sync::atomic::AtomicU64;

use logpulse_core::agg::Agg;
use logpulse_core::reject::RejectReason;
use logpulse_core::window::{RunTotals, WindowResult};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label sets: `[("reason", "bad_time")]` and the like.
type Labels = Vec<(&'static str, String)>;

/// Groups of the newest closed window exported by key, and sent to the dashboard (the rest
/// are in the JSON outputs): a key label per group would let a window of a million clients
/// flood the scraper.
pub const TOP_KEYS: usize = 10;

/// Every metric the endpoint serves, registered once.
pub struct Metrics {
    registry: Registry,
    input_bytes: Counter,
    lines: Counter,
    records: Counter,
    directives: Counter,
    filtered: Counter,
    rejected: Family<Labels, Counter>,
    batches: Counter,
    late: Counter,
    windows: Counter,
    alerts: Family<Labels, Counter>,
    requests: Counter,
    responses: Family<Labels, Counter>,
    sent_bytes: Counter,
    last_start: Gauge,
    last_requests: Gauge,
    last_errors: Family<Labels, Gauge>,
    last_bytes: Gauge,
    last_keys: Gauge,
    last_latency: Family<Labels, Gauge<f64, AtomicU64>>,
    last_top: Family<Labels, Gauge>,
    sessions_started: Counter,
    sessions_ended: Counter,
    sessions_active: Gauge,
}

fn gauge_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    /// Registers every metric under the `logpulse_` prefix.
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("logpulse"),
            input_bytes: Counter::default(),
            lines: Counter::default(),
            records: Counter::default(),
            directives: Counter::default(),
            filtered: Counter::default(),
            rejected: Family::default(),
            batches: Counter::default(),
            late: Counter::default(),
            windows: Counter::default(),
            alerts: Family::default(),
            requests: Counter::default(),
            responses: Family::default(),
            sent_bytes: Counter::default(),
            last_start: Gauge::default(),
            last_requests: Gauge::default(),
            last_errors: Family::default(),
            last_bytes: Gauge::default(),
            last_keys: Gauge::default(),
            last_latency: Family::default(),
            last_top: Family::default(),
            sessions_started: Counter::default(),
            sessions_ended: Counter::default(),
            sessions_active: Gauge::default(),
        };
        m.registry
            .register("input_bytes", "Input bytes read", m.input_bytes.clone());
        m.registry.register(
            "lines",
            "Lines read (records + directives + rejected)",
            m.lines.clone(),
        );
        m.registry.register(
            "records",
            "Lines parsed into records (filtered ones included)",
            m.records.clone(),
        );
        m.registry.register(
            "directives",
            "Directive and header lines",
            m.directives.clone(),
        );
        m.registry.register(
            "filtered",
            "Records the filters left out",
            m.filtered.clone(),
        );
        m.registry.register(
            "rejected_lines",
            "Rejected lines by reason",
            m.rejected.clone(),
        );
        m.registry
            .register("batches", "Batches processed", m.batches.clone());
        m.registry.register(
            "late_records",
            "Records that arrived after their window closed",
            m.late.clone(),
        );
        m.registry
            .register("windows_closed", "Windows closed", m.windows.clone());
        m.registry.register(
            "alerts",
            "Events of interest raised, by kind",
            m.alerts.clone(),
        );
        m.registry
            .register("requests", "Requests of closed windows", m.requests.clone());
        m.registry.register(
            "responses",
            "Responses of closed windows by status class (4xx, 5xx)",
            m.responses.clone(),
        );
        m.registry.register(
            "sent_bytes",
            "Bytes sent, closed windows",
            m.sent_bytes.clone(),
        );
        m.registry.register("last_window_start_seconds", "Start of the newest closed window (Unix seconds; the batch number for per-batch windows)", m.last_start.clone());
        m.registry.register(
            "last_window_requests",
            "Requests of the newest closed window",
            m.last_requests.clone(),
        );
        m.registry.register(
            "last_window_errors",
            "Responses by status class (4xx, 5xx) of the newest closed window",
            m.last_errors.clone(),
        );
        m.registry.register(
            "last_window_sent_bytes",
            "Bytes sent in the newest closed window",
            m.last_bytes.clone(),
        );
        m.registry.register(
            "last_window_distinct_keys",
            "Distinct keys (groups) of the newest closed window",
            m.last_keys.clone(),
        );
        m.registry.register(
            "last_window_latency_microseconds",
            "Latency quantiles of the newest closed window (formats that log latency)",
            m.last_latency.clone(),
        );
        m.registry.register(
            "last_window_top_requests",
            "Requests of the newest closed window's busiest keys",
            m.last_top.clone(),
        );
        m.registry.register(
            "sessions_started",
            "Client sessions begun (0 when sessions are off)",
            m.sessions_started.clone(),
        );
        m.registry.register(
            "sessions_ended",
            "Client sessions ended: idle past the gap, or at the end of input",
            m.sessions_ended.clone(),
        );
        m.registry.register(
            "sessions_active",
            "Client sessions open after the newest closed window",
            m.sessions_active.clone(),
        );
        m
    }

    /// Moves the run's counters to `t` (absolute totals after a batch): each by the
    /// difference from its own value (only the sink's thread moves these).
    pub fn totals(&self, t: &RunTotals) {
        let to = |c: &Counter, v: u64| {
            c.inc_by(v.saturating_sub(c.get()));
        };
        to(&self.input_bytes, t.input_bytes);
        to(&self.lines, t.lines);
        to(&self.records, t.records);
        to(&self.directives, t.directives);
        to(&self.filtered, t.filtered);
        to(&self.batches, t.batches);
        to(&self.late, t.late);
        if let Some(s) = &t.sessions {
            to(&self.sessions_started, s.started);
            to(&self.sessions_ended, s.ended);
        }
        for r in RejectReason::ALL {
            let n = t.rejects.get(r);
            if n > 0 {
                let labels = vec![("reason", r.as_str().to_string())];
                to(&self.rejected.get_or_create(&labels), n);
            }
        }
    }

    /// A window closed: the request counters move, the `last_window_*` gauges show it.
    /// `top`: its busiest keys (at most [`TOP_KEYS`]), most requests first.
    pub fn window(&self, w: &WindowResult, top: &[(&str, &Agg)]) {
        let a = &w.totals;
        self.windows.inc();
        self.requests.inc_by(a.requests);
        self.sent_bytes.inc_by(a.bytes);
        let class = |c: &str| vec![("class", c.to_string())];
        self.responses.get_or_create(&class("4xx")).inc_by(a.s4xx);
        self.responses.get_or_create(&class("5xx")).inc_by(a.s5xx);
        // Counted by kind first: one labelled update a kind, not one an alert.
        let mut by_kind: Vec<(&'static str, u64)> = Vec::new();
        for al in &w.alerts {
            let kind = al.kind.name();
            match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => by_kind.push((kind, 1)),
            }
        }
        for (kind, n) in by_kind {
            let labels = vec![("kind", kind.to_string())];
            self.alerts.get_or_create(&labels).inc_by(n);
        }
        self.last_start.set(w.start);
        self.last_requests.set(gauge_i64(a.requests));
        self.last_bytes.set(gauge_i64(a.bytes));
        self.last_errors
            .get_or_create(&class("4xx"))
            .set(gauge_i64(a.s4xx));
        self.last_errors
            .get_or_create(&class("5xx"))
            .set(gauge_i64(a.s5xx));
        self.last_keys.set(gauge_i64(w.group_count() as u64));
        if let Some(s) = &w.sessions {
            self.sessions_active.set(gauge_i64(s.active));
        }
        self.last_latency.clear();
        if let Some(h) = &w.latency {
            for (q, name) in [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")] {
                if let Some(v) = h.quantile(q) {
                    let labels = vec![("quantile", name.to_string())];
                    self.last_latency.get_or_create(&labels).set(v as f64);
                }
            }
        }
        self.last_top.clear();
        for &(key, g) in top {
            let labels = vec![("key", label_value(key))];
            self.last_top
                .get_or_create(&labels)
                .set(gauge_i64(g.requests));
        }
    }

    /// The text exposition of every metric (OpenMetrics text, as Prometheus scrapes it).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `v` escaped as an OpenMetrics label value (`\\`, `\"`, `\n`): keys come from the logs, and
/// prometheus-client (0.23) writes label values as given, so one path with a quote would make
/// the whole scrape unparseable.
fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod label_tests {
    use super::label_value;

    #[test]
    fn label_values_from_logs_are_escaped() {
        assert_eq!(label_value("/a\"b\\c\nd"), "/a\\\"b\\\\c\\nd");
        assert_eq!(label_value("plain.host"), "plain.host");
    }
}
