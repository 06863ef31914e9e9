//! [`GpuBackend`]: the [`Backend`] trait on one CUDA device.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use cudarc::driver::CudaContext;
use logpulse_core::agg::Partial;
use logpulse_core::batch::{Batch, BufferPool};
use logpulse_core::plan::Plan;
use logpulse_core::{Backend, BackendError};

use crate::build;
use crate::device;
use crate::error::{DriverContext, GpuError};
use crate::kernels::Kernels;
use crate::readback::{Counts, HostOut};
use crate::slot::{Finished, Slot};
use crate::timeline::Timeline;
use crate::w3c::W3cTracker;

mod probes;
mod stats;

pub use stats::RunStats;

/// Batches in flight on the device in [`Backend::run`]: one per stream, so the copy of one
/// overlaps the kernels of the other.
const DEPTH: usize = 2;

/// A batch whose results are back, for a host worker to turn into a partial.
struct Job {
    idx: u64,
    batch: Batch,
    counts: Option<Counts>,
    out: Option<HostOut>,
}

type Built = (u64, Result<Partial, GpuError>, Option<HostOut>);

/// Parses and aggregates batches on one GPU; results equal the CPU backend's.
pub struct GpuBackend {
    ctx: Arc<CudaContext>,
    kernels: Kernels,
    slots: Vec<Slot>,
    /// Readback memory of the one-batch-at-a-time path (`process`).
    out0: HostOut,
    pool: BufferPool,
    name: String,
    ordinal: usize,
    /// Host threads building partials in `run` (the host side of a batch costs more than its
    /// kernels when batches hold tens of thousands of groups).
    build_threads: usize,
    /// The threads each partial's build is spread over ([`build_pool`]).
    build_pool: Arc<rayon::ThreadPool>,
    /// Host milliseconds the last partial took to build (`process`).
    last_build_ms: f32,
    /// Results come back into page-locked memory (else ordinary memory).
    pinned_readback: bool,
    /// W3C logs: the column layout carried from batch to batch.
    w3c: W3cTracker,
    /// Readback buffers kept from one `run` to the next (page-locked memory costs
    /// milliseconds a buffer to allocate).
    spare_outs: Vec<HostOut>,
    /// The last run's time accounting.
    stats: RunStats,
}

/// Host threads building partials: each build is itself spread over the build pool's threads
/// ([`build_pool`]), so a few are enough to keep a build going while the next results come back.
fn default_builders(cores: usize) -> usize {
    logpulse_core::env_number("LOGPULSE_GPU_BUILDERS")
        .unwrap_or(cores.saturating_sub(2).clamp(1, 12))
        .max(1)
}

/// The rayon threads partials are built on, one pool for every GPU backend of the process:
/// `LOGPULSE_GPU_BUILD_THREADS` threads if set (for measurements), else one a core. Fewer were
/// measured slower end to end on the 16-core H100 host (half the cores: TSV builds queued up,
/// 3.8-4.4 ms a batch against 0.9-1.8; a quarter: 7.5-8.3 ms and a third less throughput), so
/// there the build is not bound by memory bandwidth at a few threads. A pool of its own keeps
/// the builds apart from other rayon work in the process.
fn build_pool(cores: usize) -> Result<Arc<rayon::ThreadPool>, GpuError> {
    static POOL: std::sync::OnceLock<Arc<rayon::ThreadPool>> = std::sync::OnceLock::new();
    if let Some(p) = POOL.get() {
        return Ok(p.clone());
    }
    let n = logpulse_core::env_number("LOGPULSE_GPU_BUILD_THREADS")
        .unwrap_or(cores)
        .clamp(1, 256);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("lp-gpu-build-{i}"))
        .build()
        .map_err(|e| GpuError::Threads(e.to_string()))?;
    // Two backends opening at once: one pool wins, the other is dropped unused.
    Ok(POOL.get_or_init(|| Arc::new(pool)).clone())
}

impl GpuBackend {
    /// A backend running `plan` on device `ordinal`, framing into `pool` (use
    /// [`crate::pinned_pool`] so copies run at full speed). Compiles the kernels (NVRTC).
    pub fn new(plan: Arc<Plan>, ordinal: usize, pool: BufferPool) -> Result<Self, BackendError> {
        Ok(Self::open(&plan, ordinal, pool)?)
    }

