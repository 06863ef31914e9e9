//! Kafka: a consumer-group source, a results/dead-letter sink, and the intermediate "partials"
//! topic through which several logpulse processes (one consumer group) reach one merged result.
//!
//! ```text
//!  topic T (N partitions) ──▶ KafkaSource ──Batch──▶ Backend ──▶ [PartialTap] ──▶ Windows ──▶ Sinks
//!   consumer group G          whole-line            │  records seq -> offsets      │       KafkaSink
//!                             messages framed       └─ worker mode: partials ──▶ topic T.partials
//!                                                                                 │
//!  offsets committed by CommitSink after the batch's results (and partials) are  ▼
//!  durable in Kafka; on a rebalance the revoked partitions are drained first.   `logpulse run
//!                                                                               --kafka-merge`
//! ```
//!
//! Pieces: [`KafkaConfig`] (flags), [`KafkaJob`] (one consumer, one producer, the offset
//! ledger), [`KafkaSource`], [`CommitSink`], [`KafkaSink`], and [`merge`] for scale-out.

mod commit;
mod config;
mod context;
mod job;
mod ledger;
pub mod merge;
mod producer;
pub mod queue;
mod sink;
mod source;
pub mod test_broker;

pub use commit::{CommitSink, PartialTap};
pub use config::{parse_option, KafkaConfig};
pub use job::KafkaJob;
pub use sink::KafkaSink;
pub use source::KafkaSource;

/// The checkpoint's name for a partition's position: `kafka:<topic>/<partition>` (its offset is
/// the partition's next offset to read).
pub fn partition_source(topic: &str, partition: i32) -> String {
    format!("kafka:{topic}/{partition}")
}

/// A Kafka operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// A librdkafka call failed.
    #[error("kafka: {context}: {source}")]
    Client {
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A flag or option is not valid.
    #[error("kafka: {0}")]
    Config(String),
    /// A message could not be delivered to the broker.
    #[error("kafka: delivering to {topic}: {message}")]
    Delivery {
        /// Topic of the message.
        topic: String,
        /// The client's reason.
        message: String,
    },
    /// The test broker could not be found, started or used.
    #[error("kafka test broker: {0}")]
    Broker(String),
    /// A partial on the intermediate topic could not be decoded.
    #[error("kafka: bad partial message: {0}")]
    BadPartial(String),
}

impl KafkaError {
    pub(crate) fn client(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        KafkaError::Client {
            context: context.into(),
            source,
        }
    }

    /// As an I/O error, for the pipeline's Source and Sink traits.
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::other(self.to_string())
    }
}
