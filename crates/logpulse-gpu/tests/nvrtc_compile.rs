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
            if let Err(e) = logpulse_gpu::compile_kernels(&plan) {
                panic!("{name} / {key:?}: {e}");
            }
        }
    }
}
