//! The GPU backend's host side on the CPU: turning one batch's device results into a
//! `Partial` (`build::partial`: checks, key arena, the group table), for the ~67k groups a
//! 250k-line generated batch reads back. No GPU needed: the results are made up
//! (`SyntheticReadback`). On the H200 host this build is most of a batch's latency past the
//! device part and the end-to-end time after the last upload (BENCHMARKS.md).
//!
//! `cargo bench -p logpulse-gpu --bench host_build`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logpulse_core::plan::{Thresholds, WindowSpec};
use logpulse_core::window::SplitPartial;
use logpulse_core::Partial;
use logpulse_gpu::SyntheticReadback;
use std::sync::mpsc::{sync_channel, SyncSender};

// As the binaries: freed tables are reused, not faulted in afresh.
#[global_allocator]
static GLOBAL: logpulse_core::alloc::MiMalloc = logpulse_core::alloc::MiMalloc;

/// A 250k-line batch's ~67k groups, named by the order they come in: windows in runs, the
/// worst-case claim order (the window changes at every group: the build looks each group's
/// window up, and writes to 20 places at once; a real batch's claim order changes window a
/// block of lines at a time), and hash order (what a compaction scanning the device's group
/// table gives: tried and reverted, as builds in that order were 4-5x slower inside a run on
/// the H100 host, BENCHMARKS.md 2026-12-07 eighth session).
fn orders() -> [(&'static str, SyntheticReadback); 3] {
    [
        ("", SyntheticReadback::new(67_000)),
        ("_claim_order", SyntheticReadback::in_claim_order(67_000)),
        (
            "_slot_order",
            SyntheticReadback::in_slot_order(67_000, 1 << 17),
        ),
    ]
}

/// Runs `f` with a sender whose partials are dropped on another thread (the windows stage's,
/// as in the pipeline), so freed tables go back to another thread's heap.
fn with_dropper(f: impl FnOnce(&SyncSender<Partial>)) {
    let (tx, rx) = sync_channel::<Partial>(8);
    let dropper = std::thread::spawn(move || rx.into_iter().for_each(drop));
    f(&tx);
    drop(tx);
    dropper.join().expect("dropper");
}

fn bench_build(c: &mut Criterion) {
    logpulse_core::alloc::keep_freed_memory();
    let mut group = c.benchmark_group("host_build");
    group.sample_size(30);
    let orders = orders();
    let big = SyntheticReadback::new(270_000);
    let cases = orders.iter().map(|(n, r)| (*n, r)).chain([("", &big)]);
    for (name, r) in cases {
        let groups = r.len();
        group.throughput(Throughput::Elements(groups as u64));
        group.bench_function(format!("{groups}_groups{name}"), |b| {
            // Dropping the partials is not timed here (see `dropped_elsewhere` below).
            b.iter_with_large_drop(|| {
                let p = r.build().expect("valid results");
                assert_eq!(p.groups.len(), groups);
                p
            })
        });
    }
    for (name, r) in &orders {
        with_dropper(|tx| {
            group.throughput(Throughput::Elements(67_000));
            group.bench_function(format!("67000_groups_dropped_elsewhere{name}"), |b| {
                b.iter(|| {
                    let p = r.build().expect("valid results");
                    tx.send(p).expect("dropper alive");
                })
            });
        });
    }
    // As inside a run: several builds at once on the one build pool (`GpuBackend` has 3-4 in
    // flight while uploads go on), each from its own thread; one iteration is four builds.
    // Hash order was 4-5x slower than claim order this way inside a run on the H100 host,
    // though only ~8% slower one build at a time (BENCHMARKS.md, 2026-12-07 eighth session).
    for (name, r) in orders.iter().filter(|(n, _)| !n.is_empty()) {
        with_dropper(|tx| {
            group.throughput(Throughput::Elements(4 * 67_000));
            group.bench_function(format!("67000_groups_4_at_once{name}"), |b| {
                b.iter(|| {
                    std::thread::scope(|s| {
                        for _ in 0..4 {
                            let tx = tx.clone();
                            s.spawn(move || {
                                tx.send(r.build().expect("valid results"))
                                    .expect("dropper alive")
                            });
                        }
                    })
                })
            });
        });
    }
    group.finish();
}

/// What the pipeline's splitters do next with such a partial (`SplitPartial::summarized`: its
/// groups cut apart by window, each window's totals and alerts), for partials built from
/// results whose windows came in runs and in the device's claim order (either way the build
/// lays the table out window by window, so the split cuts it by slices).
fn bench_split(c: &mut Criterion) {
    logpulse_core::alloc::keep_freed_memory();
    let mut group = c.benchmark_group("split");
    group.sample_size(30);
    let spec = WindowSpec::Tumbling { secs: 60 };
    for (name, r) in [
        ("windows_in_runs", SyntheticReadback::new(67_000)),
        ("claim_order", SyntheticReadback::in_claim_order(67_000)),
    ] {
        let p = r.build().expect("valid results");
        group.throughput(Throughput::Elements(r.len() as u64));
        group.bench_function(format!("67000_groups_{name}"), |b| {
            b.iter_batched(
                || p.clone(),
                |p| SplitPartial::summarized(p, spec, Thresholds::default()),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_build, bench_split);
criterion_main!(benches);
