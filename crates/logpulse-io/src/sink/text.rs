//! The readable summary on stdout: one line per closed window (with its alerts) and the
//! run's totals at the end.

use std::io::Write;
use std::time::Duration;

use logpulse_core::format::time::format_rfc3339;
use logpulse_core::pipeline::Sink;
use logpulse_core::window::{AlertKind, RunTotals, WindowResult};

/// Alerts printed per window before "... and N more".
const ALERTS_SHOWN: usize = 5;

/// Human-readable output.
pub struct TextSink {
    out: Box<dyn Write + Send>,
    windows: bool,
    format: String,
    backend: String,
}

impl TextSink {
    /// Writes to `out`; `windows` = print a line per window (else totals only).
    pub fn new(out: Box<dyn Write + Send>, windows: bool, format: &str, backend: &str) -> Self {
        TextSink {
            out,
            windows,
            format: format.into(),
            backend: backend.into(),
        }
    }
}

fn top3(w: &WindowResult) -> String {
    w.top_groups(3)
        .into_iter()
        .map(|(k, a)| format!("{k} ({})", a.requests))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Sink for TextSink {
    fn window(&mut self, w: &WindowResult) -> std::io::Result<()> {
        if !self.windows {
            return Ok(());
        }
        let when = if w.event_time {
            format!("{} +{}s", format_rfc3339(w.start), w.end - w.start)
        } else {
            format!("batch {}", w.start)
        };
        let t = &w.totals;
        write!(
            self.out,
            "[{when}] {} req  {:.1} MB  4xx {}  5xx {}  keys {}",
            t.requests,
            t.mb_sent(),
            t.s4xx,
            t.s5xx,
            w.group_count()
        )?;
        if w.late > 0 {
            write!(self.out, "  late {}", w.late)?;
        }
        if let Some(p99) = w.latency.as_ref().and_then(|h| h.quantile(0.99)) {
            write!(self.out, "  p99 {:.1} ms", p99 as f64 / 1000.0)?;
        }
        if let Some(s) = &w.sessions {
            write!(
                self.out,
                "  sessions +{} -{} ({} open)",
                s.started, s.ended, s.active
            )?;
        }
        writeln!(self.out, "  top: {}", top3(w))?;
        for a in w.alerts.iter().take(ALERTS_SHOWN) {
            match a.kind {
                AlertKind::Error { status } => writeln!(
                    self.out,
                    "  ! error   {} status {status} x{}",
                    a.key, a.value
                )?,
                _ => writeln!(
                    self.out,
                    "  ! {:<8}{} {:.1} > {}",
                    a.kind.name(),
                    a.key,
                    a.value,
                    a.threshold
                )?,
            }
        }
        if w.alerts.len() > ALERTS_SHOWN {
            writeln!(
                self.out,
                "  ! ... and {} more alerts",
                w.alerts.len() - ALERTS_SHOWN
            )?;
        }
        Ok(())
    }

    fn finish(&mut self, t: &RunTotals, elapsed: Duration) -> std::io::Result<()> {
        let secs = elapsed.as_secs_f64().max(1e-9);
        writeln!(
            self.out,
            "== logpulse: {} format, {} ==",
            self.format, self.backend
        )?;
        writeln!(
            self.out,
            "lines {}  parsed {}  rejected {}  directives {}  late {}",
            t.lines,
            t.records,
            t.rejected(),
            t.directives,
            t.late
        )?;
        if t.filtered > 0 {
            writeln!(
                self.out,
                "  filtered out: {} (not in any window)",
                t.filtered
            )?;
        }
        for (reason, n) in t.rejects.by_reason() {
            writeln!(self.out, "  rejected {reason}: {n}")?;
        }
        writeln!(
            self.out,
            "windows {}  alerts {}  keys {}  {:.1} MB in {:.3} s ({:.2} GB/s, {:.0} lines/s)",
            t.windows,
            t.alerts,
            t.by_key.len(),
            t.input_bytes as f64 / 1e6,
            secs,
            t.input_bytes as f64 / secs / 1e9,
            t.lines as f64 / secs
        )?;
        if let Some(s) = t.sessions.as_ref().filter(|s| s.started > 0) {
            writeln!(
                self.out,
                "sessions {} ({:.2} per client, idle gap {} s): {:.1} requests and {:.0} s each on \
                 average; longest {} s",
                s.started,
                s.per_client(t.by_key.len()),
                s.gap_secs,
                s.mean_requests(),
                s.mean_span_secs(),
                s.longest_span_secs
            )?;
        }
        let top = t.by_key.order(10);
        let sessions = !t.sessions_by_key.is_empty();
        if !top.is_empty() {
            let column = if sessions { "  sessions" } else { "" };
            writeln!(
                self.out,
                "top keys:      requests        MB   4xx   5xx{column}"
            )?;
        }
        for i in top {
            let (k, a) = t.by_key.at(i);
            write!(
                self.out,
                "  {:<28} {:>8} {:>9.3} {:>5} {:>5}",
                k,
                a.requests,
                a.mb_sent(),
                a.s4xx,
                a.s5xx
            )?;
            match t.sessions_of(i as usize) {
                Some(n) => writeln!(self.out, " {n:>9}")?,
                None => writeln!(self.out)?,
            }
        }
        self.out.flush()
    }
}
