//! The consumer's callbacks: rebalances (drain, then commit, before partitions go), errors
//! (reported while they last: an unreachable broker is said, not hidden) and commit results.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError as RdError, KafkaResult};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::ledger::Ledger;
use super::source::Ingest;

/// Longest wait for in-flight batches when partitions are revoked; past it the partitions go
/// with their last durable offsets (the rest is read again by the new owner).
const REVOKE_LIMIT: Duration = Duration::from_secs(120);

/// State shared by the source loop, the callbacks, the tap and the commit sink.
pub(crate) struct Coord {
    pub topic: String,
    pub ledger: Ledger,
    /// The source's framer and pending messages, while the source runs.
    pub ingest: Mutex<Option<Ingest>>,
    /// Partitions of `topic` assigned to this process now.
    pub assigned: Mutex<BTreeSet<i32>>,
    /// Set once any assignment arrived (the group was joined).
    pub joined: AtomicBool,
}

impl Coord {
    pub fn new(topic: &str) -> Self {
        Coord {
            topic: topic.to_string(),
            ledger: Ledger::default(),
            ingest: Mutex::new(None),
            assigned: Mutex::new(BTreeSet::new()),
            joined: AtomicBool::new(false),
        }
    }

    pub fn assigned(&self) -> BTreeSet<i32> {
        self.assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The consumer context: see the module docs.
pub(crate) struct GroupContext {
    pub coord: std::sync::Arc<Coord>,
}

impl ClientContext for GroupContext {
    fn error(&self, error: RdError, reason: &str) {
        eprintln!("logpulse: kafka: {error}: {reason}");
    }
}

impl GroupContext {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements()
            .iter()
            .filter(|e| e.topic() == self.coord.topic)
            .map(|e| e.partition())
            .collect()
    }

    /// Cuts what the framer holds, waits until every batch sent is durable, and commits the
    /// revoked partitions' offsets synchronously: the next owner starts exactly after them.
    fn revoke(&self, consumer: &BaseConsumer<Self>, parts: &[i32]) {
        let t0 = Instant::now();
        let stopping = {
            let mut g = self.coord.ingest.lock().unwrap_or_else(|p| p.into_inner());
            match g.as_mut() {
                Some(ing) => {
                    ing.flush();
                    Some(ing.sender())
                }
                None => None,
            }
        };
        let drained = match &stopping {
            Some(out) => self
                .coord
                .ledger
                .wait_drained(REVOKE_LIMIT, || out.stopping()),
            None => true,
        };
        let offsets = self.coord.ledger.take_revoked(parts);
        if !offsets.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for (p, o) in &offsets {
                let _ = tpl.add_partition_offset(&self.coord.topic, *p, Offset::Offset(*o));
            }
            if let Err(e) = consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync) {
                eprintln!("logpulse: kafka: committing revoked partitions {parts:?}: {e}");
            }
        }
        let mut a = self
            .coord
            .assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for p in parts {
            a.remove(p);
        }
        eprintln!(
            "logpulse: kafka: partitions {parts:?} of {} revoked ({} in {} ms; committed {offsets:?})",
            self.coord.topic,
            if drained { "drained" } else { "NOT drained" },
            t0.elapsed().as_millis()
        );
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let parts = self.partitions(tpl);
                self.revoke(consumer, &parts);
            }
            Rebalance::Assign(tpl) => {
                let parts = self.partitions(tpl);
                eprintln!(
                    "logpulse: kafka: assigned partitions {parts:?} of {}",
                    self.coord.topic
                );
                *self
                    .coord
                    .assigned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = parts.into_iter().collect();
                self.coord.joined.store(true, Ordering::Relaxed);
            }
            Rebalance::Error(e) => eprintln!("logpulse: kafka: rebalance failed: {e}"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(e) = result {
            eprintln!(
                "logpulse: kafka: committing offsets {:?}: {e}",
                offsets.to_topic_map()
            );
        }
    }
}