    fn open(plan: &Plan, ordinal: usize, pool: BufferPool) -> Result<Self, GpuError> {
        let ctx = device::open(ordinal)?;
        let name = ctx.name().ctx("reading the device name")?;
        let kernels = Kernels::load(&ctx, plan)?;
        let slots = (0..DEPTH)
            .map(|_| Slot::new(&ctx))
            .collect::<Result<Vec<_>, _>>()?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(GpuBackend {
            out0: HostOut::new(&ctx, false),
            ctx,
            kernels,
            slots,
            pool,
            name,
            ordinal,
            build_threads: default_builders(cores),
            build_pool: build_pool(cores)?,
            last_build_ms: 0.0,
            pinned_readback: false,
            w3c: W3cTracker::new(&plan.format.line)?,
            spare_outs: Vec::new(),
            stats: RunStats::default(),
        })
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        &self.name
    }

    /// Where this backend's kernels came from (NVRTC, the disk cache, or this process).
    pub fn kernels_from(&self) -> crate::KernelsFrom {
        self.kernels.from
    }

    /// Copies results back into page-locked memory (`true`: the copies are asynchronous, so
    /// the thread feeding the device never waits for them) or ordinary memory (`false`, the
    /// default: the driver stages a synchronous copy). Measured on the H200 VM (BENCHMARKS.md)
    /// the ordinary-memory path was faster end to end, page-locked buffers costing
    /// milliseconds each to allocate; they are now kept from run to run, which was not
    /// measured yet.
    pub fn set_pinned_readback(&mut self, pinned: bool) {
        self.pinned_readback = pinned;
        self.out0 = HostOut::new(&self.ctx, pinned);
        self.spare_outs.clear();
    }

    /// Allocates, now, the page-locked readback buffers `run` will use (one per builder plus
    /// two), each with room for `bytes` of results (a 250k-line CLF batch returns ~4.7 MB):
    /// page-locked memory costs 1.5-6 ms a buffer to allocate, which `run` would otherwise
    /// pay on its feeding thread during its first batches. Does nothing for ordinary memory.
    pub fn prepare_readback(&mut self, bytes: usize) -> Result<(), BackendError> {
        if !self.pinned_readback {
            return Ok(());
        }
        while self.spare_outs.len() < self.build_threads + 2 {
            let mut o = HostOut::new(&self.ctx, true);
            o.reserve(bytes)?;
            self.spare_outs.push(o);
        }
        Ok(())
    }

    /// Where the last `run` spent its time.
    pub fn last_run_stats(&self) -> RunStats {
        self.stats
    }

    /// Sets how many batches may be on the device at once (at least 2: one copying while one
    /// computes; more keep the copy engine busy while the feeding thread reads results back).
    pub fn set_depth(&mut self, n: usize) -> Result<(), BackendError> {
        let n = n.max(2);
        for s in &self.slots {
            s.synchronize()?;
        }
        self.slots.truncate(n);
        while self.slots.len() < n {
            self.slots.push(Slot::new(&self.ctx)?);
        }
        Ok(())
    }

    /// Batches that may be on the device at once.
    pub fn depth(&self) -> usize {
        self.slots.len()
    }

    /// Host threads building partials in `run`.
    pub fn build_threads(&self) -> usize {
        self.build_threads
    }

    /// Sets how many host threads build partials in `run` (at least 1).
    pub fn set_build_threads(&mut self, n: usize) {
        self.build_threads = n.max(1);
    }

    /// Waits for slot `i`'s batch and copies its results into `out`, rerunning the batch when
    /// it turned out to hold more lines than the slot was sized for.
    fn collect(&mut self, i: usize, batch: &Batch, out: &mut HostOut) -> Result<Counts, GpuError> {
        loop {
            match self.slots[i].finish(out)? {
                Finished::Ready(c) => return Ok(*c),
                Finished::TooManyLines(lines) => {
                    let w3c = *self.slots[i].w3c();
                    self.slots[i].enqueue(&self.kernels, batch.bytes(), lines, batch.seq, &w3c)?;
                }
            }
        }
    }

