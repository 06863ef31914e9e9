//! Scale-out: several logpulse processes in one consumer group each publish their batches'
//! partial aggregates to an intermediate topic (`--kafka-partials-topic`); one `--kafka-merge`
//! run consumes that topic and feeds the partials into the same window operator a single
//! process uses, so the merged results equal a single-process run (up to lateness: data late
//! in one order may not be late in another).
//!
//! A partial is split by window: one message per (batch, window), keyed by the window start,
//! so every partial of a window lands in one partition and mergers can share the topic by
//! window. (Keying by (window, group key) would multiply the messages by the distinct keys for
//! no gain: a window's totals, top groups and alerts need all of its groups in one place.)
//! Large windows are cut into several messages of at most [`MESSAGE_BYTES`] bytes of groups,
//! so a merger's default line limit (64 KiB) never cuts a message.
//! The format is one compact JSON object per message (versioned, documented below).

use std::collections::BTreeMap;

use logpulse_core::agg::{Agg, LatencyHist, Partial};
use logpulse_core::backend::BackendError;
use logpulse_core::batch::{Batch, BufferPool};
use logpulse_core::reject::{Reject, RejectReason};
use logpulse_core::Backend;
use serde_json::{json, Value};

use super::producer::SharedProducer;
use super::KafkaError;

/// Bytes of group rows after which a partials message is cut (one line for the merger's framer,
/// whose default longest line is 64 KiB).
pub const MESSAGE_BYTES: usize = 32 * 1024;

/// Format version, checked by the merger.
const VERSION: u64 = 1;

fn agg_row(window: i64, key: &str, a: &Agg) -> Value {
    json!([
        window,
        key,
        a.requests,
        a.bytes,
        a.s4xx,
        a.s5xx,
        a.errors,
        a.latency_count,
        a.latency_sum_us
    ])
}

/// Encodes `p` as messages `(key, payload)`: see the module docs. Message format:
/// `{"v":1, "lines", "records", "directives", "filtered", "input_bytes", "rejects":[count per reason code],
///   "max_time", "groups":[[window, key, requests, bytes, s4xx, s5xx, [[status, n]..],
///   latency_count, latency_sum_us]..], "latency":[[window, [[bucket, n]..]]..]}`;
/// line accounting travels in the first message of a partial only.
pub fn encode_partial(p: &Partial) -> Vec<(String, Vec<u8>)> {
    let mut by_window: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for (w, k, a) in p.groups.iter() {
        by_window.entry(w).or_default().push(agg_row(w, k, a));
    }
    for w in p.latency.keys() {
        by_window.entry(*w).or_default();
    }
    let mut chunks: Vec<(i64, Vec<Value>, Option<&LatencyHist>)> = Vec::new();
    for (w, rows) in by_window {
        let hist = p.latency.get(&w);
        if rows.is_empty() {
            chunks.push((w, rows, hist));
            continue;
        }
        let mut first = true;
        let mut cur = Vec::new();
        let mut size = 0;
        for row in rows {
            size += row.to_string().len() + 1;
            cur.push(row);
            if size >= MESSAGE_BYTES {
                chunks.push((w, std::mem::take(&mut cur), if first { hist } else { None }));
                first = false;
                size = 0;
            }
        }
        if !cur.is_empty() {
            chunks.push((w, cur, if first { hist } else { None }));
        }
    }
    if chunks.is_empty() {
        // A batch with no record still carries its line accounting.
        chunks.push((0, Vec::new(), None));
    }
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, (w, rows, hist))| {
            let mut v = json!({
                "v": VERSION,
                "max_time": p.max_time,
                "groups": rows,
            });
            if let Some(h) = hist {
                v["latency"] = json!([[w, h.sparse()]]);
            }
            if i == 0 {
                v["lines"] = p.lines.into();
                v["records"] = p.records.into();
                v["directives"] = p.directives.into();
                v["filtered"] = p.filtered.into();
                v["input_bytes"] = p.input_bytes.into();
                v["rejects"] = json!(p.reject_counts.0.to_vec());
            }
            let mut bytes = serde_json::to_vec(&v).unwrap_or_default();
            bytes.push(b'\n');
            (w.to_string(), bytes)
        })
        .collect()
}

/// Publishes a batch's partial to `topic`.
pub(crate) fn publish_partial(
    prod: &SharedProducer,
    topic: &str,
    p: &Partial,
) -> Result<(), KafkaError> {
    for (key, payload) in encode_partial(p) {
        prod.send(topic, key.as_bytes(), &payload)?;
    }
    Ok(())
}

fn u(v: &Value, what: &str) -> Result<u64, KafkaError> {
    v.as_u64()
        .ok_or_else(|| KafkaError::BadPartial(format!("{what} is not a count")))
}

