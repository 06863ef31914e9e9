//! The GPU backend gives exactly the CPU backend's partials: on every shared data set, on
//! generated input with bad lines, and on randomised adversarial lines and formats.
//!
//! Without a CUDA device every test prints `SKIPPED: no CUDA device` and passes.

mod common;

use std::sync::Arc;

use common::lines::{adversarial_text, custom_formats, Rng};
use common::*;
use logpulse_core::batch::Origin;
use logpulse_core::format::{Format, KeyField};
use logpulse_core::gen::{GenConfig, GenFormat, Generator};
use logpulse_core::plan::{Plan, WindowSpec};
use logpulse_core::{Backend, Partial};

/// The preset each shared file is in (from its README entry, not from detection).
fn preset_for(file: &str) -> Option<&'static str> {
    let by_prefix = [
        ("nasa_19950701", "nasa_tsv"),
        ("nasa_jul95", "common"),
        ("apache_combined", "combined"),
        ("nginx_combined", "combined"),
        ("haproxy_http", "haproxy_http"),
        ("aws_elb_classic", "elb_classic"),
        ("iis_w3c", "iis_w3c"),
        ("caddy_console", "caddy_console"),
        ("caddy_json", "caddy_json"),
    ];
    by_prefix
        .iter()
        .find(|(p, _)| file.starts_with(p))
        .map(|(_, preset)| *preset)
}

/// The shared data sets (`*.gz` in ../shared/data), sorted.
fn data_files() -> Vec<std::path::PathBuf> {
    let dir = data_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "gz"))
        .collect();
    files.sort();
    files
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Plans over `format`: the reference plan and variations of key and window.
fn plans(format: &Format) -> Vec<Arc<Plan>> {
    let mut out = Vec::new();
    for (key, window) in [
        (KeyField::Client, WindowSpec::Tumbling { secs: 60 }),
        (KeyField::Path, WindowSpec::Tumbling { secs: 3600 }),
        (KeyField::Status, WindowSpec::PerBatch),
        (KeyField::Method, WindowSpec::Tumbling { secs: 1 }),
        (KeyField::UserAgent, WindowSpec::PerBatch),
        (KeyField::Referer, WindowSpec::Tumbling { secs: 600 }),
        (KeyField::Vhost, WindowSpec::PerBatch),
        (KeyField::Upstream, WindowSpec::Tumbling { secs: 60 }),
    ] {
        let mut p = Plan::reference(format.clone());
        p.key = key;
        p.window = window;
        out.push(Arc::new(p));
    }
    out
}

/// Runs `bytes` cut in batches of `max_lines` through the GPU (pipelined `run`) and the CPU
/// (one backend for all batches, in order, as the pipeline runs it: W3C layouts carry over),
/// and compares every batch's partial.
fn check(what: &str, plan: &Arc<Plan>, bytes: &[u8], max_lines: usize) {
    let cut = batches(bytes, max_lines, what);
    let cap = cut.iter().map(|b| b.1.len()).max().unwrap_or(1);
    let mut gpu = gpu_backend(plan, cap, cut.len() + 1);
    let pool = gpu.pool();
    let mut inputs = cut
        .iter()
        .map(|(seq, b, o)| pooled_batch(&pool, *seq, b, o.clone()))
        .collect::<Vec<_>>()
        .into_iter();
    let mut got: Vec<Partial> = Vec::new();
    gpu.run(&mut inputs, &mut |p| {
        got.push(p);
        true
    })
    .expect("gpu run");
    assert_eq!(got.len(), cut.len(), "{what}: partial count");
    let mut cpu = logpulse_core::CpuBackend::new(
        plan.clone(),
        2,
        logpulse_core::batch::BufferPool::heap(1, 16),
    )
    .expect("cpu backend");
    for ((seq, b, o), g) in cut.iter().zip(&got) {
        let c = cpu
            .process(raw_batch(*seq, b.to_vec(), o.clone()))
            .expect("cpu process");
        assert_same(&format!("{what} batch {seq} key {:?}", plan.key), &c, g);
    }
}