    /// The pipelined run: see [`Backend::run`] below.
    fn run_pipelined(
        &mut self,
        batches: &mut dyn Iterator<Item = Batch>,
        out: &mut dyn FnMut(Partial) -> bool,
        jobs: &Sender<Job>,
        built: &Receiver<Built>,
    ) -> Result<(), GpuError> {
        let spare = std::mem::take(&mut self.spare_outs);
        let mut st = RunState {
            inflight: VecDeque::new(),
            ready: BTreeMap::new(),
            made_outs: spare.len(),
            free_outs: spare,
            max_outs: self.build_threads + 2,
            next_in: 0,
            next_out: 0,
        };
        let gone = || GpuError::Result("partial builders stopped".into());
        let mut timeline = Timeline::start(&self.slots[0])?;
        let (mut next_slot, mut stopped, mut input_done) = (0usize, false, false);
        let mut input_end: Option<Instant> = None;
        loop {
            let next = if stopped || input_done {
                None
            } else {
                let b = batches.next();
                input_done = b.is_none();
                if input_done {
                    input_end = Some(Instant::now());
                }
                b
            };
            match next {
                Some(batch) if batch.bytes().is_empty() => {
                    let idx = st.take_index();
                    let job = Job {
                        idx,
                        batch,
                        counts: None,
                        out: None,
                    };
                    jobs.send(job).map_err(|_| gone())?;
                }
                Some(batch) => {
                    while st.inflight.iter().any(|f| f.slot == next_slot) {
                        self.retire(&mut st, &mut timeline, jobs, built)?;
                    }
                    let t = Instant::now();
                    let w3c = self.w3c.layouts(batch.bytes())?;
                    self.slots[next_slot].enqueue(
                        &self.kernels,
                        batch.bytes(),
                        batch.lines,
                        batch.seq,
                        &w3c,
                    )?;
                    self.stats.enqueue_s += t.elapsed().as_secs_f64();
                    self.stats.batches += 1;
                    let idx = st.take_index();
                    st.inflight.push_back(InFlight {
                        idx,
                        slot: next_slot,
                        batch,
                        queued_ms: timeline.host_ms(),
                    });
                    next_slot = (next_slot + 1) % self.slots.len();
                }
                None if !st.inflight.is_empty() => {
                    self.retire(&mut st, &mut timeline, jobs, built)?
                }
                None if stopped || st.next_out >= st.next_in => break,
                None => {
                    let (i, p, o) = built.recv().map_err(|_| gone())?;
                    st.ready.insert(i, p);
                    st.free_outs.extend(o);
                }
            }
            while let Ok((i, p, o)) = built.try_recv() {
                st.ready.insert(i, p);
                st.free_outs.extend(o);
            }
            while !stopped {
                let Some(p) = st.ready.remove(&st.next_out) else {
                    break;
                };
                st.next_out += 1;
                let t = Instant::now();
                let more = out(p?);
                self.stats.deliver_s += t.elapsed().as_secs_f64();
                if !more {
                    stopped = true;
                }
            }
        }
        self.stats.drain_s = input_end.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let split = timeline.split();
        self.stats.first_upload_s = split.first;
        self.stats.upload_busy_s = split.busy;
        self.stats.upload_idle_host_s = split.idle_host;
        self.stats.upload_idle_stream_s = split.idle_stream;
        self.stats.after_last_upload_s = split.after_last;
        self.spare_outs = st.free_outs;
        Ok(())
    }

    /// Waits for the oldest batch on the device, copies its results into a free readback
    /// buffer and hands it to the builders.
    fn retire(
        &mut self,
        st: &mut RunState,
        timeline: &mut Timeline,
        jobs: &Sender<Job>,
        built: &Receiver<Built>,
    ) -> Result<(), GpuError> {
        let gone = || GpuError::Result("partial builders stopped".into());
        let InFlight {
            idx,
            slot,
            batch,
            queued_ms,
        } = st.inflight.pop_front().ok_or_else(gone)?;
        let waited = Instant::now();
        let mut hout = match st.free_outs.pop() {
            Some(o) => o,
            None if st.made_outs < st.max_outs => {
                st.made_outs += 1;
                HostOut::new(&self.ctx, self.pinned_readback)
            }
            None => loop {
                // Every readback buffer is being read: wait for a builder.
                let (i, p, o) = built.recv().map_err(|_| gone())?;
                st.ready.insert(i, p);
                if let Some(o) = o {
                    break o;
                }
            },
        };
        self.stats.wait_builders_s += waited.elapsed().as_secs_f64();
        let t = Instant::now();
        let counts = self.collect(slot, &batch, &mut hout)?;
        let collect_s = t.elapsed().as_secs_f64();
        timeline.note(&self.slots[slot], queued_ms)?;
        let readback_s = f64::from(self.slots[slot].last_readback_ms()) / 1e3;
        self.stats.readback_s += readback_s;
        self.stats.wait_device_s += (collect_s - readback_s).max(0.0);
        let job = Job {
            idx,
            batch,
            counts: Some(counts),
            out: Some(hout),
        };
        let t = Instant::now();
        let sent = jobs.send(job).map_err(|_| gone());
        self.stats.wait_builders_s += t.elapsed().as_secs_f64();
        sent
    }
}

/// A batch on the device.
struct InFlight {
    /// Its place in the run's order of arrival.
    idx: u64,
    /// The slot it is in.
    slot: usize,
    batch: Batch,
    /// When the host queued it ([`Timeline::host_ms`]).
    queued_ms: f64,
}

