//! Every preset's parser, and the JSON scanner, on arbitrary bytes: a record or a reject,
//! never a panic. The first byte picks the format. Where a preset has a straight-line parser
//! (`LineParser`), it must give exactly the interpreter's outcome and record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logpulse_core::format::{Format, LineParser, Record, PRESETS};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, line)) = data.split_first() else { return };
    let (name, _) = PRESETS[pick as usize % PRESETS.len()];
    let format = Format::preset(name).expect("preset exists");
    let mut rec = Record::default();
    let slow = format.line.parse(line, &mut rec);
    let parser = LineParser::new(&format.line);
    if parser.is_fast() {
        let mut fast_rec = Record::default();
        let fast = parser.parse(line, &mut fast_rec);
        assert_eq!(fast, slow, "{name}");
        if fast.is_ok() {
            assert_eq!(fast_rec, rec, "{name}");
        }
    }
});
