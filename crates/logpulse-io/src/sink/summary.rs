//! `--summary FILE.json`: whole-run totals and per-key aggregates.

use std::path::PathBuf;
use std::time::Duration;

use logpulse_core::agg::Agg;
use logpulse_core::pipeline::Sink;
use logpulse_core::window::RunTotals;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

use super::write_atomic;

/// A key of `by_<key>`: requests, bytes, s4xx, s5xx and, when tracked, sessions begun.
type KeyRow<'a> = (&'a str, ([u64; 4], Option<u64>));

/// The summary document: the run's counters in `head`, and `by_<key>` mapping each key to
/// requests, bytes, s4xx, s5xx. Serialized as one JSON object with its keys in sorted order
/// (as a `serde_json::Map` would be), straight from the totals: a `Value` tree of ~80k clients
/// cost ~150 ms to build and print on the dev VM.
pub struct Summary<'a> {
    /// Everything but `by_<key>`; callers may add fields (the JSON Lines sink adds `type`).
    pub head: Map<String, Value>,
    by_name: String,
    /// Keys in byte order, with requests, bytes, s4xx, s5xx and, when tracked, sessions begun.
    by_key: Vec<KeyRow<'a>>,
}

impl Serialize for Summary<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        /// A key's counts, fields in sorted order (as a `serde_json::Map` prints them).
        #[derive(serde::Serialize)]
        struct Counts {
            bytes: u64,
            requests: u64,
            s4xx: u64,
            s5xx: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            sessions: Option<u64>,
        }
        struct ByKey<'b>(&'b [KeyRow<'b>]);
        impl Serialize for ByKey<'_> {
            fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                let mut m = ser.serialize_map(Some(self.0.len()))?;
                for &(k, ([requests, bytes, s4xx, s5xx], sessions)) in self.0 {
                    let c = Counts {
                        bytes,
                        requests,
                        s4xx,
                        s5xx,
                        sessions,
                    };
                    m.serialize_entry(k, &c)?;
                }
                m.end()
            }
        }
        let mut m = ser.serialize_map(Some(self.head.len() + 1))?;
        let mut by_done = false;
        for (k, v) in &self.head {
            if !by_done && k.as_str() > self.by_name.as_str() {
                m.serialize_entry(&self.by_name, &ByKey(&self.by_key))?;
                by_done = true;
            }
            m.serialize_entry(k, v)?;
        }
        if !by_done {
            m.serialize_entry(&self.by_name, &ByKey(&self.by_key))?;
        }
        m.end()
    }
}

/// The summary of run totals `t`; `top` limits `by_<key>` to the keys with most requests (0 =
/// all).
pub fn summary_json<'a>(
    t: &'a RunTotals,
    format: &str,
    key_name: &str,
    elapsed: Duration,
    top: usize,
) -> Summary<'a> {
    let counts = |a: &Agg| [a.requests, a.bytes, a.s4xx, a.s5xx];
    let mut by_key: Vec<KeyRow> = if top > 0 {
        t.by_key
            .order(top)
            .into_iter()
            .map(|i| {
                let (k, a) = t.by_key.at(i);
                (k, (counts(a), t.sessions_of(i as usize)))
            })
            .collect()
    } else {
        t.by_key
            .iter()
            .enumerate()
            .map(|(i, (_, k, a))| (k, (counts(a), t.sessions_of(i))))
            .collect()
    };
    sort_by_key_bytes(&mut by_key);
    let by_reason: Map<String, Value> = t
        .rejects
        .by_reason()
        .into_iter()
        .map(|(r, n)| (r.to_string(), Value::from(n)))
        .collect();
    let secs = elapsed.as_secs_f64();
    let head = json!({
        "format": format,
        "key": key_name,
        "lines": t.lines,
        "parsed": t.records,
        "directives": t.directives,
        "filtered": t.filtered,
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
    let mut head = match head {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(s) = &t.sessions {
        head.insert(
            "sessions".into(),
            super::json::session_totals_json(s, Some(t.by_key.len())),
        );
    }
    Summary {
        head,
        by_name: format!("by_{key_name}"),
        by_key,
    }
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

/// Sorts rows by key, in `str` order, comparing each key's first 16 bytes as one integer before
/// the keys themselves: with a `memcmp` call per comparison, sorting ~80k clients was 65M of
/// the summary's 69M instructions (callgrind, 300k-line TSV run).
fn sort_by_key_bytes<T: Copy>(rows: &mut Vec<(&str, T)>) {
    let mut keyed: Vec<(u128, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (prefix16(k), i as u32))
        .collect();
    keyed.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| rows[a.1 as usize].0.cmp(rows[b.1 as usize].0))
    });
    *rows = keyed.iter().map(|&(_, i)| rows[i as usize]).collect();
}

/// A key's first 16 bytes, zero-padded, big-endian: integers in the keys' byte order (a
/// shorter key pads with 0, which no longer key's byte is below; ties are broken by the keys).
fn prefix16(k: &str) -> u128 {
    let b = k.as_bytes();
    let mut p = [0u8; 16];
    let n = b.len().min(16);
    p[..n].copy_from_slice(&b[..n]);
    u128::from_be_bytes(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_sort_equals_str_order() {
        // Keys that share long prefixes, are prefixes of each other, hold NUL bytes and
        // multi-byte characters, and are shorter and longer than 16 bytes.
        let mut keys: Vec<String> = vec![
            "".into(),
            "a".into(),
            "a\0".into(),
            "a\0\u{1}".into(),
            "199.72.81.55".into(),
            "199.72.81.5".into(),
            "199.72.81.555".into(),
            "piweba3y.prodigy.com".into(),
            "piweba3y.prodigy.co".into(),
            "piweba3y.prodigy.comm".into(),
            "\u{e9}t\u{e9}".into(),
            "zzzzzzzzzzzzzzzz".into(),
            "zzzzzzzzzzzzzzzzz".into(),
        ];
        let mut x: u64 = 1995;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (x >> 59) as usize; // 0..32
            let alphabet = b"19.2a\0z";
            let k: String = (0..len)
                .map(|j| alphabet[((x >> (j % 50)) as usize + j) % alphabet.len()] as char)
                .collect();
            keys.push(k);
        }
        keys.sort();
        keys.dedup();
        let mut want: Vec<(&str, u32)> = keys.iter().map(|k| (k.as_str(), 0)).collect();
        want.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut got = want.clone();
        for i in (1..got.len()).rev() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            got.swap(i, (x >> 33) as usize % (i + 1));
        }
        sort_by_key_bytes(&mut got);
        assert_eq!(got, want);
    }
}
