//! The kernels: `.cu` sources assembled with the plan's specialisation, compiled once per
//! distinct source by NVRTC (PTX cached in memory for the process and on disk between
//! processes, see [`kernel_cache`]), loaded per context.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};
use logpulse_core::plan::Plan;

use crate::error::{DriverContext, GpuError};
use crate::kernel_cache::{self, KernelsFrom};
use crate::program;

const COMMON: &str = include_str!("../kernels/common.cuh");
const TIME: &str = include_str!("../kernels/time.cuh");
const PARSE_LINE: &str = include_str!("../kernels/parse_line.cuh");
const JSON: &str = include_str!("../kernels/json.cuh");
const HASH: &str = include_str!("../kernels/hash.cuh");
const LINE_INDEX: &str = include_str!("../kernels/line_index.cu");
const AGGREGATE: &str = include_str!("../kernels/aggregate.cu");

/// Threads of a line-index block and bytes of its tile (`LI_THREADS`, `LI_TILE`).
pub const LI_THREADS: u32 = 512;
/// Bytes a line-index block covers.
pub const LI_TILE: u32 = LI_THREADS * 16 * 4;
/// Threads (lines) of a parse block (`LP_PARSE_THREADS`).
pub const PARSE_THREADS: u32 = 128;

/// The full CUDA source for `plan`.
pub fn source(plan: &Plan) -> Result<String, GpuError> {
    let (defs, parse_body) = program::specialise(plan)?;
    Ok([
        COMMON,
        &defs,
        TIME,
        PARSE_LINE,
        JSON,
        &parse_body,
        HASH,
        LINE_INDEX,
        AGGREGATE,
    ]
    .join("\n"))
}

/// The parser alone (types, format program, field and time parsing, JSON scanner, group hash), without
/// the kernels: plain C++ apart from a few CUDA keywords, so a host compiler can build it with
/// shims and check it line by line against the CPU parser (`tests/parser_on_host.rs`).
pub fn parser_source(plan: &Plan) -> Result<String, GpuError> {
    let (defs, parse_body) = program::specialise(plan)?;
    Ok([COMMON, &defs, TIME, PARSE_LINE, JSON, &parse_body, HASH].join("\n"))
}

/// PTX per (source, architecture), shared by every backend of the process.
fn ptx_cache() -> &'static Mutex<HashMap<(String, String), String>> {
    static CACHE: OnceLock<Mutex<HashMap<(String, String), String>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Macro definitions added to every compilation, from `LOGPULSE_GPU_NVRTC_DEFINES`
/// (whitespace-separated `NAME=VALUE`): a knob for benchmarks that time kernel variants
/// without rebuilding (e.g. `LP_ASYNC_STAGE=0`). Read once.
fn extra_defines() -> &'static [String] {
    static DEFS: OnceLock<Vec<String>> = OnceLock::new();
    DEFS.get_or_init(|| {
        std::env::var("LOGPULSE_GPU_NVRTC_DEFINES")
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    })
}

/// NVRTC's version (major, minor), part of the disk cache's key: another NVRTC may emit other
/// PTX. `None` if it cannot be read (then nothing is cached).
fn nvrtc_version() -> Option<(i32, i32)> {
    // A missing library panics in cudarc's loader, caught here (the backend checks for NVRTC
    // before compiling anyway).
    std::panic::catch_unwind(|| {
        let (mut major, mut minor) = (0, 0);
        // SAFETY: two valid out-parameters of the type the function writes.
        let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
        (r == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS).then_some((major, minor))
    })
    .ok()
    .flatten()
}

/// Which caches [`compile_in`] looks in (it stores into both whatever it compiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// This process's, then the disk's.
    Everywhere,
    /// The disk's only (timing the disk cache).
    DiskOnly,
    /// Neither: NVRTC (a PTX from disk that the driver refused is compiled again, and
    /// overwritten).
    Nowhere,
}

/// The PTX of `src` for `arch`: from this process's cache, the disk cache
/// ([`kernel_cache`]), or NVRTC (then stored in both), as `lookup` allows.
fn compile_in(
    src: &str,
    arch: &'static str,
    disk: Option<&std::path::Path>,
    lookup: Lookup,
) -> Result<(Ptx, KernelsFrom), GpuError> {
    let key = (src.to_string(), arch.to_string());
    if lookup == Lookup::Everywhere {
        if let Some(p) = ptx_cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok((Ptx::from_src(p), KernelsFrom::Memory));
        }
    }
    let mut options = vec!["--std=c++17".into(), "-lineinfo".into()];
    options.extend(extra_defines().iter().map(|d| format!("-D{d}")));
    let opts = CompileOptions {
        arch: Some(arch),
        options,
        name: Some("logpulse.cu".into()),
        ..Default::default()
    };
    // Everything that decides the PTX: every compile option, NVRTC's version, the source.
    let disk = disk.zip(nvrtc_version()).map(|(dir, (major, minor))| {
        let mut k = format!("{opts:?}\0nvrtc={major}.{minor}\0").into_bytes();
        k.extend_from_slice(src.as_bytes());
        (dir, k)
    });
    let cached = match &disk {
        Some((dir, k)) if lookup != Lookup::Nowhere => kernel_cache::load(dir, k),
        _ => None,
    };
    let (text, from) = match cached {
        Some(text) => (text, KernelsFrom::Disk),
        None => {
            let ptx = compile_ptx_with_opts(src, opts)
                .map_err(|e| GpuError::Compile(format!("{e:?}")))?;
            let text = ptx.to_src();
            if let Some((dir, k)) = &disk {
                kernel_cache::store(dir, k, &text);
            }
            (text, KernelsFrom::Nvrtc)
        }
    };
    if let Ok(mut c) = ptx_cache().lock() {
        c.insert(key, text.clone());
    }
    Ok((Ptx::from_src(text), from))
}

