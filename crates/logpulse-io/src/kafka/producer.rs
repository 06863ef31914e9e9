//! One producer shared by the results sink, the dead-letter sink and the partials tap, with
//! back-pressure (a full send queue blocks the caller, so a slow broker slows the whole run
//! down to the source) and delivery errors kept until the next flush reports them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use super::{KafkaConfig, KafkaError};

/// How long one flush may wait for the broker before the run fails.
const FLUSH_LIMIT: Duration = Duration::from_secs(300);

/// Counts deliveries and keeps the first failure.
#[derive(Default)]
pub(crate) struct DeliveryTracker {
    failed: AtomicU64,
    first_error: Mutex<Option<(String, String)>>,
}

impl ClientContext for DeliveryTracker {
    fn error(&self, error: RdError, reason: &str) {
        eprintln!("logpulse: kafka producer: {error}: {reason}");
    }
}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, msg)) = result {
            use rdkafka::message::Message;
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| (msg.topic().to_string(), e.to_string()));
        }
    }
}

/// See the module docs.
pub(crate) struct SharedProducer {
    inner: ThreadedProducer<DeliveryTracker>,
}

impl SharedProducer {
    pub fn new(cfg: &KafkaConfig) -> Result<Self, KafkaError> {
        let inner = cfg
            .producer_config()
            .create_with_context(DeliveryTracker::default())
            .map_err(|e| KafkaError::client("creating producer", e))?;
        Ok(SharedProducer { inner })
    }

    /// Queues a message, waiting while the send queue is full (back-pressure).
    pub fn send(&self, topic: &str, key: &[u8], payload: &[u8]) -> Result<(), KafkaError> {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => return Err(KafkaError::client(format!("producing to {topic}"), e)),
            }
        }
    }

    /// Waits until every queued message is acknowledged; fails if any delivery failed.
    pub fn flush(&self) -> Result<(), KafkaError> {
        self.inner
            .flush(FLUSH_LIMIT)
            .map_err(|e| KafkaError::client("flushing produced messages", e))?;
        let ctx = self.inner.context();
        if ctx.failed.load(Ordering::Relaxed) > 0 {
            let first = ctx.first_error.lock().unwrap_or_else(|p| p.into_inner());
            let (topic, message) = first.clone().unwrap_or_default();
            return Err(KafkaError::Delivery { topic, message });
        }
        Ok(())
    }
}