#[test]
fn shared_data_sets_match_cpu() {
    if !have_gpu() {
        return;
    }
    let mut checked = 0;
    for path in data_files() {
        let name = file_name(&path);
        let preset = preset_for(&name).unwrap_or_else(|| panic!("{name}: which preset?"));
        let bytes = gunzip(&path);
        let format = Format::preset(preset).expect("preset");
        for plan in plans(&format) {
            check(&name, &plan, &bytes, usize::MAX);
            check(&name, &plan, &bytes, 997);
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} data sets checked");
}

/// `--filter` on the GPU: every shared data set under filters over text and number fields
/// gives the CPU's partials (records left out counted as `filtered`).
#[test]
fn filtered_plans_match_cpu_on_shared_data() {
    if !have_gpu() {
        return;
    }
    let sets: [&[&str]; 5] = [
        &["status>=400"],
        &["path^=/images", "bytes>1000"],
        &["method!=GET", "protocol=HTTP/1.1"],
        &["latency_ms>5"],
        &["user_agent~bot", "query="],
    ];
    let mut filtered = 0u64;
    for path in data_files() {
        let name = file_name(&path);
        let preset = preset_for(&name).unwrap_or_else(|| panic!("{name}: which preset?"));
        let bytes = gunzip(&path);
        for (i, set) in sets.iter().enumerate() {
            let mut plan = Plan::reference(Format::preset(preset).expect("preset"));
            plan.filters = logpulse_core::filter::Filters::parse(set).expect("filters");
            if i % 2 == 1 {
                plan.key = KeyField::Path;
            }
            let plan = Arc::new(plan);
            check(&format!("{name} {set:?}"), &plan, &bytes, 997);
            let cpu = cpu_partial(&plan, 0, &bytes, Origin::default());
            filtered += cpu.filtered;
        }
    }
    assert!(
        filtered > 0,
        "no record was filtered: the test proves nothing"
    );
}

#[test]
fn generated_input_with_bad_lines_matches_cpu() {
    if !have_gpu() {
        return;
    }
    for (gf, preset) in [
        (GenFormat::Tsv, "nasa_tsv"),
        (GenFormat::Clf, "common"),
        (GenFormat::Combined, "combined"),
    ] {
        let mut g = Generator::new(GenConfig {
            lines: 60_000,
            format: gf,
            bad_every: 13,
            ..Default::default()
        });
        let mut bytes = Vec::new();
        g.fill(&mut bytes, usize::MAX);
        let format = Format::preset(preset).expect("preset");
        for plan in plans(&format).into_iter().take(4) {
            check(preset, &plan, &bytes, 25_000);
        }
    }
}

/// Hand-made bad lines of every class, CRLF endings and no final newline.
#[test]
fn hand_made_bad_lines_match_cpu() {
    if !have_gpu() {
        return;
    }
    let ok = "h1 - - [01/Jul/1995:00:00:01 -0400] \"GET /a HTTP/1.0\" 200 10";
    let mut lines: Vec<Vec<u8>> = vec![
        ok.into(),
        b"".to_vec(),
        b"\r".to_vec(),
        format!("{ok}\r").into_bytes(),
        b"h2 - - [01/Jul/1995:00:00:0".to_vec(),
        b"h\x003 - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1".to_vec(),
        b"h\xff4 - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 500 1".to_vec(),
        b"h\xc3\xa95 - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 503 7".to_vec(),
        b"h6 - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 2000 1".to_vec(),
        b"h7 - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 x".to_vec(),
        b"h8 - - [41/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1".to_vec(),
        b"h9 - - [01/Jul/1995:00:00:01 -0400] \"GET /\\\"q\\\\ HTTP/1.0\" 404 -".to_vec(),
        b"h10 - - [01/Jul/1995:00:00:01 -0400] \"GET /unterminated".to_vec(),
        b"\x16\x03\x01\x02\x00".to_vec(),
        vec![b'x'; 5000],
        b"h11 - - [01/Jul/1995:00:59:59 +0000] \"GET /b HTTP/1.1\" 599 12 \"ref\" \"ua\"".to_vec(),
        b"h\xed\xa0\x80 - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 1".to_vec(),
    ];
    lines.push(b"h12 - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 3".to_vec());
    let mut bytes: Vec<u8> = lines.join(&b"\n"[..]);
    // No final newline: the last line still counts.
    for preset in ["common", "combined"] {
        let format = Format::preset(preset).expect("preset");
        for plan in plans(&format) {
            check("hand-made", &plan, &bytes, usize::MAX);
            check("hand-made", &plan, &bytes, 3);
        }
    }
    bytes.push(b'\n');
    let plan = Arc::new(Plan::reference(Format::preset("common").expect("preset")));
    check("hand-made+nl", &plan, &bytes, usize::MAX);
}

/// Runs of up to 3000 empty lines, lines of 40-100 KB (longer than a parse block's staging, so
/// read from device memory), CR-only lines, and a batch of 2-byte lines: the line index and the
/// parse blocks' spans at their extremes.
#[test]
fn empty_runs_long_and_tiny_lines_match_cpu() {
    if !have_gpu() {
        return;
    }
    let mut r = Rng(0x711e);
    let ok = |r: &mut Rng| {
        let pad = "x".repeat(r.below(40) as usize);
        format!(
            "h{} - - [01/Jul/1995:00:{:02}:01 -0400] \"GET /{pad} HTTP/1.0\" {} {}",
            r.below(300),
            r.below(60),
            r.pick(&[200, 304, 404, 500]),
            r.below(5000)
        )
        .into_bytes()
    };
    let mut mixed: Vec<u8> = Vec::new();
    for _ in 0..20_000 {
        match r.below(1000) {
            0..=3 => mixed.extend(std::iter::repeat_n(b'\n', r.below(3000) as usize)),
            4 => mixed.extend(std::iter::repeat_n(b'y', 40_000 + r.below(60_000) as usize)),
            5..=9 => mixed.push(b'\r'),
            _ => mixed.extend(ok(&mut r)),
        }
        mixed.push(b'\n');
    }
    let mut tiny: Vec<u8> = Vec::new();
    for i in 0..60_000 {
        if i % 5000 == 0 {
            tiny.extend(ok(&mut r));
        } else {
            tiny.push(b'a');
        }
        tiny.push(b'\n');
    }
    let format = Format::preset("common").expect("preset");
    for plan in plans(&format) {
        check("empty runs and long lines", &plan, &mixed, usize::MAX);
        check("empty runs and long lines", &plan, &mixed, 7_000);
        check("tiny lines", &plan, &tiny, usize::MAX);
    }
}

#[test]
fn randomised_adversarial_lines_match_cpu() {
    if !have_gpu() {
        return;
    }
    // Every preset: the GPU runs them all.
    let mut formats: Vec<Format> = logpulse_core::format::PRESETS
        .iter()
        .filter_map(|(n, _)| Format::preset(n))
        .collect();
    formats.extend(custom_formats());
    let mut r = Rng(0x5eed);
    for f in &formats {
        for round in 0..3 {
            let bytes = adversarial_text(&mut r, &f.line, 20_000, round == 2);
            for plan in plans(f) {
                check(&format!("{} round {round}", f.name), &plan, &bytes, 7_000);
            }
        }
    }
}

#[test]
fn run_with_one_builder_and_early_stop() {
    if !have_gpu() {
        return;
    }
    let plan = Arc::new(Plan::reference(Format::preset("common").expect("preset")));
    let bytes = gunzip(&data_dir().join("nasa_jul95_first2000.log.gz"));
    let cut = batches(&bytes, 100, "stop");
    let cap = cut.iter().map(|b| b.1.len()).max().unwrap_or(1);
    let mut gpu = gpu_backend(&plan, cap, cut.len() + 1);
    gpu.set_build_threads(1);
    let pool = gpu.pool();
    let mut inputs = cut
        .iter()
        .map(|(seq, b, o)| pooled_batch(&pool, *seq, b, o.clone()))
        .collect::<Vec<_>>()
        .into_iter();
    let mut got = Vec::new();
    gpu.run(&mut inputs, &mut |p| {
        got.push(p);
        got.len() < 5
    })
    .expect("run");
    assert_eq!(got.len(), 5);
    for ((seq, b, o), g) in cut.iter().zip(&got) {
        assert_same("early stop", &cpu_partial(&plan, *seq, b, o.clone()), g);
    }
}

#[test]
fn process_and_empty_batches_match_cpu() {
    if !have_gpu() {
        return;
    }
    let plan = Arc::new(Plan::reference(Format::preset("common").expect("preset")));
    let mut gpu = gpu_backend(&plan, 1 << 16, 2);
    let text =
        b"a - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 10\n\ngarbage\n".to_vec();
    let o = Origin {
        source: "t".into(),
        first_line: 10,
        offset: 1000,
    };
    let g = gpu
        .process(raw_batch(3, text.clone(), o.clone()))
        .expect("process");
    assert_same("process", &cpu_partial(&plan, 3, &text, o.clone()), &g);
    let g = gpu
        .process(raw_batch(4, Vec::new(), o.clone()))
        .expect("empty");
    assert_same("empty", &cpu_partial(&plan, 4, &[], o), &g);
}
