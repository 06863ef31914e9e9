//! The pipeline's own ceiling: `pipeline::run` fed by a backend that costs nothing (it hands
//! back partials computed beforehand by the CPU backend), so what is timed is the source and
//! framer, the queues, and the windows stage (splitting, merging, closing, per-key totals) —
//! what a fast GPU leaves as the limit.
//!
//! `cargo run --release -p logpulse-core --example pipeline_cap [LINES] [REPS] [tsv|clf]`
//! (defaults 3000000, 3, tsv).
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

use logpulse_core::batch::BufferPool;
use logpulse_core::framer::{Framer, FramerConfig};
use logpulse_core::gen::{GenConfig, GenFormat, Generator};
use logpulse_core::pipeline::{self, BatchSender, PipelineConfig, Source, SourceError};
use logpulse_core::{Backend, BackendError, Batch, CpuBackend, Format, Partial, Plan};

const POOL_BUF: usize = 64 << 20;

/// Frames bytes held in memory.
struct Mem(Arc<[u8]>);

impl Source for Mem {
    fn run(
        &mut self,
        pool: &BufferPool,
        framing: &FramerConfig,
        out: &BatchSender,
    ) -> Result<(), SourceError> {
        let mut f = Framer::new(pool.clone(), framing.clone(), "mem".into());
        for chunk in self.0.chunks(4 << 20) {
            let mut ok = true;
            f.push_each(chunk, &mut |b| {
                ok = out.send(b);
                ok
            });
            if !ok || out.stopping() {
                return Ok(());
            }
        }
        out.finish(&mut f);
        Ok(())
    }
}

/// Hands back the partial computed beforehand for each batch, in batch order.
struct Replay {
    partials: Vec<Option<Partial>>,
    pool: BufferPool,
}

impl Backend for Replay {
    fn describe(&self) -> String {
        "replay".into()
    }
    fn pool(&self) -> BufferPool {
        self.pool.clone()
    }
    fn process(&mut self, batch: Batch) -> Result<Partial, BackendError> {
        let p = self
            .partials
            .get_mut(batch.seq as usize)
            .and_then(Option::take)
            .ok_or_else(|| BackendError::Other(format!("no partial for batch {}", batch.seq)))?;
        if p.lines != batch.lines {
            return Err(BackendError::Other("batches framed differently".into()));
        }
        Ok(p)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let lines: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(3_000_000);
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let clf = args.next().is_some_and(|a| a == "clf");
    let mut data = Vec::new();
    Generator::new(GenConfig {
        lines,
        format: if clf { GenFormat::Clf } else { GenFormat::Tsv },
        ..Default::default()
    })
    .fill(&mut data, usize::MAX);
    let data: Arc<[u8]> = data.into();
    let pool = BufferPool::heap(8, POOL_BUF);
    let preset = if clf { "common" } else { "nasa_tsv" };
    let plan = Arc::new(Plan::reference(Format::preset(preset).expect("preset")));
    let mut be = CpuBackend::new(plan.clone(), 0, pool.clone()).expect("backend");
    let mut partials = Vec::new();
    let mut f = Framer::new(pool.clone(), FramerConfig::default(), "mem".into());
    f.push_each(&data, &mut |b| {
        partials.push(be.process(b).expect("process"));
        true
    });
    f.finish();
    while let Some(b) = f.pop() {
        partials.push(be.process(b).expect("process"));
    }
    drop(be);
    let groups: usize = partials.iter().map(|p| p.groups.len()).sum();
    for _ in 0..reps {
        let replay = Replay {
            partials: partials.iter().cloned().map(Some).collect(),
            pool: pool.clone(),
        };
        let t = Instant::now();
        let totals = pipeline::run(
            vec![Box::new(Mem(data.clone()))],
            vec![Box::new(replay)],
            &plan,
            &PipelineConfig::default(),
            &mut [],
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        )
        .expect("pipeline");
        let s = t.elapsed().as_secs_f64();
        println!(
            "pipeline with a free backend: {} lines, {} windows, {groups} groups in, \
             {:.2} GB/s, {:.1} M lines/s, {:.0} ns/group",
            totals.lines,
            totals.windows,
            data.len() as f64 / s / 1e9,
            totals.lines as f64 / s / 1e6,
            s * 1e9 / groups as f64
        );
    }
}
