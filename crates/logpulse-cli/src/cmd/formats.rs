//! `logpulse formats`: the known formats and the fields each yields.

use anyhow::Result;
use logpulse_core::format::{Format, PRESETS};

pub fn run() -> Result<()> {
    println!("{:<10} description / fields", "name");
    for (name, desc) in PRESETS {
        let Some(f) = Format::preset(name) else {
            continue;
        };
        let fields: Vec<String> = f
            .line
            .fields()
            .iter()
            .map(|k| format!("{k:?}").to_lowercase())
            .collect();
        println!(
            "{name:<10} {desc}\n{:<10} fields: {}",
            "",
            fields.join(", ")
        );
    }
    println!("\n--format auto detects the format from the first lines and says what it chose.");
    Ok(())
}
