//! logpulse-web: a run's live outputs over HTTP.
//!
//! A [`WebSink`] in the pipeline feeds a shared [`Live`] view; [`serve`] answers HTTP from it on
//! a thread of its own: Prometheus metrics (`/metrics`), the live dashboard (`/`, fed by
//! server-sent events from `/events` and the JSON of `/api/snapshot`) and a health check.
//! `logpulse run --serve ADDR` wires the three together; docs/OUTPUTS.md lists what each serves.

mod live;
mod metrics;
mod server;
mod sink;

pub use live::{Live, RunInfo, Update, KEEP_ALERTS, KEEP_WINDOWS};
pub use metrics::{Metrics, TOP_KEYS};
pub use server::{serve, ServeError, Server};
pub use sink::WebSink;
