//! The Apache LogFormat and nginx log_format compilers on arbitrary strings, then the compiled
//! format on the rest of the input: an error or a format, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logpulse_core::format::{Format, JsonMap, Record};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (spec, line) = data.split_at(split);
    let Ok(spec) = std::str::from_utf8(spec) else { return };
    for f in [Format::apache(spec), Format::nginx(spec)].into_iter().flatten() {
        let mut rec = Record::default();
        let _ = f.parse(line, &mut rec);
    }
    if let Ok(map) = JsonMap::parse(spec) {
        let mut rec = Record::default();
        let _ = Format::json(map).parse(line, &mut rec);
    }
});
