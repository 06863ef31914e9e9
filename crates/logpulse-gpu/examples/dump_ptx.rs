//! Prints the generated CUDA source or its PTX for a preset: `dump_ptx <preset> [src|ptx]`.

use logpulse_core::format::Format;
use logpulse_core::plan::Plan;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "common".into());
    let what = args.next().unwrap_or_else(|| "src".into());
    let Some(format) = Format::preset(&name) else {
        eprintln!("unknown preset {name}");
        std::process::exit(2);
    };
    let plan = Plan::reference(format);
    let out = if what == "ptx" {
        logpulse_gpu::compile_kernels(&plan)
    } else {
        logpulse_gpu::kernel_source(&plan)
    };
    match out {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
