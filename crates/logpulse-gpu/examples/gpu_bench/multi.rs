//! Multi-GPU mode of the bench (`--devices 0,1`): see the crate-level docs of `main.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use logpulse_core::agg::{group_hash, Partial};
use logpulse_core::batch::{Batch, BufferPool, Origin};
use logpulse_core::format::Format;
use logpulse_core::gen::{GenConfig, GenFormat, Generator};
use logpulse_core::plan::Plan;
use logpulse_core::Backend;
use logpulse_gpu::{run_shared, GpuBackend};

use crate::{pct, Args};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get())
}

/// Generated CLF, one generator a thread (seed 1995 + thread, event time continued), cut into
/// batches of `batch_lines` lines: (first line, lines, bytes).
fn generate(lines: u64, batch_lines: usize) -> Vec<(u64, u64, Vec<u8>)> {
    let t = threads() as u64;
    let per = lines.div_ceil(t);
    let d = GenConfig::default();
    let parts: Vec<Vec<(u64, Vec<u8>)>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..t)
            .map(|i| {
                s.spawn(move || {
                    let n = per.min(lines.saturating_sub(i * per));
                    let mut g = Generator::new(GenConfig {
                        seed: d.seed + i,
                        lines: n,
                        format: GenFormat::Clf,
                        start_time: d.start_time + ((i * per) as f64 / d.lines_per_sec) as i64,
                        ..GenConfig::default()
                    });
                    let mut out = Vec::new();
                    while !g.done() {
                        let mut b = Vec::with_capacity(batch_lines * 120);
                        let before = g.written();
                        while !g.done() && g.written() - before < batch_lines as u64 {
                            let l = b.len() + 1;
                            g.fill(&mut b, l);
                        }
                        out.push((g.written() - before, b));
                    }
                    out
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("generator"))
            .collect()
    });
    let mut first = 1;
    let mut out = Vec::new();
    for (n, b) in parts.into_iter().flatten() {
        out.push((first, n, b));
        first += n;
    }
    out
}

