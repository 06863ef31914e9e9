//! A file framed through its mapping, with the pages registered by [`HostMapPinner`], gives
//! the GPU exactly the CPU backend's partials: the batches are views of the page cache that
//! the device copies by DMA, chunks of the registration straddle batches, and the file's tail
//! goes through the pinned pool as usual.
//!
//! Without a CUDA device the test prints `SKIPPED: no CUDA device` and passes.

mod common;

use std::io::Write;
use std::ops::Range;
use std::sync::Arc;

use common::*;
use logpulse_core::batch::{MappedBytes, SharedBytes};
use logpulse_core::format::Format;
use logpulse_core::framer::{frame_mapped_from, Framer, FramerConfig, ParallelEnd};
use logpulse_core::gen::{GenConfig, GenFormat, Generator};
use logpulse_core::plan::Plan;
use logpulse_core::{Backend, Batch, Partial};
use logpulse_gpu::HostMapPinner;

/// A read-only mapping of a file, as the file source makes one.
struct Mapping(memmap2::Mmap);

impl MappedBytes for Mapping {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
    fn release(&self, _: Range<usize>) {}
}

#[test]
fn mapped_registered_batches_match_cpu() {
    if !have_gpu() {
        return;
    }
    // ~150 MB of CLF with bad lines: several 64 MiB registration chunks.
    let mut g = Generator::new(GenConfig {
        lines: 1_500_000,
        format: GenFormat::Clf,
        bad_every: 101,
        ..Default::default()
    });
    let mut text = Vec::new();
    g.fill(&mut text, usize::MAX);
    text.extend_from_slice(b"127.0.0.1 - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 7");
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&text).expect("write");
    file.flush().expect("flush");
    // SAFETY: the test's own temporary file, not changed while mapped.
    let map = unsafe { memmap2::Mmap::map(file.as_file()) }.expect("mmap");
    let data: SharedBytes = Arc::new(Mapping(map));

    let plan = Arc::new(Plan::reference(Format::preset("common").expect("preset")));
    let cap = 24 << 20; // batches of 250k lines (~25 MB) or a full buffer
    let mut gpu = gpu_backend(&plan, cap, 8);
    let pool = gpu
        .pool()
        .with_pinner(Arc::new(HostMapPinner::new(0).expect("pinner")));
    let cfg = FramerConfig {
        max_lines: 250_000,
        ..FramerConfig::default()
    };
    let mut batches: Vec<Batch> = Vec::new();
    let end = frame_mapped_from(&data, (0, 1), &pool, &cfg, "m".into(), 4, &mut |b| {
        batches.push(b);
        true
    })
    .expect("mapped framing");
    let ParallelEnd::Rest { offset, next_line } = end else {
        panic!("stopped without being asked to");
    };
    let mapped = batches.len();
    assert!(mapped >= 4, "only {mapped} mapped batches");
    let mut f = Framer::new(pool.clone(), cfg, "m".into());
    f.set_position(offset, next_line);
    f.frame_each(&text[offset as usize..], 1 << 20, &mut |b| {
        batches.push(b);
        true
    });
    for (k, b) in batches.iter_mut().enumerate() {
        b.seq = k as u64;
    }
    let copies: Vec<_> = batches
        .iter()
        .map(|b| (b.seq, b.bytes().to_vec(), b.origin.clone(), b.lines))
        .collect();
    let total: u64 = copies.iter().map(|c| c.3).sum();
    assert_eq!(total, 1_500_001, "lines framed");

    let mut got: Vec<Partial> = Vec::new();
    gpu.run(&mut batches.into_iter(), &mut |p| {
        got.push(p);
        true
    })
    .expect("gpu run");
    assert_eq!(got.len(), copies.len(), "partial count");
    let mut cpu = logpulse_core::CpuBackend::new(
        plan.clone(),
        2,
        logpulse_core::batch::BufferPool::heap(1, 16),
    )
    .expect("cpu backend");
    for ((seq, bytes, origin, _), g) in copies.into_iter().zip(&got) {
        let c = cpu
            .process(raw_batch(seq, bytes, origin))
            .expect("cpu process");
        assert_same(&format!("mapped batch {seq}"), &c, g);
    }
    eprintln!("{mapped} mapped batches, {} in all", got.len());
}