/// PTX text of the kernels for `plan` on virtual architecture `arch`, compiled by NVRTC (or
/// taken from this process's cache; the disk cache is left alone: this is the check of the
/// generated source that tests run).
pub fn compile_for(plan: &Plan, arch: &'static str) -> Result<String, GpuError> {
    Ok(compile_in(&source(plan)?, arch, None, Lookup::Everywhere)?
        .0
        .to_src())
}

/// Seconds to compile the kernels of `plan` for `arch` by NVRTC, and to take the same PTX from
/// a disk cache in `dir` (a benchmark of [`kernel_cache`]; no device needed).
pub fn time_kernel_cache(
    plan: &Plan,
    arch: &'static str,
    dir: &std::path::Path,
) -> Result<(f64, f64), GpuError> {
    let src = source(plan)?;
    let t = std::time::Instant::now();
    let (compiled, _) = compile_in(&src, arch, Some(dir), Lookup::Nowhere)?;
    let nvrtc_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let (cached, from) = compile_in(&src, arch, Some(dir), Lookup::DiskOnly)?;
    let disk_s = t.elapsed().as_secs_f64();
    if from != KernelsFrom::Disk || cached.to_src() != compiled.to_src() {
        return Err(GpuError::Compile(format!(
            "the disk cache in {} gave {from:?}, not the compiled PTX",
            dir.display()
        )));
    }
    Ok((nvrtc_s, disk_s))
}

/// NVRTC's virtual architecture for a compute capability (PTX is JIT-compiled by the driver).
fn arch_of(major: i32, minor: i32) -> &'static str {
    match (major, minor) {
        (9, _) => "compute_90",
        (8, 9) => "compute_89",
        (8, 6) => "compute_86",
        (8, _) => "compute_80",
        (m, _) if m >= 10 => "compute_90",
        _ => "compute_75",
    }
}

/// Entry points of the module, as `Kernels::load` looks them up.
pub const ENTRY_POINTS: [&str; 4] = [
    "lp_line_index",
    "lp_parse_aggregate",
    "lp_compact_counts",
    "lp_compact_groups",
];

/// The loaded kernels of one plan on one context.
pub struct Kernels {
    pub line_index: CudaFunction,
    pub parse_aggregate: CudaFunction,
    pub compact_counts: CudaFunction,
    pub compact_groups: CudaFunction,
    /// Where their PTX came from.
    pub from: KernelsFrom,
}

impl Kernels {
    /// Compiles (or takes from the cache) and loads the kernels for `plan`.
    pub fn load(ctx: &Arc<CudaContext>, plan: &Plan) -> Result<Self, GpuError> {
        let (major, minor) = ctx.compute_capability().ctx("reading compute capability")?;
        let (src, arch) = (source(plan)?, arch_of(major, minor));
        let disk = kernel_cache::dir();
        let (ptx, mut from) = compile_in(&src, arch, disk.as_deref(), Lookup::Everywhere)?;
        let module = match ctx.load_module(ptx) {
            // A cached PTX the driver refuses (damaged, or from a driver it no longer
            // accepts): compiled again, and the cache's copy replaced.
            Err(_) if from != KernelsFrom::Nvrtc => {
                let (ptx, f) = compile_in(&src, arch, disk.as_deref(), Lookup::Nowhere)?;
                from = f;
                ctx.load_module(ptx).ctx("loading the PTX module")?
            }
            loaded => loaded.ctx("loading the PTX module")?,
        };
        let f = |name: &'static str| module.load_function(name).ctx(name);
        let [line_index, parse_aggregate, compact_counts, compact_groups] = ENTRY_POINTS;
        Ok(Kernels {
            line_index: f(line_index)?,
            parse_aggregate: f(parse_aggregate)?,
            compact_counts: f(compact_counts)?,
            compact_groups: f(compact_groups)?,
            from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NVRTC once, then the disk cache (this process's cache emptied in between): the same
    /// PTX. Runs wherever NVRTC is installed (no GPU needed).
    #[test]
    fn kernels_come_back_from_the_disk_cache() {
        if !crate::nvrtc_available() {
            eprintln!("SKIPPED: no NVRTC library");
            return;
        }
        let d = tempfile::tempdir().expect("tempdir");
        // A source no other test compiles, so this process's cache does not have it.
        let src = format!(
            "// {:?}\nextern \"C\" __global__ void lp_k(int* x) {{ x[threadIdx.x] += 1; }}\n",
            d.path()
        );
        let (first, from) =
            compile_in(&src, "compute_80", Some(d.path()), Lookup::Everywhere).expect("NVRTC");
        assert_eq!(from, KernelsFrom::Nvrtc);
        let (again, from) =
            compile_in(&src, "compute_80", Some(d.path()), Lookup::Everywhere).expect("memory");
        assert_eq!(from, KernelsFrom::Memory);
        ptx_cache()
            .lock()
            .expect("cache")
            .remove(&(src.clone(), "compute_80".to_string()));
        let (disk, from) =
            compile_in(&src, "compute_80", Some(d.path()), Lookup::Everywhere).expect("disk");
        assert_eq!(from, KernelsFrom::Disk);
        assert!(first.to_src().contains(".entry lp_k"), "{}", first.to_src());
        assert_eq!(disk.to_src(), first.to_src());
        assert_eq!(again.to_src(), first.to_src());
        // Another architecture is another compilation.
        let (_, from) =
            compile_in(&src, "compute_90", Some(d.path()), Lookup::Everywhere).expect("NVRTC");
        assert_eq!(from, KernelsFrom::Nvrtc);
    }
}
