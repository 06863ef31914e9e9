//! Choosing GPU devices for `--backend` (auto, gpu, gpu:0,1).

use std::sync::Arc;

use anyhow::{bail, Result};
use logpulse_core::plan::Plan;
use logpulse_core::Backend;

/// The GPU ordinals asked for: `None` means the CPU.
pub fn ordinals(choice: &str) -> Result<Option<Vec<usize>>> {
    match choice {
        "cpu" | "auto" => Ok(None),
        "gpu" => bail!("--backend gpu: the GPU backend is not built in yet"),
        other if other.starts_with("gpu:") => {
            bail!("--backend {other}: the GPU backend is not built in yet")
        }
        other => bail!("unknown backend {other:?}; use auto, cpu, gpu or gpu:0,1"),
    }
}

/// Why `auto` fell back to the CPU.
pub fn absent_reason() -> String {
    "no CUDA device".into()
}

/// GPU backends on `ordinals`.
pub fn backends(
    _plan: Arc<Plan>,
    _ordinals: &[usize],
    _buffers: usize,
    _capacity: usize,
) -> Result<(Vec<Box<dyn Backend>>, String)> {
    bail!("the GPU backend is not built in yet")
}
