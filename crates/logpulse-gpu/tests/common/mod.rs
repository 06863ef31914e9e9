//! Helpers shared by the GPU tests: device detection, batch making, partial comparison.
#![allow(dead_code)]

pub mod lines;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use logpulse_core::agg::{Agg, Partial};
use logpulse_core::batch::{Batch, BatchBuf, BufferPool, Origin};
use logpulse_core::plan::Plan;
use logpulse_core::{Backend, CpuBackend};
use logpulse_gpu::GpuBackend;

/// True when a CUDA device is usable; otherwise prints the skip line the CI logs look for.
pub fn have_gpu() -> bool {
    match logpulse_gpu::device_count() {
        Ok(n) if n > 0 => true,
        _ => {
            eprintln!("SKIPPED: no CUDA device");
            false
        }
    }
}

/// Where the shared data sets are: `LOGPULSE_DATA_DIR`, else `../../../shared/data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("LOGPULSE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// A gzip file's bytes.
pub fn gunzip(path: &std::path::Path) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    out
}

/// Splits `bytes` into batches of at most `max_lines` lines, with their source positions.
/// The last batch keeps a missing final newline (as a raw buffer would).
pub fn batches(bytes: &[u8], max_lines: usize, source: &str) -> Vec<(u64, Vec<u8>, Origin)> {
    let mut out = Vec::new();
    let (mut start, mut line, mut seq) = (0usize, 1u64, 0u64);
    while start < bytes.len() {
        let mut end = start;
        let mut n = 0;
        while end < bytes.len() && n < max_lines {
            end = memchr(&bytes[end..]).map_or(bytes.len(), |p| end + p + 1);
            n += 1;
        }
        let origin = Origin {
            source: source.into(),
            first_line: line,
            offset: start as u64,
        };
        out.push((seq, bytes[start..end].to_vec(), origin));
        seq += 1;
        line += n as u64;
        start = end;
    }
    out
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// A batch over exactly `bytes` (no newline added), from the heap.
pub fn raw_batch(seq: u64, bytes: Vec<u8>, origin: Origin) -> Batch {
    let lines = bytes.iter().filter(|&&c| c == b'\n').count() as u64;
    Batch {
        seq,
        buf: BatchBuf::from_vec(bytes),
        lines,
        origin,
        skipped: Vec::new(),
    }
}

/// A batch over `bytes` in a buffer of `pool` (pinned for the GPU).
pub fn pooled_batch(pool: &BufferPool, seq: u64, bytes: &[u8], origin: Origin) -> Batch {
    let mut buf = pool.acquire();
    assert!(buf.capacity() >= bytes.len(), "pool buffers too small");
    buf.extend_from_slice(bytes);
    Batch {
        seq,
        lines: bytes.iter().filter(|&&c| c == b'\n').count() as u64,
        buf,
        origin,
        skipped: Vec::new(),
    }
}

/// The CPU reference partial of a batch.
pub fn cpu_partial(plan: &Arc<Plan>, seq: u64, bytes: &[u8], origin: Origin) -> Partial {
    let mut cpu = CpuBackend::new(plan.clone(), 2, BufferPool::heap(1, 16)).expect("cpu backend");
    cpu.process(raw_batch(seq, bytes.to_vec(), origin))
        .expect("cpu process")
}

/// A GPU backend for `plan` with a pinned pool of `count` buffers of `cap` bytes (the pool
/// blocks when all are in use, so tests holding many batches at once need as many buffers).
pub fn gpu_backend(plan: &Arc<Plan>, cap: usize, count: usize) -> GpuBackend {
    let pool = logpulse_gpu::pinned_pool(count, cap.max(1)).expect("pinned pool");
    GpuBackend::new(plan.clone(), 0, pool).expect("gpu backend")
}

fn sorted_groups(p: &Partial) -> Vec<(i64, String, Agg)> {
    let mut v: Vec<(i64, String, Agg)> = p
        .groups
        .iter()
        .map(|(w, k, a)| (w, k.to_string(), a.clone()))
        .collect();
    v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    v
}

/// Asserts two partials are identical (groups compared sorted), naming the first difference.
pub fn assert_same(what: &str, cpu: &Partial, gpu: &Partial) {
    assert_eq!(cpu.seq, gpu.seq, "{what}: seq");
    assert_eq!(cpu.source, gpu.source, "{what}: source");
    assert_eq!(cpu.input_bytes, gpu.input_bytes, "{what}: input_bytes");
    assert_eq!(cpu.lines, gpu.lines, "{what}: lines");
    assert_eq!(cpu.records, gpu.records, "{what}: records");
    assert_eq!(cpu.filtered, gpu.filtered, "{what}: filtered");
    assert_eq!(cpu.directives, gpu.directives, "{what}: directives");
    assert_eq!(
        cpu.reject_counts, gpu.reject_counts,
        "{what}: reject counts"
    );
    assert_eq!(cpu.rejects.len(), gpu.rejects.len(), "{what}: rejects");
    for (a, b) in cpu.rejects.iter().zip(&gpu.rejects) {
        assert_eq!(a, b, "{what}: reject");
    }
    assert_eq!(cpu.max_time, gpu.max_time, "{what}: max_time");
    let (a, b) = (sorted_groups(cpu), sorted_groups(gpu));
    assert_eq!(a.len(), b.len(), "{what}: group count");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "{what}: group");
    }
    assert_eq!(cpu.latency, gpu.latency, "{what}: latency histograms");
}
