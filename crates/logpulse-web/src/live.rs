//! What the HTTP side serves, shared between the pipeline's sink and the server: the run's
//! counters, the newest closed windows and alerts (bounded rings), and a broadcast of every
//! change for the dashboard's server-sent events.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::metrics::Metrics;

/// Closed windows the dashboard can show on load (older ones are in the JSON Lines output).
pub const KEEP_WINDOWS: usize = 120;
/// Alerts kept for the dashboard.
pub const KEEP_ALERTS: usize = 200;
/// Events buffered per dashboard connection before it is told to reload (`resync`).
const EVENT_BACKLOG: usize = 256;

/// One server-sent event: its name (`window`, `alert`) and JSON data. Totals are not
/// broadcast: each connection polls them ([`Live::totals_since`]), so a run merging thousands
/// of batches a second sends a browser a few updates a second, and an idle one none.
#[derive(Debug)]
pub struct Update {
    /// The event's name.
    pub kind: &'static str,
    /// Its data: one JSON object.
    pub data: String,
}

/// What a run is: shown in the dashboard's header.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The input format's name.
    pub format: String,
    /// The grouping key's name.
    pub key: String,
    /// Which backend runs the batches.
    pub backend: String,
}

struct State {
    totals: Value,
    /// Moves on with every new `totals`.
    version: u64,
    done: bool,
    windows: VecDeque<Value>,
    alerts: VecDeque<Value>,
}

/// The shared live view of one run.
pub struct Live {
    info: RunInfo,
    state: Mutex<State>,
    events: broadcast::Sender<Arc<Update>>,
    metrics: Metrics,
}

impl Live {
    /// An empty view of the run `info`.
    pub fn new(info: RunInfo) -> Arc<Self> {
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        Arc::new(Live {
            info,
            state: Mutex::new(State {
                totals: json!({}),
                version: 0,
                done: false,
                windows: VecDeque::new(),
                alerts: VecDeque::new(),
            }),
            events,
            metrics: Metrics::new(),
        })
    }

    /// The Prometheus metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A receiver of every update from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.events.subscribe()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep serving it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, kind: &'static str, data: &Value) {
        // No receiver (no dashboard open): nothing to encode.
        if self.events.receiver_count() == 0 {
            return;
        }
        let _ = self.events.send(Arc::new(Update {
            kind,
            data: data.to_string(),
        }));
    }

    /// New run totals (`done`: the run ended).
    pub fn set_totals(&self, totals: Value, done: bool) {
        let mut s = self.lock();
        s.totals = totals;
        s.done = done;
        s.version += 1;
    }

    /// The totals event (`{"totals", "done"}`) and its version, if newer than `seen`.
    pub fn totals_since(&self, seen: u64) -> Option<(u64, Value)> {
        let s = self.lock();
        (s.version != seen).then(|| (s.version, json!({"totals": s.totals, "done": s.done})))
    }

    /// A closed window (its JSON, groups already cut to the top few) and its alerts.
    pub fn push_window(&self, window: Value, alerts: Vec<Value>) {
        let mut s = self.lock();
        if s.windows.len() == KEEP_WINDOWS {
            s.windows.pop_front();
        }
        s.windows.push_back(window.clone());
        for a in &alerts {
            if s.alerts.len() == KEEP_ALERTS {
                s.alerts.pop_front();
            }
            s.alerts.push_back(a.clone());
        }
        drop(s);
        self.send("window", &window);
        for a in &alerts {
            self.send("alert", a);
        }
    }

    /// Everything the dashboard shows, for a page that just opened (or lost events).
    pub fn snapshot(&self) -> Value {
        let s = self.lock();
        json!({
            "format": self.info.format,
            "key": self.info.key,
            "backend": self.info.backend,
            "done": s.done,
            "totals": s.totals,
            "windows": s.windows,
            "alerts": s.alerts,
        })
    }
}
