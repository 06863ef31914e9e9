//! Every preset's parser, and the JSON scanner, on arbitrary bytes: a record or a reject,
//! never a panic. The first byte picks the format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logpulse_core::format::{Format, Record, PRESETS};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, line)) = data.split_first() else { return };
    let (name, _) = PRESETS[pick as usize % PRESETS.len()];
    let format = Format::preset(name).expect("preset exists");
    let mut rec = Record::default();
    let _ = format.parse(line, &mut rec);
});
