//! Results to Kafka: per closed window, one `window` message (totals, latency, late count;
//! key `<start>`), one `group` message per group (key `<start>|<group key>`) and one `alert`
//! message per alert (key `<start>|<group key>`), on `--kafka-out-topic`; rejected lines as
//! `reject` messages (key = source) on `--kafka-dlq-topic`. Keys let a compacted topic keep
//! the latest value of each (window, key) and let consumers partition by window or group.
//! Field names are those of the JSON Lines output (docs/OUTPUTS.md).

use std::sync::Arc;

use logpulse_core::pipeline::Sink;
use logpulse_core::reject::Reject;
use logpulse_core::window::WindowResult;
use serde_json::{json, Value};

use super::job::Shared;
use super::KafkaError;
use crate::sink::window_json;

/// See the module docs.
pub struct KafkaSink {
    shared: Arc<Shared>,
    key_name: String,
    top: usize,
}

impl KafkaSink {
    pub(crate) fn new(shared: Arc<Shared>, key_name: &str, top: usize) -> Self {
        KafkaSink {
            shared,
            key_name: key_name.to_string(),
            top,
        }
    }

    fn send(&self, topic: &str, key: &str, v: &Value) -> std::io::Result<()> {
        let Some(p) = &self.shared.producer else {
            return Err(KafkaError::Config("no producer".into()).into_io());
        };
        let bytes = serde_json::to_vec(v).map_err(std::io::Error::other)?;
        p.send(topic, key.as_bytes(), &bytes)
            .map_err(|e| e.into_io())
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Sink for KafkaSink {
    fn window(&mut self, w: &WindowResult) -> std::io::Result<()> {
        let Some(topic) = self.shared.cfg.out_topic.clone() else {
            return Ok(());
        };
        let mut v = window_json(w, &self.key_name, self.top);
        let groups = v.get_mut("groups").map(Value::take);
        let alerts = v.get_mut("alerts").map(Value::take);
        let (start, end) = (v["start"].clone(), v["end"].clone());
        let start_key = text(&start);
        if let Some(obj) = v.as_object_mut() {
            obj.remove("groups");
            obj.remove("alerts");
        }
        self.send(&topic, &start_key, &v)?;
        if let Some(Value::Array(groups)) = groups {
            for mut g in groups {
                let key = format!("{start_key}|{}", text(&g["key"]));
                g["type"] = "group".into();
                g["start"] = start.clone();
                g["end"] = end.clone();
                g["key_name"] = self.key_name.as_str().into();
                self.send(&topic, &key, &g)?;
            }
        }
        if let Some(Value::Array(alerts)) = alerts {
            for a in alerts {
                let key = format!("{start_key}|{}", text(&a["key"]));
                self.send(&topic, &key, &a)?;
            }
        }
        Ok(())
    }

    fn rejects(&mut self, source: &str, rejects: &[Reject]) -> std::io::Result<()> {
        let Some(topic) = self.shared.cfg.dlq_topic.clone() else {
            return Ok(());
        };
        for r in rejects {
            let v = json!({
                "type": "reject",
                "source": source,
                "line_no": r.line_no,
                "offset": r.offset,
                "reason": r.reason.as_str(),
                "line": String::from_utf8_lossy(&r.line),
            });
            self.send(&topic, source, &v)?;
        }
        Ok(())
    }
}
