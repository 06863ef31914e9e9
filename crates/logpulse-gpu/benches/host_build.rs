//! The GPU backend's host side on the CPU: turning one batch's device results into a
//! `Partial` (`build::partial`: checks, key arena, the group table), for the ~67k groups a
//! 250k-line generated batch reads back. No GPU needed: the results are made up
//! (`SyntheticReadback`). On the H200 host this build is most of a batch's latency past the
//! device part and the end-to-end time after the last upload (BENCHMARKS.md).
//!
//! `cargo bench -p logpulse-gpu --bench host_build`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logpulse_gpu::SyntheticReadback;

// As the binaries: freed tables are reused, not faulted in afresh.
#[global_allocator]
static GLOBAL: logpulse_core::alloc::MiMalloc = logpulse_core::alloc::MiMalloc;

fn bench_build(c: &mut Criterion) {
    logpulse_core::alloc::keep_freed_memory();
    let mut group = c.benchmark_group("host_build");
    group.sample_size(30);
    for groups in [67_000usize, 270_000] {
        let r = SyntheticReadback::new(groups);
        group.throughput(Throughput::Elements(groups as u64));
        group.bench_function(format!("{groups}_groups"), |b| {
            // The pipeline drops partials on another thread: not timed here.
            b.iter_with_large_drop(|| {
                let p = r.build().expect("valid results");
                assert_eq!(p.groups.len(), groups);
                p
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_build);
criterion_main!(benches);
