//! The kernels' line parser, compiled for the host with a C++ compiler, gives the CPU parser's
//! outcome on every line: reject reason, or time, bytes, status, latency and group key.
//!
//! The CUDA parser (`kernels/*.cuh` plus the plan's generated program) is plain C++ apart from
//! a few keywords, which the prelude below turns into host equivalents. So this test checks the
//! port line by line on machines without a GPU (CI), for every preset, the custom formats and
//! every key, on adversarial lines; `gpu_vs_cpu.rs` then checks the whole kernels on a device.
//! Without `c++`/`g++` on the PATH it prints `SKIPPED: no host C++ compiler`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::lines::{adversarial_text, custom_formats, Rng};
use logpulse_core::agg::group_hash;
use logpulse_core::filter::Filters;
use logpulse_core::format::line::looks_binary;
use logpulse_core::format::{w3c, Format, KeyField, LineKind, LineParser, Record};
use logpulse_core::plan::Plan;

/// Host stand-ins for the CUDA keywords and intrinsics the parser's files use, then the source,
/// then a driver: each line of argv[1] (the W3C argument in argv[2]) is classified as the parse
/// kernel does it (empty, parse, key UTF-8, binary) and printed as one line of numbers.
const PRELUDE: &str = r#"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#define __device__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __constant__ static const
struct LpDim { unsigned x; };
static LpDim threadIdx = {0};
static inline unsigned __ballot_sync(unsigned, bool b) { return b ? 1u : 0u; }
static inline int __ffs(unsigned x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
template <class T> static inline T __shfl_sync(unsigned, T v, int) { return v; }
template <class T> static inline T atomicAdd(T* p, T v) { T o = *p; *p += v; return o; }
"#;

const DRIVER: &str = r#"
static std::vector<unsigned char> slurp(const char* path) {
    std::vector<unsigned char> v;
    FILE* f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    unsigned char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) v.insert(v.end(), buf, buf + k);
    fclose(f);
    return v;
}
int main(int argc, char** argv) {
    if (argc != 3) return 2;
    std::vector<unsigned char> text = slurp(argv[1]);
    std::vector<unsigned char> arg = slurp(argv[2]);
    LpW3c w3;
    if (arg.size() != sizeof w3) { fprintf(stderr, "LpW3c size %zu\n", sizeof w3); return 2; }
    memcpy(&w3, arg.data(), sizeof w3);
    size_t pos = 0, n_all = text.size();
    // Padding past the end, as the device batch has: the word scans read whole aligned words.
    text.resize(n_all + 16, 0);
    while (pos < n_all) {
        size_t end = pos;
        while (end < n_all && text[end] != '\n') ++end;
        const u8* L = text.data() + pos;
        int n = (int)(end - pos);
        if (n > 0 && L[n - 1] == '\r') --n;
        LpRec r;
        lp_rec_init(r);
        int code = n == 0 ? LP_EMPTY_LINE : lp_parse_line(L, n, r, w3, (u32)pos);
        if (code == LP_RECORD && r.key_off != LP_KEY_NONE && !lp_utf8(L + r.key_off, r.key_len))
            code = LP_INVALID_UTF8;
        else if (code == LP_RECORD && !lp_filters_pass(L, r))
            code = LP_FILTERED;
        else if (code != LP_RECORD && code != LP_DIRECTIVE && code != LP_EMPTY_LINE &&
                 lp_looks_binary(L, n))
            code = LP_BINARY_DATA;
        if (code == LP_RECORD) {
            printf("0 %lld %llu %u %d %llu ", r.time, r.bytes, r.status, r.has_lat ? 1 : 0,
                   r.has_lat ? r.lat : 0ull);
            u64 h;
            if (r.key_off == LP_KEY_NONE) {
                printf("303030");
                h = lp_none_key_hash(r.time);
            } else {
                for (u32 j = 0; j < r.key_len; ++j) printf("%02x", L[r.key_off + j]);
                h = lp_key_hash(r.time, L + r.key_off, r.key_len);
            }
            printf(" %016llx\n", h);
        } else {
            printf("%d\n", code);
        }
        pos = end + 1;
    }
    return 0;
}
"#;

