//! `--summary FILE.json`: whole-run totals and per-key aggregates.

use std::path::PathBuf;
use std::time::Duration;

use logpulse_core::pipeline::Sink;
use logpulse_core::window::RunTotals;
use serde_json::{json, Map, Value};

use super::write_atomic;

/// The summary document. `by_<key>` maps each key to requests, bytes, s4xx, s5xx; `top` limits
/// it to the keys with most requests (0 = all).
pub fn summary_json(
    t: &RunTotals,
    format: &str,
    key_name: &str,
    elapsed: Duration,
    top: usize,
) -> Value {
    // serde_json orders object keys itself: no need to sort unless only the top are kept.
    let keys = if top > 0 {
        t.by_key.top(top)
    } else {
        t.by_key
            .iter()
            .map(|(_, k, a)| (k.into(), a.clone()))
            .collect()
    };
    let by_key: Map<String, Value> = keys
        .into_iter()
        .map(|(k, a)| {
            (
                k.to_string(),
                json!({"requests": a.requests, "bytes": a.bytes, "s4xx": a.s4xx, "s5xx": a.s5xx}),
            )
        })
        .collect();
    let by_reason: Map<String, Value> = t
        .rejects
        .by_reason()
        .into_iter()
        .map(|(r, n)| (r.to_string(), Value::from(n)))
        .collect();
    let secs = elapsed.as_secs_f64();
    let mut v = json!({
        "format": format,
        "key": key_name,
        "lines": t.lines,
        "parsed": t.records,
        "directives": t.directives,
        "rejected": {"total": t.rejected(), "by_reason": by_reason},
        "late": t.late,
        "input_bytes": t.input_bytes,
        "batches": t.batches,
        "windows": t.windows,
        "alerts": t.alerts,
        "elapsed_s": secs,
        "gb_per_s": if secs > 0.0 { t.input_bytes as f64 / secs / 1e9 } else { 0.0 },
        "peak_rss_bytes": crate::memory::peak_rss_bytes(),
    });
    v[format!("by_{key_name}")] = Value::Object(by_key);
    v
}

/// Writes the summary file at the end of the run.
pub struct SummarySink {
    path: PathBuf,
    format: String,
    key_name: String,
}

impl SummarySink {
    /// Writes to `path` when the run finishes.
    pub fn new(path: PathBuf, format: &str, key_name: &str) -> Self {
        SummarySink {
            path,
            format: format.into(),
            key_name: key_name.into(),
        }
    }
}

impl Sink for SummarySink {
    fn finish(&mut self, totals: &RunTotals, elapsed: Duration) -> std::io::Result<()> {
        let v = summary_json(totals, &self.format, &self.key_name, elapsed, 0);
        let mut bytes = serde_json::to_vec_pretty(&v)?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes)
    }
}
