//! The Kafka source: a consumer-group member whose messages' bytes go straight into the framer.
//!
//! A message holds one or more whole lines; one not ending in `\n` gets one, so a line never
//! spans two messages. For each batch cut, the source records the next offset of every
//! partition whose messages the batch completes (a message split over two batches counts in
//! the second), so offsets can be committed once the batch's results are durable.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logpulse_core::batch::{Batch, BufferPool, Origin};
use logpulse_core::framer::{Framer, FramerConfig};
use logpulse_core::pipeline::{BatchSender, Source, SourceError};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::context::Coord;
use super::job::Shared;
use super::queue::Messages;

/// Longest single wait in `poll`: how quickly a stop request or a linger expiry is noticed.
const POLL_STEP: Duration = Duration::from_millis(50);

/// How long a topic with enough lines buffered for a quiet cut must stay silent to be called
/// quiet: the end of a burst or backlog is then cut within a few ms instead of a whole
/// [`POLL_STEP`] (that wait was 10-15% of reading a million one-line messages, BENCHMARKS.md).
const QUIET_WAIT: Duration = Duration::from_millis(5);

/// Most messages taken in one burst between two looks at the clocks.
const BURST: usize = 1024;

/// Staged message bytes are moved into the framer at the end of each burst, or as soon as
/// this many are staged (so one move cuts at most a batch or two: the pool stays bounded).
const STAGE_MAX: usize = 256 << 10;

/// The framer and what it holds: lives in [`Coord`] so the rebalance callback can cut it.
pub(crate) struct Ingest {
    framer: Framer,
    /// (stream position just after the message, partition, offset + 1), oldest first.
    marks: VecDeque<(u64, i32, i64)>,
    /// Bytes taken (message bytes plus added newlines): staged, then in the framer.
    pushed: u64,
    /// Messages taken but not yet in the framer, each ending in `\n`. Copying a burst in at
    /// once costs the framer one call rather than two per message (one-line messages:
    /// that was most of the source thread's own time). Everything that cuts batches
    /// ([`Ingest::flush`], the rebalance callback's, [`Ingest::finish`]) moves it in first.
    stage: Vec<u8>,
    /// Message bytes in `stage` (without added newlines), for the pipeline's byte count.
    staged_payload: u64,
    /// Each staged message's end in `stage`: batches are cut between messages, never inside
    /// one (see [`Ingest::drain`]).
    staged_msgs: Vec<usize>,
    out: BatchSender,
    coord: Arc<Coord>,
    ready: Vec<Batch>,
    name: Arc<str>,
}

impl Ingest {
    pub fn sender(&self) -> BatchSender {
        self.out.clone()
    }

    /// Takes one message (framed by the next [`Ingest::drain`]). False when the run is
    /// stopping.
    fn push(&mut self, partition: i32, offset: i64, payload: &[u8]) -> bool {
        // An empty message frames nothing; it still counts as consumed once the batches
        // before it are durable.
        if !payload.is_empty() {
            self.stage.extend_from_slice(payload);
            self.pushed += payload.len() as u64;
            self.staged_payload += payload.len() as u64;
            if payload.last() != Some(&b'\n') {
                self.stage.push(b'\n');
                self.pushed += 1;
            }
            self.staged_msgs.push(self.stage.len());
        }
        self.marks.push_back((self.pushed, partition, offset + 1));
        if self.stage.len() >= STAGE_MAX {
            return self.drain();
        }
        true
    }

    /// Moves the staged messages into the framer and sends the batches cut meanwhile. False
    /// when the run is stopping.
    ///
    /// A batch is cut before a message that would not fit in it, so every batch ends at a
    /// message's end: the offsets a checkpoint records then cover exactly the lines its state
    /// holds. (A message cut in two would be counted once in the state and read again whole
    /// from its offset after a restart.) Only a message larger than a whole batch is split.
    ///
    /// Lines are counted over the whole stage in one pass, while it is in cache; only a stage
    /// that reaches the end of the batch is walked message by message.
    fn drain(&mut self) -> bool {
        if !self.stage.is_empty() {
            let room = self.framer.room();
            let total = memchr::memchr_iter(b'\n', &self.stage).count();
            let fits = room.lines + total <= room.max_lines
                && room.bytes + self.stage.len() <= room.max_bytes;
            let walk: &[usize] = if fits { &[] } else { &self.staged_msgs };
            let (mut lines, mut bytes) = (room.lines, room.bytes);
            let (mut from, mut prev) = (0usize, 0usize);
            for &end in walk {
                let len = end - prev;
                let n = memchr::memchr_iter(b'\n', &self.stage[prev..end]).count();
                if lines > 0 && (lines + n > room.max_lines || bytes + len > room.max_bytes) {
                    self.framer.push(&self.stage[from..prev]);
                    self.framer.flush();
                    from = prev;
                    (lines, bytes) = (0, 0);
                }
                lines += n;
                bytes += len;
                if lines >= room.max_lines || bytes >= room.max_bytes {
                    // The framer cuts right at this message's end by itself.
                    (lines, bytes) = (0, 0);
                }
                prev = end;
            }
            self.framer.push(&self.stage[from..]);
            self.stage.clear();
            self.staged_msgs.clear();
            self.out.add_bytes(std::mem::take(&mut self.staged_payload));
        }
        self.send_ready()
    }

