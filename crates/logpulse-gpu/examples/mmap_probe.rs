//! Could the page-cached path skip the host copy? `logpulse run FILE --backend gpu` fills its
//! pinned buffers with `pread` (page cache -> pinned memory: a read and a write of host memory
//! a byte, then the DMA's read), and that fill caps the run at ~9-12 GB/s (BENCHMARKS.md,
//! 2026-12-04). The alternative: map the file and register the mapping's pages with CUDA
//! (`cuMemHostRegister`, read-only), so the DMA reads the page cache itself. This times what
//! that costs, by threads: faulting the mapping in, counting its lines (what the host would
//! still do to cut batches), registering and unregistering 64 MiB chunks, copying registered
//! chunks to the device, and the three pipelined (register, copy, unregister) over the file.
//!
//! `mmap_probe [FILE] [--lines N] [--threads 1,4,8,16] [--chunk-mb 64]`: without FILE, N
//! generated CLF lines (default 40M, ~4.2 GB) are written to the temp directory first.

use std::ffi::c_void;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cudarc::driver::{result, sys, CudaContext};
use logpulse_core::gen::{GenConfig, GenFormat, Generator};

struct Args {
    file: Option<String>,
    lines: u64,
    threads: Vec<usize>,
    chunk: usize,
}

fn args() -> Args {
    let mut a = Args {
        file: None,
        lines: 40_000_000,
        threads: vec![1, 4, 8, 16],
        chunk: 64 << 20,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        match (v[i].as_str(), v.get(i + 1)) {
            ("--lines", Some(n)) => {
                a.lines = n.parse().unwrap_or(a.lines);
                i += 1;
            }
            ("--threads", Some(t)) => {
                a.threads = t.split(',').filter_map(|x| x.trim().parse().ok()).collect();
                i += 1;
            }
            ("--chunk-mb", Some(m)) => {
                a.chunk = m.parse::<usize>().map_or(a.chunk, |m| m << 20);
                i += 1;
            }
            (f, _) => a.file = Some(f.to_string()),
        }
        i += 1;
    }
    a
}

fn generate(lines: u64) -> Result<String, String> {
    let path = std::env::temp_dir().join(format!("fill_probe_{lines}.clf"));
    if path.exists() {
        return Ok(path.to_string_lossy().into_owned());
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| e.to_string())?);
    let mut g = Generator::new(GenConfig {
        lines,
        format: GenFormat::Clf,
        ..Default::default()
    });
    let mut buf = Vec::with_capacity(72 << 20);
    loop {
        buf.clear();
        g.fill(&mut buf, 64 << 20);
        if buf.is_empty() {
            break;
        }
        out.write_all(&buf).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(path.to_string_lossy().into_owned())
}

/// A read-only shared mapping of a whole file.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(file: &std::fs::File, len: usize, populate: bool) -> Result<Self, String> {
        use std::os::fd::AsRawFd;
        let flags = libc::MAP_SHARED | if populate { libc::MAP_POPULATE } else { 0 };
        // SAFETY: a fresh read-only mapping of an open file; unmapped on drop.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                flags,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        Ok(Mapping {
            ptr: p as *mut u8,
            len,
        })
    }

    fn chunk(&self, i: usize, chunk: usize) -> &[u8] {
        let start = i * chunk;
        let end = (start + chunk).min(self.len);
        // SAFETY: within the mapping.
        unsafe { std::slice::from_raw_parts(self.ptr.add(start), end - start) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: mapped in `new`.
        unsafe { libc::munmap(self.ptr as *mut c_void, self.len) };
    }
}

/// Runs `f(chunk index)` for every chunk on `threads` threads (each bound to `ctx`).
fn par_chunks(
    ctx: &std::sync::Arc<CudaContext>,
    n: usize,
    threads: usize,
    f: &(dyn Fn(usize) + Sync),
) -> f64 {
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let _ = ctx.bind_to_thread();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    f(i);
                }
            });
        }
    });
    t.elapsed().as_secs_f64()
}

