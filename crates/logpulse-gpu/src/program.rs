//! The plan's format program, as the kernels see it.
//!
//! The GPU runs the very program the CPU interprets: [`LineFormat::encode`]'s bytes are decoded
//! here (and checked) into tokens, and each token becomes one call of a generic helper of
//! `kernels/parse_line.cuh` with compile-time constant arguments. NVRTC then folds the format
//! into straight-line code. New formats need no new kernel code: they are new data.

use std::fmt::Write as _;

use logpulse_core::format::KeyField;
use logpulse_core::plan::{Plan, WindowSpec};

use crate::error::GpuError;

/// One decoded token of the program.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(Vec<u8>),
    Field { kind: u8, end: u8, byte: u8 },
}

/// A decoded format program.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Program {
    tokens: Vec<Tok>,
    optional_from: usize,
    allow_trailing: bool,
    directives: Vec<Vec<u8>>,
}

/// Reads `LineFormat::encode()` output (layout documented there).
fn decode(code: &[u8]) -> Result<Program, GpuError> {
    let bad = |what: &str| GpuError::Program(format!("encoded format program: {what}"));
    let mut it = code.iter().copied();
    let mut next = |what: &str| it.next().ok_or_else(|| bad(what));
    let n_tokens = next("header")? as usize;
    let optional = next("header")?;
    let allow_trailing = next("header")? != 0;
    let n_dirs = next("header")? as usize;
    let mut tokens = Vec::with_capacity(n_tokens);
    for _ in 0..n_tokens {
        match next("token op")? {
            0 => {
                let len = next("literal length")? as usize;
                let lit = (0..len)
                    .map(|_| next("literal byte"))
                    .collect::<Result<Vec<u8>, _>>()?;
                tokens.push(Tok::Lit(lit));
            }
            1 => {
                let kind = next("field kind")?;
                let end = next("field end")?;
                let byte = next("field end byte")?;
                if kind > 19 || end > 2 {
                    return Err(bad("unknown field kind or end"));
                }
                tokens.push(Tok::Field { kind, end, byte });
            }
            _ => return Err(bad("unknown token op")),
        }
    }
    let mut directives = Vec::with_capacity(n_dirs);
    for _ in 0..n_dirs {
        let len = next("directive length")? as usize;
        directives.push(
            (0..len)
                .map(|_| next("directive byte"))
                .collect::<Result<Vec<u8>, _>>()?,
        );
    }
    let optional_from = if optional == 255 {
        n_tokens
    } else {
        optional as usize
    };
    Ok(Program {
        tokens,
        optional_from,
        allow_trailing,
        directives,
    })
}

/// The key field's number in the kernels (`LP_KEY_*`, the order of `KeyField::NAMES`).
fn key_code(key: KeyField) -> usize {
    KeyField::NAMES
        .iter()
        .position(|(_, k)| *k == key)
        .unwrap_or(0)
}

fn byte_array(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        // A zero-length array is not C++; the length argument (0) keeps it unread.
        return "{0}".to_string();
    }
    let items: Vec<String> = bytes.iter().map(|b| format!("0x{b:02x}")).collect();
    format!("{{{}}}", items.join(", "))
}

