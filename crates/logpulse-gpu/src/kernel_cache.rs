//! The kernels' PTX kept on disk between processes: NVRTC takes ~0.5 s for the full source on
//! the H100 host, paid by every `logpulse run --backend gpu` before its first batch. With the
//! driver's own cache of compiled machine code (`~/.nv/ComputeCache`, on by default) a cached
//! PTX then loads in milliseconds.
//!
//! One file per distinct compilation, named by a hash of everything that decides the PTX (every
//! compile option, NVRTC's version, the source) and holding that whole key, compared byte for
//! byte on load, and a checksum of the PTX: a hash collision or a damaged file is a miss, never
//! wrong kernels (and a PTX the driver still refuses is compiled again, see `Kernels::load`).
//! Each writer fills a temporary file of its own and renames it, so no reader sees a
//! half-written file. Best effort: any I/O error is a miss and the kernels are compiled as
//! before; the backend's start-up line says which happened ([`KernelsFrom`]).
//!
//! `LOGPULSE_KERNEL_CACHE` picks the directory (`0` turns the cache off); by default
//! `$XDG_CACHE_HOME/logpulse/kernels`, else `~/.cache/logpulse/kernels`. Each distinct job
//! (format, filters, key) adds a file of ~0.2 MB; deleting the directory is always safe. Whoever
//! can write to the directory can change the kernels a run loads: keep it private to the user.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a process's kernels came from (reported when a GPU backend starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelsFrom {
    /// Already loaded by this process (for another backend).
    Memory,
    /// Read from the on-disk cache.
    Disk,
    /// Compiled by NVRTC (and stored in the cache when it is on).
    Nvrtc,
}

impl std::fmt::Display for KernelsFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KernelsFrom::Memory => "kernels already loaded by this process",
            KernelsFrom::Disk => "kernels from the on-disk cache",
            KernelsFrom::Nvrtc => "kernels compiled by NVRTC",
        })
    }
}

/// Marks a cache file of this layout: magic, key length, PTX length and the PTX's checksum
/// (u64 LE each), key, PTX. Bumped when the layout or the key's meaning changes.
const MAGIC: &[u8; 8] = b"LPPTX03\n";

/// FNV-1a, 64 bits: a stable hash of our own for file names and checksums (it must not change
/// between builds, or every cached file is orphaned; speed does not matter here).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The cache directory, or `None` when the cache is off or no home is known.
pub fn dir() -> Option<PathBuf> {
    dir_from(
        std::env::var_os("LOGPULSE_KERNEL_CACHE"),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

fn dir_from(
    setting: Option<std::ffi::OsString>,
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let nonempty = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty());
    match nonempty(setting) {
        Some(v) if v == "0" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => nonempty(xdg)
            .map(PathBuf::from)
            .or_else(|| nonempty(home).map(|h| Path::new(&h).join(".cache")))
            .map(|c| c.join("logpulse").join("kernels")),
    }
}

/// The file of `key` in `dir`.
fn file_of(dir: &Path, key: &[u8]) -> PathBuf {
    dir.join(format!("{:016x}.ptx", fnv1a(key)))
}

/// The PTX stored for `key`, if any (a file with another key, or damaged, is a miss).
pub fn load(dir: &Path, key: &[u8]) -> Option<String> {
    let data = std::fs::read(file_of(dir, key)).ok()?;
    let rest = data.strip_prefix(MAGIC.as_slice())?;
    let word = |b: &[u8; 8]| u64::from_le_bytes(*b);
    let (key_len, rest) = rest.split_first_chunk::<8>()?;
    let (ptx_len, rest) = rest.split_first_chunk::<8>()?;
    let (sum, rest) = rest.split_first_chunk::<8>()?;
    let key_len = usize::try_from(word(key_len)).ok()?;
    let ptx_len = usize::try_from(word(ptx_len)).ok()?;
    if key_len.checked_add(ptx_len)? != rest.len() || &rest[..key_len] != key {
        return None;
    }
    let ptx = &rest[key_len..];
    if fnv1a(ptx) != word(sum) {
        return None;
    }
    String::from_utf8(ptx.to_vec()).ok()
}

/// Stores `ptx` for `key` (errors ignored: the cache is an optimisation).
pub fn store(dir: &Path, key: &[u8], ptx: &str) {
    let _ = try_store(dir, key, ptx);
}

fn try_store(dir: &Path, key: &[u8], ptx: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = file_of(dir, key);
    // A name no other writer uses (threads of one process may store the same key at once).
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = file.with_extension(format!("tmp-{}-{n}", std::process::id()));
    let mut data = Vec::with_capacity(MAGIC.len() + 24 + key.len() + ptx.len());
    data.extend_from_slice(MAGIC);
    for word in [key.len() as u64, ptx.len() as u64, fnv1a(ptx.as_bytes())] {
        data.extend_from_slice(&word.to_le_bytes());
    }
    data.extend_from_slice(key);
    data.extend_from_slice(ptx.as_bytes());
    let written = std::fs::write(&tmp, &data).and_then(|()| std::fs::rename(&tmp, &file));
    if written.is_err() {
        // A disk full or a failed rename leaves no temporary file behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_ptx_comes_back_for_its_key_only() {
        let d = tempfile::tempdir().expect("tempdir");
        let (key, other) = (b"arch=compute_90\0src".as_slice(), b"arch=compute_80\0src");
        assert_eq!(load(d.path(), key), None);
        store(d.path(), key, ".version 8.0\n// kernels");
        assert_eq!(
            load(d.path(), key).as_deref(),
            Some(".version 8.0\n// kernels")
        );
        assert_eq!(load(d.path(), other), None);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(d.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_file_holding_another_key_or_damaged_is_a_miss() {
        let d = tempfile::tempdir().expect("tempdir");
        let key = b"the key".as_slice();
        store(d.path(), key, "ptx");
        let file = file_of(d.path(), key);
        // Same name, another key inside (as a hash collision would leave it).
        let mut data = std::fs::read(&file).expect("read");
        let at = MAGIC.len() + 24;
        data[at] ^= 1;
        std::fs::write(&file, &data).expect("write");
        assert_eq!(load(d.path(), key), None);
        data[at] ^= 1;
        std::fs::write(&file, &data).expect("write");
        assert_eq!(load(d.path(), key).as_deref(), Some("ptx"));
        // The PTX changed in place (same length), cut short (inside the key or the PTX), or
        // not a cache file at all.
        let last = data.len() - 1;
        data[last] ^= 1;
        std::fs::write(&file, &data).expect("write");
        assert_eq!(load(d.path(), key), None);
        data[last] ^= 1;
        for cut in [at + 2, data.len() - 1] {
            std::fs::write(&file, &data[..cut]).expect("write");
            assert_eq!(load(d.path(), key), None, "cut at {cut}");
        }
        std::fs::write(&file, b"garbage").expect("write");
        assert_eq!(load(d.path(), key), None);
    }

    #[test]
    fn directory_from_the_environment() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(dir_from(os("0"), os("/x"), os("/h")), None);
        assert_eq!(
            dir_from(os("/c"), os("/x"), os("/h")),
            Some(PathBuf::from("/c"))
        );
        assert_eq!(
            dir_from(None, os("/x"), os("/h")),
            Some(PathBuf::from("/x/logpulse/kernels"))
        );
        assert_eq!(
            dir_from(os(""), os(""), os("/h")),
            Some(PathBuf::from("/h/.cache/logpulse/kernels"))
        );
        assert_eq!(dir_from(None, None, None), None);
    }
}