/// Adds one encoded message (one JSON line) to `into`.
pub fn decode_into(line: &[u8], into: &mut Partial) -> Result<(), KafkaError> {
    let v: Value =
        serde_json::from_slice(line).map_err(|e| KafkaError::BadPartial(e.to_string()))?;
    if v["v"].as_u64() != Some(VERSION) {
        return Err(KafkaError::BadPartial(format!(
            "version {} not {VERSION}",
            v["v"]
        )));
    }
    let mut p = Partial::new(into.seq, into.source.clone());
    for (field, slot) in [
        ("lines", &mut p.lines),
        ("records", &mut p.records),
        ("directives", &mut p.directives),
        ("filtered", &mut p.filtered),
        ("input_bytes", &mut p.input_bytes),
    ] {
        if !v[field].is_null() {
            *slot = u(&v[field], field)?;
        }
    }
    if let Some(counts) = v["rejects"].as_array() {
        for (i, c) in counts.iter().enumerate().take(p.reject_counts.0.len()) {
            p.reject_counts.0[i] = u(c, "reject count")?;
        }
    }
    p.max_time = v["max_time"].as_i64();
    let rows = v["groups"]
        .as_array()
        .ok_or_else(|| KafkaError::BadPartial("no groups".into()))?;
    for r in rows {
        let (Some(w), Some(k)) = (r[0].as_i64(), r[1].as_str()) else {
            return Err(KafkaError::BadPartial(format!("bad group row {r}")));
        };
        let errors: Vec<(u16, u64)> = serde_json::from_value(r[6].clone())
            .map_err(|e| KafkaError::BadPartial(format!("errors of {k}: {e}")))?;
        let a = p.groups.agg_mut(w, k);
        a.requests += u(&r[2], "requests")?;
        a.bytes += u(&r[3], "bytes")?;
        a.s4xx += u(&r[4], "s4xx")?;
        a.s5xx += u(&r[5], "s5xx")?;
        for (s, n) in errors {
            a.add_error(s, n);
        }
        a.latency_count += u(&r[7], "latency_count")?;
        a.latency_sum_us += u(&r[8], "latency_sum_us")?;
    }
    if let Some(hs) = v["latency"].as_array() {
        for h in hs {
            let w = h[0]
                .as_i64()
                .ok_or_else(|| KafkaError::BadPartial("latency window".into()))?;
            let buckets: Vec<(u32, u64)> = serde_json::from_value(h[1].clone())
                .map_err(|e| KafkaError::BadPartial(format!("latency buckets: {e}")))?;
            p.latency.insert(w, LatencyHist::from_sparse(&buckets));
        }
    }
    into.merge(p);
    Ok(())
}

/// The merger's "backend": a batch of partials messages (one JSON line each) becomes their
/// merged [`Partial`]. A message that does not decode is rejected (`bad_json`), not fatal.
pub struct MergeBackend {
    pool: BufferPool,
}

impl MergeBackend {
    /// A merger framing into `pool`.
    pub fn new(pool: BufferPool) -> Self {
        MergeBackend { pool }
    }
}

impl Backend for MergeBackend {
    fn describe(&self) -> String {
        "merge (partials from a Kafka topic)".into()
    }

    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }

    fn process(&mut self, batch: Batch) -> Result<Partial, BackendError> {
        let mut out = Partial::new(batch.seq, batch.origin.source.clone());
        let mut offset = batch.origin.offset;
        let lines = batch
            .bytes()
            .split(|&c| c == b'\n')
            .take(batch.lines as usize);
        for (line_no, line) in (batch.origin.first_line..).zip(lines) {
            if let Err(e) = decode_into(line, &mut out) {
                eprintln!("logpulse: merge: line {line_no}: {e}");
                out.reject_counts.add(RejectReason::BadJson);
                out.rejects
                    .push(Reject::new(line_no, offset, RejectReason::BadJson, line));
                out.lines += 1;
            }
            offset += line.len() as u64 + 1;
        }
        // Lines the framer cut out (too long) are rejects too: counted, never silent.
        for r in &batch.skipped {
            out.reject_counts.add(r.reason);
            out.lines += 1;
        }
        out.rejects.extend(batch.skipped);
        Ok(out)
    }
}

/// A heap pool for a merger (partials are small: a few buffers of 16 MiB).
pub fn merge_pool() -> BufferPool {
    BufferPool::heap(6, 16 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logpulse_core::format::Record;
    use std::sync::Arc;

    #[test]
    fn partial_round_trips_through_messages() {
        let mut p = Partial::new(3, Arc::from("t"));
        let rec = |time, status, bytes| Record {
            time,
            status,
            bytes,
            ..Default::default()
        };
        p.add_record(60, "a.example", &rec(61, 200, 100));
        p.add_record(60, "a.example", &rec(62, 503, 10));
        p.add_record(120, "b.example", &rec(125, 404, 7));
        p.lines = 4;
        p.reject_counts.add(RejectReason::BadTime);
        let msgs = encode_partial(&p);
        assert_eq!(msgs.len(), 2, "one message per window");
        let mut back = Partial::new(3, Arc::from("t"));
        for (_, m) in &msgs {
            decode_into(m.trim_ascii_end(), &mut back).expect("decodes");
        }
        assert_eq!(back.lines, 4);
        assert_eq!(back.records, 3);
        assert_eq!(back.rejected(), 1);
        assert_eq!(back.max_time, Some(125));
        assert_eq!(
            back.groups.get(60, "a.example"),
            p.groups.get(60, "a.example")
        );
        assert_eq!(
            back.groups.get(120, "b.example"),
            p.groups.get(120, "b.example")
        );
    }
}
