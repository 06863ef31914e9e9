//! The pipeline: threads and bounded queues wiring source -> framer -> backends -> windows ->
//! sinks.
//!
//! ```text
//! source thread ──Batch──▶ [queue] ──▶ backend worker(s) ──Partial──▶ [queue] ──▶ caller's thread:
//! (reads, frames)           bounded     one per CPU pool / GPU         bounded     reorder by seq,
//!                                                                                  windows, sinks
//! ```
//! Queues are bounded and batch buffers come from a bounded pool, so a slow stage slows the
//! ones before it and memory stays bounded whatever the input size.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::agg::Partial;
use crate::backend::{Backend, BackendError};
use crate::batch::{Batch, BufferPool};
use crate::checkpoint::{Checkpoint, CheckpointConfig, CheckpointError, SourcePosition};
use crate::framer::FramerConfig;
use crate::plan::Plan;
use crate::reject::Reject;
use crate::window::{RunTotals, SplitPartial, WindowResult, Windows};

mod stage_clock;
use stage_clock::add_since;
pub use stage_clock::StageClock;

/// Hands batches from a source to the backends, numbering them across sources.
#[derive(Clone)]
pub struct BatchSender {
    tx: Sender<Batch>,
    next_seq: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// Source bytes read so far (for progress).
    pub bytes_read: Arc<AtomicU64>,
    clock: Arc<StageClock>,
}

impl BatchSender {
    /// Sends a batch; false when the run is stopping (the caller should return).
    pub fn send(&self, mut batch: Batch) -> bool {
        batch.seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let t = Instant::now();
        let sent = self.tx.send(batch).is_ok();
        add_since(&self.clock.source_blocked, t);
        sent
    }

    /// Sends every batch the framer has ready; false when the run is stopping.
    pub fn send_ready(&self, framer: &mut crate::framer::Framer) -> bool {
        while let Some(b) = framer.pop() {
            if !self.send(b) {
                return false;
            }
        }
        true
    }

    /// Ends a source's stream: finishes the framer and sends what it held.
    pub fn finish(&self, framer: &mut crate::framer::Framer) -> bool {
        framer.finish();
        self.send_ready(framer)
    }

    /// True once the run was asked to stop (Ctrl-C, a sink error, a backend error).
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Counts bytes read from the source.
    pub fn add_bytes(&self, n: u64) {
        self.bytes_read.fetch_add(n, Ordering::Relaxed);
    }
}

/// Something that produces bytes, frames them and sends batches.
pub trait Source: Send {
    /// Reads until the source ends (or forever when following) or `out.stopping()`.
    fn run(
        &mut self,
        pool: &BufferPool,
        framing: &FramerConfig,
        out: &BatchSender,
    ) -> Result<(), SourceError>;
}

/// A source failed.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct SourceError {
    /// What was being read.
    pub context: String,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Per-batch facts for sinks and benchmarks.
#[derive(Debug, Clone)]
pub struct BatchStats {
    /// Batch sequence number.
    pub seq: u64,
    /// Source of the batch.
    pub source: Arc<str>,
    /// Source position just after the batch.
    pub end: SourcePosition,
    /// Input bytes of the batch.
    pub bytes: u64,
    /// Lines of the batch.
    pub lines: u64,
    /// Time from dispatch to the backend until its partial was ready.
    pub latency: Duration,
}

