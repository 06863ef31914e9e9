//! The generated CUDA source compiles for every preset and key field (needs only NVRTC, no GPU).

use logpulse_core::format::{Format, KeyField};
use logpulse_core::plan::{Plan, WindowSpec};

#[test]
fn kernels_compile_for_every_preset_and_key() {
    if !logpulse_gpu::nvrtc_available() {
        eprintln!("SKIPPED: no NVRTC library");
        return;
    }
    for (name, _) in logpulse_core::format::PRESETS {
        for (_, key) in KeyField::NAMES {
            let mut plan = Plan::reference(Format::preset(name).expect("preset"));
            plan.key = key;
            if key == KeyField::Method {
                plan.window = WindowSpec::PerBatch;
            }
            let ptx = match logpulse_gpu::compile_kernels(&plan) {
                Ok(p) => p,
                Err(e) => panic!("{name} / {key:?}: {e}"),
            };
            for entry in logpulse_gpu::ENTRY_POINTS {
                assert!(
                    ptx.contains(&format!(".entry {entry}(")),
                    "{name} / {key:?}: no entry point {entry} in the PTX"
                );
            }
        }
    }
}

#[test]
fn kernels_compile_with_filters_on_every_field() {
    if !logpulse_gpu::nvrtc_available() {
        eprintln!("SKIPPED: no NVRTC library");
        return;
    }
    let filters = logpulse_core::filter::Filters::parse(&[
        "client!=a",
        "vhost~b",
        "path^=/c",
        "query$=d",
        "method=GET",
        "protocol!=",
        "user_agent~\\\"q",
        "referer^=http",
        "upstream~:",
        "status>=200",
        "bytes<1000000",
        "latency_ms<=10000",
    ])
    .expect("filters");
    for name in [
        "combined",
        "nasa_tsv",
        "caddy_json",
        "iis_w3c",
        "haproxy_http",
    ] {
        let mut plan = Plan::reference(Format::preset(name).expect("preset"));
        plan.filters = filters.clone();
        if let Err(e) = logpulse_gpu::compile_kernels(&plan) {
            panic!("{name} with filters: {e}");
        }
    }
}

/// One plan's kernels, compiled with whatever `LOGPULSE_GPU_NVRTC_DEFINES` says (run alone by
/// `kernel_variants_compile`, below, in a child process: the definitions are read once a
/// process).
#[test]
fn kernels_compile_for_the_reference_plan() {
    if !logpulse_gpu::nvrtc_available() {
        eprintln!("SKIPPED: no NVRTC library");
        return;
    }
    let plan = Plan::reference(Format::preset("combined").expect("preset"));
    if let Err(e) = logpulse_gpu::compile_kernels(&plan) {
        panic!(
            "with LOGPULSE_GPU_NVRTC_DEFINES={:?}: {e}",
            std::env::var("LOGPULSE_GPU_NVRTC_DEFINES").unwrap_or_default()
        );
    }
}

/// The kernels' on/off knobs (variants kept for timing): every `#ifndef LP_X` of kernels/*.cu(h)
/// followed by `#define LP_X 0` or `1`, each given as its other value (`LP_X=1` or `LP_X=0`),
/// and every value a `#if LP_X == N` tests.
fn variants() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("kernels/") {
        let text = std::fs::read_to_string(entry.expect("kernels/ entry").path()).expect("source");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        // Knobs with more values: `#if LP_X == N` gives `LP_X=N`.
        for line in &lines {
            if let Some((name, value)) = line
                .strip_prefix("#if LP_")
                .and_then(|rest| rest.split_once(" == "))
            {
                found.push(format!("LP_{name}={}", value.trim()));
            }
        }
        for pair in lines.windows(2) {
            let Some(name) = pair[0].strip_prefix("#ifndef LP_") else {
                continue;
            };
            match pair[1].strip_prefix(&format!("#define LP_{name} ")) {
                Some("0") => found.push(format!("LP_{name}=1")),
                Some("1") => found.push(format!("LP_{name}=0")),
                _ => {}
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The kernel variants kept for timing (knobs set through `LOGPULSE_GPU_NVRTC_DEFINES`, as
/// scripts/gpu-variants.sh does) still compile: each in a child process running the test above.
#[test]
fn kernel_variants_compile() {
    if !logpulse_gpu::nvrtc_available() {
        eprintln!("SKIPPED: no NVRTC library");
        return;
    }
    if let Ok(d) = std::env::var("LOGPULSE_GPU_NVRTC_DEFINES") {
        // A child of this test, or a run of the whole file with definitions set.
        eprintln!("SKIPPED: LOGPULSE_GPU_NVRTC_DEFINES={d:?} is set (the test above covers it)");
        return;
    }
    let variants = variants();
    assert!(
        variants.iter().any(|v| v == "LP_ASYNC_STAGE=0"),
        "knobs found: {variants:?}"
    );
    eprintln!("kernel variants: {variants:?}");
    let me = std::env::current_exe().expect("the test binary");
    for defines in &variants {
        let out = std::process::Command::new(&me)
            .args([
                "--exact",
                "kernels_compile_for_the_reference_plan",
                "--test-threads=1",
            ])
            .env("LOGPULSE_GPU_NVRTC_DEFINES", defines)
            .env("LOGPULSE_KERNEL_CACHE", "0")
            .output()
            .expect("running the test binary");
        assert!(
            out.status.success(),
            "{defines}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("1 passed"),
            "{defines}: the child ran no test: {said}"
        );
    }
}
