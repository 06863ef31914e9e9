//! The plan's format program, as the kernels see it.
//!
//! The GPU runs the very program the CPU interprets: [`LineFormat::encode`]'s bytes are decoded
//! here (and checked) into tokens, and each token becomes one call of a generic helper of
//! `kernels/parse_line.cuh` with compile-time constant arguments. NVRTC then folds the format
//! into straight-line code. New formats need no new kernel code: they are new data.

use std::fmt::Write as _;

use logpulse_core::filter::{Field, Filters, NumberField, Op, TextField};
use logpulse_core::format::{JsonMap, KeyField};
use logpulse_core::plan::{Plan, WindowSpec};

use crate::error::GpuError;

/// The highest `FieldKind` number the kernels know (`LP_F_*` in kernels/parse_line.cuh).
const MAX_KIND: u8 = 24;

/// Most entries of a JSON field map on the GPU (bits of a 64-bit mask).
const JSON_MAX_ENTRIES: usize = 64;

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
                if kind > MAX_KIND || end > 2 {
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
    json_tables(line.json.as_ref(), &mut defs)?;
    let (text_mask, mut body) = filters_pass(&plan.filters)?;
    let _ = writeln!(defs, "#define LP_FILTER_TEXT 0x{text_mask:x}u");

    let n = p.tokens.len();
    let _ = writeln!(
        body,
        "__device__ __forceinline__ int lp_parse_line(const u8* L, int n, LpRec& r, const LpW3c& w3, u32 ls) {{\n    int pos = 0;"
    );
    for d in &p.directives {
        let _ = writeln!(
            body,
            "    {{ const u8 d[] = {}; if (lp_starts(L, n, d, {})) return LP_DIRECTIVE; }}",
            byte_array(d),
            d.len()
        );
    }
    if line.w3c {
        // The columns come from the batch's `#Fields:` layouts (a kernel argument).
        body.push_str(W3C_BODY);
        return Ok((defs, body));
    }
    if let Some(sep) = &line.skip_through {
        if sep.is_empty() {
            return Err(GpuError::Program("empty skip-through separator".into()));
        }
        let _ = writeln!(
            body,
            "    {{ const u8 sk[] = {}; int p = lp_memmem(L, n, sk, {}); if (p < 0) return LP_FORMAT_MISMATCH; pos = p + {}; }}",
            byte_array(sep),
            sep.len(),
            sep.len()
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

/// The text field's number in the kernels (`LP_KEY_*`, then `LP_T_QUERY`, `LP_T_PROTOCOL`).
fn text_slot(f: TextField) -> Result<usize, GpuError> {
    match f {
        TextField::Key(KeyField::Status) => Err(GpuError::Program(
            "a text filter on the status (status is a number)".into(),
        )),
        TextField::Key(k) => Ok(key_code(k)),
        TextField::Query => Ok(8),
        TextField::Protocol => Ok(9),
    }
}

/// `lp_filters_pass(L, r)`: true when the parsed record `r` of line `L` passes every filter,
/// as `Filters::accepts` decides; and the mask of text fields it reads (`LP_FILTER_TEXT`), so
/// the parser keeps exactly those.
fn filters_pass(filters: &Filters) -> Result<(u32, String), GpuError> {
    let mut mask = 0u32;
    let mut f = String::from(
        "__device__ __forceinline__ bool lp_filters_pass(const u8* L, const LpRec& r) {\n",
    );
    for flt in filters.iter() {
        let _ = writeln!(f, "    // {}", flt.text().replace(['\n', '\r', '\\'], " "));
        match flt.field() {
            Field::Text(t) => {
                let slot = text_slot(t)?;
                mask |= 1 << slot;
                let test = match flt.op() {
                    Op::Eq => "lp_text_eq",
                    Op::Ne => "!lp_text_eq",
                    Op::Prefix => "lp_text_prefix",
                    Op::Suffix => "lp_text_suffix",
                    Op::Contains => "lp_text_contains",
                    op => {
                        return Err(GpuError::Program(format!(
                            "filter {:?}: {op:?} on text",
                            flt.text()
                        )))
                    }
                };
                let _ = writeln!(
                    f,
                    "    {{ const u8 w[] = {}; if (!{test}(L + r.t_off[{slot}], r.t_len[{slot}], w, {})) return false; }}",
                    byte_array(flt.value()),
                    flt.value().len()
                );
            }
            Field::Number(nf) => {
                let cmp = match flt.op() {
                    Op::Eq => "==",
                    Op::Ne => "!=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    op => {
                        return Err(GpuError::Program(format!(
                            "filter {:?}: {op:?} on a number",
                            flt.text()
                        )))
                    }
                };
                let (value, guard) = match nf {
                    NumberField::Status => ("(u64)r.status", ""),
                    NumberField::Bytes => ("r.bytes", ""),
                    NumberField::LatencyMs => ("r.lat", "!r.has_lat || "),
                };
                let _ = writeln!(
                    f,
                    "    if ({guard}!({value} {cmp} {}ull)) return false;",
                    flt.threshold()
                );
            }
        }
    }
    f.push_str("    return true;\n}\n");
    Ok((mask, f))
}

/// `lp_parse_line`'s body for W3C logs after the directive check: the line's layout is the
/// last segment starting at or before it; columns are space-separated fields, the last one
/// running to the end of the line, exactly as `w3c::format_for` compiles them for the CPU.
const W3C_BODY: &str = r#"    int s = 0;
    for (u32 k = 1; k < w3.nseg; ++k)
        if (w3.start[k] <= ls) s = (int)k;
    int nc = (int)w3.ncols[s];
    for (int c = 0; c < nc; ++c) {
        if (c > 0) {
            const u8 sp[1] = {0x20};
            int e = lp_lit(L, n, pos, sp, 1);
            if (e) return e;
        }
        bool last = c + 1 == nc;
        bool done = false;
        int e = lp_field(L, n, pos, w3.kinds[s][c], last ? 2 : 0, 0x20, last, false, r, &done);
        if (e) return e;
    }
    if (pos < n) return LP_FORMAT_MISMATCH;
    return LP_RECORD;
}
"#;

/// The JSON field map as constant tables for `kernels/json.cuh` (`LP_JSON_N` 0 without one).
fn json_tables(map: Option<&JsonMap>, defs: &mut String) -> Result<(), GpuError> {
    let entries = map.map_or(&[][..], |m| &m.fields[..]);
    if entries.len() > JSON_MAX_ENTRIES {
        return Err(GpuError::Program(format!(
            "JSON map of {} entries: the GPU takes at most {JSON_MAX_ENTRIES}",
            entries.len()
        )));
    }
    let segs = entries
        .iter()
        .map(|(p, _)| p.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let (mut kinds, mut nseg, mut soff, mut slen, mut bytes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (path, kind) in entries {
        kinds.push(*kind as u8);
        nseg.push(path.len() as u8);
        for level in 0..segs {
            let seg = path.get(level).map_or(&[][..], |s| s.as_bytes());
            if seg.len() > 255 || bytes.len() > u16::MAX as usize {
                return Err(GpuError::Program(
                    "JSON map path too long for the GPU".into(),
                ));
            }
            soff.push(bytes.len() as u16);
            slen.push(seg.len() as u8);
            bytes.extend_from_slice(seg);
        }
    }
    let all = match entries.len() {
        64 => u64::MAX,
        n => (1u64 << n) - 1,
    };
    let u16s: Vec<String> = soff.iter().map(|v| v.to_string()).collect();
    let u16_list = if u16s.is_empty() {
        "{0}".to_string()
    } else {
        format!("{{{}}}", u16s.join(", "))
    };
    let _ = writeln!(defs, "#define LP_JSON_N {}", entries.len());
    let _ = writeln!(defs, "#define LP_JSON_ALL 0x{all:x}ull");
    let _ = writeln!(defs, "#define LP_JSON_SEGS {segs}");
    let _ = writeln!(defs, "__constant__ u8 lp_jkind[] = {};", byte_array(&kinds));
    let _ = writeln!(defs, "__constant__ u8 lp_jnseg[] = {};", byte_array(&nseg));
    let _ = writeln!(defs, "__constant__ unsigned short lp_jsoff[] = {u16_list};");
    let _ = writeln!(defs, "__constant__ u8 lp_jslen[] = {};", byte_array(&slen));
    let _ = writeln!(
        defs,
        "__constant__ u8 lp_jbytes[] = {};",
        byte_array(&bytes)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use logpulse_core::format::Format;

    #[test]
    fn decodes_every_preset_round_trip() {
        for (name, _) in logpulse_core::format::PRESETS {
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
    fn every_preset_specialises() {
        for (name, _) in logpulse_core::format::PRESETS {
            let plan = Plan::reference(Format::preset(name).unwrap());
            let (defs, body) = specialise(&plan).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(body.contains("lp_parse_line"), "{name}");
            let json = plan.format.line.json.is_some();
            assert_eq!(!defs.contains("#define LP_JSON_N 0\n"), json, "{name}");
        }
    }

    #[test]
    fn json_tables_hold_every_path_segment() {
        let map = JsonMap::parse("client=request.remote_ip,status=status").unwrap();
        let mut defs = String::new();
        json_tables(Some(&map), &mut defs).unwrap();
        assert!(defs.contains("#define LP_JSON_N 2"));
        assert!(defs.contains("#define LP_JSON_SEGS 2"));
        // "request" "remote_ip" "status" "" : lengths 7, 9, 6, 0.
        assert!(
            defs.contains("lp_jslen[] = {0x07, 0x09, 0x06, 0x00}"),
            "{defs}"
        );
        assert!(defs.contains("lp_jkind[] = {0x01, 0x0b}"), "{defs}");
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