    /// Cuts the whole lines taken so far and sends them.
    pub fn flush(&mut self) -> bool {
        if !self.drain() {
            return false;
        }
        self.framer.flush();
        self.send_ready()
    }

    /// Sends an empty batch (no offsets): gives the pipeline a batch after which to write the
    /// checkpoint a revoke waits for. False when the run is stopping.
    pub fn tick(&mut self) -> bool {
        if !self.flush() {
            return false;
        }
        let (offset, first_line) = self.framer.position();
        let origin = Origin {
            source: self.name.clone(),
            first_line,
            offset,
        };
        self.coord.ledger.register(offset, Vec::new());
        if !self.out.send(Batch::from_bytes(0, Vec::new(), origin)) {
            self.coord.ledger.unregister(offset);
            return false;
        }
        true
    }

    /// End of the stream: sends everything.
    fn finish(&mut self) -> bool {
        if !self.drain() {
            return false;
        }
        self.framer.finish();
        self.send_ready()
    }

    fn send_ready(&mut self) -> bool {
        while let Some(b) = self.framer.pop() {
            self.ready.push(b);
        }
        if self.ready.is_empty() {
            return true;
        }
        let tail_end = self.framer.position().0;
        let batches = std::mem::take(&mut self.ready);
        let ends: Vec<u64> = batches
            .iter()
            .skip(1)
            .map(|b| b.origin.offset)
            .chain(std::iter::once(tail_end))
            .collect();
        for (b, end) in batches.into_iter().zip(ends) {
            let mut done: BTreeMap<i32, i64> = BTreeMap::new();
            while let Some(&(pos, p, next)) = self.marks.front() {
                if pos > end {
                    break;
                }
                done.insert(p, next);
                self.marks.pop_front();
            }
            let start = b.origin.offset;
            self.coord
                .ledger
                .register(start, done.into_iter().collect());
            if !self.out.send(b) {
                self.coord.ledger.unregister(start);
                return false;
            }
        }
        true
    }
}

/// Reads the job's topic as a member of its consumer group. See the module docs.
pub struct KafkaSource {
    shared: Arc<Shared>,
}

impl KafkaSource {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        KafkaSource { shared }
    }

    fn err(context: String, e: impl std::fmt::Display) -> SourceError {
        SourceError {
            context,
            source: std::io::Error::other(e.to_string()),
        }
    }

    fn with_ingest<R>(&self, f: impl FnOnce(&mut Ingest) -> R) -> Option<R> {
        let mut g = self
            .shared
            .coord
            .ingest
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        g.as_mut().map(f)
    }

    /// True when every assigned partition has been read up to its high watermark. An
    /// unreachable broker means "not known to be at the end": reported, and reading goes on.
    fn at_end(&self, positions: &BTreeMap<i32, i64>) -> bool {
        if !self
            .shared
            .coord
            .joined
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return false;
        }
        let consumer = &self.shared.consumer;
        let topic = &self.shared.cfg.topic;
        let assigned = self.shared.coord.assigned();
        let mut unknown = TopicPartitionList::new();
        for p in &assigned {
            if !positions.contains_key(p) {
                unknown.add_partition(topic, *p);
            }
        }
        let committed = if unknown.count() > 0 {
            match consumer.committed_offsets(unknown, Duration::from_secs(5)) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("logpulse: kafka: broker not answering (committed offsets): {e}");
                    return false;
                }
            }
        } else {
            TopicPartitionList::new()
        };
        for p in &assigned {
            let (low, high) = match consumer.fetch_watermarks(topic, *p, Duration::from_secs(5)) {
                Ok(w) => w,
                Err(e) => {
                    eprintln!(
                        "logpulse: kafka: broker not answering (watermarks of {topic}/{p}): {e}"
                    );
                    return false;
                }
            };
            let pos = match positions.get(p) {
                Some(o) => *o,
                None => match committed.find_partition(topic, *p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => low,
                },
            };
            if pos < high {
                return false;
            }
        }
        true
    }
}