/// CUDA source specialising the kernels to `plan`: constants, then `lp_parse_line`'s body.
/// It goes between `parse_line.cuh` (its helpers) and the kernels that call it.
pub fn specialise(plan: &Plan) -> Result<(String, String), GpuError> {
    let line = &plan.format.line;
    // Format features outside the encoded program: refused rather than run differently.
    if line.skip_through.is_some() || line.json.is_some() || line.w3c {
        return Err(GpuError::Program(format!(
            "format {} uses a syslog prefix, JSON fields or W3C #Fields, not on the GPU yet",
            plan.format.name
        )));
    }
    let p = decode(&line.encode())?;
    if p.tokens.len() != plan.format.line.tokens.len() {
        return Err(GpuError::Program(
            "format has more than 255 tokens".to_string(),
        ));
    }
    let mut defs = String::new();
    let (per_batch, secs) = match plan.window {
        WindowSpec::PerBatch => (1, 1),
        WindowSpec::Tumbling { secs } if secs > 0 => (0, secs),
        WindowSpec::Tumbling { secs } => {
            return Err(GpuError::Program(format!("window of {secs} s")))
        }
    };
    let _ = writeln!(defs, "#define LP_KEY {}", key_code(plan.key));
    let _ = writeln!(defs, "#define LP_WINDOW_PER_BATCH {per_batch}");
    let _ = writeln!(defs, "#define LP_WINDOW_SECS {secs}ll");

    let n = p.tokens.len();
    let mut body = String::new();
    let _ = writeln!(
        body,
        "__device__ __forceinline__ int lp_parse_line(const u8* L, int n, LpRec& r) {{\n    int pos = 0;"
    );
    for d in &p.directives {
        let _ = writeln!(
            body,
            "    {{ const u8 d[] = {}; if (lp_starts(L, n, d, {})) return LP_DIRECTIVE; }}",
            byte_array(d),
            d.len()
        );
    }
    for (i, t) in p.tokens.iter().enumerate() {
        if i >= p.optional_from {
            let _ = writeln!(body, "    if (pos == n) goto lp_done;");
        }
        match t {
            Tok::Lit(l) => {
                let _ = writeln!(
                    body,
                    "    {{ const u8 lit[] = {}; int c = lp_lit(L, n, pos, lit, {}); if (c) return c; }}",
                    byte_array(l),
                    l.len()
                );
            }
            Tok::Field { kind, end, byte } => {
                let last = i + 1 == n || i + 1 >= p.optional_from;
                let quoted_tail = i + 2 >= n;
                let _ = writeln!(
                    body,
                    "    {{ bool done = false; int c = lp_field(L, n, pos, {kind}, {end}, 0x{byte:02x}, {last}, {quoted_tail}, r, &done); if (c) return c; if (done) return LP_RECORD; }}"
                );
            }
        }
    }
    let _ = writeln!(body, "    goto lp_done;\nlp_done:");
    let _ = writeln!(
        body,
        "    if (pos < n && !{}) return LP_FORMAT_MISMATCH;\n    return LP_RECORD;\n}}",
        p.allow_trailing as u8
    );
    Ok((defs, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use logpulse_core::format::Format;

    #[test]
    fn decodes_every_preset_round_trip() {
        for name in crate::SUPPORTED_PRESETS {
            let f = Format::preset(name).unwrap();
            let p = decode(&f.line.encode()).unwrap();
            assert_eq!(p.tokens.len(), f.line.tokens.len(), "{name}");
            assert_eq!(p.allow_trailing, f.line.allow_trailing);
            assert_eq!(p.directives, f.line.directive_prefixes);
        }
    }

    #[test]
    fn rejects_truncated_program() {
        let f = Format::preset("combined").unwrap();
        let code = f.line.encode();
        assert!(decode(&code[..code.len() - 1]).is_err());
    }

    #[test]
    fn refuses_what_the_kernels_cannot_run() {
        for (name, _) in logpulse_core::format::PRESETS {
            let plan = Plan::reference(Format::preset(name).unwrap());
            let supported = crate::SUPPORTED_PRESETS.contains(name);
            if !supported {
                // Either refused here or by an unknown field kind: never silently run.
                let l = &plan.format.line;
                let special = l.skip_through.is_some() || l.json.is_some() || l.w3c;
                let unknown = decode(&l.encode()).is_err();
                assert!(special || unknown || specialise(&plan).is_ok(), "{name}");
            }
        }
    }

    #[test]
    fn specialises_nasa_tsv() {
        let plan = Plan::reference(Format::preset("nasa_tsv").unwrap());
        let (defs, body) = specialise(&plan).unwrap();
        assert!(defs.contains("#define LP_KEY 0"));
        assert!(body.contains("return LP_DIRECTIVE"));
        assert!(body.contains("if (pos == n) goto lp_done;"));
    }
}
