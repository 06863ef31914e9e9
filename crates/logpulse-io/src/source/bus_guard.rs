//! Surviving a mapped file's truncation. Reading a page of a mapped file past its end raises
//! SIGBUS, which kills the process: a log truncated by another process while logpulse reads it
//! mapped (logrotate's `copytruncate`) would crash the run. While a mapping is guarded, a
//! SIGBUS inside it maps zero pages over the rest of the mapping instead, marks the guard, and
//! the read goes on; the file source then stops with an error that says so (what was read
//! past the cut is gone from the file: it cannot be counted). A SIGBUS anywhere else gets the
//! handler that was there before (Rust's, which ends the process as without this guard).
//!
//! Why not `pread`, which never faults: mapping saves the copy of every byte and the batch
//! buffers' memory (on the 2-core dev VM a 406 MB TSV run touched ~140 MB less, and ran 5-15%
//! faster: BENCHMARKS.md), so mapping is the CPU backend's default for plain files.
//!
//! The handler only reads atomics and calls `mmap` and `sigaction` (system calls), as a signal
//! handler must.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Mappings guarded at once at most (each file source holds one while it frames).
const SLOTS: usize = 64;

/// A slot's `start` while it is being filled in (no real mapping starts at address 1).
const CLAIMED: usize = 1;

/// One guarded mapping: `[start, end)` while `start > CLAIMED`.
struct Region {
    start: AtomicUsize,
    end: AtomicUsize,
    /// A SIGBUS in the region was turned into zero pages.
    hit: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // the array's initialiser, copied per slot
const EMPTY: Region = Region {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    hit: AtomicBool::new(false),
};

static REGIONS: [Region; SLOTS] = [EMPTY; SLOTS];

/// The page size, read when the handler is installed.
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// The SIGBUS action before ours, restored for faults outside every guarded mapping.
static PREVIOUS: OnceLock<Option<libc::sigaction>> = OnceLock::new();

/// A mapping guarded against truncation while this lives (see the module docs). Drop it only
/// after the mapping is gone or no longer read.
#[derive(Debug)]
pub(crate) struct BusGuard {
    slot: usize,
}

impl BusGuard {
    /// Guards the mapped bytes `mapped`. `None` when the handler cannot be installed or every
    /// slot is taken: then read the file instead of mapping it.
    pub(crate) fn new(mapped: &[u8]) -> Option<Self> {
        if !installed() {
            return None;
        }
        let start = mapped.as_ptr() as usize;
        let end = start + mapped.len();
        for (slot, r) in REGIONS.iter().enumerate() {
            if r.start
                .compare_exchange(0, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                r.hit.store(false, Ordering::Relaxed);
                r.end.store(end, Ordering::Release);
                r.start.store(start, Ordering::Release);
                return Some(BusGuard { slot });
            }
        }
        None
    }

    /// True when a read past the file's end was turned into zeros (the file was truncated
    /// while mapped).
    pub(crate) fn truncated(&self) -> bool {
        REGIONS[self.slot].hit.load(Ordering::Acquire)
    }
}

impl Drop for BusGuard {
    fn drop(&mut self) {
        let r = &REGIONS[self.slot];
        r.start.store(CLAIMED, Ordering::Release);
        r.end.store(0, Ordering::Release);
        r.start.store(0, Ordering::Release);
    }
}

/// Installs the handler once; false when the system refused it.
fn installed() -> bool {
    PREVIOUS
        .get_or_init(|| {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            PAGE.store(usize::try_from(page).unwrap_or(4096), Ordering::Relaxed);
            // SAFETY: plain sigaction calls with initialised structures; the handler is
            // async-signal-safe (atomics and system calls only).
            unsafe {
                let mut previous: libc::sigaction = std::mem::zeroed();
                let mut ours: libc::sigaction = std::mem::zeroed();
                ours.sa_sigaction = on_sigbus as *const () as usize;
                ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut ours.sa_mask);
                (libc::sigaction(libc::SIGBUS, &ours, &mut previous) == 0).then_some(previous)
            }
        })
        .is_some()
}

/// The SIGBUS handler: zero pages from the faulting page to the end of the guarded mapping it
/// falls in; for any other fault, the previous action is restored and the faulting access runs
/// again under it.
extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for a SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for r in &REGIONS {
        let start = r.start.load(Ordering::Acquire);
        let end = r.end.load(Ordering::Acquire);
        if start > CLAIMED && (start..end).contains(&addr) {
            let from = addr & !(page - 1);
            // SAFETY: replaces pages of a read-only file mapping this process owns (the guard
            // lives while it does) with private zero pages; nothing else is mapped there.
            let p = unsafe {
                libc::mmap(
                    from as *mut libc::c_void,
                    end - from,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                r.hit.store(true, Ordering::Release);
                return;
            }
        }
    }
    // SAFETY: restores the action saved at installation (or the default one).
    unsafe {
        match PREVIOUS.get() {
            Some(Some(previous)) => {
                libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut());
            }
            _ => {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A file truncated under a guarded mapping: reading past the cut gives zeros, not a crash,
    /// and the guard says so; the bytes before the cut are the file's.
    #[test]
    fn a_truncated_mapping_reads_zeros_and_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let mut f = std::fs::File::create(&path).expect("create");
        let line = b"host\t-\t804571200\tGET\t/\t200\t1\n";
        for _ in 0..(1 << 20) / line.len() {
            f.write_all(line).expect("write");
        }
        f.sync_all().expect("sync");
        let file = std::fs::File::open(&path).expect("open");
        // SAFETY: the test truncates the file on purpose: that is what the guard is for.
        let map = unsafe { memmap2::Mmap::map(&file) }.expect("map");
        let guard = BusGuard::new(&map).expect("guard");
        assert!(!guard.truncated());
        let page = PAGE.load(Ordering::Relaxed);
        let kept = 8 * page;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open for write")
            .set_len(kept as u64)
            .expect("truncate");
        // Read every byte, as a framer would.
        let bytes: &[u8] = &map;
        let sum: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
        assert!(guard.truncated(), "the fault was seen");
        let before: u64 = bytes[..kept].iter().map(|&b| u64::from(b)).sum();
        assert_eq!(sum, before, "past the cut, zeros");
        assert_eq!(&bytes[..line.len()], line);
        assert!(bytes[kept..].iter().all(|&b| b == 0));
        drop(guard);
        drop(map);
    }

    #[test]
    fn slots_are_given_back() {
        let bytes = vec![1u8; 4096];
        for _ in 0..10 * SLOTS {
            let g = BusGuard::new(&bytes).expect("a free slot");
            assert!(!g.truncated());
        }
        let held: Vec<_> = (0..SLOTS / 2)
            .filter_map(|_| BusGuard::new(&bytes))
            .collect();
        assert_eq!(held.len(), SLOTS / 2);
    }
}