fn compiler() -> Option<&'static str> {
    ["c++", "g++", "clang++"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// What the CPU parser makes of each line, printed as the driver prints it.
fn cpu_outcomes(plan: &Plan, text: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut layout = plan.format.line.clone();
    // What the CPU backend runs: the straight-line parser of a preset that has one.
    let split = plan.key.reads_request() || plan.filters.reads_request();
    let parser = LineParser::with_request_split(&plan.format.line, split);
    let mut status_buf = [0u8; 3];
    let mut pos = 0;
    while pos < text.len() {
        let end = memchr(&text[pos..]).map_or(text.len(), |p| pos + p);
        let raw = &text[pos..end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if layout.w3c {
            if let Some(Ok(f)) = w3c::parse_directive(line) {
                layout = f;
            }
        }
        let mut rec = Record::default();
        let parsed = if line.is_empty() {
            Err(logpulse_core::RejectReason::EmptyLine)
        } else if layout.w3c {
            layout.parse(line, &mut rec)
        } else {
            parser.parse(line, &mut rec)
        };
        out.push(match parsed {
            Ok(LineKind::Directive) => "100".to_string(),
            Ok(LineKind::Record) => {
                let key = plan.key.of(&rec, &mut status_buf);
                if std::str::from_utf8(key).is_err() {
                    logpulse_core::RejectReason::InvalidUtf8.code().to_string()
                } else if !plan.filters.accepts(&rec) {
                    FILTERED.to_string()
                } else {
                    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                    let (has, lat) = rec.latency_us.map_or((0, 0), |l| (1, l));
                    // The kernels' group hash, with the record's time standing in for a window.
                    let hash = group_hash(rec.time, key);
                    format!(
                        "0 {} {} {} {has} {lat} {hex} {hash:016x}",
                        rec.time, rec.bytes, rec.status
                    )
                }
            }
            Err(r) => {
                let r = if r != logpulse_core::RejectReason::EmptyLine && looks_binary(line) {
                    logpulse_core::RejectReason::BinaryData
                } else {
                    r
                };
                r.code().to_string()
            }
        });
        pos = end + 1;
    }
    out
}

/// The driver's outcome for a record the filters leave out (`LP_FILTERED`).
const FILTERED: &str = "101";

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Builds the host parser for `plan` in `dir` and runs it over `text`.
fn host_outcomes(cxx: &str, dir: &Path, name: &str, plan: &Plan, text: &[u8]) -> Vec<String> {
    let src = logpulse_gpu::parser_source(plan).expect("parser source");
    let cpp = dir.join(format!("{name}.cpp"));
    let exe = dir.join(name);
    std::fs::write(&cpp, [PRELUDE, &src, DRIVER].join("\n")).expect("write source");
    let cc = Command::new(cxx)
        .args(["-std=c++17", "-O1", "-w", "-o"])
        .arg(&exe)
        .arg(&cpp)
        .output()
        .expect("run the C++ compiler");
    assert!(
        cc.status.success(),
        "{name}: host build of the kernels' parser failed:\n{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let input = dir.join(format!("{name}.txt"));
    let arg = dir.join(format!("{name}.w3c"));
    std::fs::write(&input, text).expect("write input");
    let w3 = logpulse_gpu::w3c_argument(plan, text).expect("w3c argument");
    std::fs::write(&arg, w3).expect("write w3c argument");
    let run = Command::new(&exe)
        .arg(&input)
        .arg(&arg)
        .output()
        .expect("run the host parser");
    assert!(
        run.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every preset (the GPU runs them all) and the custom formats.
fn all_formats() -> Vec<Format> {
    let mut formats: Vec<Format> = logpulse_core::format::PRESETS
        .iter()
        .filter_map(|(n, _)| Format::preset(n))
        .collect();
    formats.extend(custom_formats());
    formats
}

/// A scratch directory of its own for each test (`tag`), as tests run at once.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("logpulse-host-parser-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

#[test]
fn kernels_parser_equals_cpu_parser_on_adversarial_lines() {
    let Some(cxx) = compiler() else {
        eprintln!("SKIPPED: no host C++ compiler");
        return;
    };
    let dir = scratch("formats");
    let formats = all_formats();
    let mut r = Rng(0x0b57);
    let mut compared = 0usize;
    for (i, f) in formats.iter().enumerate() {
        let text = adversarial_text(&mut r, &f.line, 6_000, false);
        for (k, (key_name, key)) in KeyField::NAMES.into_iter().enumerate() {
            // Three keys a format (each build takes a while): the client, and two others in
            // turn, so every key meets several formats.
            if !(key == KeyField::Client || k == 1 + i % 7 || k == 1 + (i + 3) % 7) {
                continue;
            }
            let mut plan = Plan::reference(f.clone());
            plan.key = key;
            let name = format!("{}_{key_name}", f.name);
            let host = host_outcomes(cxx, &dir, &name, &plan, &text);
            let cpu = cpu_outcomes(&plan, &text);
            assert_eq!(host.len(), cpu.len(), "{name}: line count");
            let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            for (i, (h, c)) in host.iter().zip(&cpu).enumerate() {
                assert_eq!(
                    h,
                    c,
                    "{name} line {i}: host parser vs CPU on {:?}",
                    String::from_utf8_lossy(lines[i])
                );
            }
            let records = cpu.iter().filter(|c| c.starts_with("0 ")).count();
            eprintln!("{name}: {records} of {} lines are records", cpu.len());
            assert!(records >= 100, "{name}: too few records to compare");
            compared += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        compared >= formats.len() * 3,
        "only {compared} runs compared"
    );
}

/// Filters over every text field, every operator and the three number fields, with values the
/// adversarial lines hold (empty values, escapes and bytes that are not UTF-8 included).
const FILTER_SETS: &[&[&str]] = &[
    &["path^=/b"],
    &["query~x"],
    &["protocol=HTTP/1.1"],
    &["method!=GET"],
    &["client$=.4"],
    &["host=c1"],
    &["vhost~host"],
    &["user_agent~Moz"],
    &["referer^=http"],
    &["upstream^=c"],
    &["status>=500"],
    &["status<300", "bytes>=100"],
    &["bytes<100"],
    &["latency_ms>0"],
    &["latency_ms<=5"],
    &["latency_ms!=2"],
    &["path=/a", "status!=404"],
    &["query="],
    &["path~", "status!=200"],
    &["path$=d"],
];

#[test]
fn kernels_filters_equal_cpu_filters_on_adversarial_lines() {
    let Some(cxx) = compiler() else {
        eprintln!("SKIPPED: no host C++ compiler");
        return;
    };
    let dir = scratch("filters");
    let formats = all_formats();
    let mut r = Rng(0xf11e);
    let texts: Vec<Vec<u8>> = formats
        .iter()
        .map(|f| adversarial_text(&mut r, &f.line, 2_000, false))
        .collect();
    let index = |name: &str| formats.iter().position(|f| f.name == name).expect(name);
    // Between them these two hold every field a filter reads.
    let rich = [index("combined"), index("custom_elb")];
    // Per filter set: (lines passed, lines filtered) over its formats.
    let mut seen = vec![(0usize, 0usize); FILTER_SETS.len()];
    for (s, set) in FILTER_SETS.iter().enumerate() {
        let mut on = rich.to_vec();
        on.push(s % formats.len());
        on.dedup();
        for i in on {
            let (f, text) = (&formats[i], &texts[i]);
            let mut plan = Plan::reference(f.clone());
            plan.filters = Filters::parse(set).expect("filter");
            let name = format!("{}_filter{s}", f.name);
            let host = host_outcomes(cxx, &dir, &name, &plan, text);
            let cpu = cpu_outcomes(&plan, text);
            assert_eq!(host.len(), cpu.len(), "{name}: line count");
            let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            for (i, (h, c)) in host.iter().zip(&cpu).enumerate() {
                assert_eq!(
                    h,
                    c,
                    "{name} ({set:?}) line {i}: host parser vs CPU on {:?}",
                    String::from_utf8_lossy(lines[i])
                );
            }
            seen[s].0 += cpu.iter().filter(|c| c.starts_with("0 ")).count();
            seen[s].1 += cpu.iter().filter(|c| *c == FILTERED).count();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (s, (pass, out)) in seen.iter().enumerate() {
        eprintln!("{:?}: {pass} passed, {out} filtered", FILTER_SETS[s]);
        assert!(
            *pass > 0 && *out > 0,
            "{:?} never both passed and failed: the comparison proves nothing",
            FILTER_SETS[s]
        );
    }
}
