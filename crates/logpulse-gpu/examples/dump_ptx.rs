//! Prints the generated CUDA source or its PTX for a preset: `dump_ptx <preset> [src|ptx]`;
//! `dump_ptx <preset> cache` times NVRTC against the on-disk kernel cache instead (no GPU
//! needed).

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
    if what == "cache" {
        let dir = std::env::temp_dir().join(format!("logpulse-kernels-{}", std::process::id()));
        let timed = logpulse_gpu::time_kernel_cache(&plan, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        match timed {
            Ok((nvrtc, disk)) => println!(
                "{name}: NVRTC {:.1} ms, from the disk cache {:.2} ms",
                nvrtc * 1e3,
                disk * 1e3
            ),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
        return;
    }
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
