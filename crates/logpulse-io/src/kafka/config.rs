//! What a Kafka job connects to, and how: the single source of truth for the Kafka flags.

use std::time::Duration;

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};

use super::KafkaError;

/// Kafka settings of a run.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    /// Topic the log lines are read from (each message: one or more whole lines).
    pub topic: String,
    /// Consumer group; processes with the same group share the topic's partitions.
    pub group: String,
    /// librdkafka properties (`security.protocol`, `sasl.*`, `ssl.*`, ...), passed to both the
    /// consumer and the producer, after logpulse's defaults so they can override them.
    pub options: Vec<(String, String)>,
    /// Longest time whole lines wait before a batch is cut on a slow topic.
    pub linger: Duration,
    /// Exit once no message came for this long and every assigned partition is read to its
    /// high watermark (tests, back-fills). `None`: run until stopped.
    pub exit_idle: Option<Duration>,
    /// Window results and alerts go here as JSON.
    pub out_topic: Option<String>,
    /// Rejected lines go here as JSON.
    pub dlq_topic: Option<String>,
    /// Worker mode: each batch's partial aggregates go here, for `--kafka-merge` to combine.
    pub partials_topic: Option<String>,
}

/// Parses one `--kafka-option key=value`.
pub fn parse_option(s: &str) -> Result<(String, String), KafkaError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(KafkaError::Config(format!(
            "--kafka-option {s:?}: expected key=value (a librdkafka property)"
        ))),
    }
}

impl KafkaConfig {
    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "logpulse")
            // A stalled broker is reported after 10 s rather than librdkafka's 60 s.
            .set("socket.timeout.ms", "10000")
            .set("log_level", "3");
        c
    }

    fn with_options(&self, mut c: ClientConfig) -> ClientConfig {
        for (k, v) in &self.options {
            c.set(k, v);
            if k == "debug" && !v.trim().is_empty() {
                // rdkafka sets the client's log level after creating it (from the `log`
                // crate's, which nothing configures here: errors only); `debug=...` asks for
                // debug lines, which the contexts print to stderr.
                c.set_log_level(RDKafkaLogLevel::Debug);
            }
        }
        c
    }

    /// The consumer's properties. Offsets are committed by logpulse only (never automatically)
    /// and only once the results they produced are durable.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // Eager rebalancing: revoked partitions are drained and committed in the callback.
            .set("partition.assignment.strategy", "range,roundrobin")
            .set("fetch.wait.max.ms", "100")
            .set("queued.max.messages.kbytes", "262144")
            // When a partition's prefetch queue is above `queued.min.messages` (100,000
            // messages: only ~10 MB of one-line messages), librdkafka stops fetching it for
            // `fetch.queue.backoff.ms`, 1000 ms by default, however soon the queue drains.
            // logpulse drains 100,000 messages in tens of ms, then sat idle for the rest of
            // the second: one-line messages were read at 0.2-0.4 M/s instead of ~2 M/s
            // (BENCHMARKS.md, Kafka). 10 ms: the fetcher looks at the queue again soon after;
            // the queue limits still bound memory.
            .set("fetch.queue.backoff.ms", "10");
        self.with_options(c)
    }

    /// The producer's properties (results, dead letters, partials): every message acknowledged
    /// by all in-sync replicas before offsets move.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("acks", "all")
            .set("linger.ms", "5")
            .set("message.max.bytes", "8000000")
            .set("queue.buffering.max.kbytes", "262144");
        self.with_options(c)
    }

    /// The topics this job produces to.
    pub fn output_topics(&self) -> impl Iterator<Item = &str> {
        [&self.out_topic, &self.dlq_topic, &self.partials_topic]
            .into_iter()
            .filter_map(|t| t.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_as_key_value() {
        assert_eq!(
            parse_option("security.protocol=SASL_SSL").ok(),
            Some(("security.protocol".into(), "SASL_SSL".into()))
        );
        assert_eq!(
            parse_option("sasl.password=a=b").ok(),
            Some(("sasl.password".into(), "a=b".into()))
        );
        assert!(parse_option("novalue").is_err());
        assert!(parse_option("=x").is_err());
    }
}
