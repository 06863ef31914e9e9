//! `--format auto`: pick the preset that parses most of a sample, and say why.

use super::{Format, LineKind, Record, PRESETS};

/// The chosen format and a human-readable reason.
#[derive(Debug, Clone)]
pub struct Detection {
    /// The format picked.
    pub format: Format,
    /// Why: per candidate, how many sample lines parsed.
    pub reason: String,
}

/// Lines of the sample used for detection.
pub const SAMPLE_LINES: usize = 1000;

/// Detects the format of `sample` (the first bytes of the input). Returns `None` when no preset
/// parses any line.
pub fn detect(sample: &[u8]) -> Option<Detection> {
    let lines: Vec<&[u8]> = sample
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .take(SAMPLE_LINES)
        .collect();
    let mut scores = Vec::new();
    for (name, _) in PRESETS {
        let format = Format::preset(name)?;
        let mut records = 0usize;
        let mut directives = 0usize;
        let mut rich = 0usize;
        let mut current = std::borrow::Cow::Borrowed(&format.line);
        for l in &lines {
            let mut rec = Record::default();
            if current.w3c {
                if let Some(Ok(f)) = super::w3c::parse_directive(l) {
                    current = std::borrow::Cow::Owned(f);
                }
            }
            match current.parse(l, &mut rec) {
                Ok(LineKind::Record) => {
                    records += 1;
                    if !rec.user_agent.is_empty() || !rec.referer.is_empty() {
                        rich += 1;
                    }
                }
                Ok(LineKind::Directive) => directives += 1,
                Err(_) => {}
            }
        }
        scores.push((format, records, directives, rich));
    }
    // Most records wins; presets are listed most specific first, so a tie keeps the earlier one,
    // except that combined without any referer/agent is really common.
    let best = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| s.1 > 0)
        .max_by(|(ia, a), (ib, b)| {
            let ka = (a.1, a.0.name != "combined" || a.3 > 0, a.2);
            let kb = (b.1, b.0.name != "combined" || b.3 > 0, b.2);
            ka.cmp(&kb).then(ib.cmp(ia))
        })
        .map(|(i, _)| i)?;
    let summary: Vec<String> = scores
        .iter()
        .filter(|(_, r, d, _)| r + d > 0)
        .map(|(f, r, _, _)| format!("{} {}/{}", f.name, r, lines.len()))
        .collect();
    let (format, records, directives, _) = scores.swap_remove(best);
    Some(Detection {
        reason: format!(
            "{} of {} sample lines parse as {} ({} directive lines); candidates: {}",
            records,
            lines.len(),
            format.name,
            directives,
            summary.join(", ")
        ),
        format,
    })
}
