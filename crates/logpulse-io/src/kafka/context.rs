//! The consumer's callbacks: rebalances (drain, then commit, before partitions go), errors
//! (reported while they last: an unreachable broker is said, not hidden) and commit results.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::error::{KafkaError as RdError, KafkaResult};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::ledger::Ledger;
use super::queue::MessageQueue;
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
    /// `--checkpoint`: offsets become durable (and are committed) only once a checkpoint
    /// covering them is saved.
    pub checkpointing: AtomicBool,
    /// A revoke waits for a checkpoint: the pipeline is asked for one after the next batch.
    pub want_checkpoint: AtomicBool,
    /// Where to start each partition when it is assigned: the checkpoint's offset where it is
    /// ahead of the group's committed one (see [`super::KafkaJob::checkpointing`]). A
    /// partition leaves this map when revoked: from then on the group's offset is the truth.
    pub resume: Mutex<BTreeMap<i32, i64>>,
    /// The queue assigned partitions forward their messages to (owned by the job).
    pub queue: std::sync::OnceLock<std::sync::Weak<MessageQueue>>,
}

impl Coord {
    pub fn new(topic: &str) -> Self {
        Coord {
            topic: topic.to_string(),
            ledger: Ledger::default(),
            ingest: Mutex::new(None),
            assigned: Mutex::new(BTreeSet::new()),
            joined: AtomicBool::new(false),
            checkpointing: AtomicBool::new(false),
            want_checkpoint: AtomicBool::new(false),
            resume: Mutex::new(BTreeMap::new()),
            queue: std::sync::OnceLock::new(),
        }
    }

    pub fn checkpointing(&self) -> bool {
        self.checkpointing.load(Ordering::Relaxed)
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

    /// librdkafka's own log lines (at or above `log_level`, and everything `debug=...` asks
    /// for) go to stderr: without this they went to the `log` crate, which nothing reads.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        eprintln!("logpulse: kafka: librdkafka {level:?} {fac}: {message}");
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
            Some(out) if self.coord.checkpointing() => self.wait_checkpointed(|| out.stopping()),
            Some(out) => self
                .coord
                .ledger
                .wait_drained(REVOKE_LIMIT, || out.stopping()),
            None => true,
        };
        self.coord
            .resume
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|p, _| !parts.contains(p));
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

impl GroupContext {
    /// Checkpoint mode: waits until a saved checkpoint covers every batch sent. The pipeline
    /// is asked for a checkpoint after its next batch; if every batch was already merged, an
    /// empty batch is sent so that there is a next one.
    fn wait_checkpointed(&self, give_up: impl Fn() -> bool) -> bool {
        let t0 = Instant::now();
        let ledger = &self.coord.ledger;
        self.coord.want_checkpoint.store(true, Ordering::Relaxed);
        let mut ticked = false;
        loop {
            let (sent, merged, durable) = ledger.counts();
            if durable >= sent {
                return true;
            }
            if merged >= sent && !ticked {
                ticked = true;
                let mut g = self.coord.ingest.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(ing) = g.as_mut() {
                    if !ing.tick() {
                        return false;
                    }
                }
            }
            if give_up() || t0.elapsed() >= REVOKE_LIMIT {
                return false;
            }
            ledger.wait_change(Duration::from_millis(50));
        }
    }

    /// Sends the partitions' messages to the source's queue (before they are assigned, so
    /// none reach the consumer's own queue; `poll` would still take any that did).
    fn forward_messages(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let Some(queue) = self.coord.queue.get().and_then(|w| w.upgrade()) else {
            return;
        };
        for p in self.partitions(tpl) {
            if !queue.forward(consumer, &self.coord.topic, p) {
                eprintln!(
                    "logpulse: kafka: partition {p} of {}: its messages stay on the consumer's queue",
                    self.coord.topic
                );
            }
        }
    }

    /// Starts resumed partitions at their checkpointed offsets.
    fn resume_offsets(&self, tpl: &mut TopicPartitionList) {
        let resume = self.coord.resume.lock().unwrap_or_else(|p| p.into_inner());
        for p in self.partitions(tpl) {
            if let Some(o) = resume.get(&p) {
                if let Err(e) = tpl.set_partition_offset(&self.coord.topic, p, Offset::Offset(*o)) {
                    eprintln!("logpulse: kafka: resuming partition {p} at {o}: {e}");
                }
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    /// As rdkafka's default (eager protocol: assign / unassign), but an assignment starts
    /// resumed partitions at their checkpointed offsets instead of the group's.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.resume_offsets(tpl);
                self.forward_messages(consumer, tpl);
                self.pre_rebalance(consumer, &Rebalance::Assign(tpl));
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            other => {
                if other == RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    self.pre_rebalance(consumer, &Rebalance::Revoke(tpl));
                } else {
                    let code: rdkafka::types::RDKafkaErrorCode = other.into();
                    self.pre_rebalance(consumer, &Rebalance::Error(RdError::Rebalance(code)));
                }
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
        };
        if let Err(e) = result {
            eprintln!("logpulse: kafka: applying the rebalance: {e}");
        }
    }

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
