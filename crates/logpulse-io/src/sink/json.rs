//! JSON encodings shared by sinks (JSON Lines, status, Kafka, dashboard).

use logpulse_core::agg::Agg;
use logpulse_core::format::time::format_rfc3339;
use logpulse_core::window::{
    Alert, AlertKind, RunTotals, SessionTotals, WindowResult, WindowSessions,
};
use serde_json::{json, Map, Value};

/// One aggregate's measures.
pub fn agg_json(a: &Agg) -> Value {
    let mut m = Map::new();
    m.insert("requests".into(), a.requests.into());
    m.insert("bytes".into(), a.bytes.into());
    m.insert("mb_sent".into(), json!(a.mb_sent()));
    m.insert("s4xx".into(), a.s4xx.into());
    m.insert("s5xx".into(), a.s5xx.into());
    if !a.errors.is_empty() {
        let errors: Map<String, Value> = a
            .errors
            .iter()
            .map(|(s, n)| (s.to_string(), Value::from(*n)))
            .collect();
        m.insert("errors".into(), Value::Object(errors));
    }
    if a.latency_count > 0 {
        m.insert(
            "latency_mean_us".into(),
            json!(a.latency_sum_us as f64 / a.latency_count as f64),
        );
    }
    Value::Object(m)
}

fn time_json(t: i64, event_time: bool) -> Value {
    if event_time {
        Value::String(format_rfc3339(t))
    } else {
        Value::from(t)
    }
}

/// A closed window's session counts.
pub fn window_sessions_json(s: &WindowSessions) -> Value {
    json!({
        "started": s.started,
        "ended": s.ended,
        "active": s.active,
        "ended_requests": s.ended_requests,
        "ended_span_s": s.ended_span_secs,
    })
}

/// The whole run's session counts, with sessions per client when the run's distinct
/// `clients` are known (the per-key totals are synced only at checkpoints and at the end).
pub fn session_totals_json(s: &SessionTotals, clients: Option<usize>) -> Value {
    let mut v = json!({
        "gap_s": s.gap_secs,
        "started": s.started,
        "ended": s.ended,
        "mean_requests": s.mean_requests(),
        "mean_span_s": s.mean_span_secs(),
        "longest_span_s": s.longest_span_secs,
        "most_requests": s.most_requests,
    });
    if let Some(c) = clients {
        v["per_client"] = json!(s.per_client(c));
    }
    v
}

/// An alert.
pub fn alert_json(a: &Alert, event_time: bool) -> Value {
    let mut v = json!({
        "type": "alert",
        "kind": a.kind.name(),
        "window_start": time_json(a.window_start, event_time),
        "window_end": time_json(a.window_end, event_time),
        "key": &*a.key,
        "value": a.value,
        "threshold": a.threshold,
    });
    if let AlertKind::Error { status } = a.kind {
        v["status"] = status.into();
    }
    v
}

/// The run's line accounting so far (what `--status` writes, less its `done` and time).
pub fn totals_json(t: &RunTotals) -> Value {
    let mut v = json!({
        "lines": t.lines,
        "parsed": t.records,
        "rejected": t.rejected(),
        "directives": t.directives,
        "filtered": t.filtered,
        "batches": t.batches,
        "windows": t.windows,
        "late": t.late,
    });
    if let Some(s) = &t.sessions {
        v["sessions"] = session_totals_json(s, None);
    }
    v
}

/// A closed window, with at most `top` groups (0 = all).
pub fn window_json(w: &WindowResult, key_name: &str, top: usize) -> Value {
    let n = if top == 0 {
        w.group_count()
    } else {
        top.min(w.group_count())
    };
    let groups: Vec<(&str, &Agg)> = if n == w.group_count() {
        w.groups().collect()
    } else {
        w.top_groups(n)
    };
    window_json_with(w, key_name, &groups)
}

/// A closed window with the given groups (say, its busiest few, already picked).
pub fn window_json_with(w: &WindowResult, key_name: &str, groups: &[(&str, &Agg)]) -> Value {
    let groups: Vec<Value> = groups
        .iter()
        .map(|&(k, a)| {
            let mut v = agg_json(a);
            v["key"] = Value::String(k.to_string());
            v
        })
        .collect();
    let mut v = json!({
        "type": "window",
        "mode": if w.event_time { "event_time" } else { "batch" },
        "start": time_json(w.start, w.event_time),
        "end": time_json(w.end, w.event_time),
        "key": key_name,
        "totals": agg_json(&w.totals),
        "distinct_keys": w.group_count(),
        "late": w.late,
        "groups": groups,
        "alerts": w.alerts.iter().map(|a| alert_json(a, w.event_time)).collect::<Vec<_>>(),
    });
    if let Some(s) = &w.sessions {
        v["sessions"] = window_sessions_json(s);
    }
    if let Some(h) = &w.latency {
        v["latency_us"] = json!({
            "count": h.count(),
            "p50": h.quantile(0.5),
            "p90": h.quantile(0.9),
            "p99": h.quantile(0.99),
            "max": h.quantile(1.0),
        });
    }
    v
}
