//! W3C (IIS) logs on the GPU: `#Fields:` directives (re)define the columns as the file goes.
//!
//! The host finds the batch's `#Fields:` lines (`w3c::layouts_in`, as the CPU backend does) and
//! hands the kernel one column layout per stretch of lines ([`W3cLayouts`]); the kernel picks a
//! line's layout by its byte offset. Directives that repeat the layout in force (IIS writes one
//! per file and restart) start no new stretch, so a batch of a concatenated daily log needs one.
//! The layout in force at the end of a batch carries to the next, as in the CPU backend; with
//! several GPU workers each carries its own (see NOTES.md).

use logpulse_core::format::spec::Token;
use logpulse_core::format::{w3c, LineFormat};

use crate::error::GpuError;
use crate::layout::{W3cLayouts, W3C_COLS, W3C_SEGS};

/// The W3C layout state of one backend.
pub(crate) struct W3cTracker {
    /// Column kinds in force (None: the format is not W3C).
    current: Option<Vec<u8>>,
}

/// The column kinds of a W3C layout, checked to be the shape `w3c::format_for` builds
/// (fields separated by single spaces).
fn columns(f: &LineFormat) -> Result<Vec<u8>, GpuError> {
    let mut kinds = Vec::new();
    for (i, t) in f.tokens.iter().enumerate() {
        match (i % 2, t) {
            (0, Token::Field { kind, .. }) => kinds.push(*kind as u8),
            (1, Token::Lit(l)) if l.as_slice() == b" " => {}
            _ => {
                return Err(GpuError::Program(
                    "W3C layout not made of space-separated fields".into(),
                ))
            }
        }
    }
    if kinds.is_empty() || kinds.len() > W3C_COLS {
        return Err(GpuError::Program(format!(
            "W3C layout of {} columns: the GPU takes 1 to {W3C_COLS}",
            kinds.len()
        )));
    }
    Ok(kinds)
}

impl W3cTracker {
    /// The tracker for a plan's line format: inactive unless it is W3C.
    pub fn new(line: &LineFormat) -> Result<Self, GpuError> {
        Ok(W3cTracker {
            current: if line.w3c { Some(columns(line)?) } else { None },
        })
    }

    /// The layouts of `bytes` (whole lines), remembering the last for the next batch.
    pub fn layouts(&mut self, bytes: &[u8]) -> Result<W3cLayouts, GpuError> {
        let mut out = W3cLayouts::default();
        let Some(current) = self.current.as_mut() else {
            return Ok(out);
        };
        let push = |out: &mut W3cLayouts, start: usize, kinds: &[u8]| -> Result<(), GpuError> {
            let k = out.nseg as usize;
            if k >= W3C_SEGS {
                return Err(GpuError::Program(format!(
                    "a batch changes the W3C #Fields layout more than {} times: use --backend cpu \
                     or smaller --batch-lines",
                    W3C_SEGS - 1
                )));
            }
            out.start[k] = u32::try_from(start)
                .map_err(|_| GpuError::Program("W3C batch over 4 GiB".into()))?;
            out.ncols[k] = kinds.len() as u32;
            out.kinds[k][..kinds.len()].copy_from_slice(kinds);
            out.nseg += 1;
            Ok(())
        };
        push(&mut out, 0, current)?;
        for (d, f) in w3c::layouts_in(bytes) {
            let kinds = columns(&f)?;
            if kinds != *current {
                push(&mut out, d, &kinds)?;
                *current = kinds;
            }
        }
        Ok(out)
    }
}

impl W3cLayouts {
    /// The struct's bytes, as the kernel receives them.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `W3cLayouts` is `repr(C)` plain data (u32 and u8 arrays, no padding: 2308
        // bytes at alignment 4), so every byte is initialised.
        unsafe {
            std::slice::from_raw_parts(
                (self as *const W3cLayouts).cast::<u8>(),
                std::mem::size_of::<W3cLayouts>(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logpulse_core::format::Format;

    #[test]
    fn repeated_fields_lines_start_no_new_layout() {
        let f = Format::preset("iis_w3c").unwrap();
        let mut t = W3cTracker::new(&f.line).unwrap();
        let same = format!("#Fields: {}\n", w3c::DEFAULT_FIELDS);
        let text = format!("{same}a\n{same}b\n#Fields: date time c-ip sc-status\nc\n{same}");
        let l = t.layouts(text.as_bytes()).unwrap();
        assert_eq!(l.nseg, 3);
        assert_eq!(l.ncols[..3], [15, 4, 15]);
        let second = text.find("#Fields: date time c-ip").unwrap() as u32;
        assert_eq!(l.start[1], second);
        // The last layout carries over: a batch without directives keeps it in one segment.
        let l2 = t.layouts(b"x\n").unwrap();
        assert_eq!((l2.nseg, l2.ncols[0]), (1, 15));
    }

    #[test]
    fn other_formats_pass_no_layouts() {
        let f = Format::preset("combined").unwrap();
        let mut t = W3cTracker::new(&f.line).unwrap();
        assert_eq!(t.layouts(b"#Fields: date\n").unwrap().nseg, 0);
    }
}