/// The batches in pinned buffers of `pool`, copied on every core; in order.
fn pinned(pool: &BufferPool, data: &[(u64, u64, Vec<u8>)]) -> Vec<Batch> {
    let t = threads();
    let slots: Vec<Mutex<Option<Batch>>> = data.iter().map(|_| Mutex::new(None)).collect();
    let mut offsets = Vec::with_capacity(data.len());
    let mut off = 0u64;
    for d in data {
        offsets.push(off);
        off += d.2.len() as u64;
    }
    std::thread::scope(|s| {
        for k in 0..t {
            let (slots, offsets) = (&slots, &offsets);
            s.spawn(move || {
                for i in (k..data.len()).step_by(t) {
                    let (first, lines, bytes) = &data[i];
                    let mut buf = pool.acquire();
                    buf.extend_from_slice(bytes);
                    let b = Batch {
                        seq: i as u64,
                        buf,
                        lines: *lines,
                        origin: Origin {
                            source: "bench".into(),
                            first_line: *first,
                            offset: offsets[i],
                        },
                        skipped: Vec::new(),
                    };
                    *slots[i].lock().expect("lock") = Some(b);
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().expect("lock"))
        .collect()
}

/// An order-independent digest of a partial (every group, its hash and measures).
fn digest(p: &Partial) -> [u64; 6] {
    let mut g = 0u64;
    for (w, k, a) in p.groups.iter() {
        let mut x = group_hash(w, k.as_bytes());
        for v in [a.requests, a.bytes, a.s4xx, a.s5xx, a.latency_count] {
            x = (x ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(23);
        }
        for (s, n) in &a.errors {
            x = (x ^ ((*s as u64) << 32 | n)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        }
        g = g.wrapping_add(x);
    }
    [
        p.lines,
        p.records,
        p.rejected(),
        p.groups.len() as u64,
        p.max_time.unwrap_or(0) as u64,
        g,
    ]
}

/// GB/s of `t` threads summing every batch as u64 words (host memory read bandwidth).
fn host_read_gbs(batches: &[Batch]) -> f64 {
    let t = threads();
    let total: usize = batches.iter().map(|b| b.bytes().len()).sum();
    let slices: Vec<&[u8]> = batches.iter().map(|b| b.bytes()).collect();
    let slices = &slices;
    let started = Instant::now();
    std::thread::scope(|s| {
        for k in 0..t {
            s.spawn(move || {
                let mut acc = 0u64;
                for b in slices.iter().skip(k).step_by(t) {
                    acc = b
                        .chunks_exact(8)
                        .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
                        .fold(acc, |a, b| a.wrapping_add(b));
                }
                std::hint::black_box(acc);
            });
        }
    });
    total as f64 / started.elapsed().as_secs_f64() / 1e9
}

struct Outcome {
    best: f64,
    median: f64,
    digests: BTreeMap<u64, [u64; 6]>,
}

fn drive(
    name: &str,
    gpus: &mut [GpuBackend],
    pool: &BufferPool,
    data: &[(u64, u64, Vec<u8>)],
    total_bytes: usize,
    reps: usize,
) -> Result<Outcome, String> {
    // Warm-up (clocks, allocator, readback buffers).
    let warm = pinned(pool, &data[..data.len().min(8 * gpus.len())]);
    run_shared(gpus, warm.into_iter(), &|_| {}).map_err(|e| e.to_string())?;
    let mut gbs = Vec::new();
    for rep in 0..reps {
        let batches = pinned(pool, data);
        let records = AtomicU64::new(0);
        let t = Instant::now();
        run_shared(gpus, batches.into_iter(), &|p| {
            records.fetch_add(p.records, Ordering::Relaxed);
        })
        .map_err(|e| e.to_string())?;
        let s = t.elapsed().as_secs_f64();
        gbs.push(total_bytes as f64 / s / 1e9);
        eprintln!(
            "[{name}] rep {rep}: {} records in {s:.3}s = {:.1} GB/s",
            records.load(Ordering::Relaxed),
            total_bytes as f64 / s / 1e9
        );
        for (i, g) in gpus.iter().enumerate() {
            eprintln!("[{name}] rep {rep} worker {i}: {}", g.last_run_stats());
        }
    }
    // Correctness pass (digests cost host time, so not timed).
    let digests = Mutex::new(BTreeMap::new());
    run_shared(gpus, pinned(pool, data).into_iter(), &|p| {
        let d = digest(&p);
        digests.lock().expect("lock").insert(p.seq, d);
    })
    .map_err(|e| e.to_string())?;
    Ok(Outcome {
        best: gbs.iter().cloned().fold(0.0, f64::max),
        median: pct(&mut gbs, 0.5),
        digests: digests.into_inner().expect("lock"),
    })
}

pub fn run(a: &Args) -> Result<(), String> {
    let n_dev = logpulse_gpu::device_count().map_err(|e| e.to_string())?;
    if let Some(bad) = a.devices.iter().find(|&&d| d >= n_dev) {
        return Err(format!("device {bad} requested, {n_dev} present"));
    }
    let t = Instant::now();
    let data = generate(a.lines, a.batch_lines);
    let total: usize = data.iter().map(|d| d.2.len()).sum();
    let max = data.iter().map(|d| d.2.len()).max().unwrap_or(1);
    eprintln!(
        "[multi] generated {} lines of CLF, {:.2} GB, {} batches, on {} threads in {:.1}s",
        a.lines,
        total as f64 / 1e9,
        data.len(),
        threads(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let pool = logpulse_gpu::pinned_pool_lazy(data.len() + 4, max).map_err(|e| e.to_string())?;
    let batches = pinned(&pool, &data);
    eprintln!(
        "[multi] pinned {:.2} GB (portable) in {:.1}s",
        total as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let host_gbs = host_read_gbs(&batches);
    eprintln!(
        "[multi] host memory read, {} threads: {host_gbs:.1} GB/s",
        threads()
    );
    let plan = Arc::new(Plan::reference(
        Format::preset("common").ok_or("no preset common")?,
    ));
    let open = |d: usize| -> Result<GpuBackend, String> {
        GpuBackend::new(plan.clone(), d, pool.clone()).map_err(|e| e.to_string())
    };

    // Per-batch latency on the first device, one batch at a time.
    let mut one = [open(a.devices[0])?];
    let mut lat = Vec::new();
    let mut lat_dev = Vec::new();
    let mut build = Vec::new();
    for b in batches.into_iter().take(48) {
        let started = Instant::now();
        let (_, st) = one[0].process_timed(b).map_err(|e| e.to_string())?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        lat.push(ms);
        lat_dev.push(ms - st.build_ms as f64);
        build.push(st.build_ms as f64);
    }
    let lat = [pct(&mut lat, 0.5), pct(&mut lat, 0.99)];
    let lat_dev = [pct(&mut lat_dev, 0.5), pct(&mut lat_dev, 0.99)];
    let build = pct(&mut build, 0.5);

    let r1 = drive("1 gpu", &mut one, &pool, &data, total, a.reps)?;
    drop(one);
    let mut many = a
        .devices
        .iter()
        .map(|&d| open(d))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = many.iter().map(|g| g.describe()).collect();

    // Concurrent pinned H2D, one thread a backend (what PCIe and host memory give together).
    let b0 = pinned(&pool, &data[..1]).remove(0);
    let h2d: Vec<f64> = std::thread::scope(|s| {
        let hs: Vec<_> = many
            .iter_mut()
            .map(|g| {
                let bytes = b0.bytes();
                s.spawn(move || {
                    let mut v: Vec<f64> = g
                        .time_copy(bytes, 40)
                        .unwrap_or_default()
                        .iter()
                        .map(|&ms| bytes.len() as f64 / (ms as f64 / 1e3) / 1e9)
                        .collect();
                    pct(&mut v, 0.5)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0.0)).collect()
    });
    drop(b0);

    let rn = drive(
        &format!("{} workers", many.len()),
        &mut many,
        &pool,
        &data,
        total,
        a.reps,
    )?;
    let same = r1.digests == rn.digests && r1.digests.len() == data.len();
    let scaling = rn.best / r1.best / many.len() as f64;
    println!(
        "\n== logpulse-gpu multi bench: {} lines CLF ({:.2} GB), {}-line batches, {} batches ==",
        a.lines,
        total as f64 / 1e9,
        a.batch_lines,
        data.len()
    );
    println!("workers: {}", names.join("; "));
    println!(
        "1 gpu      e2e best {:.1} GB/s, median {:.1} GB/s",
        r1.best, r1.median
    );
    println!(
        "{} workers  e2e best {:.1} GB/s, median {:.1} GB/s; scaling efficiency {:.0}%",
        many.len(),
        rn.best,
        rn.median,
        scaling * 100.0
    );
    println!(
        "results    {} ({} batch digests compared)",
        if same { "IDENTICAL" } else { "DIFFERENT" },
        r1.digests.len()
    );
    println!(
        "H2D        concurrent pinned, per worker: {}; host memory read ({} threads) {:.1} GB/s",
        h2d.iter()
            .map(|g| format!("{g:.1} GB/s"))
            .collect::<Vec<_>>()
            .join(", "),
        threads(),
        host_gbs
    );
    println!(
        "latency    one batch at a time (gpu {}): p50/p99 {:.2}/{:.2} ms incl. host build, {:.2}/{:.2} ms without; host build p50 {:.2} ms",
        a.devices[0], lat[0], lat[1], lat_dev[0], lat_dev[1], build
    );
    if !same {
        return Err("multi-worker results differ from one worker's".into());
    }
    Ok(())
}