/// Where results go. Every method has a default that ignores the event.
pub trait Sink {
    /// A window closed.
    fn window(&mut self, _w: &WindowResult) -> std::io::Result<()> {
        Ok(())
    }
    /// A batch's rejected lines.
    fn rejects(&mut self, _source: &str, _rejects: &[Reject]) -> std::io::Result<()> {
        Ok(())
    }
    /// A batch was merged.
    fn batch(&mut self, _stats: &BatchStats, _totals: &RunTotals) -> std::io::Result<()> {
        Ok(())
    }
    /// The run ended.
    fn finish(&mut self, _totals: &RunTotals, _elapsed: Duration) -> std::io::Result<()> {
        Ok(())
    }
    /// Makes what was written durable; returns (output name, length) for a resumable file.
    fn checkpoint(&mut self) -> std::io::Result<Option<(String, u64)>> {
        Ok(None)
    }
    /// Positions this sink tracks itself, saved with the checkpoint next to the sources' (the
    /// Kafka commit sink: `kafka:<topic>/<partition>` -> next offset of everything merged).
    fn checkpoint_sources(&mut self) -> Vec<(String, SourcePosition)> {
        Vec::new()
    }
    /// The checkpoint covering everything delivered so far is durable (Kafka commits here).
    fn checkpoint_saved(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Asks for a checkpoint after this batch even if the interval is not up (a Kafka
    /// rebalance waiting for its partitions' offsets to become durable).
    fn checkpoint_wanted(&self) -> bool {
        false
    }
}

/// Pipeline settings.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// How batches are cut.
    pub framing: FramerConfig,
    /// Batches queued between source and backends.
    pub queue_depth: usize,
    /// Checkpointing, and the checkpoint to resume from.
    pub checkpoint: Option<(CheckpointConfig, Option<Checkpoint>)>,
    /// Where the run's threads spend their time (read it after the run).
    pub clock: Arc<StageClock>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            framing: FramerConfig::default(),
            queue_depth: 2,
            checkpoint: None,
            clock: Arc::default(),
        }
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A backend failed.
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    /// A sink failed.
    #[error("writing results: {0}")]
    Sink(#[from] std::io::Error),
    /// A checkpoint could not be written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Tracks source positions and writes checkpoints when due.
struct Checkpointer {
    cfg: CheckpointConfig,
    positions: BTreeMap<String, SourcePosition>,
    last: Instant,
}

impl Checkpointer {
    fn note(&mut self, st: &BatchStats) {
        self.positions.insert(st.source.to_string(), st.end);
    }

    fn due(&self) -> bool {
        self.last.elapsed() >= self.cfg.interval
    }

    /// Flushes the sinks, then writes positions, window state and output lengths together.
    fn save(
        &mut self,
        windows: &mut Windows,
        sinks: &mut [&mut dyn Sink],
    ) -> Result<(), PipelineError> {
        let mut outputs = BTreeMap::new();
        for s in sinks.iter_mut() {
            if let Some((name, len)) = s.checkpoint()? {
                outputs.insert(name, len);
            }
        }
        let mut sources = self.positions.clone();
        for s in sinks.iter_mut() {
            sources.extend(s.checkpoint_sources());
        }
        Checkpoint {
            version: crate::checkpoint::VERSION,
            job: self.cfg.job.clone(),
            sources,
            windows: windows.snapshot(),
            outputs,
        }
        .save(&self.cfg.path)?;
        self.last = Instant::now();
        for s in sinks.iter_mut() {
            s.checkpoint_saved()?;
        }
        Ok(())
    }
}

/// What a worker reports.
enum WorkerMsg {
    Done(Box<(Partial, BatchStats)>),
    Failed(BackendError),
}

/// What a splitter passes on to the windows thread.
enum SplitMsg {
    Done(Box<(SplitPartial, BatchStats)>),
    Failed(BackendError),
}

/// Runs sources through backends into windows and sinks until the sources end or `stop` is set.
/// Returns the run totals.
pub fn run(
    mut sources: Vec<Box<dyn Source>>,
    backends: Vec<Box<dyn Backend>>,
    plan: &Plan,
    cfg: &PipelineConfig,
    sinks: &mut [&mut dyn Sink],
    stop: Arc<AtomicBool>,
    bytes_read: Arc<AtomicU64>,
) -> Result<RunTotals, PipelineError> {
    let started = Instant::now();
    let pool = backends
        .first()
        .map(|b| b.pool())
        .ok_or_else(|| BackendError::Other("no backend".into()))?;
    let (batch_tx, batch_rx) = bounded::<Batch>(cfg.queue_depth.max(1));
    let backends_len = backends.len();
    let (part_tx, part_rx) = bounded::<WorkerMsg>(cfg.queue_depth.max(1) + backends_len);
    let sender = BatchSender {
        tx: batch_tx,
        next_seq: Arc::new(AtomicU64::new(0)),
        stop: stop.clone(),
        bytes_read,
        clock: cfg.clock.clone(),
    };
    // The windows stage's helpers (splitters, per-key totals shards): more when the host's
    // cores are not parsing.
    let merge_threads = crate::window::merge_threads_for(&pool);
    cfg.clock
        .splitters
        .store(merge_threads as u64, Ordering::Relaxed);
    let mut windows = Windows::with_totals_threads(
        plan.window,
        plan.lateness_secs,
        plan.thresholds,
        merge_threads,
    );
    if let Some(gap) = plan.session_gap_secs {
        windows = windows.with_sessions(gap);
    }
    let mut checkpointer = cfg.checkpoint.as_ref().map(|(c, resume)| {
        let mut positions = BTreeMap::new();
        if let Some(r) = resume {
            windows.restore(r.windows.clone());
            positions = r.sources.clone();
        }
        Checkpointer {
            cfg: c.clone(),
            positions,
            last: Instant::now(),
        }
    });

    std::thread::scope(|scope| -> Result<RunTotals, PipelineError> {
        let framing = cfg.framing.clone();
        let src_sender = sender.clone();
        let source_thread = std::thread::Builder::new()
            .name("logpulse-source".into())
            .spawn_scoped(scope, move || -> Result<(), SourceError> {
                let t = Instant::now();
                let clock = src_sender.clock.clone();
                let _total = DropAdd(&clock.source_total, t);
                for s in &mut sources {
                    s.run(&pool, &framing, &src_sender)?;
                    if src_sender.stopping() {
                        break;
                    }
                }
                Ok(())
            })
            .map_err(|e| SourceError {
                context: "starting source thread".into(),
                source: e,
            })?;
        drop(sender);
        for (i, mut backend) in backends.into_iter().enumerate() {
            let rx = batch_rx.clone();
            let tx = part_tx.clone();
            let stop = stop.clone();
            let clock = cfg.clock.clone();
            std::thread::Builder::new()
                .name(format!("logpulse-worker-{i}"))
                .spawn_scoped(scope, move || worker(&mut *backend, rx, tx, stop, &clock))
                .map_err(|e| SourceError {
                    context: "starting backend worker".into(),
                    source: e,
                })?;
        }
        drop(batch_rx);
        drop(part_tx);
        // Splitters move each partial's groups apart by window (most of the work of merging a
        // partial into the windows) beside the windows thread, which is left with placing whole
        // per-window tables and closing windows.
        let (split_tx, split_rx) = bounded::<SplitMsg>(cfg.queue_depth.max(1) + backends_len);
        let (window, thresholds) = (plan.window, plan.thresholds);
        for i in 0..merge_threads {
            let rx = part_rx.clone();
            let tx = split_tx.clone();
            let clock = cfg.clock.clone();
            std::thread::Builder::new()
                .name(format!("logpulse-split-{i}"))
                .spawn_scoped(scope, move || {
                    for msg in rx {
                        let t = Instant::now();
                        let out = match msg {
                            WorkerMsg::Done(done) => {
                                let (p, st) = *done;
                                let sp = SplitPartial::summarized(p, window, thresholds);
                                SplitMsg::Done(Box::new((sp, st)))
                            }
                            WorkerMsg::Failed(e) => SplitMsg::Failed(e),
                        };
                        add_since(&clock.split_busy, t);
                        if tx.send(out).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| SourceError {
                    context: "starting splitter".into(),
                    source: e,
                })?;
        }
        drop(part_rx);
        drop(split_tx);

        // Merge partials in batch order, so results do not depend on which worker was faster.
        let mut pending: BTreeMap<u64, (SplitPartial, BatchStats)> = BTreeMap::new();
        let mut next = 0u64;
        let mut failure: Option<PipelineError> = None;
        let windows_started = Instant::now();
        let _windows_total = DropAdd(&cfg.clock.windows_total, windows_started);
        for msg in split_rx.iter() {
            let busy = Instant::now();
            match msg {
                SplitMsg::Failed(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(PipelineError::Backend(e));
                }
                SplitMsg::Done(done) => {
                    let (p, st) = *done;
                    pending.insert(p.partial().seq, (p, st));
                }
            }
            while let Some((p, st)) = pending.remove(&next) {
                next += 1;
                if failure.is_none() {
                    let mut r = deliver(&mut windows, p, &st, sinks);
                    if let (Ok(()), Some(c)) = (&r, checkpointer.as_mut()) {
                        c.note(&st);
                        if c.due() || sinks.iter().any(|s| s.checkpoint_wanted()) {
                            r = c.save(&mut windows, sinks);
                        }
                    }
                    if let Err(e) = r {
                        stop.store(true, Ordering::Relaxed);
                        failure = Some(e);
                    }
                }
            }
            add_since(&cfg.clock.windows_busy, busy);
        }
        let _finish = DropAdd(&cfg.clock.finish_total, Instant::now());
        let source_result = source_thread.join().unwrap_or_else(|_| {
            Err(SourceError {
                context: "source thread".into(),
                source: std::io::Error::other("panicked"),
            })
        });
        if let Some(e) = failure {
            return Err(e);
        }
        source_result?;
        for w in windows.finish() {
            for s in sinks.iter_mut() {
                s.window(&w)?;
            }
        }
        let totals = windows.sync_totals().clone();
        for s in sinks.iter_mut() {
            s.finish(&totals, started.elapsed())?;
        }
        if let Some(c) = checkpointer.as_mut() {
            c.save(&mut windows, sinks)?;
        }
        Ok(totals)
    })
}

fn deliver(
    windows: &mut Windows,
    mut p: SplitPartial,
    st: &BatchStats,
    sinks: &mut [&mut dyn Sink],
) -> Result<(), PipelineError> {
    let rejects = p.take_rejects();
    let source = p.partial().source.clone();
    let closed = windows.absorb_split(p);
    for s in sinks.iter_mut() {
        if !rejects.is_empty() {
            s.rejects(&source, &rejects)?;
        }
        for w in &closed {
            s.window(w)?;
        }
        s.batch(st, windows.totals())?;
    }
    Ok(())
}

fn worker(
    backend: &mut dyn Backend,
    rx: Receiver<Batch>,
    tx: Sender<WorkerMsg>,
    stop: Arc<AtomicBool>,
    clock: &StageClock,
) {
    let _total = DropAdd(&clock.workers_total, Instant::now());
    // Dispatch time and facts per batch in flight; read back when its partial is out.
    let started: RefCell<BTreeMap<u64, (Instant, BatchStats)>> = RefCell::default();
    let mut batches = std::iter::from_fn(|| {
        let t = Instant::now();
        let b = rx.recv().ok();
        add_since(&clock.workers_starved, t);
        b
    })
    .take_while(|_| !stop.load(Ordering::Relaxed))
    .inspect(|b| {
        let st = BatchStats {
            seq: b.seq,
            source: b.origin.source.clone(),
            end: SourcePosition {
                offset: b.origin.offset + b.buf.len() as u64,
                next_line: b.origin.first_line + b.lines,
            },
            bytes: b.buf.len() as u64,
            lines: b.lines,
            latency: Duration::ZERO,
        };
        started.borrow_mut().insert(b.seq, (Instant::now(), st));
    });
    let mut out = |p: Partial| {
        let Some((t0, mut st)) = started.borrow_mut().remove(&p.seq) else {
            return false;
        };
        st.latency = t0.elapsed();
        let t = Instant::now();
        let sent = tx.send(WorkerMsg::Done(Box::new((p, st)))).is_ok();
        add_since(&clock.workers_blocked, t);
        sent
    };
    if let Err(e) = backend.run(&mut batches, &mut out) {
        let _ = tx.send(WorkerMsg::Failed(e));
    }
}

/// Adds the time since its start to a counter when dropped (however the scope ends).
struct DropAdd<'a>(&'a AtomicU64, Instant);

impl Drop for DropAdd<'_> {
    fn drop(&mut self) {
        add_since(self.0, self.1);
    }
}
