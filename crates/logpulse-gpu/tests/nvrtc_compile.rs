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