fn register(c: &[u8]) -> sys::CUresult {
    // SAFETY: registers pages of a live mapping; unregistered before it is unmapped.
    unsafe {
        sys::cuMemHostRegister_v2(
            c.as_ptr() as *mut c_void,
            c.len(),
            sys::CU_MEMHOSTREGISTER_READ_ONLY | sys::CU_MEMHOSTREGISTER_PORTABLE,
        )
    }
}

fn unregister(c: &[u8]) -> sys::CUresult {
    // SAFETY: registered by `register`.
    unsafe { sys::cuMemHostUnregister(c.as_ptr() as *mut c_void) }
}

fn gbs(bytes: usize, s: f64) -> f64 {
    bytes as f64 / s / 1e9
}

fn main() -> Result<(), String> {
    let a = args();
    let path = match a.file {
        Some(p) => p,
        None => generate(a.lines)?,
    };
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let len = file.metadata().map_err(|e| e.to_string())?.len() as usize;
    let t = Instant::now();
    std::io::copy(&mut &file, &mut std::io::sink()).map_err(|e| e.to_string())?;
    println!(
        "{path}: {:.0} MB, read once in {:.2}s; chunks of {} MiB",
        len as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        a.chunk >> 20
    );
    let ctx = CudaContext::new(0).map_err(|e| format!("no CUDA device: {e:?}"))?;
    ctx.bind_to_thread().map_err(|e| format!("{e:?}"))?;
    let nchunks = len.div_ceil(a.chunk);
    let stream = ctx.new_stream().map_err(|e| format!("{e:?}"))?;
    // SAFETY: a plain device allocation, freed at the end.
    let dbuf = unsafe { result::malloc_sync(a.chunk) }.map_err(|e| format!("{e:?}"))?;
    // Reference: the same copies from one pinned buffer.
    let pinned = unsafe { result::malloc_host(a.chunk, sys::CU_MEMHOSTALLOC_PORTABLE) }
        .map_err(|e| format!("{e:?}"))? as *mut u8;
    unsafe { std::ptr::write_bytes(pinned, b'x', a.chunk) };
    let pin_slice = unsafe { std::slice::from_raw_parts(pinned, a.chunk) };
    let copy_all = |srcs: &mut dyn Iterator<Item = &[u8]>| -> Result<(usize, f64), String> {
        let t = Instant::now();
        let mut bytes = 0;
        for c in srcs {
            unsafe { result::memcpy_htod_async(dbuf, c, stream.cu_stream()) }
                .map_err(|e| format!("copy: {e:?}"))?;
            bytes += c.len();
        }
        stream.synchronize().map_err(|e| format!("{e:?}"))?;
        Ok((bytes, t.elapsed().as_secs_f64()))
    };
    let (b, s) = copy_all(&mut (0..nchunks).map(|_| pin_slice))?;
    println!("copy from one pinned buffer: {:.1} GB/s", gbs(b, s));

    for &threads in &a.threads {
        // A fresh mapping each round, so faulting it in is part of what is timed.
        let m = Mapping::new(&file, len, false)?;
        let lines = AtomicUsize::new(0);
        let s_fault = par_chunks(&ctx, nchunks, threads, &|i| {
            let n = memchr::memchr_iter(b'\n', m.chunk(i, a.chunk)).count();
            lines.fetch_add(n, Ordering::Relaxed);
        });
        let s_count = par_chunks(&ctx, nchunks, threads, &|i| {
            let n = memchr::memchr_iter(b'\n', m.chunk(i, a.chunk)).count();
            std::hint::black_box(n);
        });
        let failed = AtomicUsize::new(0);
        let s_reg = par_chunks(&ctx, nchunks, threads, &|i| {
            if register(m.chunk(i, a.chunk)) != sys::CUresult::CUDA_SUCCESS {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        });
        let failed = failed.load(Ordering::Relaxed);
        println!(
            "{threads:>2} threads: fault+count {:.1} GB/s ({} lines), count {:.1} GB/s, register {:.1} GB/s ({failed} failed)",
            gbs(len, s_fault),
            lines.load(Ordering::Relaxed),
            gbs(len, s_count),
            gbs(len, s_reg),
        );
        if failed > 0 {
            let r = register(m.chunk(0, a.chunk));
            println!("   register of chunk 0 again: {r:?}");
            continue;
        }
        let (b, s) = copy_all(&mut (0..nchunks).map(|i| m.chunk(i, a.chunk)))?;
        println!("   copy from registered mapping: {:.1} GB/s", gbs(b, s));
        let s_unreg = par_chunks(&ctx, nchunks, threads, &|i| {
            let _ = unregister(m.chunk(i, a.chunk));
        });
        println!("   unregister {:.1} GB/s", gbs(len, s_unreg));
        drop(m);

        // Pipelined over a fresh mapping: `threads` registrars, the copy on this thread in
        // chunk order, unregistered once the copy passed.
        let m = Mapping::new(&file, len, false)?;
        let done: Vec<std::sync::atomic::AtomicBool> = (0..nchunks)
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect();
        let next = AtomicUsize::new(0);
        let t = Instant::now();
        let r = std::thread::scope(|sc| -> Result<(), String> {
            for _ in 0..threads {
                sc.spawn(|| {
                    let _ = ctx.bind_to_thread();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= nchunks {
                            break;
                        }
                        let _ = register(m.chunk(i, a.chunk));
                        done[i].store(true, Ordering::Release);
                    }
                });
            }
            let mut ev = Vec::new();
            for (i, ready) in done.iter().enumerate() {
                while !ready.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                unsafe { result::memcpy_htod_async(dbuf, m.chunk(i, a.chunk), stream.cu_stream()) }
                    .map_err(|e| format!("copy: {e:?}"))?;
                ev.push(i);
                // Keep two copies in flight; unregister what is behind them.
                if ev.len() > 2 {
                    stream.synchronize().map_err(|e| format!("{e:?}"))?;
                    for j in ev.drain(..) {
                        let _ = unregister(m.chunk(j, a.chunk));
                    }
                }
            }
            stream.synchronize().map_err(|e| format!("{e:?}"))?;
            for j in ev.drain(..) {
                let _ = unregister(m.chunk(j, a.chunk));
            }
            Ok(())
        });
        r?;
        println!(
            "   pipelined register+copy+unregister: {:.1} GB/s",
            gbs(len, t.elapsed().as_secs_f64())
        );
        drop(m);

        // The same with nothing unregistered until the end and no synchronisation between
        // copies: does registering overlap copying at all?
        let m = Mapping::new(&file, len, false)?;
        let done: Vec<std::sync::atomic::AtomicBool> = (0..nchunks)
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect();
        let next = AtomicUsize::new(0);
        let t = Instant::now();
        let r = std::thread::scope(|sc| -> Result<(), String> {
            for _ in 0..threads {
                sc.spawn(|| {
                    let _ = ctx.bind_to_thread();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= nchunks {
                            break;
                        }
                        let _ = register(m.chunk(i, a.chunk));
                        done[i].store(true, Ordering::Release);
                    }
                });
            }
            for (i, ready) in done.iter().enumerate() {
                while !ready.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                unsafe { result::memcpy_htod_async(dbuf, m.chunk(i, a.chunk), stream.cu_stream()) }
                    .map_err(|e| format!("copy: {e:?}"))?;
            }
            stream.synchronize().map_err(|e| format!("{e:?}"))
        });
        r?;
        let s_overlap = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for i in 0..nchunks {
            let _ = unregister(m.chunk(i, a.chunk));
        }
        println!(
            "   register ahead + copy, no unregister: {:.1} GB/s (then unregister {:.2}s)",
            gbs(len, s_overlap),
            t.elapsed().as_secs_f64()
        );
        drop(m);

        // One registration of the whole mapping, then the copies.
        let m = Mapping::new(&file, len, false)?;
        let whole = m.chunk(0, len);
        let t = Instant::now();
        let r = register(whole);
        let s_one = t.elapsed().as_secs_f64();
        let (b, s) = copy_all(&mut (0..nchunks).map(|i| m.chunk(i, a.chunk)))?;
        let _ = unregister(whole);
        println!(
            "   one register of the whole file {:.1} GB/s ({r:?}), then copy {:.1} GB/s",
            gbs(len, s_one),
            gbs(b, s)
        );
    }
    unsafe {
        let _ = result::free_host(pinned as *mut c_void);
        let _ = result::memory_free(dbuf);
    }
    Ok(())
}
