//! The notebook's three files, rewritten at each closed window with a timestamp header:
//! `traffic.csv` (key,requests above the traffic threshold), `errors.csv` (key,status,count for
//! status >= 500) and `mb_sent.csv` (key,mb_sent above the saturation threshold).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use logpulse_core::format::time::format_rfc3339;
use logpulse_core::pipeline::Sink;
use logpulse_core::plan::Thresholds;
use logpulse_core::window::WindowResult;

use super::write_atomic;

/// Writes the three files into a directory.
pub struct NotebookSink {
    dir: PathBuf,
    key_name: String,
    thresholds: Thresholds,
}

impl NotebookSink {
    /// Writes into `dir` (created if missing).
    pub fn new(dir: PathBuf, key_name: &str, thresholds: Thresholds) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(NotebookSink {
            dir,
            key_name: key_name.into(),
            thresholds,
        })
    }
}

fn header(w: &WindowResult) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let span = if w.event_time {
        format!("{} .. {}", format_rfc3339(w.start), format_rfc3339(w.end))
    } else {
        format!("batch {}", w.start)
    };
    format!("# window {span}; written {}\n", format_rfc3339(now))
}

impl Sink for NotebookSink {
    fn window(&mut self, w: &WindowResult) -> std::io::Result<()> {
        let head = header(w);
        let k = &self.key_name;
        let (mut traffic, mut errors, mut mb) = (
            format!("{head}{k},requests\n"),
            format!("{head}{k},status,count\n"),
            format!("{head}{k},mb_sent\n"),
        );
        // Only rows above thresholds are written: sort those, not every group.
        let mut rows: Vec<(&str, &logpulse_core::Agg)> = w
            .groups_unordered()
            .filter(|(_, a)| {
                a.requests > self.thresholds.requests
                    || a.mb_sent() > self.thresholds.mb_sent
                    || !a.errors.is_empty()
            })
            .collect();
        rows.sort_unstable_by(|x, y| y.1.requests.cmp(&x.1.requests).then(x.0.cmp(y.0)));
        for (key, a) in rows {
            if a.requests > self.thresholds.requests {
                let _ = writeln!(traffic, "{key},{}", a.requests);
            }
            if a.mb_sent() > self.thresholds.mb_sent {
                let _ = writeln!(mb, "{key},{:.6}", a.mb_sent());
            }
            for (status, n) in &a.errors {
                let _ = writeln!(errors, "{key},{status},{n}");
            }
        }
        write_atomic(&self.dir.join("traffic.csv"), traffic.as_bytes())?;
        write_atomic(&self.dir.join("errors.csv"), errors.as_bytes())?;
        write_atomic(&self.dir.join("mb_sent.csv"), mb.as_bytes())
    }
}
