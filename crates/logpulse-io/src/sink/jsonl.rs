//! JSON Lines: one object per closed window (`"type": "window"`), then one `"type": "summary"`.

use std::io::Write;

use std::time::Duration;

use logpulse_core::pipeline::Sink;
use logpulse_core::window::{RunTotals, WindowResult};

use super::{summary_json, window_json, Output};

/// Writes window results as JSON Lines.
pub struct JsonLinesSink {
    out: Output,
    key_name: String,
    top: usize,
    format: String,
}

impl JsonLinesSink {
    /// Writes to `out`; `top` limits groups per window (0 = all).
    pub fn new(out: Output, key_name: &str, top: usize, format: &str) -> Self {
        JsonLinesSink {
            out,
            key_name: key_name.into(),
            top,
            format: format.into(),
        }
    }
}

impl Sink for JsonLinesSink {
    fn checkpoint(&mut self) -> std::io::Result<Option<(String, u64)>> {
        self.out.checkpoint()
    }

    fn window(&mut self, w: &WindowResult) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, &window_json(w, &self.key_name, self.top))?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self, totals: &RunTotals, elapsed: Duration) -> std::io::Result<()> {
        let mut v = summary_json(totals, &self.format, &self.key_name, elapsed, 0);
        v.head.insert("type".into(), "summary".into());
        serde_json::to_writer(&mut self.out, &v)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
