//! The pipeline's side: a [`Sink`] that feeds the live view and the metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use logpulse_core::pipeline::{BatchStats, Sink};
use logpulse_core::window::{RunTotals, WindowResult};
use logpulse_io::sink::{alert_json, totals_json, window_json_with};
use serde_json::{json, Value};

use crate::live::{Live, KEEP_ALERTS};
use crate::metrics::TOP_KEYS;

/// Feeds a [`Live`] view from the pipeline.
pub struct WebSink {
    live: Arc<Live>,
    key_name: String,
    started: Instant,
}

impl WebSink {
    /// A sink for `live`, whose groups are keyed by `key_name`.
    pub fn new(live: Arc<Live>, key_name: &str) -> Self {
        WebSink {
            live,
            key_name: key_name.to_string(),
            started: Instant::now(),
        }
    }

    /// `--status`'s counters, with rejects by reason, input bytes, alerts and run time.
    fn totals_json(&self, t: &RunTotals) -> Value {
        let mut v = totals_json(t);
        v["rejected_by_reason"] = json!(t.rejects.by_reason());
        v["input_bytes"] = t.input_bytes.into();
        v["alerts"] = t.alerts.into();
        v["elapsed_s"] = self.started.elapsed().as_secs_f64().into();
        v
    }
}

impl Sink for WebSink {
    fn window(&mut self, w: &WindowResult) -> std::io::Result<()> {
        // The busiest keys, picked once for the metrics and the dashboard.
        let top = w.top_groups(TOP_KEYS);
        self.live.metrics().window(w, &top);
        // Only the newest alerts are kept for the dashboard: a window of a busy log can raise
        // tens of thousands (one a 5xx), and each is JSON to build.
        let skip = w.alerts.len().saturating_sub(KEEP_ALERTS);
        let alerts = w.alerts[skip..]
            .iter()
            .map(|a| alert_json(a, w.event_time))
            .collect();
        let mut v = window_json_with(w, &self.key_name, &top);
        // The alerts travel on their own; the window keeps their count.
        if let Some(o) = v.as_object_mut() {
            o.insert("alerts".into(), Value::from(w.alerts.len()));
        }
        self.live.push_window(v, alerts);
        Ok(())
    }

    fn batch(&mut self, _s: &BatchStats, t: &RunTotals) -> std::io::Result<()> {
        self.live.metrics().totals(t);
        self.live.set_totals(self.totals_json(t), false);
        Ok(())
    }

    fn finish(&mut self, t: &RunTotals, _elapsed: Duration) -> std::io::Result<()> {
        self.live.metrics().totals(t);
        self.live.set_totals(self.totals_json(t), true);
        Ok(())
    }
}
