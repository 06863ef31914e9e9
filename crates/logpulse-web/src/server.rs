//! The HTTP server: axum on a tokio runtime of its own thread, so the pipeline's threads never
//! wait on a slow client.
//!
//! - `GET /` the dashboard (one static page, no outside assets);
//! - `GET /metrics` Prometheus metrics (OpenMetrics text);
//! - `GET /api/snapshot` the dashboard's state as JSON (run, totals, recent windows, alerts);
//! - `GET /events` server-sent events: `totals` (a few a second while they change), `window`,
//!   `alert`, and `resync` when a slow client missed events (it then reloads the snapshot);
//! - `GET /healthz` `ok`.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::live::Live;

/// How often a connection looks for new totals.
const TOTALS_POLL: Duration = Duration::from_millis(250);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The runtime or its thread could not start.
    #[error("starting the HTTP server: {0}")]
    Start(std::io::Error),
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
}

impl Server {
    /// The address it listens on (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Binds `addr` (e.g. `127.0.0.1:9898`, `0.0.0.0:0`) now, so a bad or taken address is an
/// error before the run starts, and serves `live` on a background thread for the life of the
/// process.
pub fn serve(addr: &str, live: Arc<Live>) -> Result<Server, ServeError> {
    let bind_err = |source| ServeError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServeError::Start)?;
    std::thread::Builder::new()
        .name("logpulse-http".into())
        .spawn(move || {
            rt.block_on(async move {
                let app = router(live);
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = axum::serve(l, app).await {
                            eprintln!("logpulse: HTTP server stopped: {e}");
                        }
                    }
                    Err(e) => eprintln!("logpulse: HTTP server could not start: {e}"),
                }
            })
        })
        .map_err(ServeError::Start)?;
    Ok(Server { addr: bound })
}

fn router(live: Arc<Live>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("../static/index.html")) }),
        )
        .route("/metrics", get(metrics))
        .route("/api/snapshot", get(snapshot))
        .route("/events", get(events))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(live)
}

async fn metrics(State(live): State<Arc<Live>>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        live.metrics().encode(),
    )
}

async fn snapshot(State(live): State<Arc<Live>>) -> Json<serde_json::Value> {
    Json(live.snapshot())
}

/// One connection's event stream: broadcast windows and alerts, polled totals.
async fn events(
    State(live): State<Arc<Live>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = live.subscribe();
    let mut tick = tokio::time::interval(TOTALS_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stream = futures_util::stream::unfold(
        (live, rx, tick, 0u64),
        |(live, mut rx, mut tick, seen)| async move {
            loop {
                tokio::select! {
                    got = rx.recv() => {
                        let ev = match got {
                            Ok(u) => Event::default().event(u.kind).data(u.data.as_str()),
                            Err(RecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
                            Err(RecvError::Closed) => return None,
                        };
                        return Some((Ok(ev), (live, rx, tick, seen)));
                    }
                    _ = tick.tick() => {
                        if let Some((version, v)) = live.totals_since(seen) {
                            let ev = Event::default().event("totals").data(v.to_string());
                            return Some((Ok(ev), (live, rx, tick, version)));
                        }
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
