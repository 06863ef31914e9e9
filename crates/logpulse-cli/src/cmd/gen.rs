//! `logpulse gen`: writes the deterministic generator's output.

use std::io::Write;

use anyhow::{Context, Result};
use logpulse_core::gen::{GenConfig, GenFormat, Generator};

use crate::args::{GenArgs, GenLayout};

/// The generator layout of a CLI choice.
pub fn layout(l: GenLayout) -> GenFormat {
    match l {
        GenLayout::Tsv => GenFormat::Tsv,
        GenLayout::Clf => GenFormat::Clf,
        GenLayout::Combined => GenFormat::Combined,
        GenLayout::CaddyJson => GenFormat::CaddyJson,
    }
}

pub fn run(a: GenArgs) -> Result<()> {
    let mut g = Generator::new(GenConfig {
        seed: a.seed,
        lines: a.lines,
        format: layout(a.format),
        hosts: a.hosts.max(1),
        lines_per_sec: if a.rate > 0.0 { a.rate } else { 200.0 },
        bad_every: a.bad_every,
        ..Default::default()
    });
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    match g.write_all(&mut out).and_then(|_| out.flush()) {
        // A closed pipe (`logpulse gen | head`) is a normal way to stop.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing generated log"),
    }
}