/// Book-keeping of one `run`.
struct RunState {
    /// Batches on the device, in arrival order.
    inflight: VecDeque<InFlight>,
    /// Built partials waiting for their turn.
    ready: BTreeMap<u64, Result<Partial, GpuError>>,
    free_outs: Vec<HostOut>,
    made_outs: usize,
    max_outs: usize,
    next_in: u64,
    next_out: u64,
}

impl RunState {
    fn take_index(&mut self) -> u64 {
        self.next_in += 1;
        self.next_in - 1
    }
}

/// A GPU backend's description: its device's ordinal and name.
pub(crate) fn describe(ordinal: usize, name: &str) -> String {
    format!("gpu {ordinal}: {name}")
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        describe(self.ordinal, &self.name)
    }

    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }

    fn process(&mut self, batch: Batch) -> Result<Partial, BackendError> {
        Ok(self.process_timed(batch)?.0)
    }

    /// Two batches in flight on the device, one per stream (the copy of batch N+1 overlaps
    /// the kernels of batch N), and partials built from their results on host worker threads
    /// while the device moves on. Partials come out in arrival order.
    fn run(
        &mut self,
        batches: &mut dyn Iterator<Item = Batch>,
        out: &mut dyn FnMut(Partial) -> bool,
    ) -> Result<(), BackendError> {
        let threads = self.build_threads;
        self.stats = RunStats::default();
        let started = Instant::now();
        let build_ns = std::sync::atomic::AtomicU64::new(0);
        let (job_tx, job_rx) = bounded::<Job>(threads * 2 + DEPTH);
        let (built_tx, built_rx) = unbounded::<Built>();
        let pool = self.build_pool.clone();
        let result = std::thread::scope(|scope| {
            for _ in 0..threads {
                let (rx, tx) = (job_rx.clone(), built_tx.clone());
                let (build_ns, pool) = (&build_ns, &pool);
                scope.spawn(move || {
                    for job in rx {
                        let t = Instant::now();
                        let Job {
                            idx,
                            mut batch,
                            counts,
                            out,
                        } = job;
                        // Either way the batch buffer goes back to the pool here.
                        let p = match (&counts, &out) {
                            (Some(c), Some(o)) => o
                                .wait()
                                .and_then(|()| o.sections(c))
                                .and_then(|s| pool.install(|| build::partial(batch, c, &s))),
                            _ => Ok(build::empty(&mut batch)),
                        };
                        let ns = t.elapsed().as_nanos() as u64;
                        build_ns.fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
                        if tx.send((idx, p, out)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(built_tx);
            let r = self.run_pipelined(batches, out, &job_tx, &built_rx);
            drop(job_tx);
            r
        });
        self.stats.build_s = build_ns.into_inner() as f64 / 1e9;
        self.stats.wall_s = started.elapsed().as_secs_f64();
        if result.is_err() {
            // Batches still queued must not be freed while the device copies from them.
            for s in &self.slots {
                let _ = s.synchronize();
            }
        }
        Ok(result?)
    }
}

impl Drop for GpuBackend {
    fn drop(&mut self) {
        let _ = self.ctx.bind_to_thread();
        for s in &self.slots {
            let _ = s.synchronize();
        }
    }
}

/// Drives several backends (several GPUs, or several workers on one GPU) from one queue of
/// batches, as the pipeline does: one thread per backend, each taking the next batch when it
/// has room. `out` gets every partial, in arrival order per backend (a partial's `seq` says
/// which batch it is). Stops at the first error; all backends must share a pool whose memory
/// every context may read (see [`crate::pinned_pool`]: portable pinned memory).
pub fn run_shared(
    backends: &mut [GpuBackend],
    batches: impl Iterator<Item = Batch> + Send,
    out: &(dyn Fn(Partial) + Sync),
) -> Result<(), BackendError> {
    let (tx, rx) = bounded::<Batch>(backends.len().max(1) * DEPTH);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let stop = &stop;
        scope.spawn(move || {
            for b in batches {
                if stop.load(std::sync::atomic::Ordering::Relaxed) || tx.send(b).is_err() {
                    break;
                }
            }
        });
        let workers: Vec<_> = backends
            .iter_mut()
            .map(|gpu| {
                let rx = rx.clone();
                scope.spawn(move || {
                    let r = gpu.run(&mut rx.iter(), &mut |p| {
                        out(p);
                        true
                    });
                    if r.is_err() {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                        // Drain so the feeder never blocks on a full queue.
                        for _ in rx.iter() {}
                    }
                    r
                })
            })
            .collect();
        drop(rx);
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(BackendError::Other("GPU worker panicked".into())))
            })
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
    })
}
