//! The CPU backend's hot path on one thread: `parse_lines` (parse every line, aggregate it
//! into its (window, client) group) over a generated 250k-line batch, the pipeline's default
//! batch, in each generated layout. Throughput is input bytes per second.
//!
//! `cargo bench -p logpulse-core --bench parse` (add `-- --save-baseline before` and then
//! `-- --baseline before` to compare two builds).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logpulse_core::agg::Partial;
use logpulse_core::backend::parse_lines;
use logpulse_core::format::Format;
use logpulse_core::gen::{GenConfig, GenFormat, Generator};
use logpulse_core::plan::Plan;

const LINES: u64 = 250_000;

fn batch(format: GenFormat) -> Vec<u8> {
    let mut g = Generator::new(GenConfig {
        lines: LINES,
        format,
        ..GenConfig::default()
    });
    let mut out = Vec::new();
    g.fill(&mut out, usize::MAX);
    out
}

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_lines");
    group.sample_size(20);
    for (name, gen, preset) in [
        ("nasa_tsv", GenFormat::Tsv, "nasa_tsv"),
        ("clf", GenFormat::Clf, "common"),
        ("combined", GenFormat::Combined, "combined"),
    ] {
        let bytes = batch(gen);
        let plan = Plan::reference(Format::preset(preset).expect("preset"));
        // The TSV generator writes a header line first: skip it as the framer's caller would.
        let body = match (gen, memchr::memchr(b'\n', &bytes)) {
            (GenFormat::Tsv, Some(p)) => &bytes[p + 1..],
            _ => &bytes[..],
        };
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Partial::new(0, Arc::from("bench"));
                let mut rejects = Vec::new();
                let lines = parse_lines(
                    &plan,
                    &plan.format.line,
                    black_box(body),
                    0,
                    0,
                    &mut out,
                    &mut rejects,
                );
                assert_eq!(rejects.len(), 0, "{name}: generated lines are all good");
                black_box((lines, out))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
