//! Several GPU backends fed from one batch queue (as the pipeline runs `--backend gpu:0,1`):
//! two workers on device 0, and devices 0 and 1 when there are two, give exactly the
//! partials of one worker. Skips without CUDA.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use logpulse_core::agg::Partial;
use logpulse_core::batch::BufferPool;
use logpulse_core::format::Format;
use logpulse_core::gen::{GenConfig, GenFormat, Generator};
use logpulse_core::plan::Plan;
use logpulse_core::Backend;
use logpulse_gpu::{run_shared, GpuBackend};

/// Runs every batch of `cut` through `backends` (one shared queue) and returns the partials
/// by batch number.
fn run_all(
    backends: &mut [GpuBackend],
    pool: &BufferPool,
    cut: &[(u64, Vec<u8>, logpulse_core::batch::Origin)],
) -> BTreeMap<u64, Partial> {
    let got = Mutex::new(BTreeMap::new());
    let batches = cut
        .iter()
        .map(|(seq, b, o)| pooled_batch(pool, *seq, b, o.clone()));
    run_shared(backends, batches, &|p| {
        let mut g = got.lock().expect("lock");
        assert!(g.insert(p.seq, p).is_none(), "batch delivered twice");
    })
    .expect("run_shared");
    got.into_inner().expect("lock")
}

fn compare(what: &str, one: &BTreeMap<u64, Partial>, many: &BTreeMap<u64, Partial>, n: usize) {
    assert_eq!(one.len(), n, "{what}: one worker's partials");
    assert_eq!(many.len(), n, "{what}: partials");
    for (seq, p) in one {
        assert_same(&format!("{what}, batch {seq}"), p, &many[seq]);
    }
}

#[test]
fn two_workers_and_two_devices_equal_one_worker() {
    if !have_gpu() {
        return;
    }
    let plan = Arc::new(Plan::reference(Format::preset("common").expect("preset")));
    let mut bytes = Vec::new();
    Generator::new(GenConfig {
        lines: 200_000,
        format: GenFormat::Clf,
        bad_every: 997,
        ..Default::default()
    })
    .fill(&mut bytes, usize::MAX);
    let cut = batches(&bytes, 7_000, "multi");
    let cap = cut.iter().map(|b| b.1.len()).max().unwrap_or(1);
    let pool = logpulse_gpu::pinned_pool(8, cap).expect("pinned pool");
    let open = |dev: usize| {
        let mut g = GpuBackend::new(plan.clone(), dev, pool.clone()).expect("gpu backend");
        g.set_build_threads(2);
        g
    };
    let one = run_all(&mut [open(0)], &pool, &cut);
    // Spot check against the CPU so "equal" means "right".
    let (seq, b, o) = &cut[1];
    assert_same("cpu", &cpu_partial(&plan, *seq, b, o.clone()), &one[seq]);

    let two = run_all(&mut [open(0), open(0)], &pool, &cut);
    compare("two workers on device 0", &one, &two, cut.len());

    let devices = logpulse_gpu::device_count().unwrap_or(0);
    if devices >= 2 {
        let both = run_all(&mut [open(0), open(1)], &pool, &cut);
        compare("devices 0 and 1", &one, &both, cut.len());
        eprintln!("devices 0 and 1: {} batches equal", cut.len());
    } else {
        eprintln!("one device: the two-device case was not run");
    }
    let _ = open(0).describe();
}
