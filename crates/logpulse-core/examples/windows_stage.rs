//! The windows stage alone, for profiling: the CPU backend's partials of generated TSV (built
//! first, not timed), then `Windows::absorb` of each and `finish`, with the per-key totals
//! synced at the end (their thread's work is part of the stage); the split path without and
//! with sessions per client.
//!
//! `cargo run --release -p logpulse-core --example windows_stage [LINES] [REPS] [FORMAT]`
//! (defaults 3000000, 3, tsv). Under callgrind, count only the stage with
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*windows_stage::stage*'`
//! plus `--toggle-collect='*key_totals*'` for the totals thread.
use std::time::Instant;

use logpulse_core::batch::BufferPool;
use logpulse_core::framer::{Framer, FramerConfig};
use logpulse_core::gen::{GenConfig, GenFormat, Generator};
use logpulse_core::window::{SplitPartial, Windows};
use logpulse_core::{Backend, CpuBackend, Format, Partial, Plan};

#[inline(never)]
fn stage(w: &mut Windows, partials: Vec<Partial>) -> (usize, u64) {
    let mut closed = 0;
    let mut groups = 0u64;
    for p in partials {
        for r in w.absorb(p) {
            closed += 1;
            groups += r.group_count() as u64;
        }
    }
    for r in w.finish() {
        closed += 1;
        groups += r.group_count() as u64;
    }
    w.sync_totals();
    (closed, groups)
}

#[inline(never)]
fn stage_split(w: &mut Windows, partials: Vec<SplitPartial>) -> (usize, u64) {
    let mut closed = 0;
    let mut groups = 0u64;
    for p in partials {
        for r in w.absorb_split(p) {
            closed += 1;
            groups += r.group_count() as u64;
        }
    }
    for r in w.finish() {
        closed += 1;
        groups += r.group_count() as u64;
    }
    w.sync_totals();
    (closed, groups)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let lines: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(3_000_000);
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let clf = args.next().is_some_and(|a| a == "clf");
    let mut data = Vec::new();
    Generator::new(GenConfig {
        lines,
        format: if clf { GenFormat::Clf } else { GenFormat::Tsv },
        ..Default::default()
    })
    .fill(&mut data, usize::MAX);
    let pool = BufferPool::heap(8, 64 << 20);
    let preset = if clf { "common" } else { "nasa_tsv" };
    let plan = std::sync::Arc::new(Plan::reference(Format::preset(preset).expect("preset")));
    let mut be = CpuBackend::new(plan.clone(), 0, pool.clone()).expect("backend");
    let mut f = Framer::new(pool.clone(), FramerConfig::default(), "x".into());
    let mut partials: Vec<Partial> = Vec::new();
    f.push_each(&data, &mut |b| {
        partials.push(be.process(b).expect("process"));
        true
    });
    f.finish();
    while let Some(b) = f.pop() {
        partials.push(be.process(b).expect("process"));
    }
    let in_groups: usize = partials.iter().map(|p| p.groups.len()).sum();
    // As the pipeline runs it: partials split by window and summarized apart (splitter
    // threads), then the windows thread places the parts and closes windows; without and
    // with sessions per client (the plan's default), interleaved.
    for _ in 0..reps {
        for gap in [None, plan.session_gap_secs] {
            let ps = partials.clone();
            let t = Instant::now();
            let split: Vec<SplitPartial> = ps
                .into_iter()
                .map(|p| SplitPartial::summarized(p, plan.window, plan.thresholds))
                .collect();
            let split_s = t.elapsed().as_secs_f64();
            let mut w = Windows::new(plan.window, plan.lateness_secs, plan.thresholds);
            if let Some(gap) = gap {
                w = w.with_sessions(gap);
            }
            let t = Instant::now();
            let (closed, out_groups) = stage_split(&mut w, split);
            let s = t.elapsed().as_secs_f64();
            println!(
                "split apart {:.0} ns/group; windows thread (sessions {}): {closed} windows, \
                 {out_groups} groups, {:.1} M lines/s, {:.0} ns/group in",
                split_s * 1e9 / in_groups as f64,
                if gap.is_some() { "on " } else { "off" },
                lines as f64 / s / 1e6,
                s * 1e9 / in_groups as f64
            );
        }
    }
    // Sessions alone, over copies of the closed windows' tables.
    let mut w = Windows::new(plan.window, plan.lateness_secs, plan.thresholds);
    let mut closed: Vec<(i64, logpulse_core::agg::GroupTable)> = Vec::new();
    let mut keep = |r: logpulse_core::window::WindowResult| {
        let mut t = logpulse_core::agg::GroupTable::default();
        for (k, a) in r.groups_unordered() {
            t.agg_mut(r.start, k).merge(a);
        }
        closed.push((r.start, t));
    };
    for p in partials.clone() {
        w.absorb(p).into_iter().for_each(&mut keep);
    }
    w.finish().into_iter().for_each(&mut keep);
    let n: usize = closed.iter().map(|c| c.1.len()).sum();
    for _ in 0..reps {
        let gap = plan.session_gap_secs.unwrap_or(1800);
        let mut s = logpulse_core::window::Sessions::new(gap, 60);
        let t = Instant::now();
        let mut started = 0;
        for (start, groups) in &closed {
            started += s.close_window(*start, groups).started;
        }
        s.finish();
        let e = t.elapsed().as_secs_f64();
        println!(
            "sessions alone: {n} groups, {started} sessions, {:.0} ns/group",
            e * 1e9 / n as f64
        );
    }
    for _ in 0..reps {
        let ps = partials.clone();
        let mut w = Windows::new(plan.window, plan.lateness_secs, plan.thresholds);
        let t = Instant::now();
        let (closed, out_groups) = stage(&mut w, ps);
        let s = t.elapsed().as_secs_f64();
        println!(
            "windows: {} partials, {in_groups} groups in, {closed} windows, {out_groups} groups out, \
             {:.1} M lines/s, {:.2} GB/s, {:.0} ns/group in",
            partials.len(),
            lines as f64 / s / 1e6,
            data.len() as f64 / s / 1e9,
            s * 1e9 / in_groups as f64
        );
    }
}