impl KafkaSource {
    /// Checkpoint mode, resuming: each checkpointed partition starts at the later of its
    /// checkpointed offset and the group's committed one (a later committed offset means
    /// another member of the group read on after this checkpoint). Those offsets are durable
    /// already: they are committed with the next commit.
    fn resume_from_checkpoint(&self) -> Result<BTreeMap<i32, i64>, SourceError> {
        let coord = &self.shared.coord;
        let topic = &self.shared.cfg.topic;
        let mut resume = coord.resume.lock().unwrap_or_else(|p| p.into_inner());
        if resume.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut tpl = TopicPartitionList::new();
        for p in resume.keys() {
            tpl.add_partition(topic, *p);
        }
        let committed = self
            .shared
            .consumer
            .committed_offsets(tpl, Duration::from_secs(30))
            .map_err(|e| Self::err(format!("committed offsets of {topic}"), e))?;
        for (p, o) in resume.iter_mut() {
            if let Some(Offset::Offset(c)) = committed.find_partition(topic, *p).map(|e| e.offset())
            {
                *o = (*o).max(c);
            }
        }
        coord.ledger.seed(&resume);
        eprintln!("logpulse: kafka: resuming {topic} at offsets {:?}", *resume);
        Ok(resume.clone())
    }
}

impl Source for KafkaSource {
    fn run(
        &mut self,
        pool: &BufferPool,
        framing: &FramerConfig,
        out: &BatchSender,
    ) -> Result<(), SourceError> {
        let cfg = self.shared.cfg.clone();
        let name: Arc<str> = format!("kafka:{}", cfg.topic).into();
        let framer = Framer::new(pool.clone(), framing.clone(), name.clone());
        *self
            .shared
            .coord
            .ingest
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Ingest {
            framer,
            marks: VecDeque::new(),
            pushed: 0,
            stage: Vec::with_capacity(STAGE_MAX + (64 << 10)),
            staged_payload: 0,
            staged_msgs: Vec::new(),
            out: out.clone(),
            coord: self.shared.coord.clone(),
            ready: Vec::new(),
            name,
        });
        let consumer = self.shared.consumer.clone();
        let queue = self.shared.queue.clone();
        let mut messages = Messages::default();
        // Next offset per partition read by this process (for the end-of-topic check); starts
        // at the checkpoint's offsets when resuming.
        let mut positions: BTreeMap<i32, i64> = self.resume_from_checkpoint()?;
        consumer
            .subscribe(&[&cfg.topic])
            .map_err(|e| Self::err(format!("subscribing to {}", cfg.topic), e))?;
        eprintln!(
            "logpulse: kafka: joining group {} on {} (topic {})",
            cfg.group, cfg.brokers, cfg.topic
        );
        let mut last_cut = Instant::now();
        let mut last_msg = Instant::now();
        let mut pending = false;
        // Messages taken since the last cut, and the count at which a topic gone quiet (a
        // poll that waited and got nothing) is cut at once rather than after the linger:
        // the end of a burst or of a backlog, where waiting only delays the results.
        let mut since_cut = 0usize;
        let quiet_cut = (framing.max_lines / 16).max(1);
        let result = loop {
            if out.stopping() {
                break Ok(());
            }
            // Nothing buffered: wait a whole step (no 1 ms wake-ups while idle). Lines
            // buffered: wake up when their linger is up.
            let wait = if pending {
                let linger = cfg.linger.saturating_sub(last_cut.elapsed());
                let step = if since_cut >= quiet_cut {
                    QUIET_WAIT
                } else {
                    POLL_STEP
                };
                linger.clamp(Duration::from_millis(1), step)
            } else {
                POLL_STEP
            };
            // A burst: rebalances, commits and errors served (and any message that reached the
            // consumer's own queue), then the forwarded messages: the first may be waited for,
            // the rest are taken while queued, so the clocks below are read once per burst.
            let mut burst = Burst::new(&mut positions);
            while burst.got < BURST {
                let Some(r) = consumer.poll(Duration::ZERO) else {
                    break;
                };
                match r {
                    Ok(m) => {
                        let payload = m.payload().unwrap_or_default();
                        let (p, o) = (m.partition(), m.offset());
                        if self
                            .with_ingest(|ing| burst.message(ing, p, o, payload))
                            .is_none()
                        {
                            burst.stopped = true;
                        }
                    }
                    Err(e) => {
                        // As before the queue: the burst ends at a consume error.
                        burst.error(&cfg.topic, e.rdkafka_error_code(), &e);
                        break;
                    }
                }
                if burst.ended() {
                    break;
                }
            }
            if !burst.ended() && burst.got < BURST {
                // Messages already taken: do not wait for more.
                let wait = if burst.got > 0 { Duration::ZERO } else { wait };
                queue.take(wait, BURST - burst.got, &mut messages);
                // Every message taken is pushed (a non-fatal error in between is reported and
                // passed over: the messages after it are already out of librdkafka's queue).
                let ingested = self.with_ingest(|ing| {
                    for m in messages.iter() {
                        match m {
                            Ok((p, o, payload)) => burst.message(ing, p, o, payload),
                            Err(code) => burst.error(&cfg.topic, Some(code), &code),
                        }
                        if burst.ended() {
                            break;
                        }
                    }
                });
                if ingested.is_none() {
                    burst.stopped = true;
                }
                messages.clear();
            }
            let (got, mut stopped, failed) = burst.end();
            // The burst's messages go into the framer together.
            if got > 0 && !stopped && self.with_ingest(|ing| ing.drain()) != Some(true) {
                stopped = true;
            }
            if let Some(e) = failed {
                break Err(e);
            }
            if stopped {
                break Ok(());
            }
            if got > 0 {
                last_msg = Instant::now();
                since_cut += got;
                if !pending {
                    pending = true;
                }
            }
            let quiet = got == 0 && since_cut >= quiet_cut;
            if pending && (quiet || last_cut.elapsed() >= cfg.linger) {
                if self.with_ingest(|ing| ing.flush()) != Some(true) {
                    break Ok(());
                }
                pending = false;
                since_cut = 0;
                last_cut = Instant::now();
            }
            if let Some(idle) = cfg.exit_idle {
                if last_msg.elapsed() >= idle {
                    // Positions of partitions no longer assigned belong to their new owner.
                    let assigned = self.shared.coord.assigned();
                    positions.retain(|p, _| assigned.contains(p));
                    if self.at_end(&positions) {
                        eprintln!(
                            "logpulse: kafka: every assigned partition read to its end; stopping"
                        );
                        break Ok(());
                    }
                    last_msg = Instant::now();
                }
            }
        };
        let mut g = self
            .shared
            .coord
            .ingest
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(mut ing) = g.take() {
            if result.is_ok() && !out.stopping() {
                ing.finish();
            }
        }
        result
    }
}

