//! A Kafka job: one consumer (group member), one producer if anything is produced, and the
//! offset ledger they share. The CLI builds one and takes its source, sinks and tap from it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use logpulse_core::checkpoint::Checkpoint;
use logpulse_core::Backend;
use rdkafka::consumer::BaseConsumer;

use super::context::{Coord, GroupContext};
use super::producer::SharedProducer;
use super::queue::MessageQueue;
use super::{CommitSink, KafkaConfig, KafkaError, KafkaSink, KafkaSource, PartialTap};

/// What the source, the tap and the sinks of one job share.
pub(crate) struct Shared {
    pub cfg: KafkaConfig,
    /// Where the assigned partitions' messages go (before `consumer`: fields drop in order,
    /// and the queue must go before its client).
    pub queue: Arc<MessageQueue>,
    pub consumer: Arc<BaseConsumer<GroupContext>>,
    pub coord: Arc<Coord>,
    pub producer: Option<SharedProducer>,
}

/// See the module docs.
#[derive(Clone)]
pub struct KafkaJob {
    shared: Arc<Shared>,
}

impl KafkaJob {
    /// Creates the clients (no network traffic yet: the group is joined when the source runs).
    pub fn connect(cfg: KafkaConfig) -> Result<Self, KafkaError> {
        if cfg.brokers.trim().is_empty() || cfg.topic.is_empty() || cfg.group.is_empty() {
            return Err(KafkaError::Config(
                "--kafka-brokers, --topic and --group are all needed".into(),
            ));
        }
        let coord = Arc::new(Coord::new(&cfg.topic));
        let consumer: BaseConsumer<GroupContext> = cfg
            .consumer_config()
            .create_with_context(GroupContext {
                coord: coord.clone(),
            })
            .map_err(|e| KafkaError::client("creating consumer", e))?;
        let queue =
            Arc::new(MessageQueue::new(&consumer).ok_or_else(|| {
                KafkaError::Config("creating the consumer's message queue".into())
            })?);
        let _ = coord.queue.set(Arc::downgrade(&queue));
        let producer = if cfg.output_topics().next().is_some() {
            Some(SharedProducer::new(&cfg)?)
        } else {
            None
        };
        Ok(KafkaJob {
            shared: Arc::new(Shared {
                cfg,
                queue,
                consumer: Arc::new(consumer),
                coord,
                producer,
            }),
        })
    }

    /// The job's settings.
    pub fn config(&self) -> &KafkaConfig {
        &self.shared.cfg
    }

    /// `--checkpoint`: offsets are committed only once a saved checkpoint covers them, the
    /// checkpoint records each partition's next offset, and, resuming from `resume`, each
    /// checkpointed partition starts at its offset there (or at the group's committed offset
    /// where that is later). Call before the source runs.
    pub fn checkpointing(&self, resume: Option<&Checkpoint>) {
        let coord = &self.shared.coord;
        coord.checkpointing.store(true, Ordering::Relaxed);
        let Some(c) = resume else {
            return;
        };
        let prefix = super::partition_source(&self.shared.cfg.topic, 0);
        let prefix = &prefix[..prefix.len() - 1];
        let mut r = coord.resume.lock().unwrap_or_else(|p| p.into_inner());
        for (name, pos) in &c.sources {
            if let Some(p) = name
                .strip_prefix(prefix)
                .and_then(|p| p.parse::<i32>().ok())
            {
                r.insert(p, pos.offset as i64);
            }
        }
    }

    /// The source (use one per job).
    pub fn source(&self) -> KafkaSource {
        KafkaSource::new(self.shared.clone())
    }

    /// Wraps every backend so batches' offsets are tracked (and, in worker mode, partials
    /// published). Every backend of a Kafka run must be wrapped.
    pub fn tap(&self, backends: Vec<Box<dyn Backend>>) -> Vec<Box<dyn Backend>> {
        backends
            .into_iter()
            .map(|b| Box::new(PartialTap::new(b, self.shared.clone())) as Box<dyn Backend>)
            .collect()
    }

    /// The sink that commits offsets; must come last among the run's sinks.
    pub fn commit_sink(&self) -> CommitSink {
        CommitSink::new(self.shared.clone())
    }

    /// Results/alerts and dead-letter sink, if `--kafka-out-topic` or `--kafka-dlq-topic`.
    pub fn results_sink(&self, key_name: &str, top: usize) -> Option<KafkaSink> {
        let cfg = &self.shared.cfg;
        if cfg.out_topic.is_none() && cfg.dlq_topic.is_none() {
            return None;
        }
        Some(KafkaSink::new(self.shared.clone(), key_name, top))
    }
}
