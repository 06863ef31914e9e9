//! Offsets move only after results are durable: [`PartialTap`] learns which batch (by its
//! sequence number) covers which offsets and, in worker mode, publishes each batch's partial;
//! [`CommitSink`], last among the sinks, flushes the producer and then commits. With
//! `--checkpoint` it commits only once the checkpoint covering the batches is saved, and gives
//! the checkpoint each partition's next offset (`kafka:<topic>/<partition>`).

use std::sync::Arc;
use std::time::Duration;

use logpulse_core::agg::Partial;
use logpulse_core::backend::BackendError;
use logpulse_core::batch::{Batch, BufferPool};
use logpulse_core::checkpoint::SourcePosition;
use logpulse_core::pipeline::{BatchStats, Sink};
use logpulse_core::window::RunTotals;
use logpulse_core::Backend;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::job::Shared;
use super::merge::publish_partial;

/// Wraps a backend: see the module docs.
pub struct PartialTap {
    inner: Box<dyn Backend>,
    shared: Arc<Shared>,
}

impl PartialTap {
    pub(crate) fn new(inner: Box<dyn Backend>, shared: Arc<Shared>) -> Self {
        PartialTap { inner, shared }
    }

    fn publish(&self, p: &Partial) -> Result<(), BackendError> {
        if let (Some(topic), Some(prod)) = (&self.shared.cfg.partials_topic, &self.shared.producer)
        {
            publish_partial(prod, topic, p).map_err(|e| BackendError::Other(e.to_string()))?;
        }
        Ok(())
    }
}

impl Backend for PartialTap {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn pool(&self) -> BufferPool {
        self.inner.pool()
    }

    fn wait_started(&mut self) -> Result<(), BackendError> {
        self.inner.wait_started()
    }

    fn process(&mut self, batch: Batch) -> Result<Partial, BackendError> {
        self.shared
            .coord
            .ledger
            .assign_seq(batch.origin.offset, batch.seq);
        let p = self.inner.process(batch)?;
        self.publish(&p)?;
        Ok(p)
    }

    fn run(
        &mut self,
        batches: &mut dyn Iterator<Item = Batch>,
        out: &mut dyn FnMut(Partial) -> bool,
    ) -> Result<(), BackendError> {
        let coord = self.shared.coord.clone();
        let mut tracked = batches.inspect(|b| coord.ledger.assign_seq(b.origin.offset, b.seq));
        let mut failed = None;
        let shared = self.shared.clone();
        let mut wrapped = |p: Partial| {
            if let (Some(topic), Some(prod)) = (&shared.cfg.partials_topic, &shared.producer) {
                if let Err(e) = publish_partial(prod, topic, &p) {
                    failed = Some(BackendError::Other(e.to_string()));
                    return false;
                }
            }
            out(p)
        };
        self.inner.run(&mut tracked, &mut wrapped)?;
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Commits offsets of merged batches once everything produced for them is acknowledged.
pub struct CommitSink {
    shared: Arc<Shared>,
    /// The run ended: the final checkpoint's commit is synchronous.
    finished: bool,
}

impl CommitSink {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        CommitSink {
            shared,
            finished: false,
        }
    }

    fn commit(&self, mode: CommitMode) -> std::io::Result<()> {
        let offsets = self.shared.coord.ledger.take_durable();
        if offsets.is_empty() {
            return Ok(());
        }
        let topic = &self.shared.cfg.topic;
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &offsets {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
                .map_err(|e| std::io::Error::other(format!("kafka: offsets of {topic}: {e}")))?;
        }
        match self.shared.consumer.commit(&tpl, mode) {
            Ok(()) => Ok(()),
            // Not fatal: the results are durable; the next commit (or the next owner) moves on.
            Err(e) => {
                eprintln!("logpulse: kafka: committing {offsets:?} of {topic}: {e}");
                Ok(())
            }
        }
    }

    fn flush(&self) -> std::io::Result<()> {
        match &self.shared.producer {
            Some(p) => p.flush().map_err(|e| e.into_io()),
            None => Ok(()),
        }
    }
}

impl Sink for CommitSink {
    fn batch(&mut self, stats: &BatchStats, _totals: &RunTotals) -> std::io::Result<()> {
        // Everything this batch produced was queued by the sinks before this one.
        self.flush()?;
        let ledger = &self.shared.coord.ledger;
        if self.shared.coord.checkpointing() {
            // Durable (and committed) once the checkpoint holding its windows is saved.
            ledger.mark_merged(stats.seq);
        } else if ledger.mark_durable(stats.seq) {
            self.commit(CommitMode::Async)?;
        }
        Ok(())
    }

    fn finish(&mut self, _totals: &RunTotals, _elapsed: Duration) -> std::io::Result<()> {
        self.flush()?;
        if self.shared.coord.checkpointing() {
            // The pipeline saves a last checkpoint next, then `checkpoint_saved` commits.
            self.finished = true;
            return Ok(());
        }
        self.commit(CommitMode::Sync)
    }

    fn checkpoint_sources(&mut self) -> Vec<(String, SourcePosition)> {
        if !self.shared.coord.checkpointing() {
            return Vec::new();
        }
        let topic = &self.shared.cfg.topic;
        self.shared
            .coord
            .ledger
            .positions()
            .into_iter()
            .map(|(p, o)| {
                let pos = SourcePosition {
                    offset: o as u64,
                    next_line: 0,
                };
                (super::partition_source(topic, p), pos)
            })
            .collect()
    }

    fn checkpoint_saved(&mut self) -> std::io::Result<()> {
        let coord = &self.shared.coord;
        if !coord.checkpointing() {
            return Ok(());
        }
        coord.ledger.make_durable();
        coord
            .want_checkpoint
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.commit(if self.finished {
            CommitMode::Sync
        } else {
            CommitMode::Async
        })
    }

    fn checkpoint_wanted(&self) -> bool {
        self.shared
            .coord
            .want_checkpoint
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