/// What one burst of messages did: messages taken, the partition being read and its next
/// offset (`positions` gets it when the partition changes and at the end of the burst, not once
/// per message), and how it ended.
struct Burst<'a> {
    positions: &'a mut BTreeMap<i32, i64>,
    got: usize,
    run: Option<(i32, i64)>,
    stopped: bool,
    failed: Option<SourceError>,
}

impl<'a> Burst<'a> {
    fn new(positions: &'a mut BTreeMap<i32, i64>) -> Self {
        Burst {
            positions,
            got: 0,
            run: None,
            stopped: false,
            failed: None,
        }
    }

    /// Takes one message into `ing` (sets `stopped` when the run is stopping).
    fn message(&mut self, ing: &mut Ingest, p: i32, o: i64, payload: &[u8]) {
        if !ing.push(p, o, payload) {
            self.stopped = true;
            return;
        }
        match &mut self.run {
            Some((rp, next)) if *rp == p => *next = o + 1,
            _ => {
                if let Some((rp, next)) = self.run.replace((p, o + 1)) {
                    self.positions.insert(rp, next);
                }
            }
        }
        self.got += 1;
    }

    /// Records the last partition's position; returns (messages, stopped, failure).
    fn end(self) -> (usize, bool, Option<SourceError>) {
        if let Some((rp, next)) = self.run {
            self.positions.insert(rp, next);
        }
        (self.got, self.stopped, self.failed)
    }

    /// A consume error: reported; a fatal one ends the source.
    fn error(
        &mut self,
        topic: &str,
        code: Option<rdkafka::types::RDKafkaErrorCode>,
        e: &dyn std::fmt::Display,
    ) {
        eprintln!("logpulse: kafka: consuming {topic}: {e}");
        if matches!(code, Some(c) if is_fatal(c)) {
            self.failed = Some(KafkaSource::err(format!("consuming {topic}"), e));
        }
    }

    fn ended(&self) -> bool {
        self.stopped || self.failed.is_some()
    }
}

/// Errors after which the consumer cannot go on (as opposed to a broker being away a while).
fn is_fatal(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        code,
        C::Fatal
            | C::TopicAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::SaslAuthenticationFailed
            | C::Authentication
            | C::UnknownTopicOrPartition
    )
}
